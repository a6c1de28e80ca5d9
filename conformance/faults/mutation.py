"""Mutation score: prove the suite catches every fault class end to end, and flags none of the
neutral transformations.

    python -m conformance.faults.mutation [--faults a,b] [--reports-dir reports/mutation]
                                          [--upstream URL --profile NAME --api-key-env NAME]

Without ``--upstream`` the embedded reference endpoint is started once. Then, through the fault
proxy:

1. a baseline run with no fault, over every requirement any fault declares;
2. one run per fault, over the requirements that fault declares (one fault at a time: passive
   checks such as the [DONE] terminator would otherwise mask the others);
3. one run per neutral transformation, over the baseline's requirements.

Verdicts are compared test by test (a requirement can have several cases, some of them known
deviations). A fault is **caught** when at least one test of its requirements passed in the
baseline (passed, or a known deviation that did not show: xpassed) and records a violation with
the fault (failed; xfailed as a known deviation; non-strict for a SHOULD). It is
**unmeasurable** when every such test already fails or is skipped without the fault (the upstream
itself has that defect or lacks the feature): reported with the reason; it counts against the
score. A neutral transformation
must change no verdict. Writes ``mutation.json`` and ``mutation.md``; exits 1 unless every fault is
caught and no neutral transformation changed a verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance.faults.adapters import ADAPTERS
from conformance.faults.proxy import FaultProxy
from conformance.faults.registry import FAULTS

PASSING = {"passed", "xpassed"}  # the behaviour was right without the fault
VIOLATED = {"failed", "xfailed", "non-strict"}  # a violation was recorded (non-strict: a SHOULD)
KEY_ENV = "LLMCONF_MUTATION_KEY"
# Faults aimed at behaviours the reference lacks or already gets wrong are measured through
# adapters (applied to their baseline too) and, where needed, an extra declared capability.
ADAPTED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ready-while-not-serving": (("nim-health",), ("nim_health",)),
    "responses-no-sequence-number": (("responses-sequencing",), ()),
    "responses-completed-on-truncation": (("responses-sequencing", "responses-truncation"), ()),
    "responses-delta-text-mismatch": (("responses-sequencing", "responses-final-text"), ()),
    "anthropic-invalid-input-json-delta": (("anthropic-first-tool-call",), ()),
}


@dataclass
class FaultResult:
    fault: str
    neutral: bool
    requirements: list[str]
    outcome: str  # caught | missed | unmeasurable | clean | changed | broken
    caught_by: list[str] = field(default_factory=list)
    baseline: dict[str, str] = field(default_factory=dict)
    observed: dict[str, str] = field(default_factory=dict)
    detail: str = ""
    seconds: float = 0.0


def run_suite(endpoint: str, requirements: list[str], reports: Path, *, profile: str, key_env: str | None,
              extra: list[str]) -> dict[str, dict[str, str]]:
    """Run the conformance suite over ``requirements``; return requirement → {test → outcome}."""
    reports.mkdir(parents=True, exist_ok=True)
    # --opt=value: pytest reads plugin options' values as paths while it looks for its rootdir, and
    # an existing directory outside the project would take the project's ini file away.
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--endpoint={endpoint}",
           f"--profile={profile}", "--requirement=" + ",".join(sorted(requirements)), f"--reports-dir={reports}",
           *extra]
    if key_env:
        cmd += [f"--api-key-env={key_env}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, cwd=Path(__file__).resolve().parents[2])
    (reports / "pytest-output.txt").write_text(proc.stdout[-20000:] + proc.stderr[-5000:], encoding="utf-8")
    doc_path = reports / "conformance.json"
    if not doc_path.is_file():
        raise RuntimeError(f"no conformance.json in {reports} (exit {proc.returncode}): {proc.stdout[-800:]}")
    doc = json.loads(doc_path.read_text(encoding="utf-8"))
    return {rid: dict(entry["test_outcomes"]) for rid, entry in doc["requirements"].items()}


def _summary(outcomes: dict[str, str]) -> str:
    return ",".join(sorted(set(outcomes.values()))) or "absent"


def judge(name: str, requirements: list[str], baseline: dict[str, dict[str, str]],
          observed: dict[str, dict[str, str]]) -> FaultResult:
    result = FaultResult(fault=name, neutral=False, requirements=requirements, outcome="",
                         baseline={r: _summary(baseline.get(r, {})) for r in requirements},
                         observed={r: _summary(observed.get(r, {})) for r in requirements})
    measurable: list[tuple[str, str]] = []
    for rid in requirements:
        for test, outcome in baseline.get(rid, {}).items():
            if outcome in PASSING:
                measurable.append((rid, test))
    hits = [(rid, test) for rid, test in measurable if observed.get(rid, {}).get(test) in VIOLATED]
    result.caught_by = sorted({rid for rid, _ in hits})
    if hits:
        result.outcome = "caught"
        result.detail = "; ".join(f"{test.split('::')[-1]}: {observed[rid][test]}" for rid, test in hits[:4])
    elif not measurable:
        result.outcome = "unmeasurable"
        result.detail = "every test of the declared requirements already fails or is skipped without the " \
                        "fault: " + ", ".join(f"{r}={result.baseline[r]}" for r in requirements)
    elif any(observed.get(rid, {}).get(test) == "broken" for rid, test in measurable):
        result.outcome = "broken"
        result.detail = "the suite could not reach a verdict under the fault"
    else:
        result.outcome = "missed"
        result.detail = "the fault changed no verdict of its requirements' passing tests"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.faults.mutation", description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default="", help="comma-separated fault names (default: all)")
    parser.add_argument("--reports-dir", default="reports/mutation", type=Path)
    parser.add_argument("--upstream", help="endpoint to mutate (default: start the embedded reference)")
    parser.add_argument("--profile", default="reference")
    parser.add_argument("--api-key-env", default=None, help="env var with the upstream's API key")
    args = parser.parse_args(argv)

    selected = [f.strip() for f in args.faults.split(",") if f.strip()] or sorted(FAULTS)
    unknown = sorted(set(selected) - FAULTS.keys())
    if unknown:
        parser.error(f"unknown faults {unknown}; see python -m conformance.faults --list")
    faults = [FAULTS[name] for name in selected]
    reports: Path = args.reports_dir
    reports.mkdir(parents=True, exist_ok=True)

    server = None
    key_env = args.api_key_env
    upstream = args.upstream
    if upstream is None:
        from conformance.reference import DEFAULT_CONFIG, ReferenceServer  # noqa: PLC0415

        key = "llmconf-mut-" + secrets.token_urlsafe(12)
        os.environ[KEY_ENV] = key
        key_env = KEY_ENV
        server = ReferenceServer(config_name=DEFAULT_CONFIG, log_path=reports / "reference-server.log", api_key=key)
        upstream = server.start()
    try:
        union = sorted({r for f in FAULTS.values() for r in f.requirements})
        t0 = time.monotonic()
        with FaultProxy(upstream, []) as proxy:
            baseline = run_suite(str(proxy.url), union, reports / "baseline", profile=args.profile, key_env=key_env, extra=[])
        print(f"baseline: {len(baseline)} requirements in {time.monotonic() - t0:.0f}s", flush=True)
        adapted_baselines: dict[tuple[tuple[str, ...], tuple[str, ...]], dict[str, dict[str, str]]] = {}
        results: list[FaultResult] = []
        for fault in faults:
            t1 = time.monotonic()
            selection = list(fault.requirements) if not fault.neutral else union
            adapters, caps = ADAPTED.get(fault.name, ((), ()))
            extra = ["--add-capability=" + ",".join(caps)] if caps else []
            fault_baseline = baseline
            if adapters or caps:
                key = (adapters, caps)
                if key not in adapted_baselines:
                    with FaultProxy(upstream, [ADAPTERS[a] for a in adapters]) as proxy:
                        adapted_baselines[key] = run_suite(
                            str(proxy.url), selection, reports / f"baseline+{'+'.join(adapters)}",
                            profile=args.profile, key_env=key_env, extra=extra)
                fault_baseline = adapted_baselines[key]
            with FaultProxy(upstream, [*(ADAPTERS[a] for a in adapters), fault.name]) as proxy:
                try:
                    observed = run_suite(str(proxy.url), selection, reports / fault.name, profile=args.profile,
                                         key_env=key_env, extra=extra)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    observed, error = {}, str(exc)
                else:
                    error = ""
            if fault.neutral:
                changed = {t: (outs.get(t), observed.get(r, {}).get(t)) for r, outs in baseline.items()
                           for t in outs if outs.get(t) != observed.get(r, {}).get(t)}
                result = FaultResult(fault=fault.name, neutral=True, requirements=[],
                                     outcome="changed" if changed or error else "clean",
                                     detail=error or "; ".join(f"{t.split('::')[-1]}: {a} -> {b}"
                                                               for t, (a, b) in changed.items()))
            else:
                result = judge(fault.name, list(fault.requirements), fault_baseline, observed)
                if adapters:
                    result.detail = (f"through adapters {', '.join(adapters)}; " + result.detail).rstrip("; ")
                if error:
                    result.outcome, result.detail = "broken", error
            result.seconds = round(time.monotonic() - t1, 1)
            results.append(result)
            print(f"{fault.name:40} {result.outcome:13} {','.join(result.caught_by) or result.detail[:80]}",
                  flush=True)
    finally:
        if server is not None:
            server.stop()

    real = [r for r in results if not r.neutral]
    neutral = [r for r in results if r.neutral]
    caught = sum(r.outcome == "caught" for r in real)
    ok = caught == len(real) and all(r.outcome == "clean" for r in neutral)
    doc: dict[str, Any] = {
        "score": f"{caught}/{len(real)}",
        "caught": caught,
        "faults": len(real),
        "neutral_clean": sum(r.outcome == "clean" for r in neutral),
        "neutral": len(neutral),
        "passed": ok,
        "baseline": {rid: _summary(outs) for rid, outs in baseline.items()},
        "results": [asdict(r) for r in results],
    }
    (reports / "mutation.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    lines = [f"# Mutation score: {caught}/{len(real)} faults caught; "
             f"{doc['neutral_clean']}/{len(neutral)} neutral transformations unflagged — "
             f"{'PASS' if ok else 'FAIL'}", "",
             "| fault | requirements | outcome | caught by / detail |", "|---|---|---|---|"]
    for r in results:
        what = ", ".join(r.caught_by) if r.caught_by else r.detail.replace("|", "\\|")[:200]
        reqs = "(neutral)" if r.neutral else ", ".join(r.requirements)
        lines.append(f"| {r.fault} | {reqs} | {r.outcome} | {what} |")
    (reports / "mutation.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
