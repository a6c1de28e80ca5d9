"""chat.completions · usage: token accounting invariants."""

import pytest

from conformance.harness.checks import openai as checks
from conformance.harness.datasets import case
from conformance.harness.requirements import requirement

SHORT = case("openai/chat_basic.json", "short-reply").request


@requirement("OAI-USAGE-001")
def test_usage_counts_add_up(oai):
    checks.usage_arithmetic(oai.chat(SHORT).usage)


@requirement("OAI-USAGE-002")
@pytest.mark.requires("streaming")
def test_include_usage_gives_exactly_one_final_usage_chunk(oai):
    stream = oai.chat_stream({**SHORT, "stream_options": {"include_usage": True}})
    checks.stream_usage_chunk(stream)


@requirement("OAI-USAGE-003")
@pytest.mark.requires("streaming")
def test_no_usage_chunk_without_include_usage(oai):
    checks.no_usage_without_include(oai.chat_stream(SHORT))
