"""sse: event-stream framing, checked on a chat completions stream."""

import pytest

from conformance.harness.checks import sse as checks
from conformance.harness.datasets import case
from conformance.harness.requirements import requirement

pytestmark = pytest.mark.requires("streaming")
SHORT = case("openai/chat_basic.json", "short-reply").request


@requirement("SSE-FRAME-001")
def test_event_stream_is_utf8(oai):
    checks.stream_is_utf8(oai.chat_stream(SHORT).exchange.sse)


@requirement("SSE-FRAME-002")
def test_every_event_is_terminated_by_blank_line(oai):
    checks.stream_ends_with_complete_event(oai.chat_stream(SHORT).exchange.sse)


@requirement("SSE-FRAME-003")
def test_only_standard_sse_fields_are_used(oai):
    checks.no_unknown_fields(oai.chat_stream(SHORT).exchange.sse)
