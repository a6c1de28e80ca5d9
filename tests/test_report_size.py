"""Reports stay small (issue 12 §5): an attachment longer than the limit keeps its head and tail
with a note saying how much was left out; a short one is attached whole."""

from __future__ import annotations

import json

import allure
import pytest

from conformance.harness import reporting
from conformance.harness.exchange import Exchange
from conformance.harness.sse import SSEParser


def test_clip_keeps_short_text_whole() -> None:
    text = "x" * 100
    assert reporting.clip(text, limit=100) == text


def test_clip_cuts_long_text_with_a_note() -> None:
    text = "H" * 600 + "M" * 10_000 + "T" * 300
    out = reporting.clip(text, limit=1000)
    assert out.startswith("H" * 600 + "M" * 150)
    assert out.endswith("M" * 0 + "T" * 250) and "T" * 250 in out[-250:]
    assert "truncated for the report: 9900 of 10900 characters left out" in out
    assert len(out) < 1200


def _exchange(body: bytes, *, stream: bool) -> Exchange:
    ex = Exchange.begin("POST", "http://h/v1/chat/completions", {}, b"{}", stream=stream)
    ex.status = 200
    ex.body = body
    if stream:
        ex.sse = SSEParser()
        ex.sse.feed(body, t=0.0)
        ex.sse.close()
    return ex


@pytest.fixture
def attached(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(allure, "attach", lambda body, name=None, attachment_type=None, **kw: seen.append((name, body)))
    monkeypatch.setattr(reporting, "MAX_ATTACHMENT_CHARS", 2000)
    monkeypatch.setattr(reporting.clip, "__defaults__", (2000,))
    return seen


def test_long_stream_transcript_is_clipped(attached: list[tuple[str, str]]) -> None:
    body = b"".join(b'data: {"n": %d}\n\n' % i for i in range(2000))
    reporting.attach_exchange(_exchange(body, stream=True))
    (name, text), = [(n, t) for n, t in attached if n.startswith("stream-")]
    assert len(text) < 2200 and "truncated for the report" in text
    assert text.startswith('data: {"n": 0}')


def test_long_json_response_is_attached_as_clipped_text(attached: list[tuple[str, str]]) -> None:
    body = json.dumps({"choices": [{"text": "y" * 5000}]}).encode()
    reporting.attach_exchange(_exchange(body, stream=False))
    names = [n for n, _ in attached]
    assert any(n.endswith(".truncated.txt") for n in names), names
    text = dict(attached)[next(n for n in names if n.endswith(".truncated.txt"))]
    assert "truncated for the report" in text


def test_short_json_response_is_attached_whole(attached: list[tuple[str, str]]) -> None:
    body = json.dumps({"choices": [{"text": "short"}]}).encode()
    reporting.attach_exchange(_exchange(body, stream=False))
    names = [n for n, _ in attached]
    assert any(n.startswith("response-") and n.endswith(".json") for n in names), names
    assert all("truncated for the report" not in t for _, t in attached)
