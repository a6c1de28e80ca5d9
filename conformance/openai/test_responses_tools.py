"""responses · tools: function_call items, streamed arguments, round trip, text.format json_schema."""

import pytest

from conformance.harness.checks import tools as checks
from conformance.harness.requirements import requirement
from conformance.harness.tooling import responses_tools, tool_request

pytestmark = pytest.mark.requires("responses", "tools")

PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"], "additionalProperties": False}


def _request(profile):
    chat = tool_request(profile, "weather-one-call")
    return {"input": chat["messages"], "tools": responses_tools(chat), "tool_choice": "auto",
            "parallel_tool_calls": False, "max_output_tokens": 96, "temperature": 0}


@requirement("OAI-RTOOLS-001")
def test_function_call_items_carry_call_id_and_valid_arguments(oai, profile):
    request = _request(profile)
    _, response = oai.responses(request)
    checks.function_call_items_valid(response, tools=request["tools"], tool_choice=request["tool_choice"])


@requirement("OAI-RTOOLS-002")
@pytest.mark.requires("streaming")
def test_function_call_arguments_stream_ends_with_done(oai, profile):
    request = _request(profile)
    checks.function_call_arguments_streamed(oai.responses_stream(request), tools=request["tools"],
                                            tool_choice=request["tool_choice"])


@requirement("OAI-RTOOLS-003")
def test_function_call_output_round_trip_is_accepted(oai, profile):
    request = _request(profile)
    request["input"] = [
        *request["input"],
        {"type": "function_call", "call_id": "call_llmconf_1", "name": "get_weather",
         "arguments": "{\"location\": \"Paris\"}"},
        {"type": "function_call_output", "call_id": "call_llmconf_1", "output": "{\"temperature_c\": 21}"},
    ]
    request["max_output_tokens"] = 16
    checks.function_call_output_answered(oai.raw("POST", "/v1/responses",
                                                 json_body=oai.with_completion_model(request)))


@requirement("OAI-JSON-003")
@pytest.mark.requires("json_schema_output")
def test_responses_json_schema_output_is_valid(oai):
    _, response = oai.responses({
        "input": "Return JSON describing a person with a name and an age.", "max_output_tokens": 96,
        "temperature": 0,
        "text": {"format": {"type": "json_schema", "name": "person", "schema": PERSON, "strict": True}}})
    checks.responses_json_schema_output(response, schema=PERSON)

