"""responses · reasoning: reasoning output items on /v1/responses."""

import pytest

from conformance.harness.checks import reasoning as checks
from conformance.harness.requirements import requirement

pytestmark = pytest.mark.requires("responses", "reasoning")


@requirement("OAI-REASON-010")
def test_responses_reasoning_request_returns_reasoning_item(oai):
    _, response = oai.responses({"input": "Is 17 a prime number? Think briefly, then answer.",
                                 "reasoning": {"effort": "low"}, "max_output_tokens": 96, "temperature": 0})
    checks.responses_reasoning_item(response)
