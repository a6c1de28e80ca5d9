"""Rules that several APIs state alike, written once. Registered checks delegate to these.

They are plain functions (not registered): they raise :func:`~conformance.harness.checks.fail`
and the registered check that calls them stamps its own requirement ID on the failure, so each
API keeps its requirement and its check name (both are contracts) while the rule lives here.
"""

from __future__ import annotations

from conformance.harness.checks import fail
from conformance.harness.exchange import EVENT_STREAM, Exchange
from conformance.harness.streams.base import EventStream

UNTERMINATED_DONE_HINT = " (a final 'data: [DONE]' arrived without its blank line and was discarded)"


def require_event_stream(ex: Exchange) -> None:
    """The response declares ``Content-Type: text/event-stream`` (parameters ignored)."""
    if ex.content_type != EVENT_STREAM:
        raise fail("stream without text/event-stream content type", expected=EVENT_STREAM,
                   actual=ex.header("content-type"))


def require_done_terminator(stream: EventStream) -> None:
    """A ``data: [DONE]`` event came (hinting at one that lost its blank line)."""
    if stream.done_index is None:
        hint = UNTERMINATED_DONE_HINT if stream.unterminated_done else ""
        last = stream.sse_events[-1].data[:80] if stream.sse_events else None
        raise fail("stream not terminated by data: [DONE]" + hint, expected="data: [DONE]",
                   actual=f"last event: {last!r}")


def require_nothing_after_done(stream: EventStream, *, expected: str = "no event after [DONE]") -> None:
    """No SSE event follows the first ``data: [DONE]``."""
    after = stream.after_done
    if after:
        raise fail("events after data: [DONE]", expected=expected, actual=[e.data[:60] for e in after[:3]])


def require_json_objects(stream: EventStream, *, expected: str, label: str = "event {i}") -> None:
    """Every ``data:`` payload other than ``[DONE]`` is a JSON object."""
    bad = stream.malformed
    if bad:
        raise fail("data payloads that are not JSON objects", expected=expected,
                   actual=[f"{label.format(i=i)}: {d[:60]!r}" for i, d in bad[:3]])


def require_typed(stream: EventStream, *, expected: str, label: str = "event {i}") -> None:
    """Every JSON object payload carries a string ``type`` (Responses and Messages events)."""
    if stream.untyped:
        i = stream.untyped[0][0]
        raise fail(f"events without a string type ({len(stream.untyped)}, first #{i})", expected=expected,
                   actual=[f"{label.format(i=i)}: {d[:60]!r}" for i, d in stream.untyped[:3]])
