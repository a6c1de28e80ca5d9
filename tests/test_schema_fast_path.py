"""The batch schema path of issue 13 §2 gives the verdicts of the schemas as written.

:meth:`SchemaSet.invalid_indices_by_type` / :meth:`SchemaSet.invalid_indices` check a whole stream
against the schemas after :func:`chain_discriminated_branches` (a discriminated ``allOf`` of
``if``/``then`` becomes an ``if``/``else`` chain) and, per run of one event type, without the ``type``
const every item of the run meets (:func:`given_type`); only where that finds an invalid item are
the items checked one by one against the schemas as written. Proven here on every profile's flavors:

* the rewritten schemas accept exactly the instances the written ones accept (valid events from
  every check fixture, and Hypothesis mutations of them: members removed, replaced by values and
  discriminators of other types, wrong types);
* the batch answer (which positions are invalid) is the one-by-one answer, on generated streams;
* the property is not vacuous: a wrong rewrite (the union cut to its first branch, the chain
  without the object guard) is caught by the same comparison.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks import sse_decode as bench
from conformance.harness.schemas import (
    DRAFT,
    ID_BASE,
    SchemaSet,
    _subschemas,
    chain_discriminated_branches,
    given_type,
    schema_id,
)
from conformance.harness.sse import SSEParser

FLAVORS = [(), ("compat",), ("compat", "hosted"), ("compat", "open-responses")]
PREFIXES = ["openai/responses/", "anthropic/stream/"]
FIXTURES = Path(__file__).parent / "fixtures" / "checks"


def _harvest() -> list[dict[str, Any]]:
    """Every ``data:`` JSON object of the check fixtures (good and bad) and of the benchmark's
    authored streams, each once."""
    seen: dict[str, dict[str, Any]] = {}
    texts = [p.read_text(encoding="utf-8") for p in sorted(FIXTURES.glob("*.json"))]
    for text in texts:
        for m in re.finditer(r'data: (\{.*?\})\\n', text):
            try:
                obj = json.loads(json.loads('"' + m.group(1) + '"'))
            except ValueError:
                continue
            if isinstance(obj, dict):
                seen.setdefault(json.dumps(obj, sort_keys=True), obj)
    for api in bench.STREAMS:
        for e in SSEParser().feed(b"".join(bench.STREAMS[api](3)), t=0.0):
            if e.data != "[DONE]":
                obj = json.loads(e.data)
                seen.setdefault(json.dumps(obj, sort_keys=True), obj)
    return list(seen.values())


#: Every branch of the Anthropic unions, whatever the fixtures hold.
HANDMADE = [
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"a\""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta", "citation": {
        "type": "char_location", "cited_text": "x", "document_index": 0, "document_title": None,
        "start_char_index": 0, "end_char_index": 1}}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "c2ln"}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f",
                                                                 "input": {}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "redacted_thinking", "data": "abc"}},
    # Not members of the closed delta union (the chain's final "else": false): unknown, missing, not
    # a string, a member's body under another member's type.
    {"type": "content_block_delta", "index": 0, "delta": {"type": "bogus_delta", "text": "Hi"}},
    {"type": "content_block_delta", "index": 0, "delta": {"text": "Hi"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": None, "text": "Hi"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "text": "Hi"}},
]
SEEDS = _harvest() + HANDMADE
RESPONSES = [s["response"] for s in SEEDS if isinstance(s.get("response"), dict)]
CHUNKS = [s for s in SEEDS if s.get("object") == "chat.completion.chunk"]


def _vocabulary(sets: list[SchemaSet]) -> tuple[list[str], list[Any]]:
    names: set[str] = set()
    consts: list[Any] = []
    for s in sets:
        for doc in s.documents.values():
            for node in _subschemas(doc):
                props = node.get("properties")
                if isinstance(props, dict):
                    names.update(props)
                if "const" in node:
                    consts.append(node["const"])
                if isinstance(node.get("enum"), list):
                    consts.extend(node["enum"])
    unique = list({json.dumps(c, sort_keys=True): c for c in consts}.values())
    return sorted(names), unique


@pytest.fixture(scope="module")
def sets() -> dict[tuple[str, ...], SchemaSet]:
    return {fl: SchemaSet(flavors=fl) for fl in FLAVORS}


NAMES, CONSTS = _vocabulary([SchemaSet(flavors=fl) for fl in FLAVORS])
leaves = st.one_of(st.sampled_from(CONSTS), st.none(), st.booleans(), st.integers(-2, 3),
                   st.sampled_from([0.5, 1.0, -1.0, 2 ** 64]), st.text(max_size=3), st.builds(list), st.builds(dict))
json_like = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(st.sampled_from(NAMES), inner, max_size=5), max_leaves=12)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*path, i))
    return out


@st.composite
def mutated(draw: Any, seeds: list[dict[str, Any]] | None = None) -> Any:
    """A seed with up to four edits: a member removed, a value replaced (by a const of the
    schemas, a primitive or a small generated value), a member added."""
    value = copy.deepcopy(draw(st.sampled_from(seeds or SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        path = draw(st.sampled_from(_paths(value)))
        op = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if not path:
            if op == "replace":
                value = draw(json_like)
            continue
        parent = value
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        if op == "replace":
            parent[last] = copy.deepcopy(draw(st.one_of(leaves, json_like)))
        elif op == "delete":
            del parent[last]
        elif isinstance(parent[last], dict):
            parent[last][draw(st.sampled_from(NAMES))] = draw(leaves)
    return value


TYPED = [x for x in SEEDS if isinstance(x.get("type"), str) and "." in x["type"] or x.get("type") in {
    "content_block_delta", "content_block_start", "content_block_stop", "message_start", "message_delta",
    "message_stop", "ping", "error"}]
instances = st.one_of(mutated(TYPED), mutated(TYPED), mutated(TYPED), mutated(), json_like)


def _one_by_one(s: SchemaSet, items: list[Any], prefix: str) -> list[int]:
    known = s.names_under(prefix)
    out = []
    for i, inst in enumerate(items):
        etype = inst.get("type") if isinstance(inst, dict) else None
        if isinstance(etype, str) and etype in known and not s._compiled(schema_id(prefix + etype)).is_valid(inst):
            out.append(i)
    return out


# -- the rewrites, instance by instance ------------------------------------------------------------

@pytest.mark.parametrize("flavors", FLAVORS)
def test_every_seed_gets_the_written_verdict(sets, flavors):
    s = sets[flavors]
    judged = 0
    for inst in SEEDS:
        for prefix in PREFIXES:
            etype = inst.get("type")
            if isinstance(etype, str) and etype in s.names_under(prefix):
                sid = schema_id(prefix + etype)
                expected = s._compiled(sid).is_valid(inst)
                assert s._compiled_array(sid).is_valid([inst]) == expected, (sid, inst)
                assert s._compiled_run(sid, etype).is_valid([inst]) == expected, (sid, inst)
                judged += 1
    for inst in RESPONSES:
        sid = schema_id("openai/response")
        assert s._compiled_array(sid).is_valid([inst]) == s._compiled(sid).is_valid(inst)
    assert judged > 400 and len(RESPONSES) > 50


@pytest.mark.parametrize("flavors", FLAVORS)
@given(data=st.data())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_rewritten_schemas_accept_exactly_what_the_written_ones_accept(sets, flavors, data):
    s = sets[flavors]
    inst = data.draw(instances)
    etype = inst.get("type") if isinstance(inst, dict) else None
    for prefix in PREFIXES:
        if isinstance(etype, str) and etype in s.names_under(prefix):
            sid = schema_id(prefix + etype)
            expected = s._compiled(sid).is_valid(inst)
            assert s._compiled_array(sid).is_valid([inst]) == expected, (sid, inst)
            assert s._compiled_run(sid, etype).is_valid([inst]) == expected, (sid, inst)
    for name in ("openai/response", "openai/chat.completion.chunk", "anthropic/message"):
        sid = schema_id(name)
        target = inst["response"] if name == "openai/response" and isinstance(inst, dict) and "response" in inst else inst
        assert s._compiled_array(sid).is_valid([target]) == s._compiled(sid).is_valid(target), (sid, target)


@pytest.mark.parametrize("flavors", FLAVORS)
@given(data=st.data())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_batch_answer_is_the_one_by_one_answer(sets, flavors, data):
    """Streams with runs (an instance repeated, as deltas are), other types, non-objects."""
    s = sets[flavors]
    parts = data.draw(st.lists(st.tuples(instances, st.integers(1, 4)), max_size=8))
    items = [copy.deepcopy(inst) for inst, n in parts for _ in range(n)]
    for prefix in PREFIXES:
        expected = _one_by_one(s, items, prefix)
        assert s.invalid_indices_by_type(items, prefix, s.names_under(prefix)) == expected
        for i in expected:  # the detailed errors exist for each (jsonschema agrees with jsonschema-rs)
            assert s.errors(items[i], prefix + items[i]["type"])
    name = "openai/chat.completion.chunk"
    validator = s._compiled(schema_id(name))
    assert s.invalid_indices(items, name) == [i for i, x in enumerate(items) if not validator.is_valid(x)]


def test_the_rewrites_apply_to_the_unions():
    s = SchemaSet(flavors=("compat",))
    docs = chain_discriminated_branches(s.documents)
    delta = docs[schema_id("anthropic/_defs/delta")]
    assert "allOf" not in delta and delta["then"] == {"required": ["text"], "properties": {"text": {"type": "string"}}}
    assert delta["else"]["if"]["properties"]["type"]["const"] == "input_json_delta"
    changed = {sid for sid in docs if docs[sid] != s.documents[sid]}
    assert {schema_id("anthropic/_defs/delta"), schema_id("anthropic/_defs/content_block"),
            schema_id("openai/response")} <= changed
    assert s.documents == SchemaSet(flavors=("compat",)).documents  # the written documents are untouched
    spec = given_type(s.documents[schema_id("openai/responses/response.output_text.delta")],
                      "response.output_text.delta")
    assert spec is not None and "type" not in spec["properties"] and "type" not in spec["required"]
    assert given_type(s.documents[schema_id("anthropic/stream/error")], "error") is None  # not a plain object schema


def test_a_wrong_rewrite_is_caught():
    """The comparison above can fail: cut the union to its first branch, or drop the object
    guard, and some seed or mutation gets another verdict."""
    s = SchemaSet(flavors=("compat",))
    sid = schema_id("anthropic/stream/content_block_delta")
    did = schema_id("anthropic/_defs/delta")

    def compiled(docs: dict[str, Any]) -> Any:
        reg = jsonschema_rs.Registry(list(docs.items()))
        return jsonschema_rs.validator_for({"$schema": DRAFT, "type": "array", "items": {"$ref": sid}},
                                           registry=reg, base_uri=f"{ID_BASE}_test/wrong.json")

    first_only = copy.deepcopy(s.documents)
    first_only[did]["allOf"] = first_only[did]["allOf"][:1]
    no_guard = chain_discriminated_branches(s.documents)
    del no_guard[did]["type"]
    probes = [x for x in SEEDS if x.get("type") == "content_block_delta"]
    probes += [{"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "text": "x"}},
               {"type": "content_block_delta", "index": 0, "delta": "x"}]
    original = s._compiled(sid)
    for wrong in (compiled(first_only), compiled(no_guard)):
        assert any(wrong.is_valid([x]) != original.is_valid(x) for x in probes)


def test_closed_unions_end_their_chain_in_false():
    """A union whose discriminator is required and enumerated with exactly the branches' values
    (Anthropic's delta, the Response's closed enums) loses the separate required + enum check: the
    chain ends in ``"else": false``; an open one (another value allowed, ``additionalProperties``
    present) keeps both."""
    from conformance.harness.schemas import _closed_discriminator

    s = SchemaSet(flavors=("compat",))
    docs = chain_discriminated_branches(s.documents)
    delta = docs[schema_id("anthropic/_defs/delta")]
    assert "type" not in delta["properties"] and "type" not in delta["required"]
    link = delta
    while "else" in link and link["else"] is not False:
        link = link["else"]
    assert link["else"] is False and link["if"]["properties"]["type"]["const"] == "signature_delta"
    assert '"else": false' in json.dumps(docs[schema_id("openai/response")])
    written = s.documents[schema_id("anthropic/_defs/delta")]
    consts = {"text_delta", "input_json_delta", "citations_delta", "thinking_delta", "signature_delta"}
    assert _closed_discriminator(written, "type", consts)
    assert not _closed_discriminator(written, "type", consts - {"text_delta"})  # the enum allows one more
    assert not _closed_discriminator({**written, "additionalProperties": False}, "type", consts)
    assert not _closed_discriminator({**written, "required": []}, "type", consts)


def test_a_closed_union_without_its_final_false_is_caught():
    """Drop the required + enum check without ending the chain in false, and an unknown or missing
    delta type is accepted where the written schema rejects it: the seeds catch it."""
    s = SchemaSet(flavors=("compat",))
    sid = schema_id("anthropic/stream/content_block_delta")
    did = schema_id("anthropic/_defs/delta")
    wrong_docs = chain_discriminated_branches(s.documents)
    link = wrong_docs[did]
    while link.get("else") is not False:
        link = link["else"]
    del link["else"]
    reg = jsonschema_rs.Registry(list(wrong_docs.items()))
    wrong = jsonschema_rs.validator_for({"$schema": DRAFT, "type": "array", "items": {"$ref": sid}},
                                        registry=reg, base_uri=f"{ID_BASE}_test/open.json")
    original, batch = s._compiled(sid), s._compiled_array(sid)
    probes = [x for x in SEEDS if x.get("type") == "content_block_delta"]
    assert all(batch.is_valid([x]) == original.is_valid(x) for x in probes)
    assert any(wrong.is_valid([x]) != original.is_valid(x) for x in probes)
