"""The fault-injecting reverse proxy: a real HTTP server in front of an endpoint.

Every request is forwarded (method, path, query, headers — credentials included — and body)
through the harness client's :meth:`~conformance.harness.client.Client.forward`, the one door to
the network, which records each upstream exchange with its secrets redacted. Answers come back
with the active faults applied (``conformance.faults.model`` describes the hook stages):

* event streams are relayed **event by event**: the upstream bytes are cut into blocks as they
  arrive, interpreted by the strict SSE parser, transformed, and each event is written (and
  flushed, ``TCP_NODELAY``) as soon as it is complete, using chunked transfer encoding (HTTP/1.1)
  or a close-delimited body (HTTP/1.0). An event no fault touched goes out byte for byte;
* other answers are read whole, transformed, and sent with a correct ``Content-Length``.

An upstream failure before the answer started gives a 502 with an error body; after it started,
the connection is cut without the final chunk, so the client sees a truncated body. A fault hook
that raises is the fault's defect, never a verdict on the endpoint: it is counted per fault in
:attr:`FaultProxy.hook_errors` and logged, and the client gets a 500 ``fault_hook_error`` (with an
``X-Llmconf-Fault-Hook-Error`` header naming the fault) or, mid-stream, a truncated body. A client
that goes away is noticed at the next write: the upstream response is closed at once. Reads of
the client's request and writes to it are bounded by the read timeout, reads from the upstream
by the client's timeouts, so no thread waits forever. A hook that returns
:class:`~conformance.faults.model.Hold` (a hang) gets no answer sent at all: the connection stays
open until the client closes it, the proxy stops or ``hold_limit_s`` passes.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import random
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from conformance import __version__
from conformance.faults.model import Event, Fault, FaultContext, Hold, Request, Response
from conformance.faults.stream import iter_events
from conformance.faults.table import resolve
from conformance.harness.client import Client, Timeouts
from conformance.harness.exchange import Exchange
from conformance.harness.failures import HarnessError, UsageError
from conformance.harness.redaction import redact, register_secret

# Response headers never relayed: per-hop ones, and the framing the proxy decides itself (the
# body may change length; httpx already decoded any content-encoding).
_DROP_RESPONSE_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
    "content-length", "content-encoding",
})
_MAX_REQUEST_BODY = 64 * 1024 * 1024


class _ClientGone(Exception):
    """The downstream client closed the connection (or stopped reading)."""


class _BadRequest(Exception):
    pass


HOOK_ERROR_HEADER = "X-Llmconf-Fault-Hook-Error"


class HookError(Exception):
    """A fault's hook raised an exception (a defect of the fault, not of the endpoint)."""

    def __init__(self, fault: str, stage: str, exc: BaseException) -> None:
        super().__init__(f"fault {fault}: {stage} hook raised {type(exc).__name__}: {exc}")
        self.fault = fault
        self.stage = stage


def _call_hook(fault: Fault, stage: str, hook: Callable[..., Any], *args: Any) -> Any:
    try:
        return hook(*args)
    except Exception as exc:  # noqa: BLE001 - whatever a hook raises is the hook's defect
        raise HookError(fault.name, stage, exc) from exc


class _Source:
    """The iterator an events hook reads: it remembers an exception raised by what feeds it (the
    upstream, or an earlier hook), so that this hook is not blamed for it."""

    def __init__(self, events: Iterator[Event]) -> None:
        self._events = events
        self.raised: BaseException | None = None

    def __iter__(self) -> _Source:
        return self

    def __next__(self) -> Event:
        try:
            return next(self._events)
        except StopIteration:
            raise
        except BaseException as exc:
            self.raised = exc
            raise


def _guarded_events(fault: Fault, ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    assert fault.hooks.events is not None
    source = _Source(events)
    inner = iter(_call_hook(fault, "events", fault.hooks.events, ctx, source))
    while True:
        try:
            event = next(inner)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001
            if exc is source.raised:
                raise  # the upstream's (or an earlier hook's) failure, passed through
            raise HookError(fault.name, "events", exc) from exc
        yield event


class FaultProxy:
    """A fault-injecting reverse proxy in front of ``upstream``.

    >>> with FaultProxy("http://127.0.0.1:8080", ["drop-done"]) as proxy:   # doctest: +SKIP
    ...     url = proxy.url

    ``faults``: names from :data:`~conformance.faults.table.FAULTS` (comma-separated lists
    allowed); an unknown name raises :class:`~conformance.faults.table.UnknownFault`.
    ``seed`` makes the random choices of the faults reproducible; ``write_pause_s`` is the pause
    between the several writes of one event (only faults such as ``split-bytes`` produce them), so
    that they reach the client as separate reads; ``latency_s`` holds every request that long before
    forwarding it (a neutral transformation: the latency of a remote endpoint, used by the
    parallel-run benchmark); ``log`` receives one redacted line per exchange;
    ``hold_limit_s`` bounds how long a held (never answered) request keeps its connection.
    """

    def __init__(
        self,
        upstream: str,
        faults: Sequence[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        timeouts: Timeouts = Timeouts(),
        seed: int = 0,
        write_pause_s: float = 0.001,
        log: Callable[[str], None] | None = None,
        keep_exchanges: int = 100,
        hold_limit_s: float = 900.0,
        latency_s: float = 0.0,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"upstream must be an http(s) URL, got {redact(upstream)!r}")
        if write_pause_s < 0:
            raise UsageError("write_pause_s must be ≥ 0")
        if hold_limit_s <= 0:
            raise UsageError("hold_limit_s must be > 0")
        if latency_s < 0:
            raise UsageError("latency_s must be ≥ 0")
        self.latency_s = latency_s
        self.upstream = upstream.rstrip("/")
        self.faults: tuple[Fault, ...] = resolve(faults)
        self.host = host
        self.port = port
        self.timeouts = timeouts
        self.seed = seed
        self.write_pause_s = write_pause_s
        self.hold_limit_s = hold_limit_s
        self._stopping = threading.Event()  # set by stop(): held requests end
        self._log = log
        # Recent upstream exchanges (redacted records), newest last.
        self.exchanges: collections.deque[Exchange] = collections.deque(maxlen=keep_exchanges)
        self._client = Client(self.upstream, timeouts=timeouts, on_exchange=self._recorded)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._active = 0
        # Exceptions raised by fault hooks, per fault name (see HookError).
        self.hook_errors: collections.Counter[str] = collections.Counter()
        self.url: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> str:
        """Bind, serve in a background thread, and return the proxy's base URL."""
        if self._server is not None:
            raise UsageError("the proxy is already running")
        handler = type("FaultProxyHandler", (_Handler,), {"proxy": self, "timeout": self.timeouts.read_s})
        server_cls = _Server6 if ":" in self.host else _Server
        self._server = server_cls((self.host, self.port), handler)
        host, port = self._server.server_address[:2]
        self.port = port
        shown = f"[{host}]" if ":" in str(host) else host
        self.url = f"http://{shown}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-proxy", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop accepting, close the listening socket and the upstream client. Requests still in
        flight run on daemon threads bounded by the timeouts."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._client.close()

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def active(self) -> int:
        """Requests being handled right now."""
        return self._active

    # -- internals ---------------------------------------------------------------------------
    def _recorded(self, ex: Exchange) -> None:
        self.exchanges.append(ex)
        self._client.log.clear()  # the deque keeps the recent ones; a long-running proxy must not grow

    @contextlib.contextmanager
    def _tracking(self) -> Iterator[None]:
        with self._lock:
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1

    def hook_failed(self, exc: HookError) -> None:
        with self._lock:
            self.hook_errors[exc.fault] += 1

    def log(self, line: str) -> None:
        if self._log is not None:
            self._log(redact(line))

    def context(self, request: Request) -> FaultContext:
        return FaultContext(request=request, rng=random.Random(f"{self.seed}:{next(self._counter)}"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"llmconf-fault-proxy/{__version__}"
    proxy: FaultProxy  # set on the per-proxy subclass

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._chunked = False
        self._started = False  # the answer's status line and headers are out

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        return  # one line per exchange is logged by the proxy instead

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    # -- request -----------------------------------------------------------------------------
    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            return self._read_chunked()
        length = self.headers.get("content-length")
        if length is None:
            return None
        try:
            size = int(length)
        except ValueError:
            raise _BadRequest(f"invalid Content-Length {length!r}") from None
        if size < 0 or size > _MAX_REQUEST_BODY:
            raise _BadRequest(f"Content-Length {size} out of range")
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest("malformed chunked request body") from None
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields
                return bytes(body)
            body += self.rfile.read(size)
            if len(body) > _MAX_REQUEST_BODY:
                raise _BadRequest("request body too large")
            self.rfile.readline(65537)

    def _handle(self) -> None:
        proxy = self.proxy
        self._chunked = False  # per request: a keep-alive connection carries several
        self._started = False
        with proxy._tracking():
            try:
                body = self._read_body()
            except (_BadRequest, OSError) as exc:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.send_error(400, str(exc))
                return
            target = urlsplit(self.path)
            request = Request(method=self.command, path=target.path or "/", query=target.query,
                              headers=tuple(self.headers.items()), body=body)
            for name, value in request.headers:
                if name.lower() == "authorization":
                    register_secret(value.split(" ", 1)[-1].strip())
                elif name.lower() in ("x-api-key", "api-key"):
                    register_secret(value.strip())
            ctx = proxy.context(request)
            faults = [f for f in proxy.faults if f.applies_to(request.path)]
            names = ",".join(f.name for f in faults) or "-"
            if proxy.latency_s:
                time.sleep(proxy.latency_s)
            try:
                self._exchange(ctx, faults, names)
            except _ClientGone:
                self.close_connection = True
                proxy.log(f"{request.method} {request.path}: client went away (faults: {names})")
            except HookError as exc:
                self.close_connection = True
                proxy.hook_failed(exc)
                proxy.log(f"{request.method} {request.path}: {exc}")
                if not self._started:
                    self._error(500, f"fault proxy: {exc}", "fault_hook_error", ((HOOK_ERROR_HEADER, exc.fault),))
            except HarnessError as exc:
                self.close_connection = True
                proxy.log(f"{request.method} {request.path}: upstream failed: {exc} (faults: {names})")
                if not self._started:
                    self._error(502, f"fault proxy: upstream request failed: {exc}", "upstream_error")
            except Exception as exc:  # noqa: BLE001 - a fault or proxy bug must not kill the server
                self.close_connection = True
                proxy.log(f"{request.method} {request.path}: proxy error {type(exc).__name__}: {exc}")
                if not self._started:
                    self._error(500, f"fault proxy internal error: {type(exc).__name__}: {exc}", "proxy_error")

    def _exchange(self, ctx: FaultContext, faults: list[Fault], names: str) -> None:
        outgoing: Request = ctx.request
        for fault in faults:
            if fault.hooks.request is not None:
                result = _call_hook(fault, "request", fault.hooks.request, ctx, outgoing)
                if isinstance(result, Response):
                    ctx.upstream_request = None
                    self._send_whole(ctx, faults, result)
                    self.proxy.log(f"{outgoing.method} {outgoing.path} → {result.status} answered by {fault.name}")
                    return
                outgoing = result
        ctx.upstream_request = outgoing
        whole: Response | None = None
        with self.proxy._client.forward(outgoing.method, outgoing.target, headers=outgoing.headers,
                                        body=outgoing.body) as upstream:
            ctx.stream = upstream.stream
            if upstream.stream:
                head = Response(upstream.status, tuple(upstream.headers), b"", upstream.reason)
                self._send_stream(ctx, faults, head, upstream.chunks)
            else:
                whole = Response(upstream.status, tuple(upstream.headers), upstream.read(), upstream.reason)
        # The upstream exchange is complete and recorded before the client sees the end of the answer.
        self.proxy.log(f"{upstream.exchange.summary()} faults: {names}")
        if whole is not None:
            self._send_whole(ctx, faults, whole)
        elif self._chunked:
            self._send(b"0\r\n\r\n")

    # -- response ----------------------------------------------------------------------------
    def _send_whole(self, ctx: FaultContext, faults: list[Fault], response: Response) -> None:
        for fault in faults:
            if fault.hooks.response is not None:
                answer = _call_hook(fault, "response", fault.hooks.response, ctx, response)
                if isinstance(answer, Hold):
                    self._hold(fault, answer)
                    return
                response = answer
        if self._bodyless(response.status):
            # HEAD keeps the upstream's length (of the body a GET would get); 1xx/204/304 have none.
            declared = response.header("content-length") if self.command == "HEAD" else None
            self._start(response, length=int(declared) if declared and declared.isdigit() else None, bodyless=True)
            return
        self._start(response, length=len(response.body))
        self._write(response.body)

    def _hold(self, fault: Fault, hold: Hold) -> None:
        """Send nothing; keep the connection until the client closes it (or resets it), the proxy
        stops or ``hold_limit_s`` passes; then close it unanswered."""
        proxy = self.proxy
        self.close_connection = True
        proxy.log(f"{self.command} {urlsplit(self.path).path}: held unanswered by {fault.name}"
                  + (f" ({hold.reason})" if hold.reason else ""))
        started = time.monotonic()
        deadline = started + proxy.hold_limit_s
        sock = self.connection
        why = f"hold limit {proxy.hold_limit_s:g}s reached"
        while True:
            if proxy._stopping.is_set():
                why = "proxy stopped"
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                readable, _, _ = select.select([sock], [], [], min(0.1, left))
                if readable and not sock.recv(1, socket.MSG_PEEK):
                    why = "client closed the connection"
                    break
            except (OSError, ValueError):
                why = "connection reset"
                break
            if readable:  # the client sent more bytes (a pipelined request): it waits too
                time.sleep(min(0.1, max(left, 0)))
        proxy.log(f"{self.command} {urlsplit(self.path).path}: hold by {fault.name} ended after "
                  f"{time.monotonic() - started:.1f}s: {why}")

    def _bodyless(self, status: int) -> bool:
        return self.command == "HEAD" or status < 200 or status in (204, 304)

    def _send_stream(self, ctx: FaultContext, faults: list[Fault], head: Response, chunks: Iterator[bytes]) -> None:
        for fault in faults:
            if fault.hooks.head is not None:
                answer = _call_hook(fault, "head", fault.hooks.head, ctx, head)
                if isinstance(answer, Hold):
                    self._hold(fault, answer)
                    return
                head = answer
        if self._bodyless(head.status):
            self._start(head, length=None, bodyless=True)
            return
        self._start(head, length=None)
        events = iter_events(chunks)
        for fault in faults:
            if fault.hooks.events is not None:
                events = _guarded_events(fault, ctx, events)
        wires = sorted((f for f in faults if f.hooks.wire is not None), key=lambda f: f.hooks.wire_stage)
        pause = self.proxy.write_pause_s
        previous_verbatim = True
        for event in events:
            if event.dangling_lf:
                # The LF of a CRLF split across upstream reads: it belongs to the previous block
                # and is relayed only if that block went out unchanged.
                if previous_verbatim and event.raw:
                    self._write(event.raw)
                continue
            data = event.encode()
            writes = [data] if data else []
            for fault in wires:
                assert fault.hooks.wire is not None
                writes = _call_hook(fault, "wire", fault.hooks.wire, ctx, event, writes)
            previous_verbatim = event.raw is not None and b"".join(writes) == event.raw
            for i, piece in enumerate(writes):
                if i and pause:
                    time.sleep(pause)
                self._write(piece)

    def _start(self, response: Response, *, length: int | None, bodyless: bool = False) -> None:
        self.send_response_only(response.status, response.reason or None)
        for name, value in response.headers:
            if name.lower() not in _DROP_RESPONSE_HEADERS:
                self.send_header(name, value)
        if length is not None:
            self.send_header("Content-Length", str(length))
        elif bodyless:
            pass
        elif self.request_version == "HTTP/1.1":
            self._chunked = True
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.close_connection = True  # HTTP/1.0: the end of the body is the end of the connection
        if self.close_connection:
            self.send_header("Connection", "close")
        self._started = True
        try:
            self.end_headers()
        except OSError as exc:
            raise _ClientGone(str(exc)) from exc

    def _write(self, data: bytes) -> None:
        if not data:
            return
        self._send(b"%X\r\n%s\r\n" % (len(data), data) if self._chunked else data)

    def _send(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError as exc:  # BrokenPipe, ConnectionReset, a write timeout
            raise _ClientGone(str(exc)) from exc

    def _error(self, status: int, message: str, kind: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        body = Response.json_answer(status, {"error": {"message": redact(message), "type": kind, "code": status}})
        for name, value in headers:
            body = body.with_header(name, value)
        with contextlib.suppress(_ClientGone):
            self._start(body, length=len(body.body))
            if not self._bodyless(status):
                self._write(body.body)
