"""messages · basic: the Anthropic message object, headers and stop_reason semantics."""

import pytest

from conformance.harness.checks import anthropic as checks
from conformance.harness.failures import NotApplicable
from conformance.harness.requirements import requirement
from conformance.harness.tooling import stop_from

pytestmark = pytest.mark.requires("messages")

BASIC = {"max_tokens": 16, "temperature": 0,
         "messages": [{"role": "user", "content": "Say hello to the conformance suite."}]}
COUNT = {"temperature": 0,
         "messages": [{"role": "user", "content": "Count from one to fifty, separated by commas: one, two, three,"}]}
MODES = ["blocking", pytest.param("streaming", marks=pytest.mark.requires("streaming"))]


def _message(ant, mode, request):
    if mode == "blocking":
        return ant.messages(request)[1]
    return ant.messages_stream(request).final_message()


@requirement("ANT-MSG-001")
def test_message_validates_against_schema(ant, schemas):
    _, body = ant.messages(BASIC)
    checks.message_schema(body, schemas=schemas)


@requirement("ANT-MSG-003")
def test_messages_api_accepts_anthropic_headers(ant):
    ex = ant.raw("POST", "/v1/messages", json_body=ant.with_model(BASIC), reuse=True)
    checks.message_served(ex)


@requirement("ANT-STOP-001")
@pytest.mark.parametrize("mode", MODES)
def test_max_tokens_gives_stop_reason_max_tokens(ant, mode):
    message = _message(ant, mode, {**COUNT, "max_tokens": 4})
    usage = message.get("usage") or {}
    if message.get("stop_reason") == "end_turn" and isinstance(usage.get("output_tokens"), int) \
            and usage["output_tokens"] < 4:
        raise NotApplicable(f"the model ended on its own after {usage['output_tokens']} < 4 tokens")
    checks.max_tokens_stop(message, max_tokens=4)


@requirement("ANT-STOP-002")
@pytest.mark.parametrize("mode", MODES)
def test_stop_sequence_gives_stop_reason_stop_sequence(ant, mode):
    stop = stop_from(checks.message_text(ant.messages({**COUNT, "max_tokens": 24})[1]))
    message = _message(ant, mode, {**COUNT, "max_tokens": 24, "stop_sequences": [stop]})
    checks.stop_sequence_stop(message, stop=stop)


@requirement("ANT-STOP-003")
def test_natural_end_gives_stop_reason_end_turn(ant):
    request = {"max_tokens": 48, "temperature": 0,
               "messages": [{"role": "user", "content": "Reply with the single word: yes"}]}
    _, message = ant.messages(request)
    if message.get("stop_reason") == "max_tokens":
        raise NotApplicable("the model did not end its turn within 48 tokens")
    checks.end_turn_stop(message)

