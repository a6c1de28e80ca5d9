"""Compare conformance.json files (the report contract): verdict stability across runs, or
endpoint A vs B / release N vs N-1.

    python tools/compare_runs.py RUN1/conformance.json RUN2/conformance.json [...] [--markdown OUT]

Prints a table of every requirement whose outcome differs between the runs and exits 1 if any
does (0 when all runs give identical verdicts)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load(path: Path) -> dict[str, str]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {rid: entry["outcome"] for rid, entry in doc["requirements"].items()}


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
    runs = [load(p) for p in args.reports]
    diff = differences(runs)
    lines = [f"# Verdict comparison of {len(runs)} runs", ""]
    if diff:
        lines += ["| requirement | " + " | ".join(f"run {i + 1}" for i in range(len(runs))) + " |",
                  "|---|" + "---|" * len(runs)]
        lines += [f"| {rid} | " + " | ".join(outs) + " |" for rid, outs in diff.items()]
    else:
        lines.append(f"All {len(runs)} runs give identical verdicts for {len(runs[0])} requirements.")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
