"""count_tokens: POST /v1/messages/count_tokens and its agreement with /v1/messages usage."""

import pytest

from conformance.harness.checks import anthropic as checks
from conformance.harness.requirements import requirement

pytestmark = pytest.mark.requires("count_tokens")

MESSAGES = {"system": "You are a concise assistant.",
            "messages": [{"role": "user", "content": "Say hello to the conformance suite."}]}


@requirement("ANT-TOKENS-001")
def test_count_tokens_returns_input_tokens(ant, schemas):
    _, body = ant.count_tokens(MESSAGES)
    checks.count_tokens_schema(body, schemas=schemas)


@requirement("ANT-TOKENS-002")
@pytest.mark.requires("messages")
def test_count_tokens_equals_message_input_accounting(ant):
    _, counted = ant.count_tokens(MESSAGES)
    _, message = ant.messages({**MESSAGES, "max_tokens": 4, "temperature": 0})
    checks.count_tokens_matches_usage(counted, message.get("usage"))
