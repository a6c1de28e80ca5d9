"""Helpers shared by the fault hooks: JSON mapping over bodies and events, chat-completion
accessors, JSON corruption."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from conformance.faults.model import Event, EventsHook, FaultContext, Response, ResponseHook


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def choices_of(obj: Any) -> list[dict[str, Any]]:
    choices = obj.get("choices") if isinstance(obj, dict) else None
    return [c for c in choices if isinstance(c, dict)] if isinstance(choices, list) else []


def delta_of(choice: dict[str, Any]) -> dict[str, Any] | None:
    delta = choice.get("delta")
    return delta if isinstance(delta, dict) else None


def message_of(choice: dict[str, Any]) -> dict[str, Any] | None:
    message = choice.get("message")
    return message if isinstance(message, dict) else None


def tool_fragments(choice: dict[str, Any]) -> list[dict[str, Any]]:
    delta = delta_of(choice)
    calls = delta.get("tool_calls") if delta is not None else None
    return [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []


def map_json_events(fn: Callable[[FaultContext, dict[str, Any]], dict[str, Any] | None]) -> EventsHook:
    """An events hook applying ``fn`` to (a copy of) every event whose data is a JSON object;
    ``fn`` returns the new object, or None to drop the event. Untouched events keep their bytes."""

    def hook(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
        for event in events:
            obj = event.obj
            if obj is None:
                yield event
                continue
            new = fn(ctx, copy.deepcopy(obj))
            if new is None:
                continue
            yield event if new == obj else event.with_json(new)

    return hook


def map_json_body(fn: Callable[[FaultContext, Any], Any], *, statuses: range = range(200, 300)) -> ResponseHook:
    """A response hook applying ``fn`` to the JSON body of answers with a status in ``statuses``."""

    def hook(ctx: FaultContext, response: Response) -> Response:
        if response.status not in statuses:
            return response
        body = response.json
        if body is None:
            return response
        new = fn(ctx, copy.deepcopy(body))
        return response if new == body else response.with_json(new)

    return hook


def corrupt_json_text(text: str) -> str:
    """Make JSON text invalid: drop its final ``}`` (or ``]``), else append a stray ``{``."""
    stripped = text.rstrip()
    if stripped.endswith(("}", "]")):
        return stripped[:-1]
    return text + "{"
