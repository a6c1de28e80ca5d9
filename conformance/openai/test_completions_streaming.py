"""completions · streaming: chunk schema, terminator and finish_reason rules for /v1/completions."""

import pytest

from conformance.harness.checks import completions as checks
from conformance.harness.checks import openai as oai_checks
from conformance.harness.checks import parity
from conformance.harness.parallel import DETERMINISM
from conformance.harness.requirements import requirement

pytestmark = pytest.mark.requires("completions", "streaming")

BASIC = {"prompt": "The capital cities of Europe are Paris, Berlin,", "max_tokens": 8, "temperature": 0}


@requirement("OAI-CMPL-002")
def test_every_completions_chunk_validates_against_schema(oai, schemas):
    checks.completion_chunks_match_schema(oai.completions_stream(BASIC), schemas=schemas)


@requirement("OAI-STREAM-002")
def test_completions_stream_is_terminated_by_done(oai):
    oai_checks.stream_terminated_by_done(oai.completions_stream(BASIC))


@requirement("OAI-STREAM-003")
def test_nothing_follows_done_in_completions_stream(oai):
    oai_checks.nothing_after_done(oai.completions_stream(BASIC))


@requirement("OAI-CMPL-003")
def test_each_completions_choice_gets_one_finish_reason(oai):
    checks.completion_one_finish_per_choice(oai.completions_stream(BASIC), n=1)


@pytest.mark.alone(DETERMINISM)
@requirement("OAI-CMPL-006")
def test_streamed_completion_text_equals_non_streamed_text_at_temperature_0(oai):
    # The same exchanges as the tests above and test_completions_basic.py (BASIC is the same request).
    stream = oai.completions_stream(BASIC)
    blocking = oai.completions(BASIC)
    parity.completion_stream_text_matches_blocking(stream.text(0), blocking.choice(0).get("text"))


@pytest.mark.alone(DETERMINISM)
@requirement("OAI-USAGE-005")
@pytest.mark.requires("stream_usage")
def test_completions_streamed_usage_equals_non_streamed_usage(oai, profile):
    stream = oai.completions_stream({**BASIC, "stream_options": {"include_usage": True}})
    blocking = oai.completions(BASIC)
    parity.stream_usage_matches_blocking(stream, blocking.body, tolerance=parity.tolerance_of(profile.settings))
