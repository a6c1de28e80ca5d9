"""A strict, incremental Server-Sent Events parser over bytes (WHATWG HTML §9.2.5–9.2.6).

It is a *validator*: it implements the interpretation algorithm exactly (so the events it yields
are what a conforming client sees) and records every irregularity as a :class:`Diagnostic`.
It never raises on input and never asserts; checks decide what a diagnostic means.

Rules implemented (docs/wire-protocols.md §5.1):
* lines end with CRLF, LF or CR (a CR at a chunk end is held back until the next byte tells
  whether an LF follows); never ``str.splitlines()``;
* one leading UTF-8 BOM is stripped;
* ``:`` starts a comment; ``field:value`` strips one leading space from the value; a line with no
  colon is a field with an empty value; ``data`` lines join with ``\\n``; ``event`` sets the type;
  ``id`` is ignored if it contains NUL; ``retry`` only if ASCII digits; other fields are ignored;
* an empty line dispatches; an event with an empty data buffer is not dispatched;
* an unterminated event at EOF is discarded.

Well-formed input takes a fast path (issue 13 §2; :meth:`SSEParser._fast`): LF-only stretches of
``data: <value>`` / ``event: <type>`` + ``data: <value>`` events are cut in C, and only the rest
goes line by line through the byte-level interpretation. ``SSEParser(strict=True)`` is the
byte-level path alone, the reference the fast path is proven against
(``tests/test_stream_decode.py``: same events, diagnostics and state after every chunk).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import accumulate, compress, count, repeat
from operator import add, contains, getitem, itemgetter, not_
from typing import Any, NamedTuple

# Diagnostic codes (stable: checks and fixtures refer to them).
BOM = "bom"
INVALID_UTF8 = "invalid-utf8"
UNKNOWN_FIELD = "unknown-field"
COMMENT = "comment"
MIXED_LINE_ENDINGS = "mixed-line-endings"
NON_LF_LINE_ENDING = "non-lf-line-ending"
EVENT_WITHOUT_DATA = "event-without-data"
UNTERMINATED_EVENT = "unterminated-event-at-eof"
TRAILING_BYTES = "trailing-bytes-at-eof"
ID_WITH_NUL = "id-with-nul"
INVALID_RETRY = "invalid-retry"
MULTILINE_DATA = "multi-line-data"
FIELD_WITHOUT_COLON = "field-without-colon"


class SSEEvent(NamedTuple):
    """One dispatched event, as a conforming client sees it. Immutable (a named tuple: the fast
    path builds one per event with ``tuple.__new__``, several times cheaper than a frozen
    dataclass)."""

    type: str  # the event type ("message" when no event: field was given)
    data: str
    id: str | None
    retry: int | None
    byte_offset: int  # offset of the event's first line in the stream
    t_received: float  # seconds since the stream started when the dispatching line arrived
    event_field: str | None = None  # the raw `event:` value if one was sent (None if absent)
    raw: bytes = b""


_new_event = tuple.__new__
#: ``b"".join`` of (head, value, tail): one copy per event, where ``head + value + tail`` makes two
#: (the zip's tuple is reused from one event to the next).
_join = b"".join
_FIRST, _SECOND, _THIRD = itemgetter(0), itemgetter(1), itemgetter(2)
_BOM = b"\xef\xbb\xbf"
_DATA_SEP = b"\ndata: "


def _typed_parts(blocks: list[bytes]) -> tuple[list[str], list[bytes]] | None:
    """``(fields, values)`` of blocks ``b"event: <field>\ndata: <value>"`` cut at each block's first
    ``\ndata: `` (the field decoded), or None when a block has no ``\ndata: `` or its part before
    it does not start with ``event: ``. (:meth:`SSEParser._bulk` has proven by counting that each
    block holds exactly one line end; that it is the one in ``\ndata: `` is proven here.)

    A stream repeats one event line (400 deltas between a few lifecycle events): the blocks that
    start with the middle block's ``event:`` line and ``\ndata: `` are cut at that known length in
    C, the few others one by one; with more than a quarter of others, every block is cut with
    ``bytes.partition`` (also in C)."""
    n = len(blocks)
    names: dict[bytes, str] = {}

    def name(head: bytes) -> str | None:
        field = names.get(head)
        if field is None:
            if not head.startswith(b"event: "):
                return None
            field = names[head] = head[7:].decode()  # UnicodeDecodeError: the caller's
        return field

    head, sep, _ = blocks[n // 2].partition(_DATA_SEP)
    if sep:
        prefix = head + sep
        others = list(compress(count(), map(not_, map(bytes.startswith, blocks, repeat(prefix)))))
        if len(others) <= n // 4:
            common = name(head)
            if common is None:
                return None
            fields = [common] * n
            values = list(map(getitem, blocks, repeat(slice(len(prefix), None))))
            for i in others:
                head_i, sep_i, values[i] = blocks[i].partition(_DATA_SEP)
                field = name(head_i) if sep_i else None
                if field is None:
                    return None
                fields[i] = field
            return fields, values
    triples = list(map(bytes.partition, blocks, repeat(_DATA_SEP)))
    if not all(map(_SECOND, triples)):
        return None
    heads = list(map(_FIRST, triples))
    for head in set(heads):  # few distinct event lines: each checked and decoded once
        if name(head) is None:
            return None
    values = list(map(_THIRD, triples))
    del triples  # N tuples freed before N events are made (fewer objects for the GC to visit)
    return list(map(names.__getitem__, heads)), values


#: Pieces :func:`_split` splits at once: below CPython's 30000-byte threshold for a search with a
#: needle of 6 to 99 bytes, under which ``bytes.split`` searches without the two-way algorithm.
_SPLIT_SPAN = 24576


def _split(data: bytes, sep: bytes) -> list[bytes]:
    """``data.split(sep)`` for a ``sep`` of at least two bytes that cannot overlap itself (no
    proper prefix of it is also a suffix: ``b"\n\n" + line`` where only its first two bytes are
    line ends), split a span of about :data:`_SPLIT_SPAN` bytes at a time.

    CPython's ``bytes.split`` searches for each occurrence in the whole rest of ``data``; over
    30000 bytes with a needle of 6 bytes or more, each search starts by preprocessing the needle
    for the two-way algorithm (hundreds of instructions per event of a long stream). Cut at an
    occurrence of ``sep``, ``data.split(sep)`` is the split of the part before it followed by the
    split of the part after it: ``sep`` cannot overlap itself, so every occurrence is one that
    ``split`` cuts at."""
    n = len(data)
    if n <= _SPLIT_SPAN:
        return data.split(sep)
    out: list[bytes] = []
    start = 0
    while n - start > _SPLIT_SPAN:
        cut = data.find(sep, start + _SPLIT_SPAN)
        if cut < 0:
            break
        out += data[start:cut].split(sep)
        start = cut + len(sep)
    out += data[start:].split(sep)
    return out


_Typed = tuple[list[str], list[bytes], list[bytes]]  # (event fields, data values, raw events)


def _typed_blocks(region: bytes) -> _Typed | None:
    """``(fields, values, raws)`` of ``region`` when it is a sequence of blocks ``b"event: <field>\ndata:
    <value>\n\n"`` (each field and value without a line end), else None: split on blank lines,
    each block proven to hold exactly one line end by counting (3 per event), cut by
    :func:`_typed_parts`. An empty region is no blocks."""
    if not region:
        return [], [], []
    blocks = region.split(b"\n\n")  # region ends with a blank line: the last is b""
    if blocks.pop() or region.count(b"\n") != 3 * len(blocks):
        return None
    typed = _typed_parts(blocks)
    if typed is None:
        return None
    fields, values = typed
    return fields, values, list(map(add, blocks, repeat(b"\n\n")))


def _typed_run(region: bytes) -> _Typed | None:
    """What :func:`_typed_blocks` gives for ``region`` (complete events, starting ``event: ``, ending
    with a blank line), cut without a Python step per event where the stream repeats one event line
    (400 deltas between a few lifecycle events); None when it does not have that shape (the caller
    then tries :func:`_typed_blocks`).

    The event line ``L`` (``b"event: <field>"``) of the block around the middle is the run's: ``P =
    L + b"\ndata: "``. From the first block that starts with ``P`` (at the start or after a blank
    line) to the end of the last one, ``body`` (between that first ``P`` and the last value's blank
    line) is split on ``b"\n\n" + P``: if no piece holds a line end, that stretch is exactly the
    events ``P + value + b"\n\n"``, one per piece (put back together, the pieces and separators are
    the stretch). A piece with a line end holds the value, a blank line and blocks of other event
    lines (up to the next ``P``), cut by :func:`_typed_blocks`; so are the blocks before the first
    and after the last ``P`` block. Every value is newline-free, so the proof of each block's shape
    is the same as :func:`_typed_blocks`' count."""
    n = len(region)
    j = region.rfind(b"\n\n", 0, n // 2)
    start = 0 if j < 0 else j + 2
    nl = region.find(b"\n", start)
    if nl < 0 or not region.startswith(b"data: ", nl + 1) or not region.startswith(b"event: ", start):
        return None
    prefix = region[start : nl + 7]
    field = prefix[7:-7].decode()  # UnicodeDecodeError: the caller's
    sep = b"\n\n" + prefix
    if region.startswith(prefix):
        first = 0
    else:
        first = region.find(sep) + 2
        if first < 2:
            return None
    last = region.rfind(sep)
    last = first if last < 0 else last + 2
    stop = region.find(b"\n\n", last + len(prefix))
    if stop < 0:
        return None
    values = _split(region[first + len(prefix) : stop], sep)
    head = _typed_blocks(region[:first])
    tail = _typed_blocks(region[stop + 2 :])
    if head is None or tail is None:
        return None
    fields, out, raws = head

    def take_run(run: list[bytes]) -> None:  # the events P + value + blank line
        fields.extend([field] * len(run))
        out.extend(run)
        raws.extend(map(_join, zip(repeat(prefix), run, repeat(b"\n\n"))))

    def take(typed: _Typed) -> None:
        fields.extend(typed[0])
        out.extend(typed[1])
        raws.extend(typed[2])

    if b"\n" in b"".join(values):  # blocks of other event lines between runs of this one
        cut = 0
        for i in compress(count(), map(contains, values, repeat(b"\n"))):
            value, _, rest = values[i].partition(b"\n\n")
            others = _typed_blocks(rest + b"\n\n") if rest and b"\n" not in value else None
            if others is None:
                return None
            run = values[cut:i]
            run.append(value)
            take_run(run)
            take(others)
            cut = i + 1
        values = values[cut:]
    take_run(values)
    take(tail)
    return fields, out, raws


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    byte_offset: int
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "byte_offset": self.byte_offset, "detail": self.detail}


@dataclass(slots=True)
class SSEParser:
    """Feed bytes in any chunking; collect events and diagnostics.

    >>> p = SSEParser(); p.feed(b"data: a\\n\\n"); p.close(); [e.data for e in p.events]
    ['a']
    """

    events: list[SSEEvent] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    line_endings: dict[str, int] = field(default_factory=lambda: {"LF": 0, "CRLF": 0, "CR": 0})
    _buf: bytearray = field(default_factory=bytearray)
    _offset: int = 0  # absolute offset of _buf[0]
    _started: bool = False
    _pending_cr: bool = False
    _data: list[str] = field(default_factory=list)
    _event_type: str | None = None
    _last_id: str | None = None
    _retry: int | None = None
    _event_start: int | None = None
    _event_raw: bytearray = field(default_factory=bytearray)
    _t0: float | None = None
    _closed: bool = False
    _seen_unknown: set[str] = field(default_factory=set)
    #: The UTF-8 bytes of each event's data where the fast path cut them (None where the byte-level
    #: path built the event), in step with ``events``: :meth:`encoded_data`.
    _encoded: list[bytes | None] = field(default_factory=list)
    _built: int = 0  # how many of them the byte-level path built (the None entries of _encoded)
    #: ``True``: the byte-level path only (the reference the fast path is proven against).
    strict: bool = False

    def feed(self, chunk: bytes, t: float | None = None) -> list[SSEEvent]:
        """Consume a chunk; return the events it completed. ``t`` is the arrival time in seconds
        since the start of the stream (defaults to a monotonic clock)."""
        if self._closed:
            raise ValueError("parser is closed")
        if t is None:
            now = time.monotonic()
            if self._t0 is None:
                self._t0 = now
            t = now - self._t0
        before = len(self.events)
        data = bytes(chunk)
        if not data:
            return []
        if self._pending_cr:
            # A CR ended the previous chunk: it was a line end; swallow a directly following LF.
            self._pending_cr = False
            if data[:1] == b"\n":
                self._count_ending("CRLF", self._offset - 1)
                data = data[1:]
                self._offset += 1
            else:
                self._count_ending("CR", self._offset - 1)
        buf = self._buf
        if not self.strict and self._started and b"\r" not in data:
            if buf:
                data = bytes(buf) + data
                buf.clear()
            self._fast(data, t)
        elif not self.strict and not buf and not _BOM.startswith(data[:3]) and b"\r" not in data:
            # The first chunk (a whole recorded body, or the live stream's first event), no BOM:
            # what the branch below does, without copying it into _buf and back.
            self._started = True
            self._fast(data, t)
        else:
            buf.extend(data)
            self._strip_bom()
            if self.strict or not self._started or b"\r" in buf:
                self._scan(t)
            else:
                data = bytes(buf)
                buf.clear()
                self._fast(data, t)
        return self.events[before:]

    def _strip_bom(self) -> None:
        """Strip one leading BOM; until three bytes (or a non-BOM prefix) arrived, wait."""
        if self._started:
            return
        head = bytes(self._buf[:3])
        if head == _BOM:
            del self._buf[:3]
            self.diagnostics.append(Diagnostic(BOM, 0, "leading UTF-8 BOM stripped"))
            self._offset = 3
            self._started = True
        elif not (len(head) < 3 and _BOM.startswith(head)):
            self._started = True

    def _count_ending(self, kind: str, offset: int) -> None:
        self.line_endings[kind] += 1

    def _scan(self, t: float) -> None:
        if not self._started:
            return
        buf = self._buf
        pos = self._lines(buf, 0, len(buf), t)
        del buf[:pos]
        self._offset += pos

    def _lines(self, buf: bytes | bytearray, pos: int, n: int, t: float) -> int:
        """The byte-level interpretation of the complete lines in ``buf[pos:n]`` (``buf[0]`` is at
        stream offset ``_offset``); returns where it stopped (the start of a partial line, or just
        after a CR that ends ``buf`` with ``_pending_cr`` set)."""
        while pos < n:
            lf = buf.find(b"\n", pos, n)
            cr = buf.find(b"\r", pos, n)
            if lf < 0 and cr < 0:
                break
            if cr >= 0 and (lf < 0 or cr < lf):
                end = cr
                if cr + 1 < n:
                    if buf[cr + 1 : cr + 2] == b"\n":
                        kind, nxt = "CRLF", cr + 2
                    else:
                        kind, nxt = "CR", cr + 1
                else:
                    # CR at the end of the buffer: a line end either way; an LF may follow.
                    line = bytes(buf[pos:end])
                    self._line(line, self._offset + pos, t, bytes(buf[pos : cr + 1]))
                    pos = cr + 1
                    self._pending_cr = True
                    break
            else:
                end, kind, nxt = lf, "LF", lf + 1
            self._count_ending(kind, self._offset + end)
            self._line(bytes(buf[pos:end]), self._offset + pos, t, bytes(buf[pos:nxt]))
            pos = nxt
        return pos

    def _fast(self, b: bytes, t: float) -> None:
        """The fast path, for input without CR (so every line ends with LF): complete
        events of the two usual shapes, ``data: <value>`` and ``event: <type>`` + ``data: <value>``
        (one space after the colon, valid UTF-8), become events with bytes.find and slicing; every
        other stretch (comments, ``id:``/``retry:``, unknown fields, multi-line data, stray blank
        lines, invalid UTF-8, an event begun in an earlier chunk, a partial event) goes through
        :meth:`_lines`, up to the blank line that ends it. Events, diagnostics, line-ending counts
        and parser state after every feed are exactly those of the strict path (tests prove it).

        ``b`` is the unconsumed input (``_buf`` has been moved into it: ``b[0]`` is at stream
        offset ``_offset``); what is left of it (a partial line) goes back to ``_buf``."""
        n = len(b)
        find, startswith = b.find, b.startswith
        base = self._offset
        append, keep = self.events.append, self._encoded.append
        last_id, retry = self._last_id, self._retry
        lf = 0
        pos = 0
        if self._event_start is None:
            k = find(b"\n\n")
            if k == n - 2 and self._single(b, k, t):  # exactly one event: the live case
                return
            last = b.rfind(b"\n\n")
            if 0 <= k < last:
                if self._bulk(b, last + 2, t):
                    pos = last + 2
                else:  # a different last event (e.g. data: [DONE] after event: lines)?
                    prev = b.rfind(b"\n\n", 0, last)
                    if prev > 0 and find(b"\n\n") < prev and self._bulk(b, prev + 2, t):
                        pos = prev + 2
        while pos < n:
            k = find(b"\n\n", pos)
            if self._event_start is None and k >= 0:
                etype: str | None = None
                if startswith(b"data: ", pos) and find(b"\n", pos, k) < 0:
                    start, lines = pos + 6, 2
                elif startswith(b"event: ", pos):
                    nl = find(b"\n", pos, k)
                    if nl < 0 or not startswith(b"data: ", nl + 1) or find(b"\n", nl + 1, k) >= 0:
                        start = -1
                    else:
                        try:
                            etype = b[pos + 7 : nl].decode()
                        except UnicodeDecodeError:
                            start = -1
                        else:
                            start, lines = nl + 7, 3
                else:
                    start = -1
                if start >= 0:
                    encoded = b[start:k]
                    try:
                        value = encoded.decode()
                    except UnicodeDecodeError:
                        pass
                    else:
                        append(_new_event(SSEEvent, (etype or "message", value, last_id, retry, base + pos, t,
                                                     etype, b[pos : k + 2])))
                        keep(encoded)
                        lf += lines
                        pos = k + 2
                        continue
            # The byte-level path, up to and including the blank line that ends the current event
            # (a blank line at pos itself, or the one after the first line that ends in "\n\n").
            if b[pos] == 10:
                end = pos + 1
            elif k >= 0:
                end = k + 2
            else:
                end = n
            pos = self._lines(b, pos, end, t)
            last_id, retry = self._last_id, self._retry
            if end == n:
                break
        if lf:
            self.line_endings["LF"] += lf
        if pos < n:
            self._buf.extend(b[pos:])
        self._offset += pos

    def _single(self, b: bytes, k: int, t: float) -> bool:
        """``b`` is exactly one event (its only blank line ends it at ``k + 2``), the parser in a
        clean state at ``b[0]``: take it when it has one of the two usual shapes (as in
        :meth:`_fast`); False (nothing consumed) otherwise."""
        etype: str | None = None
        try:
            if b.startswith(b"data: ") and b.find(b"\n", 0, k) < 0:
                encoded, lines = b[6:k], 2
            elif b.startswith(b"event: "):
                nl = b.find(b"\n", 0, k)
                if nl < 0 or not b.startswith(b"data: ", nl + 1) or b.find(b"\n", nl + 1, k) >= 0:
                    return False
                etype, encoded, lines = b[7:nl].decode(), b[nl + 7 : k], 3
            else:
                return False
            value = encoded.decode()
        except UnicodeDecodeError:
            return False
        self.events.append(_new_event(SSEEvent, (etype or "message", value, self._last_id, self._retry, self._offset,
                                                 t, etype, b)))
        self._encoded.append(encoded)
        self.line_endings["LF"] += lines
        self._offset += k + 2
        return True

    def _bulk(self, b: bytes, end: int, t: float) -> bool:
        """All complete events of ``b[:end]`` (which ends with a blank line, the parser in a clean
        state at ``b[0]``) at once, when every one has the same usual shape, ``data: <value>`` or
        ``event: <type>`` + ``data: <value>``, followed by one blank line, and the whole is valid
        UTF-8; False (nothing consumed) otherwise, and the caller takes them one by one.

        The shape is proven without a Python step per event. Data-only: split on ``\n\ndata: ``
        (the first ``data: `` and the final blank line cut off), the region is exactly the events
        ``data: <value>\n\n`` when no value holds a line end (one ``in`` over the joined values, in
        C). With ``event:`` lines: :func:`_typed_run` (a run of one event line, the usual stream),
        else :func:`_typed_blocks` (every block proven to hold exactly one line end by counting, the
        one in ``\ndata: ``; the part before it, checked once per distinct value, is the whole
        ``event:`` line: :func:`_typed_parts`). Either way 2 (data-only) or 3 line ends per event.
        Each type and value is decoded on its own (valid exactly when its line is). Everything per
        event runs in C (split, slicing, decode, map, accumulate)."""
        region = b[:end] if end < len(b) else b
        fields: Any
        try:
            if region.startswith(b"data: "):
                parts = region.split(b"\n\ndata: ")  # as region[6:-2].split would, without copying region
                parts[0] = parts[0][6:]
                parts[-1] = parts[-1][:-2]
                if b"\n" in b"".join(parts):
                    return False
                newlines = 2 * len(parts)
                values = list(map(bytes.decode, parts))
                fields, types = repeat(None), repeat("message")
                raws = list(map(_join, zip(repeat(b"data: "), parts, repeat(b"\n\n"))))
            elif region.startswith(b"event: "):
                typed = _typed_run(region) or _typed_blocks(region)
                if typed is None:
                    return False
                fields, parts, raws = typed
                newlines = 3 * len(fields)
                values = list(map(bytes.decode, parts))
                types = fields if all(fields) else [f or "message" for f in fields]
            else:
                return False
        except UnicodeDecodeError:
            return False
        self.events.extend(map(_new_event, repeat(SSEEvent), zip(
            types,
            values,
            repeat(self._last_id),
            repeat(self._retry),
            accumulate(map(len, raws), initial=self._offset),
            repeat(t),
            fields,
            raws,
        )))
        self._encoded.extend(parts)
        self.line_endings["LF"] += newlines
        return True

    def _decode(self, raw: bytes, offset: int) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.diagnostics.append(Diagnostic(INVALID_UTF8, offset + exc.start, f"byte {raw[exc.start]:#04x}"))
            return raw.decode("utf-8", errors="replace")

    def _line(self, raw: bytes, offset: int, t: float, raw_with_ending: bytes) -> None:
        if not raw:
            self._dispatch(offset, t, raw_with_ending)
            return
        if self._event_start is None:
            self._event_start = offset
        self._event_raw.extend(raw_with_ending)
        line = self._decode(raw, offset)
        if line.startswith(":"):
            self.diagnostics.append(Diagnostic(COMMENT, offset, line[:80]))
            return
        if ":" in line:
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
        else:
            name, value = line, ""
            if name in ("data", "event", "id", "retry"):
                self.diagnostics.append(Diagnostic(FIELD_WITHOUT_COLON, offset, name))
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\x00" in value:
                self.diagnostics.append(Diagnostic(ID_WITH_NUL, offset, "id ignored"))
            else:
                self._last_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self._retry = int(value)
            else:
                self.diagnostics.append(Diagnostic(INVALID_RETRY, offset, value[:40]))
        else:
            self.diagnostics.append(Diagnostic(UNKNOWN_FIELD, offset, name[:40]))

    def _dispatch(self, offset: int, t: float, raw_with_ending: bytes) -> None:
        start = self._event_start if self._event_start is not None else offset
        self._event_raw.extend(raw_with_ending)
        if not self._data:
            if self._event_type is not None:
                self.diagnostics.append(
                    Diagnostic(EVENT_WITHOUT_DATA, start, f"event: {self._event_type[:40]} with no data")
                )
            self._reset()
            return
        if len(self._data) > 1:
            self.diagnostics.append(Diagnostic(MULTILINE_DATA, start, f"{len(self._data)} data lines"))
        self.events.append(
            SSEEvent(
                type=self._event_type or "message",
                data="\n".join(self._data),
                id=self._last_id,
                retry=self._retry,
                byte_offset=start,
                t_received=t,
                event_field=self._event_type,
                raw=bytes(self._event_raw),
            )
        )
        self._encoded.append(None)
        self._built += 1
        self._reset()

    def _reset(self) -> None:
        self._data = []
        self._event_type = None
        self._event_start = None
        self._event_raw = bytearray()

    def close(self) -> list[Diagnostic]:
        """Signal EOF. A pending partial line or an undispatched event is discarded (per spec) and
        reported. Returns all diagnostics."""
        if self._closed:
            return self.diagnostics
        self._closed = True
        self._started = True  # a partial BOM prefix at EOF is just trailing bytes
        self._scan(0.0)
        if self._pending_cr:
            self._count_ending("CR", self._offset - 1)
            self._pending_cr = False
        if self._buf:
            text = bytes(self._buf[:80]).decode("utf-8", errors="replace")
            self.diagnostics.append(Diagnostic(TRAILING_BYTES, self._offset, f"unterminated line: {text!r}"))
            # The partial line still belongs to the (discarded) pending event.
            if self._event_start is None:
                self._event_start = self._offset
            self._event_raw.extend(self._buf)
            self._buf.clear()
        if self._event_start is not None:
            pending = bytes(self._event_raw[:120]).decode("utf-8", errors="replace")
            self.diagnostics.append(Diagnostic(UNTERMINATED_EVENT, self._event_start, pending))
            self._reset()
        used = [k for k, v in self.line_endings.items() if v]
        if len(used) > 1:
            self.diagnostics.append(
                Diagnostic(MIXED_LINE_ENDINGS, 0, ", ".join(f"{k}={self.line_endings[k]}" for k in used))
            )
        if any(self.line_endings[k] for k in ("CR", "CRLF")):
            self.diagnostics.append(
                Diagnostic(NON_LF_LINE_ENDING, 0, ", ".join(f"{k}={v}" for k, v in self.line_endings.items()))
            )
        return self.diagnostics

    def encoded_data(self) -> list[bytes]:
        """``[e.data.encode() for e in self.events]``: the bytes the fast path decoded each event's
        data from (kept, not encoded again), encoded for the events the byte-level path built (whose
        data may hold replacement characters or joined lines), and for all of them when ``events``
        was changed from outside."""
        encoded, events = self._encoded, self.events
        if len(encoded) != len(events):
            return [e.data.encode("utf-8", "surrogatepass") for e in events]
        if not self._built:  # counted, not searched for (a comparison with None per event)
            return list(encoded)  # type: ignore[arg-type]
        return [e.data.encode("utf-8", "surrogatepass") if x is None else x for x, e in zip(encoded, events)]

    @property
    def unterminated_tail(self) -> str | None:
        """The text of a discarded final event (after :meth:`close`), if any."""
        for d in self.diagnostics:
            if d.code == UNTERMINATED_EVENT:
                return d.detail
        return None


def parse(data: bytes, *, chunks: list[bytes] | None = None) -> SSEParser:
    """Parse a complete byte string (or the given chunking of it) and close the parser."""
    parser = SSEParser()
    for i, chunk in enumerate(chunks if chunks is not None else [data]):
        parser.feed(chunk, t=float(i))
    parser.close()
    return parser


def serialize(
    events: list[tuple[str | None, str]], *, line_ending: str = "\n", bom: bool = False
) -> bytes:
    """Serialise ``(event_type or None, data)`` pairs to SSE bytes (used by tests and the fault
    proxy). Multi-line data becomes several ``data:`` lines."""
    out: list[str] = []
    for etype, data in events:
        if etype is not None:
            out.append(f"event: {etype}{line_ending}")
        for line in data.split("\n"):
            out.append(f"data: {line}{line_ending}")
        out.append(line_ending)
    raw = "".join(out).encode("utf-8")
    return (b"\xef\xbb\xbf" + raw) if bom else raw
