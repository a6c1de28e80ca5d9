"""The media faults of the fault proxy (issue 10 §5), offline.

A canned multimodal upstream (the windowed upstream of ``tests/test_context_faults.py``, its
bodies and streams reused) takes image, audio and video parts on chat completions, Responses and
Messages: it bills every text word, a fixed template overhead and a fixed number of tokens per
medium, and rejects media it cannot decode (anything but the catalog's png-64, jpeg-64 and
wav-1s) with 400 and the API's error envelope. For every media fault, each scenario runs a check
of a declared requirement (the checks the multimodal tests use): it passes against the upstream
directly and fails through the proxy with that fault, under that requirement ID. The hooks are
tested as the pure functions they are; the mutation runner's media settings (one baseline on
the multimodal reference for the four faults) are tested with a fake suite.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conformance.faults import FAULTS, FaultProxy, mutation
from conformance.faults.hooks import media as hooks
from conformance.faults.model import CHAT, COUNT_TOKENS, MESSAGES, RESPONSES, Event, FaultContext, Request, Response
from conformance.harness import media
from conformance.harness import media_parts as mp
from conformance.harness.checks import media as media_checks
from conformance.harness.checks import media_errors
from conformance.harness.client import Client
from conformance.harness.exchange import Exchange
from conformance.harness.failures import ConformanceFailure
from conformance.harness.schemas import SchemaSet
from tests.fake_upstream import _close_clients, client, schemas, serve  # noqa: F401 (fixtures)
from tests.test_context_faults import ANT_HEADERS, Scenario, Upstream, _body, prompt_tokens

MEDIA_FAULTS = ("media-tokens-missing", "corrupt-media-500", "drop-image", "stream-media-usage-mismatch")
TEMPLATE = 5  # the canned chat template's tokens
#: tokens billed per medium by the canned upstream
MEDIUM_TOKENS = {"image": 16, "audio": 50, "video": 20}
_KIND = {"image_url": "image", "input_image": "image", "image": "image", "input_audio": "audio",
         "audio_url": "audio", "video_url": "video"}
PNG = media.CATALOG["png-64"]
WAV = media.CATALOG["wav-1s"]
DECODABLE = {PNG.data, media.CATALOG["jpeg-64"].data, WAV.data}
BAD = media.hostile()["png-truncated"]


# --- the multimodal upstream ----------------------------------------------------------------------


def _payload(part: dict[str, Any]) -> str | None:
    """The base64 payload (or URL) a media part carries."""
    kind = part.get("type")
    inner = part.get(kind) if isinstance(part.get(kind), dict) else {}
    if kind == "input_audio":
        return inner.get("data")
    if kind == "input_image":
        return part.get("image_url")
    if kind == "image":
        source = part.get("source") or {}
        return source.get("data")
    return inner.get("url")


def _decodable(ref: str | None) -> bool:
    if not isinstance(ref, str):
        return False
    if ref.startswith("http://"):
        return True
    data = ref.split(",", 1)[1] if ref.startswith("data:") else ref
    try:
        return base64.b64decode(data, validate=True) in DECODABLE
    except (binascii.Error, ValueError):
        return False


class MediaUpstream(Upstream):
    """Bills text words + :data:`TEMPLATE` + :data:`MEDIUM_TOKENS` per medium; 400 on media it
    cannot decode (a JSON answer, streamed requests too, as llama-server does)."""

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        req = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        self.seen.append({"path": path, "body": req})
        every = [p for m in (req.get("messages") or req.get("input") or []) if isinstance(m, dict)
                 for p in (m.get("content") if isinstance(m.get("content"), list) else [])]
        if any(p.get("type") not in (*_KIND, "text", "input_text") for p in every):
            self._error(path, "unsupported content[].type")
            return
        parts = hooks.media_parts(req)
        if not all(_decodable(_payload(p)) for p in parts):
            self._error(path, "Failed to load image or audio file")
            return
        n = prompt_tokens(req) + TEMPLATE + sum(MEDIUM_TOKENS[_KIND[p["type"]]] for p in parts)
        if path == COUNT_TOKENS:
            self._json(200, {"input_tokens": n})
            return
        limit = req.get("max_tokens") or req.get("max_output_tokens") or 4
        out = min(limit, 4)
        if req.get("stream"):
            self._stream(path, req, n, out)
        else:
            self._json(200, _body(path, n, out))


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    MediaUpstream.seen = []
    yield from serve(MediaUpstream)


# --- requests, in the shapes the multimodal tests send ---------------------------------------------

_PATH = {"chat": CHAT, "responses": RESPONSES, "messages": MESSAGES}


def body_of(api: str, *parts: dict[str, Any]) -> dict[str, Any]:
    builder = {"chat": mp.chat_body, "responses": mp.responses_body, "messages": mp.messages_body}[api]
    return {"model": "stub", **builder(*parts)}


def image(api: str, medium: Any = PNG) -> dict[str, Any]:
    if api == "messages":
        return mp.anthropic_image(medium.mime, medium.data)
    uri = medium.uri if isinstance(medium, media.Hostile) else medium.data_uri
    return mp.input_image(uri) if api == "responses" else mp.image_url(uri)


def send(c: Client, api: str, *parts: dict[str, Any], stream: bool = False) -> Exchange:
    body = body_of(api, *parts)
    if stream:
        body["stream"] = True
        if api == "chat":
            body["stream_options"] = {"include_usage": True}
    return c.request("POST", _PATH[api], json=body, stream=stream,
                     headers=ANT_HEADERS if api == "messages" else None)


def stream_usage(ex: Exchange, api: str) -> dict[str, Any] | None:
    """The usage a stream reports: the chat usage chunk, the Responses terminal event's
    response.usage, the Messages message_start's message.usage."""
    assert ex.sse is not None
    for event in reversed(ex.sse.events):
        obj = json.loads(event.data) if event.data and event.data != "[DONE]" else None
        if not isinstance(obj, dict):
            continue
        if api == "chat" and isinstance(obj.get("usage"), dict):
            return obj["usage"]
        if api == "responses" and isinstance((obj.get("response") or {}).get("usage"), dict):
            return obj["response"]["usage"]
        if api == "messages" and obj.get("type") == "message_start":
            return obj["message"]["usage"]
    return None


def _counted(api: str, *, stream: bool = False) -> Callable[[Client, SchemaSet], None]:
    """OAI-MM-002 / ANT-MM-001: the image request bills more than its text-only twin."""
    def run(c: Client, s: SchemaSet) -> None:
        ex = send(c, api, image(api), stream=stream)
        billed: Any = stream_usage(ex, api) if stream else ex
        text = send(c, api)
        if api == "messages":
            media_checks.messages_image_counted(billed, text)
        else:
            media_checks.media_counted(billed, text, api=api)
    return run


def _stream_like_blocking(api: str, part: Callable[[str], dict[str, Any]] = image) -> Callable[[Client, SchemaSet],
                                                                                                 None]:
    """OAI-MM-004: the streamed media request bills what the blocking one bills."""
    def run(c: Client, s: SchemaSet) -> None:
        streamed = stream_usage(send(c, api, part(api), stream=True), api)
        media_checks.stream_bills_like_blocking(streamed, send(c, api, part(api)), api=api)
    return run


def _undecodable_rejected(api: str, *, stream: bool = False) -> Callable[[Client, SchemaSet], None]:
    """OAI-MM-006: a truncated PNG is rejected with 4xx and the envelope."""
    def run(c: Client, s: SchemaSet) -> None:
        media_errors.undecodable_media_rejected(send(c, api, image(api, BAD), stream=stream), schemas=s,
                                                case="png-truncated")
    return run


def _two_images_bill_more(c: Client, s: SchemaSet) -> None:
    """OAI-MM-003: two images in one message bill more than one."""
    media_checks.every_item_counted(send(c, "chat", image("chat"), image("chat", media.CATALOG["jpeg-64"])),
                                    send(c, "chat", image("chat")))


def _history_counted(c: Client, s: SchemaSet) -> None:
    """OAI-MM-012: an image in turn 1 is billed in turn 3."""
    def conversation(*parts: dict[str, Any]) -> dict[str, Any]:
        return {"model": "stub", "max_tokens": 4, "messages": [
            body_of("chat", *parts)["messages"][0], {"role": "assistant", "content": "A gradient."},
            {"role": "user", "content": "Which colour?"}]}

    media_checks.history_media_counted(c.request("POST", CHAT, json=conversation(image("chat"))),
                                       c.request("POST", CHAT, json=conversation()))


def _audio(api: str) -> dict[str, Any]:
    return mp.input_audio(WAV.data)


MEDIA_SCENARIOS: list[Scenario] = [
    Scenario("media-tokens-missing", "OAI-MM-002", "chat", _counted("chat")),
    Scenario("media-tokens-missing", "OAI-MM-002", "chat-stream", _counted("chat", stream=True)),
    Scenario("media-tokens-missing", "OAI-MM-002", "responses-stream", _counted("responses", stream=True)),
    Scenario("media-tokens-missing", "ANT-MM-001", "messages", _counted("messages")),
    Scenario("media-tokens-missing", "ANT-MM-001", "messages-stream", _counted("messages", stream=True)),
    Scenario("corrupt-media-500", "OAI-MM-006", "chat", _undecodable_rejected("chat")),
    Scenario("corrupt-media-500", "OAI-MM-006", "chat-stream", _undecodable_rejected("chat", stream=True)),
    Scenario("corrupt-media-500", "OAI-MM-006", "responses", _undecodable_rejected("responses")),
    Scenario("drop-image", "OAI-MM-002", "chat", _counted("chat")),
    Scenario("drop-image", "OAI-MM-002", "responses", _counted("responses")),
    Scenario("drop-image", "OAI-MM-003", "two-images", _two_images_bill_more),
    Scenario("drop-image", "OAI-MM-012", "history", _history_counted),
    Scenario("drop-image", "ANT-MM-001", "messages-stream", _counted("messages", stream=True)),
    Scenario("stream-media-usage-mismatch", "OAI-MM-004", "chat", _stream_like_blocking("chat")),
    Scenario("stream-media-usage-mismatch", "OAI-MM-004", "chat-audio", _stream_like_blocking("chat", _audio)),
    Scenario("stream-media-usage-mismatch", "OAI-MM-004", "responses", _stream_like_blocking("responses")),
    Scenario("stream-media-usage-mismatch", "OAI-MM-004", "messages", _stream_like_blocking("messages")),
]


@pytest.mark.parametrize("scenario", MEDIA_SCENARIOS, ids=lambda sc: sc.id)
def test_media_fault_is_caught_by_its_requirement(upstream: str, schemas: SchemaSet, scenario: Scenario) -> None:
    scenario.run(client(upstream), schemas)  # the canned upstream is clean: the check passes
    with FaultProxy(upstream, [scenario.fault]) as proxy:
        with pytest.raises(ConformanceFailure) as caught:
            scenario.run(client(proxy.url), schemas)
    assert caught.value.requirement == scenario.requirement, str(caught.value)
    assert scenario.requirement in FAULTS[scenario.fault].requirements


def test_the_media_faults_are_in_the_table() -> None:
    for name in MEDIA_FAULTS:
        fault = FAULTS[name]
        assert not fault.neutral and fault.requirements
        assert all(r.startswith(("OAI-MM-", "ANT-MM-")) for r in fault.requirements)
        assert {CHAT, RESPONSES, MESSAGES} <= set(fault.routes)
    assert COUNT_TOKENS in FAULTS["drop-image"].routes  # the image is gone for the count too


@pytest.mark.parametrize("name", MEDIA_FAULTS)
@pytest.mark.parametrize("api", ["chat", "responses", "messages"])
def test_text_only_requests_pass_untouched(upstream: str, name: str, api: str) -> None:
    """The text-only twins the suite compares against are the upstream's own answers."""
    direct = client(upstream)
    with FaultProxy(upstream, [name]) as proxy:
        through = client(proxy.url)
        for stream in (False, True):
            a, b = send(direct, api, stream=stream), send(through, api, stream=stream)
            assert (a.status, stream_usage(a, api) if stream else a.json()["usage"]) == \
                (b.status, stream_usage(b, api) if stream else b.json()["usage"])


def test_a_bad_text_request_keeps_its_4xx(upstream: str) -> None:
    """corrupt-media-500 turns only the rejections of media requests into 500."""
    body = {"model": "stub", "messages": [{"role": "user", "content": [{"type": "hologram"}]}], "max_tokens": 4}
    with FaultProxy(upstream, ["corrupt-media-500"]) as proxy:
        ex = client(proxy.url).request("POST", CHAT, json=body)
    assert ex.status == 400


# --- the hooks, as pure functions ------------------------------------------------------------------


def _ctx(path: str, body: Any) -> FaultContext:
    return FaultContext(request=Request("POST", path, headers=(("content-type", "application/json"),),
                                        body=json.dumps(body).encode("utf-8")))


def _json_response(status: int, value: Any) -> Response:
    return Response.json_answer(status, value)


def test_media_parts_are_found_in_every_api_shape() -> None:
    assert [p["type"] for p in hooks.media_parts(body_of("chat", image("chat"), _audio("chat"),
                                                         mp.video_url("http://x/v.mp4")))] == \
        ["image_url", "input_audio", "video_url"]
    assert [p["type"] for p in hooks.media_parts(body_of("responses", image("responses")))] == ["input_image"]
    assert [p["type"] for p in hooks.media_parts(body_of("messages", image("messages")))] == ["image"]
    system = {"system": [{"type": "text", "text": "Hi"}, mp.anthropic_image("image/png", b"x")], "messages": []}
    assert [p["type"] for p in hooks.media_parts(system)] == ["image"]
    history = {"messages": [{"role": "user", "content": [image("chat")]}, {"role": "assistant", "content": "ok"},
                            {"role": "user", "content": "and?"}]}
    assert hooks.has_media(history)
    for text_only in (body_of("chat"), body_of("responses"), body_of("messages"), {"input": "hi"},
                      {"messages": [{"role": "user", "content": "an image_url"}]}, {"prompt": "x"}, None, []):
        assert not hooks.has_media(text_only)


def test_images_are_stripped_and_the_rest_kept() -> None:
    body = body_of("chat", image("chat"), _audio("chat"), image("chat"))
    stripped, removed = hooks.strip_parts(body, hooks.IMAGE_PART_TYPES)
    assert removed == 2 and [p["type"] for p in stripped["messages"][0]["content"]] == ["text", "input_audio"]
    assert len(body["messages"][0]["content"]) == 4  # the original is not changed
    request = hooks.drop_images(_ctx(CHAT, body), Request("POST", CHAT, body=json.dumps(body).encode()))
    assert [p["type"] for p in request.json["messages"][0]["content"]] == ["text", "input_audio"]
    audio_only = body_of("chat", _audio("chat"))
    raw = Request("POST", CHAT, body=json.dumps(audio_only).encode())
    assert hooks.drop_images(_ctx(CHAT, audio_only), raw) is raw  # nothing to drop: the bytes go as sent


def test_text_words_bound_the_text_only_bill() -> None:
    body = body_of("chat", image("chat"))
    assert hooks.text_words(body) == len(mp.PROMPT.split())
    assert hooks.text_words(body) <= prompt_tokens(body_of("chat")) + TEMPLATE
    assert hooks.text_words({"system": "Be brief.", "messages": [{"role": "user", "content": "a b c"}]}) == 5
    assert hooks.text_words({"instructions": "one two", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "three"}, image("responses")]}]}) == 3


def test_media_tokens_missing_rewrites_every_usage_shape() -> None:
    words = len(mp.PROMPT.split())
    chat = _json_response(200, {"usage": {"prompt_tokens": 71, "completion_tokens": 8, "total_tokens": 79,
                                          "prompt_tokens_details": {"cached_tokens": 66, "image_tokens": 16}}})
    usage = hooks.media_tokens_missing_body(_ctx(CHAT, body_of("chat", image("chat"))), chat).json["usage"]
    assert usage == {"prompt_tokens": words, "completion_tokens": 8, "total_tokens": words + 8,
                     "prompt_tokens_details": {"cached_tokens": words, "image_tokens": 0}}
    ant = _json_response(200, {"usage": {"input_tokens": 55, "cache_read_input_tokens": 15, "output_tokens": 8}})
    usage = hooks.media_tokens_missing_body(_ctx(MESSAGES, body_of("messages", image("messages"))), ant).json["usage"]
    assert usage == {"input_tokens": words, "cache_read_input_tokens": 0, "output_tokens": 8}
    # text-only requests, errors and answers without usage pass as they came
    assert hooks.media_tokens_missing_body(_ctx(CHAT, body_of("chat")), chat) is chat
    error = _json_response(400, {"error": {"message": "bad"}})
    assert hooks.media_tokens_missing_body(_ctx(CHAT, body_of("chat", image("chat"))), error) is error
    events = [Event.make({"type": "response.created", "response": {"usage": None}}),
              Event.make({"type": "response.completed", "response": {"usage": {
                  "input_tokens": 71, "output_tokens": 16, "total_tokens": 87}}}),
              Event.make({"type": "message_delta", "usage": {"output_tokens": 8}})]
    out = list(hooks.media_tokens_missing_stream(_ctx(RESPONSES, body_of("responses", image("responses"))),
                                                 iter(events)))
    assert out[0] is events[0] and out[2] is events[2]
    assert out[1].obj["response"]["usage"] == {"input_tokens": words, "output_tokens": 16, "total_tokens": words + 16}
    assert list(hooks.media_tokens_missing_stream(_ctx(RESPONSES, body_of("responses")), iter(events))) == events


def test_stream_usage_mismatch_adds_a_quarter_to_streams_with_media() -> None:
    chunk = Event.make({"choices": [], "usage": {"prompt_tokens": 71, "completion_tokens": 8, "total_tokens": 79}})
    start = Event.make({"type": "message_start", "message": {"usage": {"input_tokens": 5,
                                                                        "cache_read_input_tokens": 65}}})
    (out,) = hooks.stream_media_usage_mismatch(_ctx(CHAT, body_of("chat", image("chat"))), iter([chunk]))
    assert out.obj["usage"] == {"prompt_tokens": 71 + 17, "completion_tokens": 8, "total_tokens": 79 + 17}
    (out,) = hooks.stream_media_usage_mismatch(_ctx(MESSAGES, body_of("messages", image("messages"))), iter([start]))
    assert out.obj["message"]["usage"] == {"input_tokens": 5 + 17, "cache_read_input_tokens": 65}
    small = Event.make({"choices": [], "usage": {"prompt_tokens": 3}})
    (out,) = hooks.stream_media_usage_mismatch(_ctx(CHAT, body_of("chat", image("chat"))), iter([small]))
    assert out.obj["usage"]["prompt_tokens"] == 3 + hooks.STREAM_USAGE_EXTRA_MIN
    assert list(hooks.stream_media_usage_mismatch(_ctx(CHAT, body_of("chat")), iter([chunk]))) == [chunk]


@pytest.mark.parametrize("path, envelope", [
    (CHAT, {"error": {"message": "Failed to load image or audio file", "type": "server_error", "param": None,
                      "code": None}}),
    (MESSAGES, {"type": "error", "error": {"type": "api_error", "message": "Failed to load image or audio file"}}),
])
def test_corrupt_media_500_answers_a_server_error_envelope(path: str, envelope: dict[str, Any],
                                                           schemas: SchemaSet) -> None:
    api = "messages" if path == MESSAGES else "chat"
    rejected = _json_response(400, {"error": {"code": 400, "message": "Failed to load image or audio file",
                                              "type": "invalid_request_error"}})
    out = hooks.corrupt_media_500(_ctx(path, body_of(api, image(api, BAD))), rejected)
    assert isinstance(out, Response) and out.status == 500 and out.json == envelope
    schemas.validate(out.json, "anthropic/error" if api == "messages" else "openai/error", what="envelope")
    assert hooks.corrupt_media_500(_ctx(path, body_of(api)), rejected) is rejected
    ok = _json_response(200, {"usage": {}})
    assert hooks.corrupt_media_500(_ctx(path, body_of(api, image(api))), ok) is ok


# --- the mutation runner's media settings ------------------------------------------------------------


def _clean_doc(requirements: list[str]) -> dict[str, Any]:
    return {"requirements": {rid: {"outcome": "passed", "test_outcomes": {f"t::{rid}": "passed"}, "violations": []}
                             for rid in requirements}}


def test_media_faults_share_one_baseline_on_the_multimodal_reference(tmp_path: Path) -> None:
    settings = {mutation.RUN_SETTINGS[n] for n in MEDIA_FAULTS}
    assert len(settings) == 1
    (media_run,) = settings
    assert media_run.profile == "reference-multimodal" and not media_run.shared_baseline and media_run.neutral_runs
    assert set(media_run.selection) == {r for n in MEDIA_FAULTS for r in FAULTS[n].requirements}
    assert not set(media_run.selection) & set(mutation.shared_requirements())  # no media in the shared runs

    calls: list[tuple[str, str, str, list[str]]] = []  # (run, proxy URL, profile, selection)
    endpoints: list[str] = []

    def upstream(profile: str) -> str:
        endpoints.append(profile)
        return f"http://127.0.0.1:9/{profile}"

    def suite(url: str, requirements: list[str], reports: Path, **options: Any) -> mutation.RunReport:
        calls.append((reports.name, url, options["profile"], sorted(requirements)))
        doc = _clean_doc(sorted(requirements))
        rid = FAULTS[reports.name].requirements[0] if reports.name in FAULTS else None
        if rid is not None:
            doc["requirements"][rid]["violations"] = [{"test": f"t::{rid}", "kind": "failed", "message": "x"}]
        return mutation.parse_report(doc)

    baseline, results = mutation.run_mutation([FAULTS[n] for n in MEDIA_FAULTS], upstream, tmp_path,
                                              profile="reference", key_env=None, suite=suite, log=lambda line: None)
    # no shared baseline (no selected fault is judged against it), one media baseline, one run per fault
    assert [c[0] for c in calls] == [f"baseline+{MEDIA_FAULTS[0]}-settings", *MEDIA_FAULTS]
    assert baseline.rows == {}
    assert {c[2] for c in calls} == {"reference-multimodal"}
    assert all(c[3] == sorted(media_run.selection) for c in calls)
    assert set(endpoints) == {"reference-multimodal"}  # the proxies stood in front of that endpoint only
    assert [r.outcome for r in results] == ["caught"] * 4 and not any(r.adapters for r in results)
    doc = mutation.write_reports(tmp_path, baseline, results)
    assert doc["headline"].startswith("4/4 caught on the raw reference, 0/0 through adapters")


def test_an_upstream_given_is_described_by_its_own_profile(tmp_path: Path) -> None:
    """With --upstream (a URL, not the embedded reference) the media faults run with the profile
    given: reference-multimodal describes the embedded reference only."""
    profiles: list[str] = []

    def suite(url: str, requirements: list[str], reports: Path, **options: Any) -> mutation.RunReport:
        profiles.append(options["profile"])
        return mutation.parse_report(_clean_doc(sorted(requirements)))

    mutation.run_mutation([FAULTS["drop-image"], FAULTS["crlf"]], "http://127.0.0.1:9", tmp_path, profile="nim",
                          key_env=None, suite=suite, log=lambda line: None)
    assert profiles == ["nim"] * 5  # baseline, media baseline, drop-image, crlf, crlf over the media selection


def test_an_endpoint_that_does_not_start_makes_its_faults_broken(tmp_path: Path) -> None:
    def upstream(profile: str) -> str:
        if profile == "reference-multimodal":
            raise OSError("llama-server exited")
        return "http://127.0.0.1:9"

    def suite(url: str, requirements: list[str], reports: Path, **options: Any) -> mutation.RunReport:
        return mutation.parse_report(_clean_doc(sorted(requirements)))

    _, results = mutation.run_mutation([FAULTS["drop-image"], FAULTS["crlf"]], upstream, tmp_path,
                                       profile="reference", key_env=None, suite=suite, log=lambda line: None)
    # crlf passed the shared runs, but could not be run over the media tests: not proven neutral
    assert [(r.fault, r.outcome) for r in results] == [("drop-image", "broken"), ("crlf", "broken")]
    assert all("llama-server exited" in r.detail for r in results)


def test_neutral_transformations_also_run_over_the_media_tests(tmp_path: Path) -> None:
    """A neutral transformation is run over the media selection too, against the media baseline,
    when a media fault is selected; a verdict it changes there makes it changed."""
    calls: list[tuple[str, str]] = []
    flagged = "t::OAI-MM-004"

    def upstream(profile: str) -> str:
        return f"http://127.0.0.1:9/{profile}"

    def suite(url: str, requirements: list[str], reports: Path, **options: Any) -> mutation.RunReport:
        calls.append((reports.name, options["profile"]))
        doc = _clean_doc(sorted(requirements))
        parts = reports.name.split("+")
        if "split-bytes" in parts and parts[-1] == "drop-image-settings":  # flags a media test only
            doc["requirements"]["OAI-MM-004"]["violations"] = [{"test": flagged, "kind": "failed", "message": "x"}]
            doc["requirements"]["OAI-MM-004"]["test_outcomes"] = {flagged: "failed"}
        if reports.name == "drop-image":
            doc["requirements"]["OAI-MM-002"]["violations"] = [
                {"test": "t::OAI-MM-002", "kind": "failed", "message": "x"}]
        return mutation.parse_report(doc)

    _, results = mutation.run_mutation([FAULTS["crlf"], FAULTS["drop-image"], FAULTS["split-bytes"]], upstream,
                                       tmp_path, profile="reference", key_env=None, suite=suite,
                                       log=lambda line: None)
    assert calls == [("baseline", "reference"), ("crlf+split-bytes", "reference"),  # together first
                     ("baseline+drop-image-settings", "reference-multimodal"),
                     ("crlf+split-bytes+drop-image-settings", "reference-multimodal"),
                     # the bundle changed a media verdict: each member alone names the one that did
                     ("crlf", "reference"), ("crlf+drop-image-settings", "reference-multimodal"),
                     ("drop-image", "reference-multimodal"),
                     ("split-bytes", "reference"), ("split-bytes+drop-image-settings", "reference-multimodal")]
    by_name = {r.fault: r for r in results}
    assert by_name["crlf"].outcome == "clean" and by_name["drop-image"].outcome == "caught"
    assert by_name["split-bytes"].outcome == "changed"
    assert "the multimodal reference" in by_name["split-bytes"].detail and "OAI-MM-004" in by_name["split-bytes"].detail
    # without a media fault selected, the neutral runs stay on the shared selection
    calls.clear()
    mutation.run_mutation([FAULTS["crlf"]], upstream, tmp_path, profile="reference", key_env=None, suite=suite,
                          log=lambda line: None)
    assert calls == [("baseline", "reference"), ("crlf", "reference")]


def test_reference_servers_start_one_server_per_configuration(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[str, str]] = []

    class FakeServer:
        def __init__(self, config_name: str, log_path: Path, api_key: str) -> None:
            self.config = config_name
            self.log = log_path
            self.stopped = False

        def start(self) -> str:
            started.append((self.config, self.log.name))
            return f"http://127.0.0.1:{len(started)}"

        def stop(self) -> None:
            self.stopped = True

    import conformance.reference as reference

    monkeypatch.setattr(reference, "ReferenceServer", FakeServer)
    servers = mutation.ReferenceServers(tmp_path, "k")
    assert servers("reference") == servers("reference") == "http://127.0.0.1:1"
    assert servers("reference-multimodal") == "http://127.0.0.1:2"
    assert started == [("nemotron", "reference-server.log"), ("multimodal", "reference-server-multimodal.log")]
    servers.stop()
    assert all(s.stopped for s in servers.servers.values())
