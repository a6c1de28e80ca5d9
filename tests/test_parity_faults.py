"""The stream / non-stream parity faults of issue 14 §1, offline: the canned upstream of
``tests/test_faults.py`` (plus text completions) answers a streamed and a blocking call of the same
request alike; through the proxy with a parity fault only the stream changes, and the parity check
of the fault's requirement fails under that ID."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from conformance.faults import FaultProxy
from conformance.harness.checks import anthropic as ant_checks
from conformance.harness.checks import parity
from conformance.harness.client import Client
from conformance.harness.failures import ConformanceFailure
from conformance.harness.schemas import SchemaSet
from conformance.harness.streams.openai import ChunkStream
from tests.fake_upstream import _close_clients, client, schemas, serve  # noqa: F401 (fixtures)
from tests.test_faults import (
    CREATED,
    TEXT,
    USAGE,
    Scenario,
    Upstream,
    ant,
    ant_stream,
    assert_fault_caught,
    chat,
    chat_stream,
    resp_stream,
)

PROMPT = "The capital cities of Europe are Paris, Berlin,"


def completion_body() -> dict[str, Any]:
    return {"id": "cmpl-1", "object": "text_completion", "created": CREATED, "model": "stub",
            "choices": [{"index": 0, "text": "".join(TEXT), "logprobs": None, "finish_reason": "length"}],
            "usage": dict(USAGE)}


def completion_chunks(req: dict[str, Any]) -> list[str]:
    base = {"id": "cmpl-1", "object": "text_completion", "created": CREATED, "model": "stub"}
    out = [json.dumps({**base, "choices": [{"index": 0, "text": t, "logprobs": None, "finish_reason": None}]},
                      ensure_ascii=False) for t in TEXT]
    out.append(json.dumps({**base, "choices": [{"index": 0, "text": "", "logprobs": None, "finish_reason": "length"}]}))
    if (req.get("stream_options") or {}).get("include_usage"):
        out.append(json.dumps({**base, "choices": [], "usage": dict(USAGE)}))
    return out + ["[DONE]"]


class ParityUpstream(Upstream):
    """The canned upstream of tests/test_faults.py, plus ``POST /v1/completions``."""

    def do_POST(self) -> None:  # noqa: N802
        split = urlsplit(self.path)
        if split.path != "/v1/completions":
            super().do_POST()
            return
        req = json.loads(self._body() or b"{}")
        if req.get("stream"):
            self._stream([(None, c) for c in completion_chunks(req)], parse_qs(split.query))
        else:
            self._json(200, completion_body())


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    yield from serve(ParityUpstream)


def cmpl(c: Client, *, stream: bool = False, **extra: Any) -> Any:
    body = {"model": "stub", "prompt": PROMPT, "max_tokens": 8, "temperature": 0, **extra}
    if stream:
        body["stream"] = True
    return c.request("POST", "/v1/completions", json=body, stream=stream)


def responses_blocking(c: Client) -> Any:
    return c.request("POST", "/v1/responses", json={"model": "stub", "input": "Say hello."}).json()


INCLUDE_USAGE = {"stream_options": {"include_usage": True}}

PARITY_SCENARIOS: list[Scenario] = [
    Scenario("stream-completion-tokens-undercount", "OAI-USAGE-005", "chat",
             lambda c, s: parity.stream_usage_matches_blocking(chat_stream(c, **INCLUDE_USAGE), chat(c).json())),
    Scenario("stream-completion-tokens-undercount", "OAI-USAGE-005", "completions",
             lambda c, s: parity.stream_usage_matches_blocking(
                 ChunkStream.from_exchange(cmpl(c, stream=True, **INCLUDE_USAGE)), cmpl(c).json())),
    Scenario("completions-stream-text-mismatch", "OAI-CMPL-006", "completions",
             lambda c, s: parity.completion_stream_text_matches_blocking(
                 ChunkStream.from_exchange(cmpl(c, stream=True)).text(0), cmpl(c).json()["choices"][0]["text"])),
    Scenario("responses-stream-usage-mismatch", "OAI-RESP-013", "responses",
             lambda c, s: parity.responses_stream_usage_matches_blocking(resp_stream(c), responses_blocking(c))),
    Scenario("anthropic-stream-output-tokens-undercount", "ANT-STREAM-008", "messages",
             lambda c, s: parity.messages_stream_usage_matches_blocking(ant_stream(c), ant(c).json())),
]


@pytest.mark.parametrize("scenario", PARITY_SCENARIOS, ids=lambda sc: sc.id)
def test_parity_fault_is_caught_by_its_requirement(upstream: str, schemas: SchemaSet, scenario: Scenario) -> None:
    assert_fault_caught(upstream, schemas, scenario)  # streamed and blocking agree upstream


def test_undercounted_messages_stream_passes_the_old_never_decreases_rule(upstream: str) -> None:
    """The gap of issue 14 §1: a final output_tokens of 1 never decreases from message_start's 1, so
    ANT-STREAM-006 accepts the stream; only the comparison with the blocking call (ANT-STREAM-008)
    sees it."""
    with FaultProxy(upstream, ["anthropic-stream-output-tokens-undercount"]) as proxy:
        through = client(proxy.url)
        stream = ant_stream(through)
        ant_checks.message_delta_then_stop(stream)
        assert stream.output_tokens_sequence()[-1][1] == 1
        assert ant(through).json() == ant(client(upstream)).json()  # the blocking answer is left alone
        with pytest.raises(ConformanceFailure, match="reports 1 output_tokens, below the 5"):
            parity.messages_stream_usage_matches_blocking(stream, ant(through).json())


@pytest.mark.parametrize("name", ["stream-completion-tokens-undercount", "completions-stream-text-mismatch",
                                  "responses-stream-usage-mismatch"])
def test_parity_faults_leave_blocking_answers_alone(upstream: str, name: str) -> None:
    direct = client(upstream)
    with FaultProxy(upstream, [name]) as proxy:
        through = client(proxy.url)
        assert chat(through).json() == chat(direct).json()
        assert cmpl(through).json() == cmpl(direct).json()
        assert responses_blocking(through) == responses_blocking(direct)


def test_tolerance_setting_is_read_and_validated() -> None:
    assert parity.tolerance_of({}) == 0
    assert parity.tolerance_of({"usage_parity_tolerance": 2}) == 2
    for bad in (-1, 1.5, True, "1"):
        with pytest.raises(Exception, match="usage_parity_tolerance"):
            parity.tolerance_of({"usage_parity_tolerance": bad})
