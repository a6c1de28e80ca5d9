"""Adapters for the mutation score: proxy transforms applied to the baseline *and* to the fault run
alike, so that a fault aimed at a behaviour the upstream lacks (or already gets wrong) becomes
measurable. They repair or emulate; they never inject a defect. They are not faults and are not
offered by ``python -m conformance.faults``.

* ``nim-health``: answers ``GET /v1/health/live`` and ``/v1/health/ready`` like a NIM whose model is
  loaded (llama.cpp has only ``/health``).
* ``responses-sequencing``: numbers every Responses event (``sequence_number`` from 0) and fills in
  ``output_index`` / ``content_index`` from the announced items (llama.cpp sends none).
* ``responses-truncation``: a response cut at ``max_output_tokens`` gets status ``incomplete`` with
  its reason, streamed (terminal event ``response.incomplete``) or not.
* ``responses-final-text``: the text of each part in the final ``response.output`` (and in the
  ``.done`` events) is set to what the deltas streamed.
* ``anthropic-first-tool-call``: a Messages stream is cut after its first complete tool_use block
  (the reference model goes on emitting calls until max_tokens cuts one), and stop_reason becomes
  tool_use.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from conformance.faults.hooks.common import map_json_body
from conformance.faults.model import MESSAGES, READY, RESPONSES, Event, Fault, FaultContext, Hooks, Request, Response

LIVE = "/v1/health/live"
TERMINAL = ("response.completed", "response.failed", "response.incomplete")
CONTENT_EVENTS = ("response.content_part.", "response.output_text.", "response.refusal.",
                  "response.reasoning_text.")


def _nim_health(ctx: FaultContext, request: Request) -> Request | Response:
    if request.method == "GET" and ctx.path in (LIVE, READY):
        word = "live" if ctx.path == LIVE else "ready"
        return Response.json_answer(200, {"object": "health.response", "message": word, "status": word})
    return request


def _sequencing(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    counter = 0
    items: list[str] = []
    for event in events:
        obj = event.obj
        if obj is None:
            yield event
            continue
        new = copy.deepcopy(obj)
        new["sequence_number"] = counter
        counter += 1
        etype = str(new.get("type", ""))
        item = new.get("item") if isinstance(new.get("item"), dict) else None
        if etype.startswith("response.output_item.") and item is not None:
            if item.get("id") not in items:
                items.append(item.get("id"))
            new.setdefault("output_index", items.index(item.get("id")))
        elif "item_id" in new and new["item_id"] in items:
            new.setdefault("output_index", items.index(new["item_id"]))
        if etype.startswith(CONTENT_EVENTS):
            new.setdefault("content_index", 0)
        yield event.with_json(new)


def _truncated(ctx: FaultContext, response: dict[str, Any]) -> bool:
    request = ctx.request_json if isinstance(ctx.request_json, dict) else {}
    limit = request.get("max_output_tokens")
    usage = response.get("usage") if isinstance(response.get("usage"), dict) else {}
    used = usage.get("output_tokens")
    return isinstance(limit, int) and isinstance(used, int) and used >= limit and response.get("status") == "completed"


def _mark_incomplete(response: dict[str, Any]) -> dict[str, Any]:
    response["status"] = "incomplete"
    response["incomplete_details"] = {"reason": "max_output_tokens"}
    return response


def _truncation_body(ctx: FaultContext, body: Any) -> Any:
    return _mark_incomplete(body) if isinstance(body, dict) and _truncated(ctx, body) else body


def _truncation_events(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    for event in events:
        obj = event.obj
        if obj is not None and obj.get("type") == "response.completed" and isinstance(obj.get("response"), dict) \
                and _truncated(ctx, obj["response"]):
            new = copy.deepcopy(obj)
            new["type"] = "response.incomplete"
            _mark_incomplete(new["response"])
            event = event.with_json(new)
            if event.type is not None:
                event = event.with_type("response.incomplete")
        yield event


def _final_text(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    streamed: dict[str, str] = {}
    for event in events:
        obj = event.obj
        if obj is None:
            yield event
            continue
        etype = obj.get("type")
        if etype == "response.output_text.delta" and isinstance(obj.get("delta"), str):
            streamed[obj.get("item_id")] = streamed.get(obj.get("item_id"), "") + obj["delta"]
            yield event
            continue
        new = copy.deepcopy(obj)
        if etype == "response.output_text.done" and new.get("item_id") in streamed:
            new["text"] = streamed[new["item_id"]]
        elif etype == "response.content_part.done" and new.get("item_id") in streamed:
            if isinstance(new.get("part"), dict) and new["part"].get("type") == "output_text":
                new["part"]["text"] = streamed[new["item_id"]]
        elif etype == "response.output_item.done" and isinstance(new.get("item"), dict):
            _set_item_text(new["item"], streamed)
        elif etype in TERMINAL and isinstance(new.get("response"), dict):
            for item in new["response"].get("output") or []:
                if isinstance(item, dict):
                    _set_item_text(item, streamed)
        yield event if new == obj else event.with_json(new)


def _set_item_text(item: dict[str, Any], streamed: dict[str, str]) -> None:
    if item.get("id") not in streamed:
        return
    for part in item.get("content") or []:
        if isinstance(part, dict) and part.get("type") == "output_text":
            part["text"] = streamed[item["id"]]


def _first_tool_call(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    """Keep the blocks opened before the first tool_use block and that block; drop every later
    (overlapping or cut) block; after it closes, stop_reason becomes tool_use."""
    kept: set[Any] = set()
    first_tool: Any = None
    closed = False
    for event in events:
        obj = event.obj
        etype = obj.get("type") if obj is not None else None
        if etype == "content_block_start":
            block = obj.get("content_block") if isinstance(obj.get("content_block"), dict) else {}
            if first_tool is None:
                kept.add(obj.get("index"))
                if block.get("type") == "tool_use":
                    first_tool = obj.get("index")
            if obj.get("index") not in kept:
                continue
        elif etype in ("content_block_delta", "content_block_stop"):
            if obj.get("index") not in kept:
                continue
            if etype == "content_block_stop" and obj.get("index") == first_tool:
                closed = True
        elif etype == "message_delta" and closed and isinstance(obj.get("delta"), dict):
            new = copy.deepcopy(obj)
            new["delta"]["stop_reason"] = "tool_use"
            event = event.with_json(new)
        yield event


ADAPTERS: dict[str, Fault] = {
    f.name: f for f in (
        Fault("nim-health", "answers the NIM health routes as a loaded NIM", (), True, (LIVE, READY),
              Hooks(request=_nim_health)),
        Fault("responses-sequencing", "numbers Responses events and fills output_index / content_index", (),
              True, (RESPONSES,), Hooks(events=_sequencing)),
        Fault("responses-truncation", "a response cut at max_output_tokens is reported incomplete", (), True,
              (RESPONSES,), Hooks(response=map_json_body(_truncation_body), events=_truncation_events)),
        Fault("responses-final-text", "final Responses text = the streamed deltas", (), True, (RESPONSES,),
              Hooks(events=_final_text)),
        Fault("anthropic-first-tool-call", "a Messages stream ends after its first complete tool_use block", (),
              True, (MESSAGES,), Hooks(events=_first_tool_call)),
    )
}
