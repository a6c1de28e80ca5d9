"""The benchmark runner (issue 13 §1): ``python -m benchmarks [--quick] [--only NAME ...]``.

Runs the offline benchmarks (no endpoint, no download) in one process, prints every figure as a
ratio against its anchor measured in the same run, and writes ``reports/benchmarks.json`` (all
figures, ratios, anchors, versions) beside each benchmark's own ``reports/benchmarks/<name>.{json,md}``.
Benchmarks that need an endpoint or an external tool (``aiperf_agreement``) run on their own:
``python -m benchmarks.aiperf_agreement``; the runner lists them and how to run them.

It is never part of the gating test run and judges nothing: a figure below its target is
reported (``meets_target: false``), not failed; the exit status is 0 unless a benchmark could not
run at all.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import sse_decode

#: name → (run(quick) → result dict, render(result) → Markdown)
OFFLINE: dict[str, tuple[Callable[..., dict[str, Any]], Callable[[dict[str, Any]], str]]] = {
    sse_decode.NAME: (lambda quick: sse_decode.run(quick=quick), sse_decode.render),
}
#: Benchmarks that need a live endpoint or an external tool: run on their own.
STANDALONE = {
    "aiperf-agreement": "python -m benchmarks.aiperf_agreement [--quick] [--endpoint URL]   (AIPerf in its own venv)",
    "parallel-run": "python -m benchmarks.parallel_run [--workers 4] [--rounds 2] [--latency-ms MS]   (two full runs)",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run; noisier ratios)")
    ap.add_argument("--only", action="append", choices=sorted(OFFLINE), help="run only this benchmark (repeatable)")
    ap.add_argument("--out", type=Path, default=Path("reports"), help="reports directory (default: reports)")
    args = ap.parse_args(argv)
    names = args.only or list(OFFLINE)
    started = time.time()
    results: dict[str, Any] = {}
    per_dir = args.out / "benchmarks"
    per_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        run, render = OFFLINE[name]
        t0 = time.perf_counter()
        result = run(args.quick)
        result["wall_s"] = round(time.perf_counter() - t0, 2)
        text = render(result)
        sys.stdout.write(text + "\n")
        (per_dir / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        (per_dir / f"{name}.md").write_text(text, encoding="utf-8")
        results[name] = result
    for name, how in STANDALONE.items():
        sys.stdout.write(f"(not run here: {name}: {how})\n")
    doc = {
        "schema_version": 1,
        "started_at": started,
        "quick": args.quick,
        "python": platform.python_version(),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine()},
        "benchmarks": results,
        "standalone": STANDALONE,
    }
    path = args.out / "benchmarks.json"
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
