"""messages · errors: invalid Messages requests → 4xx with an Anthropic error envelope."""

import pytest

from conformance.harness.checks import anthropic as checks
from conformance.harness.requirements import requirement

pytestmark = pytest.mark.requires("messages")

USER = [{"role": "user", "content": "hello"}]
CASES = {
    "missing-messages": {"max_tokens": 4},
    "empty-messages": {"max_tokens": 4, "messages": []},
    "unknown-role": {"max_tokens": 4, "messages": [{"role": "wizard", "content": "hello"}]},
    "max-tokens-negative": {"max_tokens": -5, "messages": USER},
    "content-wrong-type": {"max_tokens": 4, "messages": [{"role": "user", "content": 42}]},
}


@requirement("ANT-MSG-002")
@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_messages_request_is_rejected_with_anthropic_error(ant, schemas, case):
    ex = ant.raw("POST", "/v1/messages", json_body=ant.with_model(CASES[case]), reuse=True)
    checks.anthropic_error_envelope(ex, schemas=schemas)
