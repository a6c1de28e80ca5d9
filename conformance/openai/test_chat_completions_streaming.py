"""chat.completions · streaming: SSE chunk semantics on top of the framing checks."""

import pytest

from conformance.harness.checks import openai as checks
from conformance.harness.datasets import case
from conformance.harness.requirements import requirement
from conformance.harness.parallel import DETERMINISM

pytestmark = pytest.mark.requires("streaming")

SHORT = case("openai/chat_basic.json", "short-reply").request
# A stream long enough (> 1 s on most endpoints) for a per-chunk timestamp to show.
LONG = {"messages": [{"role": "user", "content": "Count from one to two hundred, separated by commas: one, two,"}],
        "max_tokens": 160, "temperature": 0}


@requirement("OAI-STREAM-001")
def test_streamed_response_has_event_stream_content_type(oai):
    checks.event_stream_content_type(oai.chat_stream(SHORT).exchange)


@requirement("OAI-STREAM-002")
def test_stream_is_terminated_by_done(oai):
    checks.stream_terminated_by_done(oai.chat_stream(SHORT))


@requirement("OAI-STREAM-003")
def test_nothing_follows_done(oai):
    checks.nothing_after_done(oai.chat_stream(SHORT))


@requirement("OAI-STREAM-004")
def test_every_data_payload_is_a_json_object(oai):
    checks.chunks_are_json_objects(oai.chat_stream(SHORT))


@requirement("OAI-STREAM-005")
def test_every_chunk_validates_against_chunk_schema(oai, schemas):
    checks.chunks_match_schema(oai.chat_stream(SHORT), schemas=schemas)


@requirement("OAI-STREAM-006")
def test_stream_carries_no_error_frame(oai):
    checks.no_error_frames(oai.chat_stream(SHORT))


@requirement("OAI-STREAM-007")
def test_every_chunk_carries_same_id_created_model(oai):
    checks.chunk_identity_stable(oai.chat_stream(LONG))


@requirement("OAI-STREAM-008")
def test_first_delta_carries_role_assistant(oai):
    checks.first_delta_has_role(oai.chat_stream(SHORT))


@requirement("OAI-STREAM-009")
def test_each_choice_gets_one_finish_reason_and_no_content_after(oai):
    checks.one_finish_reason_per_choice(oai.chat_stream(SHORT), n=1)


@pytest.mark.alone(DETERMINISM)
@requirement("OAI-STREAM-010")
def test_streamed_text_equals_non_streamed_text_at_temperature_0(oai):
    stream = oai.chat_stream(SHORT)
    blocking = oai.chat(SHORT)
    checks.stream_matches_non_stream(stream.text(0), blocking.text)
