"""The planted regression of issue 11 §7 offline: the proxy fault ``eval-answers-corrupted``
against a canned upstream that answers every ``lookup`` item correctly. Direct, the eval passes
its paired gate against an all-correct baseline; through the proxy, a fifth of the answers are
corrupted (by a hash of the prompt, so every run corrupts the same items), every response stays
well-formed (no conformance check fires), and only the paired accuracy gate (OAI-EVAL-003) FAILs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from conformance.faults import FAULTS, FaultProxy
from conformance.faults.hooks import evals as hooks
from conformance.faults.model import FaultContext, Request, Response
from conformance.harness import profiles
from conformance.harness.checks import evals as eval_checks
from conformance.harness.client import Client
from conformance.harness.evals import gate as g
from conformance.harness.evals import runner, sets
from conformance.harness.facades import OpenAI, Passive
from conformance.harness.failures import ConformanceFailure
from conformance.harness.requirements import load_catalog
from conformance.harness.schemas import SchemaSet
from tests.fake_upstream import TIMEOUTS, serve
from tests.test_faults import Scenario

LOOKUP = sets.load("lookup")
ANSWERS = {item.prompt: item.check["answer"] for item in LOOKUP.items}


class LookupUpstream(BaseHTTPRequestHandler):
    """Answers every lookup prompt with its value (a perfect base model), as llama-server would."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        text = " " + ANSWERS.get(body.get("prompt"), "?") + "\n"
        data = json.dumps({"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m",
                           "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
                           "usage": {"prompt_tokens": 50, "completion_tokens": 2, "total_tokens": 52}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    yield from serve(LookupUpstream)


def _all_correct_baseline() -> g.EvalRun:
    return g.EvalRun("lookup", LOOKUP.version, "m", None, {"path": "/v1/completions", **runner.GREEDY},
                     [g.ItemResult(i.id, i.template, True, i.check["answer"]) for i in LOOKUP.items],
                     flip=g.FlipRate(0, 200))


def lookup_gate(c: Client, s: SchemaSet) -> None:
    """Run the lookup eval through ``c`` (passive checks raise, no sink) and judge its paired gate."""
    passive = Passive(profile=profiles.load("generic"), catalog=load_catalog())
    oai = OpenAI(client=c, schemas=s, passive=passive, model="m")
    out = runner.run_set(oai, "lookup", runner.EvalOptions(concurrency=8))
    gate = g.gate(out.run, baseline=_all_correct_baseline())
    eval_checks.accuracy_gate_holds(gate.as_dict())


EVAL_SCENARIOS: list[Scenario] = [Scenario("eval-answers-corrupted", "OAI-EVAL-003", "lookup-paired", lookup_gate)]


@pytest.mark.parametrize("scenario", EVAL_SCENARIOS, ids=lambda sc: sc.id)
def test_eval_fault_is_caught_by_the_paired_gate(upstream: str, scenario: Scenario) -> None:
    schemas = SchemaSet(flavors=("compat",))
    timeouts = TIMEOUTS
    direct = Client(upstream, timeouts=timeouts)
    try:
        scenario.run(direct, schemas)  # the upstream is perfect: the gate passes
    finally:
        direct.close()
    with FaultProxy(upstream, [scenario.fault]) as proxy:
        assert proxy.url is not None
        through = Client(proxy.url, timeouts=timeouts)
        try:
            with pytest.raises(ConformanceFailure) as caught:
                scenario.run(through, schemas)
        finally:
            through.close()
        assert not any(proxy.hook_errors.values())
    assert caught.value.requirement == scenario.requirement, str(caught.value)
    assert "regression vs baseline" in str(caught.value)
    assert scenario.requirement in FAULTS[scenario.fault].requirements


def test_the_corrupted_share_is_about_a_fifth_and_deterministic():
    hit = [hooks.corrupts(i.prompt or "") for i in LOOKUP.items]
    assert 0.12 <= sum(hit) / len(hit) <= 0.28
    assert hit == [hooks.corrupts(i.prompt or "") for i in LOOKUP.items]
    assert not any(hooks.corrupts(i.prompt or "", 0.0) for i in LOOKUP.items)


@pytest.mark.parametrize(("text", "out"), [(" 4821\n", " 5932\n"), (" APPLE RIVER", " apple river"), (" ", "# ")])
def test_corruption_always_changes_the_answer(text, out):
    assert hooks.corrupt_text(text) == out


def _ctx(body: dict[str, Any]) -> FaultContext:
    return FaultContext(Request("POST", "/v1/completions", body=json.dumps(body).encode()))


def test_the_hook_changes_only_the_text_of_a_chosen_200_answer():
    chosen = next(i for i in LOOKUP.items if hooks.corrupts(i.prompt or ""))
    spared = next(i for i in LOOKUP.items if not hooks.corrupts(i.prompt or ""))
    answer = {"object": "text_completion", "choices": [{"index": 0, "text": " 1234", "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 5}}
    resp = Response.json_answer(200, answer)
    hit = hooks.corrupt_answers(_ctx({"prompt": chosen.prompt}), resp).json
    assert hit["choices"][0]["text"] == " 2345" and hit["usage"] == answer["usage"]
    assert hooks.corrupt_answers(_ctx({"prompt": spared.prompt}), resp).json == answer
    error = Response.json_answer(500, {"error": {"message": "x"}})
    assert hooks.corrupt_answers(_ctx({"prompt": chosen.prompt}), error) is error
    chat = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Answer: 7"}}]}
    ctx = FaultContext(Request("POST", "/v1/chat/completions",
                               body=json.dumps({"messages": [{"role": "user", "content": chosen.prompt}]}).encode()))
    assert hooks.prompt_key(ctx.request_json) == chosen.prompt  # one user message: its content is the key
    assert hooks.corrupt_answers(ctx, Response.json_answer(200, chat)).json["choices"][0]["message"][
        "content"] == "aNSWER: 8"
