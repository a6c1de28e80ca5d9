"""The Responses event layer over the SSE parse: every ``data:`` is one JSON event object with a
string ``type`` (``event:`` lines optional), plus, under Open Responses, a final ``data: [DONE]``.

It only *describes* the stream (which events came, in which order, what is malformed, what text
the deltas, the ``.done`` events and the final response carry); checks judge. The fields it
shares with the other layers are defined once in :mod:`.base`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from conformance.harness.exchange import Exchange
from conformance.harness.schemas import schemas_root
from conformance.harness.streams.base import EventStream


CREATED = "response.created"
QUEUED = "response.queued"
IN_PROGRESS = "response.in_progress"
TERMINAL_TYPES = ("response.completed", "response.failed", "response.incomplete")
LIFECYCLE_TYPES = (CREATED, QUEUED, IN_PROGRESS, *TERMINAL_TYPES)

ITEM_ADDED = "response.output_item.added"
ITEM_DONE = "response.output_item.done"
# Content-part brackets. vLLM opens/closes reasoning_text parts with its non-spec
# response.reasoning_part.added/.done (a stop-gap for openai-python #2634); they bracket a part
# exactly like content_part.added/.done and are accepted as such.
PART_ADDED = ("response.content_part.added", "response.reasoning_part.added")
PART_DONE = ("response.content_part.done", "response.reasoning_part.done")

# kind → (delta event, done event, field of the done event, field of the content part)
TEXT_KINDS: dict[str, tuple[str, str, str, str]] = {
    "output_text": ("response.output_text.delta", "response.output_text.done", "text", "text"),
    "refusal": ("response.refusal.delta", "response.refusal.done", "refusal", "refusal"),
    "reasoning_text": ("response.reasoning_text.delta", "response.reasoning_text.done", "text", "text"),
}
FUNCTION_ARGS_DELTA = "response.function_call_arguments.delta"
FUNCTION_ARGS_DONE = "response.function_call_arguments.done"
SUMMARY_PART_ADDED = "response.reasoning_summary_part.added"
SUMMARY_PART_DONE = "response.reasoning_summary_part.done"
SUMMARY_TEXT_DELTA = "response.reasoning_summary_text.delta"
SUMMARY_TEXT_DONE = "response.reasoning_summary_text.done"

# Deltas that count as the first content (time to first token).
CONTENT_DELTA_TYPES = (
    "response.output_text.delta",
    "response.refusal.delta",
    "response.reasoning_text.delta",
    "response.reasoning.delta",  # Open Responses' name for reasoning_text
    SUMMARY_TEXT_DELTA,
    FUNCTION_ARGS_DELTA,
    "response.custom_tool_call_input.delta",
)


@lru_cache(maxsize=1)
def known_event_types() -> frozenset[str]:
    """Event types with a schema file under ``schemas/openai/responses/`` (everything else is an
    unknown event: recorded, never validated against a guess)."""
    folder = schemas_root() / "openai" / "responses"
    suffix = ".schema.json"
    return frozenset(p.name[: -len(suffix)] for p in folder.glob(f"*{suffix}"))


@dataclass(frozen=True, slots=True)
class RespEvent:
    """One non-[DONE] SSE event of a Responses stream."""

    index: int  # position among SSE events
    type: str | None  # data.type when data is an object with a string type
    data: dict[str, Any] | None  # None when the payload is not a JSON object
    event_field: str | None  # the raw `event:` value, None when absent
    t: float

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default) if self.data is not None else default

    @property
    def sequence_number(self) -> Any:
        return self.get("sequence_number")

    @property
    def output_index(self) -> int | None:
        return _int(self.get("output_index"))

    @property
    def content_index(self) -> int | None:
        return _int(self.get("content_index"))

    @property
    def item_id(self) -> str | None:
        value = self.get("item_id")
        return value if isinstance(value, str) else None

    @property
    def response(self) -> dict[str, Any] | None:
        value = self.get("response")
        return value if isinstance(value, dict) else None

    def label(self) -> str:
        return f"event #{self.index} ({self.type or 'untyped'})"


@dataclass(slots=True)
class TextPart:
    """One streamed text part, keyed by (item_id, content_index), with every place its text shows
    up. ``None`` means "that place was not sent"; ``deltas`` is empty when no delta came."""

    item_id: str
    content_index: int
    kind: str  # output_text | refusal | reasoning_text
    output_index: int | None = None
    deltas: list[str] = field(default_factory=list)
    done: str | None = None  # text of <kind>.done
    part: str | None = None  # part text of content_part.done (or vLLM's reasoning_part.done)
    item: str | None = None  # text of this part in output_item.done's item
    final: str | None = None  # text of this part in final_response()["output"]

    @property
    def text(self) -> str:
        return "".join(self.deltas)


@dataclass(slots=True)
class FunctionCallArgs:
    """The arguments of one function_call item, as streamed and as finally reported."""

    item_id: str | None
    output_index: int | None
    name: str | None = None  # from output_item.added
    deltas: list[str] = field(default_factory=list)
    done: str | None = None  # arguments of function_call_arguments.done
    item: str | None = None  # arguments in output_item.done's item
    final: str | None = None  # arguments of the item in final_response()["output"]

    @property
    def text(self) -> str:
        return "".join(self.deltas)


@dataclass(slots=True)
class ResponsesStream(EventStream):
    """A parsed ``POST /v1/responses`` stream. Its :attr:`events` are every SSE event except
    ``data: [DONE]``; an event type without a schema file is an unknown type."""

    events: list[RespEvent] = field(default_factory=list)  # every SSE event except data: [DONE]

    @classmethod
    def from_exchange(cls, exchange: Exchange) -> "ResponsesStream":
        stream = cls(exchange=exchange)
        known = known_event_types()
        for i, event, payload in stream._scan():
            etype = stream._type_of(i, event.data, payload)
            if etype is not None and etype not in known:
                stream.unknown_types.append((i, etype))
            stream.events.append(RespEvent(i, etype, payload, event.event_field, event.t_received))
        first = stream.first_content_event()
        stream._set_first_content(first.t if first is not None else None)
        return stream

    # -- views ---------------------------------------------------------------------------
    @property
    def typed(self) -> list[RespEvent]:
        """Events that are JSON objects with a string type."""
        return [e for e in self.events if e.type is not None]

    def types(self) -> list[str | None]:
        return [e.type for e in self.events]

    def of_type(self, *types: str) -> list[RespEvent]:
        return [e for e in self.events if e.type in types]

    def first_content_event(self) -> RespEvent | None:
        for event in self.events:
            if event.type in CONTENT_DELTA_TYPES and isinstance(event.get("delta"), str) and event.get("delta"):
                return event
        return None

    def terminal(self) -> list[RespEvent]:
        """Every response.completed / .failed / .incomplete event, in order."""
        return self.of_type(*TERMINAL_TYPES)

    def final_response(self) -> dict[str, Any] | None:
        """The ``response`` of the last terminal event (None without one)."""
        terminals = self.terminal()
        return terminals[-1].response if terminals else None

    def created_response(self) -> dict[str, Any] | None:
        """The ``response`` of the first response.created event."""
        created = self.of_type(CREATED)
        return created[0].response if created else None

    def text(self, kind: str = "output_text") -> str:
        """All deltas of one kind concatenated in stream order (every item and part)."""
        delta_type = TEXT_KINDS[kind][0]
        return "".join(e.get("delta") for e in self.of_type(delta_type) if isinstance(e.get("delta"), str))

    def final_output_items(self) -> list[Any]:
        final = self.final_response()
        output = final.get("output") if final is not None else None
        return output if isinstance(output, list) else []

    def text_parts(self, kind: str | None = None) -> list[TextPart]:
        """Every text part (output_text, refusal, reasoning_text) seen in the stream or in the final
        response, keyed by (item_id, content_index), in order of first appearance."""
        parts: dict[tuple[str, int], TextPart] = {}
        kind_of_type = {}
        for k, (delta_type, done_type, _, _) in TEXT_KINDS.items():
            kind_of_type[delta_type] = k
            kind_of_type[done_type] = k

        def part_for(item_id: str, ci: int, k: str, oi: int | None) -> TextPart:
            key = (item_id, ci)
            if key not in parts:
                parts[key] = TextPart(item_id=item_id, content_index=ci, kind=k, output_index=oi)
            elif parts[key].output_index is None:
                parts[key].output_index = oi
            return parts[key]

        for event in self.events:
            if event.type in kind_of_type:
                k = kind_of_type[event.type]
                if event.item_id is None or event.content_index is None:
                    continue
                tp = part_for(event.item_id, event.content_index, k, event.output_index)
                if event.type == TEXT_KINDS[k][0]:
                    if isinstance(event.get("delta"), str):
                        tp.deltas.append(event.get("delta"))
                else:
                    value = event.get(TEXT_KINDS[k][2])
                    tp.done = value if isinstance(value, str) else tp.done
            elif event.type in PART_DONE:
                part = event.get("part")
                if event.item_id is None or event.content_index is None or not isinstance(part, dict):
                    continue
                k = _part_kind(part)
                if k is None:
                    continue
                tp = part_for(event.item_id, event.content_index, k, event.output_index)
                value = part.get(TEXT_KINDS[k][3])
                tp.part = value if isinstance(value, str) else tp.part
            elif event.type == ITEM_DONE:
                item = event.get("item")
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    for ci, text, k in _item_texts(item):
                        part_for(item["id"], ci, k, event.output_index).item = text
        for oi, item in enumerate(self.final_output_items()):
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                for ci, text, k in _item_texts(item):
                    part_for(item["id"], ci, k, oi).final = text
        out = list(parts.values())
        return [p for p in out if kind is None or p.kind == kind]

    def function_calls(self) -> list[FunctionCallArgs]:
        """Every function_call item: streamed argument deltas, the .done arguments, the arguments in
        output_item.done and in the final response (matched by item id, else by output_index)."""
        calls: list[FunctionCallArgs] = []

        def find(item_id: str | None, oi: int | None) -> FunctionCallArgs | None:
            for call in calls:
                if item_id is not None and call.item_id == item_id:
                    return call
            for call in calls:
                if item_id is None and oi is not None and call.output_index == oi:
                    return call
            return None

        for event in self.events:
            if event.type in (ITEM_ADDED, ITEM_DONE):
                item = event.get("item")
                if not isinstance(item, dict) or item.get("type") != "function_call":
                    continue
                item_id = item.get("id") if isinstance(item.get("id"), str) else None
                call = find(item_id, event.output_index)
                if call is None:
                    call = FunctionCallArgs(item_id=item_id, output_index=event.output_index)
                    calls.append(call)
                if event.type == ITEM_ADDED:
                    call.name = item.get("name") if isinstance(item.get("name"), str) else None
                elif isinstance(item.get("arguments"), str):
                    call.item = item["arguments"]
            elif event.type in (FUNCTION_ARGS_DELTA, FUNCTION_ARGS_DONE):
                call = find(event.item_id, event.output_index)
                if call is None:
                    call = FunctionCallArgs(item_id=event.item_id, output_index=event.output_index)
                    calls.append(call)
                if event.type == FUNCTION_ARGS_DELTA:
                    if isinstance(event.get("delta"), str):
                        call.deltas.append(event.get("delta"))
                elif isinstance(event.get("arguments"), str):
                    call.done = event.get("arguments")
        final_items = self.final_output_items()
        for call in calls:
            for oi, item in enumerate(final_items):
                if not isinstance(item, dict) or item.get("type") != "function_call":
                    continue
                same_id = call.item_id is not None and item.get("id") == call.item_id
                if same_id or (call.item_id is None and oi == call.output_index):
                    call.final = item.get("arguments") if isinstance(item.get("arguments"), str) else None
                    break
        return calls


def response_output_text(response: Any) -> str | None:
    """The text of every output_text part of every message item of a response object, joined in
    order (None when the response has no output list)."""
    output = response.get("output") if isinstance(response, dict) else None
    if not isinstance(output, list):
        return None
    texts = []
    for item in output:
        if isinstance(item, dict) and item.get("type") == "message":
            for _, text, kind in _item_texts(item):
                if kind == "output_text":
                    texts.append(text)
    return "".join(texts)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _part_kind(part: dict[str, Any]) -> str | None:
    ptype = part.get("type")
    return ptype if ptype in TEXT_KINDS else None


def _item_texts(item: dict[str, Any]) -> list[tuple[int, str, str]]:
    """(content_index, text, kind) of every text part of an output item (message or reasoning)."""
    content = item.get("content")
    if not isinstance(content, list):
        return []
    out = []
    for ci, part in enumerate(content):
        if isinstance(part, dict):
            kind = _part_kind(part)
            if kind is not None and isinstance(part.get(TEXT_KINDS[kind][3]), str):
                out.append((ci, part[TEXT_KINDS[kind][3]], kind))
    return out
