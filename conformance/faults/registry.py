"""The named faults of the fault-injecting proxy, and the pieces they are made of.

A :class:`Fault` is data (name, description, the requirement IDs that must catch it, whether it
is *neutral*, the routes it touches) plus :class:`Hooks`: small pure functions, each optional,
over one stage of an exchange. The proxy (``conformance.faults.proxy``) runs the stages in this
order for every request whose path is in a fault's ``routes`` (empty ``routes`` = every path):

1. ``request(ctx, Request) -> Request | Response``: rewrite the request before it goes upstream
   (e.g. force ``stream_options.include_usage``), or answer it locally with a :class:`Response`
   (the upstream is then not called).
2. Non-stream answers (any Content-Type but ``text/event-stream``):
   ``response(ctx, Response) -> Response`` sees the whole answer (status, headers, body bytes) and
   returns the one to send; the proxy sets a correct ``Content-Length``.
3. Event streams: ``head(ctx, Response) -> Response`` sees the status and headers (``body`` is
   empty); then ``events(ctx, Iterator[Event]) -> Iterator[Event]`` transforms the stream *event
   by event* (a generator: it may drop, alter, insert, reorder or, when a fault needs the whole
   stream, buffer events); finally ``wire(ctx, Event, list[bytes]) -> list[bytes]`` changes the
   serialisation of one event (line endings, how the bytes are cut into writes). Wire hooks run
   by ascending ``wire_stage`` (content 10, line endings 20, cutting 30), so a CRLF written by
   one fault can still be cut in two by another.

Hooks of several faults are chained in the order the faults were given. Every hook is pure: no
I/O, no clock; the randomness they need comes from ``ctx.rng`` (seeded per proxy and request).

An :class:`Event` keeps the upstream bytes of its block (``raw``) until a hook changes it, so an
event no hook touched is passed through byte for byte; a changed one is re-serialised with the
line ending its block used. Blocks that dispatch no event (comment-only keep-alives, stray blank
lines, an unterminated tail at EOF) are :class:`Event` objects with ``data=None``.

Neutral faults change the wire but not the meaning: a correct suite must not flag them (INFO at
most). The others each name the requirement IDs that must catch them.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from conformance.harness.failures import UsageError
from conformance.harness.requirements import ID_RE
from conformance.harness.sse import SSEParser, serialize

DONE = "[DONE]"
BOM = b"\xef\xbb\xbf"
EOL_RE = re.compile(rb"\r\n|\r|\n")
NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
RESPONSES = "/v1/responses"
MESSAGES = "/v1/messages"
COUNT_TOKENS = "/v1/messages/count_tokens"
MODELS = "/v1/models"
EMBEDDINGS = "/v1/embeddings"
READY = "/v1/health/ready"
OPENAI_ROUTES = (CHAT, COMPLETIONS, RESPONSES, MODELS, EMBEDDINGS)

EXTRA_FIELD = "x_llmconf_extra"
KEEPALIVE = b": keep-alive"


# --- the objects hooks work on ---------------------------------------------------------------


def _get_header(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    lname = name.lower()
    return next((v for k, v in headers if k.lower() == lname), None)


def _set_header(headers: tuple[tuple[str, str], ...], name: str, value: str | None) -> tuple[tuple[str, str], ...]:
    lname = name.lower()
    kept = tuple((k, v) for k, v in headers if k.lower() != lname)
    return kept if value is None else (*kept, (name, value))


def _loads(data: bytes | str | None) -> Any:
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Request:
    """A request as received by the proxy (or as rewritten by a request hook)."""

    method: str
    path: str  # without the query
    query: str = ""  # without the "?"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    @property
    def json(self) -> Any:
        """The body parsed as JSON (None when absent or not JSON)."""
        return _loads(self.body)

    def header(self, name: str) -> str | None:
        return _get_header(self.headers, name)

    def with_json(self, value: Any) -> Request:
        body = _dumps(value).encode("utf-8")
        headers = _set_header(self.headers, "content-length", None)
        if self.header("content-type") is None:
            headers = _set_header(headers, "content-type", "application/json")
        return replace(self, body=body, headers=headers)


@dataclass(frozen=True, slots=True)
class Response:
    """A whole answer (non-stream), or the status line and headers of a stream (``body`` empty)."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    reason: str = ""

    @classmethod
    def json_answer(cls, status: int, value: Any, *, reason: str = "") -> Response:
        return cls(status, (("content-type", "application/json"),), _dumps(value).encode("utf-8"), reason)

    @property
    def json(self) -> Any:
        return _loads(self.body)

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased ('' when absent)."""
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()

    @property
    def is_json(self) -> bool:
        ctype = self.content_type
        return ctype == "application/json" or ctype.endswith("+json")

    def header(self, name: str) -> str | None:
        return _get_header(self.headers, name)

    def with_header(self, name: str, value: str | None) -> Response:
        return replace(self, headers=_set_header(self.headers, name, value))

    def with_json(self, value: Any) -> Response:
        return replace(self, body=_dumps(value).encode("utf-8"))

    def with_status(self, status: int, reason: str = "") -> Response:
        return replace(self, status=status, reason=reason)


@dataclass(frozen=True, slots=True)
class Event:
    """One block of an event stream: a dispatched event (``data`` set) or a block that dispatches
    nothing (``data is None``: comments, blank lines, a BOM, an unterminated tail).

    ``raw`` holds the upstream bytes until the event is changed; ``encode()`` returns them, or
    re-serialises the fields with ``eol``. ``dangling_lf``: the LF of a CRLF whose CR ended the
    previous block in an earlier read (the proxy relays it only if that block went out verbatim).
    """

    data: str | None
    type: str | None = None  # the `event:` field; None when the block has none
    id: str | None = None  # an `id:` that changes the last event id (None: unchanged)
    retry: int | None = None
    raw: bytes | None = None
    eol: str = "\n"
    dangling_lf: bool = False

    # -- reading ---------------------------------------------------------------------------
    @property
    def is_event(self) -> bool:
        return self.data is not None

    @property
    def is_done(self) -> bool:
        return self.data == DONE

    @property
    def json(self) -> Any:
        """``data`` parsed as JSON (None for [DONE], non-JSON data and non-events)."""
        if self.data is None or self.data == DONE:
            return None
        return _loads(self.data)

    @property
    def obj(self) -> dict[str, Any] | None:
        """``data`` as a JSON object (a fresh copy, free to change), else None."""
        value = self.json
        return value if isinstance(value, dict) else None

    @property
    def data_type(self) -> str | None:
        """``data.type`` (Responses / Anthropic events)."""
        obj = self.obj
        value = obj.get("type") if obj is not None else None
        return value if isinstance(value, str) else None

    # -- changing (each returns a new event without raw bytes) ------------------------------
    def with_data(self, data: str) -> Event:
        return replace(self, data=data, raw=None, dangling_lf=False)

    def with_json(self, value: Any) -> Event:
        return self.with_data(_dumps(value))

    def with_type(self, event_type: str | None) -> Event:
        return replace(self, type=event_type, raw=None, dangling_lf=False)

    def copy(self) -> Event:
        """The same event, re-serialised (a duplicate that does not reuse the upstream bytes)."""
        return replace(self, raw=None, id=None, retry=None)

    @classmethod
    def make(cls, value: Any, *, type: str | None = None, eol: str = "\n") -> Event:  # noqa: A002
        """A new event whose data is ``value`` as JSON (or the string itself)."""
        return cls(data=value if isinstance(value, str) else _dumps(value), type=type, eol=eol)

    @classmethod
    def comment(cls, text: bytes = KEEPALIVE, *, eol: str = "\n") -> Event:
        return cls(data=None, raw=text + (eol * 2).encode("ascii"), eol=eol)

    # -- writing ---------------------------------------------------------------------------
    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.data is None:
            return b""
        head = ""
        if self.id is not None:
            head += f"id: {self.id}{self.eol}"
        if self.retry is not None:
            head += f"retry: {self.retry}{self.eol}"
        return head.encode("utf-8") + serialize([(self.type, self.data)], line_ending=self.eol)


@dataclass(slots=True)
class FaultContext:
    """What the hooks of one exchange share: the request as the client sent it, the request as
    sent upstream (after request hooks), and a seeded random generator."""

    request: Request
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    upstream_request: Request | None = None
    stream: bool = False  # the answer is an event stream

    @property
    def path(self) -> str:
        return self.request.path

    @property
    def request_json(self) -> Any:
        """The client's request body as JSON (None when not JSON)."""
        return self.request.json


RequestHook = Callable[[FaultContext, Request], "Request | Response"]
ResponseHook = Callable[[FaultContext, Response], Response]
EventsHook = Callable[[FaultContext, Iterator[Event]], Iterator[Event]]
WireHook = Callable[[FaultContext, Event, list[bytes]], list[bytes]]

WIRE_CONTENT, WIRE_LINE_ENDINGS, WIRE_CUTTING = 10, 20, 30


@dataclass(frozen=True, slots=True)
class Hooks:
    request: RequestHook | None = None
    response: ResponseHook | None = None
    head: ResponseHook | None = None
    events: EventsHook | None = None
    wire: WireHook | None = None
    wire_stage: int = WIRE_CONTENT

    def names(self) -> list[str]:
        return [n for n in ("request", "response", "head", "events", "wire") if getattr(self, n) is not None]


@dataclass(frozen=True)
class Fault:
    name: str
    description: str
    requirements: tuple[str, ...]  # the IDs that must catch it; empty for neutral faults
    neutral: bool
    routes: tuple[str, ...]  # paths it touches (exact, without query); empty = every path
    hooks: Hooks

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise UsageError(f"fault name {self.name!r} is not kebab-case")
        if self.neutral == bool(self.requirements):
            raise UsageError(f"fault {self.name}: neutral faults name no requirement, the others at least one")
        bad = [r for r in self.requirements if not ID_RE.match(r)]
        if bad:
            raise UsageError(f"fault {self.name}: malformed requirement IDs {bad}")
        if any(not r.startswith("/") for r in self.routes):
            raise UsageError(f"fault {self.name}: routes are absolute paths: {self.routes}")
        if not self.hooks.names():
            raise UsageError(f"fault {self.name} has no hook")

    def applies_to(self, path: str) -> bool:
        return not self.routes or path in self.routes


# --- event-stream reading: byte-exact blocks + the strict parser's interpretation --------------


class BlockSplitter:
    """Cuts an event stream into blocks, each ending with a blank line, without changing a byte
    (the concatenation of every piece returned is the input). Incremental: any chunking, a CRLF
    split across reads included."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._line = 0  # offset in _buf of the current line's start
        self._started = False
        self._skip_lf = False

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        """Returns ``(kind, bytes)`` pieces: ``block``, ``bom`` or ``lf`` (dangling, see Event)."""
        out: list[tuple[str, bytes]] = []
        if self._skip_lf and data:
            self._skip_lf = False
            if data[:1] == b"\n":
                out.append(("lf", b"\n"))
                data = data[1:]
        self._buf += data
        if not self._started:
            head = bytes(self._buf[:3])
            if len(head) < 3 and BOM.startswith(head):
                return out
            self._started = True
            if head == BOM:
                out.append(("bom", BOM))
                del self._buf[:3]
        buf, start, line = self._buf, 0, self._line
        while True:
            match = EOL_RE.search(buf, line)
            if match is None:
                break
            s, e = match.span()
            if e == len(buf) and buf[s:e] == b"\r":
                if s == line:  # a blank line ended by CR: the event is complete now
                    out.append(("block", bytes(buf[start:e])))
                    start = line = e
                    self._skip_lf = True
                break  # otherwise wait: CR or CRLF is decided by the next byte
            if s == line:
                out.append(("block", bytes(buf[start:e])))
                start = e
            line = e
        del buf[:start]
        self._line = line - start
        return out

    def close(self) -> list[tuple[str, bytes]]:
        """The unterminated tail at EOF (discarded by every conforming client), if any."""
        tail = bytes(self._buf)
        self._buf.clear()
        self._line = 0
        return [("tail", tail)] if tail else []


def _eol_of(raw: bytes) -> str:
    match = EOL_RE.search(raw)
    return match.group().decode("ascii") if match else "\n"


def iter_events(chunks: Iterable[bytes]) -> Iterator[Event]:
    """Events of an event stream, as soon as each block is complete. Event semantics come from
    the strict parser (``conformance.harness.sse``); ``raw`` keeps the exact upstream bytes."""
    splitter = BlockSplitter()
    parser = SSEParser()
    last_id: str | None = None
    last_retry: int | None = None
    eol = "\n"

    def convert(kind: str, raw: bytes) -> Event:
        nonlocal last_id, last_retry, eol
        if kind == "tail":
            return Event(data=None, raw=raw, eol=eol)
        dispatched = parser.feed(raw, t=0.0)
        if kind == "lf":
            return Event(data=None, raw=raw, eol="\r\n", dangling_lf=True)
        if kind == "block":
            eol = _eol_of(raw)
        if not dispatched:
            return Event(data=None, raw=raw, eol=eol)
        sse_event = dispatched[-1]
        new_id = sse_event.id if sse_event.id != last_id else None
        new_retry = sse_event.retry if sse_event.retry != last_retry else None
        last_id, last_retry = sse_event.id, sse_event.retry
        return Event(data=sse_event.data, type=sse_event.event_field, id=new_id, retry=new_retry, raw=raw, eol=eol)

    for chunk in chunks:
        for kind, raw in splitter.feed(chunk):
            yield convert(kind, raw)
    for kind, raw in splitter.close():
        yield convert(kind, raw)


# --- helpers for the fault hooks --------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _choices(obj: Any) -> list[dict[str, Any]]:
    choices = obj.get("choices") if isinstance(obj, dict) else None
    return [c for c in choices if isinstance(c, dict)] if isinstance(choices, list) else []


def _delta(choice: dict[str, Any]) -> dict[str, Any] | None:
    delta = choice.get("delta")
    return delta if isinstance(delta, dict) else None


def _message(choice: dict[str, Any]) -> dict[str, Any] | None:
    message = choice.get("message")
    return message if isinstance(message, dict) else None


def _tool_fragments(choice: dict[str, Any]) -> list[dict[str, Any]]:
    delta = _delta(choice)
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


# --- OpenAI chat streams -------------------------------------------------------------------------


def _drop_done(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    for event in events:
        if not event.is_done:
            yield event


def _data_after_done(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
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


def _two_finish_reasons(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    for event in events:
        yield event
        obj = event.obj
        finals = [c for c in _choices(obj) if c.get("finish_reason") is not None]
        if obj is not None and finals:
            dup = {k: v for k, v in obj.items() if k != "usage"}
            dup["choices"] = [{**c, "delta": {}} for c in finals]
            yield event.with_json(dup)


def _missing_role(ctx: FaultContext, obj: dict[str, Any]) -> dict[str, Any]:
    for choice in _choices(obj):
        delta = _delta(choice)
        if delta is not None:
            delta.pop("role", None)
    return obj


def _chunk_id_drift(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
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


def _force_include_usage(ctx: FaultContext, request: Request) -> Request:
    body = request.json
    if not isinstance(body, dict) or body.get("stream") is not True:
        return request
    options = body.get("stream_options")
    options = dict(options) if isinstance(options, dict) else {}
    if options.get("include_usage") is True:
        return request
    options["include_usage"] = True
    return request.with_json({**body, "stream_options": options})


def _usage_every_chunk(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
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
        deltas += sum(1 for c in _choices(obj) if (_delta(c) or {}).get("content"))
    if usage is None:
        usage = {"prompt_tokens": 1, "completion_tokens": deltas, "total_tokens": deltas + 1}
    for event in events:
        obj = event.obj
        if obj is None or "choices" not in obj or obj.get("usage") == usage:
            yield event
        else:
            yield event.with_json({**obj, "usage": usage})


def _usage_missing(ctx: FaultContext, obj: dict[str, Any]) -> dict[str, Any] | None:
    if obj.get("usage") is None:
        return obj
    if obj.get("choices") == []:
        return None
    obj.pop("usage")
    return obj


def _bump_total(obj: Any) -> Any:
    usage = obj.get("usage") if isinstance(obj, dict) else None
    if isinstance(usage, dict) and _is_int(usage.get("total_tokens")):
        usage["total_tokens"] += 1
    return obj


# --- tool calls --------------------------------------------------------------------------------


def _finish_stop_body(ctx: FaultContext, body: Any) -> Any:
    for choice in _choices(body):
        message = _message(choice)
        if message and message.get("tool_calls") and choice.get("finish_reason") == "tool_calls":
            choice["finish_reason"] = "stop"
    return body


def _finish_stop_stream(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    with_calls: set[Any] = set()
    for event in events:
        obj = event.obj
        changed = False
        for choice in _choices(obj):
            if _tool_fragments(choice):
                with_calls.add(choice.get("index"))
            if choice.get("finish_reason") == "tool_calls" and choice.get("index") in with_calls:
                choice["finish_reason"] = "stop"
                changed = True
        yield event.with_json(obj) if changed else event


def _finish_calls_body(ctx: FaultContext, body: Any) -> Any:
    for choice in _choices(body):
        message = _message(choice)
        if not (message and message.get("tool_calls")) and choice.get("finish_reason") is not None:
            choice["finish_reason"] = "tool_calls"
    return body


def _finish_calls_stream(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    with_calls: set[Any] = set()
    for event in events:
        obj = event.obj
        changed = False
        for choice in _choices(obj):
            if _tool_fragments(choice):
                with_calls.add(choice.get("index"))
            reason = choice.get("finish_reason")
            if reason is not None and reason != "tool_calls" and choice.get("index") not in with_calls:
                choice["finish_reason"] = "tool_calls"
                changed = True
        yield event.with_json(obj) if changed else event


def _index_zero(ctx: FaultContext, obj: dict[str, Any]) -> dict[str, Any]:
    for choice in _choices(obj):
        for fragment in _tool_fragments(choice):
            fragment["index"] = 0
    return obj


def _name_every_fragment(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    names: dict[tuple[Any, Any], str] = {}
    for event in events:
        obj = event.obj
        changed = False
        for choice in _choices(obj):
            for fragment in _tool_fragments(choice):
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


def _tool_args_body(ctx: FaultContext, body: Any) -> Any:
    for choice in _choices(body):
        message = _message(choice)
        for call in (message or {}).get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                function["arguments"] = corrupt_json_text(function["arguments"])
    return body


def _tool_args_stream(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    # The last fragment of a call is known only when the choice finishes: from the first
    # fragment on, events are held until a finish_reason, [DONE] or the end of the stream.
    held: list[Event] = []
    for event in events:
        obj = event.obj
        carries = any(_tool_fragments(c) for c in _choices(obj))
        finishes = event.is_done or any(c.get("finish_reason") is not None for c in _choices(obj))
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
        for choice in _choices(obj):
            for fragment in _tool_fragments(choice):
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


def _think_leak_body(ctx: FaultContext, body: Any) -> Any:
    for choice in _choices(body):
        message = _message(choice)
        if message is None:
            continue
        content = message.get("content") if isinstance(message.get("content"), str) else ""
        message["content"] = f"<think>{_reasoning_of(message)}</think>{content}"
    return body


def _think_leak_stream(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    reasoning: dict[Any, str] = {}
    leaked: set[Any] = set()
    for event in events:
        obj = event.obj
        changed = False
        for choice in _choices(obj):
            index = choice.get("index")
            delta = _delta(choice)
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


def _json_invalid_body(ctx: FaultContext, body: Any) -> Any:
    if not _json_mode(ctx):
        return body
    for choice in _choices(body):
        message = _message(choice)
        if message is not None and isinstance(message.get("content"), str):
            message["content"] = _truncate_content(message["content"])
    return body


def _content_choices(obj: Any) -> list[dict[str, Any]]:
    return [c for c in _choices(obj) if isinstance((_delta(c) or {}).get("content"), str) and _delta(c)["content"]]


def _json_invalid_stream(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
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
        delta = _delta(choice)
        assert delta is not None
        delta["content"] = _truncate_content(delta["content"])
    return event.with_json(obj)


# --- Responses ------------------------------------------------------------------------------------


TERMINAL = ("response.completed", "response.failed", "response.incomplete")


def _no_sequence_number(ctx: FaultContext, obj: dict[str, Any]) -> dict[str, Any]:
    obj.pop("sequence_number", None)
    return obj


def _completed_not_last(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
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
            if _is_int(obj.get("sequence_number")):
                extra["sequence_number"] = obj["sequence_number"] + 1
            yield Event.make(extra, type="response.output_text.delta" if event.type else None, eol=event.eol)


def _delta_text_mismatch(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
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


def _complete_response(response: Any) -> Any:
    if not isinstance(response, dict):
        return response
    if response.get("status") == "incomplete":
        response["status"] = "completed"
    response.pop("incomplete_details", None)
    for item in response.get("output") or []:
        if isinstance(item, dict) and item.get("status") == "incomplete":
            item["status"] = "completed"
    return response


def _completed_on_truncation_event(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
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
            _complete_response(obj["response"])
        item = obj.get("item")
        if isinstance(item, dict) and item.get("status") == "incomplete":
            item["status"] = "completed"
        if obj == original:
            yield event
            continue
        changed = event.with_json(obj)
        yield changed.with_type("response.completed") if renamed else changed


# --- Anthropic Messages ---------------------------------------------------------------------------


def _double_message_start(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    doubled = False
    for event in events:
        yield event
        if not doubled and event.data_type == "message_start":
            doubled = True
            yield event.copy()


def _block_before_message_start(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
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


def _event_name_mismatch(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
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


def _invalid_input_json_stream(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
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


def _invalid_input_json_body(ctx: FaultContext, body: Any) -> Any:
    content = body.get("content") if isinstance(body, dict) else None
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") in ("tool_use", "server_tool_use"):
            block["input"] = corrupt_json_text(_dumps(block.get("input", {})))
    return body


def _count_tokens_off(ctx: FaultContext, body: Any) -> Any:
    if isinstance(body, dict) and _is_int(body.get("input_tokens")):
        body["input_tokens"] += 3
    return body


# --- HTTP status, envelopes, headers ---------------------------------------------------------------


def _client_error_to_500(ctx: FaultContext, response: Response) -> Response:
    if 400 <= response.status < 500:
        return response.with_status(500, "Internal Server Error")
    return response


def _not_serving(ctx: FaultContext, request: Request) -> Request | Response:
    if request.path == READY and request.method in ("GET", "HEAD"):
        return Response.json_answer(200, {"object": "health.response", "message": "ready"})
    if request.path == CHAT:
        return Response.json_answer(
            503, {"error": {"message": "the model is not loaded yet", "type": "server_error", "code": 503}},
            reason="Service Unavailable")
    return request


def _malformed_envelope(ctx: FaultContext, response: Response) -> Response:
    if 400 <= response.status < 500 and response.json is not None:
        return response.with_json({"detail": "bad request"}).with_header("content-type", "application/json")
    return response


def _text_plain_stream(ctx: FaultContext, head: Response) -> Response:
    if head.content_type == "text/event-stream":
        return head.with_header("content-type", "text/plain; charset=utf-8")
    return head


def _text_html_json(ctx: FaultContext, response: Response) -> Response:
    if response.is_json:
        return response.with_header("content-type", "text/html; charset=utf-8")
    return response


# --- neutral transformations ----------------------------------------------------------------------


def _line_endings(eol: bytes) -> WireHook:
    def hook(ctx: FaultContext, event: Event, writes: list[bytes]) -> list[bytes]:
        return [EOL_RE.sub(eol, w) for w in writes]

    return hook


def _keepalive(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    first = True
    for event in events:
        if event.is_event:
            if not first:
                yield Event.comment(eol=event.eol)
            first = False
        yield event


MAX_STRUCTURAL_CUTS = 6


def split_points(data: bytes, rng: random.Random, *, extra: int = 3) -> list[int]:
    """Where to cut one event's bytes: inside CRLF pairs, inside multi-byte UTF-8 sequences (a
    few of each) and at ``extra`` random offsets."""
    cuts: set[int] = set()
    crlf = [m.start() + 1 for m in re.finditer(rb"\r\n", data)][:MAX_STRUCTURAL_CUTS]
    cuts.update(crlf)
    utf8 = [i + 1 for i, b in enumerate(data[:-1]) if b >= 0xC0 and b != 0xFF][:MAX_STRUCTURAL_CUTS]
    cuts.update(utf8)
    if len(data) > 1:
        cuts.update(rng.randrange(1, len(data)) for _ in range(extra))
    return sorted(c for c in cuts if 0 < c < len(data))


def _split_bytes(ctx: FaultContext, event: Event, writes: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for data in writes:
        start = 0
        for cut in split_points(data, ctx.rng):
            out.append(data[start:cut])
            start = cut
        out.append(data[start:])
    return [w for w in out if w]


def _add_extra_field(ctx: FaultContext, obj: dict[str, Any]) -> dict[str, Any]:
    obj[EXTRA_FIELD] = 1
    return obj


def _add_extra_field_body(ctx: FaultContext, body: Any) -> Any:
    if isinstance(body, dict):
        body[EXTRA_FIELD] = 1
    return body


# --- the registry ---------------------------------------------------------------------------------

_ALL_STATUSES = range(100, 600)

_FAULT_LIST: tuple[Fault, ...] = (
    # chat completions streams
    Fault("drop-done", "the stream ends without data: [DONE]", ("OAI-STREAM-002",), False,
          (CHAT, COMPLETIONS), Hooks(events=_drop_done)),
    Fault("data-after-done", "a copy of the last chunk is sent after data: [DONE]", ("OAI-STREAM-003",), False,
          (CHAT, COMPLETIONS), Hooks(events=_data_after_done)),
    Fault("two-finish-reasons", "the finish chunk is followed by a second chunk with the same finish_reason",
          ("OAI-STREAM-009",), False, (CHAT,), Hooks(events=_two_finish_reasons)),
    Fault("missing-role", "delta.role is removed from every chunk", ("OAI-STREAM-008",), False, (CHAT,),
          Hooks(events=map_json_events(_missing_role))),
    Fault("chunk-id-drift", "every chunk after the first carries another id", ("OAI-STREAM-007", "OAI-CONC-001"),
          False,
          (CHAT, COMPLETIONS), Hooks(events=_chunk_id_drift)),
    Fault("usage-every-chunk",
          "include_usage is forced upstream and the final usage is put on every chunk (the stream is held "
          "until [DONE])", ("OAI-USAGE-002", "OAI-USAGE-003"), False, (CHAT,),
          Hooks(request=_force_include_usage, events=_usage_every_chunk)),
    Fault("usage-missing-with-include-usage", "the usage chunk is dropped (and usage removed from every chunk)",
          ("OAI-USAGE-002",), False, (CHAT,), Hooks(events=map_json_events(_usage_missing))),
    Fault("usage-wrong-total", "usage.total_tokens is one more than prompt + completion, in bodies and chunks",
          ("OAI-USAGE-001", "OAI-USAGE-002"), False, (CHAT, COMPLETIONS),
          Hooks(response=map_json_body(lambda ctx, body: _bump_total(body)),
                events=map_json_events(lambda ctx, obj: _bump_total(obj)))),
    # tool calls
    Fault("finish-stop-despite-tool-calls", 'finish_reason "tool_calls" becomes "stop" when tool calls were made',
          ("OAI-TOOLS-004",), False, (CHAT,),
          Hooks(response=map_json_body(_finish_stop_body), events=_finish_stop_stream)),
    Fault("finish-tool-calls-without-calls", 'finish_reason becomes "tool_calls" on answers without tool calls',
          ("OAI-TOOLS-004",), False, (CHAT,),
          Hooks(response=map_json_body(_finish_calls_body), events=_finish_calls_stream)),
    Fault("parallel-calls-index-zero", "every streamed tool_calls fragment gets index 0 (parallel calls merge)",
          ("OAI-TOOLS-003", "OAI-TOOLS-002"), False, (CHAT,), Hooks(events=map_json_events(_index_zero))),
    Fault("tool-name-repeated-per-chunk", "function.name is repeated in every streamed arguments fragment",
          ("OAI-TOOLS-002",), False, (CHAT,), Hooks(events=_name_every_fragment)),
    Fault("tool-args-invalid-json",
          "tool-call arguments lose their final '}' (non-stream, and the last streamed fragment of each call; "
          "the tool-call part of a stream is held until the choice finishes)",
          ("OAI-TOOLS-001", "OAI-TOOLS-002"), False, (CHAT,),
          Hooks(response=map_json_body(_tool_args_body), events=_tool_args_stream)),
    Fault("think-leak-into-content", "content is prefixed with <think>reasoning</think>, streamed and not",
          ("OAI-REASON-006",), False, (CHAT,),
          Hooks(response=map_json_body(_think_leak_body), events=_think_leak_stream)),
    # Responses
    Fault("responses-no-sequence-number", "sequence_number is removed from every Responses event",
          ("OAI-RESP-005", "OAI-RESP-002"), False, (RESPONSES,),
          Hooks(events=map_json_events(_no_sequence_number))),
    Fault("responses-completed-not-last", "a copy of an output_text.delta follows the terminal event",
          ("OAI-RESP-004",), False, (RESPONSES,), Hooks(events=_completed_not_last)),
    Fault("responses-delta-text-mismatch", "the first output_text.delta gets an extra character",
          ("OAI-RESP-007",), False, (RESPONSES,), Hooks(events=_delta_text_mismatch)),
    Fault("responses-completed-on-truncation",
          "status incomplete becomes completed, response.incomplete becomes response.completed, "
          "incomplete_details is dropped", ("OAI-RESP-008",), False, (RESPONSES,),
          Hooks(response=map_json_body(lambda ctx, body: _complete_response(body)),
                events=_completed_on_truncation_event)),
    # Anthropic Messages
    Fault("anthropic-double-message-start", "message_start is sent twice", ("ANT-STREAM-004",), False,
          (MESSAGES,), Hooks(events=_double_message_start)),
    Fault("anthropic-block-before-message-start", "the first content_block_start comes before message_start",
          ("ANT-STREAM-004",), False, (MESSAGES,), Hooks(events=_block_before_message_start)),
    Fault("anthropic-event-name-mismatch", "the event: line of one event differs from its data.type",
          ("ANT-STREAM-003",), False, (MESSAGES,), Hooks(events=_event_name_mismatch)),
    Fault("anthropic-invalid-input-json-delta",
          "tool_use input becomes invalid JSON: a stray '{' in the streamed partial_json, a truncated JSON "
          "string as input when not streamed", ("ANT-STREAM-005", "ANT-TOOLS-001"), False, (MESSAGES,),
          Hooks(response=map_json_body(_invalid_input_json_body), events=_invalid_input_json_stream)),
    Fault("count-tokens-off-by-n", "count_tokens input_tokens is 3 too high", ("ANT-TOKENS-002",), False,
          (COUNT_TOKENS,), Hooks(response=map_json_body(_count_tokens_off))),
    # errors, health, transport
    Fault("context-overflow-500", "4xx answers of chat completions become 500 with the same body",
          ("OAI-ERR-001",), False, (CHAT,), Hooks(response=_client_error_to_500)),
    Fault("invalid-params-500", "every 4xx answer becomes 500 with the same body",
          ("OAI-ERR-001", "ANT-MSG-002"), False, (), Hooks(response=_client_error_to_500)),
    Fault("json-mode-invalid-json",
          "with response_format json_schema/json_object the content loses its last character, streamed or not",
          ("OAI-JSON-002",), False, (CHAT,),
          Hooks(response=map_json_body(_json_invalid_body), events=_json_invalid_stream)),
    Fault("ready-while-not-serving",
          "GET /v1/health/ready answers 200 ready while chat completions answer 503 (answered by the proxy)",
          ("NIM-HEALTH-002",), False, (READY, CHAT), Hooks(request=_not_serving)),
    Fault("error-envelope-malformed", 'JSON bodies of 4xx answers become {"detail": "bad request"}',
          ("OAI-ERR-002",), False, OPENAI_ROUTES, Hooks(response=_malformed_envelope)),
    Fault("wrong-content-type", "event streams are served as text/plain, JSON as text/html",
          ("OAI-STREAM-001", "HTTP-CTYPE-001"), False, (),
          Hooks(head=_text_plain_stream, response=_text_html_json)),
    # neutral: a correct suite flags none of these (INFO at most)
    Fault("keepalive-comments", "a ': keep-alive' comment block between events", (), True, (),
          Hooks(events=_keepalive)),
    Fault("crlf", "CRLF line endings", (), True, (),
          Hooks(wire=_line_endings(b"\r\n"), wire_stage=WIRE_LINE_ENDINGS)),
    Fault("cr-only", "CR-only line endings", (), True, (),
          Hooks(wire=_line_endings(b"\r"), wire_stage=WIRE_LINE_ENDINGS)),
    Fault("split-bytes",
          "every event is written in several small writes, cut at random offsets, inside CRLF pairs and "
          "inside multi-byte UTF-8 sequences", (), True, (), Hooks(wire=_split_bytes, wire_stage=WIRE_CUTTING)),
    Fault("unknown-fields", f'"{EXTRA_FIELD}": 1 is added to every JSON object body and stream event',
          (), True, (),
          Hooks(response=map_json_body(_add_extra_field_body, statuses=_ALL_STATUSES),
                events=map_json_events(_add_extra_field))),
)

FAULTS: dict[str, Fault] = {}
for _fault in _FAULT_LIST:
    if _fault.name in FAULTS:
        raise UsageError(f"duplicate fault name {_fault.name}")
    FAULTS[_fault.name] = _fault


class UnknownFault(UsageError):
    """A fault name that is not in :data:`FAULTS`."""


def resolve(names: Iterable[str | Fault]) -> tuple[Fault, ...]:
    """The faults named (each item may hold several comma-separated names), in order, without
    duplicates. Unknown names raise :class:`UnknownFault`. :class:`Fault` objects (e.g. the
    mutation runner's adapters) pass through, ahead of the named ones."""
    items = list(names)
    given = tuple(item for item in items if isinstance(item, Fault))
    names = [item for item in items if not isinstance(item, Fault)]
    wanted: list[str] = []
    for item in names:
        for name in str(item).split(","):
            name = name.strip()
            if name and name not in wanted:
                wanted.append(name)
    unknown = [n for n in wanted if n not in FAULTS]
    if unknown:
        raise UnknownFault(
            f"unknown fault(s): {', '.join(unknown)}. Known faults: {', '.join(FAULTS)} "
            "(see `python -m conformance.faults --list`)")
    return given + tuple(FAULTS[n] for n in wanted)
