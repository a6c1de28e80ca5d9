"""Compare conformance.json files (the report contract): verdict stability across runs, or
endpoint A vs B / release N vs N-1.

    python tools/compare_runs.py RUN1/conformance.json RUN2/conformance.json [...] [--markdown OUT]

Prints a table of every requirement whose outcome differs between the runs and exits 1 if any
does (0 when all runs give identical verdicts; 2 when a report cannot be read). Reads the reports
with the loader of ``python -m conformance.compare`` (the rendered comparison matrix), so a run's
reports directory works too."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance.compare.model import INTERMITTENT_SAME, CompareError, load_doc


# A known deviation declared intermittent shows on some runs and not on others (it depends on what
# the model generates or on timing, not on the request): for it, passed and xfailed are one verdict
# (INTERMITTENT_SAME, shared with conformance.compare).


def load(path: Path) -> dict[str, str]:
    """Requirement → outcome, and ``test:<nodeid>`` → the test's outcome (so a verdict that moved
    between the tests of one requirement is seen too)."""
    doc = load_doc(path)
    intermittent = set(doc.get("intermittent_deviations", ()))
    out = {rid: entry["outcome"] for rid, entry in doc["requirements"].items()}
    for rid, entry in doc["requirements"].items():
        for nodeid, outcome in entry.get("test_outcomes", {}).items():
            out[f"test:{nodeid}"] = outcome
    for key, outcome in out.items():
        rid = key if not key.startswith("test:") else _cited(doc, key[5:])
        if rid in intermittent:
            out[key] = INTERMITTENT_SAME.get(outcome, outcome)
    return out


def _cited(doc: dict, nodeid: str) -> str:
    for rid, entry in doc["requirements"].items():
        if nodeid in entry.get("test_outcomes", {}):
            return rid
    return ""


def differences(runs: list[dict[str, str]]) -> dict[str, list[str]]:
    ids = sorted(set().union(*runs))
    return {rid: [r.get(rid, "absent") for r in runs] for rid in ids
            if len({r.get(rid, "absent") for r in runs}) > 1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    if len(args.reports) < 2:
        parser.error("give at least two conformance.json files")
    try:
        runs = [load(p) for p in args.reports]
    except CompareError as exc:
        print(f"compare_runs: {exc}", file=sys.stderr)
        return 2
    diff = differences(runs)
    lines = [f"# Verdict comparison of {len(runs)} runs", ""]
    if diff:
        lines += ["| requirement | " + " | ".join(f"run {i + 1}" for i in range(len(runs))) + " |",
                  "|---|" + "---|" * len(runs)]
        lines += [f"| {rid} | " + " | ".join(outs) + " |" for rid, outs in diff.items()]
    else:
        reqs = sum(1 for k in runs[0] if not k.startswith("test:"))
        lines.append(f"All {len(runs)} runs give identical verdicts for {reqs} requirements and "
                     f"{len(runs[0]) - reqs} tests.")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
