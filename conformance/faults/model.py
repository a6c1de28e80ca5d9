"""The model of the fault-injecting proxy: what a fault is and the objects its hooks work on.

Layout: this module (:class:`Fault`, :class:`Hooks`, :class:`Request`, :class:`Response`,
:class:`Event`, :class:`FaultContext`, route constants); ``stream`` (event-stream reading);
``hooks/`` (the hook functions, one module per API family); ``table`` (the named faults,
:data:`FAULTS`, :func:`resolve`). ``registry`` re-exports all of it.

A :class:`Fault` is data (name, description, the requirement IDs that must catch it, whether it
is *neutral*, the routes it touches) plus :class:`Hooks`: small pure functions, each optional,
over one stage of an exchange. The proxy (``conformance.faults.proxy``) runs the stages in this
order for every request whose path is in a fault's ``routes`` (empty ``routes`` = every path):

1. ``request(ctx, Request) -> Request | Response``: rewrite the request before it goes upstream
   (e.g. force ``stream_options.include_usage``), or answer it locally with a :class:`Response`
   (the upstream is then not called).
2. Non-stream answers (any Content-Type but ``text/event-stream``):
   ``response(ctx, Response) -> Response | Hold`` sees the whole answer (status, headers, body
   bytes) and returns the one to send (the proxy sets a correct ``Content-Length``), or
   :class:`Hold` to send nothing and keep the connection open (a hang).
3. Event streams: ``head(ctx, Response) -> Response | Hold`` sees the status and headers
   (``body`` is empty); then ``events(ctx, Iterator[Event]) -> Iterator[Event]`` transforms the stream *event
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

A hook that raises is a defect of the fault, not a verdict on the endpoint: the proxy counts it per
fault (``FaultProxy.hook_errors``), answers 500 with ``"type": "fault_hook_error"`` (or cuts a
stream already started) and logs it; the mutation runner then reports the fault *broken*.

Neutral faults change the wire but not the meaning: a correct suite must not flag them (INFO at
most). The others each name the requirement IDs that must catch them.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from conformance.harness.failures import UsageError
from conformance.harness.requirements import ID_RE
from conformance.harness.sse import serialize

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


def loads(data: bytes | str | None) -> Any:
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def dumps(value: Any) -> str:
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
        return loads(self.body)

    def header(self, name: str) -> str | None:
        return _get_header(self.headers, name)

    def with_json(self, value: Any) -> Request:
        body = dumps(value).encode("utf-8")
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
        return cls(status, (("content-type", "application/json"),), dumps(value).encode("utf-8"), reason)

    @property
    def json(self) -> Any:
        return loads(self.body)

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
        return replace(self, body=dumps(value).encode("utf-8"))

    def with_status(self, status: int, reason: str = "") -> Response:
        return replace(self, status=status, reason=reason)


@dataclass(frozen=True, slots=True)
class Hold:
    """What a ``response`` or ``head`` hook returns to answer *nothing*: the proxy sends no status
    line and keeps the connection open until the client gives up (closes it), the proxy stops, or
    the proxy's ``hold_limit_s`` passes (then the connection is closed, still unanswered). Hooks of
    later faults do not see the answer. A hang, made without a clock in the hook."""

    reason: str = ""


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
        return loads(self.data)

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
        return self.with_data(dumps(value))

    def with_type(self, event_type: str | None) -> Event:
        return replace(self, type=event_type, raw=None, dangling_lf=False)

    def copy(self) -> Event:
        """The same event, re-serialised (a duplicate that does not reuse the upstream bytes)."""
        return replace(self, raw=None, id=None, retry=None)

    @classmethod
    def make(cls, value: Any, *, type: str | None = None, eol: str = "\n") -> Event:  # noqa: A002
        """A new event whose data is ``value`` as JSON (or the string itself)."""
        return cls(data=value if isinstance(value, str) else dumps(value), type=type, eol=eol)

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
ResponseHook = Callable[[FaultContext, Response], "Response | Hold"]
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
