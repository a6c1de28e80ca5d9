"""Checks for the OpenAI Responses API (``POST /v1/responses``) and its Open Responses variant."""

from __future__ import annotations

from typing import Any

from conformance.harness.checks import check, fail
from conformance.harness.checks.shared import (
    require_done_terminator,
    require_json_objects,
    require_nothing_after_done,
    require_typed,
)
from conformance.harness.failures import SchemaViolation
from conformance.harness.schemas import SchemaError, SchemaSet, schema_id
from conformance.harness.streams.responses import (
    CREATED,
    FUNCTION_ARGS_DELTA,
    FUNCTION_ARGS_DONE,
    IN_PROGRESS,
    ITEM_ADDED,
    ITEM_DONE,
    LIFECYCLE_TYPES,
    PART_ADDED,
    PART_DONE,
    QUEUED,
    SUMMARY_PART_ADDED,
    SUMMARY_PART_DONE,
    SUMMARY_TEXT_DELTA,
    SUMMARY_TEXT_DONE,
    TERMINAL_TYPES,
    TEXT_KINDS,
    RespEvent,
    ResponsesStream,
    response_output_text,
)

USAGE_FIELDS = ("input_tokens", "output_tokens", "total_tokens")
# Open Responses names raw reasoning events response.reasoning.delta/.done; the payload is that of
# OpenAI's reasoning_text events (wire-protocols.md §3.2), so they validate against those schemas.
OPEN_RESPONSES_ALIASES = {
    "response.reasoning.delta": "response.reasoning_text.delta",
    "response.reasoning.done": "response.reasoning_text.done",
}
_TEXT_DELTA = {v[0]: k for k, v in TEXT_KINDS.items()}
_TEXT_DONE = {v[1]: k for k, v in TEXT_KINDS.items()}


# --- non-stream ----------------------------------------------------------------------------


@check("OAI-RESP-001", passive=True)
def response_schema(body: Any, *, schemas: SchemaSet) -> None:
    """A Response object (non-streamed result, or one carried by a stream event) validates
    against the response schema."""
    schemas.validate(body, "openai/response", what="response")


@check("OAI-RESP-008")
def incomplete_on_max_output_tokens(response: Any, *, terminal_type: str | None = None) -> None:
    """A response cut by max_output_tokens has status incomplete with incomplete_details.reason
    max_output_tokens; streamed, its terminal event is response.incomplete."""
    if not isinstance(response, dict):
        raise fail("no response object", expected="response object", actual=response)
    if response.get("status") != "incomplete":
        raise fail("status when max_output_tokens is reached", expected="incomplete", actual=response.get("status"))
    details = response.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    if reason != "max_output_tokens":
        raise fail("incomplete_details.reason when max_output_tokens is reached",
                   expected={"reason": "max_output_tokens"}, actual=details)
    if terminal_type is not None and terminal_type != "response.incomplete":
        raise fail("terminal event when max_output_tokens is reached", expected="response.incomplete",
                   actual=terminal_type)


@check("OAI-RESP-009")
def responses_usage_arithmetic(usage: Any) -> None:
    """usage has non-negative integer input/output/total tokens, total = input + output, and the
    cached/reasoning details do not exceed their totals."""
    if not isinstance(usage, dict):
        raise fail("usage missing", expected="usage object", actual=usage)
    for key in USAGE_FIELDS:
        value = usage.get(key)
        if not _count(value):
            raise fail(f"usage.{key} is not a non-negative integer", expected="integer ≥ 0", actual=value)
    total = usage["input_tokens"] + usage["output_tokens"]
    if usage["total_tokens"] != total:
        raise fail("total_tokens != input_tokens + output_tokens", expected=total, actual=usage["total_tokens"])
    for details_key, key, of in (("input_tokens_details", "cached_tokens", "input_tokens"),
                                 ("output_tokens_details", "reasoning_tokens", "output_tokens")):
        details = usage.get(details_key)
        value = details.get(key) if isinstance(details, dict) else None
        if value is None:
            continue
        if not _count(value):
            raise fail(f"usage.{details_key}.{key} is not a non-negative integer", expected="integer ≥ 0",
                       actual=value)
        if value > usage[of]:
            raise fail(f"usage.{details_key}.{key} exceeds {of}", expected=f"≤ {usage[of]}", actual=value)


@check("OAI-RESP-011")
def stored_response_matches(stored: Any, original: Any) -> None:
    """GET /v1/responses/{id} returns the stored response: same id, status and output text."""
    if not isinstance(stored, dict) or not isinstance(original, dict):
        raise fail("stored response is not an object", expected="response object",
                   actual=stored if not isinstance(stored, dict) else original)
    if stored.get("id") != original.get("id"):
        raise fail("retrieved response has another id", expected=original.get("id"), actual=stored.get("id"))
    if stored.get("status") != original.get("status"):
        raise fail("retrieved response has another status", expected=original.get("status"),
                   actual=stored.get("status"))
    text, stored_text = response_output_text(original), response_output_text(stored)
    if stored_text != text:
        raise fail("retrieved response has another output text",
                   expected=text[:200] if text is not None else None,
                   actual=stored_text[:200] if stored_text is not None else stored.get("output"))


@check("OAI-RESP-012")
def continued_response_valid(body: Any, *, previous_id: str, schemas: SchemaSet) -> None:
    """A request with previous_response_id yields a valid response that did not fail and, when it
    echoes previous_response_id, echoes the id that was sent."""
    response_schema.__wrapped__(body, schemas=schemas)  # type: ignore[attr-defined] - judged under this requirement
    if body.get("status") == "failed":
        raise fail("continued response failed", expected="status completed or incomplete",
                   actual={"status": "failed", "error": body.get("error")})
    if "previous_response_id" in body and body["previous_response_id"] != previous_id:
        raise fail("previous_response_id echoed with another value", expected=previous_id,
                   actual=body["previous_response_id"])


# --- stream: shape -------------------------------------------------------------------------


@check("OAI-RESP-002", passive=True)
def events_match_schemas(stream: ResponsesStream, *, schemas: SchemaSet) -> None:
    """Every event is a JSON object with a string type and validates against the schema of that
    type; the Response objects of the lifecycle events validate against the response schema.
    Event types without a schema are tolerated (``stream.unknown_types``)."""
    _events_are_typed_objects(stream)
    _validate_events(stream, schemas, aliases={})


@check("OAI-RESP-010")
def event_names_match_types(stream: ResponsesStream) -> None:
    """When an SSE event carries an ``event:`` field, it equals the ``type`` of its JSON data."""
    bad = [e for e in stream.events if e.event_field is not None and e.type is not None and e.event_field != e.type]
    if bad:
        first = bad[0]
        raise fail(f"event: line differs from data.type ({len(bad)} event(s), first #{first.index})",
                   expected=first.type, actual=first.event_field)


@check("OAI-ORESP-001")
def done_terminator(stream: ResponsesStream) -> None:
    """Under Open Responses the last SSE event is exactly ``data: [DONE]``, after the terminal
    response event."""
    require_done_terminator(stream)
    require_nothing_after_done(stream, expected="data: [DONE] as the last event")
    terminals = [e for e in stream.terminal() if e.index < stream.done_index]
    if not terminals:
        raise fail("data: [DONE] without a terminal response event before it",
                   expected="response.completed|failed|incomplete, then data: [DONE]",
                   actual=stream.types()[-3:])


@check("OAI-ORESP-002")
def open_responses_shapes(stream: ResponsesStream, *, schemas: SchemaSet) -> None:
    """Under Open Responses every event and the final response validate against the
    open-responses overlay (the caller passes a SchemaSet built with that flavor): nested error
    event, ResponseResource's required fields, id and status on every item. Open Responses'
    response.reasoning.delta/.done validate as reasoning_text events."""
    _events_are_typed_objects(stream)
    _validate_events(stream, schemas, aliases=OPEN_RESPONSES_ALIASES)
    final = stream.final_response()
    if final is None:
        raise fail("no terminal event carrying the final response", expected="response.completed|failed|incomplete",
                   actual=stream.types()[-3:])
    schemas.validate(final, "openai/response", what="final response")


# --- stream: order -------------------------------------------------------------------------


@check("OAI-RESP-003")
def starts_created_in_progress(stream: ResponsesStream) -> None:
    """The stream starts with response.created, then (after an optional response.queued)
    response.in_progress, before any output event; response.created comes once."""
    types = stream.types()
    if not types:
        raise fail("stream carried no event", expected=[CREATED, IN_PROGRESS], actual=[])
    if types[0] != CREATED:
        raise fail("first event is not response.created", expected=CREATED, actual=types[0])
    rest = types[1:]
    if rest[:1] == [QUEUED]:
        rest = rest[1:]
    if rest[:1] != [IN_PROGRESS]:
        raise fail("response.in_progress does not follow response.created",
                   expected=[CREATED, IN_PROGRESS], actual=types[:3])
    if types.count(CREATED) != 1:
        raise fail("response.created sent more than once", expected=1, actual=types.count(CREATED))


@check("OAI-RESP-004", passive=True)
def one_terminal_event_last(stream: ResponsesStream) -> None:
    """Exactly one of response.completed/failed/incomplete occurs and nothing follows it (a
    trailing ``data: [DONE]`` is not an event here; a [DONE] before it is a failure)."""
    terminals = stream.terminal()
    if not terminals:
        raise fail("no terminal event", expected="one of " + "/".join(TERMINAL_TYPES),
                   actual=f"last events: {stream.types()[-3:]}")
    if len(terminals) > 1:
        raise fail("more than one terminal event", expected=1,
                   actual=[f"#{e.index} {e.type}" for e in terminals])
    last = terminals[0]
    after = [e for e in stream.events if e.index > last.index]
    if after:
        raise fail(f"events after the terminal {last.type}", expected="no event after it",
                   actual=[f"#{e.index} {e.type or 'untyped'}" for e in after[:3]])
    if stream.done_index is not None and stream.done_index < last.index:
        raise fail("data: [DONE] before the terminal event (SDKs stop reading at [DONE])",
                   expected=f"{last.type} before data: [DONE]", actual=f"[DONE] at #{stream.done_index}")


@check("OAI-RESP-005")
def sequence_numbers_increase_by_one(stream: ResponsesStream) -> None:
    """Every event carries an integer sequence_number and each one is the previous plus one
    (the starting value is recorded, not asserted)."""
    objects = [e for e in stream.events if e.data is not None]
    if not objects:
        raise fail("stream carried no event", expected="events with sequence_number", actual=0)
    previous: int | None = None
    for event in objects:
        value = event.sequence_number
        if not isinstance(value, int) or isinstance(value, bool):
            raise fail(f"{event.label()} has no integer sequence_number", expected="integer",
                       actual=value if "sequence_number" in event.data else "(absent)")  # type: ignore[operator]
        if previous is not None and value != previous + 1:
            kind = "repeats" if value == previous else ("goes back" if value < previous else "skips")
            raise fail(f"sequence_number {kind} at {event.label()}", expected=previous + 1, actual=value,
                       details={"start": objects[0].sequence_number})
        previous = value


@check("OAI-RESP-006")
def items_announced_and_paired(stream: ResponsesStream) -> None:
    """Items are announced by output_item.added (output_index 0, 1, … in order) before any other
    event of theirs and closed by output_item.done after all of them; content parts pair
    added/done with content_index contiguous from 0; deltas come inside their part and before
    its .done; every item_id is the announced item.id; the final output lists the same items at
    the same positions. Open items and the final output are judged only when the stream ended
    with response.completed or response.incomplete."""
    items: list[_Item] = []
    by_id: dict[str, _Item] = {}
    for event in stream.events:
        if event.type is None or event.type in LIFECYCLE_TYPES or event.type == "error":
            continue
        if event.type == ITEM_ADDED:
            _item_added(event, items, by_id)
            continue
        item = _item_of(event, items, by_id)
        if item is None:
            continue  # an event with neither output_index nor item_id: not an item event
        if event.type == ITEM_DONE:
            _item_done(event, item)
        else:
            _item_event(event, item)
    if _finished(stream):  # a cut or failed stream may leave items open; 004 judges the ending
        for item in items:
            if item.done_at is None:
                raise fail(f"output item {item.oi} ({item.id}) never closed by output_item.done",
                           expected=ITEM_DONE, actual="(missing)")
        _final_output_matches(stream, items)


@check("OAI-RESP-007")
def deltas_match_done_and_output(stream: ResponsesStream) -> None:
    """For every text part (output_text, refusal, reasoning_text) the concatenated deltas equal the
    .done text, the content_part.done text, the text in output_item.done and the text in the
    final response; for every function call the concatenated argument deltas equal the .done
    arguments and the item's arguments there too."""
    compare_final = _finished(stream)  # a cut or failed stream may stop before .done and the final output
    for tp in stream.text_parts():
        where = f"{tp.kind} part {tp.content_index} of item {tp.item_id}"
        streamed = tp.text
        done_type = TEXT_KINDS[tp.kind][1]
        if tp.done is None:
            if compare_final and tp.deltas:
                raise fail(f"{where}: no {done_type}", expected=f"{done_type} with the streamed text",
                           actual=f"{len(tp.deltas)} delta(s), final text {_excerpt(tp.final)!r}")
            if compare_final and tp.final:
                raise fail(f"{where}: the final response carries text that was never streamed",
                           expected=f"deltas and {done_type} carrying it", actual=_excerpt(tp.final))
            continue
        if streamed != tp.done:
            raise fail(f"{where}: concatenated deltas differ from the {done_type} text",
                       expected=_excerpt(tp.done), actual=_excerpt(streamed))
        if tp.part is not None and tp.part != tp.done:
            raise fail(f"{where}: content_part.done text differs from the streamed text",
                       expected=_excerpt(streamed), actual=_excerpt(tp.part))
        if tp.item is not None and tp.item != tp.done:
            raise fail(f"{where}: output_item.done text differs from the streamed text",
                       expected=_excerpt(streamed), actual=_excerpt(tp.item))
        if compare_final:
            if tp.final is None and streamed:
                raise fail(f"{where}: the final response has no such part although the deltas carried text",
                           expected=_excerpt(streamed),
                           actual=f"final output: {_excerpt(stream.final_output_items())}")
            if tp.final is not None and tp.final != streamed:
                raise fail(f"{where}: final response text differs from the streamed text",
                           expected=_excerpt(streamed), actual=_excerpt(tp.final))
    for call in stream.function_calls():
        where = f"function_call item {call.item_id or call.output_index}"
        if call.done is None:
            if compare_final and call.deltas:
                raise fail(f"{where}: no {FUNCTION_ARGS_DONE}", expected=f"{FUNCTION_ARGS_DONE} with the arguments",
                           actual=f"{len(call.deltas)} delta(s)")
        elif call.text != call.done:
            raise fail(f"{where}: concatenated argument deltas differ from the {FUNCTION_ARGS_DONE} arguments",
                       expected=_excerpt(call.done), actual=_excerpt(call.text))
        reference = call.done if call.done is not None else call.text
        if call.item is not None and call.item != reference:
            raise fail(f"{where}: output_item.done arguments differ from the streamed arguments",
                       expected=_excerpt(reference), actual=_excerpt(call.item))
        if compare_final:
            if call.final is None and reference:
                raise fail(f"{where}: the final response has no such function_call although arguments streamed",
                           expected=_excerpt(reference),
                           actual=f"final output: {_excerpt(stream.final_output_items())}")
            if call.final is not None and call.final != reference:
                raise fail(f"{where}: final response arguments differ from the streamed arguments",
                           expected=_excerpt(reference), actual=_excerpt(call.final))


# --- helpers -------------------------------------------------------------------------------


class _Item:
    """Bookkeeping for one announced output item (used by items_announced_and_paired)."""

    __slots__ = ("oi", "id", "type", "done_at", "parts", "summaries", "texts_done", "args_done")

    def __init__(self, oi: int, item_id: str | None, item_type: Any) -> None:
        self.oi = oi
        self.id = item_id
        self.type = item_type
        self.done_at: int | None = None
        self.parts: dict[int, bool] = {}  # content_index → still open
        self.summaries: dict[int, bool] = {}  # summary_index → still open
        self.texts_done: set[tuple[str, int]] = set()  # (done type, index) already sent
        self.args_done = False


def _item_added(event: RespEvent, items: list[_Item], by_id: dict[str, _Item]) -> None:
    oi = event.output_index
    item = event.get("item")
    if oi is None or not isinstance(item, dict):
        raise fail(f"{event.label()} without output_index and item", expected="output_index and item",
                   actual=event.data)
    if oi != len(items):
        dup = " (announced twice)" if oi < len(items) else ""
        raise fail(f"output_item.added output_index out of order{dup}", expected=len(items), actual=oi)
    item_id = item.get("id") if isinstance(item.get("id"), str) else None
    if item_id is not None and item_id in by_id:
        raise fail(f"two output items share the id {item_id}", expected="distinct item ids", actual=item_id)
    new = _Item(oi, item_id, item.get("type"))
    items.append(new)
    if item_id is not None:
        by_id[item_id] = new


def _item_of(event: RespEvent, items: list[_Item], by_id: dict[str, _Item]) -> _Item | None:
    oi, item_id = event.output_index, event.item_id
    if oi is None and item_id is None:
        return None
    item = items[oi] if oi is not None and 0 <= oi < len(items) else None
    if item is None and oi is None:
        item = by_id.get(item_id)  # type: ignore[arg-type]
    if item is None:
        raise fail(f"{event.label()} before output_item.added of its item", expected=f"{ITEM_ADDED} first",
                   actual={"output_index": event.get("output_index"), "item_id": event.get("item_id")})
    if item.done_at is not None:
        raise fail(f"{event.label()} after output_item.done of item {item.oi}",
                   expected=f"no event after {ITEM_DONE}", actual=f"{ITEM_DONE} at #{item.done_at}")
    if item_id is not None and item.id is not None and item_id != item.id:
        raise fail(f"{event.label()}: item_id is not the id announced for output_index {item.oi}",
                   expected=item.id, actual=item_id)
    return item


def _item_done(event: RespEvent, item: _Item) -> None:
    done_item = event.get("item")
    done_id = done_item.get("id") if isinstance(done_item, dict) else None
    if item.id is not None and done_id != item.id:
        raise fail(f"output_item.done for output_index {item.oi} carries another item id", expected=item.id,
                   actual=done_id)
    open_parts = sorted(ci for ci, is_open in item.parts.items() if is_open)
    if open_parts:
        raise fail(f"output_item.done of item {item.oi} while content part {open_parts[0]} is still open",
                   expected="content_part.done first", actual=f"{ITEM_DONE} at #{event.index}")
    open_summaries = sorted(si for si, is_open in item.summaries.items() if is_open)
    if open_summaries:
        raise fail(f"output_item.done of item {item.oi} while summary part {open_summaries[0]} is still open",
                   expected=f"{SUMMARY_PART_DONE} first", actual=f"{ITEM_DONE} at #{event.index}")
    item.done_at = event.index


def _item_event(event: RespEvent, item: _Item) -> None:
    etype = event.type or ""
    if etype in PART_ADDED or etype in PART_DONE:
        ci = event.content_index
        if ci is None:
            raise fail(f"{event.label()} without an integer content_index", expected="integer",
                       actual=event.get("content_index"))
        if etype in PART_ADDED:
            if ci in item.parts:
                raise fail(f"content part {ci} of item {item.oi} added twice", expected="one content_part.added",
                           actual=f"again at #{event.index}")
            if ci != len(item.parts):
                raise fail(f"content_index of item {item.oi} not contiguous from 0", expected=len(item.parts),
                           actual=ci)
            item.parts[ci] = True
        else:
            if not item.parts.get(ci):
                state = "already closed" if ci in item.parts else "never added"
                raise fail(f"content_part.done for part {ci} of item {item.oi} ({state})",
                           expected="content_part.added first", actual=f"{etype} at #{event.index}")
            item.parts[ci] = False
        return
    if etype in (SUMMARY_PART_ADDED, SUMMARY_PART_DONE):
        si = _index(event, "summary_index")
        if etype == SUMMARY_PART_ADDED:
            if si in item.summaries or si != len(item.summaries):
                raise fail(f"summary_index of item {item.oi} not contiguous from 0", expected=len(item.summaries),
                           actual=si)
            item.summaries[si] = True
        else:
            if not item.summaries.get(si):
                raise fail(f"{SUMMARY_PART_DONE} for summary part {si} of item {item.oi} without an open part",
                           expected=f"{SUMMARY_PART_ADDED} first", actual=f"#{event.index}")
            item.summaries[si] = False
        return
    if etype in _TEXT_DELTA or etype in _TEXT_DONE:
        ci = event.content_index
        if ci is None:
            raise fail(f"{event.label()} without an integer content_index", expected="integer",
                       actual=event.get("content_index"))
        if not item.parts.get(ci):
            state = "after content_part.done" if ci in item.parts else "before content_part.added"
            raise fail(f"{event.label()} for part {ci} of item {item.oi} {state}",
                       expected="inside content_part.added … content_part.done", actual=f"#{event.index}")
        done_type = TEXT_KINDS[_TEXT_DELTA.get(etype) or _TEXT_DONE[etype]][1]
        if (done_type, ci) in item.texts_done:
            what = "delta after" if etype in _TEXT_DELTA else "second"
            raise fail(f"{what} {done_type} for part {ci} of item {item.oi}", expected=f"deltas before one {done_type}",
                       actual=f"{etype} at #{event.index}")
        if etype in _TEXT_DONE:
            item.texts_done.add((done_type, ci))
        return
    if etype in (SUMMARY_TEXT_DELTA, SUMMARY_TEXT_DONE):
        si = _index(event, "summary_index")
        if not item.summaries.get(si):
            raise fail(f"{event.label()} outside summary part {si} of item {item.oi}",
                       expected=f"inside {SUMMARY_PART_ADDED} … {SUMMARY_PART_DONE}", actual=f"#{event.index}")
        if (SUMMARY_TEXT_DONE, si) in item.texts_done:
            raise fail(f"{event.label()} after {SUMMARY_TEXT_DONE} of summary part {si}",
                       expected=f"deltas before one {SUMMARY_TEXT_DONE}", actual=f"#{event.index}")
        if etype == SUMMARY_TEXT_DONE:
            item.texts_done.add((SUMMARY_TEXT_DONE, si))
        return
    if etype in (FUNCTION_ARGS_DELTA, FUNCTION_ARGS_DONE):
        if item.args_done:
            what = "delta after" if etype == FUNCTION_ARGS_DELTA else "second"
            raise fail(f"{what} {FUNCTION_ARGS_DONE} of item {item.oi}",
                       expected=f"deltas before one {FUNCTION_ARGS_DONE}", actual=f"{etype} at #{event.index}")
        item.args_done = etype == FUNCTION_ARGS_DONE


def _index(event: RespEvent, key: str) -> int:
    value = event.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise fail(f"{event.label()} without an integer {key}", expected="integer", actual=value)
    return value


def _finished(stream: ResponsesStream) -> bool:
    """The stream ended normally: its last terminal event is response.completed or .incomplete."""
    terminals = stream.terminal()
    return bool(terminals) and terminals[-1].type in ("response.completed", "response.incomplete")


def _final_output_matches(stream: ResponsesStream, items: list[_Item]) -> None:
    final = stream.final_response()
    output = final.get("output") if final is not None else None
    if not isinstance(output, list):
        raise fail("final response has no output list", expected="output: [...]", actual=output)
    if len(output) != len(items):
        raise fail(f"final response.output has {len(output)} item(s), the stream announced {len(items)}",
                   expected=[i.id for i in items], actual=[o.get("id") if isinstance(o, dict) else o for o in output])
    for item, final_item in zip(items, output, strict=True):
        final_id = final_item.get("id") if isinstance(final_item, dict) else None
        final_type = final_item.get("type") if isinstance(final_item, dict) else None
        if item.id is not None and final_id != item.id:
            raise fail(f"final response.output[{item.oi}] is not the item announced at that output_index",
                       expected=item.id, actual=final_id)
        if final_type != item.type:
            raise fail(f"final response.output[{item.oi}] has another type than announced", expected=item.type,
                       actual=final_type)


def _events_are_typed_objects(stream: ResponsesStream) -> None:
    require_json_objects(stream, expected="JSON object with a string type")
    require_typed(stream, expected="type: <event type>")
    if not stream.events:
        raise fail("stream carried no event", expected="at least one event", actual=len(stream.sse_events))


def _validate_events(stream: ResponsesStream, schemas: SchemaSet, *, aliases: dict[str, str]) -> None:
    items: list[tuple[RespEvent, dict[str, Any], str]] = []
    for event in stream.events:
        if event.type is None or event.data is None:
            continue  # reported by _events_are_typed_objects
        data, etype = event.data, aliases.get(event.type, event.type)
        if etype != event.type:
            data = {**data, "type": etype}
        if schema_id(f"openai/responses/{etype}") not in schemas.documents:
            continue  # unknown event type: recorded on the stream, not judged
        items.append((event, data, etype))
    # One compiled call per event type (and one for the lifecycle events' responses) finds the
    # invalid ones; only those get the detailed error list.
    lifecycle = [i for i, (_, data, etype) in enumerate(items)
                 if etype in LIFECYCLE_TYPES and isinstance(data.get("response"), dict)]
    bad_response = {lifecycle[j] for j in schemas.invalid_indices([items[i][1]["response"] for i in lifecycle],
                                                                  "openai/response")}
    bad_event = set(schemas.invalid_indices_by_type([data for _, data, _ in items], "openai/responses/",
                                                    schemas.names_under("openai/responses/")))
    bad: list[tuple[str, list[SchemaError]]] = []
    for i, (event, data, etype) in enumerate(items):
        if i in bad_response:
            errs = schemas.errors(data["response"], "openai/response")
            if errs:
                bad.append((f"response in {event.label()}", errs))
                continue
        if i in bad_event:
            errs = schemas.errors(data, f"openai/responses/{etype}")
            if errs:
                bad.append((event.label(), errs))
    if bad:
        raise SchemaViolation.from_many(bad)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _excerpt(value: Any, limit: int = 200) -> Any:
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    return value
