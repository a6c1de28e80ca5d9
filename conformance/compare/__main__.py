"""``python -m conformance.compare RUN...``: see :mod:`conformance.compare`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from conformance.compare.model import CompareError, build_matrix, load_runs
from conformance.compare.render import html_page, markdown
from conformance.harness.redaction import redact, register_secret

#: Environment variables whose values are masked in the pages even when a report missed one.
KEY_ENVS = ("OPENAI_API_KEY", "NGC_API_KEY", "VLLM_API_KEY", "ANTHROPIC_API_KEY", "LLMCONF_API_KEY")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.compare",
        description="Requirement × run comparison matrix of conformance runs, as Markdown and static HTML.")
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="a run's reports directory (holding conformance.json) or a conformance.json")
    parser.add_argument("--out", type=Path, default=Path("reports/compare"),
                        help="output directory for compare.md and compare.html (default: reports/compare)")
    parser.add_argument("--name", action="append", default=[],
                        help="name of the next run (once per run, in order; default: from the documents)")
    parser.add_argument("--only-diff", action="store_true", help="show only requirements whose verdict differs")
    parser.add_argument("--fail-on-diff", action="store_true",
                        help="exit 1 when any requirement differs (default: 0 whenever the pages were written)")
    parser.add_argument("--api-key-env", action="append", default=[], metavar="NAME",
                        help="also mask the value of this environment variable (the usual key variables are "
                             "masked always)")
    args = parser.parse_args(argv)
    for name in (*KEY_ENVS, *args.api_key_env):
        register_secret(os.environ.get(name))
    out: Path = args.out
    try:
        runs = load_runs(args.runs, args.name)
        out.mkdir(parents=True, exist_ok=True)
        matrix = build_matrix(runs, out)
    except CompareError as exc:
        print(f"compare: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"compare: cannot write {out}: {exc}", file=sys.stderr)
        return 2
    (out / "compare.md").write_text(redact(markdown(matrix, only_diff=args.only_diff)), encoding="utf-8")
    (out / "compare.html").write_text(redact(html_page(matrix, only_diff=args.only_diff)), encoding="utf-8")
    differing = matrix.differing
    print(f"compare: {len(runs)} runs, {len(matrix.rows)} requirements, {len(differing)} differ"
          + (": " + ", ".join(r.rid for r in differing[:10]) + (" …" if len(differing) > 10 else "") if differing
             else ""))
    print(f"compare: {out / 'compare.md'}")
    print(f"compare: {out / 'compare.html'}")
    return 1 if args.fail_on_diff and differing else 0


if __name__ == "__main__":
    sys.exit(main())
