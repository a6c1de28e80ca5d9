"""Neutral transformations: they change the wire but not the meaning (line endings, keep-alive
comments, write cutting, unknown fields, multi-token chunks). A correct suite flags none of them."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from typing import Any

from conformance.faults.model import EOL_RE, EXTRA_FIELD, Event, FaultContext, WireHook


# --- neutral transformations ----------------------------------------------------------------------


def line_endings(eol: bytes) -> WireHook:
    def hook(ctx: FaultContext, event: Event, writes: list[bytes]) -> list[bytes]:
        return [EOL_RE.sub(eol, w) for w in writes]

    return hook


def keepalive(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    first = True
    for event in events:
        if event.is_event:
            if not first:
                yield Event.comment(eol=event.eol)
            first = False
        yield event


MAX_STRUCTURAL_CUTS = 6


def split_points(data: bytes, rng: random.Random, *, extra: int = 3) -> list[int]:
    """Where to cut one event's bytes: inside CRLF pairs, inside multi-byte UTF-8 sequences (a
    few of each) and at ``extra`` random offsets."""
    cuts: set[int] = set()
    crlf = [m.start() + 1 for m in re.finditer(rb"\r\n", data)][:MAX_STRUCTURAL_CUTS]
    cuts.update(crlf)
    utf8 = [i + 1 for i, b in enumerate(data[:-1]) if b >= 0xC0 and b != 0xFF][:MAX_STRUCTURAL_CUTS]
    cuts.update(utf8)
    if len(data) > 1:
        cuts.update(rng.randrange(1, len(data)) for _ in range(extra))
    return sorted(c for c in cuts if 0 < c < len(data))


def split_bytes(ctx: FaultContext, event: Event, writes: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for data in writes:
        start = 0
        for cut in split_points(data, ctx.rng):
            out.append(data[start:cut])
            start = cut
        out.append(data[start:])
    return [w for w in out if w]


def add_extra_field(ctx: FaultContext, obj: dict[str, Any]) -> dict[str, Any]:
    obj[EXTRA_FIELD] = 1
    return obj


def add_extra_field_body(ctx: FaultContext, body: Any) -> Any:
    if isinstance(body, dict):
        body[EXTRA_FIELD] = 1
    return body


#: At most this many consecutive text chunks become one: what vLLM's MTP speculative decoding
#: with ``num_speculative_tokens`` 2 (the NIM Nemotron 3 Ultra seed) emits per step, 1 + 2 tokens.
MTP_TOKENS_PER_STEP = 3
_TEXT_CHOICE_KEYS = frozenset({"index", "delta", "text", "finish_reason", "logprobs", "stop_reason"})
_TEXT_FIELDS = ("content", "reasoning", "reasoning_content")


def _text_piece(obj: dict[str, Any] | None) -> tuple[tuple[Any, ...], str] | None:
    """(merge key, text) of a chat or text completions chunk that carries only one choice's text
    (one delta field: content, reasoning or reasoning_content; or completions ``text``) and nothing
    else of meaning (no role, tool calls, finish, logprobs, usage); None for any other event."""
    if obj is None or "type" in obj or "error" in obj or obj.get("usage") is not None:
        return None
    choices = obj.get("choices")
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
        return None
    choice = choices[0]
    if set(choice) - _TEXT_CHOICE_KEYS or any(choice.get(k) is not None for k in ("finish_reason", "logprobs",
                                                                                   "stop_reason")):
        return None
    others = tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in obj.items() if k != "choices"))
    if "delta" in choice:
        delta = choice["delta"]
        if "text" in choice or not isinstance(delta, dict) or len(delta) != 1:
            return None
        (field, text), = delta.items()
        if field not in _TEXT_FIELDS or not isinstance(text, str) or not text:
            return None
        return (others, choice.get("index"), "delta", field), text
    text = choice.get("text")
    if not isinstance(text, str) or not text:
        return None
    return (others, choice.get("index"), "text"), text


def _merged(event: Event, texts: list[str]) -> Event:
    if len(texts) == 1:
        return event
    obj = event.obj
    assert obj is not None
    choice = obj["choices"][0]
    if "delta" in choice:
        (field, _), = choice["delta"].items()
        choice["delta"][field] = "".join(texts)
    else:
        choice["text"] = "".join(texts)
    return event.with_json(obj)


def coalesce_chunks(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    """Multi-token prediction: up to :data:`MTP_TOKENS_PER_STEP` consecutive chat / completions
    chunks that carry only the same choice's text in the same field (and otherwise identical
    chunk fields) become one chunk with the texts joined. Chunks with a role, tool calls, a
    finish reason, logprobs or usage, and any other block, pass unchanged (and end a run)."""
    pending: tuple[Event, tuple[Any, ...], list[str]] | None = None
    for event in events:
        piece = _text_piece(event.obj) if event.is_event and not event.is_done else None
        if pending is not None and piece is not None and piece[0] == pending[1] \
                and len(pending[2]) < MTP_TOKENS_PER_STEP:
            pending[2].append(piece[1])
            continue
        if pending is not None:
            yield _merged(pending[0], pending[2])
            pending = None
        if piece is not None:
            pending = (event, piece[0], [piece[1]])
            continue
        yield event
    if pending is not None:
        yield _merged(pending[0], pending[2])
