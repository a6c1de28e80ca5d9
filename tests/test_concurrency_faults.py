"""Cross-talk faults between concurrent chat streams (``concurrent-stream-swap``,
``concurrent-content-swap``; issue 14 §3), offline.

The canned upstream echoes each request: its stream's content is the last user message, its
``usage.prompt_tokens`` the number of words in all messages, its id its own. Streams wait at a
barrier before their last chunk, so two concurrent requests are both in flight at the proxy when
either ends (no timing decides the pairing). OAI-CONC-002's check passes directly and fails
through each fault; serial traffic goes through both faults unchanged.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from conformance.faults import FAULTS, FaultProxy
from conformance.faults.hooks.concurrency import StreamSwap, swap_content
from conformance.faults.model import Event
from conformance.harness.checks import openai as checks
from conformance.harness.client import Client
from conformance.harness.failures import ConformanceFailure
from conformance.harness.schemas import SchemaSet
from conformance.harness.streams.openai import ChunkStream
from tests.fake_upstream import JSONHandler, _close_clients, client, serve  # noqa: F401 (fixtures)
from tests.test_faults import Scenario

MARKERS = ["apple", "violet"]
_ids = itertools.count(1)
_barrier: dict[str, threading.Barrier] = {}
_swap: dict[str, StreamSwap] = {}  # the fault's hook while a proxied scenario runs


def _prompt(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": " ".join(["one"] * (4 * i) + ["say", MARKERS[i]])}]


class EchoUpstream(JSONHandler):
    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        req = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        words = sum(len(str(m.get("content", "")).split()) for m in req.get("messages", []))
        last = str(req["messages"][-1]["content"]).split()[-1]
        cid = f"chatcmpl-{next(_ids)}"
        if not req.get("stream"):
            self._json(200, {"id": cid, "object": "chat.completion", "created": 1, "model": "m",
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": f"{last} {last}"},
                                          "finish_reason": "stop", "logprobs": None}],
                             "usage": {"prompt_tokens": words, "completion_tokens": 2, "total_tokens": words + 2}})
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()

        def send(obj: Any) -> None:
            self.wfile.write(f"data: {obj if isinstance(obj, str) else json.dumps(obj)}\n\n".encode())
            self.wfile.flush()

        base = {"id": cid, "object": "chat.completion.chunk", "created": 1, "model": "m"}
        send({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
        for piece in (last, f" {last}"):
            send({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        barrier = _barrier.get("streams")
        if barrier is not None:
            barrier.wait(timeout=10)  # both streams are in flight upstream before either ends
        swap = _swap.get("hook")
        if swap is not None:  # through the proxy: both streams are in its hook before either ends
            deadline = time.monotonic() + 10
            while swap._in_flight + (swap._waiting is not None) < len(MARKERS) and time.monotonic() < deadline:
                time.sleep(0.005)
        limit = req.get("max_tokens")  # a limit given is reached: finish "length", that many tokens
        send({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "length" if limit else "stop"}]})
        send({**base, "choices": [], "usage": {"prompt_tokens": words, "completion_tokens": limit or 2,
                                               "total_tokens": words + (limit or 2)}})
        send("[DONE]")


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    yield from serve(EchoUpstream)


def _stream(c: Client, i: int) -> ChunkStream:
    body = {"model": "m", "messages": _prompt(i), "stream": True, "stream_options": {"include_usage": True}}
    return ChunkStream.from_exchange(c.request("POST", "/v1/chat/completions", json=body, stream=True))


def _serial(c: Client) -> list[dict[str, Any]]:
    out = []
    for i in range(len(MARKERS)):
        body = c.request("POST", "/v1/chat/completions", json={"model": "m", "messages": _prompt(i)}).json()
        out.append({"prompt_tokens": body["usage"]["prompt_tokens"], "text": body["choices"][0]["message"]["content"]})
    return out


def concurrent_pair(c: Client, s: SchemaSet) -> None:
    """Two concurrent streams with distinct prompts, judged by OAI-CONC-002 against their answers alone."""
    serial = _serial(c)
    _barrier["streams"] = threading.Barrier(len(MARKERS))
    try:
        with ThreadPoolExecutor(len(MARKERS)) as pool:
            streams = list(pool.map(lambda i: _stream(c, i), range(len(MARKERS))))
    finally:
        _barrier.pop("streams", None)
    checks.concurrent_streams_no_cross_talk(streams, serial=serial, markers=MARKERS)


def concurrent_pair_limits(c: Client, s: SchemaSet) -> None:
    """OAI-CONC-001 on the pair: each stream, cut at its own max_tokens, reports exactly it."""
    limits = [2 + i for i in range(len(MARKERS))]
    _barrier["streams"] = threading.Barrier(len(MARKERS))
    try:
        with ThreadPoolExecutor(len(MARKERS)) as pool:
            exchanges = list(pool.map(lambda i: c.request("POST", "/v1/chat/completions", stream=True, json={
                "model": "m", "messages": _prompt(i), "stream": True, "stream_options": {"include_usage": True},
                "max_tokens": limits[i]}), range(len(MARKERS))))
    finally:
        _barrier.pop("streams", None)
    checks.concurrent_streams_isolated([ChunkStream.from_exchange(ex) for ex in exchanges], max_tokens=limits)


CONCURRENCY_SCENARIOS = [
    Scenario("concurrent-stream-swap", "OAI-CONC-002", "two-streams", concurrent_pair),
    Scenario("concurrent-stream-swap", "OAI-CONC-001", "two-streams", concurrent_pair_limits),
    Scenario("concurrent-content-swap", "OAI-CONC-002", "two-streams", concurrent_pair),
]


@pytest.mark.parametrize("scenario", CONCURRENCY_SCENARIOS, ids=lambda sc: sc.id)
def test_cross_talk_fault_is_caught(upstream: str, schemas: SchemaSet, scenario: Scenario) -> None:
    scenario.run(client(upstream), schemas)  # direct: clean
    hook = FAULTS[scenario.fault].hooks.events
    assert isinstance(hook, StreamSwap)
    _swap["hook"] = hook
    try:
        with FaultProxy(upstream, [scenario.fault]) as proxy:
            with pytest.raises(ConformanceFailure) as caught:
                scenario.run(client(proxy.url), schemas)
            assert not proxy.hook_errors
    finally:
        _swap.pop("hook", None)
    assert caught.value.requirement == scenario.requirement, str(caught.value)
    assert scenario.requirement in FAULTS[scenario.fault].requirements


@pytest.mark.parametrize("fault", ["concurrent-stream-swap", "concurrent-content-swap"])
def test_serial_streams_pass_unchanged(upstream: str, fault: str) -> None:
    with FaultProxy(upstream, [fault]) as proxy:
        c = client(proxy.url)
        streams = [_stream(c, i) for i in range(len(MARKERS))]
        assert not proxy.hook_errors
    assert [s.text(0) for s in streams] == [f"{m} {m}" for m in MARKERS]
    assert [s.final_usage()["prompt_tokens"] for s in streams] == [2, 6]


def test_content_swap_keeps_ids_finish_and_usage() -> None:
    def events(cid: str, pieces: list[str], usage: int) -> list[Event]:
        chunks = [{"id": cid, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
                  for p in pieces]
        chunks.append({"id": cid, "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
        chunks.append({"id": cid, "choices": [], "usage": {"prompt_tokens": usage}})
        return [Event.make(c) for c in chunks] + [Event(data="[DONE]")]

    own = events("a", ["x", "y", "z"], 5)
    swapped = list(swap_content(own, events("b", ["p", "q"], 9)))
    objs = [e.obj for e in swapped[:-1]]
    assert {o["id"] for o in objs} == {"a"}
    assert "".join(o["choices"][0]["delta"].get("content") or "" for o in objs if o["choices"]) == "pq"
    assert objs[-1]["usage"] == {"prompt_tokens": 5} and swapped[-1].is_done
    longer = list(swap_content(events("a", ["x"], 5), events("b", ["p", "q", "r"], 9)))
    assert longer[0].obj["choices"][0]["delta"]["content"] == "pqr"
