"""completions · errors: invalid text completions requests → 4xx with an OpenAI error envelope,
never 5xx; the route still serves afterwards."""

import pytest

from conformance.harness.checks import negative as checks
from conformance.harness.datasets import cases, load
from conformance.harness.requirements import requirement

pytestmark = pytest.mark.requires("completions")

ERRORS = "openai/completions_errors.json"
PATH = "/v1/completions"
WELL_FORMED = {"prompt": "Say hi.", "max_tokens": 2, "temperature": 0}


def _send(oai, c):
    return oai.raw("POST", PATH, json_body=oai.with_completion_model(c.request), reuse=True)


@requirement("OAI-ERR-006")
@pytest.mark.parametrize("c", cases(ERRORS))
def test_invalid_completions_request_is_rejected_with_error_envelope(oai, schemas, c):
    checks.invalid_completions_request_rejected(_send(oai, c), schemas=schemas)


@requirement("OAI-ERR-003")
def test_completions_still_serve_after_invalid_requests(oai):
    for c in load(ERRORS):
        _send(oai, c)
    ex = oai.raw("POST", PATH, json_body=oai.with_completion_model(WELL_FORMED), reuse=False)
    checks.serves_after_invalid_requests(ex)
