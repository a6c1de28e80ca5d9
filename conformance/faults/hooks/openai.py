"""Fault hooks for OpenAI chat and text completions: stream framing, usage, tool calls, reasoning,
structured output."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from conformance.faults.hooks.common import choices_of, corrupt_json_text, delta_of, is_int, message_of, tool_fragments
from conformance.faults.model import Event, FaultContext, Request


# --- OpenAI chat streams -------------------------------------------------------------------------


def drop_done(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    for event in events:
        if not event.is_done:
            yield event


def data_after_done(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    last: Event | None = None
    sent = False
    for event in events:
        yield event
        if event.is_done and not sent:
            sent = True
            yield last.copy() if last is not None else Event.make(
                {"object": "chat.completion.chunk", "choices": []}, eol=event.eol)
        elif event.obj is not None:
            last = event


def two_finish_reasons(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    for event in events:
        yield event
        obj = event.obj
        finals = [c for c in choices_of(obj) if c.get("finish_reason") is not None]
        if obj is not None and finals:
            dup = {k: v for k, v in obj.items() if k != "usage"}
            dup["choices"] = [{**c, "delta": {}} for c in finals]
            yield event.with_json(dup)


def missing_role(ctx: FaultContext, obj: dict[str, Any]) -> dict[str, Any]:
    for choice in choices_of(obj):
        delta = delta_of(choice)
        if delta is not None:
            delta.pop("role", None)
    return obj


def chunk_id_drift(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    seen = 0
    for event in events:
        obj = event.obj
        if obj is None or "choices" not in obj:
            yield event
            continue
        seen += 1
        if seen == 1:
            yield event
            continue
        original = obj.get("id")
        obj["id"] = f"{original}-drift{seen}" if isinstance(original, str) else f"chatcmpl-drift{seen}"
        yield event.with_json(obj)


def force_include_usage(ctx: FaultContext, request: Request) -> Request:
    body = request.json
    if not isinstance(body, dict) or body.get("stream") is not True:
        return request
    options = body.get("stream_options")
    options = dict(options) if isinstance(options, dict) else {}
    if options.get("include_usage") is True:
        return request
    options["include_usage"] = True
    return request.with_json({**body, "stream_options": options})


def usage_every_chunk(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    # The final usage is known only at the end: this fault holds the stream back until [DONE].
    held: list[Event] = []
    for event in events:
        if not event.is_done:
            held.append(event)
            continue
        yield from _with_usage_everywhere(held)
        held = []
        yield event
    yield from _with_usage_everywhere(held)


def _with_usage_everywhere(events: list[Event]) -> Iterator[Event]:
    usage: Any = None
    deltas = 0
    for event in events:
        obj = event.obj
        if obj is not None and obj.get("usage") is not None:
            usage = obj["usage"]
        deltas += sum(1 for c in choices_of(obj) if (delta_of(c) or {}).get("content"))
    if usage is None:
        usage = {"prompt_tokens": 1, "completion_tokens": deltas, "total_tokens": deltas + 1}
    for event in events:
        obj = event.obj
        if obj is None or "choices" not in obj or obj.get("usage") == usage:
            yield event
        else:
            yield event.with_json({**obj, "usage": usage})


def usage_missing(ctx: FaultContext, obj: dict[str, Any]) -> dict[str, Any] | None:
    if obj.get("usage") is None:
        return obj
    if obj.get("choices") == []:
        return None
    obj.pop("usage")
    return obj


def bump_total(obj: Any) -> Any:
    usage = obj.get("usage") if isinstance(obj, dict) else None
    if isinstance(usage, dict) and is_int(usage.get("total_tokens")):
        usage["total_tokens"] += 1
    return obj


# --- tool calls --------------------------------------------------------------------------------


def finish_stop_body(ctx: FaultContext, body: Any) -> Any:
    for choice in choices_of(body):
        message = message_of(choice)
        if message and message.get("tool_calls") and choice.get("finish_reason") == "tool_calls":
            choice["finish_reason"] = "stop"
    return body


def finish_stop_stream(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    with_calls: set[Any] = set()
    for event in events:
        obj = event.obj
        changed = False
        for choice in choices_of(obj):
            if tool_fragments(choice):
                with_calls.add(choice.get("index"))
            if choice.get("finish_reason") == "tool_calls" and choice.get("index") in with_calls:
                choice["finish_reason"] = "stop"
                changed = True
        yield event.with_json(obj) if changed else event


def finish_calls_body(ctx: FaultContext, body: Any) -> Any:
    for choice in choices_of(body):
        message = message_of(choice)
        if not (message and message.get("tool_calls")) and choice.get("finish_reason") is not None:
            choice["finish_reason"] = "tool_calls"
    return body


def finish_calls_stream(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    with_calls: set[Any] = set()
    for event in events:
        obj = event.obj
        changed = False
        for choice in choices_of(obj):
            if tool_fragments(choice):
                with_calls.add(choice.get("index"))
            reason = choice.get("finish_reason")
            if reason is not None and reason != "tool_calls" and choice.get("index") not in with_calls:
                choice["finish_reason"] = "tool_calls"
                changed = True
        yield event.with_json(obj) if changed else event


def index_zero(ctx: FaultContext, obj: dict[str, Any]) -> dict[str, Any]:
    for choice in choices_of(obj):
        for fragment in tool_fragments(choice):
            fragment["index"] = 0
    return obj


def name_every_fragment(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    names: dict[tuple[Any, Any], str] = {}
    for event in events:
        obj = event.obj
        changed = False
        for choice in choices_of(obj):
            for fragment in tool_fragments(choice):
                key = (choice.get("index"), fragment.get("index"))
                function = fragment.get("function")
                if not isinstance(function, dict):
                    function = fragment["function"] = {}
                name = function.get("name")
                if isinstance(name, str) and name:
                    names.setdefault(key, name)
                elif key in names:
                    function["name"] = names[key]
                    changed = True
        yield event.with_json(obj) if changed else event


def tool_args_body(ctx: FaultContext, body: Any) -> Any:
    for choice in choices_of(body):
        message = message_of(choice)
        for call in (message or {}).get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                function["arguments"] = corrupt_json_text(function["arguments"])
    return body


def tool_args_stream(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    # The last fragment of a call is known only when the choice finishes: from the first
    # fragment on, events are held until a finish_reason, [DONE] or the end of the stream.
    held: list[Event] = []
    for event in events:
        obj = event.obj
        carries = any(tool_fragments(c) for c in choices_of(obj))
        finishes = event.is_done or any(c.get("finish_reason") is not None for c in choices_of(obj))
        if carries or (held and not finishes):
            held.append(event)
            if not finishes:
                continue
            yield from _corrupt_last_fragments(held)
            held = []
            continue
        if held:
            yield from _corrupt_last_fragments(held)
            held = []
        yield event
    yield from _corrupt_last_fragments(held)


def _corrupt_last_fragments(events: list[Event]) -> list[Event]:
    objs = [e.obj for e in events]
    last: dict[tuple[Any, Any], tuple[int, dict[str, Any]]] = {}
    fallback: dict[tuple[Any, Any], tuple[int, dict[str, Any]]] = {}
    for pos, obj in enumerate(objs):
        for choice in choices_of(obj):
            for fragment in tool_fragments(choice):
                key = (choice.get("index"), fragment.get("index"))
                fallback[key] = (pos, fragment)
                function = fragment.get("function")
                if isinstance(function, dict) and isinstance(function.get("arguments"), str) and function["arguments"]:
                    last[key] = (pos, fragment)
    touched: set[int] = set()
    for key, (pos, fragment) in fallback.items():
        if key in last:
            pos, fragment = last[key]
            fragment["function"]["arguments"] = corrupt_json_text(fragment["function"]["arguments"])
        else:
            function = fragment.get("function")
            if not isinstance(function, dict):
                function = fragment["function"] = {}
            function["arguments"] = "{"
        touched.add(pos)
    return [e.with_json(objs[i]) if i in touched else e for i, e in enumerate(events)]


# --- reasoning ----------------------------------------------------------------------------------


def _reasoning_of(part: dict[str, Any]) -> str:
    for key in ("reasoning_content", "reasoning"):
        if isinstance(part.get(key), str):
            return part[key]
    return ""


def think_leak_body(ctx: FaultContext, body: Any) -> Any:
    for choice in choices_of(body):
        message = message_of(choice)
        if message is None:
            continue
        content = message.get("content") if isinstance(message.get("content"), str) else ""
        message["content"] = f"<think>{_reasoning_of(message)}</think>{content}"
    return body


def think_leak_stream(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    reasoning: dict[Any, str] = {}
    leaked: set[Any] = set()
    for event in events:
        obj = event.obj
        changed = False
        for choice in choices_of(obj):
            index = choice.get("index")
            delta = delta_of(choice)
            if delta is None or index in leaked:
                continue
            reasoning[index] = reasoning.get(index, "") + _reasoning_of(delta)
            content = delta.get("content")
            has_content = isinstance(content, str) and content != ""
            if has_content or choice.get("finish_reason") is not None:
                prefix = f"<think>{reasoning[index]}</think>"
                delta["content"] = prefix + (content if isinstance(content, str) else "")
                leaked.add(index)
                changed = True
        yield event.with_json(obj) if changed else event


# --- structured output ----------------------------------------------------------------------------


def _json_mode(ctx: FaultContext) -> bool:
    body = ctx.request_json
    fmt = body.get("response_format") if isinstance(body, dict) else None
    return isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object")


def _truncate_content(text: str) -> str:
    stripped = text.rstrip()
    return stripped[:-1] if stripped else text + ","


def json_invalid_body(ctx: FaultContext, body: Any) -> Any:
    if not _json_mode(ctx):
        return body
    for choice in choices_of(body):
        message = message_of(choice)
        if message is not None and isinstance(message.get("content"), str):
            message["content"] = _truncate_content(message["content"])
    return body


def _content_choices(obj: Any) -> list[dict[str, Any]]:
    return [c for c in choices_of(obj) if isinstance((delta_of(c) or {}).get("content"), str) and delta_of(c)["content"]]


def json_invalid_stream(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    if not _json_mode(ctx):
        yield from events
        return
    # One event of look-ahead: the latest content-bearing event is held until the next event
    # shows whether it was the last one.
    held: Event | None = None
    for event in events:
        if _content_choices(event.obj):
            if held is not None:
                yield held
            held = event
            continue
        if held is not None and event.is_event:
            yield _truncate_last_content(held)
            held = None
        yield event
    if held is not None:
        yield _truncate_last_content(held)


def _truncate_last_content(event: Event) -> Event:
    obj = event.obj
    for choice in _content_choices(obj):
        delta = delta_of(choice)
        assert delta is not None
        delta["content"] = _truncate_content(delta["content"])
    return event.with_json(obj)


# --- stream / non-stream parity (issue 14 §1): streams only, blocking answers left alone -----------


def stream_completion_tokens_undercount(ctx: FaultContext, obj: dict[str, Any]) -> dict[str, Any]:
    """Chat / completions chunk usage: completion_tokens becomes 1 (total_tokens follows, so the
    counts still add up)."""
    usage = obj.get("usage")
    if isinstance(usage, dict) and is_int(usage.get("completion_tokens")):
        usage["completion_tokens"] = 1
        if is_int(usage.get("prompt_tokens")) and is_int(usage.get("total_tokens")):
            usage["total_tokens"] = usage["prompt_tokens"] + 1
    return obj


def completions_text_mismatch(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    """The first /v1/completions chunk carrying a text gets an extra character."""
    done = False
    for event in events:
        obj = event.obj
        if not done and obj is not None:
            texts = [c for c in choices_of(obj) if isinstance(c.get("text"), str)]
            if texts:
                done = True
                texts[0]["text"] += "~"
                yield event.with_json(obj)
                continue
        yield event
