"""A small HTTP server that misbehaves on purpose (raw sockets + threads), for testing that the
harness ends every test against a hostile endpoint as failed or broken, in bounded time, with its
reports written.

One server serves every behaviour: the first path segment selects it, so
``--endpoint http://127.0.0.1:PORT/drip`` makes ``POST /drip/v1/chat/completions`` drip. An
instance can also be given a fixed behaviour (``HostileServer("drip")``) used for paths without a
behaviour prefix. ``GET [/<behaviour>]/v1/models`` is always answered normally, so model discovery
works; every other route misbehaves (whether the request asked for a stream is read from the JSON
body's ``"stream"``).

Behaviours (:data:`BEHAVIOURS`):

* ``hang-before-headers``: read the request, never answer.
* ``hang-mid-stream``: headers and one chunk (a stream) or half of the body, then stall.
* ``reset``: headers and one chunk / part of the body, then a TCP RST (SO_LINGER 0, close).
* ``garbage``: non-HTTP bytes as the response, then close.
* ``huge-body``: a 50 MB body (JSON, or a valid SSE stream), sent quickly in 64 KiB pieces.
* ``drip``: a valid response (an SSE stream, or a JSON body) at one byte per second.
* ``wrong-content-type``: a valid JSON body labelled ``text/html``, a valid stream labelled
  ``text/plain``.
* ``endless``: valid chunks forever (a chunk a millisecond), never ``[DONE]``; a non-stream request
  gets a JSON body that never ends.
* ``drip-headers``: the status line and headers at one byte per second (the body never comes).

Shutdown never hangs: daemon threads, one stop event every wait and loop checks, the listening
socket polled with a short timeout and closed, open connections shut down.
"""

from __future__ import annotations

import json
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

BEHAVIOURS = (
    "hang-before-headers",
    "hang-mid-stream",
    "reset",
    "garbage",
    "huge-body",
    "drip",
    "wrong-content-type",
    "endless",
    "drip-headers",
)

MODEL = "hostile"
MODELS_BODY = {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "test"}]}
HUGE_BYTES = 50 * 1024 * 1024


def chat_completion(content: str = "Hello.") -> dict[str, Any]:
    return {
        "id": "chatcmpl-hostile",
        "object": "chat.completion",
        "created": 0,
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }


def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-hostile",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def sse(payload: Any) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


def valid_stream() -> list[bytes]:
    """A complete, valid chat.completion.chunk stream (one SSE event per element)."""
    return [
        sse(chunk({"role": "assistant", "content": ""})),
        sse(chunk({"content": "Hello"})),
        sse(chunk({"content": "."})),
        sse(chunk({}, "stop")),
        sse("[DONE]"),
    ]


@dataclass(frozen=True, slots=True)
class Request:
    behaviour: str | None
    method: str
    path: str  # without the behaviour prefix
    stream: bool


def _head(status: str, content_type: str, *, length: int | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"content-type: {content_type}", "connection: close", "server: hostile"]
    lines.append(f"content-length: {length}" if length is not None else "transfer-encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class HostileServer:
    """A misbehaving HTTP/1.1 server on a free loopback port; a context manager."""

    def __init__(
        self,
        behaviour: str | None = None,
        *,
        huge_bytes: int = HUGE_BYTES,
        drip_interval_s: float = 1.0,
        endless_interval_s: float = 0.001,
        hang_s: float = 120.0,
    ) -> None:
        if behaviour is not None and behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}")
        self.behaviour = behaviour
        self.huge_bytes = huge_bytes
        self.drip_interval_s = drip_interval_s
        self.endless_interval_s = endless_interval_s
        self.hang_s = hang_s
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_for(self, behaviour: str) -> str:
        """The base URL (``--endpoint``) that selects ``behaviour``."""
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}")
        return f"{self.url}/{behaviour}"

    def start(self) -> "HostileServer":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sock.settimeout(0.1)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, name=f"hostile-{self.port}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._sock is not None:
            self._sock.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # wake handlers blocked in recv/send; they close their own socket
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> "HostileServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def requests_for(self, behaviour: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.behaviour == behaviour]

    # -- serving -----------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            conn.settimeout(None)
            with self._lock:
                self._conns.add(conn)
            threading.Thread(target=self._handle, args=(conn,), name=f"hostile-{self.port}-conn", daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            request = self._read_request(conn)
            if request is not None:
                self._respond(conn, request)
        except OSError:
            pass  # the client gave up (reset, broken pipe): expected with a hostile server
        finally:
            with self._lock:
                self._conns.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def _read_request(self, conn: socket.socket) -> Request | None:
        conn.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            piece = conn.recv(65536)
            if not piece:
                return None
            data += piece
            if len(data) > 1 << 20:
                return None
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, *_ = lines[0].split(" ")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0") or 0)
        while len(body) < length:
            piece = conn.recv(65536)
            if not piece:
                break
            body += piece
        conn.settimeout(None)
        stream = False
        if body:
            try:
                parsed = json.loads(body)
                stream = isinstance(parsed, dict) and parsed.get("stream") is True
            except ValueError:
                pass
        path = target.split("?", 1)[0]
        behaviour = self.behaviour
        first, _, rest = path.lstrip("/").partition("/")
        if first in BEHAVIOURS:
            behaviour, path = first, "/" + rest
        request = Request(behaviour, method, path, stream)
        with self._lock:
            self.requests.append(request)
        return request

    def _wait(self, seconds: float) -> bool:
        """Sleep unless stopping; True when the server is stopping."""
        return self._stop.wait(seconds)

    def _respond(self, conn: socket.socket, req: Request) -> None:
        if req.method == "GET" and req.path.rstrip("/") == "/v1/models":
            body = json.dumps(MODELS_BODY).encode()
            conn.sendall(_head("200 OK", "application/json", length=len(body)) + body)
            return
        if req.behaviour is None:
            body = json.dumps({"error": {"message": "no behaviour selected", "type": "not_found"}}).encode()
            conn.sendall(_head("404 Not Found", "application/json", length=len(body)) + body)
            return
        getattr(self, "_b_" + req.behaviour.replace("-", "_"))(conn, req)

    # -- behaviours ----------------------------------------------------------------------------
    def _b_hang_before_headers(self, conn: socket.socket, req: Request) -> None:
        self._wait(self.hang_s)

    def _b_hang_mid_stream(self, conn: socket.socket, req: Request) -> None:
        if req.stream:
            conn.sendall(_head("200 OK", "text/event-stream") + _chunked(valid_stream()[0]))
        else:
            body = json.dumps(chat_completion()).encode()
            conn.sendall(_head("200 OK", "application/json", length=len(body)) + body[: len(body) // 2])
        self._wait(self.hang_s)

    def _b_reset(self, conn: socket.socket, req: Request) -> None:
        if req.stream:
            conn.sendall(_head("200 OK", "text/event-stream") + _chunked(valid_stream()[0]))
        else:
            body = json.dumps(chat_completion()).encode()
            conn.sendall(_head("200 OK", "application/json", length=len(body)) + body[: len(body) // 2])
        self._wait(0.2)  # let the partial response arrive first: the reset is *mid*-response
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # closed (with linger 0, so an RST is sent) by _handle

    def _b_garbage(self, conn: socket.socket, req: Request) -> None:
        noise = random.Random(1234).randbytes(4096)
        conn.sendall(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1 SSH-2.0-not-http \xff\xfe\r\n" + noise + b"\r\n\r\n")

    def _b_huge_body(self, conn: socket.socket, req: Request) -> None:
        piece_size = 64 * 1024
        if req.stream:
            conn.sendall(_head("200 OK", "text/event-stream"))
            event = sse(chunk({"content": "x" * (piece_size - 200)}))
            sent = 0
            while sent < self.huge_bytes and not self._stop.is_set():
                conn.sendall(_chunked(event))
                sent += len(event)
            conn.sendall(_chunked(sse("[DONE]")) + b"0\r\n\r\n")
        else:
            prefix = json.dumps(chat_completion())[:-1].encode() + b',"padding":"'
            suffix = b'"}'
            pad = self.huge_bytes - len(prefix) - len(suffix)
            conn.sendall(_head("200 OK", "application/json", length=self.huge_bytes) + prefix)
            filler = b"x" * piece_size
            while pad > 0 and not self._stop.is_set():
                n = min(pad, piece_size)
                conn.sendall(filler[:n])
                pad -= n
            conn.sendall(suffix)

    def _b_drip(self, conn: socket.socket, req: Request) -> None:
        if req.stream:
            conn.sendall(_head("200 OK", "text/event-stream"))
            payload = b"".join(valid_stream())
            for i in range(len(payload)):
                if self._wait(self.drip_interval_s):
                    return
                conn.sendall(_chunked(payload[i : i + 1]))
            conn.sendall(b"0\r\n\r\n")
        else:
            body = json.dumps(chat_completion()).encode()
            conn.sendall(_head("200 OK", "application/json", length=len(body)))
            for i in range(len(body)):
                if self._wait(self.drip_interval_s):
                    return
                conn.sendall(body[i : i + 1])

    def _b_wrong_content_type(self, conn: socket.socket, req: Request) -> None:
        if req.stream:
            conn.sendall(_head("200 OK", "text/plain; charset=utf-8")
                         + b"".join(_chunked(e) for e in valid_stream()) + b"0\r\n\r\n")
        else:
            body = json.dumps(chat_completion()).encode()
            conn.sendall(_head("200 OK", "text/html; charset=utf-8", length=len(body)) + body)

    def _b_endless(self, conn: socket.socket, req: Request) -> None:
        if req.stream:
            conn.sendall(_head("200 OK", "text/event-stream") + _chunked(valid_stream()[0]))
            piece = _chunked(sse(chunk({"content": "tick "})))
        else:
            opening = json.dumps(chat_completion(""))
            prefix = opening[: opening.index('"content": ""') + len('"content": "')].encode()
            conn.sendall(_head("200 OK", "application/json") + _chunked(prefix))
            piece = _chunked(b"tick ")
        while not self._wait(self.endless_interval_s):
            conn.sendall(piece)

    def _b_drip_headers(self, conn: socket.socket, req: Request) -> None:
        head = _head("200 OK", "text/event-stream" if req.stream else "application/json")
        for i in range(len(head)):
            if self._wait(self.drip_interval_s):
                return
            conn.sendall(head[i : i + 1])
        self._wait(self.hang_s)
