"""Neutral transformations: they change the wire but not the meaning (line endings, keep-alive
comments, write cutting, unknown fields). A correct suite flags none of them."""

from __future__ import annotations

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
