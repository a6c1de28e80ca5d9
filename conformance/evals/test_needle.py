"""needle · retrieval: RULER-style needle in a haystack up to the context window (issue 9 §4).

An evaluation, not a conformance verdict: the metric goes to ``reports/evals/needle.{json,md,svg}``
and the Allure test; the tests fail only on a protocol violation seen while asking (judged by the
passive checks against its own requirement) or, where the profile declares ``needle_floor``, on a
Wilson lower bound below it. Runs only with ``--long-context full`` (it is the costliest part of
the suite: every request is a long prompt). Grid and settings: conformance/harness/evals/needle_run.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.harness import reporting
from conformance.harness.checks import evals as checks
from conformance.harness.evals import needle_run
from conformance.harness.evals import report as needle_report
from conformance.harness.failures import NotApplicable
from conformance.harness.redaction import redact_url
from conformance.harness.requirements import requirement

pytestmark = [pytest.mark.eval, pytest.mark.eval_set("needle"), pytest.mark.long_context("full")]


@dataclass(slots=True)
class NeedleEval:
    doc: dict[str, Any]
    paths: dict[str, Path]
    settings: needle_run.NeedleSettings
    #: The exchanges of the run (this module-scoped fixture runs before the per-test log reset, so
    #: they are kept here and attached by the reporting test).
    exchanges: list[tuple[Any, str]]


@pytest.fixture(scope="module")
def needle(oai, context_window, settings) -> NeedleEval:
    """Plan, ask every item once and write the report (also when a request stops the run: the
    partial report says so)."""
    profile = oai.passive.profile
    cfg = needle_run.NeedleSettings.from_settings(profile.settings, where=f"profile {profile.name}")
    cw = context_window
    grid = needle_run.grid_for(cfg, cw)
    rows: list[dict[str, Any]] = []
    state: dict[str, Any] = {"run": None, "error": None}
    directory = Path(settings.reports_dir) / "evals"

    def build(complete: bool) -> dict[str, Any]:
        run = state["run"]
        return needle_report.document(
            grid=grid, items=rows, planned=len(run.plan.items) if run else grid.requests, model=oai.model,
            endpoint=redact_url(str(oai.client.base_url)), window=cw.as_report(),
            request=run.request_params if run else {},
            wall_s=run.wall_s if run else 0.0, floor=cfg.floor, complete=complete, error=state["error"],
            counters=run.counters.as_dict() if run else None)

    try:
        needle_run.run(oai, cw, cfg, streaming=profile.has("streaming"), stream_usage=profile.has("stream_usage"),
                       on_plan=lambda run: state.update(run=run), on_result=lambda r: rows.append(r.as_dict()))
    except BaseException as exc:
        state["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        paths = needle_report.write(directory, build(complete=False))
        for ex, note in oai.client.log:  # the tests will not run: attach to this setup
            reporting.attach_exchange(ex, note)
        needle_report.attach(paths)
        raise
    doc = build(complete=True)
    paths = needle_report.write(directory, doc)
    cw.progress(f"needle eval written to {paths['md']} ({paths['svg'].name}, {paths['json'].name})")
    return NeedleEval(doc=doc, paths=paths, settings=cfg, exchanges=list(oai.client.log))


@requirement("OAI-EVAL-001")
def test_needle_retrieval_accuracy_is_reported(needle, passive):
    needle_report.attach(needle.paths)
    for ex, note in needle.exchanges:
        reporting.attach_exchange(ex, note)
    passive.observe("OAI-EVAL-001", needle_report.summary_line(needle.doc))


@requirement("OAI-EVAL-002")
def test_needle_retrieval_reaches_the_profile_floor(needle):
    if needle.settings.floor is None:
        raise NotApplicable("the profile declares no needle_floor: the needle eval only reports")
    checks.needle_floor_met(needle.doc["variants"], floor=needle.settings.floor)
