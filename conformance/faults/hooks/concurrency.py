"""Fault hooks across requests: cross-talk between concurrent chat streams (issue 14 §3).

A batching bug hands one sequence's output to another request. These hooks keep state across
exchanges (one :class:`StreamSwap` per fault row, under a lock; shared by the proxies of one
process, which run one at a time in the mutation runner): each chat stream is read whole from the
upstream; when it ends while another chat stream is still in flight (its events hook started and
not ended), it waits for that one (a partner) and the two exchange what the fault swaps. A stream
that ends with no other in flight goes out unchanged at once, so serial traffic is neither swapped
nor delayed. The pairing follows the order in which streams end, so which two streams swap is not
reproducible; that some do, whenever streams overlap, is.

This is the one place where a hook waits on other exchanges (a condition variable); the wait is
bounded (:data:`PARTNER_WAIT_S`, a backstop: a partner in flight always ends, or the last one
waiting is released when no stream is left in flight).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from conformance.faults.model import Event, FaultContext

#: The longest a finished stream waits for a partner still in flight (seconds; a backstop only).
PARTNER_WAIT_S = 120.0


@dataclass
class _Slot:
    events: list[Event]
    given: list[Event] | None = None


@dataclass(eq=False)  # hashed by identity: a Fault row holding it stays hashable
class StreamSwap:
    """An events hook that swaps two concurrent chat streams. ``whole``: the whole streams
    (ids, content, finish and usage: a response delivered to the wrong connection); otherwise
    only the content deltas, each stream keeping its own ids, finish_reason and usage (one
    sequence's tokens handed to another in the batch)."""

    whole: bool
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _in_flight: int = 0
    _waiting: _Slot | None = None

    def __call__(self, ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
        with self._cond:
            self._in_flight += 1
        try:
            own = list(events)
        except BaseException:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()
            raise
        partner = self._pair(own)
        if partner is None:
            yield from own
        elif self.whole:
            yield from partner
        else:
            yield from swap_content(own, partner)

    def _pair(self, own: list[Event]) -> list[Event] | None:
        """Leave the streams in flight and find a partner, in one step under the lock (a waiter
        must not see this stream gone before it is offered as a partner)."""
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()
            waiting = self._waiting
            if waiting is not None:  # a finished stream waits for a partner: exchange with it
                self._waiting = None
                waiting.given = own
                return waiting.events
            if self._in_flight == 0:  # nobody to pair with: serial traffic passes unchanged
                return None
            slot = self._waiting = _Slot(own)
            self._cond.wait_for(lambda: slot.given is not None or self._in_flight == 0, timeout=PARTNER_WAIT_S)
            if slot.given is None and self._waiting is slot:
                self._waiting = None
            return slot.given


def _content_pieces(events: list[Event]) -> list[str]:
    pieces = []
    for event in events:
        obj = event.obj
        for choice in (obj or {}).get("choices") or []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and isinstance(delta.get("content"), str) and delta["content"]:
                pieces.append(delta["content"])
    return pieces


def swap_content(own: list[Event], partner: list[Event]) -> Iterator[Event]:
    """``own`` with its content deltas replaced by ``partner``'s text: piece k of the partner
    goes into own's k-th content delta, the last one takes whatever is left, surplus deltas
    become empty. Everything else (ids, roles, finish_reason, usage, [DONE]) is own's."""
    pieces = _content_pieces(partner)
    slots = sum(1 for _ in _content_pieces(own))
    k = 0
    for event in own:
        obj = event.obj
        changed = False
        for choice in (obj or {}).get("choices") or []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and isinstance(delta.get("content"), str) and delta["content"]:
                k += 1
                delta["content"] = "".join(pieces[k - 1:]) if k == slots else (pieces[k - 1] if k <= len(pieces)
                                                                                else "")
                changed = True
        yield event.with_json(obj) if changed else event
