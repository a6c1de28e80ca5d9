"""responses · errors: invalid Responses requests → 4xx with an OpenAI error envelope, never 5xx;
the route still serves afterwards."""

import pytest

from conformance.harness.checks import negative as checks
from conformance.harness.datasets import cases, load
from conformance.harness.requirements import requirement

pytestmark = pytest.mark.requires("responses")

ERRORS = "openai/responses_errors.json"
PATH = "/v1/responses"
# max_output_tokens 16 is CreateResponse's minimum: the cases send it too, so an endpoint that
# accepts one of them generates at most 16 tokens
WELL_FORMED = {"input": "Say hi.", "max_output_tokens": 16, "temperature": 0}


def _send(oai, c):
    return oai.raw("POST", PATH, json_body=oai.with_responses_model(c.request), reuse=True)


@requirement("OAI-ERR-005")
@pytest.mark.parametrize("c", cases(ERRORS))
def test_invalid_responses_request_is_rejected_with_error_envelope(oai, schemas, c):
    checks.invalid_responses_request_rejected(_send(oai, c), schemas=schemas)


@requirement("OAI-ERR-003")
def test_responses_still_serve_after_invalid_requests(oai):
    for c in load(ERRORS):
        _send(oai, c)
    ex = oai.raw("POST", PATH, json_body=oai.with_responses_model(WELL_FORMED), reuse=False)
    checks.serves_after_invalid_requests(ex)
