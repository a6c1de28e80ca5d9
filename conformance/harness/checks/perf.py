"""Checks over the run's timing side-metrics (``conformance.harness.metrics``). Timing never gates
by default; this check applies only where the profile declares ``metric_budgets``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from conformance.harness.checks import check, fail


def _bounds(b: Mapping[str, Any]) -> str:
    parts = ([f"<= {b['limit']:g}"] if b.get("limit") is not None else []) + (
        [f">= {b['min']:g}"] if b.get("min") is not None else [])
    return f"{b.get('api')} {b.get('metric')} {b.get('stat')} {' and '.join(parts)}"


@check("OAI-PERF-001")
def latency_budgets_hold(budgets: Sequence[Mapping[str, Any]]) -> None:
    """Every judged budget holds. ``budgets`` are the entries of ``conformance.json``
    ``metrics.budgets`` (``BudgetResult.as_dict()``): ``ok`` false fails; ``ok`` null (not judged:
    fewer samples than ``min_samples``) never does."""
    over = [b for b in budgets if b.get("ok") is False]
    if over:
        raise fail("declared latency budget(s) exceeded: " + "; ".join(str(b.get("reason", "")) for b in over),
                   expected=[_bounds(b) for b in over], actual=[b.get("value") for b in over])
