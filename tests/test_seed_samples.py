"""The documentation samples in tests/fixtures/seeds validate under their profiles' flavors.

The fixtures are produced by ``tools/extract_seed_samples.py`` from vendor documentation: NIM
samples are facts the NIM profile (flavors ``("compat",)``) must accept, aimlapi samples facts
the hosted profile (``("compat", "hosted")``) must accept. SSE fixtures are parsed naively here
(split on blank lines, strip ``data: ``); the real parser is tested elsewhere.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from conformance.harness.schemas import SchemaSet

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "seeds"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
ENTRIES: list[dict[str, Any]] = MANIFEST["fixtures"]
SEEDS_DIR = Path("/work/shared/seeds")

# Which flavors each vendor's profile applies.
PROFILE_FLAVORS = {"nim": ("compat",), "aimlapi": ("compat", "hosted")}
CHUNK = "openai/chat.completion.chunk"


@cache
def schema_set(flavors: tuple[str, ...]) -> SchemaSet:
    return SchemaSet(flavors=flavors)


def vendor(entry: dict[str, Any]) -> str:
    return entry["source"].split("-", 1)[0]


def load_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def sse_events(name: str) -> list[str]:
    """Naive SSE split: one ``data: `` line per blank-line separated event."""
    text = (FIXTURES / name).read_text(encoding="utf-8")
    events = [block.strip() for block in text.split("\n\n") if block.strip()]
    for event in events:
        assert event.startswith("data: ") and "\n" not in event, f"unexpected SSE event {event!r}"
    return [event.removeprefix("data: ") for event in events]


def by_kind(kind: str) -> list[Any]:
    return [pytest.param(e, id=e["file"]) for e in ENTRIES if e["kind"] == kind]


def one(file: str) -> dict[str, Any]:
    (entry,) = [e for e in ENTRIES if e["file"] == file]
    return entry


# --- manifest ----------------------------------------------------------------------------------


def test_manifest_lists_existing_files_only() -> None:
    listed = {e["file"] for e in ENTRIES}
    on_disk = {p.name for p in FIXTURES.iterdir()} - {"manifest.json", "README.md"}
    assert listed == on_disk
    assert {"json", "sse"} <= {e["kind"] for e in ENTRIES}
    assert {"nim", "aimlapi"} <= {vendor(e) for e in ENTRIES}


@pytest.mark.parametrize("entry", [pytest.param(e, id=e["file"]) for e in ENTRIES])
def test_manifest_flavors_match_profile(entry: dict[str, Any]) -> None:
    assert tuple(entry["flavors"]) == PROFILE_FLAVORS[vendor(entry)]
    assert entry["schema"], "every extracted sample has a schema"


@pytest.mark.skipif(not SEEDS_DIR.is_dir(), reason=f"seed documents not available at {SEEDS_DIR}")
def test_fixtures_match_a_fresh_extraction(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("extract_seed_samples", REPO / "tools" / "extract_seed_samples.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses resolve annotations through it
    spec.loader.exec_module(module)
    assert module.main([str(SEEDS_DIR), "--out", str(FIXTURES), "--check"]) == 0, "re-run the extractor"


# --- JSON samples --------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", by_kind("json"))
def test_json_sample_validates_under_its_profile(entry: dict[str, Any]) -> None:
    flavors = PROFILE_FLAVORS[vendor(entry)]
    schema_set(flavors).validate(load_json(entry["file"]), entry["schema"], what=entry["file"])


NIM_COMPLETION = "nim-nemotron3-ultra-chat-completion.json"
AIMLAPI_COMPLETION = "aimlapi-nemotron3-ultra-chat-completion.json"


def test_nim_completion_needs_compat() -> None:
    """Under the spec flavor the NIM sample fails exactly where vLLM serialises nulls."""
    errors = schema_set(()).errors(load_json(NIM_COMPLETION), "openai/chat.completion")
    assert {e.instance_path for e in errors} == {
        "$.choices[0].message.annotations",
        "$.choices[0].message.function_call",
        "$.system_fingerprint",
        "$.usage.prompt_tokens_details",
    }


def test_aimlapi_completion_needs_compat() -> None:
    """The aimlapi sample fails the spec flavor only on its null system_fingerprint."""
    errors = schema_set(()).errors(load_json(AIMLAPI_COMPLETION), "openai/chat.completion")
    assert [(e.instance_path, e.keyword) for e in errors] == [("$.system_fingerprint", "type")]


def test_aimlapi_completion_needs_nothing_from_hosted() -> None:
    """Nothing in the documented sample requires the hosted overlay: `created` is an integer and
    the extras (meta, native_finish_reason, reasoning_details) pass the open content model."""
    assert schema_set(("compat",)).errors(load_json(AIMLAPI_COMPLETION), "openai/chat.completion") == []


@pytest.mark.parametrize(
    ("mutation", "path"),
    [
        pytest.param(lambda d: d["choices"][0]["message"]["reasoning_details"][0].update(type="reasoning.x"),
                     "$.choices[0].message.reasoning_details[0].type", id="reasoning_details-type"),
        pytest.param(lambda d: d["meta"]["usage"].update(usd_spent="0.001302"), "$.meta", id="meta-usd_spent"),
        pytest.param(lambda d: d["choices"][0].update(native_finish_reason=1),
                     "$.choices[0].native_finish_reason", id="native_finish_reason"),
    ],
)
def test_hosted_overlay_types_the_aimlapi_extras(mutation: Any, path: str) -> None:
    """The hosted overlay matters on this sample: a mistyped extra passes compat, fails hosted."""
    data = copy.deepcopy(load_json(AIMLAPI_COMPLETION))
    mutation(data)
    assert schema_set(("compat",)).is_valid(data, "openai/chat.completion")
    errors = schema_set(("compat", "hosted")).errors(data, "openai/chat.completion")
    assert [e.instance_path for e in errors] == [path]


def test_hosted_overlay_accepts_fractional_created_on_the_aimlapi_sample() -> None:
    data = load_json(AIMLAPI_COMPLETION) | {"created": 1749730923.5}
    assert not schema_set(("compat",)).is_valid(data, "openai/chat.completion")
    assert schema_set(("compat", "hosted")).is_valid(data, "openai/chat.completion")


def test_health_samples_are_live_and_ready() -> None:
    live = load_json("nim-nemotron3-ultra-health-live.json")
    ready = load_json("nim-nemotron3-ultra-health-ready.json")
    assert (live["object"], ready["object"]) == ("health.response", "health.response")
    assert schema_set(()).is_valid(live, "nim/health") and schema_set(()).is_valid(ready, "nim/health")


# --- SSE samples ---------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", by_kind("sse"))
def test_sse_sample_chunks_validate(entry: dict[str, Any]) -> None:
    assert entry["schema"] == CHUNK
    payloads = sse_events(entry["file"])
    assert payloads[-1] == "[DONE]", "the documented stream ends with data: [DONE]"
    assert "[DONE]" not in payloads[:-1]
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert chunks, "no chunks"
    schema_set(("compat",)).validate_all(chunks, CHUNK, what=entry["file"])


@pytest.mark.parametrize("entry", by_kind("sse"))
def test_sse_sample_elisions_are_recorded(entry: dict[str, Any]) -> None:
    """Elided chunks (`...` in the document) are dropped from the fixture and recorded."""
    assert entry["complete_stream"] is (not entry.get("dropped_lines"))
    for dropped in entry.get("dropped_lines", []):
        assert dropped["text"] in {"...", "…", "[...]", "[…]"}
    text = (FIXTURES / entry["file"]).read_text(encoding="utf-8")
    assert all(line.startswith("data: ") for line in text.splitlines() if line)


def test_nim_stream_chunks_are_spec_valid() -> None:
    """The NIM stream sample needs no relaxation: it also validates under the spec flavor."""
    payloads = sse_events("nim-nemotron3-ultra-chat-completion-stream.sse")
    schema_set(()).validate_all([json.loads(p) for p in payloads[:-1]], CHUNK)
