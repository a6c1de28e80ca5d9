"""Gate statistics for the accuracy evals (issue 11 §3-§5; evals.md §1.3, §1.5.5-6, §6). Stdlib only,
pure functions: no pytest, no transport. The methods, their defaults and the simulated error rates
are documented in ``docs/eval-statistics.md``; ``tests/test_eval_gate_simulation.py`` proves them.

* :func:`accuracy`: accuracy with a Wilson interval, **clustered by template**: the cluster-robust
  variance of the mean (Miller 2024, "Adding Error Bars to Evals", §2.2: items sharing a template
  are not independent) gives a design effect ``deff = V_cluster / V_iid`` (floored at 1); the Wilson
  interval is computed on the effective sample size ``n / deff``.
* :func:`floor_verdict`: PASS if the one-sided 95 % Wilson lower bound ≥ the floor, FAIL if the
  one-sided 95 % upper bound < the floor, else INCONCLUSIVE (evals.md §1.5.5).
* :func:`compare`: the **paired** regression test against a baseline run of the same items:
  discordant counts ``b`` (baseline right, candidate wrong) and ``c`` (the reverse), the exact
  one-sided McNemar p; FAIL if ``p < alpha`` (0.01) and ``(b - c) / n ≥ min_effect`` (0.03).
* :func:`flip_rate`: the share of items whose verdict differs between two runs of one
  configuration (the noise floor), with its Wilson interval.
* :func:`gate_power`: the false-fail rate and the power of the whole gate (:func:`decide`) by
  simulation at a set's size, so a set too small to reach 1 % / 80 % reports instead of gating.
* :class:`EvalRun` / :class:`ItemResult`, :func:`save_baseline` / :func:`load_baseline`: the
  versioned baseline file the runner writes with ``--eval-save-baseline`` and reads with
  ``--eval-baseline``.

An item's ``correct`` is ``True``, ``False`` or ``None`` (no extractable answer). Accuracy counts
``None`` as wrong (the denominator is every item sent) and reports the no-answer count apart.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any, Literal

from conformance.harness.failures import UsageError

State = Literal["PASS", "FAIL", "INCONCLUSIVE"]

#: Baseline file format name and version (bump the version on any incompatible change).
FORMAT = "llmconf-eval-baseline"
FORMAT_VERSION = 1

#: One-sided 95 % normal quantile (= the two-sided 90 % one).
Z_ONE_SIDED_95 = NormalDist().inv_cdf(0.95)
#: Two-sided 95 % normal quantile.
Z_TWO_SIDED_95 = NormalDist().inv_cdf(0.975)

#: Paired test: FAIL only if the exact one-sided McNemar p is below ALPHA ...
DEFAULT_ALPHA = 0.01
#: ... and the net loss (b - c) / n is at least MIN_EFFECT (3 points).
DEFAULT_MIN_EFFECT = 0.03
#: Floor derived from a baseline: baseline accuracy minus this margin (evals.md §1.5.5).
DEFAULT_MARGIN = 0.05
#: Targets a set must reach to gate (issue 11 §5).
TARGET_FALSE_FAIL = 0.01
TARGET_POWER = 0.80
TARGET_DROP = 0.10
#: Flip rate assumed for the power check when none was measured (the upper end of what greedy
#: decoding shows on batched servers, evals.md §1.4).
ASSUMED_FLIP = 0.05
#: Fewer templates than this are fixed sub-tasks (strata), not a sample of templates: a cluster-robust
#: variance from so few clusters would itself be noise, so such sets are not clustered.
MIN_CLUSTERS = 10


class BaselineMismatch(UsageError):
    """The baseline and the candidate are not runs of the same item set: no verdict is possible."""


# --- intervals -----------------------------------------------------------------------------------

def wilson_bounds(p: float, n: float, z: float) -> tuple[float, float]:
    """The Wilson score interval of an observed proportion ``p`` over ``n`` (possibly effective,
    non-integer) items at normal quantile ``z``; ``n`` = 0 gives [0, 1]."""
    if not 0.0 <= p <= 1.0 or n < 0:
        raise ValueError(f"need 0 <= p <= 1 and n >= 0, got p={p}, n={n}")
    if n == 0:
        return 0.0, 1.0
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, slots=True)
class Accuracy:
    """``correct`` of ``n`` items, the Wilson 95 % interval on the effective sample size."""

    correct: int
    n: int
    no_answer: int = 0
    clusters: int = 0            # distinct clusters (templates); 0 = not clustered
    design_effect: float = 1.0   # V_cluster / V_iid, floored at 1
    n_effective: float = 0.0
    low: float = 0.0             # two-sided 95 % Wilson on n_effective
    high: float = 1.0
    method: str = "Wilson score interval, 95 % two-sided"

    @property
    def value(self) -> float | None:
        return self.correct / self.n if self.n else None

    def one_sided(self, confidence: float = 0.95) -> tuple[float, float]:
        """The one-sided ``confidence`` lower and upper Wilson bounds on the effective n."""
        z = NormalDist().inv_cdf(confidence)
        return wilson_bounds(self.value or 0.0, self.n_effective, z) if self.n else (0.0, 1.0)

    def as_dict(self) -> dict[str, Any]:
        value = self.value
        return {"correct": self.correct, "n": self.n, "no_answer": self.no_answer,
                "accuracy": None if value is None else round(value, 4),
                "wilson95": [round(self.low, 4), round(self.high, 4)],
                "clusters": self.clusters, "design_effect": round(self.design_effect, 3),
                "n_effective": round(self.n_effective, 1), "method": self.method}


def accuracy_from_counts(correct: int, n: int, *, no_answer: int = 0) -> Accuracy:
    """Unclustered accuracy (every item its own cluster)."""
    if n < 0 or not 0 <= correct <= n or not 0 <= no_answer <= n - correct:
        raise ValueError(f"need 0 <= correct <= n and 0 <= no_answer <= n - correct, got {correct}, {n}, {no_answer}")
    low, high = wilson_bounds(correct / n if n else 0.0, n, Z_TWO_SIDED_95)
    return Accuracy(correct, n, no_answer, 0, 1.0, float(n), low, high)


def clustered_accuracy(outcomes: Iterable[tuple[str | None, bool | None]]) -> Accuracy:
    """Accuracy of ``(cluster, correct)`` outcomes with the cluster-robust design effect.

    ``V_iid = p(1-p)/n``; ``V_cluster = G/(G-1) · Σ_g (S_g - m_g·p)² / n²`` (S_g correct of the
    m_g items of cluster g; the G/(G-1) factor is the usual small-sample correction);
    ``deff = max(1, V_cluster / V_iid)``; Wilson on ``n / deff``. Items with cluster ``None`` are
    their own cluster. When every cluster holds one item, or p is 0 or 1 (no variance to
    estimate), or there are fewer than ``MIN_CLUSTERS`` templates (fixed sub-tasks rather than a
    sample of templates), deff is 1 and the method says why.
    """
    sums: dict[str, list[int]] = {}
    correct = n = no_answer = 0
    for i, (cluster, ok) in enumerate(outcomes):
        if ok is not None and not isinstance(ok, bool):
            raise ValueError(f"correct must be True, False or None, got {ok!r}")
        key = f"\x00item{i}" if cluster is None else str(cluster)
        cell = sums.setdefault(key, [0, 0])
        cell[0] += ok is True
        cell[1] += 1
        correct += ok is True
        no_answer += ok is None
        n += 1
    if n == 0:
        return Accuracy(0, 0, 0, 0, 1.0, 0.0, 0.0, 1.0, "no items")
    p = correct / n
    g = len(sums)
    method = "Wilson score interval, 95 % two-sided"
    deff = 1.0
    if g == n:
        method += "; no template shared by two items: not clustered"
        g = 0
    elif g < 2:
        method += "; one template only: the clustered variance is not estimable (deff 1)"
    elif g < MIN_CLUSTERS:
        method += (f"; {g} templates (< {MIN_CLUSTERS}): taken as fixed sub-tasks (strata), not a sample of "
                   "templates; not clustered (the stratified variance is at most the unclustered one)")
    elif p in (0.0, 1.0):
        method += f"; clustered by template (G={g}): p is {p:.0f}, no variance to estimate (deff 1)"
    else:
        v_iid = p * (1 - p) / n
        v_cluster = g / (g - 1) * sum((s - m * p) ** 2 for s, m in sums.values()) / (n * n)
        deff = max(1.0, v_cluster / v_iid)
        method += (f" on the effective n = n/deff; deff from the cluster-robust variance by template "
                   f"(G={g}, Miller 2024 §2.2)")
    n_eff = n / deff
    low, high = wilson_bounds(p, n_eff, Z_TWO_SIDED_95)
    return Accuracy(correct, n, no_answer, g, deff, n_eff, low, high, method)


# --- three-state verdict against a floor ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FloorVerdict:
    state: State
    floor: float
    lower: float   # one-sided bounds at `confidence`, on the effective n
    upper: float
    confidence: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "floor": round(self.floor, 4), "lower": round(self.lower, 4),
                "upper": round(self.upper, 4), "confidence": self.confidence, "reason": self.reason}


def floor_from_baseline(baseline_accuracy: float, margin: float = DEFAULT_MARGIN) -> float:
    """The floor a candidate is held to: the baseline's accuracy minus an absolute margin."""
    return max(0.0, baseline_accuracy - margin)


def floor_verdict(acc: Accuracy, floor: float, *, confidence: float = 0.95) -> FloorVerdict:
    """PASS if the one-sided lower bound ≥ floor; FAIL if the one-sided upper bound < floor; else
    INCONCLUSIVE (rerun with a fresh seed block, doubling n, and decide on the pooled result)."""
    if not 0.0 <= floor <= 1.0:
        raise ValueError(f"floor must be in [0, 1], got {floor}")
    lower, upper = acc.one_sided(confidence)
    pct = f"{confidence:.0%}".replace("%", " %")
    seen = (f"{acc.correct}/{acc.n} = {acc.value:.3f}" if acc.n else "0 items") + (
        f", n_eff {acc.n_effective:.1f}" if acc.design_effect > 1 else "")
    if acc.n == 0:
        return FloorVerdict("INCONCLUSIVE", floor, lower, upper, confidence, "INCONCLUSIVE: no items scored")
    if lower >= floor:
        return FloorVerdict("PASS", floor, lower, upper, confidence,
                            f"PASS: one-sided {pct} lower bound {lower:.3f} >= floor {floor:.3f} ({seen})")
    if upper < floor:
        return FloorVerdict("FAIL", floor, lower, upper, confidence,
                            f"FAIL: one-sided {pct} upper bound {upper:.3f} < floor {floor:.3f} ({seen}): "
                            "confidently below the floor")
    return FloorVerdict("INCONCLUSIVE", floor, lower, upper, confidence,
                        f"INCONCLUSIVE: floor {floor:.3f} lies within the one-sided {pct} bounds "
                        f"[{lower:.3f}, {upper:.3f}] ({seen}): too few items to decide; rerun with a fresh "
                        "seed block and decide on the pooled items")


# --- paired regression test ----------------------------------------------------------------------

def mcnemar_one_sided(b: int, c: int) -> float:
    """Exact one-sided McNemar p: P(X ≥ b) for X ~ Binomial(b + c, 1/2), the chance of at least
    ``b`` losses among the ``b + c`` discordant items if the two runs were exchangeable.

    >>> round(mcnemar_one_sided(15, 5), 3), round(mcnemar_one_sided(10, 3), 3), round(mcnemar_one_sided(8, 2), 3)
    (0.021, 0.046, 0.055)
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    m = b + c
    if m == 0:
        return 1.0
    return sum(math.comb(m, i) for i in range(b, m + 1)) / (1 << m)


def regression_state(b: int, c: int, n: int, *, alpha: float = DEFAULT_ALPHA,
                     min_effect: float = DEFAULT_MIN_EFFECT) -> tuple[bool, float, float]:
    """The core rule: (regressed, p, effect) with regressed = p < alpha and (b - c)/n ≥ min_effect."""
    p = mcnemar_one_sided(b, c)
    effect = (b - c) / n if n else 0.0
    return (p < alpha and effect >= min_effect - 1e-12), p, effect


@dataclass(frozen=True, slots=True)
class Regression:
    state: State
    n: int                    # paired items
    b: int                    # baseline right, candidate wrong
    c: int                    # baseline wrong, candidate right
    p_value: float
    effect: float             # (b - c) / n
    alpha: float
    min_effect: float
    baseline_correct: int     # on the paired items
    candidate_correct: int
    losses: tuple[str, ...]   # ids of the b items
    gains: tuple[str, ...]    # ids of the c items
    missing_in_candidate: tuple[str, ...]
    missing_in_baseline: tuple[str, ...]
    notes: tuple[str, ...]
    reason: str
    clustered_p: float | None = None   # Durkalski et al. 2003 clustered McNemar (reported, not gated)

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "n_paired": self.n, "b": self.b, "c": self.c,
                "p_value": round(self.p_value, 6), "effect": round(self.effect, 4), "alpha": self.alpha,
                "min_effect": self.min_effect,
                "baseline_accuracy": round(self.baseline_correct / self.n, 4) if self.n else None,
                "candidate_accuracy": round(self.candidate_correct / self.n, 4) if self.n else None,
                "losses": list(self.losses), "gains": list(self.gains),
                "missing_in_candidate": list(self.missing_in_candidate),
                "missing_in_baseline": list(self.missing_in_baseline), "notes": list(self.notes),
                "clustered_p": None if self.clustered_p is None else round(self.clustered_p, 6),
                "reason": self.reason}


def clustered_mcnemar_one_sided(per_cluster: Iterable[tuple[int, int]]) -> float | None:
    """Durkalski et al. (2003) clustered McNemar, one-sided: z = Σ(b_k - c_k) / sqrt(Σ(b_k - c_k)²)
    over clusters k, p = 1 - Φ(z). A normal approximation (optimistic at few discordant items),
    reported next to the exact test as a check of within-template correlation; None when no
    cluster has a discordant item."""
    diffs = [b - c for b, c in per_cluster]
    den = sum(d * d for d in diffs)
    if den == 0:
        return None
    return 1 - NormalDist().cdf(sum(diffs) / math.sqrt(den))


def compare(baseline: EvalRun, candidate: EvalRun, *, alpha: float = DEFAULT_ALPHA,
            min_effect: float = DEFAULT_MIN_EFFECT) -> Regression:
    """The paired regression test of ``candidate`` against ``baseline`` on their common items.

    Different datasets or dataset versions, no common item, or an item whose cluster differs →
    :class:`BaselineMismatch` (a usage error, not a verdict). Items missing on either side are
    listed; the verdict is taken on the common items, and if it is PASS but counting every item
    missing from the candidate that the baseline got right as a loss would FAIL, the verdict is
    INCONCLUSIVE (a gap must not hide a regression). A different model, server or request-params
    hash is noted, not refused (comparing a new server or quantisation is the point).
    """
    if baseline.dataset != candidate.dataset or str(baseline.dataset_version) != str(candidate.dataset_version):
        raise BaselineMismatch(
            f"the baseline is {baseline.dataset} version {baseline.dataset_version}, the run is "
            f"{candidate.dataset} version {candidate.dataset_version}: a paired test needs the same items; "
            "save a new baseline for this dataset version")
    base = baseline.by_id()
    cand = candidate.by_id()
    common = [i for i in base if i in cand]
    if not common:
        raise BaselineMismatch(f"{candidate.dataset}: the baseline and the run share no item id")
    moved = [i for i in common if base[i].cluster != cand[i].cluster]
    if moved:
        raise BaselineMismatch(f"{candidate.dataset}: items changed template between baseline and run "
                               f"(same version, different items?): {', '.join(moved[:5])}")
    missing_c = tuple(i for i in base if i not in cand)
    missing_b = tuple(i for i in cand if i not in base)
    losses = tuple(i for i in common if base[i].correct is True and cand[i].correct is not True)
    gains = tuple(i for i in common if base[i].correct is not True and cand[i].correct is True)
    n, b, c = len(common), len(losses), len(gains)
    regressed, p, effect = regression_state(b, c, n, alpha=alpha, min_effect=min_effect)
    notes = [f"{name} differs: baseline {x!r}, run {y!r}" for name, x, y in (
        ("model", baseline.model, candidate.model), ("server", baseline.server, candidate.server),
        ("request params hash", baseline.params_hash, candidate.params_hash)) if x != y]
    if missing_c:
        notes.append(f"{len(missing_c)} baseline item(s) missing from the run: {', '.join(missing_c[:5])}"
                     + (" ..." if len(missing_c) > 5 else ""))
    if missing_b:
        notes.append(f"{len(missing_b)} run item(s) not in the baseline (unpaired, not tested): "
                     f"{', '.join(missing_b[:5])}" + (" ..." if len(missing_b) > 5 else ""))
    improved = mcnemar_one_sided(c, b) < alpha and (c - b) / n >= min_effect
    if improved:
        notes.append(f"significant improvement: {c} gains vs {b} losses")
    stats = f"b={b} losses, c={c} gains of {n} paired items, p={p:.4g}, net loss {effect:+.3f}"
    rule = f"(p < {alpha:g} and net loss >= {min_effect:g})"
    base_k = sum(1 for i in common if base[i].correct is True)
    cand_k = sum(1 for i in common if cand[i].correct is True)
    if regressed:
        state: State = "FAIL"
        reason = f"FAIL: regression vs baseline {rule}: {stats}"
    else:
        state, reason = "PASS", f"PASS: no regression vs baseline {rule}: {stats}"
        lost_missing = sum(1 for i in missing_c if base[i].correct is True)
        if lost_missing:
            worst, wp, we = regression_state(b + lost_missing, c, n + len(missing_c), alpha=alpha,
                                             min_effect=min_effect)
            if worst:
                state = "INCONCLUSIVE"
                reason = (f"INCONCLUSIVE: {stats}; but {lost_missing} item(s) the baseline got right are missing "
                          f"from the run, and counted as losses they would fail the gate (p={wp:.4g}, "
                          f"net loss {we:+.3f})")
    clustered_p = None
    if any(base[i].cluster is not None for i in common):
        per: dict[str, list[int]] = {}
        for i in losses:
            per.setdefault(base[i].cluster or f"\x00{i}", [0, 0])[0] += 1
        for i in gains:
            per.setdefault(base[i].cluster or f"\x00{i}", [0, 0])[1] += 1
        clustered_p = clustered_mcnemar_one_sided((x, y) for x, y in per.values())
    return Regression(state, n, b, c, p, effect, alpha, min_effect, base_k, cand_k, losses, gains,
                      missing_c, missing_b, tuple(notes), reason, clustered_p)


# --- flip rate -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FlipRate:
    """Items whose scored verdict (correct or not) differs between two runs of one configuration."""

    flips: int
    n: int
    answer_changes: int = 0   # items whose extracted answer differs (a finer noise signal)
    unpaired: int = 0         # items present in only one of the two runs

    @property
    def value(self) -> float | None:
        return self.flips / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_bounds(self.flips / self.n if self.n else 0.0, self.n, Z_TWO_SIDED_95)

    def as_dict(self) -> dict[str, Any]:
        low, high = self.interval
        return {"flips": self.flips, "n": self.n, "flip_rate": None if self.value is None else round(self.value, 4),
                "wilson95": [round(low, 4), round(high, 4)], "answer_changes": self.answer_changes,
                "unpaired": self.unpaired}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FlipRate:
        return cls(int(data["flips"]), int(data["n"]), int(data.get("answer_changes", 0)),
                   int(data.get("unpaired", 0)))


def flip_rate(first: EvalRun | Sequence[ItemResult], second: EvalRun | Sequence[ItemResult]) -> FlipRate:
    """The flip rate of two runs of the same items (paired by id)."""
    if isinstance(first, EvalRun) and isinstance(second, EvalRun) and (
            first.dataset, str(first.dataset_version)) != (second.dataset, str(second.dataset_version)):
        raise BaselineMismatch("a flip rate needs two runs of the same dataset version")
    a = _by_id(first.items if isinstance(first, EvalRun) else first)
    b = _by_id(second.items if isinstance(second, EvalRun) else second)
    common = [i for i in a if i in b]
    flips = sum(1 for i in common if (a[i].correct is True) != (b[i].correct is True))
    answers = sum(1 for i in common if a[i].answer != b[i].answer)
    return FlipRate(flips, len(common), answers, len(a) + len(b) - 2 * len(common))


# --- simulation: the gate's error rates ----------------------------------------------------------

def decide(base_correct: int, cand_correct: int, b: int, c: int, n: int, *, alpha: float = DEFAULT_ALPHA,
           min_effect: float = DEFAULT_MIN_EFFECT, margin: float = DEFAULT_MARGIN) -> State:
    """The gate on a baseline as the runner applies it (no clusters, no missing items): FAIL if the
    paired test flags a regression or the candidate is confidently below baseline − margin."""
    if regression_state(b, c, n, alpha=alpha, min_effect=min_effect)[0]:
        return "FAIL"
    floor = floor_from_baseline(base_correct / n, margin)
    if floor_verdict(accuracy_from_counts(cand_correct, n), floor).state == "FAIL":
        return "FAIL"
    return "PASS"


def item_model(base_accuracy: float, flip: float) -> tuple[float, float, float]:
    """Per-item correctness probabilities with mean ``base_accuracy`` whose reruns flip a share
    ``flip``: a share ``u`` of unstable items with p = q, the rest always right (share ``s1``) or
    always wrong. q = 1/2 (each unstable item flips half the time, u = 2·flip) when that fits;
    otherwise q moves towards the accuracy. Returns (s1, u, q). The largest possible flip rate
    at accuracy A is 2A(1 - A)."""
    a, f = base_accuracy, flip
    if not 0.0 <= a <= 1.0 or f < 0:
        raise ValueError(f"need 0 <= base_accuracy <= 1 and flip >= 0, got {a}, {f}")
    if f > 2 * a * (1 - a) + 1e-12:
        raise ValueError(f"a flip rate of {f} is impossible at accuracy {a} (at most 2A(1-A) = {2 * a * (1 - a):.3f})")
    if f == 0:
        return a, 0.0, 0.5
    u, q = 2 * f, 0.5
    if u / 2 <= a <= 1 - u / 2:
        return a - u / 2, u, q
    if a > 0.5:   # no always-wrong items left: s1 = 1 - u, u(1 - q) = 1 - A, 2uq(1 - q) = f
        q = f / (2 * (1 - a))
        u = (1 - a) / (1 - q)
        return 1 - u, u, q
    q = 1 - f / (2 * a)   # no always-right items: u·q = A
    return 0.0, a / q, q


@dataclass(frozen=True, slots=True)
class GatePower:
    """A set's error rates at its size: simulated for the whole gate (:func:`decide`), exact for the
    paired rule alone (:func:`paired_error_rates`). Whether the set gates is decided on the exact
    figures (no Monte-Carlo noise; the exact power is a lower bound of the gate's)."""

    n: int
    base_accuracy: float
    drop: float
    flip: float
    trials: int
    false_fail: float         # simulated: share of FAIL verdicts for a rerun (no true drop)
    power: float              # simulated: share of FAIL verdicts at a true drop of `drop`
    seed: int
    exact_false_fail: float   # exact, paired rule
    exact_power: float

    @property
    def gates(self) -> bool:
        return self.exact_false_fail <= TARGET_FALSE_FAIL and self.exact_power >= TARGET_POWER

    @property
    def line(self) -> str:
        figures = (f"power {self.exact_power:.0%} to flag a {self.drop:.0%} drop, false-fail "
                   f"{self.exact_false_fail:.1%} at n={self.n} (flip {self.flip:.1%}, accuracy "
                   f"{self.base_accuracy:.2f}; simulated {self.power:.0%} / {self.false_fail:.1%})").replace("%", " %")
        return ("gates: " if self.gates else "too small to gate (reports only): ") + figures

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "base_accuracy": round(self.base_accuracy, 4), "drop": self.drop,
                "flip": round(self.flip, 4), "trials": self.trials, "seed": self.seed,
                "false_fail": round(self.false_fail, 4), "power": round(self.power, 4),
                "exact_false_fail": round(self.exact_false_fail, 5), "exact_power": round(self.exact_power, 4),
                "targets": {"false_fail_max": TARGET_FALSE_FAIL, "power_min": TARGET_POWER},
                "gates": self.gates, "line": self.line}


def _simulate(rng: random.Random, n: int, model: tuple[float, float, float], keep: float) -> tuple[int, int, int, int]:
    """One baseline/candidate pair of runs over n items: (base_correct, cand_correct, b, c). The
    candidate answers right with probability keep·p_i (keep = 1: a rerun; keep < 1: a regression
    that spoils a share 1 - keep of the answers the model would get right)."""
    s1, u, q = model
    rand = rng.random
    kb = kc = b = c = 0
    qk = q * keep
    for _ in range(n):
        r = rand()
        if r < s1:            # always right: the candidate loses it only to the regression
            kb += 1
            if keep >= 1.0 or rand() < keep:
                kc += 1
            else:
                b += 1
        elif r < s1 + u:      # unstable: both runs draw
            x = rand() < q
            y = rand() < qk
            kb += x
            kc += y
            b += x and not y
            c += y and not x
    return kb, kc, b, c


def gate_power(n: int, base_accuracy: float, drop: float = TARGET_DROP, flip: float = ASSUMED_FLIP,
               trials: int = 2000, seed: int = 0, *, alpha: float = DEFAULT_ALPHA,
               min_effect: float = DEFAULT_MIN_EFFECT, margin: float = DEFAULT_MARGIN) -> GatePower:
    """Simulate ``trials`` baseline/rerun pairs and ``trials`` baseline/regressed pairs of ``n``
    items (:func:`item_model`) and return the share of each that :func:`decide` fails."""
    if n < 1 or trials < 1:
        raise ValueError(f"need n >= 1 and trials >= 1, got {n}, {trials}")
    if not 0.0 < drop <= base_accuracy:
        raise ValueError(f"the drop must be in (0, base_accuracy], got {drop} at {base_accuracy}")
    model = item_model(base_accuracy, flip)
    rng = random.Random(seed)
    keep = 1 - drop / base_accuracy
    fails = [0, 0]
    for _ in range(trials):
        for j, k in enumerate((1.0, keep)):
            kb, kc, b, c = _simulate(rng, n, model, k)
            fails[j] += decide(kb, kc, b, c, n, alpha=alpha, min_effect=min_effect, margin=margin) == "FAIL"
    exact = paired_error_rates(n, base_accuracy, drop, flip, alpha=alpha, min_effect=min_effect)
    return GatePower(n, base_accuracy, drop, flip, trials, fails[0] / trials, fails[1] / trials, seed, *exact)


@functools.lru_cache(maxsize=64)
def _failing_b(n: int, alpha: float, min_effect: float) -> tuple[int, ...]:
    """Per discordant count m = b + c (0..n): the least b the paired rule fails (m + 1 if none)."""
    need = min_effect * n - 1e-9
    lows = []
    row = [1.0]   # Binomial(m, 1/2) probabilities, by Pascal's rule
    for m in range(n + 1):
        if m:
            row = [0.5 * ((row[k - 1] if k else 0.0) + (row[k] if k < m else 0.0)) for k in range(m + 1)]
        b, tail = m + 1, 0.0
        while b > 0 and tail + row[b - 1] < alpha:
            b -= 1
            tail += row[b]
        lows.append(max(b, math.ceil((m + need) / 2)))
    return tuple(lows)


def _paired_fail_probability(n: int, p10: float, p01: float, lows: Sequence[int]) -> float:
    """P(the paired rule fails) when each item is a loss with p10 and a gain with p01, i.i.d.:
    m = b + c ~ Binomial(n, p10 + p01), b | m ~ Binomial(m, p10 / (p10 + p01))."""
    d = p10 + p01
    if d <= 0:
        return 0.0
    theta = p10 / d
    total = 0.0
    for m in range(1, n + 1):
        lo = lows[m]
        if lo > m:
            continue
        if d >= 1:
            pm = float(m == n)
        else:
            pm = math.exp(math.lgamma(n + 1) - math.lgamma(m + 1) - math.lgamma(n - m + 1) + m * math.log(d)
                          + (n - m) * math.log1p(-d))
        if pm < 1e-300:
            continue
        if theta >= 1:
            total += pm
            continue
        if theta <= 0:
            continue
        ratio = theta / (1 - theta)
        term = math.exp(math.lgamma(m + 1) - math.lgamma(lo + 1) - math.lgamma(m - lo + 1) + lo * math.log(theta)
                        + (m - lo) * math.log1p(-theta))
        tail = 0.0
        for k in range(lo, m + 1):
            tail += term
            term *= (m - k) / (k + 1) * ratio
        total += pm * tail
    return min(1.0, total)


def paired_error_rates(n: int, base_accuracy: float, drop: float = TARGET_DROP, flip: float = ASSUMED_FLIP, *,
                       alpha: float = DEFAULT_ALPHA, min_effect: float = DEFAULT_MIN_EFFECT) -> tuple[float, float]:
    """Exact (false_fail, power) of the paired rule alone under :func:`item_model`: each item's
    (baseline, candidate) outcome pair is i.i.d., so (b, c) is trinomial; no simulation noise. The
    whole gate (:func:`decide`) fails at least as often (the floor only adds FAILs), so the power
    here is a lower bound of the gate's, and the false-fail rate is below ``alpha`` by construction
    of the exact conditional test."""
    if not 0.0 < drop <= base_accuracy:
        raise ValueError(f"the drop must be in (0, base_accuracy], got {drop} at {base_accuracy}")
    s1, u, q = item_model(base_accuracy, flip)
    lows = _failing_b(n, alpha, min_effect)
    rates = []
    for keep in (1.0, 1 - drop / base_accuracy):
        p10 = s1 * (1 - keep) + u * q * (1 - q * keep)
        p01 = u * (1 - q) * q * keep
        rates.append(_paired_fail_probability(n, p10, p01, lows))
    return rates[0], rates[1]


def smallest_gating_n(base_accuracy: float, drop: float = TARGET_DROP, flip: float = ASSUMED_FLIP, *,
                      trials: int = 2000, seed: int = 0, start: int = 10, step: int = 10,
                      stop: int = 1000) -> GatePower | None:
    """The first n (from ``start`` by ``step``) at which the set gates (exact paired error rates reach
    both targets), with its :func:`gate_power`; None if no n up to ``stop`` does."""
    for n in range(start, stop + 1, step):
        false_fail, power = paired_error_rates(n, base_accuracy, drop, flip)
        if false_fail <= TARGET_FALSE_FAIL and power >= TARGET_POWER:
            return gate_power(n, base_accuracy, drop, flip, trials, seed)
    return None


# --- runs and the baseline file ------------------------------------------------------------------

VERDICTS = {True: "correct", False: "wrong", None: "no_answer"}
_FROM_VERDICT = {v: k for k, v in VERDICTS.items()}


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One scored item: ``correct`` None = no extractable answer."""

    id: str
    cluster: str | None
    correct: bool | None
    answer: str | None = None
    reason: str = ""
    tokens: dict[str, int] | None = None   # usage counts, e.g. {"prompt": 40, "completion": 8}
    latency_s: float | None = None

    @property
    def verdict(self) -> str:
        return VERDICTS[self.correct]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "cluster": self.cluster, "verdict": self.verdict, "answer": self.answer,
                "reason": self.reason, "tokens": self.tokens,
                "latency_s": None if self.latency_s is None else round(self.latency_s, 4)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ItemResult:
        verdict = data.get("verdict")
        if verdict not in _FROM_VERDICT:
            raise ValueError(f"item {data.get('id')!r}: verdict must be one of {sorted(_FROM_VERDICT)}, got {verdict!r}")
        if not isinstance(data.get("id"), str) or not data["id"]:
            raise ValueError(f"item id must be a non-empty string, got {data.get('id')!r}")
        return cls(data["id"], data.get("cluster"), _FROM_VERDICT[verdict], data.get("answer"),
                   data.get("reason") or "", data.get("tokens"), data.get("latency_s"))


def request_params_hash(params: Mapping[str, Any]) -> str:
    """A stable hash of the request parameters (canonical JSON, without the model or any header)."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _by_id(items: Iterable[ItemResult]) -> dict[str, ItemResult]:
    out: dict[str, ItemResult] = {}
    for item in items:
        if item.id in out:
            raise BaselineMismatch(f"item id {item.id!r} occurs twice in one run")
        out[item.id] = item
    return out


@dataclass(slots=True)
class EvalRun:
    """One run of one eval set, as the runner records it and a baseline file stores it."""

    dataset: str
    dataset_version: str
    model: str
    server: str | None
    request_params: dict[str, Any]
    items: list[ItemResult]
    created_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    suite_version: str | None = None
    flip: FlipRate | None = None   # measured at baseline creation (the same items run twice)

    @property
    def params_hash(self) -> str:
        return request_params_hash(self.request_params)

    def by_id(self) -> dict[str, ItemResult]:
        return _by_id(self.items)

    def accuracy(self) -> Accuracy:
        return clustered_accuracy((i.cluster, i.correct) for i in self.items)

    def to_dict(self) -> dict[str, Any]:
        self.by_id()   # refuses duplicate ids
        acc = self.accuracy()
        return {"format": FORMAT, "format_version": FORMAT_VERSION,
                "dataset": {"name": self.dataset, "version": str(self.dataset_version)},
                "model": self.model, "server": self.server, "request_params": self.request_params,
                "request_params_hash": self.params_hash, "created_at": self.created_at,
                "suite_version": self.suite_version,
                "flip": None if self.flip is None else self.flip.as_dict(),
                "summary": {"correct": acc.correct, "n": acc.n, "no_answer": acc.no_answer},
                "items": [i.to_dict() for i in self.items]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalRun:
        if data.get("format") != FORMAT:
            raise ValueError(f"not an eval baseline (format {data.get('format')!r}, expected {FORMAT!r})")
        version = data.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
            raise ValueError(f"baseline format_version {version!r} is not supported (this suite reads 1..{FORMAT_VERSION})")
        ds = data.get("dataset")
        if not isinstance(ds, Mapping) or not ds.get("name") or ds.get("version") in (None, ""):
            raise ValueError("baseline: dataset must give name and version")
        items = data.get("items")
        if not isinstance(items, list):
            raise ValueError("baseline: items must be a list")
        params = data.get("request_params")
        if not isinstance(params, dict):
            raise ValueError("baseline: request_params must be an object")
        run = cls(str(ds["name"]), str(ds["version"]), str(data.get("model") or ""), data.get("server"), params,
                  [ItemResult.from_dict(i) for i in items], str(data.get("created_at") or ""),
                  data.get("suite_version"),
                  None if data.get("flip") is None else FlipRate.from_dict(data["flip"]))
        if data.get("request_params_hash") not in (None, run.params_hash):
            raise ValueError("baseline: request_params_hash does not match request_params (edited by hand?)")
        run.by_id()
        return run


def save_baseline(path: str | Path, run: EvalRun) -> Path:
    """Write ``run`` as a baseline file (JSON, one item per line for readable diffs)."""
    doc = run.to_dict()
    items = doc.pop("items")
    head = json.dumps(doc, indent=2, ensure_ascii=False)
    body = ",\n".join("    " + json.dumps(i, ensure_ascii=False, sort_keys=False) for i in items)
    text = head[:-2] + ',\n  "items": [\n' + body + ("\n  ]\n}\n" if items else "  ]\n}\n")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


def load_baseline(path: str | Path) -> EvalRun:
    """Read a baseline file; a missing, unreadable or malformed file is a usage error."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("top level must be an object")
        return EvalRun.from_dict(data)
    except (OSError, ValueError) as exc:
        raise BaselineMismatch(f"eval baseline {path}: {exc}") from None


# --- one set's gate ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SetGate:
    """The gate of one eval set: the overall state and its parts, with one report line."""

    state: Literal["PASS", "FAIL", "INCONCLUSIVE", "REPORTED"]
    accuracy: Accuracy
    floor: FloorVerdict | None
    regression: Regression | None
    power: GatePower | None
    flip: FlipRate | None
    line: str

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "line": self.line, "accuracy": self.accuracy.as_dict(),
                "floor": None if self.floor is None else self.floor.as_dict(),
                "regression": None if self.regression is None else self.regression.as_dict(),
                "power": None if self.power is None else self.power.as_dict(),
                "flip": None if self.flip is None else self.flip.as_dict()}


def gate(run: EvalRun, *, baseline: EvalRun | None = None, floor: float | None = None,
         margin: float = DEFAULT_MARGIN, alpha: float = DEFAULT_ALPHA, min_effect: float = DEFAULT_MIN_EFFECT,
         flip: FlipRate | None = None, trials: int = 1000, seed: int = 0) -> SetGate:
    """Judge one set. With a ``baseline``: the paired test decides (FAIL on a regression, INCONCLUSIVE
    when missing items could hide one), a floor (given, else baseline accuracy − ``margin``) FAILs
    only when the candidate is confidently below it; but if the set is too small to gate at the
    noise floor (power < 80 % or false-fail > 1 % by :func:`gate_power` at the measured flip rate,
    else ``ASSUMED_FLIP``), the state is REPORTED with that line. Without a
    baseline: the three-state floor verdict if a floor is given, else REPORTED."""
    acc = run.accuracy()
    head = f"{run.dataset}: {acc.correct}/{acc.n}" + (
        f" = {acc.value:.3f} [{acc.low:.3f}, {acc.high:.3f}]" if acc.n else "") + (
        f", no answer {acc.no_answer}" if acc.no_answer else "")
    flip = flip or run.flip or (baseline.flip if baseline is not None else None)
    flip_text = f"; flip rate {flip.flips}/{flip.n}" if flip is not None and flip.n else ""
    if baseline is None:
        if floor is None:
            return SetGate("REPORTED", acc, None, None, None, flip, f"{head}{flip_text}; no floor, no baseline: reported")
        fv = floor_verdict(acc, floor)
        return SetGate(fv.state, acc, fv, None, None, flip, f"{head}{flip_text}; {fv.reason}")
    reg = compare(baseline, run, alpha=alpha, min_effect=min_effect)
    base_acc = reg.baseline_correct / reg.n
    fv = floor_verdict(acc, floor if floor is not None else floor_from_baseline(base_acc, margin))
    noise = ASSUMED_FLIP if flip is None or not flip.n else flip.flips / flip.n
    noise = min(noise, 2 * base_acc * (1 - base_acc))
    power = (gate_power(reg.n, base_acc, TARGET_DROP, noise, trials, seed, alpha=alpha, min_effect=min_effect,
                        margin=margin) if base_acc >= TARGET_DROP else None)
    if reg.state == "FAIL" or fv.state == "FAIL":
        state: Literal["PASS", "FAIL", "INCONCLUSIVE", "REPORTED"] = "FAIL"
    elif reg.state == "INCONCLUSIVE":
        state = "INCONCLUSIVE"
    else:
        state = "PASS"
    detail = reg.reason + ("" if fv.state == "PASS" or reg.state == "FAIL" else f"; floor {fv.reason}")
    if power is None or not power.gates:
        why = power.line if power is not None else (
            f"too small to gate (reports only): baseline accuracy {base_acc:.2f} leaves no room for a "
            f"{TARGET_DROP:.0%} drop".replace("%", " %"))
        return SetGate("REPORTED", acc, fv, reg, power, flip, f"{head}{flip_text}; {why}; would be {state}: {detail}")
    return SetGate(state, acc, fv, reg, power, flip, f"{head}{flip_text}; {detail} ({power.line})")


# --- the figures of docs/eval-statistics.md ------------------------------------------------------

TABLE_SIZES = (50, 100, 150, 200, 250)
TABLE_FLIPS = (0.0, 0.02, 0.05, 0.10)
TABLE_ACCURACIES = (0.3, 0.5, 0.7, 0.9)


def simulation_tables(trials: int = 2000, seed: int = 0) -> str:
    """The two Markdown tables of docs/eval-statistics.md (deterministic: seeded)."""
    pct = lambda x: f"{100 * x:.1f}"  # noqa: E731
    lines = ["Gate error rates at accuracy 0.70, a 10-point drop, default alpha 0.01 and min effect 0.03: "
             f"false-fail % / power %, simulated ({trials} pairs per cell, seed {seed}) and exact (paired rule).",
             "", "| n | " + " | ".join(f"flip {f:.0%}".replace("%", " %") for f in TABLE_FLIPS) + " |",
             "|---|" + "---|" * len(TABLE_FLIPS)]
    for n in TABLE_SIZES:
        cells = []
        for f in TABLE_FLIPS:
            r = gate_power(n, 0.7, TARGET_DROP, f, trials, seed)
            mark = "" if r.gates else " ✗"
            cells.append(f"{pct(r.false_fail)} / {pct(r.power)} (exact {pct(r.exact_false_fail)} / "
                         f"{pct(r.exact_power)}){mark}")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines += ["", "Smallest n (step 5) reaching false-fail ≤ 1 % and power ≥ 80 % for a 10-point drop (exact, "
              "paired rule):", "", "| accuracy | " + " | ".join(f"flip {f:.0%}".replace("%", " %")
                                                            for f in TABLE_FLIPS) + " |",
              "|---|" + "---|" * len(TABLE_FLIPS)]
    for a in TABLE_ACCURACIES:
        cells = []
        for f in TABLE_FLIPS:
            r = smallest_gating_n(a, TARGET_DROP, f, trials=1, seed=seed, step=5)  # exact figures only
            cells.append("—" if r is None else f"{r.n} ({pct(r.exact_power)} %)")
        lines.append(f"| {a:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m conformance.harness.evals.gate: regenerate the tables of the docs
    print(simulation_tables(), end="")
