"""messages · thinking: extended thinking blocks and their signature."""

import pytest

from conformance.harness.checks import anthropic_thinking as checks
from conformance.harness.requirements import requirement

pytestmark = pytest.mark.requires("messages", "reasoning")

# Anthropic's minimum thinking budget is 1024 tokens, and max_tokens must exceed it. A profile may
# set smaller numbers (settings.anthropic_thinking = {budget_tokens, max_tokens}) for an endpoint that
# accepts them, so the request costs less (a model that ignores `thinking` writes up to max_tokens).
DEFAULT_THINKING = {"budget_tokens": 1024, "max_tokens": 1088}
ASK = [{"role": "user", "content": "Is 17 a prime number? Think briefly, then answer."}]


def thinking_request(profile) -> dict:
    sizes = {**DEFAULT_THINKING, **profile.setting("anthropic_thinking", {})}
    return {"max_tokens": int(sizes["max_tokens"]),
            "thinking": {"type": "enabled", "budget_tokens": int(sizes["budget_tokens"])}, "messages": ASK}


@requirement("ANT-THINK-001")
@pytest.mark.parametrize("mode", ["blocking", pytest.param("streaming", marks=pytest.mark.requires("streaming"))])
def test_thinking_produces_signed_thinking_blocks(ant, profile, mode):
    if mode == "blocking":
        checks.thinking_blocks_present(ant.messages(thinking_request(profile))[1])
    else:
        stream = ant.messages_stream(thinking_request(profile))
        checks.thinking_blocks_present(stream.final_message() or {})
        checks.thinking_stream_signed(stream)
