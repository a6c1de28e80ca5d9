"""The reference run's request budget (issue 13 §4: requests earn their tokens).

    python tools/request_budget.py check reports/conformance.json [--budget conformance/budgets/reference.json] [--tolerance 0.10]
    python tools/request_budget.py record reports/conformance.json   # after a serial full reference run (`pytest`)

``check`` exits 1 when the run's total requests exceed the recorded figure by more than the
tolerance (10 %), naming the requirements whose requests grew most; 0 otherwise, printing the ratio
(a decrease is reported so the figure gets updated); 2 when an input is unusable. The same as
``python -m conformance.harness.traffic``; the logic lives in ``conformance/harness/traffic.py``."""

from __future__ import annotations

from conformance.harness.traffic import main

if __name__ == "__main__":
    raise SystemExit(main())
