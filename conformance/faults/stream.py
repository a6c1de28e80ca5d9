"""Event-stream reading for the proxy: the upstream bytes cut into blocks without changing a
byte (:class:`BlockSplitter`), each interpreted by the strict SSE parser into an
:class:`~conformance.faults.model.Event` that keeps its raw bytes (:func:`iter_events`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from conformance.faults.model import BOM, EOL_RE, Event
from conformance.harness.sse import SSEParser


class BlockSplitter:
    """Cuts an event stream into blocks, each ending with a blank line, without changing a byte
    (the concatenation of every piece returned is the input). Incremental: any chunking, a CRLF
    split across reads included."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._line = 0  # offset in _buf of the current line's start
        self._started = False
        self._skip_lf = False

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        """Returns ``(kind, bytes)`` pieces: ``block``, ``bom`` or ``lf`` (dangling, see Event)."""
        out: list[tuple[str, bytes]] = []
        if self._skip_lf and data:
            self._skip_lf = False
            if data[:1] == b"\n":
                out.append(("lf", b"\n"))
                data = data[1:]
        self._buf += data
        if not self._started:
            head = bytes(self._buf[:3])
            if len(head) < 3 and BOM.startswith(head):
                return out
            self._started = True
            if head == BOM:
                out.append(("bom", BOM))
                del self._buf[:3]
        buf, start, line = self._buf, 0, self._line
        while True:
            match = EOL_RE.search(buf, line)
            if match is None:
                break
            s, e = match.span()
            if e == len(buf) and buf[s:e] == b"\r":
                if s == line:  # a blank line ended by CR: the event is complete now
                    out.append(("block", bytes(buf[start:e])))
                    start = line = e
                    self._skip_lf = True
                break  # otherwise wait: CR or CRLF is decided by the next byte
            if s == line:
                out.append(("block", bytes(buf[start:e])))
                start = e
            line = e
        del buf[:start]
        self._line = line - start
        return out

    def close(self) -> list[tuple[str, bytes]]:
        """The unterminated tail at EOF (discarded by every conforming client), if any."""
        tail = bytes(self._buf)
        self._buf.clear()
        self._line = 0
        return [("tail", tail)] if tail else []


def _eol_of(raw: bytes) -> str:
    match = EOL_RE.search(raw)
    return match.group().decode("ascii") if match else "\n"


def iter_events(chunks: Iterable[bytes]) -> Iterator[Event]:
    """Events of an event stream, as soon as each block is complete. Event semantics come from
    the strict parser (``conformance.harness.sse``); ``raw`` keeps the exact upstream bytes."""
    splitter = BlockSplitter()
    parser = SSEParser()
    last_id: str | None = None
    last_retry: int | None = None
    eol = "\n"

    def convert(kind: str, raw: bytes) -> Event:
        nonlocal last_id, last_retry, eol
        if kind == "tail":
            return Event(data=None, raw=raw, eol=eol)
        dispatched = parser.feed(raw, t=0.0)
        if kind == "lf":
            return Event(data=None, raw=raw, eol="\r\n", dangling_lf=True)
        if kind == "block":
            eol = _eol_of(raw)
        if not dispatched:
            return Event(data=None, raw=raw, eol=eol)
        sse_event = dispatched[-1]
        new_id = sse_event.id if sse_event.id != last_id else None
        new_retry = sse_event.retry if sse_event.retry != last_retry else None
        last_id, last_retry = sse_event.id, sse_event.retry
        return Event(data=sse_event.data, type=sse_event.event_field, id=new_id, retry=new_retry, raw=raw, eol=eol)

    for chunk in chunks:
        for kind, raw in splitter.feed(chunk):
            yield convert(kind, raw)
    for kind, raw in splitter.close():
        yield convert(kind, raw)
