"""Good/bad fixtures for every registered check (``tests/fixtures/checks/<check name>.json``).

A fixture file:

    {"check": "stream_terminated_by_done",
     "good": [{"description": "...", "args": [<arg>...], "kwargs": {...}, "flavors": ["compat"]}],
     "bad":  [{"description": "...", "args": [...], "expect": "substring of the failure message"}]}

Each ``<arg>`` is plain JSON (passed as is) or one typed wrapper, built by sending it through the
real :class:`~conformance.harness.client.Client` over an ``httpx.MockTransport``:

* ``{"exchange": {"status": 200, "headers": {...}, "body": <JSON> | "body_text": "..."}}`` → Exchange
  (``"sse": "..."`` instead of a body: a streamed Exchange with its SSE parse; ``"stopped": "why"``
  records a client stop budget as ``Exchange.stopped``)
* ``{"stream": {"status": 200, "headers": {...}, "sse": "data: ...\\n\\n"}}`` → ChunkStream
  (``"headers"`` defaults to ``text/event-stream``; ``"sse_chunks": [...]`` sends several chunks)
* ``{"sse": "raw text"}`` → the closed SSEParser of a stream with that body
* ``{"stream_text": {"sse": "...", "choice": 0}}`` → the concatenated text of a ChunkStream
* ``{"sse_bytes_hex": "<hex>"}`` → the closed SSEParser of a stream with exactly those bytes
* ``{"responses_stream": "event: ...\ndata: ...\n\n"}`` → a ResponsesStream (``{"sse", "headers"}`` too)
* ``{"anthropic_stream": "event: ...\ndata: ...\n\n"}`` → a MessagesStream

A ``schemas`` keyword argument is supplied for checks that take one (overlay flavors from the
case's ``flavors``, default none, i.e. the pinned spec).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.harness.client import Client, Timeouts
from conformance.harness.exchange import Exchange
from conformance.harness.schemas import SchemaSet
from conformance.harness.streams.openai import ChunkStream

FIXTURES = Path(__file__).parent / "fixtures" / "checks"
_SCHEMAS: dict[tuple[str, ...], SchemaSet] = {}


def schema_set(flavors: tuple[str, ...]) -> SchemaSet:
    if flavors not in _SCHEMAS:
        _SCHEMAS[flavors] = SchemaSet(flavors=flavors)
    return _SCHEMAS[flavors]


def mock_exchange(
    *, status: int = 200, headers: dict[str, str] | None = None, body: bytes = b"", stream: bool = False,
    chunks: list[bytes] | None = None, method: str = "POST", path: str = "/v1/chat/completions",
) -> Exchange:
    """Send one request through the real client to a mock transport that answers as given."""
    parts = chunks if chunks is not None else [body]

    async def chunked():  # the client is async underneath: several chunks need an async stream
        for part in parts:
            yield part

    def handler(request: httpx.Request) -> httpx.Response:  # noqa: ARG001
        return httpx.Response(status, headers=headers or {}, content=chunked() if len(parts) > 1 else parts[0])

    client = Client("http://endpoint.test", transport=httpx.MockTransport(handler))
    try:
        return client.request(method, path, json={"model": "m"} if method == "POST" else None, stream=stream)
    finally:
        client.close()


def recorded_after(handler: Any, exc_type: type[BaseException], *, timeouts: Timeouts | None = None,
                   **request: Any) -> Exchange:
    """Send one ``POST /v1/chat/completions`` through the real client to a mock transport running
    ``handler`` (short timeouts unless given); return the exchange the client recorded when it
    raised ``exc_type`` (what the tests hand to a check). ``request``: ``stream``, ``stop``, ..."""
    client = Client("http://endpoint.test", transport=httpx.MockTransport(handler),
                    timeouts=timeouts or Timeouts(connect_s=1, read_s=0.3, stream_idle_s=0.3, total_s=0.5))
    try:
        with pytest.raises(exc_type):
            client.request("POST", "/v1/chat/completions", json={"model": "m"}, **request)
        return client.log[-1][0]
    finally:
        client.close()


WRAPPERS = ("exchange", "stream", "sse", "stream_text", "sse_bytes_hex", "responses_stream", "anthropic_stream")


def _build(arg: Any) -> Any:
    if isinstance(arg, list) and arg and all(isinstance(a, dict) and len(a) == 1 and next(iter(a)) in WRAPPERS
                                            for a in arg):
        return [_build(a) for a in arg]
    if not isinstance(arg, dict) or len(arg) != 1 or next(iter(arg)) not in WRAPPERS:
        return arg
    (kind, spec), = arg.items()
    if kind == "exchange":
        streamed = "sse" in spec  # a streamed exchange (parsed SSE), e.g. one the client stopped
        headers = spec.get("headers", {"content-type": "text/event-stream" if streamed else "application/json"})
        if streamed:
            body = spec["sse"].encode("utf-8")
        elif "body_text" in spec:
            body = spec["body_text"].encode("utf-8")
        else:
            body = json.dumps(spec.get("body")).encode("utf-8")
        ex = mock_exchange(status=spec.get("status", 200), headers=headers, body=body, stream=streamed,
                           method=spec.get("method", "POST"), path=spec.get("path", "/v1/chat/completions"))
        ex.stopped = spec.get("stopped")  # as the client records a caller's stop budget
        return ex
    if kind == "sse_bytes_hex":  # raw bytes (e.g. invalid UTF-8) → the closed SSEParser
        ex = mock_exchange(headers={"content-type": "text/event-stream"}, chunks=[bytes.fromhex(spec)], stream=True)
        return ex.sse
    if kind in ("responses_stream", "anthropic_stream"):
        spec = spec if isinstance(spec, dict) else {"sse": spec}
        headers = spec.get("headers", {"content-type": "text/event-stream"})
        ex = mock_exchange(status=spec.get("status", 200), headers=headers, chunks=[spec["sse"].encode("utf-8")],
                           stream=True, path="/v1/responses" if kind == "responses_stream" else "/v1/messages")
        if kind == "responses_stream":
            from conformance.harness.streams.responses import ResponsesStream  # noqa: PLC0415
            return ResponsesStream.from_exchange(ex)
        from conformance.harness.streams.anthropic import MessagesStream  # noqa: PLC0415
        return MessagesStream.from_exchange(ex)
    if kind in ("stream", "sse", "stream_text"):
        spec = spec if isinstance(spec, dict) else {"sse": spec}
        headers = spec.get("headers", {"content-type": "text/event-stream"})
        if "sse_chunks" in spec:
            chunks = [c.encode("utf-8") for c in spec["sse_chunks"]]
        else:
            chunks = [spec["sse"].encode("utf-8")]
        ex = mock_exchange(status=spec.get("status", 200), headers=headers, chunks=chunks, stream=True)
        if kind == "sse":
            return ex.sse
        stream = ChunkStream.from_exchange(ex)
        return stream.text(spec.get("choice", 0)) if kind == "stream_text" else stream
    return arg


def call(fn: Any, case: dict[str, Any]) -> None:
    args = [_build(a) for a in case.get("args", [])]
    kwargs = dict(case.get("kwargs", {}))
    if "schemas" in inspect.signature(fn).parameters:
        kwargs["schemas"] = schema_set(tuple(case.get("flavors", ())))
    fn(*args, **kwargs)


def load_fixture_files() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(FIXTURES.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        out[doc["check"]] = doc | {"_file": path.name}
    return out
