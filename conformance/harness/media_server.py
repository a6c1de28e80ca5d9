"""A suite-owned HTTP server for media given by URL (issue 10 groundwork).

URL inputs (``image_url.url = "http://..."``, ``video_url``, ``audio_url``) are tested against this
server, never the internet. It listens on 127.0.0.1 on an ephemeral port, in a background thread,
and serves:

* ``/media/<key>.<ext>``   -- every medium of :data:`conformance.harness.media.CATALOG` (MP4 and
  MP3 only when ffmpeg is present, else 404), with its MIME type and Content-Length;
* ``/hostile/<key>``       -- every hostile file of :func:`conformance.harness.media.hostile`
  (bytes as they are, labelled with the MIME type they claim);
* ``/missing/<anything>``  -- 404;
* ``/hang/<anything>``     -- accepts the connection and the request, then never answers (the
  handler holds it until the server closes or ``hold_s`` passes);
* ``/error/<anything>``    -- 500 (an origin that fails).

Everything it is asked for is recorded in :attr:`MediaServer.requests` (path, and whether it was
answered), so a test can tell "the endpoint fetched the URL" from "the endpoint never tried".

An endpoint in a container may not reach the host's 127.0.0.1; pass ``host="0.0.0.0"`` and
``public_host=...`` (the address the endpoint sees) for that case.
"""

from __future__ import annotations

import dataclasses
import http.server
import threading
import time
from urllib.parse import quote

from conformance.harness import media


@dataclasses.dataclass(frozen=True, slots=True)
class Hit:
    path: str
    status: int | None  # None: held, never answered
    at: float


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Silent: hits are recorded in MediaServer.requests instead."""

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib name
        self._serve(body=False)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._serve(body=True)

    def _send(self, status: int, mime: str, data: bytes, body: bool) -> None:
        self.server.owner._record(self.path, status)
        self.send_response(status)
        self.send_header("Content-Type", mime)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _serve(self, body: bool) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        if path.startswith("/hang/"):
            owner._record(self.path, None)
            owner._closing.wait(owner.hold_s)
            self.close_connection = True
            return
        if path.startswith("/error/"):
            self._send(500, "text/plain", b"origin failure\n", body)
            return
        found = owner.lookup(path)
        if found is None:
            self._send(404, "text/plain", b"not found\n", body)
            return
        mime, data = found
        self._send(200, mime, data, body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: MediaServer


class MediaServer:
    """Serve the suite's media on 127.0.0.1:<ephemeral>; use as a context manager.

    >>> with MediaServer() as srv:
    ...     url = srv.url("png-64")        # http://127.0.0.1:PORT/media/png-64.png
    """

    def __init__(self, *, host: str = "127.0.0.1", public_host: str | None = None, hold_s: float = 600.0) -> None:
        if hold_s <= 0:
            raise ValueError("hold_s must be positive")
        self.host = host
        self.public_host = public_host or host
        self.hold_s = hold_s
        self.requests: list[Hit] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle
    def start(self) -> MediaServer:
        if self._server is not None:
            return self
        server = _Server((self.host, 0), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="llmconf-media-server", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # releases every held /hang/ connection
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> MediaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- addresses
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the media server is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.public_host}:{self.port}"

    def url(self, key: str) -> str:
        """The URL of a catalog medium (KeyError for an unknown key)."""
        return f"{self.base_url}/media/{quote(media.CATALOG[key].filename)}"

    def hostile_url(self, key: str) -> str:
        if key not in media.hostile():
            raise KeyError(key)
        return f"{self.base_url}/hostile/{quote(key)}"

    def missing_url(self, name: str = "image.png") -> str:
        return f"{self.base_url}/missing/{quote(name)}"

    def hang_url(self, name: str = "image.png") -> str:
        return f"{self.base_url}/hang/{quote(name)}"

    def error_url(self, name: str = "image.png") -> str:
        return f"{self.base_url}/error/{quote(name)}"

    # ---- serving
    def lookup(self, path: str) -> tuple[str, bytes] | None:
        if path.startswith("/media/"):
            name = path[len("/media/") :]
            for medium in media.CATALOG.values():
                if medium.filename == name:
                    try:
                        return medium.mime, medium.data
                    except RuntimeError:  # needs ffmpeg, which is absent: served as 404
                        return None
            return None
        if path.startswith("/hostile/"):
            item = media.hostile().get(path[len("/hostile/") :])
            return (item.mime, item.data) if item is not None else None
        return None

    def _record(self, path: str, status: int | None) -> None:
        with self._lock:
            self.requests.append(Hit(path, status, time.monotonic()))

    def hits(self, prefix: str = "") -> list[Hit]:
        with self._lock:
            return [h for h in self.requests if h.path.startswith(prefix)]
