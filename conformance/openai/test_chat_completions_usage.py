"""chat.completions · usage: token accounting invariants."""

import pytest

from conformance.harness.checks import openai as checks
from conformance.harness.checks import parity
from conformance.harness.datasets import case
from conformance.harness.failures import NotApplicable
from conformance.harness.parallel import DETERMINISM
from conformance.harness.requirements import requirement

SHORT = case("openai/chat_basic.json", "short-reply").request


@requirement("OAI-USAGE-001")
def test_usage_counts_add_up(oai):
    checks.usage_arithmetic(oai.chat(SHORT).usage)


@requirement("OAI-USAGE-002")
@pytest.mark.requires("streaming")
@pytest.mark.parametrize("n", [1, pytest.param(2, marks=pytest.mark.requires("n_gt_1"))], ids=["n1", "n2"])
def test_include_usage_gives_exactly_one_final_usage_chunk(oai, n):
    request = {**SHORT, "stream_options": {"include_usage": True}}
    if n > 1:
        request = {**request, "n": n, "temperature": 0.8}
    checks.stream_usage_chunk(oai.chat_stream(request))


@requirement("OAI-USAGE-004")
@pytest.mark.requires("n_gt_1")
def test_usage_counts_every_choice(oai):
    count = [{"role": "user", "content": "Count from one to fifty, separated by commas: one, two, three,"}]
    result = oai.chat({"messages": count, "max_tokens": 4, "temperature": 0, "n": 2})
    reasons = [c.get("finish_reason") for c in result.body.get("choices") or []]
    if reasons != ["length", "length"]:
        raise NotApplicable(f"not every choice was cut by max_tokens: {reasons}")
    checks.usage_counts_every_choice(result.usage, reasons, max_tokens=4)


@requirement("OAI-USAGE-003")
@pytest.mark.requires("streaming")
def test_no_usage_chunk_without_include_usage(oai):
    checks.no_usage_without_include(oai.chat_stream(SHORT))


@pytest.mark.alone(DETERMINISM)
@requirement("OAI-USAGE-005")
@pytest.mark.requires("streaming", "stream_usage")
def test_streamed_usage_equals_non_streamed_usage(oai, profile):
    # The same exchanges as OAI-USAGE-002 (n1) and OAI-USAGE-001: no request of its own in a full run.
    stream = oai.chat_stream({**SHORT, "stream_options": {"include_usage": True}})
    blocking = oai.chat(SHORT)
    parity.stream_usage_matches_blocking(stream, blocking.body, tolerance=parity.tolerance_of(profile.settings))
