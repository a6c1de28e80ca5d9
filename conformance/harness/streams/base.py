"""What every stream layer shares: one base class, the same field names for the same concepts.

A stream layer reads the strict SSE parse of an :class:`~conformance.harness.exchange.Exchange`
and *describes* the stream; checks judge. The three layers (:mod:`.openai` chat/text completions,
:mod:`.responses`, :mod:`.anthropic` Messages) all have:

* ``exchange``: the recorded exchange;
* ``sse_events``: every SSE event as a conforming client sees it, ``data: [DONE]`` included;
* ``events``: the layer's own parsed events (chunks, Responses events, Messages events);
* the ``[DONE]`` terminator: ``done_indices`` (SSE positions of every ``data: [DONE]``) and the
  derived ``done_index`` / ``done_count`` / ``after_done``; ``unterminated_done`` when a final
  ``data: [DONE]`` came without its blank line (a client discards it);
* ``unknown_types``: ``(SSE index, type)`` of every event whose type the layer does not know;
* payload diagnostics: ``non_json`` / ``non_object`` (``(SSE index, data excerpt)``), ``untyped``
  (JSON objects without the string ``type`` the protocol requires), plus ``diagnostics``, the SSE
  framing diagnostics of the parser.

Positions are SSE event indices (0-based) everywhere.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from conformance.harness.exchange import Exchange
from conformance.harness.sse import Diagnostic, SSEEvent, SSEParser

try:
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - a dependency; without it json decodes alone (same values)
    _orjson_loads = None

DONE = "[DONE]"
EXCERPT = 200  # characters of a malformed payload kept for messages

_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGIT_RUN = b"0" * 19
#: Any 19 consecutive positions hold 3 (or 4) multiples of 5, which are consecutive in ``b[::5]``.
#: An odd step: ids that alternate digits and letters (``msg_7c1d2e3f4a5b6c7d``, hex) put a digit
#: at every other byte, which an even step (6) sees as digits in a row, on every event that
#: repeats the id (a full scan of the stream each time); with step 5 the samples alternate.
_SAMPLE_STEP, _SAMPLE_RUN = 5, b"000"


def has_long_digit_run(data: bytes) -> bool:
    """Whether ``data`` holds a run of 19 or more ASCII digits. A run of 19 digits puts digits at 3
    consecutive positions of every 5th byte: the fifth of ``data`` that ``data[::5]`` copies is
    looked at first, and all of it only where that finds 3 digits in a row (11 or more in a row in
    ``data``, or digits 5 bytes apart; timestamps have 10)."""
    if _SAMPLE_RUN not in data[::_SAMPLE_STEP].translate(_DIGITS_TO_ZERO):
        return False
    return _LONG_DIGIT_RUN in data.translate(_DIGITS_TO_ZERO)


def loads(data: str) -> Any:
    """``json.loads(data)``: the same value, or the same ``ValueError`` (``RecursionError`` when
    nested too deep), decoded by orjson where the two agree and by ``json`` where they may not.

    orjson rejects what ``json`` accepts beyond RFC 8259 (``NaN``, ``Infinity``, numbers that
    overflow to ``inf``, escaped lone surrogates): any orjson error hands the text to ``json``,
    whose value or error is the answer. orjson turns integers beyond 64 bits into floats where
    ``json`` keeps them ``int``: a text with a run of 19 or more digits goes to ``json`` directly
    (``tests/test_stream_decode.py`` checks the equivalence on arbitrary text)."""
    if _orjson_loads is None:
        return json.loads(data)
    raw = data.encode("utf-8", "surrogatepass")
    if has_long_digit_run(raw):
        return json.loads(data)
    try:
        return _orjson_loads(raw)
    except (ValueError, RecursionError):
        return json.loads(data)


#: Stands for a text that is not JSON in :func:`decode_all`'s answer.
NOT_JSON = object()
_DONE_BYTES = DONE.encode()
_data_of = attrgetter("data")


def _payload_positions(datas: list[str], stop_at_done: bool) -> slice | list[int]:
    """Which of the events' ``datas`` are payloads (see :func:`payload_texts`): a slice in the
    usual case (no [DONE], or one, last), picked in C."""
    if DONE not in datas:
        return slice(None)
    first = datas.index(DONE)
    if stop_at_done or first == len(datas) - 1:
        return slice(first)
    return [i for i, d in enumerate(datas) if d != DONE]


def _take(items: list[Any], positions: slice | list[int]) -> list[Any]:
    return items[positions] if isinstance(positions, slice) else [items[i] for i in positions]


def payload_texts(events: list[SSEEvent], *, stop_at_done: bool = False) -> list[str]:
    """The ``data`` of every event but ``data: [DONE]`` (with ``stop_at_done``: of every event
    before the first one), in order; picked in C (the usual stream has no [DONE] or one, last)."""
    datas = list(map(_data_of, events))
    return _take(datas, _payload_positions(datas, stop_at_done))


def decode_payloads(parser: SSEParser, *, stop_at_done: bool = False) -> list[Any]:
    """:func:`decode_all` of :func:`payload_texts` of the parser's events (what the stream layers
    decode), orjson reading the bytes the parser decoded each payload from
    (:meth:`~conformance.harness.sse.SSEParser.encoded_data`)."""
    encoded = parser.encoded_data()
    if _orjson_loads is not None and encoded:
        # The usual stream, told from the joined bytes (which the digit-run guard reads anyway) in
        # C: no [DONE] at all (no event's data holds it), or one, as the last event (the only data
        # that holds it is the last, which is exactly it); either way the payloads are a prefix.
        joined = b"\n".join(encoded)
        hits = joined.count(_DONE_BYTES)
        if hits == 0 or (hits == 1 and encoded[-1] == _DONE_BYTES):
            if hits:  # the joined bytes stay the guard's source: b"\n[DONE]" adds no digit
                encoded = encoded[:-1]
            decoded = _decode_fast(encoded, joined)
            if decoded is not None:
                return decoded
            return _decode_each(list(map(_data_of, parser.events[: len(encoded)])))
    datas = list(map(_data_of, parser.events))
    positions = _payload_positions(datas, stop_at_done)
    return decode_all(_take(datas, positions), encoded=_take(encoded, positions))


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused for a bulk decode. A stream's payloads decode into
    thousands of fresh dicts and lists, which trigger collections that traverse them (and, now
    and then, every object of the process) though JSON values can hold no reference cycle. Plain
    reference counting still frees everything; the collector resumes (if it was on) at the end.

    On success the objects made meanwhile (the decoded payloads, kept with the exchange for the
    whole test) go straight to the oldest generation, as two young collections would move them,
    without those collections: ``gc.freeze()`` + ``gc.unfreeze()`` merge the generations' lists in
    O(1) and reset the young count, where re-enabling alone would collect them at the next allocation."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    except BaseException:
        gc.enable()
        raise
    gc.freeze()
    gc.unfreeze()
    gc.enable()


def decode_all(texts: list[str], *, source: bytes | None = None,
               encoded: list[bytes] | None = None) -> list[Any]:
    """``[loads(t) for t in texts]`` with :data:`NOT_JSON` where ``loads`` raises ``ValueError``.

    The common case, every text decodable by orjson with ``json``'s value (no run of 19 digits
    anywhere, no orjson error), costs one C-level pass per stream: the digit-run guard runs once
    over all texts, and ``map(orjson.loads, ...)`` decodes them; any orjson error sends the
    whole list through :func:`loads` one by one. ``encoded``: ``[t.encode("utf-8", "surrogatepass")
    for t in texts]`` when the caller has them (the parser's :meth:`~conformance.harness.sse.SSEParser.encoded_data`):
    orjson reads those bytes, as it would read each text's UTF-8 form, which it would otherwise make
    and cache in the text. ``source``: bytes in which every run of digits of the texts also appears
    (the raw SSE events they came from), to guard on instead of joining or encoding the texts."""
    if _orjson_loads is not None and texts:
        if source is None:
            source = b"\n".join(encoded) if encoded is not None else "\n".join(texts).encode("utf-8", "surrogatepass")
        decoded = _decode_fast(texts if encoded is None else encoded, source)
        if decoded is not None:
            return decoded
    return _decode_each(texts)


def _decode_fast(items: list[Any], source: bytes) -> list[Any] | None:
    """``list(map(orjson.loads, items))`` when ``source`` (bytes holding every run of digits of the
    items) has no run of 19 digits and orjson decodes every item; None otherwise (then
    :func:`_decode_each` gives the answer)."""
    if not items:
        return []
    if not has_long_digit_run(source):
        try:
            with gc_paused():
                return list(map(_orjson_loads, items))
        except (ValueError, RecursionError):
            pass
    return None


def _decode_each(texts: list[str]) -> list[Any]:
    """:func:`loads` of each text, :data:`NOT_JSON` where it raises ``ValueError``."""
    out: list[Any] = []
    for text in texts:
        try:
            out.append(loads(text))
        except ValueError:
            out.append(NOT_JSON)
    return out


@dataclass(slots=True)
class EventStream:
    """The shared part of a parsed event stream (see the module docstring)."""

    exchange: Exchange
    sse_events: list[SSEEvent] = field(default_factory=list)
    done_indices: list[int] = field(default_factory=list)
    non_json: list[tuple[int, str]] = field(default_factory=list)
    non_object: list[tuple[int, str]] = field(default_factory=list)
    untyped: list[tuple[int, str]] = field(default_factory=list)
    unknown_types: list[tuple[int, str]] = field(default_factory=list)
    unterminated_done: bool = False

    # -- the [DONE] terminator -----------------------------------------------------------
    @property
    def done_index(self) -> int | None:
        """SSE position of the first ``data: [DONE]`` (None when none came)."""
        return self.done_indices[0] if self.done_indices else None

    @property
    def done_count(self) -> int:
        return len(self.done_indices)

    @property
    def after_done(self) -> list[SSEEvent]:
        """Every SSE event after the first ``data: [DONE]`` (further [DONE]s included)."""
        first = self.done_index
        return [] if first is None else self.sse_events[first + 1:]

    # -- diagnostics ---------------------------------------------------------------------
    @property
    def diagnostics(self) -> list[Diagnostic]:
        """The SSE framing diagnostics of the parse (empty without one)."""
        parser = self.exchange.sse
        return list(parser.diagnostics) if parser is not None else []

    @property
    def malformed(self) -> list[tuple[int, str]]:
        """``non_json + non_object`` in stream order."""
        return sorted(self.non_json + self.non_object)

    def unknown_type_names(self) -> list[str]:
        """The distinct unknown types, in order of first appearance."""
        return list(dict.fromkeys(t for _, t in self.unknown_types))

    # -- parsing (for the subclasses) ----------------------------------------------------
    def _scan(self, *, include_done: bool = False, stop_at_done: bool = False
              ) -> Iterator[tuple[int, SSEEvent, dict[str, Any] | None]]:
        """Read the exchange's SSE parse into :attr:`sse_events`, recording every ``data: [DONE]``
        and every payload that is not a JSON object; yield ``(index, event, object)`` (``object``
        None when the data is not a JSON object). ``data: [DONE]`` events are yielded (with None)
        only with ``include_done``; with ``stop_at_done`` nothing after the first [DONE] is parsed
        or yielded (further [DONE]s are still counted)."""
        parser = self.exchange.sse
        if parser is None:
            return
        self.sse_events = list(parser.events)
        tail = parser.unterminated_tail
        if tail is not None and tail.strip().replace("data:", "", 1).strip() == DONE:
            self.unterminated_done = True
        # Decode every payload that will be yielded in one go (decode_all), then walk the events.
        decoded = iter(decode_payloads(parser, stop_at_done=stop_at_done))
        for i, event in enumerate(self.sse_events):
            if event.data == DONE:
                self.done_indices.append(i)
                if include_done:
                    yield i, event, None
                continue
            if stop_at_done and self.done_indices:
                continue
            yield i, event, self._payload(i, event.data, next(decoded))

    def _payload(self, index: int, data: str, payload: Any) -> dict[str, Any] | None:
        """``payload``, the decoded ``data`` (:data:`NOT_JSON` when it is not JSON), when it is a
        JSON object; records it in ``non_json`` / ``non_object`` otherwise."""
        if payload is NOT_JSON:
            self.non_json.append((index, data[:EXCERPT]))
            return None
        if not isinstance(payload, dict):
            self.non_object.append((index, data[:EXCERPT]))
            return None
        return payload

    def _type_of(self, index: int, data: str, payload: dict[str, Any] | None) -> str | None:
        """``payload["type"]`` when it is a string; records the object as untyped otherwise."""
        if payload is None:
            return None
        value = payload.get("type")
        if isinstance(value, str):
            return value
        self.untyped.append((index, data[:EXCERPT]))
        return None

    def _set_first_content(self, t: float | None) -> None:
        if t is not None and self.exchange.first_content_s is None:
            self.exchange.first_content_s = t
