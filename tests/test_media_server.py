"""The suite's local media server serves the generated media, a 404, a 500 and a URL that never
answers, on 127.0.0.1 only, and records every request it was sent."""

from __future__ import annotations

import time

import httpx
import pytest

from conformance.harness import media
from conformance.harness.media_server import MediaServer


@pytest.fixture
def server():
    with MediaServer(hold_s=30) as srv:
        yield srv


def test_serves_catalog_media_with_their_mime_types(server):
    assert server.base_url.startswith("http://127.0.0.1:")
    with httpx.Client(timeout=10) as client:
        for key in ("png-1x1", "jpeg-64", "gif-64", "webp-64", "wav-1s"):
            medium = media.CATALOG[key]
            response = client.get(server.url(key))
            assert response.status_code == 200, key
            assert response.headers["content-type"] == medium.mime
            assert response.content == medium.data
            head = client.head(server.url(key))
            assert head.status_code == 200 and int(head.headers["content-length"]) == len(medium.data)
    assert [h.status for h in server.hits("/media/")] == [200] * 10


def test_serves_hostile_media_as_they_are(server):
    hostile = media.hostile()
    with httpx.Client(timeout=10) as client:
        for key in ("png-truncated", "empty-image", "png-bomb"):
            response = client.get(server.hostile_url(key))
            assert response.status_code == 200
            assert response.content == hostile[key].data
            assert response.headers["content-type"] == hostile[key].mime
    with pytest.raises(KeyError):
        server.hostile_url("no-such-thing")


def test_missing_and_error_paths(server):
    with httpx.Client(timeout=10) as client:
        assert client.get(server.missing_url()).status_code == 404
        assert client.get(f"{server.base_url}/media/no-such.png").status_code == 404
        assert client.get(server.error_url()).status_code == 500
    assert [h.status for h in server.hits()] == [404, 404, 500]


def test_mp4_is_404_without_ffmpeg(server):
    with httpx.Client(timeout=60) as client:
        response = client.get(server.url("mp4-1s"))
    if media.ffmpeg_missing():
        assert response.status_code == 404
    else:
        assert response.status_code == 200 and response.content[4:8] == b"ftyp"


def test_hang_path_never_answers_and_is_released_on_close():
    srv = MediaServer(hold_s=120).start()
    try:
        with httpx.Client(timeout=httpx.Timeout(10, read=0.5)) as client, pytest.raises(httpx.ReadTimeout):
            client.get(srv.hang_url())
        hits = srv.hits("/hang/")
        assert len(hits) == 1 and hits[0].status is None
        # the server still answers other requests while one is held
        with httpx.Client(timeout=10) as client:
            assert client.get(srv.url("png-1x1")).status_code == 200
    finally:
        started = time.monotonic()
        srv.close()
    assert time.monotonic() - started < 60  # close releases the held connection (generous bound)


def test_not_running_has_no_port():
    srv = MediaServer()
    with pytest.raises(RuntimeError):
        _ = srv.port
    with pytest.raises(ValueError):
        MediaServer(hold_s=0)
