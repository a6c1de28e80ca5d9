"""The one door to the network. Only this module imports httpx.

Every call returns an :class:`~conformance.harness.exchange.Exchange` and never raises on an HTTP
status. The record itself lives in :mod:`conformance.harness.exchange` (plain data, no transport),
so checks and stream layers import no network code; it is re-exported here for older importers.
It holds the request (redacted headers, body), the response (status, redacted headers, raw body
bytes), for streams the raw byte transcript with arrival times and the strict SSE parse, and
timings (time to headers, to the first body byte, to the first content delta — set by the
protocol layer — and in total).

Timeouts: ``connect``; ``read`` (time to the response headers, and between reads of a
non-stream body); ``stream idle`` (maximum silence between bytes of a streamed body); ``total``
(wall-clock limit for the whole exchange, checked between reads; async requests are cancelled
at the limit). A timeout or transport failure raises :class:`EndpointTimeout` /
:class:`TransportError` (harness errors → Allure "broken") after the partial exchange has been
recorded.

No automatic retries. API keys are sent as ``Authorization: Bearer`` (or ``x-api-key`` when the
caller asks for it) and are redacted from everything recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import json as jsonlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from conformance import __version__
from conformance.harness.exchange import EVENT_STREAM, Exchange, media_type
from conformance.harness.failures import EndpointTimeout, HarnessError, TransportError
from conformance.harness.redaction import redact
from conformance.harness.sse import SSEParser

__all__ = ["HOP_BY_HOP_HEADERS", "USER_AGENT", "Client", "Exchange", "ExchangeHook", "Forwarded", "StopRule", "Timeouts"]

USER_AGENT = f"llm-endpoint-conformance/{__version__}"
# Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus the ones httpx computes
# itself: :meth:`Client.forward` never relays them upstream.
HOP_BY_HOP_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host",
    "content-length", "expect", "accept-encoding",
})
_forward_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect_s: float = 10.0
    read_s: float = 120.0
    stream_idle_s: float = 60.0
    total_s: float = 120.0

    def httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect_s, read=self.read_s, write=self.read_s, pool=self.total_s)


ExchangeHook = Callable[[Exchange], None]
#: Asked after every body chunk of a request that passed one: a reason (str) stops reading.
StopRule = Callable[[Exchange], "str | None"]


@dataclass(slots=True)
class Forwarded:
    """An upstream response being relayed by :meth:`Client.forward`.

    ``headers`` are the upstream's response headers *as received* (not redacted: they go back to
    whoever made the relayed request; the recorded :attr:`exchange` has them redacted). Iterating
    :attr:`chunks` reads the body as it arrives (bounded by the stream idle timeout for event
    streams, the read timeout otherwise) and records every byte into the exchange."""

    exchange: Exchange
    status: int
    reason: str
    http_version: str
    headers: list[tuple[str, str]]
    stream: bool  # Content-Type is text/event-stream
    chunks: Iterator[bytes]

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)

    def read(self) -> bytes:
        """The rest of the body, whole."""
        return b"".join(self.chunks)


#: An idle pooled connection is reused for at most 1 s. Servers close idle keep-alive connections
#: after their own timeout: 5 s for cpp-httplib (llama.cpp), uvicorn (vLLM, SGLang, NIM) and Node,
#: 2 s for gunicorn; httpx's default expiry is the same 5 s, so a request sent on a connection idle
#: for ~5 s races the server's close and fails with "Server disconnected without sending a
#: response" (measured: OAI-CTX-003 turned broken once in a loaded ``-n 4`` run on the reference).
#: Reusing only connections idle for < 1 s keeps that race out of every verdict.
KEEPALIVE_EXPIRY_S = 1.0
POOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=KEEPALIVE_EXPIRY_S)


class Client:
    """Sync and async HTTP to one endpoint. Tests never build their own clients."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeouts: Timeouts = Timeouts(),
        max_body_bytes: int = 16 * 1024 * 1024,
        max_concurrency: int = 8,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        on_exchange: ExchangeHook | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeouts = timeouts
        self.max_body_bytes = max_body_bytes
        self.max_concurrency = max_concurrency
        self._transport = transport
        self._async_transport = async_transport
        self._sync: httpx.Client | None = None  # only for forward()
        # one AsyncClient (and concurrency semaphore) per event loop that uses this client
        self._async_clients: dict[asyncio.AbstractEventLoop, tuple[httpx.AsyncClient, asyncio.Semaphore]] = {}
        # sync requests run on a private event loop thread, so every timeout (including the total
        # limit before the response headers) is enforced the same way for sync and async callers
        self._loop_lock = threading.Lock()
        self._bg_loop: asyncio.AbstractEventLoop | None = None
        self._bg_thread: threading.Thread | None = None
        self.on_exchange = on_exchange
        # (exchange, note) since the last reset: the plugin resets it per test and attaches it.
        self.log: list[tuple[Exchange, str]] = []

    # -- plumbing ----------------------------------------------------------------------------
    def _headers(self, headers: Mapping[str, str] | None, auth: str | None) -> dict[str, str]:
        out = {"user-agent": USER_AGENT, "accept": "application/json, text/event-stream"}
        if self._api_key and auth:
            if auth == "x-api-key":
                out["x-api-key"] = self._api_key
            else:
                out["authorization"] = f"Bearer {self._api_key}"
        if headers:
            out.update({k.lower(): v for k, v in headers.items()})
        return out

    def _build(
        self,
        method: str,
        path: str,
        json: Any,
        content: bytes | str | None,
        headers: Mapping[str, str] | None,
        auth: str | None,
        stream: bool = False,
    ) -> tuple[str, dict[str, str], bytes | None]:
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"
        hdrs = self._headers(headers, auth)
        if stream:
            # A connection that carried a stream is not reused: some servers (llama.cpp) close it
            # after the stream while advertising keep-alive, which would turn the *next* request
            # into a spurious transport error. The keep-alive defect itself is checked separately.
            hdrs.setdefault("connection", "close")
        body: bytes | None = None
        if json is not None and content is not None:
            raise HarnessError("pass either json= or content=, not both")
        if json is not None:
            body = jsonlib.dumps(json, ensure_ascii=False).encode("utf-8")
            hdrs.setdefault("content-type", "application/json")
        elif content is not None:
            body = content.encode("utf-8") if isinstance(content, str) else content
        return url, hdrs, body

    def _new_exchange(self, method: str, url: str, hdrs: Any, body: bytes | None, stream: bool) -> Exchange:
        return Exchange.begin(method, url, hdrs, body, stream=stream)

    def _on_headers(self, ex: Exchange, response: httpx.Response, t0: float) -> None:
        ex.ttfb_s = time.monotonic() - t0
        ex.status = response.status_code
        ex.reason = response.reason_phrase
        ex.http_version = response.http_version
        ex.set_response_headers(response.headers.multi_items())
        if ex.stream:
            ex.sse = SSEParser()

    def _on_bytes(self, ex: Exchange, chunk: bytes, t0: float, buf: bytearray,
                  limits: Timeouts | None = None) -> None:
        limits = limits or self.timeouts
        t = time.monotonic() - t0
        if ex.first_byte_s is None:
            ex.first_byte_s = t
        ex.chunk_times.append((t, len(chunk)))
        room = self.max_body_bytes - len(buf)
        if len(chunk) > room:
            buf.extend(chunk[: max(room, 0)])
            ex.truncated = True
            raise TransportError(f"response body larger than {self.max_body_bytes} bytes; aborted")
        buf.extend(chunk)
        if ex.sse is not None:
            ex.sse.feed(chunk, t=t)
        if t > limits.total_s:
            raise EndpointTimeout(f"total time limit of {limits.total_s}s exceeded after {t:.1f}s")

    def _finish(self, ex: Exchange, buf: bytearray, t0: float, error: BaseException | None) -> None:
        ex.body = bytes(buf)
        ex.total_s = time.monotonic() - t0
        if ex.sse is not None:
            ex.sse.close()
        if error is not None:
            ex.error = redact(str(error) or type(error).__name__)
        self.log.append((ex, ""))
        if self.on_exchange is not None:
            self.on_exchange(ex)

    @staticmethod
    def _translate(exc: BaseException, phase: str, timeouts: Timeouts) -> HarnessError:
        if isinstance(exc, HarnessError):
            return exc
        if isinstance(exc, httpx.ConnectTimeout):
            return EndpointTimeout(f"connect timeout ({timeouts.connect_s}s)")
        if isinstance(exc, httpx.ReadTimeout):
            limit = timeouts.stream_idle_s if phase == "stream" else timeouts.read_s
            what = "stream idle" if phase == "stream" else "read"
            return EndpointTimeout(f"{what} timeout ({limit}s) {phase}")
        if isinstance(exc, (httpx.TimeoutException, asyncio.TimeoutError, TimeoutError)):
            return EndpointTimeout(f"{type(exc).__name__} {phase}")
        if isinstance(exc, httpx.HTTPError):
            return TransportError(f"{type(exc).__name__}: {redact(str(exc))} ({phase})")
        return TransportError(f"{type(exc).__name__}: {redact(str(exc))} ({phase})")

    # -- sync --------------------------------------------------------------------------------
    def _sync_client(self) -> httpx.Client:
        if self._sync is None:
            self._sync = httpx.Client(
                timeout=self.timeouts.httpx(), transport=self._transport, follow_redirects=False, trust_env=False,
                limits=POOL_LIMITS,
            )
        return self._sync

    def _background_loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            if self._bg_loop is None or self._bg_thread is None or not self._bg_thread.is_alive():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="llmconf-client", daemon=True)
                thread.start()
                self._bg_loop, self._bg_thread = loop, thread
            return self._bg_loop

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        auth: str | None = "bearer",
        timeouts: Timeouts | None = None,
        stop: StopRule | None = None,
    ) -> Exchange:
        """Send one request; return the recorded exchange (whatever the status). Runs
        :meth:`arequest` on the client's own event-loop thread and waits for it."""
        future = asyncio.run_coroutine_threadsafe(
            self.arequest(method, path, json=json, content=content, headers=headers, stream=stream, auth=auth,
                          timeouts=timeouts, stop=stop),
            self._background_loop(),
        )
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. the per-test backstop fired: stop the request, it records itself
            raise

    @contextlib.contextmanager
    def forward(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: bytes | None = None,
    ) -> Iterator[Forwarded]:
        """Relay one request *as given* (for the fault proxy): ``path`` (with its query) is appended
        to the base URL, ``headers`` are sent unchanged except hop-by-hop ones
        (:data:`HOP_BY_HOP_HEADERS`; the body goes uncompressed, ``Accept-Encoding: identity``, and
        the connection is not reused), and no credentials of this client are added: whatever
        ``Authorization`` / ``x-api-key`` the caller passes is forwarded, and redacted in the record.

        Yields a :class:`Forwarded` as soon as the response headers arrived; the body is read by
        iterating its ``chunks``. Timeouts are this client's (connect, read until the headers,
        then stream idle between the bytes of an event stream, total). Leaving the ``with`` block
        closes the upstream response, also when the caller stops early (e.g. its own client went
        away); the exchange is recorded either way, with the error if there was one. Transport
        failures raise :class:`TransportError` / :class:`EndpointTimeout`; the HTTP status never
        raises."""
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"
        items = headers.items() if isinstance(headers, Mapping) else headers
        hdrs = [(k, v) for k, v in items if k.lower() not in HOP_BY_HOP_HEADERS]
        names = {k.lower() for k, _ in hdrs}
        if "user-agent" not in names:
            hdrs.append(("user-agent", USER_AGENT))
        hdrs += [("accept-encoding", "identity"), ("connection", "close")]
        with _forward_lock:
            client = self._sync_client()
        ex = self._new_exchange(method, url, hdrs, body, stream=False)  # type: ignore[arg-type]
        t0 = time.monotonic()
        buf = bytearray()
        response: httpx.Response | None = None
        error: BaseException | None = None
        try:
            try:
                request = client.build_request(method, url, headers=hdrs, content=body)
                response = client.send(request, stream=True)
            except Exception as exc:  # noqa: BLE001 - translated into a harness error
                raise self._translate(exc, "before response headers", self.timeouts) from exc
            ex.stream = media_type(response.headers.get("content-type")) == EVENT_STREAM
            self._on_headers(ex, response, t0)
            if ex.stream:
                timeout_ext = response.request.extensions.get("timeout")
                if isinstance(timeout_ext, dict):
                    timeout_ext["read"] = self.timeouts.stream_idle_s
            yield Forwarded(
                exchange=ex,
                status=response.status_code,
                reason=response.reason_phrase,
                http_version=response.http_version,
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw],
                stream=ex.stream,
                chunks=self._relay(ex, response, t0, buf),
            )
        except BaseException as exc:  # noqa: BLE001 - recorded, then re-raised unchanged
            error = exc
            raise
        finally:
            if response is not None:
                response.close()
            self._finish(ex, buf, t0, error)

    def _relay(self, ex: Exchange, response: httpx.Response, t0: float, buf: bytearray) -> Iterator[bytes]:
        phase = "stream" if ex.stream else "reading body"
        try:
            for chunk in response.iter_bytes():
                self._on_bytes(ex, chunk, t0, buf)
                yield chunk
        except HarnessError:
            raise
        except Exception as exc:  # noqa: BLE001 - translated into a harness error
            raise self._translate(exc, phase, self.timeouts) from exc

    # -- async -------------------------------------------------------------------------------
    def _async_client(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        entry = self._async_clients.get(loop)
        if entry is None:
            transport = self._async_transport
            if transport is None and isinstance(self._transport, httpx.AsyncBaseTransport):
                transport = self._transport  # e.g. httpx.MockTransport serves both
            client = httpx.AsyncClient(timeout=self.timeouts.httpx(), transport=transport, follow_redirects=False,
                                       trust_env=False, limits=POOL_LIMITS)
            entry = self._async_clients[loop] = (client, asyncio.Semaphore(self.max_concurrency))
        return entry

    async def arequest(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        auth: str | None = "bearer",
        timeouts: Timeouts | None = None,
        stop: StopRule | None = None,
    ) -> Exchange:
        """``timeouts`` replaces the client's for this one request (e.g. a read timeout scaled to a
        long prompt's prefill). ``stop`` is asked after every body chunk; when it returns a reason
        the client stops reading, closes the response and records the reason in
        ``Exchange.stopped`` (a budget for a stream that would otherwise run to the end of the
        window). Stopping is the caller's decision, not an error."""
        url, hdrs, body = self._build(method, path, json, content, headers, auth, stream)
        client, semaphore = self._async_client()
        limits = timeouts or self.timeouts
        async with semaphore:
            ex = self._new_exchange(method, url, hdrs, body, stream)
            t0 = time.monotonic()
            buf = bytearray()
            state = {"phase": "before response headers"}
            error: BaseException | None = None
            try:
                async with asyncio.timeout(limits.total_s):
                    await self._arun(client, ex, method, url, hdrs, body, stream, t0, buf, state,
                                     limits=limits, stop=stop)
            except BaseException as exc:  # noqa: BLE001
                error = exc
            self._finish(ex, buf, t0, error)
            if error is not None:
                if isinstance(error, (KeyboardInterrupt, SystemExit, asyncio.CancelledError)):
                    raise error
                if isinstance(error, TimeoutError) and not isinstance(error, HarnessError):
                    raise EndpointTimeout(
                        f"total time limit of {limits.total_s}s exceeded ({state['phase']})"
                    ) from error
                raise self._translate(error, state["phase"], limits) from error
            return ex

    async def _arun(
        self,
        client: httpx.AsyncClient,
        ex: Exchange,
        method: str,
        url: str,
        hdrs: dict[str, str],
        body: bytes | None,
        stream: bool,
        t0: float,
        buf: bytearray,
        state: dict[str, str],
        *,
        limits: Timeouts | None = None,
        stop: StopRule | None = None,
    ) -> None:
        limits = limits or self.timeouts
        request = client.build_request(method, url, headers=hdrs, content=body)
        if limits is not self.timeouts:
            request.extensions["timeout"] = limits.httpx().as_dict()
        response = await client.send(request, stream=True)
        try:
            self._on_headers(ex, response, t0)
            state["phase"] = "stream" if stream else "reading body"
            idle = limits.stream_idle_s if stream else limits.read_s
            iterator = response.aiter_bytes().__aiter__()
            while True:
                try:
                    chunk = await asyncio.wait_for(iterator.__anext__(), timeout=idle)
                except StopAsyncIteration:
                    break
                except asyncio.TimeoutError:
                    raise EndpointTimeout(
                        f"{'stream idle' if stream else 'read'} timeout ({idle}s) {state['phase']}"
                    ) from None
                self._on_bytes(ex, chunk, t0, buf, limits)
                if stop is not None and (reason := stop(ex)):
                    ex.stopped = str(reason)
                    break
        finally:
            await response.aclose()

    # -- third-party clients (official SDKs) ---------------------------------------------------
    def sdk_http_client(self, library: str = "httpx") -> Any:
        """An HTTP client for an official SDK (``openai.OpenAI(http_client=...)``): its traffic goes
        through this door too, and every exchange it makes is recorded and redacted like ours.
        ``library`` is the httpx distribution the SDK expects (recent anthropic SDKs use ``httpx2``,
        an API-compatible fork)."""
        lib = importlib.import_module(library)
        transport_cls = _recording_transport_class(lib)
        inner = self._transport if (self._transport is not None and library == "httpx") else lib.HTTPTransport()
        timeout = lib.Timeout(connect=self.timeouts.connect_s, read=self.timeouts.read_s, write=self.timeouts.read_s,
                              pool=self.timeouts.total_s)
        return lib.Client(transport=transport_cls(self, inner, lib), timeout=timeout, trust_env=False,
                          follow_redirects=False)

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the sync plumbing: the forward() client and the private event-loop thread."""
        if self._sync is not None:
            self._sync.close()
            self._sync = None
        loop, thread = self._bg_loop, self._bg_thread
        if loop is not None and thread is not None and thread.is_alive():
            entry = self._async_clients.pop(loop, None)
            if entry is not None:
                asyncio.run_coroutine_threadsafe(entry[0].aclose(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
        self._bg_loop = self._bg_thread = None

    async def aclose(self) -> None:
        """Close the AsyncClient of the running loop."""
        entry = self._async_clients.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[0].aclose()


@functools.lru_cache(maxsize=4)
def _recording_transport_class(lib: Any) -> type:
    """A transport (for ``lib`` = httpx or an API-compatible fork) that records every exchange an
    SDK makes into the owning :class:`Client`, teeing the response bytes as the SDK reads them."""

    class RecordingStream(lib.SyncByteStream):  # type: ignore[misc, name-defined]
        def __init__(self, owner: Client, ex: Exchange, inner: Any, t0: float) -> None:
            self.owner, self.ex, self.inner, self.t0 = owner, ex, inner, t0
            self.buf = bytearray()
            self.error: BaseException | None = None
            self.done = False

        def __iter__(self):  # type: ignore[no-untyped-def]
            try:
                for chunk in self.inner:
                    self.owner._on_bytes(self.ex, chunk, self.t0, self.buf)
                    yield chunk
            except BaseException as exc:  # noqa: BLE001 - recorded, then re-raised to the SDK
                self.error = exc
                raise

        def close(self) -> None:
            try:
                self.inner.close()
            finally:
                if not self.done:
                    self.done = True
                    self.owner._finish(self.ex, self.buf, self.t0, self.error)

    class RecordingTransport(lib.BaseTransport):  # type: ignore[misc, name-defined]
        def __init__(self, owner: Client, inner: Any, module: Any) -> None:
            self.owner, self.inner, self.lib = owner, inner, module

        def handle_request(self, request: Any) -> Any:
            body = request.read() or None
            ex = self.owner._new_exchange(request.method, str(request.url), dict(request.headers), body,
                                          stream=False)
            t0 = time.monotonic()
            try:
                response = self.inner.handle_request(request)
            except BaseException as exc:
                self.owner._finish(ex, bytearray(), t0, exc)
                raise
            ex.stream = media_type(response.headers.get("content-type")) == EVENT_STREAM
            self.owner._on_headers(ex, response, t0)
            return self.lib.Response(response.status_code, headers=response.headers,
                                     stream=RecordingStream(self.owner, ex, response.stream, t0),
                                     extensions=response.extensions)

        def close(self) -> None:
            self.inner.close()

    return RecordingTransport
