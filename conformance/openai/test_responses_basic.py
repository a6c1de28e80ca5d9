"""responses · basic: the Response object, usage, truncation and the optional stored-response routes."""

import pytest

from conformance.harness.checks import responses as checks
from conformance.harness.failures import NotApplicable, Unsupported
from conformance.harness.requirements import requirement

pytestmark = pytest.mark.requires("responses")

BASIC = {"input": "Say hello to the conformance suite.", "max_output_tokens": 16, "temperature": 0}
COUNT = {"input": "Count from one to fifty, separated by commas: one, two, three,", "temperature": 0}


@requirement("OAI-RESP-001")
def test_response_validates_against_schema(oai, schemas):
    _, body = oai.responses(BASIC)
    checks.response_schema(body, schemas=schemas)


@requirement("OAI-RESP-009")
def test_responses_usage_counts_add_up(oai):
    _, body = oai.responses(BASIC)
    checks.responses_usage_arithmetic(body.get("usage"))


@requirement("OAI-RESP-008")
@pytest.mark.parametrize("mode", ["blocking", pytest.param("streaming", marks=pytest.mark.requires("streaming"))])
def test_max_output_tokens_gives_status_incomplete(oai, mode):
    request = {**COUNT, "max_output_tokens": 16}
    if mode == "blocking":
        _, response = oai.responses(request)
        terminal = None
    else:
        stream = oai.responses_stream(request)
        response = stream.final_response() or {}
        terminal = stream.terminal()[-1].type if stream.terminal() else None
    usage = response.get("usage") or {}
    if response.get("status") == "completed" and isinstance(usage.get("output_tokens"), int) \
            and usage["output_tokens"] < 16:
        raise NotApplicable(f"the model ended on its own after {usage['output_tokens']} < 16 tokens")
    checks.incomplete_on_max_output_tokens(response, terminal_type=terminal)


@requirement("OAI-RESP-011")
def test_stored_response_can_be_retrieved(oai):
    _, original = oai.responses(BASIC)
    ex = oai.raw("GET", f"/v1/responses/{original.get('id')}")
    if ex.status in (404, 405):
        raise Unsupported(f"GET /v1/responses/{{id}} answered {ex.status}: no stored responses")
    checks.stored_response_matches(ex.json_or_none(), original)


@requirement("OAI-RESP-012")
def test_previous_response_id_continues_conversation(oai, schemas):
    _, first = oai.responses(BASIC)
    body = oai.with_completion_model({"input": "And once more.", "max_output_tokens": 8, "temperature": 0,
                                      "previous_response_id": first.get("id")})
    ex = oai.raw("POST", "/v1/responses", json_body=body)
    if ex.status == 404 or (ex.status == 400 and "previous_response" in ex.text):
        raise Unsupported(f"previous_response_id answered {ex.status}: {ex.text[:160]}")
    checks.continued_response_valid(ex.json_or_none(), previous_id=first.get("id"), schemas=schemas)
