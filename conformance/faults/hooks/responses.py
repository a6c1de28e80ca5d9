"""Fault hooks for the OpenAI Responses API (event streams and bodies)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from conformance.faults.hooks.common import is_int
from conformance.faults.model import Event, FaultContext


# --- Responses ------------------------------------------------------------------------------------


TERMINAL = ("response.completed", "response.failed", "response.incomplete")


def no_sequence_number(ctx: FaultContext, obj: dict[str, Any]) -> dict[str, Any]:
    obj.pop("sequence_number", None)
    return obj


def completed_not_last(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    last_delta: Event | None = None
    done = False
    for event in events:
        yield event
        obj = event.obj
        kind = obj.get("type") if obj is not None else None
        if kind == "response.output_text.delta":
            last_delta = event
        elif kind in TERMINAL and not done:
            done = True
            extra = last_delta.obj if last_delta is not None else None
            if extra is None:
                extra = {"type": "response.output_text.delta", "item_id": "msg_llmconf", "output_index": 0,
                         "content_index": 0, "delta": " "}
            if is_int(obj.get("sequence_number")):
                extra["sequence_number"] = obj["sequence_number"] + 1
            yield Event.make(extra, type="response.output_text.delta" if event.type else None, eol=event.eol)


def delta_text_mismatch(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    done = False
    for event in events:
        obj = event.obj
        if not done and obj is not None and obj.get("type") == "response.output_text.delta" \
                and isinstance(obj.get("delta"), str):
            done = True
            obj["delta"] += "~"
            yield event.with_json(obj)
            continue
        yield event


def complete_response(response: Any) -> Any:
    if not isinstance(response, dict):
        return response
    if response.get("status") == "incomplete":
        response["status"] = "completed"
    response.pop("incomplete_details", None)
    for item in response.get("output") or []:
        if isinstance(item, dict) and item.get("status") == "incomplete":
            item["status"] = "completed"
    return response


def completed_on_truncation_event(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    for event in events:
        obj = event.obj
        if obj is None:
            yield event
            continue
        original = copy.deepcopy(obj)
        renamed = False
        if obj.get("type") == "response.incomplete":
            obj["type"] = "response.completed"
            renamed = event.type == "response.incomplete"
        if isinstance(obj.get("response"), dict):
            complete_response(obj["response"])
        item = obj.get("item")
        if isinstance(item, dict) and item.get("status") == "incomplete":
            item["status"] = "completed"
        if obj == original:
            yield event
            continue
        changed = event.with_json(obj)
        yield changed.with_type("response.completed") if renamed else changed


# --- stream / non-stream parity (issue 14 §1) ----------------------------------------------------

#: input_tokens added to a Responses stream's terminal usage (total_tokens follows).
STREAM_EXTRA_INPUT = 4


def stream_usage_mismatch(ctx: FaultContext, obj: dict[str, Any]) -> dict[str, Any]:
    """The usage of a Responses stream's terminal event bills more input tokens (total follows);
    blocking answers are left alone."""
    response = obj.get("response") if obj.get("type") in TERMINAL else None
    usage = response.get("usage") if isinstance(response, dict) else None
    if isinstance(usage, dict) and is_int(usage.get("input_tokens")):
        usage["input_tokens"] += STREAM_EXTRA_INPUT
        if is_int(usage.get("total_tokens")):
            usage["total_tokens"] += STREAM_EXTRA_INPUT
    return obj
