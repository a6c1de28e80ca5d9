"""chat.completions · errors: invalid requests → 4xx with an error envelope, never 5xx."""

import pytest

from conformance.harness.checks import common as checks
from conformance.harness.datasets import case, cases, load
from conformance.harness.failures import NotApplicable
from conformance.harness.requirements import requirement

ERRORS = "openai/chat_errors.json"
PATH = "/v1/chat/completions"


def _send(oai, c):
    if c.raw_body is not None:
        return oai.raw("POST", PATH, content=c.raw_body, headers={"content-type": "application/json"}, reuse=True)
    return oai.raw("POST", PATH, json_body=oai.with_model(c.request), reuse=True)


@requirement("OAI-ERR-001")
@pytest.mark.parametrize("c", cases(ERRORS))
def test_invalid_request_is_rejected_with_4xx(oai, c):
    checks.rejected_with_4xx(_send(oai, c))


@requirement("OAI-ERR-002")
@pytest.mark.parametrize("c", cases(ERRORS))
def test_rejected_request_carries_error_envelope(oai, schemas, c):
    ex = _send(oai, c)
    if ex.status is not None and 200 <= ex.status < 300:
        raise NotApplicable(f"request accepted with {ex.status}; judged by OAI-ERR-001")
    checks.openai_error_envelope(ex, schemas=schemas)


@requirement("OAI-ERR-003")
def test_endpoint_still_serves_after_invalid_requests(oai):
    for c in load(ERRORS):
        _send(oai, c)
    ok = oai.chat(case("openai/chat_basic.json", "short-reply").request, reuse=False)
    checks.well_formed_request_succeeds(ok.exchange)


@requirement("OAI-ERR-004")
def test_unknown_model_is_rejected_with_4xx(oai):
    body = {"model": "llmconf-no-such-model-0000", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 2}
    checks.unknown_model_rejected(oai.raw("POST", PATH, json_body=body, reuse=True))
