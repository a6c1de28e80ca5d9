"""The accuracy-eval runner offline (issue 11 §2, §4, §6): whole runs through the real facade
against mock endpoints: a perfect model, one whose answers a fault corrupts, one that answers 429
and 500, one that leaks reasoning or tool calls into content; the baseline round trip and the
paired gate; the report; the selection rules of --eval."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.harness import config as cfg
from conformance.harness import profiles
from conformance.harness.client import Client
from conformance.harness.evals import gate as g
from conformance.harness.evals import runner, sets
from conformance.harness.facades import OpenAI, Passive
from conformance.harness.failures import ConformanceFailure, UsageError
from conformance.harness.requirements import load_catalog
from conformance.harness.schemas import SchemaSet

LOOKUP = sets.load("lookup")
ANSWERS = {item.prompt: item.check["answer"] for item in LOOKUP.items}


def corrupted(item: sets.Item) -> bool:
    """The share the proxy fault ``eval-answers-corrupted`` corrupts (by a hash of the prompt)."""
    from conformance.faults.hooks.evals import corrupts  # noqa: PLC0415

    return corrupts(item.prompt or "")


def _endpoint(answer: Callable[[dict[str, Any]], Any], *, profile: str = "generic",
              status: Callable[[int], tuple[int, dict[str, str]]] | None = None):
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        if status is not None:
            code, headers = status(len(seen))
            if code != 200:
                return httpx.Response(code, headers=headers,
                                      json={"error": {"message": "no", "type": "server_error", "code": code}})
        base = {"id": "x-1", "created": 1, "model": "m",
                "usage": {"prompt_tokens": 40, "completion_tokens": 3, "total_tokens": 43}}
        if request.url.path.endswith("/chat/completions"):
            message = {"role": "assistant", "content": None, **answer(body)}
            return httpx.Response(200, json={**base, "object": "chat.completion", "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                 "logprobs": None}]})
        return httpx.Response(200, json={**base, "object": "text_completion", "choices": [
            {"index": 0, "text": answer(body), "finish_reason": "stop", "logprobs": None}]})

    client = Client("http://endpoint.test", transport=httpx.MockTransport(handler),
                    async_transport=httpx.MockTransport(handler))
    violations: list[ConformanceFailure] = []
    passive = Passive(profile=profiles.load(profile), catalog=load_catalog(),
                      sink=lambda exc, kind: violations.append(exc))
    return OpenAI(client=client, schemas=SchemaSet(flavors=("compat",)), passive=passive, model="m"), seen, violations


def perfect(body: dict[str, Any]) -> str:
    return " " + ANSWERS[body["prompt"]] + "\nQ:"


def broken_share(body: dict[str, Any]) -> str:
    item = next(i for i in LOOKUP.items if i.prompt == body["prompt"])
    return " 0000" if corrupted(item) else perfect(body)


def opts(**kw: Any) -> runner.EvalOptions:
    base = {"profile_settings": {}, "repeat": None, "concurrency": 4, "baseline": None, "save_baseline": None,
            "floor": None}
    return runner.EvalOptions.build(**{**base, **kw})


# --- requests ------------------------------------------------------------------------------------------

def test_requests_are_greedy_with_explicit_sampling_and_the_items_own_limits():
    oai, seen, violations = _endpoint(perfect)
    lines: list[str] = []
    out = runner.run_set(oai, "lookup", opts(), progress=lines.append)
    assert not violations
    assert len(seen) == 200 and out.complete
    for body in seen:
        assert (body["temperature"], body["top_p"], body["seed"], body["max_tokens"]) == (0, 1, 0, 8)
        assert body["model"] == "m" and "prompt" in body
    assert out.run.request_params == {"path": "/v1/completions", "temperature": 0, "top_p": 1, "seed": 0}
    assert out.run.accuracy().correct == 200 and out.gate is not None and out.gate.state == "REPORTED"
    assert sum(1 for line in lines if line.startswith("lookup ") and " correct so far" in line) == 10  # progress


def test_the_profile_supplies_reasoning_off_and_vendor_sampling():
    oai, _, _ = _endpoint(perfect, profile="nim")
    item = sets.load("arith").items[0]
    greedy = runner.request_body(oai, item, runner.GREEDY)
    assert greedy["chat_template_kwargs"] == {"enable_thinking": False}  # the profile's reasoning_off
    assert greedy["temperature"] == 0 and greedy["max_tokens"] == item.max_tokens
    vendor = opts(profile_settings={"eval_sampling": {"temperature": 0.6, "top_p": 0.95}, "eval_repeats": 4})
    body = runner.request_body(oai, item, vendor.sampling)
    assert (body["temperature"], body["top_p"], body["seed"], vendor.k) == (0.6, 0.95, 0, 4)
    on = runner.request_body(oai, item, {**runner.GREEDY, "chat_template_kwargs": {"enable_thinking": True}})
    assert on["chat_template_kwargs"] == {"enable_thinking": True}  # a reasoning-on eval is not switched off


def test_k_repeats_are_items_clustered_by_their_item():
    oai, seen, _ = _endpoint(perfect)
    out = runner.run_set(oai, "lookup", opts(profile_settings={"eval_repeats": 2}))
    assert len(seen) == 400 and len(out.run.items) == 400
    first = LOOKUP.items[0].id
    assert [i.id for i in out.run.items[:2]] == [f"{first}#1", f"{first}#2"]
    assert {i.cluster for i in out.run.items[:2]} == {first}
    assert out.run.request_params["repeats_per_item"] == 2


@pytest.mark.parametrize(("kw", "match"), [
    ({"profile_settings": {"eval_repeats": 0}}, "eval_repeats"),
    ({"profile_settings": {"eval_sampling": "greedy"}}, "eval_sampling"),
    ({"repeat": 0}, "--eval-repeat"),
    ({"floor": 1.5}, "--eval-floor"),
])
def test_bad_options_are_usage_errors(kw, match):
    with pytest.raises(UsageError, match=match):
        opts(**kw)


def test_saving_a_baseline_runs_twice_unless_told_otherwise(tmp_path):
    assert opts(save_baseline=str(tmp_path / "b")).passes == 2
    assert opts(save_baseline=str(tmp_path / "b"), repeat=1).passes == 1
    assert opts().passes == 1


def test_baseline_paths_file_for_one_set_directory_for_several(tmp_path):
    assert runner.baseline_path(tmp_path / "b.json", "lookup", ("lookup",)) == tmp_path / "b.json"
    assert runner.baseline_path(tmp_path / "b.json", "lookup", ("lookup", "needle")) == tmp_path / "b.json"
    assert runner.baseline_path(tmp_path / "dir", "caps", ("lookup", "caps")) == tmp_path / "dir" / "caps.json"
    with pytest.raises(UsageError, match="give a directory"):
        runner.baseline_path(tmp_path / "b.json", "lookup", ("lookup", "caps"))


@pytest.mark.parametrize(("value", "seconds"), [(None, 1.0), ("3", 3.0), ("0.5", 0.5), ("garbage", 1.0),
                                                 ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)])
def test_retry_after_is_read_as_seconds_or_a_date(value, seconds):
    assert runner.retry_after_seconds(value) == seconds


# --- the baseline round trip and the paired gate ----------------------------------------------------------

def test_a_rerun_passes_and_a_planted_regression_fails_the_paired_gate(tmp_path):
    oai, _, _ = _endpoint(perfect)
    saved = runner.run_set(oai, "lookup", opts(save_baseline=str(tmp_path / "base")), progress=lambda _: None)
    assert saved.saved_baseline == str(tmp_path / "base" / "lookup.json")
    assert saved.flip is not None and (saved.flip.flips, saved.flip.n) == (0, 200)
    base = g.load_baseline(tmp_path / "base" / "lookup.json")
    assert base.flip is not None and base.flip.n == 200 and base.accuracy().correct == 200

    rerun = runner.run_set(oai, "lookup", opts(baseline=str(tmp_path / "base")))
    assert rerun.gate is not None and rerun.gate.state == "PASS", rerun.gate.line
    bad_oai, _, _ = _endpoint(broken_share)
    regressed = runner.run_set(bad_oai, "lookup", opts(baseline=str(tmp_path / "base")))
    lost = sum(corrupted(i) for i in LOOKUP.items)
    assert 20 <= lost <= 60  # about a fifth
    assert regressed.gate is not None and regressed.gate.state == "FAIL", regressed.gate.line
    assert regressed.gate.regression is not None and regressed.gate.regression.b == lost
    with pytest.raises(ConformanceFailure, match="OAI-EVAL-003"):
        from conformance.harness.checks import evals as eval_checks  # noqa: PLC0415

        eval_checks.accuracy_gate_holds(regressed.gate.as_dict())


def test_a_baseline_of_another_set_or_a_missing_one_is_refused_before_asking(tmp_path):
    oai, seen, _ = _endpoint(perfect)
    with pytest.raises(g.BaselineMismatch):
        runner.run_set(oai, "lookup", opts(baseline=str(tmp_path / "nothing")))
    assert not seen


def test_a_floor_alone_gives_the_three_state_verdict():
    oai, _, _ = _endpoint(lambda body: " 0000")
    out = runner.run_set(oai, "lookup", opts(floor=0.5))
    assert out.gate is not None and out.gate.state == "FAIL" and "floor" in out.gate.line


# --- rate limits, errors, leakage ------------------------------------------------------------------------

def test_a_429_is_waited_for_retried_and_counted():
    waits: list[float] = []
    lines: list[str] = []
    oai, seen, violations = _endpoint(perfect, status=lambda n: (429, {"retry-after": "2"}) if n in (1, 2) else (200, {}))
    out = runner.run_set(oai, "lookup", opts(concurrency=1), progress=lines.append, sleep=waits.append)
    assert not violations and out.complete and out.run.accuracy().correct == 200
    assert out.counters.rate_limited == 2 and out.counters.retried == 2 and waits == [2.0, 2.0]
    assert len(seen) == 202
    assert sum("429 Too Many Requests" in line for line in lines) == 2


def test_a_429_that_never_ends_is_judged_as_an_error_status():
    oai, seen, violations = _endpoint(perfect, status=lambda n: (429, {"retry-after": "1"}))
    out = runner.run_set(oai, "lookup", opts(concurrency=1), sleep=lambda s: None)
    assert not out.complete and out.gate is None
    per_item = runner.RETRIES_429 + 1
    # the worker thread may run ahead of the judging thread (more on a loaded machine), so only the
    # lower bound is exact; every item it asked was retried RETRIES_429 times, then given up
    assert runner.MAX_ERRORS * per_item <= out.counters.rate_limited <= len(seen)
    assert out.counters.rate_limited == out.counters.gave_up * per_item == len(seen)
    assert out.counters.retried == out.counters.gave_up * runner.RETRIES_429
    assert violations and violations[0].requirement == "HTTP-STATUS-001"


def test_server_errors_are_conformance_failures_and_stop_the_run():
    oai, seen, violations = _endpoint(perfect, status=lambda n: (500, {}) if n % 2 else (200, {}))
    out = runner.run_set(oai, "lookup", opts(concurrency=1))
    assert not out.complete and out.error and "stopped after" in out.error
    assert out.counters.protocol_errors == runner.MAX_ERRORS
    assert {v.requirement for v in violations} == {"HTTP-STATUS-001"}
    broken = [r for r in out.records if r.protocol]
    assert len(broken) == runner.MAX_ERRORS and all(r.result.correct is None for r in broken)
    assert len(seen) < 200


def test_reasoning_leaked_into_content_is_a_conformance_failure_not_just_a_wrong_answer():
    oai, _, violations = _endpoint(lambda body: {"content": "<think>hmm</think>\nAnswer: 3"}, profile="nim")
    out = runner.run_set(oai, "arith", opts())
    assert out.complete and {v.requirement for v in violations} == {"OAI-REASON-006"}


def test_a_tool_call_leaked_into_content_is_a_conformance_failure():
    leak = '<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>'
    oai, _, violations = _endpoint(lambda body: {"content": leak})
    out = runner.run_set(oai, "tools", opts())
    assert out.complete and "OAI-TOOLS-001" in {v.requirement for v in violations}
    assert all(r.result.correct is not True for r in out.records if r.item.task != "tools-irrelevance")
    prose = _endpoint(lambda body: {"content": "I cannot help with that."})
    assert runner.run_set(prose[0], "tools", opts()).complete
    assert not prose[2]  # prose under tool_choice auto is the model's choice, not a protocol problem


def test_an_answer_only_in_reasoning_is_no_answer():
    oai, _, _ = _endpoint(lambda body: {"content": "", "reasoning_content": "Answer: 15"})
    out = runner.run_set(oai, "arith", opts())
    acc = out.run.accuracy()
    assert acc.correct == 0 and acc.no_answer == 200


# --- the report ------------------------------------------------------------------------------------------------

def test_report_has_per_item_records_and_the_summary(tmp_path):
    oai, _, _ = _endpoint(broken_share)
    out = runner.run_set(oai, "lookup", opts(repeat=2))
    doc = runner.document(out, endpoint="http://e")
    assert doc["passes"] == 2 and doc["flip"]["flips"] == 0 and doc["flip"]["n"] == 200
    item = doc["items"][0]
    assert {"id", "prompt", "answer", "verdict", "reason", "tokens", "latency_s", "template", "expected"} <= set(item)
    assert item["tokens"] == {"prompt": 40, "completion": 3}
    assert doc["accuracy"]["n"] == 200 and doc["no_answer_rate"] == 0
    paths = runner.write(tmp_path, doc, [doc])
    assert json.loads(paths["json"].read_text())["set"] == "lookup"
    md = paths["md"].read_text()
    assert "| lookup 1.0.0 | 200 |" in md and "0/200 (0.0 %)" in md and "## lookup" in md
    assert runner.summary_line(doc).startswith("lookup 1.0.0: ")


# --- selection -----------------------------------------------------------------------------------------------

def test_eval_option_names_sets_and_needle_implies_the_full_long_context_tier():
    assert cfg.eval_sets("all") == sets.ALL
    assert cfg.eval_sets(" caps, lookup ") == ("lookup", "caps")
    assert cfg.eval_sets("") == ()
    with pytest.raises(UsageError, match="unknown eval set"):
        cfg.eval_sets("gsm8k")

    def settings(**cli: Any) -> cfg.Settings:
        return cfg.resolve(lambda dest: cli.get(dest), lambda ini: "", env={})

    assert settings(llmconf_eval="needle").long_context == "full"
    assert settings(llmconf_eval="lookup").long_context == "boundary"
    with pytest.raises(UsageError, match="need --eval"):
        settings(llmconf_eval_baseline="b.json")
    with pytest.raises(UsageError, match="long-context off"):
        settings(llmconf_eval="needle", llmconf_long_context="off")


class _Item:
    def __init__(self, name: str, *, eval_set: str | None = None, is_eval: bool = False) -> None:
        self.name = name
        self.marks = {"eval": is_eval or eval_set is not None, "eval_set": eval_set}

    def get_closest_marker(self, name: str) -> Any:
        if name == "eval":
            return object() if self.marks["eval"] else None
        if name == "eval_set" and self.marks["eval_set"]:
            return pytest.mark.eval_set(self.marks["eval_set"]).mark
        return None


class _Config:
    def __init__(self, keyword: str = "") -> None:
        self.keyword = keyword
        self.deselected: list[Any] = []
        self.hook = self

    def getoption(self, name: str, default: Any = None) -> Any:
        return self.keyword

    def pytest_deselected(self, items: list[Any]) -> None:
        self.deselected += items


@pytest.mark.parametrize(("evals", "requirements", "keyword", "kept"), [
    ((), (), "", {"chat", "needle"}),                    # no --eval: no accuracy eval; the needle keeps its trigger
    (("lookup",), (), "", {"lookup"}),                   # --eval: evals only
    (("lookup", "needle"), (), "", {"lookup", "needle"}),
    (("caps",), ("OAI-CHAT",), "", {"chat", "caps"}),    # --requirement also selects conformance tests
    (("caps",), (), "chat", {"chat", "caps"}),           # so does -k
])
def test_eval_selection(evals, requirements, keyword, kept):
    from conformance.harness.plugin import _select_evals  # noqa: PLC0415

    items = [_Item("chat"), _Item("needle", eval_set="needle"), _Item("lookup", eval_set="lookup"),
             _Item("caps", eval_set="caps")]
    config = _Config(keyword)
    _select_evals(config, items, cfg.Settings(evals=evals, requirements=requirements))  # type: ignore[arg-type]
    assert {i.name for i in items} == kept
    assert {i.name for i in config.deselected} == {"chat", "needle", "lookup", "caps"} - kept


# --- optional deep evals: the importer ------------------------------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures" / "evals"


def test_lm_eval_results_are_folded_into_the_report(tmp_path):
    from conformance.harness.evals import importers  # noqa: PLC0415

    rows = importers.rows_of(FIXTURES / "lm_eval_results.json")
    assert [(r["task"], r["metric"], r["value"], r["stderr"], r["n"]) for r in rows] == [
        ("gsm8k", "exact_match,strict-match", 0.696, 0.0291, 250),
        ("gsm8k", "exact_match,flexible-extract", 0.448, 0.0315, 250)]
    assert rows[0]["wilson95"] == [0.6364, 0.7497]  # 174/250
    nemo = importers.rows_of(FIXTURES / "nemo_results.json")
    assert [(r["harness"], r["task"], r["metric"], r["n"]) for r in nemo] == [
        ("nemo-evaluator", "ifeval", "prompt_level_strict_acc", 540), ("nemo-evaluator", "ifeval", "inst_level_loose_acc", None)]
    assert nemo[0]["wilson95"] is not None and nemo[1]["wilson95"] is None  # no n: no interval invented
    assert importers.main([str(FIXTURES / "lm_eval_results.json"), str(FIXTURES / "nemo_results.json"),
                           "--reports-dir", str(tmp_path)]) == 0
    md = (tmp_path / "evals" / "external.md").read_text()
    assert "| lm-evaluation-harness | gsm8k | exact_match,strict-match | 0.6960 | 0.0291 | 250 | [0.636, 0.750] |" in md
    assert len(json.loads((tmp_path / "evals" / "external.json").read_text())["rows"]) == 4


def test_an_unknown_results_file_is_refused(tmp_path):
    from conformance.harness.evals import importers  # noqa: PLC0415

    bad = tmp_path / "x.json"
    bad.write_text('{"accuracy": 0.5}')
    with pytest.raises(ValueError, match="no 'results'"):
        importers.rows_of(bad)
    assert importers.main([str(bad), "--reports-dir", str(tmp_path)]) == 2
