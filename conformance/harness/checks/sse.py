"""SSE framing checks (shared by every streaming API)."""

from __future__ import annotations

from conformance.harness import sse
from conformance.harness.checks import check, fail
from conformance.harness.sse import SSEParser


def _codes(parser: SSEParser, *codes: str) -> list[sse.Diagnostic]:
    return [d for d in parser.diagnostics if d.code in codes]


@check("SSE-FRAME-001", passive=True)
def stream_is_utf8(parser: SSEParser) -> None:
    """An event stream is UTF-8."""
    bad = _codes(parser, sse.INVALID_UTF8)
    if bad:
        raise fail("event stream is not valid UTF-8", expected="UTF-8",
                   actual=f"{len(bad)} invalid sequence(s), first at byte {bad[0].byte_offset}")


@check("SSE-FRAME-002", passive=True)
def stream_ends_with_complete_event(parser: SSEParser) -> None:
    """The final event is terminated by a blank line (an unterminated event is discarded by
    every conforming client)."""
    bad = _codes(parser, sse.UNTERMINATED_EVENT, sse.TRAILING_BYTES)
    if bad:
        raise fail("stream ends inside an event; a conforming client discards it",
                   expected="every event terminated by a blank line",
                   actual="; ".join(f"{d.code} at byte {d.byte_offset}: {d.detail[:80]}" for d in bad))


@check("SSE-FRAME-003")
def no_unknown_fields(parser: SSEParser) -> None:
    """Only the SSE fields data, event, id and retry are used (others are silently dropped by
    clients, e.g. llama.cpp's old ``error:`` lines)."""
    bad = _codes(parser, sse.UNKNOWN_FIELD)
    if bad:
        names = sorted({d.detail for d in bad})
        raise fail("unknown SSE field names (ignored by conforming clients)", expected="data/event/id/retry",
                   actual=names)
