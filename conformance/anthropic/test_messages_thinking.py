"""messages · thinking: extended thinking blocks and their signature."""

import pytest

from conformance.harness.checks import anthropic_thinking as checks
from conformance.harness.requirements import requirement

pytestmark = pytest.mark.requires("messages", "reasoning")

# Anthropic's minimum thinking budget is 1024 tokens, and max_tokens must exceed it.
REQUEST = {"max_tokens": 1088, "thinking": {"type": "enabled", "budget_tokens": 1024},
           "messages": [{"role": "user", "content": "Is 17 a prime number? Think briefly, then answer."}]}


@requirement("ANT-THINK-001")
@pytest.mark.parametrize("mode", ["blocking", pytest.param("streaming", marks=pytest.mark.requires("streaming"))])
def test_thinking_produces_signed_thinking_blocks(ant, mode):
    if mode == "blocking":
        checks.thinking_blocks_present(ant.messages(REQUEST)[1])
    else:
        stream = ant.messages_stream(REQUEST)
        checks.thinking_blocks_present(stream.final_message() or {})
        checks.thinking_stream_signed(stream)
