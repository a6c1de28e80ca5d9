"""sdk · anthropic: the official anthropic Python SDK as a real client (its traffic is recorded too)."""

import pytest

from conformance.harness.checks import sdk as checks
from conformance.harness.requirements import requirement
from conformance.harness.sdk import anthropic_client, request, sdk_verdict

USER = [{"role": "user", "content": "Say hello to the conformance suite."}]


@pytest.fixture(scope="module")
def sdk(client, llmconf_state, settings, profile):
    sdk = anthropic_client(client, llmconf_state.api_key, settings.timeout_s,
                           auth=str(profile.setting("anthropic_auth", "x-api-key")))
    yield sdk
    sdk.close()


@requirement("ANT-SDK-001")
@pytest.mark.requires("messages")
def test_anthropic_sdk_creates_message(sdk, model, profile):
    with sdk_verdict("ANT-SDK-001", "messages.create"):
        message = sdk.messages.create(**request(profile, "messages", model=model, messages=USER, max_tokens=8,
                                                extra_body={"temperature": 0}))
        assert message.role == "assistant"


@requirement("ANT-SDK-002")
@pytest.mark.requires("messages", "streaming")
def test_anthropic_sdk_accumulates_message_stream(sdk, model, profile):
    deltas = []
    with sdk_verdict("ANT-SDK-002", "messages.stream"):
        with sdk.messages.stream(**request(profile, "messages", model=model, messages=USER, max_tokens=8,
                                           extra_body={"temperature": 0})) as stream:
            for text in stream.text_stream:
                deltas.append(text)
            final = stream.get_final_message()
    text = "".join(b.text for b in final.content if b.type == "text")
    checks.anthropic_stream_accumulation_matches(text, "".join(deltas))


@requirement("ANT-SDK-003")
@pytest.mark.requires("count_tokens")
def test_anthropic_sdk_counts_tokens(sdk, model, profile):
    with sdk_verdict("ANT-SDK-003", "messages.count_tokens"):
        counted = sdk.messages.count_tokens(**request(profile, "count_tokens", model=model, messages=USER))
        assert isinstance(counted.input_tokens, int)
