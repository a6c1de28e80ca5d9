"""The pytest side of the cost estimate (:mod:`conformance.harness.cost`): printed once, in the
controller, after collection and before the first test.

Serial runs: from ``session.items`` in ``pytest_collection_finish``. ``pytest -n N``: the
controller collects nothing, so the first worker writes its selection (markers read into
:class:`~conformance.harness.cost.Planned` records) into the run's shared folder before it reports
its collection, and the controller estimates from that file when the worker's collection arrives.
``--max-cost`` exceeded: the run stops before any test with exit 4 and the estimate.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from conformance.harness import cost, parallel

PLAN_FILE = "cost-plan-{worker}.json"


class CostEstimate:
    def __init__(self, config: pytest.Config, settings: Any, profile_settings: Any, *,
                 budget_path: Path | None = None) -> None:
        self.config, self.settings, self.profile_settings = config, settings, profile_settings
        self.budget_path = budget_path
        self.estimate: cost.Estimate | None = None

    # -- serial (and the worker side of pytest -n) --------------------------------------------
    @pytest.hookimpl(tryfirst=True)  # before xdist's worker sends its collection to the controller
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        items = [cost.planned(i) for i in session.items]
        if hasattr(self.config, "workerinput"):
            folder = parallel.worker_input(self.config).get("lock_folder")
            worker = self.config.workerinput.get("workerid", "gw0")  # type: ignore[attr-defined]
            if folder:
                path = Path(folder) / PLAN_FILE.format(worker=worker)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps([asdict(p) for p in items]), encoding="utf-8")
                tmp.replace(path)
            return
        if not items and parallel.worker_count(self.config):
            return  # pytest -n: the controller collects nothing; it estimates from a worker's plan (below)
        self.report(items)

    # -- the controller of pytest -n -----------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if self.estimate is not None:
            return
        folder = dict(getattr(node, "workerinput", {}).get(parallel.INPUT_KEY) or {}).get("lock_folder")
        worker = getattr(node, "workerinput", {}).get("workerid", "gw0")
        try:
            raw = json.loads((Path(folder) / PLAN_FILE.format(worker=worker)).read_text(encoding="utf-8"))
            items = [cost.Planned(**d) for d in raw]
        except (TypeError, OSError, ValueError):
            items = None
        if items is None:
            self._print(["llmconf cost estimate: not available (the worker's selection was not readable)"])
            self.estimate = cost.Estimate()
            return
        self.report(items)

    # -- printing and refusing ----------------------------------------------------------------
    def report(self, items: list[cost.Planned]) -> None:
        est = self.estimate = cost.for_run(items, self.settings, self.profile_settings, self.budget_path)
        threshold = cost.Limit.parse(self.settings.cost_threshold, "--cost-threshold")
        self._print([est.line(), *est.warning(threshold)])
        if self.settings.max_cost:
            limit = cost.Limit.parse(self.settings.max_cost, "--max-cost")
            over = limit.exceeded_by(est)
            if over:
                pytest.exit(f"llmconf: refusing to start: the cost estimate exceeds --max-cost ({'; '.join(over)}): "
                            f"{est.line()}", returncode=cost.REFUSED_EXIT)

    def _print(self, lines: list[str]) -> None:
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if tr is None:
            return
        for line in lines:
            tr.write_line(line, yellow=line.startswith("!!"), bold=line.startswith("!!"))
