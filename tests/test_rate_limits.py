"""Rate limits (issue 13 §5) offline.

* Evaluation traffic: through the fault proxy's ``rate-limit-429`` (a tenth of the requests answered
  429 with ``Retry-After: 1``, drawn from the seeded generator per request) the lookup eval waits,
  retries, counts and reports every 429 (``reports/evals/lookup.json`` counters, ``accuracy.md``,
  the terminal's summary line), and loses no item to it; the needle eval's requests do the same.
* Conformance traffic: a 429 to a conformance request is that requirement's verdict (HTTP-STATUS-001
  failed), sent once, never retried and never a skip: through the facade, and end to end through
  the pytest plugin against a server that answers every chat request 429.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from conformance.faults import FaultProxy
from conformance.faults.hooks import http as http_hooks
from conformance.harness import profiles
from conformance.harness.client import Client
from conformance.harness.evals import runner, sets
from conformance.harness.facades import OpenAI, Passive
from conformance.harness.failures import ConformanceFailure
from conformance.harness.requirements import load_catalog
from conformance.harness.schemas import SchemaSet
from tests.fake_upstream import TIMEOUTS, serve

ROOT = Path(__file__).resolve().parents[1]
LOOKUP = sets.load("lookup")
ANSWERS = {item.prompt: item.check["answer"] for item in LOOKUP.items}


class Upstream(BaseHTTPRequestHandler):
    """A perfect lookup model (completions), a chat endpoint, and a switch that answers 429."""

    protocol_version = "HTTP/1.1"
    posts: list[str] = []
    always_429 = False
    lock = threading.Lock()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return

    def _send(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/v1/models"):
            self._send(200, {"object": "list", "data": [{"id": "m", "object": "model", "created": 1, "owned_by": "x"}]})
        else:
            self._send(404, {"error": {"message": "no route", "type": "invalid_request_error"}})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        with self.lock:
            self.posts.append(self.path)
        if self.always_429:
            self._send(429, {"error": {"message": "slow down", "type": "rate_limit_error", "param": None,
                                       "code": "rate_limit_exceeded"}}, {"Retry-After": "1"})
            return
        usage = {"prompt_tokens": 50, "completion_tokens": 2, "total_tokens": 52}
        if self.path.endswith("/chat/completions"):
            self._send(200, {"id": "c-1", "object": "chat.completion", "created": 1, "model": "m", "usage": usage,
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi."},
                                          "finish_reason": "stop", "logprobs": None}]})
            return
        text = " " + ANSWERS.get(body.get("prompt"), "?") + "\n"
        self._send(200, {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m", "usage": usage,
                         "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}]})


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    yield from serve(Upstream)


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    Upstream.posts.clear()
    Upstream.always_429 = False
    yield
    Upstream.always_429 = False


def _oai(url: str) -> tuple[OpenAI, list[ConformanceFailure]]:
    violations: list[ConformanceFailure] = []
    passive = Passive(profile=profiles.load("generic"), catalog=load_catalog(),
                      sink=lambda exc, kind: violations.append(exc))
    return OpenAI(client=Client(url, timeouts=TIMEOUTS), schemas=SchemaSet(flavors=("compat",)), passive=passive,
                  model="m"), violations


def expected_429s(requests_needed: int, seed: int = 0) -> tuple[int, int]:
    """(429 answers, requests sent) for ``requests_needed`` requests sent one after another through
    the proxy (its request counter starts at 1), each retried until it is not drawn."""
    n = sent = rate_limited = 0
    while n < requests_needed:
        sent += 1
        if random.Random(f"{seed}:{sent}").random() < http_hooks.RATE_LIMIT_SHARE:
            rate_limited += 1
        else:
            n += 1
    return rate_limited, sent


def test_the_fault_answers_a_seeded_tenth_with_retry_after_and_the_api_envelope(upstream: str) -> None:
    c = Client(upstream, timeouts=TIMEOUTS)
    with FaultProxy(upstream, ["rate-limit-429"]) as proxy:
        through = Client(proxy.url, timeouts=TIMEOUTS)
        try:
            answers = [through.request("POST", "/v1/chat/completions", json={"model": "m", "messages": []})
                       for _ in range(40)]
            ant = [through.request("POST", "/v1/messages", json={"model": "m"}) for _ in range(40)]
            models = [through.request("GET", "/v1/models") for _ in range(20)]  # not a generation route
        finally:
            through.close()
    c.close()
    limited = [ex for ex in answers if ex.status == 429]
    expected = [i for i in range(1, 41) if random.Random(f"0:{i}").random() < http_hooks.RATE_LIMIT_SHARE]
    assert [i + 1 for i, ex in enumerate(answers) if ex.status == 429] == expected and expected  # seeded
    assert all(ex.header("retry-after") == "1" and ex.json()["error"]["type"] == "rate_limit_error" for ex in limited)
    assert all(ex.status == 200 for ex in answers if ex not in limited)
    assert any(ex.status == 429 and ex.json()["type"] == "error" for ex in ant)  # the Anthropic envelope
    assert all(ex.status == 200 for ex in models)
    assert Upstream.posts.count("/v1/chat/completions") == len(answers) - len(limited)  # 429s never went upstream


def test_an_eval_through_the_fault_waits_retries_counts_and_reports(upstream: str, tmp_path: Path) -> None:
    waits: list[float] = []
    lines: list[str] = []
    with FaultProxy(upstream, ["rate-limit-429"]) as proxy:
        oai, violations = _oai(proxy.url)
        try:  # one worker: the proxy's draws meet the items in a fixed order
            out = runner.run_set(oai, "lookup", runner.EvalOptions(concurrency=1), progress=lines.append,
                                 sleep=waits.append)
        finally:
            oai.client.close()
    limited, sent = expected_429s(LOOKUP.count)
    assert limited > 0
    assert not violations and out.complete and out.run.accuracy().correct == LOOKUP.count  # no item lost to a 429
    c = out.counters
    assert (c.requests, c.rate_limited, c.retried, c.gave_up) == (sent, limited, limited, 0)
    assert waits == [1.0] * limited and c.waited_s == float(limited)  # Retry-After honoured
    assert sum("429 Too Many Requests, Retry-After 1: waiting 1.0 s" in line for line in lines) == limited
    doc = runner.document(out)
    assert doc["counters"] == {"requests": sent, "rate_limited": limited, "retried_after_429": limited,
                               "gave_up_after_429": 0, "waited_s": float(limited), "protocol_errors": 0,
                               "transport_errors": 0}
    paths = runner.write(tmp_path, doc, [doc])
    assert json.loads(paths["json"].read_text())["counters"]["rate_limited"] == limited
    assert (f"429 answers {limited} (retried {limited}, gave up 0, waited {float(limited)} s)"
            in paths["md"].read_text())
    assert f"rate-limited: {limited} × 429 ({limited} retried, 0 gave up" in runner.summary_line(doc)


def test_without_429s_nothing_is_counted_or_said(upstream: str) -> None:  # the bad fixture of the above
    oai, violations = _oai(upstream)
    try:
        out = runner.run_set(oai, "lookup", runner.EvalOptions(concurrency=2), sleep=lambda s: None)
    finally:
        oai.client.close()
    assert (out.counters.rate_limited, out.counters.retried, out.counters.requests) == (0, 0, LOOKUP.count)
    assert "rate-limited" not in runner.summary_line(runner.document(out))


def test_an_eval_gives_up_after_three_retries_and_judges_the_last_answer(upstream: str) -> None:
    Upstream.always_429 = True
    oai, violations = _oai(upstream)
    item = LOOKUP.items[0]
    counters = runner.Counters()
    waits: list[float] = []
    try:
        ex = runner.send(oai, item, runner.request_body(oai, item, runner.GREEDY), counters, lambda s: None,
                         sleep=waits.append)
        rec = runner.judge(oai, item, ex, item_id=item.id, cluster=None)
    finally:
        oai.client.close()
    assert len(Upstream.posts) == runner.RETRIES_429 + 1 and waits == [1.0] * runner.RETRIES_429
    assert (counters.rate_limited, counters.retried, counters.gave_up) == (4, 3, 1)
    assert rec.result.correct is None and rec.protocol and violations[0].requirement == "HTTP-STATUS-001"


def test_a_conformance_request_answered_429_fails_once_never_retried(upstream: str) -> None:
    Upstream.always_429 = True
    passive = Passive(profile=profiles.load("generic"), catalog=load_catalog())  # no sink: raises
    oai = OpenAI(client=Client(upstream, timeouts=TIMEOUTS), schemas=SchemaSet(flavors=("compat",)),
                 passive=passive, model="m")
    try:
        with pytest.raises(ConformanceFailure) as caught:
            oai.chat({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4})
    finally:
        oai.client.close()
    assert caught.value.requirement == "HTTP-STATUS-001" and "429" in str(caught.value)
    assert Upstream.posts == ["/v1/chat/completions"]  # one request: no retry, no wait


def test_a_429_in_a_conformance_run_is_a_failed_verdict_not_a_retry_or_a_skip(upstream: str, tmp_path: Path) -> None:
    Upstream.always_429 = True
    reports = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         f"--endpoint={upstream}", "--profile=generic", "--model=m", f"--reports-dir={reports}",
         "conformance/http/test_transport.py::test_well_formed_request_is_answered_with_2xx"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    doc = json.loads((reports / "conformance.json").read_text(encoding="utf-8"))
    row = doc["requirements"]["HTTP-STATUS-001"]
    assert row["outcome"] == "failed", row
    assert any("429" in v.get("message", "") for v in row["violations"]), row["violations"]
    assert "1 failed" in proc.stdout and "skipped" not in proc.stdout.splitlines()[-1]
    assert Upstream.posts == ["/v1/chat/completions"]  # sent once, never retried


def test_the_needle_eval_waits_for_and_retries_a_429_too() -> None:
    import httpx  # noqa: PLC0415

    from conformance.harness.evals import needle_run  # noqa: PLC0415
    from conformance.harness.evals import report as needle_report  # noqa: PLC0415
    from tests.test_needle_eval import SMALL, FakeWindow, perfect  # noqa: PLC0415

    sent: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(1)
        if len(sent) % 5 == 2:  # every fifth request, from the second: rate-limited, no wait asked
            return httpx.Response(429, headers={"retry-after": "0"},
                                  json={"error": {"message": "slow down", "type": "rate_limit_error"}})
        body = json.loads(request.content)
        return httpx.Response(200, json={"id": "x", "object": "text_completion", "created": 1, "model": "m",
                                         "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
                                         "choices": [{"index": 0, "text": perfect(body["prompt"]),
                                                      "finish_reason": "stop", "logprobs": None}]})

    violations: list[ConformanceFailure] = []
    passive = Passive(profile=profiles.load("generic"), catalog=load_catalog(),
                      sink=lambda exc, kind: violations.append(exc))
    oai = OpenAI(client=Client("http://endpoint.test", transport=httpx.MockTransport(handler)),
                 schemas=SchemaSet(flavors=("compat",)), passive=passive, model="m")
    cw = FakeWindow()
    settings = needle_run.NeedleSettings(api="completions", depths=SMALL.depths, lengths=SMALL.lengths, items=1)
    run = needle_run.run(oai, cw, settings, streaming=False, stream_usage=False)
    planned = len(run.plan.items)
    assert not violations and all(r.score.correct for r in run.results) and len(run.results) == planned
    c = run.counters
    assert c.rate_limited == c.retried == len(sent) - planned > 0 and c.requests == len(sent) and c.gave_up == 0
    assert sum("429 Too Many Requests" in line for line in cw.lines) == c.rate_limited
    doc = needle_report.document(grid=run.plan.grid, items=[r.as_dict() for r in run.results], planned=planned,
                                 model="m", endpoint="e", window={"tokens": 600, "source": "test"},
                                 request=run.request_params, wall_s=run.wall_s, floor=None, complete=True,
                                 counters=c.as_dict())
    assert doc["counters"]["rate_limited"] == c.rate_limited
    assert f"rate limits: {c.rate_limited} × 429" in needle_report.markdown(doc)
    assert f"rate-limited: {c.rate_limited} × 429" in needle_report.summary_line(doc)


@pytest.mark.parametrize("cap", [2, 8])
def test_every_request_of_a_client_shares_one_max_concurrency_bound(cap: int) -> None:
    """Sync requests from many threads (the eval runner's pool, the needle loop) all go through the
    client's one event loop and its --max-concurrency semaphore. The handler holds each request
    until 3 are in flight (or 1 s passed): with cap 2 never more than 2 are; with cap 8 (the bad
    fixture) the 3rd arrives and is counted."""
    import asyncio  # noqa: PLC0415
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    import httpx  # noqa: PLC0415

    state = {"now": 0, "max": 0}
    enough = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        if state["now"] >= 3:
            enough.set()
        try:
            await asyncio.wait_for(enough.wait(), timeout=1.0)
        except TimeoutError:
            pass
        state["now"] -= 1
        return httpx.Response(200, json={})

    client = Client("http://endpoint.test", transport=httpx.MockTransport(handler), max_concurrency=cap)
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            statuses = list(pool.map(lambda i: client.request("POST", "/v1/completions", json={}).status, range(4)))
    finally:
        client.close()
    assert statuses == [200] * 4
    assert state["max"] <= cap
    if cap > 2:
        assert state["max"] >= 3
