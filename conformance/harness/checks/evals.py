"""Checks over eval summaries (``conformance/evals/``). An eval reports metrics and never fails on
accuracy by itself; these checks apply only where the profile declares a floor."""

from __future__ import annotations

from typing import Any

from conformance.harness.checks import check, fail


@check("OAI-EVAL-002")
def needle_floor_met(variants: dict[str, Any], *, floor: float) -> None:
    """Each variant's overall Wilson 95 % lower bound reaches ``floor`` (a floor is judged
    on the lower bound, so a small sample cannot pass by luck). ``variants`` is the
    ``variants`` object of ``needle.json``."""
    if not variants:
        raise fail("no needle results to judge against the floor", expected=f">= {floor}", actual={})
    low = {}
    for name, summary in variants.items():
        overall = summary.get("overall") if isinstance(summary, dict) else None
        interval = overall.get("wilson95") if isinstance(overall, dict) else None
        if not isinstance(interval, list) or len(interval) != 2 or not overall.get("n"):
            raise fail(f"{name}: no scored items to judge against the floor", expected=f">= {floor}",
                       actual=overall)
        low[name] = interval[0]
    below = {name: value for name, value in low.items() if value < floor}
    if below:
        shown = ", ".join(f"{name} {variants[name]['overall']['correct']}/{variants[name]['overall']['n']} "
                          f"(Wilson lower {value:.3f})" for name, value in below.items())
        raise fail(f"needle retrieval below the profile's floor {floor}: {shown}",
                   expected=f"Wilson 95 % lower bound >= {floor}", actual=below)


@check("OAI-EVAL-003")
def accuracy_gate_holds(gate: dict[str, Any]) -> None:
    """The accuracy gate of one eval set did not FAIL: no regression against the stored baseline
    (paired exact McNemar) and not confidently below the floor. ``gate`` is the ``gate`` object of
    ``reports/evals/<set>.json`` (``SetGate.as_dict()``); INCONCLUSIVE and REPORTED never fail."""
    if not isinstance(gate, dict) or gate.get("state") not in ("PASS", "FAIL", "INCONCLUSIVE", "REPORTED"):
        raise fail("no gate result to judge", expected="a gate with state PASS, FAIL, INCONCLUSIVE or REPORTED",
                   actual=gate)
    if gate["state"] == "FAIL":
        raise fail(f"accuracy gate FAIL: {gate.get('line', '')}",
                   expected="no regression against the baseline and not confidently below the floor",
                   actual={k: gate.get(k) for k in ("regression", "floor") if gate.get(k)})
