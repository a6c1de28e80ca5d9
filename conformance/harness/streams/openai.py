"""The chat/completions chunk layer over the SSE parse: ``data:`` is JSON or exactly ``[DONE]``.

It only *describes* the stream (what came, in which order, what is malformed); checks judge. The
fields it shares with the other layers are defined once in :mod:`.base`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from conformance.harness.exchange import Exchange
from conformance.harness.streams.base import EventStream



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
class ChunkStream(EventStream):
    """A parsed chat or text completions stream. Its :attr:`events` are the chunks; chunks carry no
    ``type``, so ``untyped`` stays empty, and ``unknown_types`` lists the events that carry an
    ``event:`` field (these streams use none). Nothing after the first ``data: [DONE]`` is parsed
    (it is in :attr:`after_done`)."""

    chunks: list[Chunk] = field(default_factory=list)
    error_chunks: list[Chunk] = field(default_factory=list)  # {"error": ...} frames

    @property
    def events(self) -> list[Chunk]:
        """The layer's parsed events: the JSON chunks (error-only frames are in error_chunks)."""
        return self.chunks

    @classmethod
    def from_exchange(cls, exchange: Exchange) -> "ChunkStream":
        stream = cls(exchange=exchange)
        for i, event, payload in stream._scan(stop_at_done=True):
            if event.event_field is not None:
                stream.unknown_types.append((i, event.event_field))
            if payload is None:
                continue
            chunk = Chunk(index=len(stream.chunks), event_index=i, data=payload, t=event.t_received)
            if "error" in payload or payload.get("object") == "error":
                # {"error": {...}} (OpenAI, vLLM), flat {"object": "error", ...} (vLLM < 0.10.1,
                # SGLang) or a chunk that carries both choices and an error (OpenRouter style).
                stream.error_chunks.append(chunk)
                if "choices" not in payload:
                    continue
            stream.chunks.append(chunk)
        first = stream.first_content_chunk()
        stream._set_first_content(first.t if first is not None else None)
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

    def tool_calls(self, choice_index: int = 0) -> list["ReassembledCall"]:
        """The streamed ``delta.tool_calls`` fragments of one choice merged by ``index`` (as the
        SDK accumulators do), in order of first appearance. Malformed fragments never raise: the
        ones that belong to a call are listed in its ``problems``, the others (no usable index,
        not an object) in :meth:`tool_call_problems`."""
        return _reassemble_tool_calls(self, choice_index)[0]

    def tool_call_problems(self, choice_index: int = 0) -> list[str]:
        """Tool-call fragments of one choice that could not be attached to any call."""
        return _reassemble_tool_calls(self, choice_index)[1]


def _has_content(choice: dict[str, Any]) -> bool:
    delta = choice.get("delta")
    if isinstance(delta, dict):
        for key in ("content", "reasoning_content", "reasoning", "refusal"):
            if isinstance(delta.get(key), str) and delta[key]:
                return True
        return bool(delta.get("tool_calls"))
    return isinstance(choice.get("text"), str) and bool(choice["text"])


# --- tool-call reassembly ------------------------------------------------------------------

TOOL_CALL_FIRST_KEYS = ("id", "type", "name")


@dataclass(frozen=True, slots=True)
class ReassembledCall:
    """One streamed tool call rebuilt from its fragments (every ``delta.tool_calls[]`` entry with
    the same ``index``).

    ``name`` and ``arguments`` are the concatenation of every string fragment, as the SDK
    accumulators build them (a name repeated in every fragment therefore shows up doubled, as a
    client would see it). ``id`` and ``type`` are the first non-empty values; every distinct id
    seen is kept in ``ids`` (several ids at one index = calls merged into one index)."""

    index: int
    id: str | None
    type: str | None
    name: str | None
    arguments: str
    fragments: int  # number of tool_calls entries with this index
    name_fragments: int  # how many of them carried a non-empty name
    first_fragment_keys: frozenset[str]  # subset of {"id", "type", "name"} set in the first fragment
    order: int  # position of first appearance among this choice's calls (0, 1, ...)
    first_chunk: int = -1  # Chunk.index of the first fragment
    ids: tuple[str, ...] = ()  # distinct non-empty ids, in order of appearance
    id_fragments: int = 0  # how many fragments carried a non-empty id (an SDK concatenates repeats)
    name_parts: tuple[str, ...] = ()  # each non-empty name fragment, in order
    problems: tuple[str, ...] = ()  # malformed fragments of this call (never raised here)


@dataclass(slots=True)
class _CallAcc:
    index: int
    order: int
    first_chunk: int
    first_fragment_keys: frozenset[str]
    type: str | None = None
    ids: list[str] = field(default_factory=list)
    id_fragments: int = 0
    name_parts: list[str] = field(default_factory=list)
    arguments: list[str] = field(default_factory=list)
    fragments: int = 0
    problems: list[str] = field(default_factory=list)

    def freeze(self) -> ReassembledCall:
        return ReassembledCall(
            index=self.index, id=self.ids[0] if self.ids else None, type=self.type,
            name="".join(self.name_parts) if self.name_parts else None, arguments="".join(self.arguments),
            fragments=self.fragments, name_fragments=len(self.name_parts),
            first_fragment_keys=self.first_fragment_keys, order=self.order, first_chunk=self.first_chunk,
            ids=tuple(self.ids), id_fragments=self.id_fragments, name_parts=tuple(self.name_parts),
            problems=tuple(self.problems),
        )


def _set(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _reassemble_tool_calls(stream: ChunkStream, choice_index: int) -> tuple[list[ReassembledCall], list[str]]:
    calls: dict[int, _CallAcc] = {}
    loose: list[str] = []
    for chunk, choice in stream.by_choice().get(choice_index, []):
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            continue
        entries = delta.get("tool_calls")
        if entries is None:
            continue
        if not isinstance(entries, list):
            loose.append(f"chunk {chunk.index}: delta.tool_calls is not a list: {_short(entries)}")
            continue
        for pos, entry in enumerate(entries):
            where = f"chunk {chunk.index} tool_calls[{pos}]"
            if not isinstance(entry, dict):
                loose.append(f"{where}: not an object: {_short(entry)}")
                continue
            index = entry.get("index")
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                loose.append(f"{where}: no usable index ({_short(index)}): {_short(entry)}")
                continue
            function = entry.get("function")
            fn = function if isinstance(function, dict) else {}
            acc = calls.get(index)
            if acc is None:
                keys = {k for k in ("id", "type") if _set(entry.get(k))}
                if _set(fn.get("name")):
                    keys.add("name")
                acc = _CallAcc(index=index, order=len(calls), first_chunk=chunk.index,
                               first_fragment_keys=frozenset(keys))
                calls[index] = acc
            acc.fragments += 1
            if function is not None and not isinstance(function, dict):
                acc.problems.append(f"{where}: function is not an object: {_short(function)}")
            call_id = entry.get("id")
            if _set(call_id):
                acc.id_fragments += 1
                if call_id not in acc.ids:
                    acc.ids.append(call_id)
            elif call_id not in (None, ""):
                acc.problems.append(f"{where}: id is not a string: {_short(call_id)}")
            ctype = entry.get("type")
            if _set(ctype):
                if acc.type is None:
                    acc.type = ctype
                elif ctype != acc.type:
                    acc.problems.append(f"{where}: type changes from {acc.type!r} to {ctype!r}")
            elif ctype not in (None, ""):
                acc.problems.append(f"{where}: type is not a string: {_short(ctype)}")
            name = fn.get("name")
            if _set(name):
                acc.name_parts.append(name)
            elif name not in (None, ""):
                acc.problems.append(f"{where}: function.name is not a string: {_short(name)}")
            arguments = fn.get("arguments")
            if isinstance(arguments, str):
                acc.arguments.append(arguments)
            elif arguments is not None:
                acc.problems.append(f"{where}: function.arguments is not a string: {_short(arguments)}")
    return [acc.freeze() for acc in sorted(calls.values(), key=lambda a: a.order)], loose


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "…"
