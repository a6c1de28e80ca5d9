"""The accuracy evals' gate statistics offline (issue 11 §3-§4): Wilson bounds (one- and two-sided),
the clustered design effect, the three-state floor verdict, the exact McNemar paired test and its
handling of missing items and mismatched sets, the flip rate, the baseline file, one set's gate."""

from __future__ import annotations

import json
import math

import pytest

from conformance.harness.evals import gate as g
from conformance.harness.evals.stats import wilson
from conformance.harness.failures import UsageError


def run(outcomes, *, dataset="arith", version="1", model="m", server="s", params=None, answers=None,
        clusters=None):
    """An EvalRun over outcomes (True/False/None); item i is arith/t<i//5>/<i> in template t<i//5>."""
    items = [g.ItemResult(f"{dataset}/t{i // 5}/{i}", (clusters[i] if clusters else f"t{i // 5}"), ok,
                          answer=(answers[i] if answers else (None if ok is None else str(int(ok)))),
                          reason="" if ok else "wrong", tokens={"prompt": 10, "completion": 4}, latency_s=0.25)
             for i, ok in enumerate(outcomes)]
    return g.EvalRun(dataset, version, model, server, params or {"temperature": 0, "max_tokens": 8}, items)


# --- intervals -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("k", "n", "low", "high"), [(45, 50, 0.786, 0.957), (90, 100, 0.826, 0.945),
                                                     (180, 200, 0.851, 0.934), (0, 20, 0.0, 0.161)])
def test_two_sided_wilson_matches_published_values_and_stats_module(k, n, low, high):
    acc = g.accuracy_from_counts(k, n)
    assert (round(acc.low, 3), round(acc.high, 3)) == (low, high)
    assert (acc.low, acc.high) == pytest.approx((wilson(k, n).low, wilson(k, n).high))


@pytest.mark.parametrize(("k", "n", "lower"), [(45, 50, 0.808), (90, 100, 0.840), (176, 200, 0.837),
                                               (100, 100, 0.974), (200, 200, 0.987)])
def test_one_sided_lower_bound_matches_evals_md(k, n, lower):
    assert round(g.accuracy_from_counts(k, n).one_sided()[0], 3) == lower


def test_wilson_bounds_reject_impossible_input_and_handle_zero_items():
    assert g.wilson_bounds(0.0, 0, 1.96) == (0.0, 1.0)
    for p, n in ((1.2, 10), (-0.1, 10), (0.5, -1)):
        with pytest.raises(ValueError):
            g.wilson_bounds(p, n, 1.96)
    with pytest.raises(ValueError):
        g.accuracy_from_counts(5, 4)


def test_items_without_shared_templates_are_not_clustered():
    acc = g.clustered_accuracy((None, i % 3 == 0) for i in range(30))
    assert acc.design_effect == 1.0 and acc.n_effective == 30 and acc.clusters == 0
    assert "not clustered" in acc.method
    assert (acc.low, acc.high) == pytest.approx((wilson(10, 30).low, wilson(10, 30).high))


def test_whole_templates_right_or_wrong_give_the_design_effect_of_the_template_size():
    # 20 templates of 5 items; a template is all right or all wrong: 5 items carry one item's information
    outcomes = [(f"t{t}", t % 2 == 0) for t in range(20) for _ in range(5)]
    acc = g.clustered_accuracy(outcomes)
    # V_cluster = G/(G-1) Σ (S - m p)^2 / n^2 = 20/19 · 20 · 2.5^2 / 100^2; V_iid = .25/100
    assert acc.design_effect == pytest.approx(20 / 19 * 20 * 6.25 / 1e4 / (0.25 / 100))
    assert acc.n_effective == pytest.approx(100 / acc.design_effect)
    plain = g.accuracy_from_counts(50, 100)
    assert acc.high - acc.low > 2 * (plain.high - plain.low)
    assert "cluster-robust" in acc.method and acc.clusters == 20


def test_templates_mixing_right_and_wrong_items_evenly_have_no_design_effect_above_one():
    outcomes = [(f"t{t}", j < 2) for t in range(20) for j in range(5)]   # every template 2 of 5
    acc = g.clustered_accuracy(outcomes)
    assert acc.design_effect == 1.0 and acc.n_effective == 100


def test_clustering_degenerate_cases_say_why_deff_is_one():
    assert "no variance" in g.clustered_accuracy([(f"t{t}", True) for t in range(12) for _ in range(3)]).method
    assert "one template" in g.clustered_accuracy([("t", True), ("t", False), ("t", True)]).method
    few = g.clustered_accuracy([(f"t{t}", t < 2) for t in range(4) for _ in range(50)])   # lookup: 4 x 50
    assert "4 templates (< 10): taken as fixed sub-tasks" in few.method and few.design_effect == 1.0
    empty = g.clustered_accuracy([])
    assert empty.n == 0 and (empty.low, empty.high) == (0.0, 1.0)


def test_no_answer_counts_as_wrong_and_is_reported_apart():
    acc = g.clustered_accuracy([("t", True), ("t", None), ("u", False), ("u", None)])
    assert (acc.correct, acc.n, acc.no_answer) == (1, 4, 2)
    assert acc.as_dict()["no_answer"] == 2
    with pytest.raises(ValueError):
        g.clustered_accuracy([("t", 1)])


# --- floor verdict -------------------------------------------------------------------------------

def test_floor_verdict_has_three_states_with_reasons():
    acc = g.accuracy_from_counts(90, 100)   # one-sided bounds [0.840, 0.939]
    ok = g.floor_verdict(acc, 0.80)
    assert ok.state == "PASS" and "lower bound 0.840 >= floor 0.800" in ok.reason
    bad = g.floor_verdict(acc, 0.96)
    assert bad.state == "FAIL" and "upper bound 0.939 < floor 0.960" in bad.reason
    mid = g.floor_verdict(acc, 0.90)
    assert mid.state == "INCONCLUSIVE" and "[0.840, 0.939]" in mid.reason and "rerun" in mid.reason
    assert g.floor_verdict(g.accuracy_from_counts(0, 0), 0.5).state == "INCONCLUSIVE"
    with pytest.raises(ValueError):
        g.floor_verdict(acc, 1.5)


def test_floor_verdict_at_the_bound_passes_and_uses_the_effective_n():
    acc = g.accuracy_from_counts(90, 100)
    assert g.floor_verdict(acc, acc.one_sided()[0]).state == "PASS"
    clustered = g.clustered_accuracy([(f"t{t}", t < 18) for t in range(20) for _ in range(5)])  # 90/100, deff>1
    assert clustered.correct == 90 and clustered.design_effect > 1
    assert g.floor_verdict(clustered, 0.80).state == "INCONCLUSIVE"   # the plain n would PASS it
    assert "n_eff" in g.floor_verdict(clustered, 0.80).reason


def test_floor_from_baseline_subtracts_the_margin():
    assert g.floor_from_baseline(0.72) == pytest.approx(0.67)
    assert g.floor_from_baseline(0.02) == 0.0


# --- paired test ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("b", "c", "p"), [(15, 5, 0.021), (10, 3, 0.046), (8, 2, 0.055), (6, 1, 0.063)])
def test_exact_mcnemar_matches_evals_md(b, c, p):
    assert g.mcnemar_one_sided(b, c) == pytest.approx(p, abs=0.00051)  # evals.md rounds half up


def test_exact_mcnemar_edges():
    assert g.mcnemar_one_sided(0, 0) == 1.0
    assert g.mcnemar_one_sided(0, 7) == 1.0
    assert g.mcnemar_one_sided(7, 0) == 2 ** -7
    assert g.mcnemar_one_sided(300, 200) < 1e-5   # large counts: exact integer arithmetic
    with pytest.raises(ValueError):
        g.mcnemar_one_sided(-1, 2)


def test_regression_rule_needs_both_significance_and_effect():
    assert g.regression_state(12, 1, 200)[0] is True              # p 0.0017, effect 0.055
    assert g.regression_state(12, 1, 400)[0] is False             # effect 0.0275 < 0.03
    assert g.regression_state(10, 3, 100)[0] is False             # p 0.046 >= 0.01
    assert g.regression_state(7, 0, 200)[0] is True               # p 2^-7 = 0.0078, effect 0.035
    assert g.regression_state(6, 0, 200)[0] is False              # p 2^-6 = 0.0156


def pattern(n=200):
    """160/200 right, four of the five items of every template (no design effect)."""
    return [i % 5 != 0 for i in range(n)]


def base_and_regressed(lost=25, gained=3, *, spread=True):
    """The baseline `pattern()` and a candidate that loses `lost` of its right items (one per template
    when `spread`, else whole templates from the first on) and gains `gained` wrong ones."""
    base = pattern()
    cand = list(base)
    right = [i for i in range(200) if base[i]]
    for i in ([i for i in right if i % 5 == 1][:lost] if spread else right[:lost]):
        cand[i] = False
    for i in [i for i in range(200) if not base[i]][:gained]:
        cand[i] = True
    return run(base), run(cand)


def test_compare_flags_a_planted_regression_with_the_lost_items():
    baseline, candidate = base_and_regressed()
    r = g.compare(baseline, candidate)
    assert r.state == "FAIL" and (r.b, r.c, r.n) == (25, 3, 200)
    assert r.p_value == pytest.approx(g.mcnemar_one_sided(25, 3)) and r.effect == pytest.approx(0.11)
    assert r.losses[0] == "arith/t0/1" and len(r.losses) == 25 and len(r.gains) == 3
    assert r.reason.startswith("FAIL: regression") and "b=25" in r.reason
    assert r.as_dict()["baseline_accuracy"] == 0.8 and r.as_dict()["candidate_accuracy"] == 0.69
    assert r.clustered_p is not None and r.clustered_p < 0.01   # losses spread over 25 templates


def test_clustered_mcnemar_is_reported_and_warier_of_losses_in_few_templates():
    baseline, whole_templates = base_and_regressed(24, 3, spread=False)   # 6 templates lose all 4 right items
    r = g.compare(baseline, whole_templates)
    assert r.state == "FAIL" and r.p_value < 1e-4
    assert r.clustered_p is not None and r.clustered_p > 100 * r.p_value
    assert r.as_dict()["clustered_p"] == round(r.clustered_p, 6)
    assert g.clustered_mcnemar_one_sided([(1, 1), (0, 0)]) is None   # no net discordance in any cluster
    assert g.clustered_mcnemar_one_sided([(0, 0)]) is None
    assert g.clustered_mcnemar_one_sided([(1, 0)] * 9) == pytest.approx(1 - g.NormalDist().cdf(3.0))


def test_compare_passes_a_rerun_with_a_few_symmetric_flips():
    baseline, _ = base_and_regressed()
    rerun = pattern()
    for i in (1, 51, 101):
        rerun[i] = False
    for i in (0, 50, 100):
        rerun[i] = True
    r = g.compare(baseline, run(rerun))
    assert r.state == "PASS" and (r.b, r.c) == (3, 3) and "PASS: no regression" in r.reason


def test_compare_notes_an_improvement_and_configuration_changes():
    base = run([i < 100 for i in range(200)], model="m1", params={"temperature": 0})
    better = run([i < 130 for i in range(200)], model="m2", params={"temperature": 0.1}, server="s2")
    r = g.compare(base, better)
    assert r.state == "PASS"
    text = " | ".join(r.notes)
    assert "significant improvement" in text and "model differs" in text and "server differs" in text
    assert "request params hash differs" in text


def test_compare_refuses_different_sets_or_versions_as_a_usage_error():
    a = run([True] * 10)
    for other in (run([True] * 10, version="2"), run([True] * 10, dataset="tools")):
        with pytest.raises(g.BaselineMismatch, match="same items"):
            g.compare(a, other)
    assert issubclass(g.BaselineMismatch, UsageError)
    disjoint = run([True] * 10)
    disjoint.items[:] = [g.ItemResult(f"x{i}", None, True) for i in range(10)]
    with pytest.raises(g.BaselineMismatch, match="share no item"):
        g.compare(a, disjoint)
    moved = run([True] * 10, clusters=[f"z{i}" for i in range(10)])
    with pytest.raises(g.BaselineMismatch, match="changed template"):
        g.compare(a, moved)
    dup = run([True] * 3)
    dup.items.append(dup.items[0])
    with pytest.raises(g.BaselineMismatch, match="twice"):
        g.compare(a, dup)


def test_missing_items_are_reported_and_cannot_hide_a_regression():
    baseline, _ = base_and_regressed()
    cand = run(pattern())
    del cand.items[:20]                              # 20 items (16 the baseline got right) never came back
    r = g.compare(baseline, cand)
    assert r.state == "INCONCLUSIVE" and len(r.missing_in_candidate) == 20 and r.n == 180
    assert "missing from the run" in r.reason
    assert any("20 baseline item(s) missing" in note for note in r.notes)
    few = run(pattern())
    del few.items[:2]                                # 2 missing: the worst case still passes
    assert g.compare(baseline, few).state == "PASS"
    extra = run(pattern(205))       # items the baseline lacks: unpaired, listed
    r2 = g.compare(baseline, extra)
    assert r2.state == "PASS" and len(r2.missing_in_baseline) == 5
    assert any("not in the baseline" in note for note in r2.notes)


# --- flip rate -----------------------------------------------------------------------------------

def test_flip_rate_counts_verdict_changes_answer_changes_and_unpaired_items():
    a = run([True, True, False, None, True, False])
    b = run([True, False, False, False, True, True], answers=["1", "0", "7", "0", "1", "1"])
    f = g.flip_rate(a, b)
    assert (f.flips, f.n) == (2, 6)                      # None -> False is not a verdict flip
    assert f.answer_changes == 4                         # "1"->"0", "0"->"7", None->"0", "0"->"1"
    assert f.value == pytest.approx(1 / 3)
    low, high = f.interval
    assert (low, high) == pytest.approx((wilson(2, 6).low, wilson(2, 6).high))
    short = run([True, True, False])
    assert g.flip_rate(a, short).unpaired == 3
    assert g.FlipRate.from_dict(f.as_dict()) == f
    with pytest.raises(g.BaselineMismatch):
        g.flip_rate(a, run([True] * 6, version="9"))


# --- baseline file -------------------------------------------------------------------------------

def test_baseline_round_trips_and_is_versioned(tmp_path):
    r = run([True, False, None, True] * 5, params={"temperature": 0, "seed": 1234, "max_tokens": 8})
    r.flip = g.FlipRate(1, 20, 2)
    r.suite_version = "0.1.0"
    path = g.save_baseline(tmp_path / "sub" / "arith.json", r)
    doc = json.loads(path.read_text())
    assert doc["format"] == "llmconf-eval-baseline" and doc["format_version"] == 1
    assert doc["dataset"] == {"name": "arith", "version": "1"}
    assert doc["request_params_hash"].startswith("sha256:") and doc["summary"] == {"correct": 10, "n": 20,
                                                                                     "no_answer": 5}
    assert {i["verdict"] for i in doc["items"]} == {"correct", "wrong", "no_answer"}
    assert set(doc["items"][0]) == {"id", "cluster", "verdict", "answer", "reason", "tokens", "latency_s"}
    assert path.read_text().count("\n") > 20, "one item per line, for readable diffs"
    back = g.load_baseline(path)
    assert back == r
    assert g.compare(back, r).state == "PASS" and (g.compare(back, r).b, g.compare(back, r).c) == (0, 0)


def test_params_hash_is_canonical():
    assert g.request_params_hash({"a": 1, "b": [1, 2]}) == g.request_params_hash({"b": [1, 2], "a": 1})
    assert g.request_params_hash({"a": 1}) != g.request_params_hash({"a": 2})


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.update(format="other"), "not an eval baseline"),
    (lambda d: d.update(format_version=2), "format_version 2 is not supported"),
    (lambda d: d.update(dataset={"name": "arith"}), "name and version"),
    (lambda d: d["items"][0].update(verdict="maybe"), "verdict must be one of"),
    (lambda d: d["items"].append(dict(d["items"][0])), "twice"),
    (lambda d: d["request_params"].update(temperature=1), "does not match"),
    (lambda d: d.update(items={}), "items must be a list"),
])
def test_malformed_baselines_are_usage_errors(tmp_path, edit, message):
    path = g.save_baseline(tmp_path / "b.json", run([True, False]))
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(g.BaselineMismatch, match=message):
        g.load_baseline(path)


def test_missing_or_unparsable_baseline_files_are_usage_errors(tmp_path):
    with pytest.raises(g.BaselineMismatch, match="No such file"):
        g.load_baseline(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(g.BaselineMismatch):
        g.load_baseline(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(g.BaselineMismatch, match="object"):
        g.load_baseline(tmp_path / "list.json")


# --- one set's gate ------------------------------------------------------------------------------

def test_gate_without_baseline_reports_or_judges_the_floor():
    r = run([i % 10 != 0 for i in range(200)])
    assert g.gate(r).state == "REPORTED" and "reported" in g.gate(r).line
    assert g.gate(r, floor=0.8).state == "PASS"
    assert g.gate(r, floor=0.95).state == "FAIL"
    assert g.gate(r, floor=0.9).state == "INCONCLUSIVE"
    assert g.gate(r, floor=0.8).line.startswith("arith: 180/200 = 0.900 [")


def test_gate_with_a_baseline_fails_a_regression_and_passes_the_rerun():
    baseline, regressed = base_and_regressed()
    fail = g.gate(regressed, baseline=baseline)
    assert fail.state == "FAIL" and fail.power is not None and fail.power.gates
    assert "FAIL: regression" in fail.line and "gates: power" in fail.line
    ok = g.gate(run(pattern()), baseline=baseline)
    assert ok.state == "PASS"
    doc = ok.as_dict()
    assert doc["regression"]["b"] == 0 and doc["power"]["exact_power"] >= 0.8
    json.dumps(doc)


def test_gate_on_a_set_too_small_reports_instead_of_gating():
    base = run([i < 32 for i in range(40)])
    cand = run([i < 20 for i in range(40)])
    result = g.gate(cand, baseline=base)
    assert result.state == "REPORTED"
    assert "too small to gate (reports only): power" in result.line and "at n=40" in result.line
    assert "would be FAIL" in result.line


def test_gate_uses_the_measured_flip_rate_for_the_power_check():
    baseline = run([i < 100 for i in range(150)])
    candidate = run([5 <= i < 105 for i in range(150)])     # 5 lost, 5 gained
    quiet = g.gate(candidate, baseline=baseline, flip=g.FlipRate(0, 150))
    noisy = g.gate(candidate, baseline=baseline, flip=g.FlipRate(15, 150))
    assert quiet.power.flip == 0.0 and noisy.power.flip == pytest.approx(0.1)
    assert quiet.state == "PASS" and quiet.power.gates
    assert noisy.state == "REPORTED" and not noisy.power.gates
    assert "flip rate 15/150" in noisy.line


def test_gate_with_missing_items_is_inconclusive():
    baseline, _ = base_and_regressed()
    cand = run(pattern())
    del cand.items[:20]
    assert g.gate(cand, baseline=baseline).state == "INCONCLUSIVE"


def test_gate_baseline_without_room_for_a_drop_reports():
    base = run([i < 10 for i in range(200)])      # accuracy 0.05: a 10-point drop is impossible
    result = g.gate(run([i < 10 for i in range(200)]), baseline=base)
    assert result.state == "REPORTED" and "leaves no room" in result.line


# --- the item model used by the simulation -------------------------------------------------------

@pytest.mark.parametrize(("a", "f"), [(0.7, 0.05), (0.5, 0.1), (0.95, 0.08), (0.05, 0.08), (0.3, 0.0), (1.0, 0.0)])
def test_item_model_reproduces_accuracy_and_flip_rate(a, f):
    s1, u, q = g.item_model(a, f)
    assert s1 >= 0 and 0 <= u <= 1 and s1 + u <= 1 + 1e-12 and 0 < q <= 1
    assert s1 + u * q == pytest.approx(a)
    assert 2 * u * q * (1 - q) == pytest.approx(f)


def test_item_model_refuses_impossible_flip_rates():
    with pytest.raises(ValueError, match="impossible"):
        g.item_model(0.95, 0.2)
    with pytest.raises(ValueError):
        g.gate_power(100, 0.05, 0.10, 0.0, 10)


def test_exact_error_rates_are_zero_without_noise_and_grow_with_n():
    ff, power = g.paired_error_rates(100, 0.7, 0.10, 0.0)
    assert ff == 0.0 and 0.85 < power < 0.9
    assert g.paired_error_rates(200, 0.7, 0.10, 0.05)[1] > g.paired_error_rates(100, 0.7, 0.10, 0.05)[1]
    assert not math.isnan(g.paired_error_rates(10, 0.5, 0.5, 0.5)[1])


def test_the_documented_baseline_example_loads(tmp_path):
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "eval-statistics.md").read_text(encoding="utf-8")
    example = re.search(r"```json\n(.*?)```", doc, re.S)
    assert example, "docs/eval-statistics.md lost its baseline example"
    (tmp_path / "b.json").write_text(example.group(1))
    loaded = g.load_baseline(tmp_path / "b.json")
    assert loaded.dataset == "lookup" and [i.verdict for i in loaded.items] == ["correct", "no_answer"]
    assert loaded.flip == g.FlipRate(3, 200, 4)
