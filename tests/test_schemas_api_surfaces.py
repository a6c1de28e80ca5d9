"""Offline self-tests for the legacy-completions, Responses and Anthropic schemas and their overlays.

Scope: ``schemas/openai/text_completion*``, ``schemas/openai/response.schema.json``,
``schemas/openai/_defs/response_usage``, ``schemas/openai/responses/*``, ``schemas/anthropic/**``, the
``compat`` overlays for those files and the ``open-responses`` overlay flavor, plus their examples under
``tests/schema_examples``. Generic checks for the whole tree live in ``tests/test_schemas.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conformance.harness import schemas as harness

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "schemas"
EXAMPLES = ROOT / "tests" / "schema_examples"

BASE_GLOBS = (
    "openai/text_completion*.schema.json",
    "openai/response.schema.json",
    "openai/_defs/response_usage.schema.json",
    "openai/responses/*.schema.json",
    "anthropic/**/*.schema.json",
)
OVERLAY_GLOBS = (
    "overlays/compat/openai/text_completion*.patch.json",
    "overlays/compat/openai/response*.patch.json",
    "overlays/compat/openai/_defs/response_usage.patch.json",
    "overlays/compat/openai/responses/*.patch.json",
    "overlays/compat/anthropic/**/*.patch.json",
    "overlays/open-responses/**/*.patch.json",
)
EXAMPLE_GLOBS = (
    "openai/text_completion*.json",
    "openai/response*.json",
    "openai/responses/*.json",
    "anthropic/**/*.json",
)
FLAVOR_COMBOS: tuple[tuple[str, ...], ...] = (
    (),
    ("compat",),
    ("open-responses",),
    ("compat", "open-responses"),
)


@cache
def schema_set(flavors: tuple[str, ...]) -> harness.SchemaSet:
    return harness.SchemaSet(flavors=flavors)


def _collect(root: Path, globs: tuple[str, ...]) -> list[Path]:
    found: set[Path] = set()
    for pattern in globs:
        found.update(root.glob(pattern))
    return sorted(found)


BASE_FILES = _collect(SCHEMAS, BASE_GLOBS)
OVERLAY_FILES = _collect(SCHEMAS, OVERLAY_GLOBS)
EXAMPLE_FILES = _collect(EXAMPLES, EXAMPLE_GLOBS)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _expected_id(path: Path) -> str:
    name = str(path.relative_to(SCHEMAS)).removesuffix(".schema.json")
    return harness.schema_id(name)


MY_IDS = {_expected_id(p) for p in BASE_FILES}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _example_cases() -> list[Any]:
    cases = []
    for path in EXAMPLE_FILES:
        doc = _load(path)
        for i, test in enumerate(doc["tests"]):
            cases.append(
                pytest.param(
                    doc["schema_id"], tuple(doc["flavors"]), test["data"], test["valid"],
                    id=f"{path.relative_to(EXAMPLES)}::{i}:{test['description']}",
                )
            )
    return cases


# --- inventory ------------------------------------------------------------------------------------


def test_inventory_is_not_empty() -> None:
    assert len(BASE_FILES) >= 44, [_rel(p) for p in BASE_FILES]
    assert OVERLAY_FILES and EXAMPLE_FILES


# --- base schemas ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BASE_FILES, ids=_rel)
def test_base_schema_header(path: Path) -> None:
    doc = _load(path)
    assert doc.get("$schema") == harness.DRAFT
    assert doc.get("$id") == _expected_id(path)
    assert isinstance(doc.get("$comment"), str) and len(doc["$comment"]) > 40, "provenance $comment missing"


@pytest.mark.parametrize("flavors", FLAVOR_COMBOS, ids=lambda f: "+".join(f) or "spec")
def test_metaschema_and_refs_under_every_flavor(flavors: tuple[str, ...]) -> None:
    """Every schema of this scope, after overlays, is a valid 2020-12 schema whose $refs all resolve."""
    sset = schema_set(flavors)
    registry = sset.registry
    for sid in sorted(MY_IDS):
        doc = sset.documents[sid]
        jsonschema.Draft202012Validator.check_schema(doc)
        resolver = registry.resolver(base_uri=sid)
        for ref in _refs(doc):
            resolver.lookup(ref)  # raises referencing.exceptions.Unresolvable
        sset.is_valid({}, sid)  # compiles under jsonschema-rs as well


def test_discriminators_are_const() -> None:
    """Event and object discriminators are const in the base files (house rule)."""
    for path in BASE_FILES:
        doc = _load(path)
        is_event = "/responses/" in str(path) or ("/stream/" in str(path) and "$ref" not in doc)
        if is_event:
            assert "const" in doc["properties"]["type"], _rel(path)
            assert "type" in doc["required"], _rel(path)
        if "/responses/" in str(path):
            assert doc["properties"]["type"]["const"] == path.name.removesuffix(".schema.json")
            assert "sequence_number" in doc["required"]
            assert doc["properties"]["sequence_number"] == {"type": "integer"}


# --- overlays -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", OVERLAY_FILES, ids=_rel)
def test_overlay_shape(path: Path) -> None:
    doc = _load(path)
    assert isinstance(doc.get("$comment"), str) and len(doc["$comment"]) > 40, "overlay needs evidence"
    assert doc.get("target") in MY_IDS, doc.get("target")
    relative = path.relative_to(SCHEMAS / "overlays")
    flavor, target_name = relative.parts[0], str(Path(*relative.parts[1:])).removesuffix(".patch.json")
    assert flavor in harness.available_flavors(SCHEMAS)
    assert doc["target"] == harness.schema_id(target_name), "overlay file name must mirror its target"
    assert doc["patch"] and all(op["op"] in {"add", "replace", "remove", "test"} for op in doc["patch"])


@pytest.mark.parametrize("path", OVERLAY_FILES, ids=_rel)
def test_overlay_changes_its_target(path: Path) -> None:
    doc = _load(path)
    flavor = path.relative_to(SCHEMAS / "overlays").parts[0]
    assert schema_set((flavor,)).documents[doc["target"]] != schema_set(()).documents[doc["target"]]


# --- examples -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("schema_id", "flavors", "data", "valid"), _example_cases())
def test_example(schema_id: str, flavors: tuple[str, ...], data: Any, valid: bool) -> None:
    sset = schema_set(flavors)
    assert sset.is_valid(data, schema_id) is valid, "jsonschema-rs"
    errors = sset.errors(data, schema_id)
    assert (not errors) is valid, [e.as_dict() for e in errors]
    # the pure-Python engine on its own, without the fast-path short-cut in errors()
    slow = sset._python(harness.schema_id(schema_id))  # noqa: SLF001
    assert slow.is_valid(data) is valid, "jsonschema"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=_rel)
def test_example_file_format(path: Path) -> None:
    doc = _load(path)
    assert set(doc) == {"description", "schema_id", "flavors", "tests"}
    assert harness.schema_id(doc["schema_id"]) in MY_IDS
    assert all(f in harness.available_flavors(SCHEMAS) for f in doc["flavors"])
    descriptions = [doc["description"]] + [t["description"] for t in doc["tests"]]
    for text in descriptions:
        assert len(text) <= 70 and "should" not in text.lower(), text
    assert len(set(descriptions[1:])) == len(descriptions) - 1, "duplicate test descriptions"
    assert all(set(t) == {"description", "data", "valid"} for t in doc["tests"])


def test_every_schema_has_valid_and_invalid_spec_examples() -> None:
    seen: dict[str, set[bool]] = {sid: set() for sid in MY_IDS}
    for path in EXAMPLE_FILES:
        doc = _load(path)
        if doc["flavors"]:
            continue
        seen[harness.schema_id(doc["schema_id"])].update(t["valid"] for t in doc["tests"])
    missing = {sid: found for sid, found in seen.items() if found != {True, False}}
    assert not missing, missing


def test_examples_cover_every_flavor() -> None:
    flavors = {tuple(_load(p)["flavors"]) for p in EXAMPLE_FILES}
    assert {(), ("compat",), ("open-responses",)} <= flavors


def test_every_overlay_has_a_proving_example() -> None:
    """For each overlay, some example under its flavor gets a different verdict than under the spec."""
    by_target: dict[tuple[str, str], bool] = {}
    for path in OVERLAY_FILES:
        flavor = path.relative_to(SCHEMAS / "overlays").parts[0]
        by_target[(flavor, _load(path)["target"])] = False
    spec = schema_set(())
    for path in EXAMPLE_FILES:
        doc = _load(path)
        sid = harness.schema_id(doc["schema_id"])
        for flavor in doc["flavors"]:
            if (flavor, sid) not in by_target:
                continue
            if any(t["valid"] != spec.is_valid(t["data"], sid) for t in doc["tests"]):
                by_target[(flavor, sid)] = True
    assert all(by_target.values()), [k for k, v in by_target.items() if not v]


def test_compat_only_relaxes() -> None:
    """Everything the spec flavor accepts, compat accepts too (compat never tightens these schemas)."""
    spec, compat = schema_set(()), schema_set(("compat",))
    for path in EXAMPLE_FILES:
        doc = _load(path)
        for test in doc["tests"]:
            sid = doc["schema_id"]
            if spec.is_valid(test["data"], sid):
                assert compat.is_valid(test["data"], sid), (path.name, test["description"])
