"""LangChain as a client (conformance/harness/lchain.py, conformance/sdk/test_langchain.py), offline:
every request ChatOpenAI and ChatNVIDIA make goes through the suite's recording client, no connection
leaves for any host but the (canned, loopback) endpoint — no model catalog, no tiktoken download, no
telemetry, no tracing — the async paths refuse instead of bypassing the door, and the parsed objects
the live tests judge come out as the checks expect."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from conformance.harness import lchain
from conformance.harness.checks import sdk as checks
from conformance.harness.failures import ConformanceFailure, HarnessError, NotApplicable
from tests.fake_upstream import JSONHandler, client, serve

pytest.importorskip("langchain_openai", reason="langchain-openai is not installed (pip install -e '.[langchain]')")
pytest.importorskip("langchain_nvidia_ai_endpoints",
                    reason="langchain-nvidia-ai-endpoints is not installed (pip install -e '.[langchain]')")

from langchain_core.messages import HumanMessage  # noqa: E402

from tests.fake_upstream import _close_clients  # noqa: E402, F401 - autouse fixture

USAGE = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
WEATHER = {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather.", "parameters": WEATHER}}]
SEEN: list[str] = []


class Upstream(JSONHandler):
    """A chat completions endpoint: a tool call when tools are sent, else "Hello there"; streamed
    (with a usage chunk when asked) or not."""

    def do_GET(self) -> None:  # noqa: N802
        SEEN.append(f"GET {self.path}")
        super().do_GET()

    def do_POST(self) -> None:  # noqa: N802
        SEEN.append(f"POST {self.path}")
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if body.get("tools"):
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather",
                                                                  "arguments": "{\"location\": \"Paris\"}"}}]}
            finish = "tool_calls"
        else:
            message, finish = {"role": "assistant", "content": "Hello there"}, "stop"
        if not body.get("stream"):
            self._json(200, {"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
                             "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": USAGE})
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
        chunks = [{"index": 0, "delta": {"role": "assistant", "content": "Hello"}, "finish_reason": None},
                  {"index": 0, "delta": {"content": " there"}, "finish_reason": None},
                  {"index": 0, "delta": {}, "finish_reason": "stop"}]
        for choice in chunks:
            self.wfile.write(f"data: {json.dumps({**base, 'choices': [choice]})}\n\n".encode())
        if (body.get("stream_options") or {}).get("include_usage"):
            self.wfile.write(f"data: {json.dumps({**base, 'choices': [], 'usage': USAGE})}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.close_connection = True


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    yield from serve(Upstream)


@pytest.fixture
def outside(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every attempt to resolve or connect to a host other than loopback (refused and recorded)."""
    attempts: list[str] = []
    local = ("127.0.0.1", "::1", "localhost")
    connect, resolve = socket.socket.connect, socket.getaddrinfo

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and address[0] not in local:
            attempts.append(f"connect {address}")
            raise OSError(f"test guard: no connection to {address}")
        return connect(self, address)

    def guarded_resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in local:
            attempts.append(f"resolve {name}")
            raise socket.gaierror(f"test guard: no lookup of {name}")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_resolve)
    monkeypatch.setenv("LANGSMITH_TRACING", "true")  # tracing must stay off even when asked for
    monkeypatch.setenv("LANGCHAIN_TRACING_V2", "true")
    monkeypatch.delenv("NVIDIA_USAGE_TELEMETRY_ENABLED", raising=False)
    return attempts


@pytest.fixture
def http(upstream: str) -> Iterator[Any]:
    c = client(upstream)
    h = c.sdk_http_client()
    yield c, h
    h.close()


def _model(kind: str, c: Any, h: Any, **params: Any) -> Any:
    if kind == "openai":
        return lchain.chat_openai(c, h, api_key="sk-test-secret", model="m", timeout_s=10, max_tokens=8,
                                  temperature=0, extra_body={"chat_template_kwargs": {"enable_thinking": False}},
                                  **params)
    return lchain.chat_nvidia(c, h, api_key="sk-test-secret", model="m", max_completion_tokens=8, temperature=0,
                              extra_body={"chat_template_kwargs": {"enable_thinking": False}}, **params)


KINDS = ["openai", "nvidia"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_request_goes_through_the_recording_client_and_nowhere_else(kind, http, outside, upstream):
    c, h = http
    SEEN.clear()
    chat = _model(kind, c, h, **({"stream_usage": True} if kind == "openai" else {}))
    with lchain.verdict("OAI-LCHAIN-001", "invoke"):
        message = chat.invoke([HumanMessage("hi")])
        chunks = list(chat.stream([HumanMessage("hi")]))
        tool_message = chat.bind_tools(TOOLS, tool_choice="auto").invoke([HumanMessage("weather?")])
    assert outside == []
    assert SEEN == ["POST /v1/chat/completions"] * 3  # no model lookup, nothing else
    log = [ex for ex, _ in c.log]
    assert [(ex.method, ex.url) for ex in log] == [("POST", f"{upstream}/v1/chat/completions")] * 3
    assert [ex.stream for ex in log] == [False, True, False]
    # redacted like every exchange: the key never reaches the record
    assert all("sk-test-secret" not in json.dumps(ex.as_record()) for ex in log)
    # the profile's extra body fields reached the wire
    assert all(ex.request_json["chat_template_kwargs"] == {"enable_thinking": False} for ex in log)
    # ... and what the live tests judge holds
    checks.langchain_message_matches_wire(lchain.message_view(message), lchain.wire_view(log[0]))
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    checks.langchain_stream_aggregates(lchain.message_view(total), lchain.wire_view(log[1]),
                                       [x.content for x in chunks])
    checks.langchain_tool_calls_match_wire(lchain.message_view(tool_message), lchain.wire_view(log[2]), tools=TOOLS)


@pytest.mark.parametrize("kind", KINDS)
def test_async_paths_refuse_instead_of_bypassing_the_door(kind, http, outside):
    import asyncio

    c, h = http
    chat = _model(kind, c, h)
    with pytest.raises(Exception) as info:
        asyncio.run(chat.ainvoke([HumanMessage("hi")]))
    assert "not routed through the suite's client" in str(info.value)
    assert outside == [] and c.log == []


def test_only_exchange_names_stray_requests(http, upstream):
    c, h = http
    h.get(f"{upstream}/v1/models").read()
    with pytest.raises(HarnessError, match="unexpected: \\['GET"):
        lchain.only_exchange(c, 0, "invoke")
    with pytest.raises(HarnessError, match="made 0 request"):
        lchain.only_exchange(c, len(c.log), "invoke")


def test_a_missing_group_is_a_skip_naming_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "langchain_nvidia_ai_endpoints", None)
    assert lchain.missing("openai") is None
    with pytest.raises(NotApplicable, match=r"pip install -e '\.\[langchain\]'"):
        lchain.require("nvidia")


def test_verdict_maps_errors():
    with pytest.raises(ConformanceFailure, match="OAI-LCHAIN-002|raised ValueError"):
        with lchain.verdict("OAI-LCHAIN-002", "stream"):
            raise ValueError("bad chunk")
    import requests

    with pytest.raises(HarnessError) as info:
        with lchain.verdict("OAI-LCHAIN-002", "stream"):
            raise requests.exceptions.ConnectionError("refused")
    assert "TransportError" in str(info.value)
    with pytest.raises(HarnessError, match="timeout|Timeout|timed"):
        with lchain.verdict("OAI-LCHAIN-002", "stream"):
            raise requests.exceptions.ReadTimeout("read timed out")


def test_the_guard_sees_an_outside_connection_and_tracing_stays_off(outside):
    # positive control for the guard the first test relies on
    with pytest.raises(OSError):
        socket.create_connection(("integrate.api.nvidia.com", 443), timeout=1)
    assert outside == ["resolve integrate.api.nvidia.com"]
    from langsmith.utils import tracing_is_enabled

    assert tracing_is_enabled() is True  # the environment asks for tracing (set by the guard fixture)
    with lchain.verdict("OAI-LCHAIN-001", "invoke"):
        assert tracing_is_enabled() is False
