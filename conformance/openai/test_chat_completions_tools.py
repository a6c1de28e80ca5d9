"""chat.completions · tools: tool-call shape, streaming reassembly, tool_choice and finish_reason."""

import pytest

from conformance.harness.checks import tools as checks
from conformance.harness.requirements import requirement
from conformance.harness.tooling import calls_of, named, tool_request

pytestmark = pytest.mark.requires("tools")


def _one_call(oai, profile, *, stream: bool):
    request = tool_request(profile, "weather-one-call", tool_choice="auto", parallel_tool_calls=False)
    return request, (oai.chat_stream(request) if stream else oai.chat(request))


@requirement("OAI-TOOLS-001")
def test_tool_call_names_declared_function_with_valid_arguments(oai, profile):
    # No call: judged by the content (the call as text fails; prose is "the model chose not to call").
    request, result = _one_call(oai, profile, stream=False)
    checks.tool_calls_valid(result.message, tools=request["tools"], tool_choice=request["tool_choice"])


@requirement("OAI-TOOLS-002")
@pytest.mark.requires("streaming")
def test_streamed_tool_calls_reassemble_with_name_once(oai, profile):
    request, stream = _one_call(oai, profile, stream=True)
    checks.streamed_tool_calls_well_formed(stream, tools=request["tools"], tool_choice=request["tool_choice"])


@requirement("OAI-TOOLS-003")
@pytest.mark.requires("streaming", "parallel_tool_calls")
def test_parallel_tool_calls_get_distinct_indices(oai, profile):
    request = tool_request(profile, "weather-two-cities", tool_choice="auto", parallel_tool_calls=True)
    checks.parallel_calls_distinct(oai.chat_stream(request), tools=request["tools"])


CHOICES = {
    "auto": "auto",
    "required": "required",
    "named": named("get_weather"),
    "none": "none",
}


@requirement("OAI-TOOLS-004")
@pytest.mark.parametrize("choice", [
    "auto",
    pytest.param("required", marks=pytest.mark.requires("tool_choice_required")),
    pytest.param("named", marks=pytest.mark.requires("tool_choice_named")),
    "none",
    "truncated",
])
def test_finish_reason_agrees_with_tool_calls(oai, profile, choice):
    tool_choice = CHOICES.get(choice, "auto")
    extra = {"tool_choice": tool_choice, "parallel_tool_calls": False}
    if choice == "truncated":
        extra["max_tokens"] = 8  # cuts the call's arguments
    request = tool_request(profile, "weather-one-call", **extra)
    result = oai.chat(request)
    usage = result.usage if isinstance(result.usage, dict) else {}
    hit = usage.get("completion_tokens") == request["max_tokens"]
    checks.finish_reason_matches_tool_calls(result.finish_reason, calls_of(result.message), tool_choice=tool_choice,
                                            hit_max_tokens=hit)


@requirement("OAI-TOOLS-005")
def test_tool_choice_none_produces_no_tool_call(oai, profile):
    result = oai.chat(tool_request(profile, "weather-one-call", tool_choice="none"))
    checks.no_tool_calls(result.message)


@requirement("OAI-TOOLS-006")
@pytest.mark.parametrize("choice", ["required", pytest.param("named", marks=pytest.mark.requires("tool_choice_named"))])
def test_tool_choice_required_or_named_forces_a_call(oai, profile, choice):
    tool_choice = "required" if choice == "required" else named("get_weather")
    # A greeting: nothing in the prompt asks for the tool, so only the constraint can produce a call.
    request = tool_request(profile, "small-talk", tool_choice=tool_choice)
    result = oai.chat(request)
    checks.forced_call_present(calls_of(result.message), tool_choice=tool_choice, content=result.message.get("content"),
                               tool_names=[t["function"]["name"] for t in request["tools"]])


@requirement("OAI-TOOLS-007")
def test_tool_result_round_trip_is_answered(oai, profile):
    request = tool_request(profile, "weather-one-call")
    request["messages"] = [
        *request["messages"],
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_llmconf_1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"location\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_llmconf_1", "content": "{\"temperature_c\": 21, \"sky\": \"clear\"}"},
    ]
    request["max_tokens"] = 16
    checks.tool_round_trip_answered(oai.raw("POST", "/v1/chat/completions", json_body=oai.with_model(request)))


@requirement("OAI-TOOLS-008")
@pytest.mark.requires("tool_choice_named")
def test_tool_choice_naming_undeclared_function_is_rejected(oai, profile):
    request = tool_request(profile, "weather-one-call", tool_choice=named("llmconf_not_declared"), max_tokens=8)
    checks.undeclared_tool_choice_rejected(oai.raw("POST", "/v1/chat/completions", json_body=oai.with_model(request)))
