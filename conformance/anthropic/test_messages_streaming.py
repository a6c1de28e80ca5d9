"""messages · streaming: the Anthropic event state machine."""

import pytest

from conformance.harness.checks import anthropic as checks
from conformance.harness.checks import parity
from conformance.harness.requirements import requirement
from conformance.harness.parallel import DETERMINISM
from conformance.harness.tooling import anthropic_tools, tool_request

pytestmark = pytest.mark.requires("messages", "streaming")

BASIC = {"max_tokens": 16, "temperature": 0,
         "messages": [{"role": "user", "content": "Say hello to the conformance suite."}]}


@requirement("ANT-STREAM-001")
def test_messages_stream_has_event_stream_content_type(ant):
    checks.messages_event_stream_content_type(ant.messages_stream(BASIC).exchange)


CASES = ["text", pytest.param("tool-use", marks=pytest.mark.requires("tools"))]


def _request(profile, case):
    if case == "text":
        return BASIC
    chat = tool_request(profile, "weather-one-call")
    return {"messages": chat["messages"], "tools": anthropic_tools(chat), "tool_choice": {"type": "auto"},
            "max_tokens": 96, "temperature": 0}


@requirement("ANT-STREAM-002")
@pytest.mark.parametrize("case", CASES)
def test_every_messages_event_validates_against_schema(ant, schemas, profile, case):
    checks.message_events_match_schemas(ant.messages_stream(_request(profile, case)), schemas=schemas)


@requirement("ANT-STREAM-003")
def test_messages_event_lines_match_data_types(ant):
    checks.event_names_match_data_types(ant.messages_stream(BASIC))


@requirement("ANT-STREAM-004")
def test_message_start_comes_first_and_once(ant):
    checks.message_start_first_once(ant.messages_stream(BASIC))


@requirement("ANT-STREAM-005")
@pytest.mark.parametrize("case", CASES)
def test_content_blocks_run_start_deltas_stop_in_order(ant, profile, case):
    checks.content_blocks_well_formed(ant.messages_stream(_request(profile, case)))


@requirement("ANT-STREAM-006")
def test_message_delta_then_message_stop_end_the_stream(ant):
    checks.message_delta_then_stop(ant.messages_stream(BASIC))


@requirement("ANT-STREAM-007")
def test_nothing_follows_message_stop(ant):
    checks.nothing_after_message_stop(ant.messages_stream(BASIC))


@pytest.mark.alone(DETERMINISM)
@requirement("ANT-STOP-004")
def test_streamed_and_non_streamed_messages_agree(ant):
    streamed = ant.messages_stream(BASIC).final_message()
    _, message = ant.messages(BASIC)
    checks.stream_matches_message(streamed, message)


@pytest.mark.alone(DETERMINISM)
@requirement("ANT-STREAM-008")
def test_streamed_message_usage_equals_non_streamed_usage(ant, profile):
    # The same exchanges as ANT-STOP-004 above: no request of its own in a full run.
    stream = ant.messages_stream(BASIC)
    _, message = ant.messages(BASIC)
    parity.messages_stream_usage_matches_blocking(stream, message, tolerance=parity.tolerance_of(profile.settings))
