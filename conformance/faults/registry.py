"""The fault registry, re-exported from where it lives (kept as the stable import path):

* ``conformance.faults.model``: :class:`Fault`, :class:`Hooks`, :class:`Request`,
  :class:`Response`, :class:`Hold`, :class:`Event`, :class:`FaultContext`, route constants;
* ``conformance.faults.stream``: :class:`BlockSplitter`, :func:`iter_events`;
* ``conformance.faults.hooks``: the hook functions per API family, and their helpers;
* ``conformance.faults.table``: :data:`FAULTS`, :class:`UnknownFault`, :func:`resolve`.
"""

from __future__ import annotations

from conformance.faults.hooks.common import corrupt_json_text, map_json_body, map_json_events
from conformance.faults.hooks.neutral import MAX_STRUCTURAL_CUTS, split_points
from conformance.faults.model import (
    BOM,
    CHAT,
    COMPLETIONS,
    COUNT_TOKENS,
    DONE,
    EMBEDDINGS,
    EOL_RE,
    EXTRA_FIELD,
    KEEPALIVE,
    MESSAGES,
    MODELS,
    NAME_RE,
    OPENAI_ROUTES,
    READY,
    RESPONSES,
    WIRE_CONTENT,
    WIRE_CUTTING,
    WIRE_LINE_ENDINGS,
    Event,
    EventsHook,
    Fault,
    FaultContext,
    Hold,
    Hooks,
    Request,
    RequestHook,
    Response,
    ResponseHook,
    WireHook,
)
from conformance.faults.stream import BlockSplitter, iter_events
from conformance.faults.table import FAULTS, UnknownFault, resolve

__all__ = [
    "BOM", "CHAT", "COMPLETIONS", "COUNT_TOKENS", "DONE", "EMBEDDINGS", "EOL_RE", "EXTRA_FIELD", "FAULTS",
    "KEEPALIVE", "MAX_STRUCTURAL_CUTS", "MESSAGES", "MODELS", "NAME_RE", "OPENAI_ROUTES", "READY", "RESPONSES",
    "WIRE_CONTENT", "WIRE_CUTTING", "WIRE_LINE_ENDINGS", "BlockSplitter", "Event", "EventsHook", "Fault",
    "FaultContext", "Hold", "Hooks", "Request", "RequestHook", "Response", "ResponseHook", "UnknownFault", "WireHook",
    "corrupt_json_text", "iter_events", "map_json_body", "map_json_events", "resolve", "split_points",
]
