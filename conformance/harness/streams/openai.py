"""The chat/completions chunk layer over the SSE parse: ``data:`` is JSON or exactly ``[DONE]``.

It only *describes* the stream (what came, in which order, what is malformed); checks judge.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from conformance.harness.client import Exchange
from conformance.harness.sse import SSEEvent

DONE = "[DONE]"


@dataclass(frozen=True, slots=True)
class Chunk:
    """One JSON chunk with its position in the stream."""

    index: int  # position among JSON chunks
    event_index: int  # position among SSE events
    data: dict[str, Any]
    t: float

    @property
    def choices(self) -> list[dict[str, Any]]:
        value = self.data.get("choices")
        return value if isinstance(value, list) else []

    @property
    def usage(self) -> Any:
        return self.data.get("usage")


@dataclass(slots=True)
class ChunkStream:
    """A parsed chat or text completions stream."""

    exchange: Exchange
    events: list[SSEEvent] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    done_event_index: int | None = None
    done_count: int = 0
    after_done: list[SSEEvent] = field(default_factory=list)
    non_json: list[tuple[int, str]] = field(default_factory=list)  # (event index, data excerpt)
    non_object: list[tuple[int, str]] = field(default_factory=list)  # JSON but not an object
    error_chunks: list[Chunk] = field(default_factory=list)  # {"error": ...} frames
    named_events: list[tuple[int, str]] = field(default_factory=list)  # events with an event: field
    unterminated_done: bool = False  # a final "data: [DONE]" without the blank line (discarded)

    @classmethod
    def from_exchange(cls, exchange: Exchange) -> "ChunkStream":
        stream = cls(exchange=exchange)
        parser = exchange.sse
        if parser is None:
            return stream
        stream.events = list(parser.events)
        for i, event in enumerate(stream.events):
            if event.event_field is not None:
                stream.named_events.append((i, event.event_field))
            if stream.done_event_index is not None:
                stream.after_done.append(event)
            if event.data == DONE:
                stream.done_count += 1
                if stream.done_event_index is None:
                    stream.done_event_index = i
                continue
            if stream.done_event_index is not None:
                continue
            try:
                payload = json.loads(event.data)
            except ValueError:
                stream.non_json.append((i, event.data[:200]))
                continue
            if not isinstance(payload, dict):
                stream.non_object.append((i, event.data[:200]))
                continue
            chunk = Chunk(index=len(stream.chunks), event_index=i, data=payload, t=event.t_received)
            if "error" in payload or payload.get("object") == "error":
                # {"error": {...}} (OpenAI, vLLM), flat {"object": "error", ...} (vLLM < 0.10.1,
                # SGLang) or a chunk that carries both choices and an error (OpenRouter style).
                stream.error_chunks.append(chunk)
                if "choices" not in payload:
                    continue
            stream.chunks.append(chunk)
        tail = parser.unterminated_tail
        if tail is not None and tail.strip().replace("data:", "", 1).strip() == DONE:
            stream.unterminated_done = True
        first = stream.first_content_chunk()
        if first is not None and exchange.first_content_s is None:
            exchange.first_content_s = first.t
        return stream

    # -- views ---------------------------------------------------------------------------
    def choice_deltas(self) -> Iterator[tuple[Chunk, dict[str, Any]]]:
        for chunk in self.chunks:
            for choice in chunk.choices:
                if isinstance(choice, dict):
                    yield chunk, choice

    def by_choice(self) -> dict[int, list[tuple[Chunk, dict[str, Any]]]]:
        out: dict[int, list[tuple[Chunk, dict[str, Any]]]] = {}
        for chunk, choice in self.choice_deltas():
            index = choice.get("index")
            out.setdefault(index if isinstance(index, int) else -1, []).append((chunk, choice))
        return out

    def first_content_chunk(self) -> Chunk | None:
        for chunk, choice in self.choice_deltas():
            if _has_content(choice):
                return chunk
        return None

    def text(self, choice_index: int = 0) -> str:
        """Concatenated content deltas (chat ``delta.content`` or completions ``text``)."""
        parts = []
        for _, choice in self.by_choice().get(choice_index, []):
            delta = choice.get("delta")
            if isinstance(delta, dict):
                content = delta.get("content")
                if isinstance(content, str):
                    parts.append(content)
            elif isinstance(choice.get("text"), str):
                parts.append(choice["text"])
        return "".join(parts)

    def finish_reasons(self, choice_index: int = 0) -> list[Any]:
        return [
            c.get("finish_reason")
            for _, c in self.by_choice().get(choice_index, [])
            if c.get("finish_reason") is not None
        ]

    def usage_chunks(self) -> list[Chunk]:
        """Chunks whose ``usage`` is present and not null."""
        return [c for c in self.chunks if c.usage is not None]

    def final_usage(self) -> dict[str, Any] | None:
        chunks = self.usage_chunks()
        usage = chunks[-1].usage if chunks else None
        return usage if isinstance(usage, dict) else None


def _has_content(choice: dict[str, Any]) -> bool:
    delta = choice.get("delta")
    if isinstance(delta, dict):
        for key in ("content", "reasoning_content", "reasoning", "refusal"):
            if isinstance(delta.get(key), str) and delta[key]:
                return True
        return bool(delta.get("tool_calls"))
    return isinstance(choice.get("text"), str) and bool(choice["text"])
