"""Fault hooks for Anthropic Messages (streams, bodies) and count_tokens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from conformance.faults.hooks.common import corrupt_json_text, is_int
from conformance.faults.model import Event, FaultContext, dumps


# --- Anthropic Messages ---------------------------------------------------------------------------


def double_message_start(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    doubled = False
    for event in events:
        yield event
        if not doubled and event.data_type == "message_start":
            doubled = True
            yield event.copy()


def block_before_message_start(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    held: list[Event] = []
    holding = True
    for event in events:
        if not holding:
            yield event
        elif event.data_type == "content_block_start":
            holding = False
            yield event
            yield from held
        else:
            held.append(event)
    if holding:
        yield from held


def event_name_mismatch(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    # The first content_block_delta is announced as a message_delta (or, in a stream without
    # deltas, the first message_delta as a content_block_delta).
    renames = {"content_block_delta": "message_delta", "message_delta": "content_block_delta"}
    done = False
    for event in events:
        kind = event.data_type
        if not done and kind in renames:
            done = True
            yield event.with_type(renames[kind])
        else:
            yield event


def invalid_input_json_stream(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    tool_blocks: set[Any] = set()
    corrupted: set[Any] = set()
    for event in events:
        obj = event.obj
        kind = obj.get("type") if obj is not None else None
        if kind == "content_block_start":
            block = obj.get("content_block")
            if isinstance(block, dict) and block.get("type") in ("tool_use", "server_tool_use"):
                tool_blocks.add(obj.get("index"))
        elif kind == "content_block_delta" and obj.get("index") in tool_blocks and obj.get("index") not in corrupted:
            delta = obj.get("delta")
            if isinstance(delta, dict) and delta.get("type") == "input_json_delta" \
                    and isinstance(delta.get("partial_json"), str) and delta["partial_json"]:
                delta["partial_json"] = "{" + delta["partial_json"]
                corrupted.add(obj["index"])
                yield event.with_json(obj)
                continue
        elif kind == "content_block_stop" and obj.get("index") in tool_blocks and obj.get("index") not in corrupted:
            corrupted.add(obj.get("index"))
            extra = {"type": "content_block_delta", "index": obj.get("index"),
                     "delta": {"type": "input_json_delta", "partial_json": "{"}}
            yield Event.make(extra, type="content_block_delta" if event.type else None, eol=event.eol)
        yield event


def invalid_input_json_body(ctx: FaultContext, body: Any) -> Any:
    content = body.get("content") if isinstance(body, dict) else None
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") in ("tool_use", "server_tool_use"):
            block["input"] = corrupt_json_text(dumps(block.get("input", {})))
    return body


def count_tokens_off(ctx: FaultContext, body: Any) -> Any:
    if isinstance(body, dict) and is_int(body.get("input_tokens")):
        body["input_tokens"] += 3
    return body


# --- stream / non-stream parity (issue 14 §1) ----------------------------------------------------


def output_tokens_undercount(ctx: FaultContext, obj: dict[str, Any]) -> dict[str, Any]:
    """Every message_delta reports a cumulative usage.output_tokens of 1 (one that carried no usage
    gets one): never below message_start's 0 or 1, so the count never decreases."""
    if obj.get("type") != "message_delta":
        return obj
    usage = obj.get("usage")
    if not isinstance(usage, dict):
        usage = obj["usage"] = {}
    usage["output_tokens"] = 1
    return obj
