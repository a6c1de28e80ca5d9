"""count_tokens · errors: invalid count_tokens requests → 4xx with an Anthropic error envelope,
never a count, never 5xx; count_tokens still serves afterwards."""

import pytest

from conformance.harness.checks import negative as checks
from conformance.harness.datasets import cases, load
from conformance.harness.requirements import requirement

pytestmark = pytest.mark.requires("count_tokens")

ERRORS = "anthropic/count_tokens_errors.json"
PATH = "/v1/messages/count_tokens"
WELL_FORMED = {"messages": [{"role": "user", "content": "Say hi."}]}


def _send(ant, c):
    return ant.raw("POST", PATH, json_body=ant.with_count_model(c.request), reuse=True)


@requirement("ANT-TOKENS-003")
@pytest.mark.parametrize("c", cases(ERRORS))
def test_invalid_count_tokens_request_is_rejected_with_anthropic_error(ant, schemas, c):
    checks.invalid_count_tokens_request_rejected(_send(ant, c), schemas=schemas)


@requirement("ANT-TOKENS-003")
def test_count_tokens_still_serves_after_invalid_requests(ant):
    for c in load(ERRORS):
        _send(ant, c)
    ex = ant.raw("POST", PATH, json_body=ant.with_count_model(WELL_FORMED), reuse=False)
    checks.count_tokens_serves_after_invalid_requests(ex)
