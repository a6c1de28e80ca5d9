"""Scaffolding shared by the fault-proxy tests (``tests/test_faults.py``, ``test_context_faults.py``,
``test_media_faults.py``, ``test_eval_faults.py``): a canned upstream served on a free local port,
and clients closed after every test.

Each test module keeps its own canned upstream (a request handler class) and its own
module-scoped ``upstream`` fixture, which serves that handler with :func:`serve`; it imports the
fixtures :func:`schemas` and :func:`_close_clients` (autouse) from here, and opens its clients
with :func:`client`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conformance.harness.client import Client, Timeouts
from conformance.harness.schemas import SchemaSet

TIMEOUTS = Timeouts(connect_s=5, read_s=10, stream_idle_s=10, total_s=30)


def send_json(handler: BaseHTTPRequestHandler, status: int, doc: Any) -> None:
    """Answer ``doc`` as a JSON body with ``status`` (content-type and length set)."""
    data = json.dumps(doc).encode()
    handler.send_response(status)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class JSONHandler(BaseHTTPRequestHandler):
    """A canned upstream's base: quiet, ``GET`` lists one model ``m``, and ``self._json(status,
    doc)`` answers a JSON body."""

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._json(200, {"object": "list", "data": [{"id": "m", "object": "model"}]})

    def _json(self, status: int, doc: Any) -> None:
        send_json(self, status, doc)


def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 (a free port) and yield its base URL; shut down when resumed.
    For a fixture: ``yield from serve(Upstream)``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    return SchemaSet()


_open_clients: list[Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _open_clients:
        _open_clients.pop().close()


def client(url: str | None, timeouts: Timeouts = TIMEOUTS) -> Client:
    """A client of ``url``, closed after the test (by :func:`_close_clients`)."""
    assert url is not None
    c = Client(url, timeouts=timeouts)
    _open_clients.append(c)
    return c
