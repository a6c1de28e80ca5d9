"""Outcome rules (conformance.harness.outcomes) end to end through the plugin, with pytester: a
deviation excuses exactly what it names (requirement, cases, shapes); every violation is recorded
against the requirement it violates; a test's own requirement is judged by its own check alone.
The inner tests drive the real facades over ``httpx.MockTransport`` (nothing is contacted)."""

from __future__ import annotations

import json

import pytest

from conformance.harness import outcomes
from conformance.harness.failures import ConformanceFailure, FailureGroup, SchemaViolation
from conformance.harness.profiles import Deviation, parse
from conformance.harness.requirements import Level, load_catalog
from tests.plugin_runs import INI

HELPERS = r'''
import json
import httpx
import pytest
from conformance.harness.client import Client
from conformance.harness.facades import OpenAI, Passive
from conformance.harness.schemas import SchemaSet
from conformance.harness.requirements import requirement
from conformance.harness.failures import ConformanceFailure, NotApplicable
from conformance.harness.checks import openai as oai_checks
from conformance.harness.checks import sse as sse_checks
from conformance.harness.checks import responses as resp_checks

def facade(state, sse):
    def handler(request):
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse.encode())
    client = Client("http://endpoint.test", transport=httpx.MockTransport(handler))
    passive = Passive(profile=state.profile, catalog=state.catalog, sink=state.sink)
    return OpenAI(client=client, schemas=SchemaSet(flavors=("compat",)), passive=passive, model="m")

def chunk(i, delta, finish=None, drop=()):
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1767225600, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    for key in drop:
        body.pop(key)
    return "data: " + json.dumps(body) + "\n\n"

# The first chunk lacks "object" (a chunk-schema violation, OAI-STREAM-005); everything else holds.
BAD_FIRST_CHUNK = (chunk(0, {"role": "assistant", "content": ""}, drop=("object",)) + chunk(1, {"content": "hi"})
                   + chunk(2, {}, "stop") + "data: [DONE]\n\n")

def resp_event(seq, type_, extra, with_seq):
    body = {"type": type_, **extra}
    if with_seq:
        body["sequence_number"] = seq
    return f"event: {type_}\ndata: {json.dumps(body)}\n\n"

def responses_sse(*, with_seq, delta):
    resp = {"id": "resp_1", "object": "response", "created_at": 1767225600, "status": "in_progress",
            "model": "m", "output": [], "error": None, "incomplete_details": None, "instructions": None,
            "metadata": {}, "parallel_tool_calls": True, "tool_choice": "auto", "tools": [], "temperature": 0.0,
            "top_p": 1.0, "max_output_tokens": None, "previous_response_id": None, "truncation": "disabled",
            "text": {"format": {"type": "text"}}, "completed_at": None}
    item = {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    done_item = {**item, "status": "completed", "content": [{**part, "text": "hi"}]}
    final = {**resp, "status": "completed", "completed_at": 1767225601, "output": [done_item],
             "usage": {"input_tokens": 3, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 1,
                       "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 4}}
    ref = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    events = [("response.created", {"response": resp}), ("response.in_progress", {"response": resp}),
              ("response.output_item.added", {"output_index": 0, "item": item}),
              ("response.content_part.added", {**ref, "part": part}),
              ("response.output_text.delta", {**ref, "delta": delta, "logprobs": []}),
              ("response.output_text.done", {**ref, "text": "hi", "logprobs": []}),
              ("response.content_part.done", {**ref, "part": {**part, "text": "hi"}}),
              ("response.output_item.done", {"output_index": 0, "item": done_item}),
              ("response.completed", {"response": final})]
    return "".join(resp_event(i, t, e, with_seq) for i, (t, e) in enumerate(events))
'''

INNER = HELPERS + r'''
@requirement("OAI-STREAM-002")
def test_done_terminates(llmconf_state):
    stream = facade(llmconf_state, BAD_FIRST_CHUNK).chat_stream({"messages": []})
    oai_checks.stream_terminated_by_done(stream)

@requirement("OAI-STREAM-003")
def test_nothing_after_done(llmconf_state):
    stream = facade(llmconf_state, BAD_FIRST_CHUNK).chat_stream({"messages": []})
    oai_checks.nothing_after_done(stream)

@requirement("SSE-FRAME-002")
def test_framing(llmconf_state):
    stream = facade(llmconf_state, BAD_FIRST_CHUNK).chat_stream({"messages": []})
    sse_checks.stream_ends_with_complete_event(stream.exchange.sse)

@requirement("OAI-RESP-002")
def test_responses_only_sequence_number_missing(llmconf_state):
    oai = facade(llmconf_state, responses_sse(with_seq=False, delta="hi"))
    stream = oai.responses_stream({"input": "x"})
    resp_checks.events_match_schemas(stream, schemas=oai.schemas)

@requirement("OAI-RESP-002")
def test_responses_sequence_number_missing_and_delta_wrong_type(llmconf_state):
    oai = facade(llmconf_state, responses_sse(with_seq=False, delta=7))
    stream = oai.responses_stream({"input": "x"})
    resp_checks.events_match_schemas(stream, schemas=oai.schemas)

@requirement("OAI-STREAM-007")          # deviated, and also sees an unrelated MUST violation
def test_deviated_with_unrelated_violation(llmconf_state):
    llmconf_state.sink(ConformanceFailure("no choice with index 0", requirement="OAI-CHAT-004"))
    raise ConformanceFailure("created drifts")

@requirement("OAI-STREAM-009")          # case-scoped deviation: only case "n2" is excused
@pytest.mark.parametrize("case", ["n1", "n2"])
def test_case_scoped(case):
    raise ConformanceFailure(f"finish_reason count wrong ({case})")

@requirement("OAI-STREAM-010")          # intermittent deviation that did not show
def test_intermittent_not_shown():
    pass

@requirement("OAI-USAGE-004")           # strict deviation that did not show
def test_fixed():
    pass

@requirement("OAI-CHAT-002")            # a skip never hides a violation already seen
def test_skip_after_violation(llmconf_state):
    llmconf_state.sink(ConformanceFailure("not an object", requirement="OAI-STREAM-004"))
    raise NotApplicable("model answered without a tool call")

@requirement("OAI-CHAT-003")            # an INFO/MAY observation and a SHOULD finding never gate
def test_observation(llmconf_state):
    llmconf_state.sink(ConformanceFailure("first delta lacks role", requirement="OAI-STREAM-008"))
'''

PROFILE = '''
name = "unit"
description = "profile for outcome tests"
server = "unit"
schema_flavors = ["compat"]
capabilities = ["streaming", "models", "responses", "chat", "n_gt_1", "stream_usage"]

[[deviations]]
requirement = "OAI-RESP-002"
reason = "no sequence_number on events"
evidence = "unit"
shapes = ["required $*: 'sequence_number' is a required property"]

[[deviations]]
requirement = "OAI-STREAM-007"
reason = "created changes per chunk"
evidence = "unit"

[[deviations]]
requirement = "OAI-STREAM-009"
cases = ["n2"]
reason = "n=2 finish reasons"
evidence = "unit"

[[deviations]]
requirement = "OAI-STREAM-010"
reason = "depends on what the model generates"
evidence = "unit"
intermittent = true

[[deviations]]
requirement = "OAI-USAGE-004"
reason = "was broken once"
evidence = "unit"
'''



@pytest.fixture(scope="module")
def outcome_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """One inner run shared by the assertions below (runs in a subprocess-free pytester)."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    root = tmp_path_factory.mktemp("outcomes")
    (root / "pytest.ini").write_text(INI)
    (root / "test_inner.py").write_text(INNER)
    (root / "unit.toml").write_text(PROFILE)
    reports = root / "reports"
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("OPENAI_API_KEY", "NGC_API_KEY")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rxXs",
                           "--endpoint", "http://127.0.0.1:9", f"--profile={root / 'unit.toml'}",
                           f"--reports-dir={reports}", "test_inner.py"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)
    doc = json.loads((reports / "conformance.json").read_text())
    return doc, {"stdout": proc.stdout, "returncode": proc.returncode}


def _t(name: str) -> str:
    return f"test_inner.py::{name}"


def test_first_chunk_schema_violation_gives_one_failing_row(outcome_run):
    doc, _ = outcome_run
    rows = doc["requirements"]
    assert rows["OAI-STREAM-005"]["outcome"] == "failed"
    assert {_t("test_done_terminates"), _t("test_nothing_after_done"), _t("test_framing")} <= set(
        rows["OAI-STREAM-005"]["tests"])
    for rid in ("OAI-STREAM-002", "OAI-STREAM-003", "SSE-FRAME-002"):
        assert rows[rid]["outcome"] == "passed", (rid, rows[rid])
    # the tests themselves fail (a MUST was violated in them) and say which
    outs = doc["test_outcomes"]
    assert outs[_t("test_done_terminates")] == "failed"
    assert "OAI-STREAM-005" in rows["OAI-STREAM-005"]["message"]


def test_shape_scoped_deviation_excuses_only_its_shape(outcome_run):
    doc, _ = outcome_run
    outs = doc["test_outcomes"]
    assert outs[_t("test_responses_only_sequence_number_missing")] == "xfailed"
    assert outs[_t("test_responses_sequence_number_missing_and_delta_wrong_type")] == "failed"
    kinds = {(v["test"].split("::")[1], v["kind"]) for v in doc["requirements"]["OAI-RESP-002"]["violations"]}
    assert ("test_responses_only_sequence_number_missing", "known-deviation") in kinds
    assert ("test_responses_sequence_number_missing_and_delta_wrong_type", "failed") in kinds
    assert doc["requirements"]["OAI-RESP-002"]["outcome"] == "failed"


def test_deviation_does_not_excuse_another_requirement(outcome_run):
    doc, _ = outcome_run
    assert doc["test_outcomes"][_t("test_deviated_with_unrelated_violation")] == "failed"
    assert doc["requirements"]["OAI-CHAT-004"]["outcome"] == "failed"
    assert doc["requirements"]["OAI-STREAM-007"]["outcome"] == "xfailed"


def test_case_scoped_deviation_leaves_other_cases_judged(outcome_run):
    doc, _ = outcome_run
    outs = doc["test_outcomes"]
    assert outs[_t("test_case_scoped[n2]")] == "xfailed"
    assert outs[_t("test_case_scoped[n1]")] == "failed"


def test_intermittent_and_strict_deviations_that_did_not_show(outcome_run):
    doc, _ = outcome_run
    outs = doc["test_outcomes"]
    assert outs[_t("test_intermittent_not_shown")] == "passed"
    assert "intermittent" in doc["requirements"]["OAI-STREAM-010"]["message"]
    assert outs[_t("test_fixed")] == "xpassed"


def test_skip_never_hides_a_violation(outcome_run):
    doc, _ = outcome_run
    assert doc["test_outcomes"][_t("test_skip_after_violation")] == "failed"
    assert doc["requirements"]["OAI-STREAM-004"]["outcome"] == "failed"
    assert doc["requirements"]["OAI-CHAT-002"]["outcome"] == "blocked"


def test_should_findings_are_listed_and_do_not_gate(outcome_run):
    doc, _ = outcome_run
    assert doc["test_outcomes"][_t("test_observation")] == "passed"
    assert doc["requirements"]["OAI-STREAM-008"]["outcome"] == "non-strict"
    assert any(o["requirement"] == "OAI-STREAM-008" for o in doc["observations"])


def test_exactly_the_violated_requirements_fail(outcome_run):
    doc, proc = outcome_run
    failing = sorted(rid for rid, row in doc["requirements"].items() if row["outcome"] == "failed")
    assert failing == ["OAI-CHAT-004", "OAI-RESP-002", "OAI-STREAM-004", "OAI-STREAM-005", "OAI-STREAM-009"]
    assert proc["returncode"] == 1


# --- the decision functions, directly --------------------------------------------------------------------

CATALOG = load_catalog()


def _profile(**dev: object):
    return parse({"name": "p", "description": "d", "server": "s",
                  "deviations": [{"requirement": "OAI-RESP-002", "reason": "r", "evidence": "e", **dev}]}, where="t")


def _schema_failure(*paths_keywords: tuple[str, str, str]) -> SchemaViolation:
    details = [{"schema": "x", "path": p, "keyword": k, "message": m, "value": None} for p, k, m in paths_keywords]
    return SchemaViolation("invalid", requirement="OAI-RESP-002", details=details)


def test_shapes_are_schema_signatures_with_indices_folded():
    exc = _schema_failure(("$[3]", "required", "'sequence_number' is a required property"))
    assert outcomes.shapes_of(exc) == ("required $[*]: 'sequence_number' is a required property",)


@pytest.mark.parametrize(("shapes", "errors", "kind"), [
    ((), [("$", "type", "7 is not of type 'string'")], outcomes.KNOWN),
    (("required *'sequence_number'*",), [("$", "required", "'sequence_number' is a required property")],
     outcomes.KNOWN),
    (("required *'sequence_number'*",), [("$", "required", "'sequence_number' is a required property"),
                                         ("$.delta", "type", "7 is not of type 'string'")], outcomes.FAILED),
])
def test_judge_matches_requirement_and_every_shape(shapes, errors, kind):
    profile = _profile(**({"shapes": list(shapes)} if shapes else {}))
    (v,) = outcomes.violations_of(_schema_failure(*errors), default_requirement="OAI-RESP-002", catalog=CATALOG)
    assert outcomes.judge(v, profile=profile, case=None, strict=False).kind == kind


def test_judge_levels_and_strictness():
    profile = _profile()
    should = outcomes.Violation("OAI-STREAM-008", Level.SHOULD, "m", ("m",))
    info = outcomes.Violation("OAI-STREAM-008", Level.INFO, "m", ("m",))
    assert outcomes.judge(should, profile=profile, case=None, strict=False).kind == outcomes.NON_STRICT
    assert outcomes.judge(should, profile=profile, case=None, strict=True).kind == outcomes.FAILED
    assert outcomes.judge(info, profile=profile, case=None, strict=True).kind == outcomes.OBSERVATION


def test_failure_groups_are_split_by_requirement():
    group = FailureGroup([ConformanceFailure("a", requirement="OAI-CHAT-004"), ConformanceFailure("b")],
                         requirement="OAI-CHAT-001")
    vs = outcomes.violations_of(group, default_requirement="OAI-CHAT-002", catalog=CATALOG)
    assert [v.requirement for v in vs] == ["OAI-CHAT-004", "OAI-CHAT-001"]


def test_case_filter_and_profile_keys_are_validated():
    dev = Deviation("OAI-RESP-002", "r", "e", cases=("n2",))
    assert dev.applies_to("n2") and not dev.applies_to("n1") and not dev.applies_to(None)
    from conformance.harness.failures import UsageError  # noqa: PLC0415

    with pytest.raises(UsageError):
        _profile(shapes="not-a-list")
    with pytest.raises(UsageError):
        _profile(intermittent="yes")
