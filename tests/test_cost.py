"""The cost estimate (issue 13 §5, conformance/harness/cost.py): good and bad fixtures for the
estimate, the threshold, the refusal limit and the options; one real collection prints the line
and ``--max-cost`` refuses with exit 4."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conformance.harness import config as cfg
from conformance.harness import cost
from conformance.harness.evals import sets
from conformance.harness.failures import UsageError

ROOT = Path(__file__).resolve().parents[1]

BUDGET = {
    "requests": 100, "prompt_tokens": 5000, "output_tokens": 1000, "by_api": {"chat": {"requests": 100}},
    "unattributed": {"requests": 3, "prompt_tokens": 0, "output_tokens": 0},
    "by_requirement": {
        "HTTP-STATUS-001": {"requests": 1, "prompt_tokens": 20, "output_tokens": 5, "tests": 1},
        "OAI-STREAM-002": {"requests": 4, "prompt_tokens": 80, "output_tokens": 40, "tests": 2},
        "OAI-CTX-004": {"requests": 6, "prompt_tokens": 12000, "output_tokens": 0, "tests": 3},
    },
}


def settings(**kw: object) -> SimpleNamespace:
    base = dict(eval_repeat=None, eval_save_baseline=None, context_length=None, max_prompt_tokens=32768,
                embedded=True, cost_per_mtok=None, cost_threshold=cost.DEFAULT_THRESHOLD, max_cost=None)
    base.update(kw)
    return SimpleNamespace(**base)


def test_conformance_tests_are_estimated_per_test_from_the_budget() -> None:
    items = [cost.Planned("a", "HTTP-STATUS-001"), cost.Planned("b", "OAI-STREAM-002")]
    est = cost.estimate(items, budget=BUDGET, budget_source="budget.json")
    # 1 + 4/2 per test, plus the session traffic (3) once
    assert (est.requests, est.prompt_tokens, est.output_tokens) == (1 + 2 + 3, 20 + 40, 5 + 20)
    assert est.line() == ("llmconf cost estimate: ~6 requests, ~60 prompt tokens, ~25 output tokens "
                          "(from budget.json for 2 conformance tests)")
    # bad fixture: more selected tests of a requirement cost more; an unknown one is not free
    more = cost.estimate([*items, cost.Planned("c", "OAI-STREAM-002")], budget=BUDGET)
    assert more.requests == est.requests + 2
    unknown = cost.estimate([*items, cost.Planned("d", "NOT-IN-001")], budget=BUDGET)
    assert unknown.requests > est.requests and "at the median per test" in unknown.parts[0].note


def test_long_context_tests_count_at_the_cap_away_from_the_reference() -> None:
    items = [cost.Planned("x", "OAI-CTX-004", long_context=True)]
    at_reference = cost.estimate(items, budget=BUDGET)
    assert at_reference.prompt_tokens == 4000  # the budget's own figure (12000 / 3 tests)
    capped = cost.estimate(items, budget=BUDGET, long_prompt=32768)
    assert capped.requests == at_reference.requests and capped.prompt_tokens == 4000 * 32768 // 2048
    assert any("scaled from the budget's 2048-token window to 32768" in p.note for p in capped.parts)


def test_tests_the_run_skips_for_their_tier_cost_nothing() -> None:
    boundary = cost.Planned("x", "OAI-CTX-004", long_context=True, tier="boundary")
    needle = cost.Planned("n", "OAI-EVAL-001", "needle", True, True, "full")
    kw = dict(budget=BUDGET, needle_window=2048, needle_cap=32768)
    full = cost.estimate([boundary, needle], tier="full", **kw)
    assert {p.what for p in full.parts} == {"eval needle", "conformance"}
    assert cost.estimate([boundary, needle], tier="boundary", **kw).requests == full.requests - 24
    assert cost.estimate([boundary, needle], tier="off", **kw).requests == 0


def test_no_budget_says_so_and_counts_nothing_it_does_not_know() -> None:
    est = cost.estimate([cost.Planned("a", "HTTP-STATUS-001")], budget=None)
    assert est.requests == 0 and "not estimated (no budget)" in est.line()


def test_eval_sets_are_items_times_repeats_times_passes() -> None:
    lookup = sets.load("lookup")
    one = cost.estimate([cost.Planned("e1", "OAI-EVAL-004", "lookup", True),
                         cost.Planned("e2", "OAI-EVAL-003", "lookup", True)])  # two tests, one run of the set
    assert one.requests == lookup.count
    assert one.output_tokens == sum(i.max_tokens for i in lookup.items)
    recorded = cost.recorded_prompt_tokens("lookup")  # the reference's own usage, from its stored baseline
    assert len(recorded) == lookup.count and one.prompt_tokens == sum(recorded.values()) == 21375
    assert "recorded by the reference baseline for 200/200" in one.parts[0].note
    three = cost.estimate([cost.Planned("e1", "OAI-EVAL-004", "lookup", True)], evals_k=3, eval_passes=2)
    assert (three.requests, three.prompt_tokens) == (6 * one.requests, 6 * one.prompt_tokens)
    assert "eval items (lookup)" in three.line()


def test_a_set_without_a_recorded_baseline_is_estimated_from_its_text(tmp_path: Path) -> None:
    lookup = sets.load("lookup")
    part = cost.eval_part("lookup", baselines=tmp_path)  # no baseline there
    chars = sum(len(i.prompt_text) for i in lookup.items)
    assert chars / cost.CHARS_PER_TOKEN <= part.prompt_tokens <= chars / cost.CHARS_PER_TOKEN + lookup.count
    assert "chars/token" in part.note
    (tmp_path / "lookup.json").write_text("not json", encoding="utf-8")  # unreadable: the text estimate again
    assert cost.eval_part("lookup", baselines=tmp_path).prompt_tokens == part.prompt_tokens
    arith = cost.eval_part("arith")  # chat: the template's tokens per message are counted
    texts = sum(math.ceil(len(i.prompt_text) / cost.CHARS_PER_TOKEN) for i in sets.load("arith").items)
    assert arith.prompt_tokens >= texts + cost.MESSAGE_OVERHEAD * 200


def test_needle_is_its_planned_grid() -> None:
    est = cost.estimate([cost.Planned("n", "OAI-EVAL-001", "needle", True)], needle_window=2048, needle_cap=32768)
    part = est.parts[0]
    assert part.what == "eval needle" and part.requests == 24  # 2 variants × 4 lengths × 3 depths
    assert "needle grid for a 2048-token window" in est.line() and "upper bound" in est.line()
    assert 10_000 < part.prompt_tokens < 2 * 24 * 2048 and part.output_tokens == 24 * 32
    bigger = cost.estimate([cost.Planned("n", "OAI-EVAL-001", "needle", True)], needle_window=32768,
                           needle_cap=32768)
    assert bigger.prompt_tokens > 10 * est.prompt_tokens


def test_threshold_warns_only_when_exceeded() -> None:
    est = cost.estimate([cost.Planned("a", "HTTP-STATUS-001")], budget=BUDGET)  # 4 requests, 25 tokens
    assert est.warning(cost.Limit.parse("4,25")) == []  # good: at the limit is within it
    block = est.warning(cost.Limit.parse("3"))  # bad: requests over
    assert block[0].startswith("!!!") and "4 requests > 3" in block[1] and block[-1] == block[0]
    assert "25 tokens > 24" in est.warning(cost.Limit.parse("100,24"))[1]  # bad: tokens over
    assert cost.Limit.parse("2_000,2000000") == cost.Limit(2000, 2_000_000)
    for bad in ("", "x", "1,2,3", "-1", "1,x"):
        with pytest.raises(UsageError, match="REQUESTS"):
            cost.Limit.parse(bad)


def test_money_figure() -> None:
    est = cost.Estimate([cost.Part("p", 1, 2_000_000, 1_000_000)], prices=cost.parse_prices("0.5,2"))
    assert est.money == pytest.approx(3.0) and "~3.00 at 0.5/2 per M tokens" in est.line()
    assert cost.parse_prices(None) is None and cost.parse_prices("1") == (1.0, 1.0)
    for bad in ("a,b", "1,2,3", "-1,1", "nan,1"):
        with pytest.raises(UsageError, match="cost-per-mtok"):
            cost.parse_prices(bad)


def test_for_run_reads_the_budget_file_and_the_settings(tmp_path: Path) -> None:
    path = tmp_path / "budget.json"
    path.write_text(json.dumps(BUDGET), encoding="utf-8")
    items = [cost.Planned("a", "HTTP-STATUS-001"), cost.Planned("e", "OAI-EVAL-004", "lookup", True)]
    est = cost.for_run(items, settings(eval_save_baseline="x"), {"eval_repeats": 2}, path)
    assert est.requests == 1 + 3 + sets.load("lookup").count * 2 * 2  # k 2, 2 passes when saving
    assert "the recorded budget budget.json for 1 conformance tests" in est.line()
    missing = cost.for_run(items[:1], settings(), {}, tmp_path / "nope.json")
    assert "not estimated (no budget)" in missing.line()


def test_options_resolve_and_reject_malformed_values() -> None:
    def resolve(cli: dict[str, str], env: dict[str, str] | None = None) -> cfg.Settings:
        return cfg.resolve(lambda d: cli.get(d), lambda i: "", env or {})

    s = resolve({})
    assert (s.cost_threshold, s.max_cost, s.cost_per_mtok) == ("2000,2000000", None, None)
    s = resolve({"llmconf_max_cost": "50"}, {"LLMCONF_COST_THRESHOLD": "10,1000", "LLMCONF_COST_PER_MTOK": "1,2"})
    assert (s.cost_threshold, s.max_cost, s.cost_per_mtok) == ("10,1000", "50", "1,2")
    for dest, value in (("llmconf_cost_threshold", "lots"), ("llmconf_max_cost", "1,2,3"),
                        ("llmconf_cost_per_mtok", "free")):
        with pytest.raises(UsageError):
            resolve({dest: value})


def _suite(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                           "--endpoint=http://127.0.0.1:9", "--profile=generic", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_line_is_printed_and_max_cost_refuses_with_exit_4(tmp_path: Path) -> None:
    shown = _suite("--collect-only", f"--reports-dir={tmp_path}", "--eval=lookup")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    line = next(x for x in shown.stdout.splitlines() if x.startswith("llmconf cost estimate:"))
    assert "~200 requests" in line and "eval items (lookup)" in line
    warned = _suite("--collect-only", f"--reports-dir={tmp_path}", "--eval=lookup", "--cost-threshold=100")
    assert "200 requests > 100" in warned.stdout
    refused = _suite(f"--reports-dir={tmp_path}", "--eval=lookup", "--max-cost=100")
    assert refused.returncode == cost.REFUSED_EXIT, refused.stdout + refused.stderr
    assert "refusing to start" in refused.stdout + refused.stderr and " passed" not in refused.stdout
