"""Parallel-run benchmark (issue 13 §3): how much faster is ``pytest -n N`` than a serial run, and
what limits it?

One reference server with N slots (the embedded one, started here with ``--metrics``; or
``--endpoint``) serves both runs of the full conformance suite (or ``--requirement`` prefixes):
``-n 0`` and ``-n N``, alternating in ABBA order over ``--rounds`` so that drift of a shared machine
cancels. Per run it records:

* the pytest wall time, and the CPU seconds of pytest and its workers (``RUSAGE_CHILDREN``);
* the server's CPU seconds (``/proc/<pid>/stat``) and, from its Prometheus ``/metrics``, the seconds
  it spent prefilling and generating (``llamacpp:prompt_seconds_total`` +
  ``llamacpp:tokens_predicted_seconds_total``): the **server-timings floor**, i.e. the run could
  not be shorter than this on one slot;
* the verdicts (requirement and test outcomes from ``conformance.json``), which must be identical
  between the two modes (an intermittent deviation's passed/xfailed count as one verdict).

Reported as ratios from the same run: speedup = median wall(-n 0) / median wall(-n N) (target
≥ 2.5× at N = 4 on a 4-slot server), and wall / server floor for each mode. The CPU figures say
what limits the speedup on this machine (``os.cpu_count()`` cores shared by pytest, its workers and
the server).

Run: ``python -m benchmarks.parallel_run [--workers 4] [--rounds 1] [--requirement IDS]``; writes
``reports/benchmarks/parallel-run.{json,md}`` (and each run's reports under
``reports/benchmarks/parallel-run/``). A benchmark: it judges nothing and never gates; the exit
status is 1 only when the verdicts differ between the modes (that is a harness bug), 2 when a run
could not be measured.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import secrets
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

NAME = "parallel-run"
SCHEMA_VERSION = 1
TARGET_SPEEDUP = 2.5
KEY_ENV = "LLMCONF_BENCH_KEY"
FLOOR_METRICS = ("llamacpp:prompt_seconds_total", "llamacpp:tokens_predicted_seconds_total")
REPO = Path(__file__).resolve().parents[1]


def parse_prometheus(text: str) -> dict[str, float]:
    """``name value`` lines of a Prometheus text exposition (comments and labelled series skipped)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z_:][A-Za-z0-9_:]*)\s+([-+0-9.eE]+|NaN)\s*$", line.strip())
        if m:
            try:
                out[m.group(1)] = float(m.group(2))
            except ValueError:
                continue
    return out


def server_floor_s(before: dict[str, float] | None, after: dict[str, float] | None) -> float | None:
    if not before or not after or not all(k in before and k in after for k in FLOOR_METRICS):
        return None
    return round(sum(after[k] - before[k] for k in FLOOR_METRICS), 3)


def proc_cpu_s(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def verdicts(doc: dict[str, Any]) -> dict[str, str]:
    """Requirement → outcome and ``test:<nodeid>`` → outcome, intermittent passed/xfailed as one."""
    from conformance.compare.model import INTERMITTENT_SAME  # noqa: PLC0415

    intermittent = set(doc.get("intermittent_deviations", ()))

    def norm(rid: str, outcome: str) -> str:
        return INTERMITTENT_SAME if rid in intermittent and outcome in ("passed", "xfailed") else outcome

    out = {rid: norm(rid, row["outcome"]) for rid, row in doc["requirements"].items()}
    cites = {t: rid for rid, row in doc["requirements"].items() for t in row.get("tests", ())}
    for test, outcome in doc.get("test_outcomes", {}).items():
        out[f"test:{test}"] = norm(cites.get(test, ""), outcome)
    return out


def differences(a: dict[str, str], b: dict[str, str]) -> list[str]:
    return [f"{k}: {a.get(k, '(absent)')} vs {b.get(k, '(absent)')}" for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)]


class _Endpoint:
    """The server both runs use (started here unless ``url``), behind a latency proxy when
    ``latency_s`` (the suite then talks to the proxy; /metrics is read from the server)."""

    def __init__(self, url: str | None, key_env: str | None, workers: int, out: Path, latency_s: float = 0.0) -> None:
        self.server: Any = None
        self.proxy: Any = None
        self.key_env = key_env
        if url:
            self.server_url = url
        else:
            from conformance.reference.server import ReferenceServer  # noqa: PLC0415

            os.environ[KEY_ENV] = secrets.token_urlsafe(18)
            self.key_env = KEY_ENV
            self.server = ReferenceServer(log_path=out / "parallel-run-server.log", api_key=os.environ[KEY_ENV],
                                          slots=workers, extra_args=("--metrics",))
            self.server_url = self.server.start()
        self.url = self.server_url
        if latency_s > 0:
            from conformance.faults.proxy import FaultProxy  # noqa: PLC0415

            self.proxy = FaultProxy(self.server_url, latency_s=latency_s, hold_limit_s=900.0)
            self.url = self.proxy.start()

    @property
    def pid(self) -> int | None:
        return self.server.pid if self.server is not None else None

    @property
    def slots(self) -> int | None:
        return self.server.config.parallel if self.server is not None else None

    def metrics(self) -> dict[str, float] | None:
        headers = {"Authorization": f"Bearer {os.environ[self.key_env]}"} if self.key_env in os.environ else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(self.server_url + "/metrics", headers=headers),
                                        timeout=10) as r:
                return parse_prometheus(r.read().decode("utf-8", "replace"))
        except OSError:
            return None

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        if self.server is not None:
            self.server.stop()


def run_once(ep: _Endpoint, workers: int, reports: Path, *, profile: str, select: str | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--endpoint={ep.url}",
           f"--profile={profile}", f"--reports-dir={reports}"]
    if ep.key_env:
        cmd.append(f"--api-key-env={ep.key_env}")
    if select:
        cmd.append(f"--requirement={select}")
    if workers:
        cmd += ["-n", str(workers)]
    m0, s0 = ep.metrics(), proc_cpu_s(ep.pid)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=3600)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    m1, s1 = ep.metrics(), proc_cpu_s(ep.pid)
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "pytest-output.txt").write_text(proc.stdout[-20000:] + proc.stderr[-5000:], encoding="utf-8")
    doc_path = reports / "conformance.json"
    doc = json.loads(doc_path.read_text()) if doc_path.is_file() else None
    return {
        "workers": workers,
        "exit": proc.returncode,
        "wall_s": round(wall, 2),
        "pytest_cpu_s": round((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), 2),
        "server_cpu_s": round(s1 - s0, 2) if s0 is not None and s1 is not None else None,
        "server_floor_s": server_floor_s(m0, m1),
        "tests": (doc or {}).get("totals", {}).get("tests"),
        "last_line": (proc.stdout.strip().splitlines() or [""])[-1],
        "reports": str(reports),
        "_verdicts": verdicts(doc) if doc else None,
    }


def summarize(runs: list[dict[str, Any]], workers: int) -> dict[str, Any]:
    def med(mode: int, key: str) -> float | None:
        vals = [r[key] for r in runs if r["workers"] == mode and r.get(key) is not None]
        return round(statistics.median(vals), 2) if vals else None

    serial, par = med(0, "wall_s"), med(workers, "wall_s")
    speedup = round(serial / par, 2) if serial and par else None
    out: dict[str, Any] = {"serial_wall_s": serial, "parallel_wall_s": par, "speedup": speedup,
                           "target_speedup": TARGET_SPEEDUP if workers == 4 else None,
                           "meets_target": (speedup >= TARGET_SPEEDUP) if speedup and workers == 4 else None}
    for mode, label in ((0, "serial"), (workers, "parallel")):
        wall, floor = med(mode, "wall_s"), med(mode, "server_floor_s")
        cpu = [(r["pytest_cpu_s"] or 0) + (r["server_cpu_s"] or 0) for r in runs if r["workers"] == mode]
        out[label] = {"wall_s": wall, "server_floor_s": floor,
                      "wall_over_server_floor": round(wall / floor, 2) if wall and floor else None,
                      "pytest_cpu_s": med(mode, "pytest_cpu_s"), "server_cpu_s": med(mode, "server_cpu_s"),
                      "cpu_busy_of_cores": round(statistics.median(cpu) / (wall * (os.cpu_count() or 1)), 2)
                      if cpu and wall else None}
    return out


def render(result: dict[str, Any]) -> str:
    s = result["summary"]
    n = result["workers"]
    latency = f", {result['latency_ms']:g} ms latency per request (proxy)" if result.get("latency_ms") else ""
    lines = [f"# Parallel run: pytest -n {n} vs -n 0 ({result['slots'] or '?'} server slots, "
             f"{result['cores']} cores, {result['rounds']} round(s), ABBA{latency})", "",
             f"- speedup: **{s['speedup']}×** (median wall {s['serial_wall_s']} s serial / {s['parallel_wall_s']} s "
             f"with -n {n})" + (f"; target ≥ {TARGET_SPEEDUP}× {'met' if s['meets_target'] else 'NOT met'}"
                                 if s.get("target_speedup") else ""),
             f"- verdicts: {'identical' if not result['differences'] else 'DIFFER: ' + '; '.join(result['differences'][:10])}",
             "", "| mode | wall s | server floor s | wall / floor | pytest CPU s | server CPU s | CPU busy of cores |",
             "|---|---|---|---|---|---|---|"]
    for label in ("serial", "parallel"):
        m = s[label]
        lines.append(f"| {label} | {m['wall_s']} | {m['server_floor_s']} | {m['wall_over_server_floor']} | "
                     f"{m['pytest_cpu_s']} | {m['server_cpu_s']} | {m['cpu_busy_of_cores']} |")
    lines += ["", "| run | -n | exit | wall s | pytest CPU s | server CPU s | server floor s | tests |",
              "|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(result["runs"], 1):
        lines.append(f"| {i} | {r['workers']} | {r['exit']} | {r['wall_s']} | {r['pytest_cpu_s']} | "
                     f"{r['server_cpu_s']} | {r['server_floor_s']} | {r['tests']} |")
    lines += ["", "Server floor = seconds the server spent prefilling + generating (its own /metrics): on one "
              "slot a run cannot be shorter. CPU busy of cores = (pytest + server CPU seconds) / (wall × cores): "
              "near 1.0 the machine's cores, not the endpoint's slots, limit the speedup."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.parallel_run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=1, help="ABBA rounds (1 = serial then parallel)")
    ap.add_argument("--requirement", default=None, help="only these requirement IDs or prefixes (comma-separated)")
    ap.add_argument("--endpoint", default=None, help="an endpoint with at least --workers slots (default: start one)")
    ap.add_argument("--api-key-env", default=None)
    ap.add_argument("--profile", default="reference")
    ap.add_argument("--latency-ms", type=float, default=0.0,
                    help="put a proxy holding every request this long in front of the server (the latency of a "
                         "remote endpoint; shows how the suite scales when the endpoint, not this machine's CPU, "
                         "sets the pace)")
    ap.add_argument("--out", type=Path, default=Path("reports/benchmarks"))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    ep = _Endpoint(args.endpoint, args.api_key_env, args.workers, args.out, latency_s=args.latency_ms / 1000.0)
    runs: list[dict[str, Any]] = []
    try:
        for rnd in range(args.rounds):
            order = (0, args.workers) if rnd % 2 == 0 else (args.workers, 0)
            for mode in order:
                reports = args.out / NAME / f"{len(runs) + 1}-n{mode}"
                r = run_once(ep, mode, reports, profile=args.profile, select=args.requirement)
                print(f"run {len(runs) + 1}: -n {mode}: {r['wall_s']} s wall, exit {r['exit']}: {r['last_line']}",
                      flush=True)
                runs.append(r)
    finally:
        ep.stop()
    if any(r["_verdicts"] is None for r in runs):
        print("a run wrote no conformance.json: see its pytest-output.txt", file=sys.stderr)
        return 2
    base = runs[0]["_verdicts"]
    diffs = sorted({d for r in runs[1:] for d in differences(base, r["_verdicts"])})
    for r in runs:
        del r["_verdicts"]
    result = {"schema_version": SCHEMA_VERSION, "name": NAME, "workers": args.workers, "slots": ep.slots,
              "latency_ms": args.latency_ms,
              "cores": os.cpu_count(), "rounds": args.rounds, "requirement": args.requirement,
              "runs": runs, "differences": diffs, "summary": summarize(runs, args.workers)}
    (args.out / f"{NAME}.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    text = render(result)
    (args.out / f"{NAME}.md").write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 1 if diffs else 0


if __name__ == "__main__":
    raise SystemExit(main())
