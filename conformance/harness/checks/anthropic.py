"""Checks for the Anthropic-compatible Messages API (``/v1/messages``, its event stream and
``/v1/messages/count_tokens``). Reference: wire-protocols.md §2; requirements anthropic.yaml."""

from __future__ import annotations

from typing import Any

from conformance.harness.checks import check, fail
from conformance.harness.checks.shared import require_event_stream, require_json_objects, require_typed
from conformance.harness.exchange import Exchange
from conformance.harness.failures import SchemaViolation
from conformance.harness.schemas import SchemaSet
from conformance.harness.streams.anthropic import EVENT_TYPES, TOOL_BLOCKS, AntEvent, MessagesStream, parse_partial_json

BLOCK_EVENTS = ("content_block_start", "content_block_delta", "content_block_stop")
# Delta types each block type may receive (block types not listed are not judged).
BLOCK_DELTAS: dict[str, tuple[str, ...]] = {
    "text": ("text_delta", "citations_delta"),
    "thinking": ("thinking_delta", "signature_delta"),
    "redacted_thinking": (),
    "tool_use": ("input_json_delta",),
    "server_tool_use": ("input_json_delta",),
}


def _excerpt(ex: Exchange, limit: int = 300) -> str:
    text = ex.redacted_body().decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + "…"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def message_text(message: dict[str, Any]) -> str:
    """The concatenated text of a message's text blocks."""
    content = message.get("content")
    if isinstance(content, str):  # not a valid Message, but say what it carries
        return content
    if not isinstance(content, list):
        return ""
    return "".join(
        b["text"] for b in content if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
    )


def require_message(message: Any) -> dict[str, Any]:
    """A message dict; a :class:`MessagesStream` stands for its final message."""
    if isinstance(message, MessagesStream):
        message = message.final_message()
    if not isinstance(message, dict):
        raise fail("no message to judge", expected="a message object", actual=message)
    return message


# --- non-stream ----------------------------------------------------------------------------


@check("ANT-MSG-001", passive=True)
def message_schema(body: Any, *, schemas: SchemaSet) -> None:
    """A non-streamed /v1/messages response validates against the message schema, and its
    stop_reason is not null (null only occurs in message_start)."""
    schemas.validate(body, "anthropic/message", what="message")
    if body.get("stop_reason") is None:
        raise fail("non-streamed message with a null stop_reason", expected="end_turn, max_tokens, …",
                   actual=None)


@check("ANT-MSG-002")
def anthropic_error_envelope(ex: Exchange, *, schemas: SchemaSet) -> None:
    """An invalid /v1/messages request is rejected with 4xx (never 2xx or 5xx) and an Anthropic
    error body ``{"type": "error", "error": {"type", "message"}}``."""
    if ex.status is None or not 400 <= ex.status < 500:
        if ex.status is not None and ex.status >= 500:
            what = "invalid request answered with a server error"
        elif ex.status is not None and 200 <= ex.status < 300:
            what = "invalid request accepted"
        else:
            what = "invalid request not rejected with a client error"
        raise fail(what, expected="4xx", actual=f"{ex.status} {_excerpt(ex)}")
    try:
        body = ex.json()
    except ValueError:
        raise fail("error response body is not JSON", expected='{"type": "error", "error": {...}}',
                   actual=_excerpt(ex)) from None
    schemas.validate(body, "anthropic/error", what="error body")


@check("ANT-MSG-003")
def message_served(ex: Exchange) -> None:
    """A request with anthropic-version 2023-06-01 and the key in x-api-key (or Bearer where the
    profile says so) is served with 2xx."""
    if ex.status is None or not 200 <= ex.status < 300:
        hint = " (credentials or anthropic-version not accepted)" if ex.status in (401, 403) else ""
        raise fail(f"Messages request not served{hint}", expected="2xx", actual=f"{ex.status} {_excerpt(ex)}")


# --- streaming -----------------------------------------------------------------------------


@check("ANT-STREAM-001", passive=True)
def messages_event_stream_content_type(ex: Exchange) -> None:
    """A streamed Messages response declares Content-Type text/event-stream."""
    require_event_stream(ex)


@check("ANT-STREAM-002", passive=True)
def message_events_match_schemas(stream: MessagesStream, *, schemas: SchemaSet) -> None:
    """Every event's data is a JSON object with a string type, valid against that type's schema.
    Unknown types are tolerated (recorded on the stream); [DONE] markers are judged by
    ANT-STREAM-007."""
    if not stream.events:
        raise fail("stream carried no event", expected="message_start … message_stop", actual="0 events")
    require_json_objects(stream, expected="a JSON object per event", label="event #{i}")
    require_typed(stream, expected='{"type": "<event type>", …}', label="event #{i}")
    typed: list[AntEvent] = [e for e in stream.events if e.type in EVENT_TYPES]
    invalid = [typed[i] for i in schemas.invalid_indices_by_type([e.data for e in typed], "anthropic/stream/",
                                                                 EVENT_TYPES)]
    if invalid:
        raise SchemaViolation.from_many([(f"{e.type} event #{e.index}", schemas.errors(e.data, f"anthropic/stream/{e.type}"))
                                         for e in invalid])


@check("ANT-STREAM-003")
def event_names_match_data_types(stream: MessagesStream) -> None:
    """Every JSON event carries an ``event:`` field equal to its data type."""
    for event in stream.events:
        if event.type is None:
            continue
        if event.event_field is None:
            raise fail(f"event #{event.index} ({event.type}) has no event: field",
                       expected=f"event: {event.type}", actual="no event: line")
        if event.event_field != event.type:
            raise fail(f"event #{event.index}: event name does not match the data type",
                       expected=f"event: {event.type}", actual=f"event: {event.event_field}")


@check("ANT-STREAM-004", passive=True)
def message_start_first_once(stream: MessagesStream) -> None:
    """message_start comes first (pings — and unknown, tolerated event types — aside) and exactly
    once."""
    starts = stream.of_type("message_start")
    if not starts:
        first = next((e for e in stream.events if e.type is not None), None)
        raise fail("no message_start event", expected="message_start first",
                   actual=f"first event: {first.describe()}" if first else "no JSON event")
    if len(starts) > 1:
        raise fail(f"message_start sent {len(starts)} times", expected="exactly one message_start",
                   actual=[e.describe() for e in starts])
    for event in stream.events:
        if event.type in EVENT_TYPES and event.type != "ping":
            if event.type != "message_start":
                raise fail(f"{event.type} before message_start", expected="message_start first",
                           actual=f"{event.describe()}; message_start is {starts[0].describe()}")
            return


class _OpenBlock:
    __slots__ = ("index", "type", "signatures", "partial", "start")

    def __init__(self, index: int, btype: Any, start: str) -> None:
        self.index = index
        self.type = btype
        self.signatures = 0
        self.partial = ""
        self.start = start


def tool_input_from_pieces(kind: Any, index: Any, partial: str, *, cut_last: bool) -> dict[str, Any] | None:
    """Judge the joined ``input_json_delta`` pieces of one tool block: they form a JSON object, or,
    for the last tool block of a message cut by max_tokens (incomplete by nature; Anthropic: retry
    with a higher max_tokens), a prefix of one. Returns the object, or None for a cut block that
    is a valid prefix (nothing more to judge); raises otherwise (the caller's check stamps it)."""
    from conformance.harness.checks.tools import json_prefix_error  # noqa: PLC0415 - no import cycle

    value, error = parse_partial_json(partial)
    if error is not None and cut_last:
        prefix_error = json_prefix_error(partial, top_object=True)
        if prefix_error is None:
            return None
        raise fail(f"{kind} block {index} (the last, cut by max_tokens): input_json_delta pieces are not a prefix "
                   f"of a JSON object: {prefix_error}", expected="a JSON object prefix", actual=_short(partial))
    if error is not None:
        raise fail(f"{kind} block {index}: input_json_delta pieces do not join into valid JSON",
                   expected="a JSON object", actual=f"{_short(partial)!r} ({error})")
    if not isinstance(value, dict):
        raise fail(f"{kind} block {index}: input_json_delta pieces join into JSON that is not an object",
                   expected="a JSON object", actual=_short(partial))
    return value


@check("ANT-STREAM-005")
def content_blocks_well_formed(stream: MessagesStream) -> None:
    """Content blocks are indexed 0, 1, 2, … in order; each runs content_block_start, deltas of the
    same index, content_block_stop, before the next starts; delta types match the block type
    (text: text/citations deltas; thinking: thinking deltas then exactly one signature_delta;
    tool_use: input_json_delta pieces that join into a JSON object, or for the last block of a
    message cut by max_tokens a prefix of one; redacted_thinking: none)."""
    due = 0
    current: _OpenBlock | None = None
    # The last tool block of a message cut by max_tokens is incomplete by nature (Anthropic: retry
    # with a higher max_tokens): its pieces need only be a prefix of a JSON object.
    cut = (stream.final_message() or {}).get("stop_reason") == "max_tokens"
    tool_starts = [e.data.get("index") for e in stream.events if e.type == "content_block_start"
                   and isinstance(e.data, dict) and isinstance(e.data.get("content_block"), dict)
                   and e.data["content_block"].get("type") in TOOL_BLOCKS]
    last_tool = tool_starts[-1] if cut and tool_starts else None
    for event in stream.events:
        if event.type not in BLOCK_EVENTS or event.data is None:
            continue
        index = event.data.get("index")
        if not _is_int(index):
            raise fail(f"{event.describe()} without an integer index", expected="index: integer ≥ 0", actual=index)
        if event.type == "content_block_start":
            if current is not None:
                raise fail(f"content block {index} starts before block {current.index} stops",
                           expected=f"content_block_stop for index {current.index}", actual=event.describe())
            if index != due:
                raise fail(f"content block index {index} where {due} was due (indices run 0, 1, 2, … in order)",
                           expected=due, actual=index)
            block = event.data.get("content_block")
            current = _OpenBlock(index, block.get("type") if isinstance(block, dict) else None, event.describe())
            due += 1
            continue
        if current is None or index != current.index:
            state = "already stopped" if index < due else "never started"
            open_now = f"block {current.index} is open" if current is not None else "no block is open"
            raise fail(f"{event.type} for block {index}, which is {state}", expected=open_now,
                       actual=event.describe())
        if event.type == "content_block_delta":
            delta = event.data.get("delta")
            dtype = delta.get("type") if isinstance(delta, dict) else None
            allowed = BLOCK_DELTAS.get(current.type) if isinstance(current.type, str) else None
            if allowed is not None and dtype not in allowed:
                raise fail(f"{dtype} in a {current.type} block (block {index})",
                           expected=list(allowed) or "no delta", actual=f"{event.describe()}: {dtype}")
            if current.type == "thinking":
                if current.signatures:
                    raise fail(f"thinking block {index}: {dtype} after its signature_delta",
                               expected="one signature_delta, last before content_block_stop",
                               actual=event.describe())
                if dtype == "signature_delta":
                    current.signatures += 1
            if dtype == "input_json_delta":
                piece = delta.get("partial_json")
                if not isinstance(piece, str):
                    raise fail(f"input_json_delta of block {index} without a string partial_json",
                               expected="partial_json: string", actual=piece)
                current.partial += piece
            continue
        # content_block_stop
        if current.type == "thinking" and current.signatures != 1:
            raise fail(f"thinking block {index} stops without a signature_delta",
                       expected="exactly one signature_delta before content_block_stop", actual=event.describe())
        if current.type in TOOL_BLOCKS:
            tool_input_from_pieces(current.type, index, current.partial, cut_last=index == last_tool)
        current = None
    if current is not None:
        raise fail(f"content block {current.index} never stopped", expected="content_block_stop",
                   actual="end of stream")


@check("ANT-STREAM-006")
def message_delta_then_stop(stream: MessagesStream) -> None:
    """After the last content block, at least one message_delta (non-null stop_reason, cumulative
    usage.output_tokens that never decreases from message_start on) and then message_stop, the
    last JSON event (pings aside). An ``error`` event ends the stream and fails this check."""
    if stream.errors:
        event = stream.errors[0]
        error = event.data.get("error") if event.data else None
        etype = error.get("type") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        raise fail(f"stream ended by an error event ({etype}): {message}",
                   expected="message_delta then message_stop", actual=f"{event.describe()}: {_short(event.raw)}")
    stops = stream.of_type("message_stop")
    if not stops:
        last = next((e for e in reversed(stream.events) if e.type is not None), None)
        raise fail("no message_stop event", expected="message_stop as the last event",
                   actual=f"last event: {last.describe()}" if last else "no JSON event")
    if len(stops) > 1:
        raise fail(f"message_stop sent {len(stops)} times", expected="exactly one message_stop",
                   actual=[e.describe() for e in stops])
    stop = stops[0]
    deltas = stream.message_deltas()
    before = [d for d in deltas if d.index < stop.index]
    if not before:
        raise fail("no message_delta before message_stop", expected="message_delta with stop_reason and usage",
                   actual=f"{stop.describe()} after {len(deltas)} message_delta(s)")
    late = [d for d in deltas if d.index > stop.index]
    if late:
        raise fail("message_delta after message_stop", expected="message_stop last", actual=late[0].describe())
    first_delta = before[0]
    block_late = [e for e in stream.events if e.type in BLOCK_EVENTS and e.index > first_delta.index]
    if block_late:
        raise fail(f"{block_late[0].type} after message_delta", expected="every content block stopped before "
                   "the first message_delta", actual=f"{block_late[0].describe()} after {first_delta.describe()}")
    for event in deltas:
        delta = event.data.get("delta") if event.data else None
        if not isinstance(delta, dict) or delta.get("stop_reason") is None:
            raise fail(f"{event.describe()} with a null or missing stop_reason",
                       expected="delta.stop_reason: end_turn, max_tokens, …", actual=delta)
    previous: tuple[str, int] | None = None
    for label, value in stream.output_tokens_sequence():
        if not _is_int(value):
            continue
        if previous is not None and value < previous[1]:
            raise fail("usage.output_tokens decreases (message_delta usage is cumulative)",
                       expected=f"≥ {previous[1]} (as at {previous[0]})", actual=f"{value} at {label}")
        previous = (label, value)
    after = [e for e in stream.after_stop if e.data is not None and e.type != "ping"]
    if after:
        raise fail(f"{after[0].describe()} after message_stop", expected="message_stop as the last event",
                   actual=[e.describe() for e in after[:3]])


@check("ANT-STREAM-007")
def nothing_after_message_stop(stream: MessagesStream) -> None:
    """Nothing follows message_stop: no event and no ``data: [DONE]`` (Anthropic sends none; vLLM
    and NIM do: docs/wire-protocols.md D10)."""
    if stream.after_stop:
        raise fail(f"{len(stream.after_stop)} event(s) after message_stop",
                   expected="nothing after message_stop (Anthropic sends no [DONE])",
                   actual=[e.describe() for e in stream.after_stop[:3]])
    if stream.done_indices:
        raise fail("data: [DONE] in a Messages stream", expected="no [DONE] sentinel",
                   actual=[f"#{i} data: [DONE]" for i in stream.done_indices[:3]])


# --- stop reasons --------------------------------------------------------------------------


@check("ANT-STOP-001")
def max_tokens_stop(message: Any, *, max_tokens: int) -> None:
    """When generation is cut by max_tokens, stop_reason is max_tokens and usage.output_tokens ≤
    max_tokens (``message``: a non-streamed body, ``stream.final_message()`` or the stream)."""
    message = require_message(message)
    if message.get("stop_reason") != "max_tokens":
        raise fail("stop_reason when max_tokens is reached", expected="max_tokens", actual=message.get("stop_reason"))
    usage = message.get("usage")
    output = usage.get("output_tokens") if isinstance(usage, dict) else None
    if not _is_int(output):
        raise fail("usage.output_tokens missing", expected=f"an integer ≤ {max_tokens}", actual=usage)
    if output > max_tokens:
        raise fail("output_tokens exceeds max_tokens", expected=f"≤ {max_tokens}", actual=output)


@check("ANT-STOP-002")
def stop_sequence_stop(message: Any, *, stop: str) -> None:
    """A matched stop sequence gives stop_reason stop_sequence, stop_sequence equal to the matched
    sequence, and text that does not contain it."""
    message = require_message(message)
    if message.get("stop_reason") != "stop_sequence":
        raise fail("stop_reason when a stop sequence matched", expected="stop_sequence",
                   actual=message.get("stop_reason"))
    if message.get("stop_sequence") != stop:
        raise fail("stop_sequence does not echo the matched sequence", expected=stop,
                   actual=message.get("stop_sequence", "(stop_sequence absent)"))
    text = message_text(message)
    if stop in text:
        raise fail("output contains the stop sequence", expected=f"no {stop!r}", actual=_short(text))


@check("ANT-STOP-003")
def end_turn_stop(message: Any) -> None:
    """A natural end gives stop_reason end_turn and stop_sequence null (or absent)."""
    message = require_message(message)
    if message.get("stop_reason") != "end_turn":
        raise fail("stop_reason when the model ends its turn", expected="end_turn", actual=message.get("stop_reason"))
    if message.get("stop_sequence") is not None:
        raise fail("stop_sequence set although no stop sequence matched", expected=None,
                   actual=message.get("stop_sequence"))


@check("ANT-STOP-004")
def stream_matches_message(streamed: Any, message: Any) -> None:
    """At temperature 0 the streamed message (a MessagesStream or its final message) has the same
    text and stop_reason as the non-streamed one."""
    final = streamed.final_message() if isinstance(streamed, MessagesStream) else streamed
    if not isinstance(final, dict):
        raise fail("no streamed message to compare (no message_start)", expected="a streamed message",
                   actual=final)
    message = require_message(message)
    streamed_text, text = message_text(final), message_text(message)
    if streamed_text != text:
        at = next((i for i, (a, b) in enumerate(zip(streamed_text, text)) if a != b),
                  min(len(streamed_text), len(text)))
        raise fail(f"streamed and non-streamed texts differ at temperature 0 (from character {at})",
                   expected=_short(text), actual=_short(streamed_text))
    if final.get("stop_reason") != message.get("stop_reason"):
        raise fail("streamed and non-streamed stop_reason differ", expected=message.get("stop_reason"),
                   actual=final.get("stop_reason"))


# --- count_tokens --------------------------------------------------------------------------


@check("ANT-TOKENS-001")
def count_tokens_schema(body: Any, *, schemas: SchemaSet) -> None:
    """POST /v1/messages/count_tokens returns ``{"input_tokens": integer ≥ 0}``."""
    schemas.validate(body, "anthropic/count_tokens", what="count_tokens response")


@check("ANT-TOKENS-002")
def count_tokens_matches_usage(count_body: Any, usage: Any) -> None:
    """count_tokens for a request equals input_tokens + cache_read_input_tokens +
    cache_creation_input_tokens of the /v1/messages response to the same request (``usage``: its
    usage object, or the message itself)."""
    count = count_body.get("input_tokens") if isinstance(count_body, dict) else count_body
    if not _is_int(count):
        raise fail("count_tokens input_tokens missing", expected="an integer", actual=count_body)
    if isinstance(usage, dict) and "input_tokens" not in usage and isinstance(usage.get("usage"), dict):
        usage = usage["usage"]
    if not isinstance(usage, dict) or not _is_int(usage.get("input_tokens")):
        raise fail("message usage.input_tokens missing", expected="usage with input_tokens", actual=usage)
    terms = [("input_tokens", usage["input_tokens"])]
    for key in ("cache_read_input_tokens", "cache_creation_input_tokens"):
        if _is_int(usage.get(key)):
            terms.append((key, usage[key]))
    total = sum(value for _, value in terms)
    if count != total:
        formula = " + ".join(f"{key} {value}" for key, value in terms)
        note = ""
        if len(terms) > 1 and count == terms[0][1] and total != terms[0][1]:
            note = "; it equals input_tokens alone, so the cached prompt tokens were not counted"
        raise fail(f"count_tokens is off by {count - total:+d} from the message's input accounting "
                   f"({formula} = {total}){note}", expected=total, actual=count)
