"""The record of one HTTP exchange: plain data, no transport.

:class:`Exchange` is what the network client (:mod:`conformance.harness.client`, the only module
that imports httpx) fills in and what everything downstream reads: checks, the stream layers
(:mod:`conformance.harness.streams`), the facades and the reports. It holds the request (redacted
URL and headers, the body), the response (status, redacted headers, raw body bytes), for streams
the byte arrival times and the strict SSE parse (:class:`~conformance.harness.sse.SSEParser`), and
timings; :meth:`Exchange.as_record` and :meth:`Exchange.redacted_body` are its redacted renderings.
"""

from __future__ import annotations

import itertools
import json as jsonlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.harness.redaction import redact, redact_bytes, redact_headers, redact_json, redact_url
from conformance.harness.sse import SSEParser

__all__ = ["EVENT_STREAM", "Exchange", "media_type"]

EVENT_STREAM = "text/event-stream"
_seq = itertools.count(1)


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type value, without parameters, lower-cased ('' when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


@dataclass(slots=True)
class Exchange:
    """One recorded HTTP exchange. :meth:`begin` redacts the URL and headers as it opens the record."""

    seq: int
    method: str
    url: str
    request_headers: list[tuple[str, str]]
    request_body: bytes | None
    stream: bool
    started_at: float  # wall clock (epoch seconds)
    status: int | None = None
    reason: str = ""
    http_version: str = ""
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    chunk_times: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, bytes)
    sse: SSEParser | None = None
    ttfb_s: float | None = None  # response headers received
    first_byte_s: float | None = None  # first body byte
    first_content_s: float | None = None  # first content-bearing delta (set by the protocol layer)
    total_s: float | None = None
    error: str | None = None  # transport or timeout failure, if the exchange did not complete
    truncated: bool = False  # the body exceeded the size limit and was cut
    #: The client stopped reading on purpose (a caller's ``stop`` budget, e.g. a stream that would
    #: otherwise run to the end of the context window): why. The body is what arrived until then.
    stopped: str | None = None

    @classmethod
    def begin(
        cls,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes | None,
        *,
        stream: bool,
    ) -> "Exchange":
        """Open the record of a request about to be sent: numbered, time-stamped, and with the URL
        and headers redacted before anything else sees them."""
        return cls(
            seq=next(_seq),
            method=method,
            url=redact_url(url),
            request_headers=redact_headers(headers),
            request_body=body,
            stream=stream,
            started_at=time.time(),
        )

    def set_response_headers(self, headers: Iterable[tuple[str, str]]) -> None:
        """Record the response headers, redacted."""
        self.response_headers = redact_headers(headers)

    # -- request ---------------------------------------------------------------------------
    @property
    def request_json(self) -> Any:
        if self.request_body is None:
            return None
        try:
            return jsonlib.loads(self.request_body)
        except ValueError:
            return None

    @property
    def path(self) -> str:
        rest = self.url.split("://", 1)[-1]
        return "/" + rest.split("/", 1)[1] if "/" in rest else "/"

    # -- response --------------------------------------------------------------------------
    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.response_headers:
            if key.lower() == lname:
                return value
        return None

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased ('' when absent)."""
        return media_type(self.header("content-type"))

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` when it is not JSON."""
        return jsonlib.loads(self.body)

    def json_or_none(self) -> Any:
        try:
            return self.json()
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def summary(self) -> str:
        kind = "stream" if self.stream else "json"
        status = self.status if self.status is not None else "no response"
        events = f", {len(self.sse.events)} events" if self.sse is not None else ""
        took = f", {self.total_s:.2f}s" if self.total_s is not None else ""
        err = f", error: {self.error}" if self.error else ""
        if self.stopped:
            err += f", stopped by the client: {self.stopped}"
        return f"{self.method} {self.path} → {status} ({kind}, {len(self.body)} bytes{events}{took}{err})"

    def as_record(self) -> dict[str, Any]:
        """A JSON-able, redacted record of the request and the response metadata."""
        body: Any
        if self.request_body is None:
            body = None
        else:
            parsed = self.request_json
            body = parsed if parsed is not None else redact(self.request_body.decode("utf-8", "replace"))[:4000]
            body = elide_long_strings(body)
        return {
            "seq": self.seq,
            "request": {
                "method": self.method,
                "url": self.url,
                "headers": dict(self.request_headers),
                "body": redact_json(body),
            },
            "response": {
                "status": self.status,
                "reason": self.reason,
                "http_version": self.http_version,
                "headers": dict(self.response_headers),
                "bytes": len(self.body),
                "truncated": self.truncated,
            },
            "timings_s": {
                "headers": self.ttfb_s,
                "first_byte": self.first_byte_s,
                "first_content_delta": self.first_content_s,
                "total": self.total_s,
                "chunks": len(self.chunk_times),
            },
            "error": self.error,
            "stopped_by_client": self.stopped,
        }

    def redacted_body(self) -> bytes:
        return redact_bytes(self.body)



#: Strings longer than this are shown head and tail in records (long-context prompts are megabytes).
LONG_STRING_CHARS = 2000


def elide_long_strings(value: Any, limit: int = LONG_STRING_CHARS) -> Any:
    """``value`` with every string longer than ``limit`` cut to its head and tail and a marker
    saying how many characters were left out (the request as sent stays in ``request_body``)."""
    if isinstance(value, str):
        if len(value) <= limit:
            return value
        half = limit // 2
        return f"{value[:half]}…[{len(value) - 2 * half} characters elided]…{value[-half:]}"
    if isinstance(value, list):
        return [elide_long_strings(v, limit) for v in value]
    if isinstance(value, dict):
        return {k: elide_long_strings(v, limit) for k, v in value.items()}
    return value
