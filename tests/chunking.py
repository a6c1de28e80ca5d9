"""Cutting a byte string into chunks at Hypothesis-drawn offsets (the SSE parser property tests)."""

from __future__ import annotations


def chunked(data: bytes, cuts: list[int], *, keep_empty: bool = True) -> list[bytes]:
    """``data`` cut at ``cuts`` (taken modulo ``len(data) + 1``, deduplicated); with ``keep_empty``
    the empty chunks a cut at the same place or an end makes are kept (``feed`` must accept them),
    otherwise dropped (at least ``[b""]``)."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    out.append(data[last:])
    return out if keep_empty else ([c for c in out if c] or [b""])
