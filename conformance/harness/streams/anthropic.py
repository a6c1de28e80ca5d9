"""The Anthropic Messages stream layer over the SSE parse: ``event: <type>`` + ``data: <JSON>``.

It only *describes* the stream (which events came, in which order, what is malformed, what the
content blocks add up to); checks judge. The fields it shares with the other layers are defined
once in :mod:`.base`. Reference: docs/wire-protocols.md §2.3 (event sequence) and §2.6 (vLLM / NIM
deviations: ``data: [DONE]`` after ``message_stop``, ``message_start.message`` without
``type``/``role``).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from conformance.harness.exchange import Exchange
from conformance.harness.streams.base import DONE, EventStream

EVENT_TYPES = frozenset({
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
    "error",
})

# Block types whose deltas carry streamed content (the start block is filled by the deltas).
TOOL_BLOCKS = ("tool_use", "server_tool_use")


@dataclass(frozen=True, slots=True)
class AntEvent:
    """One SSE event of a Messages stream with its position."""

    index: int  # position among SSE events
    type: str | None  # data.type when data is a JSON object with a string type, else None
    data: dict[str, Any] | None  # the JSON object, None for [DONE] / non-JSON / non-object data
    event_field: str | None  # the raw ``event:`` value (None when absent)
    t: float  # arrival time (seconds since the stream started)
    raw: str = ""  # the data text as received

    @property
    def is_done(self) -> bool:
        return self.raw == DONE

    def describe(self) -> str:
        """A short label for messages: ``#3 content_block_delta`` or ``#9 data: [DONE]``."""
        if self.type is not None:
            return f"#{self.index} {self.type}"
        text = self.raw if len(self.raw) <= 60 else self.raw[:60] + "…"
        return f"#{self.index} data: {text}"


@dataclass(slots=True)
class Block:
    """A content block rebuilt from its ``content_block_start`` and deltas."""

    index: Any  # the declared index (as sent)
    type: Any  # content_block.type
    start: dict[str, Any]  # the content_block of content_block_start
    start_event: int  # SSE event index of the start
    delta_types: list[Any] = field(default_factory=list)
    stop_event: int | None = None  # SSE event index of the content_block_stop, if any
    text: str = ""
    thinking: str = ""
    signature: str | None = None
    signature_deltas: int = 0
    citations: list[Any] = field(default_factory=list)
    partial_json: str = ""  # input_json_delta pieces concatenated (the raw string)
    input_json_deltas: int = 0
    input: Any = None  # parsed tool input (the start input when no delta came); None if unparsable
    input_error: str | None = None  # why partial_json did not parse as JSON

    @property
    def stopped(self) -> bool:
        return self.stop_event is not None

    def content(self) -> dict[str, Any]:
        """The block as it appears in a non-streamed Message's ``content``."""
        out = copy.deepcopy(self.start)
        if self.type == "text":
            out["text"] = self.text
            if self.citations:
                out["citations"] = list(self.citations)
        elif self.type == "thinking":
            out["thinking"] = self.thinking
            if self.signature is not None:
                out["signature"] = self.signature
        elif self.type in TOOL_BLOCKS or self.input_json_deltas:
            out["input"] = self.input if self.input is not None else out.get("input", {})
        return out


@dataclass(slots=True)
class MessagesStream(EventStream):
    """A parsed ``POST /v1/messages`` stream (``stream: true``). Its :attr:`events` are every SSE
    event, ``data: [DONE]`` included (as an :class:`AntEvent` without data), so that what follows
    ``message_stop`` can be described."""

    events: list[AntEvent] = field(default_factory=list)
    pings: int = 0
    message_stop_index: int | None = None  # SSE event index of the first message_stop
    after_stop: list[AntEvent] = field(default_factory=list)  # everything after it, [DONE] included

    @classmethod
    def from_exchange(cls, exchange: Exchange) -> "MessagesStream":
        stream = cls(exchange=exchange)
        for i, sse_event, payload in stream._scan(include_done=True):
            raw = sse_event.data
            etype = stream._type_of(i, raw, payload)
            event = AntEvent(index=i, type=etype, data=payload, event_field=sse_event.event_field,
                             t=sse_event.t_received, raw=raw)
            stream.events.append(event)
            if stream.message_stop_index is not None:
                stream.after_stop.append(event)
            if etype is None:
                continue
            if etype not in EVENT_TYPES:
                stream.unknown_types.append((i, etype))
            elif etype == "ping":
                stream.pings += 1
            elif etype == "message_stop" and stream.message_stop_index is None:
                stream.message_stop_index = i
        first = stream.first_content_event()
        stream._set_first_content(first.t if first is not None else None)
        return stream

    # -- views ---------------------------------------------------------------------------
    def json_events(self) -> list[AntEvent]:
        """Events whose data is a JSON object (typed or not)."""
        return [e for e in self.events if e.data is not None]

    def of_type(self, *types: str) -> list[AntEvent]:
        return [e for e in self.events if e.type in types]

    @property
    def message_start(self) -> AntEvent | None:
        starts = self.of_type("message_start")
        return starts[0] if starts else None

    @property
    def errors(self) -> list[AntEvent]:
        """Mid-stream ``error`` events."""
        return self.of_type("error")

    def first_content_event(self) -> AntEvent | None:
        """The first delta that carries text, thinking or tool input."""
        for event in self.of_type("content_block_delta"):
            delta = event.data.get("delta") if event.data else None
            if not isinstance(delta, dict):
                continue
            for key in ("text", "thinking", "partial_json"):
                value = delta.get(key)
                if isinstance(value, str) and value:
                    return event
        return None

    def blocks(self) -> list[Block]:
        """Content blocks in the order of their ``content_block_start``. Deltas and stops apply to
        the most recent block with the same index; those for an index never started are ignored
        here (checks judge ordering on :attr:`events`)."""
        out: list[Block] = []
        by_index: dict[Any, Block] = {}
        for event in self.events:
            data = event.data
            if data is None or event.type not in ("content_block_start", "content_block_delta",
                                                  "content_block_stop"):
                continue
            index = data.get("index")
            key = _hashable(index)
            if event.type == "content_block_start":
                start = data.get("content_block")
                start = start if isinstance(start, dict) else {}
                block = Block(index=index, type=start.get("type"), start=start, start_event=event.index)
                if isinstance(start.get("text"), str):
                    block.text = start["text"]
                if isinstance(start.get("thinking"), str):
                    block.thinking = start["thinking"]
                if isinstance(start.get("signature"), str):
                    block.signature = start["signature"]
                if isinstance(start.get("citations"), list):
                    block.citations = list(start["citations"])
                if "input" in start:
                    block.input = copy.deepcopy(start["input"])
                out.append(block)
                by_index[key] = block
                continue
            block = by_index.get(key)
            if block is None:
                continue
            if event.type == "content_block_stop":
                if block.stop_event is None:
                    block.stop_event = event.index
                continue
            delta = data.get("delta")
            delta = delta if isinstance(delta, dict) else {}
            dtype = delta.get("type")
            block.delta_types.append(dtype)
            if dtype == "text_delta" and isinstance(delta.get("text"), str):
                block.text += delta["text"]
            elif dtype == "thinking_delta" and isinstance(delta.get("thinking"), str):
                block.thinking += delta["thinking"]
            elif dtype == "signature_delta":
                block.signature_deltas += 1
                if isinstance(delta.get("signature"), str):
                    block.signature = delta["signature"]
            elif dtype == "citations_delta" and "citation" in delta:
                block.citations.append(delta["citation"])
            elif dtype == "input_json_delta" and isinstance(delta.get("partial_json"), str):
                block.input_json_deltas += 1
                block.partial_json += delta["partial_json"]
        for block in out:
            if block.input_json_deltas:
                block.input, block.input_error = parse_partial_json(block.partial_json)
        return out

    def text(self) -> str:
        """The concatenated text of the text blocks."""
        return "".join(b.text for b in self.blocks() if b.type == "text")

    def message_deltas(self) -> list[AntEvent]:
        return self.of_type("message_delta")

    def output_tokens_sequence(self) -> list[tuple[str, Any]]:
        """``usage.output_tokens`` as reported by message_start then each message_delta:
        ``[(label, value), ...]`` (value as sent, possibly missing → None)."""
        seq: list[tuple[str, Any]] = []
        for event in self.of_type("message_start", "message_delta"):
            data = event.data or {}
            if event.type == "message_start":
                message = data.get("message")
                usage = message.get("usage") if isinstance(message, dict) else None
            else:
                usage = data.get("usage")
            value = usage.get("output_tokens") if isinstance(usage, dict) else None
            seq.append((event.describe(), value))
        return seq

    def final_message(self) -> dict[str, Any] | None:
        """The message the stream adds up to, as a non-streamed Message: ``message_start.message``
        with the rebuilt content, stop_reason/stop_sequence (and the other delta fields) from the
        message_deltas, and usage updated by each message_delta's cumulative usage (later non-null
        values replace earlier ones). None without a message_start."""
        start = self.message_start
        message = start.data.get("message") if start is not None and start.data else None
        if not isinstance(message, dict):
            return None
        out = copy.deepcopy(message)
        out["content"] = [b.content() for b in self.blocks()]
        usage = out.get("usage")
        usage = copy.deepcopy(usage) if isinstance(usage, dict) else {}
        for event in self.message_deltas():
            data = event.data or {}
            delta = data.get("delta")
            if isinstance(delta, dict):
                for key, value in delta.items():
                    out[key] = copy.deepcopy(value)
            delta_usage = data.get("usage")
            if isinstance(delta_usage, dict):
                for key, value in delta_usage.items():
                    if value is not None:
                        usage[key] = copy.deepcopy(value)
        out["usage"] = usage
        return out


def parse_partial_json(text: str) -> tuple[Any, str | None]:
    """Parse concatenated ``input_json_delta`` pieces: ``("", ...)`` is ``{}``; returns
    ``(value, None)`` or ``(None, reason)``."""
    if not text.strip():
        return {}, None
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, f"{type(exc).__name__}: {exc}"


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return json.dumps(value, sort_keys=True, default=str)
    return value
