"""chat.completions · structured output: JSON mode and json_schema, judged on the output."""

import json

import pytest

from conformance.harness.checks import tools as checks
from conformance.harness.requirements import requirement

PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"], "additionalProperties": False}
ASK = [{"role": "user", "content": "Return JSON describing a person with a name and an age."}]


@requirement("OAI-JSON-001")
@pytest.mark.requires("json_object")
def test_json_object_mode_produces_json_object(oai):
    result = oai.chat({"messages": ASK, "response_format": {"type": "json_object"}, "max_tokens": 96,
                       "temperature": 0})
    checks.json_object_content(result.text, result.finish_reason)


@requirement("OAI-JSON-002")
@pytest.mark.requires("json_schema_output")
@pytest.mark.parametrize("mode", ["blocking", pytest.param("streaming", marks=pytest.mark.requires("streaming"))])
def test_json_schema_output_is_valid_against_schema(oai, mode):
    request = {"messages": ASK, "max_tokens": 96, "temperature": 0, "response_format": {
        "type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}}}
    if mode == "blocking":
        result = oai.chat(request)
        content, finish = result.text, result.finish_reason
    else:
        stream = oai.chat_stream(request)
        reasons = stream.finish_reasons(0)
        content, finish = stream.text(0), (reasons[-1] if reasons else None)
    checks.json_schema_content(content, finish, schema=PERSON)


@requirement("OAI-JSON-004")
@pytest.mark.requires("json_schema_output")
def test_invalid_json_schema_is_rejected(oai):
    bad = {"type": "object", "properties": {"name": {"type": "no-such-type"}}, "required": 7}
    body = oai.with_model({"messages": ASK, "max_tokens": 8, "response_format": {
        "type": "json_schema", "json_schema": {"name": "broken", "schema": bad, "strict": True}}})
    checks.invalid_schema_rejected(oai.raw("POST", "/v1/chat/completions", content=json.dumps(body),
                                           headers={"content-type": "application/json"}))
