"""``python -m conformance.report allure-html``: render ``reports/allure-results`` as Allure 3 HTML,
offline, with the generator pinned in ``tools/allure`` (install: ``npm ci --prefix tools/allure
--no-audit --no-fund``).

Exit codes: 0 rendered; 2 nothing rendered (not installed, no results, a refused output folder, a
failed generation): the message says what to do. The report's own verdict is not an exit code
(the run's exit code and ``conformance.json`` gate).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from conformance.report import allure


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m conformance.report",
                                     description="Render the suite's reports.")
    sub = parser.add_subparsers(dest="command", required=True)
    html = sub.add_parser(
        "allure-html", help="Allure 3 HTML from allure-results (offline)",
        description="Render allure-results as an Allure 3 HTML report with the pinned generator "
                    f"(install once: {allure.INSTALL_COMMAND}). Known deviations show as failed in their own "
                    "category ('Known deviation (excused by the profile)', tag known-deviation), so a run with "
                    "deviations does not read 100 %%; the title states the gate.")
    html.add_argument("--results", type=Path, default=allure.DEFAULT_RESULTS,
                      help=f"allure-results folder (default {allure.DEFAULT_RESULTS})")
    html.add_argument("--out", type=Path, default=None,
                      help=f"report folder, emptied first (default {allure.DEFAULT_OUT}, with --single-file "
                           f"{allure.DEFAULT_OUT_SINGLE}); its {allure.HISTORY_FILE} is kept for trends")
    html.add_argument("--single-file", action="store_true",
                      help="one self-contained index.html that opens from file:// (for CI artifacts)")
    html.add_argument("--no-history", action="store_true",
                      help="ignore and do not write the history (no trends)")
    html.add_argument("--history-limit", type=int, default=30, help="runs kept in the history (default 30)")
    html.add_argument("--deviations", choices=allure.DEVIATION_MODES, default="failed",
                      help="how a known deviation (a strict xfail) shows: failed in its own category (default) or "
                           "skipped as allure-pytest stores it")
    html.add_argument("--keep-analytics", action="store_true",
                      help="keep the Google Analytics tag Allure 3 embeds (removed by default)")
    html.add_argument("--name", default=allure.REPORT_NAME, help="report title (the gate line is appended)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.history_limit < 1:
        print("error: --history-limit must be >= 1", file=sys.stderr)
        return 2
    try:
        generated = allure.generate(args.results, args.out, single_file=args.single_file,
                                    history=not args.no_history, history_limit=args.history_limit,
                                    deviations=args.deviations, keep_analytics=args.keep_analytics, name=args.name)
    except allure.AllureError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(generated.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
