"""Checks for Anthropic extended thinking (ANT-THINK-001): thinking blocks before the text and
their streamed signature. Thinking signatures are never verified (vLLM sends a random
``uuid4().hex``; wire-protocols.md §2.6).

``message`` arguments are a non-streamed Message body, ``MessagesStream.final_message()`` or the
:class:`MessagesStream` itself.
"""

from __future__ import annotations

import json
from typing import Any

from conformance.harness.checks import check, fail
from conformance.harness.checks.anthropic import message_text, require_message
from conformance.harness.checks.reasoning import THINK_TAG
from conformance.harness.failures import NotApplicable
from conformance.harness.streams.anthropic import MessagesStream


def _short(text: Any, limit: int = 160) -> str:
    text = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def _has_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())



@check("ANT-THINK-001")
def thinking_blocks_present(message: Any) -> None:
    """With thinking enabled the message has a thinking block with non-empty thinking (or a
    redacted_thinking block) before its first text block."""
    body = require_message(message)
    content = body.get("content")
    content = content if isinstance(content, list) else []
    first_text = next((i for i, b in enumerate(content) if isinstance(b, dict) and b.get("type") == "text"), None)
    thinking = [(i, b) for i, b in enumerate(content)
                if isinstance(b, dict) and b.get("type") in ("thinking", "redacted_thinking")]
    types = [b.get("type") if isinstance(b, dict) else b for b in content]
    if not thinking:
        text = message_text(body)
        hint = " (the text carries <think> tags)" if THINK_TAG.search(text) else ""
        raise fail(f"no thinking block with thinking enabled{hint}", expected="a thinking block before the text",
                   actual=f"content block types {types}; text: {_short(text, 80)!r}")
    filled = [(i, b) for i, b in thinking
              if _has_text(b.get("thinking")) or (b.get("type") == "redacted_thinking" and _has_text(b.get("data")))]
    if not filled:
        i, block = thinking[0]
        raise fail(f"thinking block content[{i}] is empty", expected="non-empty thinking text",
                   actual=block)
    if first_text is not None and filled[0][0] > first_text:
        raise fail(f"the first thinking block (content[{filled[0][0]}]) comes after the text (content[{first_text}])",
                   expected="thinking before text", actual=types)


@check("ANT-THINK-001")
def thinking_stream_signed(stream: MessagesStream) -> None:
    """Every streamed thinking block gets at least one thinking_delta and exactly one
    signature_delta, which is its last delta before content_block_stop (the signature's value is
    not verified)."""
    open_blocks: dict[Any, dict[str, Any]] = {}
    thinking: list[dict[str, Any]] = []
    for event in stream.events:
        data = event.data
        if data is None or event.type not in ("content_block_start", "content_block_delta", "content_block_stop"):
            continue
        index = data.get("index")
        key = json.dumps(index, sort_keys=True, default=str)
        if event.type == "content_block_start":
            start = data.get("content_block")
            if isinstance(start, dict) and start.get("type") == "thinking":
                state = {"index": index, "deltas": [], "stopped": False, "late": None, "start": event.describe()}
                thinking.append(state)
                open_blocks[key] = state
            else:
                open_blocks.pop(key, None)
            continue
        state = open_blocks.get(key)
        if state is None:
            continue
        if event.type == "content_block_stop":
            state["stopped"] = True
            continue
        delta = data.get("delta")
        dtype = delta.get("type") if isinstance(delta, dict) else None
        if state["stopped"] and state["late"] is None:
            state["late"] = f"{event.describe()} ({dtype})"
        state["deltas"].append(dtype)
    if not thinking:
        starts = [e.data.get("content_block", {}).get("type") for e in stream.events
                  if e.type == "content_block_start" and isinstance(e.data, dict)
                  and isinstance(e.data.get("content_block"), dict)]
        raise NotApplicable(f"ANT-THINK-001: the stream has no thinking block to check the signature of (block types "
                            f"{starts}; thinking_blocks_present judges the absence)")
    for state in thinking:
        index, deltas = state["index"], state["deltas"]
        if state["late"] is not None:
            raise fail(f"thinking block {index}: delta after its content_block_stop",
                       expected="thinking_delta…, one signature_delta, then content_block_stop",
                       actual=state["late"])
        if "thinking_delta" not in deltas:
            raise fail(f"thinking block {index} has no thinking_delta", expected="≥ 1 thinking_delta",
                       actual=deltas)
        signatures = deltas.count("signature_delta")
        if signatures == 0:
            raise fail(f"thinking block {index} has no signature_delta", expected="exactly one signature_delta",
                       actual=deltas)
        if signatures > 1:
            raise fail(f"thinking block {index} has {signatures} signature_delta events",
                       expected="exactly one signature_delta", actual=deltas)
        if deltas[-1] != "signature_delta":
            raise fail(f"thinking block {index}: the signature_delta is not its last delta",
                       expected="signature_delta last before content_block_stop", actual=deltas)
        if not state["stopped"]:
            raise fail(f"thinking block {index} never stopped", expected="content_block_stop after the signature_delta",
                       actual="end of stream")
