"""Offline JSON Schema registry and validation.

Layout (see ``schemas/README.md``):

* ``schemas/<api>/**/*.schema.json`` are the base schemas (JSON Schema 2020-12). Each declares
  ``$schema``, an ``$id`` under :data:`ID_BASE` and a provenance ``$comment``. Base schemas follow
  the pinned upstream specification (``required`` and enums as published, nullable converted), with
  an open content model.
* ``schemas/overlays/<flavor>/**/*.patch.json`` relax (or tighten) a base schema for a family of
  servers: ``{"$comment": ..., "target": "<$id>", "patch": [RFC 6902 operations]}``. A profile
  names the flavors it applies, in order (e.g. ``["compat", "hosted"]``). Files are never edited
  per profile; the registry composes them.

Validation has a compiled fast path (``jsonschema-rs``); the pure-Python ``jsonschema`` validator
runs only when an instance is invalid, to produce the detailed, path-sorted error list. A whole
stream is checked with one compiled call per run of events of one type
(:meth:`SchemaSet.invalid_indices_by_type`), against the schemas with two equivalence-preserving
rewrites (:func:`chain_discriminated_branches`: a discriminated ``allOf`` of ``if``/``then`` becomes an
``if``/``else`` chain, so a union stops at its matching alternative, and a closed union, whose
discriminator is required and enumerated with exactly the branches' values, ends the chain in
``false`` instead of checking ``required`` and ``enum`` first; :func:`given_type`: a run of
type T is checked without the ``type`` const every item of it meets); only where that call finds an
invalid instance are the instances checked one by one against the schemas as written, and only
those get the error list. Verdicts and errors are those of the schemas as written
(``tests/test_schema_fast_path.py`` proves the equivalence).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import referencing
import referencing.jsonschema
from referencing import Registry, Resource

from conformance.harness.failures import HarnessError, SchemaViolation

ID_BASE = "https://llmconf.invalid/schemas/"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def schemas_root() -> Path:
    """The ``schemas/`` directory: beside the package in a checkout, or installed alongside it."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[2] / "schemas", here.parents[1] / "schemas"):
        if candidate.is_dir():
            return candidate
    raise HarnessError(f"schemas/ directory not found near {here}")


def schema_id(name: str) -> str:
    """``"openai/chat.completion"`` → the full ``$id``. Full ids pass through unchanged."""
    if name.startswith("https://"):
        return name
    return f"{ID_BASE}{name}.json"


# --- RFC 6902 (the subset overlays use) -------------------------------------------------------


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _walk(doc: Any, pointer: str) -> tuple[Any, str]:
    if not pointer.startswith("/"):
        raise HarnessError(f"JSON pointer must start with '/': {pointer!r}")
    tokens = [_unescape(t) for t in pointer[1:].split("/")]
    parent = doc
    for token in tokens[:-1]:
        parent = parent[int(token)] if isinstance(parent, list) else parent[token]
    return parent, tokens[-1]


def apply_patch(doc: Any, operations: Sequence[Mapping[str, Any]]) -> Any:
    """Apply RFC 6902 ``add``/``replace``/``remove``/``test`` operations to a deep copy."""
    doc = copy.deepcopy(doc)
    for op in operations:
        parent, last = _walk(doc, op["path"])
        kind = op["op"]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(index, copy.deepcopy(op["value"]))
            elif kind == "replace":
                parent[index] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[index]
            elif kind == "test":
                if parent[index] != op["value"]:
                    raise HarnessError(f"overlay test failed at {op['path']}")
            else:
                raise HarnessError(f"unsupported patch op {kind!r}")
            continue
        if kind == "add":
            parent[last] = copy.deepcopy(op["value"])
        elif kind == "replace":
            if last not in parent:
                raise HarnessError(f"overlay replace of missing member {op['path']}")
            parent[last] = copy.deepcopy(op["value"])
        elif kind == "remove":
            if last not in parent:
                raise HarnessError(f"overlay remove of missing member {op['path']}")
            del parent[last]
        elif kind == "test":
            if parent.get(last) != op["value"]:
                raise HarnessError(f"overlay test failed at {op['path']}")
        else:
            raise HarnessError(f"unsupported patch op {kind!r}")
    return doc


# --- loading -----------------------------------------------------------------------------------


def load_base_schemas(root: Path | None = None) -> dict[str, dict[str, Any]]:
    root = root or schemas_root()
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(root.rglob("*.schema.json")):
        if "overlays" in path.relative_to(root).parts:
            continue
        doc = json.loads(path.read_text(encoding="utf-8"))
        sid = doc.get("$id")
        if not isinstance(sid, str) or not sid.startswith(ID_BASE):
            raise HarnessError(f"{path}: $id missing or outside {ID_BASE}")
        if sid in out:
            raise HarnessError(f"{path}: duplicate $id {sid}")
        out[sid] = doc
    return out


def load_overlays(flavor: str, root: Path | None = None) -> list[dict[str, Any]]:
    root = root or schemas_root()
    folder = root / "overlays" / flavor
    if not folder.is_dir():
        raise HarnessError(f"unknown schema overlay flavor {flavor!r} (no {folder})")
    overlays = []
    for path in sorted(folder.rglob("*.patch.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        doc["_path"] = str(path)
        overlays.append(doc)
    return overlays


def available_flavors(root: Path | None = None) -> list[str]:
    root = root or schemas_root()
    folder = root / "overlays"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


@dataclass(frozen=True, slots=True)
class SchemaError:
    """One violation: where in the instance, which keyword, what value, under which schema."""

    schema_id: str
    instance_path: str
    keyword: str
    message: str
    value: Any

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema_id,
            "path": self.instance_path,
            "keyword": self.keyword,
            "message": self.message,
            "value": self.value,
        }


def _json_path(error: jsonschema.ValidationError) -> str:
    out = "$"
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _truncate(value: Any, limit: int = 200) -> Any:
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= limit:
        return value
    return text[:limit] + "…"


_TYPE = itemgetter("type")


def _type_key(inst: Any, known: frozenset[str]) -> str | None:
    """The known string ``type`` of an instance, else None (not judged)."""
    etype = inst.get("type") if isinstance(inst, dict) else None
    return etype if isinstance(etype, str) and etype in known else None


# --- the batch path's equivalence-preserving rewrite ---------------------------------------------

#: Keywords whose value is a map of names to subschemas / a subschema / a list of subschemas
#: (JSON Schema 2020-12 applicators; ``$defs`` included): what :func:`_subschemas` walks.
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_ONE = ("items", "additionalItems", "additionalProperties", "not", "if", "then", "else", "contains",
               "propertyNames", "unevaluatedItems", "unevaluatedProperties", "contentSchema")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")


def _subschemas(node: Any) -> Iterable[dict[str, Any]]:
    """Every schema object in ``node`` (itself included), by the applicator keywords only (a
    ``const``/``enum``/``default``/``examples`` value is data, never walked)."""
    if not isinstance(node, dict):
        return
    yield node
    for key in _SCHEMA_MAPS:
        members = node.get(key)
        if isinstance(members, dict):
            for sub in members.values():
                yield from _subschemas(sub)
    for key in _SCHEMA_ONE:
        yield from _subschemas(node.get(key))
    for key in _SCHEMA_LISTS:
        members = node.get(key)
        if isinstance(members, list):
            for sub in members:
                yield from _subschemas(sub)


def _discriminated_branch(branch: Any) -> tuple[str, str] | None:
    """``(K, c)`` when ``branch`` is exactly ``{"if": {"properties": {K: {"const": c}}, "required":
    [K]}, "then": <schema>}`` with ``c`` a string (no ``else``, nothing else); None otherwise."""
    if not isinstance(branch, dict) or set(branch) != {"if", "then"}:
        return None
    cond = branch["if"]
    if not isinstance(cond, dict) or set(cond) != {"properties", "required"}:
        return None
    props, required = cond["properties"], cond["required"]
    if not isinstance(props, dict) or len(props) != 1 or required != list(props):
        return None
    (key, sub), = props.items()
    if not isinstance(sub, dict) or set(sub) != {"const"} or not isinstance(sub["const"], str):
        return None
    return key, sub["const"]


def chain_discriminated_branches(documents: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A copy of ``documents`` where every schema node of the form ``{"type": "object", ...,
    "allOf": [{"if": K == c1, "then": T1}, ..., {"if": K == cn, "then": Tn}]}`` (each ``if`` exactly
    ``{"properties": {K: {"const": ci}}, "required": [K]}``, one K, distinct string ci) has its
    ``allOf`` replaced by the chain ``{"if": K == c1, "then": T1, "else": {"if": K == c2, ...}}``
    (merged into the node when it has no ``if``/``then``/``else`` of its own, else as the one
    ``allOf`` member). The compiled validator then stops at the branch that matches instead of
    trying every ``if``.

    Equivalent on every instance: a non-object fails ``"type": "object"`` under both; for an
    object, at most one ``if`` holds (K has one value, the ci differ): if ``if_j`` holds, both
    require exactly ``T_j`` (every other ``if`` fails, and a failing ``if`` without ``else`` is
    vacuous); if none holds, both require nothing. The annotations collected (what
    ``unevaluated*`` would see) are the same too, but the rewrite is not made at all when any
    document uses ``unevaluatedProperties``/``unevaluatedItems``, or when a ``$ref`` points into an
    ``allOf`` (whose members the rewrite moves) or into ``properties`` (see below).

    A closed union (:func:`_closed_discriminator`: the node also requires K and lists exactly the
    ci in ``properties.K.enum``, and has no ``additionalProperties``) ends its chain with ``"else":
    false`` and loses the ``required`` K and ``properties.K``: for an object, K present with value
    ci makes ``if_i`` hold (the written ``required`` and ``enum`` hold too) and both require
    ``T_i``; otherwise no ``if`` holds and both fail (the written ``required`` or ``enum`` fails,
    the chain ends in false)."""
    out = copy.deepcopy(dict(documents))
    text = json.dumps(out)
    if '"unevaluatedProperties"' in text or '"unevaluatedItems"' in text:
        return out
    for doc in out.values():
        for node in _subschemas(doc):
            ref = node.get("$ref")
            if isinstance(ref, str) and ("/allOf" in ref.partition("#")[2] or "/properties" in ref.partition("#")[2]):
                return out
    for doc in out.values():
        for node in list(_subschemas(doc)):
            branches = node.get("allOf")
            if node.get("type") != "object" or not isinstance(branches, list) or len(branches) < 2:
                continue
            keys = [_discriminated_branch(b) for b in branches]
            if None in keys or len({k for k, _ in keys}) != 1 or len({c for _, c in keys}) != len(keys):
                continue
            key = keys[0][0]
            closed = _closed_discriminator(node, key, {c for _, c in keys})
            chain: dict[str, Any] | None = None
            for branch in reversed(branches):
                link = {"if": branch["if"], "then": branch["then"]}
                if chain is not None:
                    link["else"] = chain
                elif closed:  # no branch matched: K is missing or not one of the ci
                    link["else"] = False
                chain = link
            assert chain is not None
            if closed:  # the chain's final else checks what required and enum checked
                del node["properties"][key]
                node["required"] = [k for k in node["required"] if k != key]
            del node["allOf"]
            if {"if", "then", "else"} & set(node):
                node["allOf"] = [chain]
            else:
                node.update(chain)
    return out


def _closed_discriminator(node: dict[str, Any], key: str, consts: set[str]) -> bool:
    """Whether ``node`` requires ``key`` and allows exactly the values ``consts`` for it:
    ``key`` in its ``required`` and ``properties[key]`` exactly ``{"enum": [...]}`` listing the
    strings ``consts`` (each once). Then, for an object, "``key`` present and one of the ``ci``" is
    exactly "some branch's ``if`` holds", and :func:`chain_discriminated_branches` ends the chain
    with ``"else": false`` in place of the ``required`` and ``enum`` checks: a union member is
    found, and the object checked against it, with one look-up of ``key`` per branch tried instead
    of a ``required`` look-up, an ``enum`` comparison and then the chain."""
    props, required = node.get("properties"), node.get("required")
    if not isinstance(props, dict) or not isinstance(required, list) or key not in required:
        return False
    if "additionalProperties" in node:  # it reads which members `properties` names
        return False
    sub = props.get(key)
    if not isinstance(sub, dict) or set(sub) != {"enum"} or not isinstance(sub["enum"], list):
        return False
    values = sub["enum"]
    return all(isinstance(v, str) for v in values) and len(set(values)) == len(values) and set(values) == consts


#: The keywords a schema may have for :func:`given_type` to apply (no keyword that could look at
#: ``type`` other than ``properties``/``required``: no ``additionalProperties``, no applicator).
_GIVEN_TYPE_KEYS = frozenset({"$schema", "$id", "$comment", "$defs", "title", "description", "examples", "default",
                              "deprecated", "readOnly", "writeOnly", "type", "required", "properties"})


def given_type(doc: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    """``doc`` for instances known to be objects whose ``type`` member is the string ``kind``:
    a copy without ``properties.type`` (when it is exactly ``{"const": kind}``) and without
    ``"type"`` in ``required``; None when ``doc`` has any keyword beyond ``properties``,
    ``required``, ``"type": "object"`` and annotations (another keyword could see ``type``).

    Equivalent to ``doc`` on every such instance: the const and the required member are met, and
    nothing else in ``doc`` reads the ``type`` member."""
    props, required = doc.get("properties"), doc.get("required", [])
    if (not set(doc) <= _GIVEN_TYPE_KEYS or doc.get("type") != "object" or not isinstance(props, dict)
            or props.get("type") != {"const": kind} or not isinstance(required, list)):
        return None
    spec = copy.deepcopy(dict(doc))
    del spec["properties"]["type"]
    spec["required"] = [k for k in required if k != "type"]
    return spec


@dataclass
class SchemaSet:
    """All schemas with a given list of overlay flavors applied, ready to validate."""

    flavors: tuple[str, ...] = ()
    root: Path | None = None
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    _fast: dict[str, Any] = field(default_factory=dict)
    _slow: dict[str, Any] = field(default_factory=dict)
    _names: dict[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        docs = load_base_schemas(self.root)
        for flavor in self.flavors:
            for overlay in load_overlays(flavor, self.root):
                target = overlay.get("target")
                if target not in docs:
                    raise HarnessError(f"{overlay['_path']}: target {target!r} is not a known $id")
                docs[target] = apply_patch(docs[target], overlay.get("patch", []))
        self.documents = docs

    @cached_property
    def registry(self) -> Registry:
        resources = [
            (sid, Resource.from_contents(doc, default_specification=referencing.jsonschema.DRAFT202012))
            for sid, doc in self.documents.items()
        ]
        return Registry().with_resources(resources).crawl()

    @cached_property
    def _rs_registry(self) -> Any:
        return jsonschema_rs.Registry(list(self.documents.items()))

    @cached_property
    def _batch_documents(self) -> dict[str, dict[str, Any]]:
        """The documents after :func:`chain_discriminated_branches` (the batch path's schemas)."""
        return chain_discriminated_branches(self.documents)

    @cached_property
    def _rs_batch_registry(self) -> Any:
        return jsonschema_rs.Registry(list(self._batch_documents.items()))

    def _compiled(self, sid: str) -> Any:
        validator = self._fast.get(sid)
        if validator is None:
            doc = self._document(sid)
            validator = jsonschema_rs.validator_for(doc, registry=self._rs_registry, base_uri=sid)
            self._fast[sid] = validator
        return validator

    def _python(self, sid: str) -> jsonschema.Draft202012Validator:
        validator = self._slow.get(sid)
        if validator is None:
            validator = jsonschema.Draft202012Validator(self._document(sid), registry=self.registry)
            self._slow[sid] = validator
        return validator

    def _document(self, sid: str) -> dict[str, Any]:
        try:
            return self.documents[sid]
        except KeyError:
            raise HarnessError(f"no schema with $id {sid}") from None

    def errors(self, instance: Any, name: str) -> list[SchemaError]:
        """All violations of ``instance`` against schema ``name``, sorted by instance path."""
        sid = schema_id(name)
        if self._compiled(sid).is_valid(instance):
            return []
        found = [
            SchemaError(
                schema_id=sid,
                instance_path=_json_path(err),
                keyword=str(err.validator),
                message=err.message if len(err.message) < 300 else err.message[:300] + "…",
                value=_truncate(err.instance),
            )
            for err in self._python(sid).iter_errors(instance)
        ]
        if not found:  # the two engines disagree: our problem, not the endpoint's
            raise HarnessError(f"jsonschema-rs rejected an instance that jsonschema accepts under {sid}")
        return sorted(found, key=lambda e: (e.instance_path, e.keyword))

    def is_valid(self, instance: Any, name: str) -> bool:
        return bool(self._compiled(schema_id(name)).is_valid(instance))

    def _compiled_array(self, sid: str) -> Any:
        """A compiled ``{"type": "array", "items": {"$ref": sid}}`` over the batch registry
        (:func:`chain_discriminated_branches`): one call validates a whole stream's instances
        (valid exactly when every item is valid under ``sid``)."""
        key = f"{sid}#items"
        validator = self._fast.get(key)
        if validator is None:
            self._document(sid)
            doc = {"$schema": DRAFT, "type": "array", "items": {"$ref": sid}}
            validator = jsonschema_rs.validator_for(doc, registry=self._rs_batch_registry,
                                                    base_uri=f"{ID_BASE}_items/{len(self._fast)}.json")
            self._fast[key] = validator
        return validator

    def _compiled_run(self, sid: str, kind: str) -> Any:
        """A compiled validator of a list of instances whose ``type`` is the string ``kind``
        (a run found by :meth:`invalid_indices_by_type`): valid exactly when every item is valid
        under ``sid``. Where :func:`given_type` applies, the items are checked against ``sid``
        without its ``type`` const (which every item meets); else it is :meth:`_compiled_array`."""
        key = f"{sid}#run"
        validator = self._fast.get(key)
        if validator is None:
            self._document(sid)  # an unknown $id is a HarnessError
            spec = given_type(self._batch_documents[sid], kind)
            if spec is None:
                validator = self._compiled_array(sid)
            else:
                spec["$id"] = f"{ID_BASE}_runs/{len(self._fast)}.json"  # its own "#/$defs/..." resolve in it
                doc = {"$schema": DRAFT, "type": "array", "items": spec}
                validator = jsonschema_rs.validator_for(doc, registry=self._rs_batch_registry,
                                                        base_uri=f"{ID_BASE}_runs/{len(self._fast)}-items.json")
            self._fast[key] = validator
        return validator

    def names_under(self, prefix: str) -> frozenset[str]:
        """The ``t`` with a schema ``prefix + t`` (e.g. every Responses event type under
        ``"openai/responses/"``)."""
        names = self._names.get(prefix)
        if names is None:
            tail = ".json"
            head = schema_id(prefix)[: -len(tail)]
            names = frozenset(sid[len(head) : -len(tail)] for sid in self.documents
                              if sid.startswith(head) and sid.endswith(tail) and "/" not in sid[len(head) : -len(tail)])
            self._names[prefix] = names
        return names

    def invalid_indices_by_type(self, instances: Sequence[Any], prefix: str, types: Iterable[str]) -> list[int]:
        """Positions of the instances whose string ``type`` is one of ``types`` and that are
        invalid under the schema ``prefix + type`` (others are not judged), in order. A stream
        comes in runs of one type (400 deltas between a few lifecycle events), found in C
        (``itertools.groupby`` on the type): each run is checked with one compiled call on a slice
        of the list (:meth:`_compiled_run`, the batch schemas), and only a run found invalid is
        checked item by item against the schema as written."""
        known = types if isinstance(types, (set, frozenset)) else frozenset(types)
        items = instances if isinstance(instances, list) else list(instances)
        try:  # the usual stream: every item a dict with a known string type, runs found in C
            runs = [(kind, len(list(run))) for kind, run in groupby(items, _TYPE)]
            typed = all(isinstance(kind, str) and kind in known for kind, _ in runs)
        except (TypeError, KeyError):
            typed = False
        if not typed:  # some are not judged (no object, no known string type): None for those
            runs = [(kind, len(list(run))) for kind, run in groupby(_type_key(inst, known) for inst in items)]
        bad: list[int] = []
        start = 0
        for kind, size in runs:
            end = start + size
            if kind is not None:
                sid = schema_id(prefix + kind)
                chunk = items[start:end]
                if not self._compiled_run(sid, kind).is_valid(chunk):  # then one by one, as written
                    validator = self._compiled(sid)
                    bad.extend(start + j for j, inst in enumerate(chunk) if not validator.is_valid(inst))
            start = end
        return bad

    def invalid_indices(self, instances: Sequence[Any], name: str) -> list[int]:
        """Positions of the instances that are invalid under schema ``name`` (in order). The
        common case, all valid, costs one compiled call for the whole list."""
        sid = schema_id(name)
        items = instances if isinstance(instances, list) else list(instances)
        if not items or self._compiled_array(sid).is_valid(items):
            return []
        validator = self._compiled(sid)
        return [i for i, inst in enumerate(items) if not validator.is_valid(inst)]

    def validate(self, instance: Any, name: str, *, requirement: str | None = None, what: str = "") -> None:
        """Raise :class:`SchemaViolation` listing every error when ``instance`` is invalid."""
        errs = self.errors(instance, name)
        if errs:
            raise SchemaViolation.from_errors(errs, requirement=requirement, what=what or name)

    def validate_all(
        self, instances: Iterable[Any], name: str, *, requirement: str | None = None, what: str = ""
    ) -> None:
        """Validate many instances (e.g. every chunk of a stream); report the first bad one with
        its position and the count of bad ones."""
        items = list(instances)
        bad = [(i, self.errors(items[i], name)) for i in self.invalid_indices(items, name)]
        if bad:
            raise SchemaViolation.from_many([(f"{what or name} #{i}", errs) for i, errs in bad],
                                            requirement=requirement)
