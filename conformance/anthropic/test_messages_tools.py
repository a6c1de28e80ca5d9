"""messages · tools: tool_use blocks, stop_reason tool_use, tool_result round trip, tool_choice."""

import pytest

from conformance.harness.checks import anthropic_tools as checks
from conformance.harness.requirements import requirement
from conformance.harness.tooling import anthropic_tools, tool_request

pytestmark = pytest.mark.requires("messages", "tools")


def _request(profile, case_id="weather-one-call", **extra):
    chat = tool_request(profile, case_id)
    return {"messages": chat["messages"], "tools": anthropic_tools(chat), "max_tokens": 96, "temperature": 0,
            **extra}


@requirement("ANT-TOOLS-001")
@pytest.mark.parametrize("mode", ["blocking", pytest.param("streaming", marks=pytest.mark.requires("streaming"))])
def test_tool_use_blocks_carry_declared_name_and_valid_input(ant, profile, mode):
    request = _request(profile, tool_choice={"type": "auto"})
    subject = ant.messages(request)[1] if mode == "blocking" else ant.messages_stream(request)
    checks.tool_use_blocks_valid(subject, tools=request["tools"], tool_choice=request["tool_choice"])


@requirement("ANT-TOOLS-002")
def test_stop_reason_tool_use_comes_with_tool_use_block(ant, profile):
    request = _request(profile, tool_choice={"type": "auto"})
    _, message = ant.messages(request)
    checks.tool_use_stop_has_block(message, tool_names=[t["name"] for t in request["tools"]])


@requirement("ANT-TOOLS-003")
def test_anthropic_tool_result_round_trip_is_answered(ant, profile):
    request = _request(profile, max_tokens=16)
    request["messages"] = [
        *request["messages"],
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_llmconf_1", "name": "get_weather",
                                           "input": {"location": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_llmconf_1",
                                      "content": "21 degrees, clear sky"}]},
    ]
    checks.tool_result_answered(ant.raw("POST", "/v1/messages", json_body=ant.with_model(request)))


@requirement("ANT-TOOLS-004")
@pytest.mark.parametrize("choice", ["none", "any", "tool"])
def test_anthropic_tool_choice_is_honoured(ant, profile, choice):
    tool_choice = {"type": choice, **({"name": "get_weather"} if choice == "tool" else {})}
    # none: the prompt asks for the tool, only the constraint prevents the call; any/tool: a greeting,
    # only the constraint can produce one.
    request = _request(profile, "weather-one-call" if choice == "none" else "small-talk", tool_choice=tool_choice)
    _, message = ant.messages(request)
    checks.anthropic_tool_choice_honoured(message, tool_choice=tool_choice)
