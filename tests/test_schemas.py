"""Offline checks of the JSON Schemas, their overlays and the example files.

* every base schema passes the 2020-12 metaschema and follows the conventions of schemas/README.md;
* every ``$ref`` resolves through the registry, for every flavor combination in use;
* every overlay applies cleanly and its result passes the metaschema;
* every example in ``tests/schema_examples`` has the declared validity under both engines
  (jsonschema-rs fast path and pure-Python jsonschema), and they agree;
* every base schema has at least one valid and one invalid example.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conformance.harness.schemas import DRAFT, ID_BASE, SchemaSet, available_flavors, schema_id

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "schemas"
EXAMPLES = Path(__file__).resolve().parent / "schema_examples"

PATCH_OPS = {"add", "replace", "remove", "test"}
MODAL = re.compile(r"\b(should|must|shall|test that)\b", re.IGNORECASE)


@cache
def schema_set(flavors: tuple[str, ...]) -> SchemaSet:
    return SchemaSet(flavors=flavors)


def _flavor_id(flavors: tuple[str, ...]) -> str:
    return "+".join(flavors) or "spec"


BASE_FILES = sorted(p for p in SCHEMAS.rglob("*.schema.json") if "overlays" not in p.relative_to(SCHEMAS).parts)
OVERLAY_FILES = sorted((SCHEMAS / "overlays").rglob("*.patch.json"))
EXAMPLE_FILES = sorted(EXAMPLES.rglob("*.json"))


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _flavor_sets() -> tuple[tuple[str, ...], ...]:
    """The combinations profiles use (spec, compat, compat+hosted), every combination an example
    file declares, and each remaining flavor on its own, so that every overlay is applied."""
    sets = {(), ("compat",), ("compat", "hosted")}
    sets |= {tuple(_load(p).get("flavors", ())) for p in EXAMPLE_FILES}
    used = {f for combo in sets for f in combo}
    sets |= {(f,) for f in available_flavors() if f not in used}
    return tuple(sorted(sets, key=lambda c: (len(c), c)))


FLAVOR_SETS = _flavor_sets()


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _expected_id(path: Path) -> str:
    rel = path.relative_to(SCHEMAS).as_posix()
    return ID_BASE + rel.removesuffix(".schema.json") + ".json"


# --- (a) base schemas ------------------------------------------------------------------------


def test_schema_files_found() -> None:
    assert BASE_FILES, f"no *.schema.json under {SCHEMAS}"
    assert OVERLAY_FILES, f"no overlays under {SCHEMAS / 'overlays'}"
    assert EXAMPLE_FILES, f"no example files under {EXAMPLES}"


@pytest.mark.parametrize("path", BASE_FILES, ids=_rel)
def test_base_schema_metaschema_and_conventions(path: Path) -> None:
    doc = _load(path)
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc.get("$schema") == DRAFT
    assert doc.get("$id") == _expected_id(path), "the $id must mirror the file path under schemas/"
    assert isinstance(doc.get("$comment"), str) and doc["$comment"].strip(), "provenance $comment missing"


# --- (b) $ref resolution ---------------------------------------------------------------------


def _refs(node: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    """Every ``$ref`` in a schema document, with a JSON pointer to where it occurs."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            elif key not in ("const", "enum", "default", "examples"):
                yield from _refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _refs(item, f"{where}/{i}")


def _ref_cases() -> list[Any]:
    cases = []
    for flavors in FLAVOR_SETS:
        for sid, doc in sorted(schema_set(flavors).documents.items()):
            for where, ref in _refs(doc):
                name = sid.removeprefix(ID_BASE).removesuffix(".json")
                cases.append(pytest.param(flavors, sid, ref, id=f"{_flavor_id(flavors)}:{name}{where[1:]}"))
    return cases


@pytest.mark.parametrize(("flavors", "sid", "ref"), _ref_cases())
def test_ref_resolves(flavors: tuple[str, ...], sid: str, ref: str) -> None:
    # No schema here declares a nested $id, so the document's $id is the base URI of every ref.
    resolved = schema_set(flavors).registry.resolver(base_uri=sid).lookup(ref)
    assert isinstance(resolved.contents, (dict, bool))
    if not ref.startswith("#"):
        assert ref.split("#", 1)[0].startswith(ID_BASE), "cross-file refs must use our $id URIs"


# --- (c) overlays ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", OVERLAY_FILES, ids=_rel)
def test_overlay_file_shape(path: Path) -> None:
    doc = _load(path)
    assert set(doc) <= {"$comment", "target", "patch"}, f"unexpected keys {set(doc)}"
    assert isinstance(doc.get("$comment"), str) and doc["$comment"].strip(), "overlay needs an evidence $comment"
    assert doc.get("target") in schema_set(()).documents, f"target {doc.get('target')!r} is not a base $id"
    flavor = path.relative_to(SCHEMAS / "overlays").parts[0]
    expected = SCHEMAS / "overlays" / flavor / (
        doc["target"].removeprefix(ID_BASE).removesuffix(".json") + ".patch.json"
    )
    assert path == expected, f"overlay for {doc['target']} belongs at {_rel(expected)}"
    ops = doc.get("patch")
    assert isinstance(ops, list) and ops
    for op in ops:
        assert op.get("op") in PATCH_OPS and isinstance(op.get("path"), str)


@pytest.mark.parametrize("flavors", FLAVOR_SETS, ids=_flavor_id)
def test_overlays_apply_and_pass_metaschema(flavors: tuple[str, ...]) -> None:
    ss = schema_set(flavors)  # applying the patches happens here and raises on any failed op
    base = schema_set(())
    assert ss.documents.keys() == base.documents.keys()
    for sid, doc in ss.documents.items():
        jsonschema.Draft202012Validator.check_schema(doc)
    if flavors:
        changed = {sid for sid in base.documents if ss.documents[sid] != base.documents[sid]}
        targets = {_load(p)["target"] for f in flavors for p in (SCHEMAS / "overlays" / f).rglob("*.patch.json")}
        assert changed == targets, "every overlay target must change, and nothing else"


@pytest.mark.parametrize("flavor", available_flavors())
def test_each_flavor_changes_something(flavor: str) -> None:
    assert schema_set((flavor,)).documents != schema_set(()).documents


# --- (d) examples ----------------------------------------------------------------------------


def _example_cases() -> list[Any]:
    cases = []
    for path in EXAMPLE_FILES:
        doc = _load(path)
        flavors = tuple(doc["flavors"])
        for i, test in enumerate(doc["tests"]):
            label = f"{path.relative_to(EXAMPLES).as_posix()}[{_flavor_id(flavors)}]#{i}: {test['description']}"
            cases.append(pytest.param(doc["schema_id"], flavors, test["data"], test["valid"], id=label))
    return cases


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.relative_to(EXAMPLES).as_posix())
def test_example_file_format(path: Path) -> None:
    doc = _load(path)
    assert set(doc) == {"description", "schema_id", "flavors", "tests"}
    assert 0 < len(doc["description"]) <= 150, "file description longer than 150 chars"
    assert schema_id(doc["schema_id"]) in schema_set(()).documents, f"unknown schema_id {doc['schema_id']!r}"
    assert isinstance(doc["flavors"], list) and set(doc["flavors"]) <= set(available_flavors())
    assert doc["tests"], "no tests"
    for test in doc["tests"]:
        assert set(test) == {"description", "data", "valid"}
        assert isinstance(test["valid"], bool)
        text = test["description"]
        assert 0 < len(text) <= 70, f"description longer than 70 chars: {text!r}"
        assert not MODAL.search(text), f"not declarative (JSON-Schema-Test-Suite style): {text!r}"
    descriptions = [t["description"] for t in doc["tests"]]
    assert len(descriptions) == len(set(descriptions)), "duplicate descriptions"


@pytest.mark.parametrize(("name", "flavors", "data", "valid"), _example_cases())
def test_example(name: str, flavors: tuple[str, ...], data: Any, valid: bool) -> None:
    ss = schema_set(flavors)
    fast = ss.is_valid(data, name)
    pure = jsonschema.Draft202012Validator(ss.documents[schema_id(name)], registry=ss.registry).is_valid(data)
    assert fast == pure, f"jsonschema-rs says {fast}, jsonschema says {pure}"
    errors = ss.errors(data, name)  # raises HarnessError if the engines disagree on an invalid instance
    assert (not errors) == valid, [e.as_dict() for e in errors] if errors else "expected at least one error"
    assert fast == valid


# --- (e) coverage ----------------------------------------------------------------------------


def _coverage() -> dict[str, set[bool]]:
    seen: dict[str, set[bool]] = {}
    for path in EXAMPLE_FILES:
        doc = _load(path)
        seen.setdefault(schema_id(doc["schema_id"]), set()).update(t["valid"] for t in doc["tests"])
    return seen


@pytest.mark.parametrize(
    "path",
    [p for p in BASE_FILES if p.relative_to(SCHEMAS).parts[0] in ("openai", "nim")],
    ids=_rel,
)
def test_schema_has_valid_and_invalid_examples(path: Path) -> None:
    sid = _load(path)["$id"]
    assert _coverage().get(sid, set()) == {True, False}, f"{sid} needs at least one valid and one invalid example"
