"""Optional deep evals (issue 11 §8): fold the results JSON of lm-evaluation-harness or NVIDIA NeMo
Evaluator, run by the user against the same endpoint (recipe: docs/eval-statistics.md, "Deep
evals"), into ``reports/evals/external.{json,md}``. Never run in CI, never a gate: the third-party
harnesses download their data, and model-card-style numbers are never thresholds.

    python -m conformance.harness.evals.importers RESULTS.json [RESULTS.json ...] [--reports-dir reports]

Recognised files:

* lm-evaluation-harness ``results_*.json`` (``--output_path``): ``results.<task>.<metric>,<filter>``
  values with ``<metric>_stderr,<filter>``, sizes from ``n-samples.<task>.effective``, the model
  from ``config.model`` / ``config.model_args``;
* NeMo Evaluator ``results.json`` / ``results.yml`` converted to JSON:
  ``results.tasks.<task>.metrics.<metric>.scores.<score>.value`` with ``stats.stderr`` and
  ``stats.count`` when given (also ``results.groups``).

Each row: harness, task, metric, value, the harness's own stderr, n where known, and for a
proportion with a known n the Wilson 95 % interval computed here (the same method as the suite's
own sets; a harness's normal-approximation stderr is kept as it reported it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from conformance.harness.evals.stats import wilson
from conformance.harness.redaction import redact


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _row(harness: str, task: str, metric: str, value: float, stderr: float | None, n: int | None,
         source: str) -> dict[str, Any]:
    row: dict[str, Any] = {"harness": harness, "task": task, "metric": metric, "value": round(value, 6),
                           "stderr": None if stderr is None else round(stderr, 6), "n": n, "wilson95": None,
                           "source": source}
    if n and 0.0 <= value <= 1.0:
        k = round(value * n)
        if abs(k / n - value) < 1e-6:  # a proportion of n items (not a mean of scores)
            p = wilson(k, n)
            row["wilson95"] = [round(p.low, 4), round(p.high, 4)]
    return row


def from_lm_eval(doc: Mapping[str, Any], source: str = "") -> list[dict[str, Any]]:
    """Rows of an lm-evaluation-harness results document."""
    results = doc.get("results")
    if not isinstance(results, Mapping):
        raise ValueError(f"{source}: no 'results' object (not an lm-evaluation-harness results file)")
    samples = doc.get("n-samples") if isinstance(doc.get("n-samples"), Mapping) else {}
    rows = []
    for task, metrics in results.items():
        if not isinstance(metrics, Mapping):
            continue
        size = samples.get(task, {}) if isinstance(samples.get(task), Mapping) else {}
        n = size.get("effective") if isinstance(size.get("effective"), int) else None
        for key, value in metrics.items():
            number = _num(value)
            if number is None or key == "alias" or "_stderr" in key:
                continue
            name, _, filt = key.partition(",")
            stderr = _num(metrics.get(f"{name}_stderr,{filt}" if filt else f"{name}_stderr"))
            rows.append(_row("lm-evaluation-harness", task, key, number, stderr, n, source))
    return rows


def from_nemo(doc: Mapping[str, Any], source: str = "") -> list[dict[str, Any]]:
    """Rows of a NeMo Evaluator results document."""
    results = doc.get("results")
    if not isinstance(results, Mapping) or not any(isinstance(results.get(k), Mapping) for k in ("tasks", "groups")):
        raise ValueError(f"{source}: no 'results.tasks' (not a NeMo Evaluator results file)")
    rows = []
    for section in ("tasks", "groups"):
        for task, entry in (results.get(section) or {}).items():
            metrics = entry.get("metrics") if isinstance(entry, Mapping) else None
            for metric, body in (metrics or {}).items():
                scores = body.get("scores") if isinstance(body, Mapping) else None
                for score, item in (scores or {}).items():
                    value = _num(item.get("value")) if isinstance(item, Mapping) else None
                    if value is None:
                        continue
                    stats = item.get("stats") if isinstance(item.get("stats"), Mapping) else {}
                    count = stats.get("count") if isinstance(stats.get("count"), int) else None
                    label = metric if score == metric else f"{metric}/{score}"
                    rows.append(_row("nemo-evaluator", task, label, value, _num(stats.get("stderr")), count, source))
    return rows


def rows_of(path: Path) -> list[dict[str, Any]]:
    """Rows of one results file, whichever harness wrote it."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(doc, Mapping):
        raise ValueError(f"{path}: top level is not an object")
    results = doc.get("results")
    if isinstance(results, Mapping) and ("tasks" in results or "groups" in results):
        return from_nemo(doc, path.name)
    return from_lm_eval(doc, path.name)


def markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = ["# External evals (optional deep evals)", "",
             "Imported from third-party harness results (not run by this suite, never a gate; model-card numbers "
             "are never thresholds). Wilson 95 % computed here where the value is a proportion of a known n.", "",
             "| harness | task | metric | value | stderr (harness) | n | Wilson 95 % |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        w = f"[{r['wilson95'][0]:.3f}, {r['wilson95'][1]:.3f}]" if r["wilson95"] else "—"
        se = "—" if r["stderr"] is None else f"{r['stderr']:.4f}"
        lines.append(f"| {r['harness']} | {r['task']} | {r['metric']} | {r['value']:.4f} | {se} | "
                     f"{r['n'] if r['n'] is not None else '—'} | {w} |")
    return "\n".join(lines) + "\n"


def write(directory: Path, rows: Sequence[Mapping[str, Any]]) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": directory / "external.json", "md": directory / "external.md"}
    paths["json"].write_text(redact(json.dumps({"rows": list(rows)}, indent=2)) + "\n", encoding="utf-8")
    paths["md"].write_text(redact(markdown(rows)), encoding="utf-8")
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.harness.evals.importers",
                                     description="Fold lm-evaluation-harness / NeMo Evaluator results into "
                                                 "reports/evals/external.{json,md}.")
    parser.add_argument("results", nargs="+", type=Path, help="results JSON file(s)")
    parser.add_argument("--reports-dir", default="reports", type=Path)
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for path in args.results:
        try:
            rows += rows_of(path)
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    paths = write(args.reports_dir / "evals", rows)
    print(f"{len(rows)} rows from {len(args.results)} file(s) -> {paths['md']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
