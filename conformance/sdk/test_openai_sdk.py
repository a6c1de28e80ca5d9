"""sdk · openai: the official openai Python SDK as a real client (its traffic is recorded too)."""

import pytest

from conformance.harness.checks import sdk as checks
from conformance.harness.failures import NotApplicable
from conformance.harness.requirements import requirement
from conformance.harness.sdk import openai_client, request, sdk_verdict

USER = [{"role": "user", "content": "Say hello to the conformance suite."}]


@pytest.fixture(scope="module")
def sdk(client, llmconf_state, settings):
    sdk = openai_client(client, llmconf_state.api_key, settings.timeout_s)
    yield sdk
    sdk.close()


@requirement("OAI-SDK-001")
def test_openai_sdk_creates_chat_completion(sdk, model, profile):
    with sdk_verdict("OAI-SDK-001", "chat.completions.create"):
        completion = sdk.chat.completions.create(**request(profile, "chat", model=model, messages=USER,
                                                           max_tokens=8, temperature=0))
        assert completion.choices[0].message.role == "assistant"


@requirement("OAI-SDK-002")
@pytest.mark.requires("streaming")
def test_openai_sdk_accumulates_chat_stream(sdk, model, profile):
    deltas = []
    # The SDK's stream helper refuses a length-truncated completion, so the request ends at a stop
    # sequence the output is certain to reach (a space or a line break).
    with sdk_verdict("OAI-SDK-002", "chat.completions.stream"):
        with sdk.chat.completions.stream(**request(profile, "chat", model=model, messages=USER, max_tokens=32,
                                                   temperature=0, stop=[" ", "\n"])) as stream:
            for event in stream:
                if event.type == "content.delta":
                    deltas.append(event.delta)
            try:
                final = stream.get_final_completion()
            except Exception as exc:
                if type(exc).__name__ == "LengthFinishReasonError":
                    raise NotApplicable("the output reached max_tokens before a stop sequence") from exc
                raise
    checks.openai_stream_accumulation_matches(final.choices[0].message.content or "", "".join(deltas))


@requirement("OAI-SDK-003")
@pytest.mark.requires("completions")
def test_openai_sdk_creates_text_completion(sdk, model, profile):
    with sdk_verdict("OAI-SDK-003", "completions.create"):
        completion = sdk.completions.create(**request(profile, "completions", model=model,
                                                      prompt="The capital of France is", max_tokens=4, temperature=0))
        assert isinstance(completion.choices[0].text, str)


@requirement("OAI-SDK-004")
@pytest.mark.requires("responses", "streaming")
def test_openai_sdk_creates_and_streams_response(sdk, model, profile):
    ask = request(profile, "responses", model=model, input="Say hello.", max_output_tokens=8, temperature=0)
    with sdk_verdict("OAI-SDK-004", "responses.create"):
        created = sdk.responses.create(**ask)
        assert created.id
    with sdk_verdict("OAI-SDK-004", "responses.stream"):
        with sdk.responses.stream(**ask) as stream:
            for _ in stream:
                pass
            final = stream.get_final_response()
        assert final.id
