"""responses · streaming: the Responses event state machine."""

import pytest

from conformance.harness.checks import parity
from conformance.harness.checks import responses as checks
from conformance.harness.parallel import DETERMINISM
from conformance.harness.requirements import requirement
from conformance.harness.schemas import SchemaSet

pytestmark = pytest.mark.requires("responses", "streaming")

BASIC = {"input": "Say hello to the conformance suite.", "max_output_tokens": 16, "temperature": 0}


@requirement("OAI-RESP-002")
def test_every_responses_event_validates_against_schema(oai, schemas):
    checks.events_match_schemas(oai.responses_stream(BASIC), schemas=schemas)


@requirement("OAI-RESP-003")
def test_responses_stream_starts_created_then_in_progress(oai):
    checks.starts_created_in_progress(oai.responses_stream(BASIC))


@requirement("OAI-RESP-004")
def test_responses_stream_has_one_terminal_event_last(oai):
    checks.one_terminal_event_last(oai.responses_stream(BASIC))


@requirement("OAI-RESP-005")
def test_sequence_numbers_increase_by_one(oai):
    checks.sequence_numbers_increase_by_one(oai.responses_stream(BASIC))


@requirement("OAI-RESP-006")
def test_output_items_and_parts_are_announced_and_paired(oai):
    checks.items_announced_and_paired(oai.responses_stream(BASIC))


@requirement("OAI-RESP-007")
def test_streamed_deltas_match_done_text_and_output(oai):
    checks.deltas_match_done_and_output(oai.responses_stream(BASIC))


@requirement("OAI-RESP-010")
def test_responses_event_lines_match_types(oai):
    checks.event_names_match_types(oai.responses_stream(BASIC))


@requirement("OAI-ORESP-001")
def test_open_responses_stream_ends_with_done(oai):
    checks.done_terminator(oai.responses_stream(BASIC))


@requirement("OAI-ORESP-002")
def test_open_responses_shapes_hold(oai, profile):
    strict = SchemaSet(flavors=(*profile.schema_flavors, "open-responses"))
    checks.open_responses_shapes(oai.responses_stream(BASIC), schemas=strict)


# Stream / non-stream parity: BASIC is the request of test_responses_basic.py too, so both calls
# are the exchanges the tests above and there already made.
@pytest.mark.alone(DETERMINISM)
@requirement("OAI-RESP-013")
def test_streamed_responses_usage_equals_non_streamed_usage(oai, profile):
    stream = oai.responses_stream(BASIC)
    _, blocking = oai.responses(BASIC)
    parity.responses_stream_usage_matches_blocking(stream, blocking, tolerance=parity.tolerance_of(profile.settings))


@pytest.mark.alone(DETERMINISM)
@requirement("OAI-RESP-014")
def test_streamed_output_text_equals_non_streamed_output_text_at_temperature_0(oai):
    stream = oai.responses_stream(BASIC)
    _, blocking = oai.responses(BASIC)
    parity.responses_stream_text_matches_blocking(stream, blocking)
