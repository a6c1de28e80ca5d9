"""The tool-call leak detector (tests/fixtures/tool_leak.json: every leak is found with its syntax
and name, no clean text is), and the skip rule of the tool checks built on it: a missing call
is not applicable only when the answer is prose under tool_choice auto, and the reason says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.harness.checks import anthropic_tools, reasoning, tools
from conformance.harness.checks.tool_leak import leaked_tool_call
from conformance.harness.failures import ConformanceFailure, NotApplicable

DOC = json.loads((Path(__file__).parent / "fixtures" / "tool_leak.json").read_text(encoding="utf-8"))
NAMES = DOC["tool_names"]
CHAT_TOOLS = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}} for n in NAMES]
FLAT_TOOLS = [{"type": "function", "name": n, "parameters": {"type": "object"}} for n in NAMES]
ANT_TOOLS = [{"name": n, "input_schema": {"type": "object"}} for n in NAMES]
PROSE = "I'm doing well, thank you! How can I help you today?"


@pytest.mark.parametrize("case", DOC["leak"], ids=[c["description"] for c in DOC["leak"]])
def test_leak_is_detected(case):
    leak = leaked_tool_call(case["text"], NAMES)
    assert leak is not None, case["text"]
    assert (leak.syntax, leak.name) == (case["syntax"], case["name"])
    assert case["text"][leak.at:leak.at + 3] in leak.excerpt


@pytest.mark.parametrize("case", DOC["clean"], ids=[c["description"] for c in DOC["clean"]])
def test_clean_text_is_not_a_leak(case):
    assert leaked_tool_call(case["text"], NAMES) is None


def test_bare_json_needs_declared_names():
    assert leaked_tool_call('{"name": "get_weather", "arguments": {}}', []) is None


def _chat(content):
    return {"role": "assistant", "content": content}


def _response(text):
    return {"object": "response", "status": "completed", "output": [
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}]}


def _ant(text, stop="end_turn"):
    return {"type": "message", "role": "assistant", "content": [{"type": "text", "text": text}], "stop_reason": stop}


PROSE_CASES = [
    ("OAI-TOOLS-001", lambda: tools.tool_calls_valid(_chat(PROSE), tools=CHAT_TOOLS)),
    ("OAI-RTOOLS-001", lambda: tools.function_call_items_valid(_response(PROSE), tools=FLAT_TOOLS)),
    ("ANT-TOOLS-001", lambda: anthropic_tools.tool_use_blocks_valid(_ant(PROSE), tools=ANT_TOOLS,
                                                                    tool_choice={"type": "auto"})),
    ("ANT-TOOLS-002", lambda: anthropic_tools.tool_use_stop_has_block(_ant(PROSE), tool_names=NAMES)),
]


@pytest.mark.parametrize(("requirement", "run"), PROSE_CASES, ids=[c[0] for c in PROSE_CASES])
def test_prose_under_auto_is_a_stated_choice_not_to_call(requirement, run):
    with pytest.raises(NotApplicable) as info:
        run()
    reason = str(info.value)
    assert reason.startswith(requirement) and "chose not to call" in reason and "How can I help" in reason


LEAK_CASES = [
    ("OAI-TOOLS-001", lambda t: tools.tool_calls_valid(_chat(t), tools=CHAT_TOOLS)),
    ("OAI-RTOOLS-001", lambda t: tools.function_call_items_valid(_response(t), tools=FLAT_TOOLS)),
    ("ANT-TOOLS-001", lambda t: anthropic_tools.tool_use_blocks_valid(_ant(t), tools=ANT_TOOLS)),
    ("ANT-TOOLS-002", lambda t: anthropic_tools.tool_use_stop_has_block(_ant(t), tool_names=NAMES)),
]


@pytest.mark.parametrize(("requirement", "run"), LEAK_CASES, ids=[c[0] for c in LEAK_CASES])
@pytest.mark.parametrize("case", DOC["leak"], ids=[c["description"] for c in DOC["leak"]])
def test_every_leak_fails_the_tool_requirement(requirement, run, case):
    with pytest.raises(ConformanceFailure) as info:
        run(case["text"])
    assert info.value.requirement == requirement
    assert "did not parse" in str(info.value)


def test_exclude_without_reasoning_in_the_control_is_not_a_pass():
    quiet = {"role": "assistant", "content": "17 is prime."}
    with pytest.raises(NotApplicable, match="control request"):
        reasoning.reasoning_excluded(quiet, control=quiet)


def test_cut_before_any_json_is_not_applicable_and_says_so():
    with pytest.raises(NotApplicable, match="cut by the token limit before any content"):
        tools.json_object_content("", "length")


def test_content_filter_is_not_applicable():
    with pytest.raises(NotApplicable, match="content_filter"):
        tools.json_object_content("", "content_filter")


PREFIXES = ['{', '{"', '{"na', '{"name": "Ad\\u00', '{"a": [1, 2.', '{"a": -', '{"a": 1e+', '{"a": tr', '{"a": nul',
            '{"a": {"b": [', '  \n{"a": "x\\"y', '{"a": 1}', '{"a": 1}  \n']
NOT_PREFIXES = [('Sure! {"a": 1}', "does not start with a JSON object"), ('[1, 2]', "does not start with a JSON object"),
                ('{"a" 1', "expected ':'"), ('{"a": 01', "malformed number"), ('{"a": "\\q"', "invalid escape"),
                ('{"a": 1}x', "text after"), ('{a: 1}', "expected a string key"), ('{"a": nulx', "expected a value"),
                ('{"a": 1]', "expected ','"), ('{"a": "line\nbreak"', "control character")]


@pytest.mark.parametrize("text", PREFIXES)
def test_json_prefix_accepted(text):
    assert tools.json_prefix_error(text, top_object=True) is None


@pytest.mark.parametrize(("text", "why"), NOT_PREFIXES)
def test_json_prefix_rejected(text, why):
    error = tools.json_prefix_error(text, top_object=True)
    assert error is not None and why in error
