"""The client layer: recording, redaction, timeouts (connect, read, stream idle, total), size limit."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from conformance.harness.client import Client, Timeouts
from conformance.harness.failures import EndpointTimeout, HarnessError, TransportError
from conformance.harness.redaction import MASK, register_secret

SECRET = "sk-test-client-secret-123456"


def test_exchange_records_request_response_and_redacts_key():
    register_secret(SECRET)
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["auth"] = request.headers["authorization"]
        return httpx.Response(200, json={"ok": True, "echo": SECRET}, headers={"server": "mock"})

    client = Client("http://h.test", api_key=SECRET, transport=httpx.MockTransport(handler))
    ex = client.request("POST", "/v1/chat/completions", json={"model": "m", "messages": []})
    assert seen["auth"] == f"Bearer {SECRET}"  # the real key goes on the wire
    assert ex.status == 200 and ex.json()["ok"] is True
    assert dict(ex.request_headers)["authorization"] == MASK
    record = json.dumps(ex.as_record())
    assert SECRET not in record and SECRET not in ex.redacted_body().decode()
    assert ex.ttfb_s is not None and ex.total_s is not None and ex.total_s >= ex.ttfb_s
    assert client.log == [(ex, "")]


def test_x_api_key_auth_mode_and_no_auth():
    got = []

    def handler(request: httpx.Request) -> httpx.Response:
        got.append((request.headers.get("x-api-key"), request.headers.get("authorization")))
        return httpx.Response(200, json={})

    client = Client("http://h.test", api_key="abcd1234", transport=httpx.MockTransport(handler))
    client.request("POST", "/v1/messages", json={}, auth="x-api-key")
    client.request("POST", "/v1/messages", json={}, auth=None)
    assert got == [("abcd1234", None), (None, None)]


def test_stream_is_parsed_with_arrival_times():
    body = [b"data: {\"a\":1}\n\n", b"data: [DONE]\n\n"]

    async def chunks():
        for part in body:
            yield part

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=chunks())

    client = Client("http://h.test", transport=httpx.MockTransport(handler))
    ex = client.request("POST", "/x", json={}, stream=True)
    assert [e.data for e in ex.sse.events] == ['{"a":1}', "[DONE]"]
    assert len(ex.chunk_times) == 2 and ex.first_byte_s is not None
    assert ex.body == b"".join(body)


def test_http_error_status_is_returned_not_raised():
    client = Client("http://h.test", transport=httpx.MockTransport(lambda r: httpx.Response(503, text="busy")))
    ex = client.request("GET", "/v1/models")
    assert ex.status == 503 and ex.text == "busy"


def test_transport_failure_is_a_harness_error_and_still_recorded():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    client = Client("http://h.test", transport=httpx.MockTransport(handler))
    with pytest.raises(TransportError):
        client.request("GET", "/v1/models")
    assert len(client.log) == 1 and client.log[0][0].error and client.log[0][0].status is None
    assert not isinstance(TransportError("x"), AssertionError)


def test_body_size_limit_aborts():
    client = Client("http://h.test", max_body_bytes=1000,
                    transport=httpx.MockTransport(lambda r: httpx.Response(200, content=b"x" * 5000)))
    with pytest.raises(TransportError, match="larger than 1000 bytes"):
        client.request("GET", "/big")
    assert client.log[0][0].truncated


# --- real sockets: timeouts --------------------------------------------------------------------


class Hostile:
    """A tiny raw-socket server that misbehaves on purpose."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            if self.behaviour == "hang-before-headers":
                self.stop.wait(10)
            elif self.behaviour == "hang-mid-stream":
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
                chunk = b"data: {}\n\n"
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.stop.wait(10)
            elif self.behaviour == "drip":
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
                while not self.stop.is_set():
                    conn.sendall(b"1\r\n:\r\n")
                    time.sleep(0.05)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def hostile(request: pytest.FixtureRequest) -> Iterator[Hostile]:
    server = Hostile(request.param)
    yield server
    server.close()


@pytest.mark.parametrize("hostile", ["hang-before-headers"], indirect=True)
def test_read_timeout_before_headers(hostile):
    client = Client(f"http://127.0.0.1:{hostile.port}", timeouts=Timeouts(read_s=0.3, stream_idle_s=5, total_s=5))
    t0 = time.monotonic()
    with pytest.raises(EndpointTimeout, match="read timeout"):
        client.request("POST", "/v1/chat/completions", json={}, stream=True)
    assert time.monotonic() - t0 < 3


@pytest.mark.parametrize("hostile", ["hang-mid-stream"], indirect=True)
def test_stream_idle_timeout_mid_stream_sync_and_async(hostile):
    client = Client(f"http://127.0.0.1:{hostile.port}", timeouts=Timeouts(read_s=5, stream_idle_s=0.3, total_s=5))
    t0 = time.monotonic()
    with pytest.raises(EndpointTimeout, match="stream idle"):
        client.request("POST", "/v1/chat/completions", json={}, stream=True)
    assert time.monotonic() - t0 < 3
    assert client.log[-1][0].sse is not None and [e.data for e in client.log[-1][0].sse.events] == ["{}"]

    async def go() -> None:
        with pytest.raises(EndpointTimeout, match="stream idle"):
            await client.arequest("POST", "/v1/chat/completions", json={}, stream=True)
        await client.aclose()

    asyncio.run(go())


@pytest.mark.parametrize("hostile", ["drip"], indirect=True)
def test_total_timeout_stops_a_drip_feed(hostile):
    client = Client(f"http://127.0.0.1:{hostile.port}", timeouts=Timeouts(read_s=5, stream_idle_s=5, total_s=0.5))
    t0 = time.monotonic()
    with pytest.raises(EndpointTimeout, match="total"):
        client.request("POST", "/v1/chat/completions", json={}, stream=True)
    assert time.monotonic() - t0 < 3


def test_connect_refused_is_transport_error():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = Client(f"http://127.0.0.1:{port}", timeouts=Timeouts(connect_s=1))
    with pytest.raises(HarnessError):
        client.request("GET", "/v1/models")
