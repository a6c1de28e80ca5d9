"""accuracy · small accuracy checks with a baseline regression gate (issue 11).

An evaluation, run apart from conformance: ``pytest --eval lookup,caps`` (``--eval all``: every
set) runs only the named sets; without ``--eval`` none runs. Each set is asked once per pass by
:mod:`conformance.harness.evals.runner` (greedy, reasoning off, explicit sampling parameters,
bounded concurrency, every answer through the facade's passive checks), reported to
``reports/evals/<set>.json`` and ``reports/evals/accuracy.md`` and attached here. With
``--eval-baseline`` (or ``--eval-floor``) the set is gated (OAI-EVAL-003): a FAIL fails the run;
INCONCLUSIVE and REPORTED never do. ``--eval-save-baseline`` stores the run (items asked twice:
the flip rate). Items: ``datasets/evals/<set>/cases.jsonl``; statistics: docs/eval-statistics.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conformance.harness import reporting
from conformance.harness.checks import evals as checks
from conformance.harness.evals import runner, sets
from conformance.harness.failures import HarnessError, NotApplicable
from conformance.harness.redaction import redact_url
from conformance.harness.requirements import requirement

pytestmark = [pytest.mark.eval]

#: Exchanges attached to the report test: every one whose item broke the protocol, plus the first few.
ATTACH_FIRST = 3


class AccuracyEval:
    def __init__(self, outcome: runner.SetOutcome, doc: dict[str, Any], paths: dict[str, Path],
                 exchanges: list[tuple[Any, str]]) -> None:
        self.outcome = outcome
        self.doc = doc
        self.paths = paths
        self.exchanges = exchanges


def _printer(config: pytest.Config) -> Any:
    from conformance.harness.plugin import _live_printer  # noqa: PLC0415 - the plugin's progress printer

    return _live_printer(config, "eval")


@pytest.fixture(scope="module", params=[pytest.param(n, id=n, marks=pytest.mark.eval_set(n)) for n in sets.NAMES])
def accuracy(request: pytest.FixtureRequest, oai: Any, settings: Any, llmconf_state: Any) -> AccuracyEval:
    """Run one set (all its passes), gate it, write and keep its report."""
    name = request.param
    profile = oai.passive.profile
    options = runner.EvalOptions.build(
        profile_settings=profile.settings, repeat=settings.eval_repeat, concurrency=settings.max_concurrency,
        baseline=settings.eval_baseline, save_baseline=settings.eval_save_baseline, floor=settings.eval_floor,
        where=f"profile {profile.name}")
    start = len(oai.client.log)
    outcome = runner.run_set(oai, name, options, selected=settings.evals, progress=_printer(request.config),
                             server=llmconf_state.info.server or None)
    doc = runner.document(outcome, endpoint=redact_url(str(oai.client.base_url)))
    llmconf_state.eval_docs[name] = doc
    paths = runner.write(Path(settings.reports_dir) / "evals", doc, list(llmconf_state.eval_docs.values()))
    _printer(request.config)(runner.summary_line(doc))
    broke = {r.exchange for r in outcome.records if r.protocol is not None and r.exchange is not None}
    log = oai.client.log[start:]
    kept = [(ex, note) for i, (ex, note) in enumerate(log) if i < ATTACH_FIRST or ex.seq in broke]
    return AccuracyEval(outcome, doc, paths, kept)


@requirement("OAI-EVAL-004")
def test_accuracy_is_reported(accuracy: AccuracyEval, passive: Any) -> None:
    runner.attach(accuracy.paths)
    for ex, note in accuracy.exchanges:
        reporting.attach_exchange(ex, note)
    if not accuracy.outcome.complete:
        raise HarnessError(f"the {accuracy.outcome.name} eval did not finish: {accuracy.outcome.error}")
    passive.observe("OAI-EVAL-004", runner.summary_line(accuracy.doc))


@requirement("OAI-EVAL-003")
def test_accuracy_gate_holds(accuracy: AccuracyEval, settings: Any, passive: Any) -> None:
    if settings.eval_baseline is None and settings.eval_floor is None:
        raise NotApplicable("no --eval-baseline and no --eval-floor: the eval only reports")
    gate = accuracy.doc.get("gate")
    if gate is None:
        raise HarnessError(f"the {accuracy.outcome.name} eval did not finish, no gate: {accuracy.outcome.error}")
    checks.accuracy_gate_holds(gate)
    if gate["state"] != "PASS":
        passive.observe("OAI-EVAL-003", gate["line"])
