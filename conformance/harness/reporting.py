"""Reports: Allure labels and attachments, ``reports/conformance.json`` (a contract read by CI gates
and comparisons), ``reports/summary.md``, ``environment.properties``, ``categories.json`` and
``executor.json``. Everything written here passes through the redaction functions.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import allure
import pytest

from conformance import __version__
from conformance.harness.exchange import Exchange
from conformance.harness import outcomes
from conformance.harness.failures import ConformanceFailure
from conformance.harness.redaction import redact, redact_url
from conformance.harness.requirements import Requirement

OUTCOMES = outcomes.OUTCOMES
SEVERITY_ORDER = outcomes.SEVERITY_ORDER
TestRecord = outcomes.TestRecord
CATEGORIES_TEMPLATE = Path(__file__).parent / "allure" / "categories.json"
ENDPOINT_NAMES = {
    "chat_completions": "chat.completions",
    "completions": "completions",
    "responses": "responses",
    "messages": "messages",
    "count_tokens": "messages.count_tokens",
    "models": "models",
    "health": "health",
    "framing": "sse",
    "transport": "http",
}


# --- labels --------------------------------------------------------------------------------


def feature_for(module_name: str) -> str:
    """``test_chat_completions_streaming`` → ``chat.completions · streaming``."""
    stem = module_name.rsplit(".", 1)[-1].removeprefix("test_")
    for key in sorted(ENDPOINT_NAMES, key=len, reverse=True):
        if stem == key:
            return ENDPOINT_NAMES[key]
        if stem.startswith(key + "_"):
            return f"{ENDPOINT_NAMES[key]} · {stem[len(key) + 1:].replace('_', ' ')}"
    return stem.replace("_", " ")


def allure_marks(req: Requirement, feature: str, capabilities: Iterable[str]) -> list[pytest.MarkDecorator]:
    marks = [
        allure.epic(req.epic),
        allure.feature(feature),
        allure.story(req.story),
        allure.severity(req.severity),
        allure.id(req.id),
        allure.label("requirement", req.id),
        allure.tag(f"level:{req.level.value}"),
    ]
    for cap in sorted(set(capabilities) | set(req.capabilities)):
        marks.append(allure.tag(f"cap:{cap}"))
    if req.status == "tentative":
        marks.append(allure.tag("tentative"))
    for kind, value in req.spec_links():
        url = value if value.startswith("http") else None
        if url:
            marks.append(allure.link(url, link_type="spec", name=kind))
    return marks


# --- attachments ---------------------------------------------------------------------------


def _dump(value: Any) -> str:
    return redact(json.dumps(value, indent=2, ensure_ascii=False, default=str))


#: The largest attachment kept whole (characters). Longer texts keep their head and tail with a note
#: in between saying how much was left out, so a runaway stream or a long-context echo cannot bloat
#: the reports (Allure HTML embeds every attachment; the single file base64-encodes them).
MAX_ATTACHMENT_CHARS = 256 * 1024


def clip(text: str, limit: int = MAX_ATTACHMENT_CHARS) -> str:
    """``text`` whole when it fits in ``limit`` characters, else its head and tail around a note
    naming the full size and how much was left out."""
    if len(text) <= limit:
        return text
    tail = limit // 4
    head = limit - tail
    return (f"{text[:head]}\n\n[llmconf: truncated for the report: {len(text) - head - tail} of {len(text)} "
            f"characters left out here; head {head} and tail {tail} kept]\n\n{text[-tail:]}")


def attach_exchange(ex: Exchange, note: str = "") -> None:
    """Attach one exchange to the running Allure test as a step with its request, response and (for
    streams) the raw transcript and parser diagnostics."""
    title = ex.summary() + (f" [{note}]" if note else "")
    with allure.step(title):
        record = ex.as_record()
        from conformance.harness.metrics import derived_timings_s  # noqa: PLC0415

        record["timings_s"].update(derived_timings_s(ex))  # first_token, first_content_token, last_token, tpot
        allure.attach(_dump(record), name=f"request-{ex.seq}.json", attachment_type=allure.attachment_type.JSON)
        if ex.stream and ex.sse is not None:
            allure.attach(clip(ex.redacted_body().decode("utf-8", errors="replace")), name=f"stream-{ex.seq}.sse",
                          attachment_type=allure.attachment_type.TEXT)
            diags = [d.as_dict() for d in ex.sse.diagnostics]
            if diags:
                allure.attach(_dump({"line_endings": ex.sse.line_endings, "diagnostics": diags}),
                              name=f"sse-diagnostics-{ex.seq}.json", attachment_type=allure.attachment_type.JSON)
        else:
            body = ex.json_or_none()
            if body is not None:
                text = _dump(body)
                # a clipped JSON text is no longer JSON: it is attached as text then
                allure.attach(clip(text), name=f"response-{ex.seq}.json" if len(text) <= MAX_ATTACHMENT_CHARS
                              else f"response-{ex.seq}.truncated.txt",
                              attachment_type=allure.attachment_type.JSON if len(text) <= MAX_ATTACHMENT_CHARS
                              else allure.attachment_type.TEXT)
            elif ex.body:
                allure.attach(clip(ex.redacted_body().decode("utf-8", errors="replace")),
                              name=f"response-{ex.seq}.txt", attachment_type=allure.attachment_type.TEXT)


def attach_failure(exc: ConformanceFailure) -> None:
    if exc.details:
        allure.attach(clip(_dump(exc.details)), name="schema-errors.json" if exc.prefix == "SchemaViolation"
                      else "failure-details.json", attachment_type=allure.attachment_type.JSON)


def attach_known_deviations(nodeid: str, excused: list[Any]) -> None:
    """The evidence of an xfail: each violation the profile excused, with the deviation entry that
    excused it (reason, evidence, issue, cases, shapes), as ``known-deviation.json``."""
    entries = []
    for j in excused:
        entry = j.as_dict(nodeid)
        dev = j.deviation
        if dev is not None:
            entry["deviation"] = {"requirement": dev.requirement, "reason": dev.reason, "evidence": dev.evidence,
                                  "issue": dev.issue, "cases": list(dev.cases), "shapes": list(dev.shapes),
                                  "intermittent": dev.intermittent}
        entries.append(entry)
    if entries:
        allure.attach(_dump(entries), name="known-deviation.json", attachment_type=allure.attachment_type.JSON)


def attach_findings(findings: list[dict[str, Any]]) -> None:
    allure.attach(clip(_dump(findings)), name="observation.json", attachment_type=allure.attachment_type.JSON)


# --- run state -----------------------------------------------------------------------------


@dataclass(slots=True)
class RunInfo:
    endpoint: str = "embedded reference"
    model: str = ""
    profile: str = ""
    server: str = ""
    strict: bool = False
    reference: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    #: The context window as discovered (``conformance.harness.context``), when a long-context test ran.
    context_window: dict[str, Any] | None = None
    modalities: dict[str, Any] | None = None
    #: Timing side-metrics (``conformance.harness.metrics.metrics_block``): recorded, not gating.
    metrics: dict[str, Any] | None = None


def aggregate(records: Iterable[TestRecord], levels: dict[str, str]) -> dict[str, Any]:
    """The requirement table (one row per requirement, built from the violations recorded against
    it; see ``outcomes.requirement_rows``), totals, per-family coverage and the observations."""
    records = list(records)
    requirements = outcomes.requirement_rows(records, levels)
    totals = {o: 0 for o in OUTCOMES}
    for entry in requirements.values():
        totals[entry["outcome"]] += 1
    test_totals = {o: 0 for o in OUTCOMES}
    for rec in records:
        test_totals[rec.outcome] += 1
    return {"requirements": requirements,
            "totals": {**totals, "requirements": len(requirements), "tests": sum(test_totals.values()),
                       "tests_by_outcome": test_totals},
            "coverage": outcomes.coverage(records),
            "observations": outcomes.observations(records),
            "test_outcomes": {r.nodeid: r.outcome for r in sorted(records, key=lambda r: r.nodeid)}}


def write_conformance_json(path: Path, info: RunInfo, records: list[TestRecord], levels: dict[str, str],
                           *, intermittent: Iterable[str] = (), traffic: dict[str, Any] | None = None
                           ) -> dict[str, Any]:
    agg = aggregate(records, levels)
    doc = {
        "suite_version": __version__,
        "endpoint": redact_url(info.endpoint),
        "model": info.model,
        "profile": info.profile,
        "strict": info.strict,
        "server": redact(info.server),
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "requirements": agg["requirements"],
        "totals": agg["totals"],
        "coverage": agg["coverage"],
        "observations": agg["observations"],
        "test_outcomes": agg["test_outcomes"],
        # wall-clock seconds per test (the comparison page's per-requirement median; never gating)
        "test_durations_s": {r.nodeid: round(r.duration_s, 3) for r in sorted(records, key=lambda r: r.nodeid)},
        # requirements whose known deviation is declared intermittent: passed and xfailed are the
        # same verdict for them (tools/compare_runs.py treats them so)
        "intermittent_deviations": sorted(set(intermittent)),
    }
    if info.context_window is not None:
        doc["context_window"] = info.context_window
    if info.modalities is not None:
        doc["modalities"] = info.modalities
    if info.metrics is not None:
        doc["metrics"] = info.metrics
    if traffic is not None:  # requests and tokens per requirement, by API (conformance.harness.traffic)
        doc["traffic"] = traffic
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(redact(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n", encoding="utf-8")
    return doc


def write_summary_md(path: Path, doc: dict[str, Any], titles: dict[str, str], deviations: dict[str, str]) -> None:
    totals = doc["totals"]
    by_test = totals.get("tests_by_outcome", {})
    gating = ("failed", "broken", "xpassed")
    gate = "FAIL" if any(totals.get(o) or by_test.get(o) for o in gating) else "PASS"
    run_gate = doc.get("gate")  # conformance.harness.gating: the run's one gate, when computed
    if isinstance(run_gate, dict) and run_gate.get("state") in ("PASS", "FAIL"):
        gate = run_gate["state"]
    lines = [
        f"# Endpoint conformance: {gate}",
        "",
        f"- endpoint: `{doc['endpoint']}`  model: `{doc['model']}`  profile: `{doc['profile']}`"
        f"  strict: `{doc['strict']}`  suite: `{doc['suite_version']}`",
        f"- requirements: {totals['requirements']} — " + ", ".join(
            f"{o} {totals[o]}" for o in OUTCOMES if totals[o]),
        f"- tests: {totals['tests']}",
        "",
    ]
    if isinstance(run_gate, dict) and run_gate.get("line"):
        from conformance.harness.gating import markdown  # noqa: PLC0415

        lines[-1:] = markdown(run_gate)
    problems = {rid: e for rid, e in doc["requirements"].items() if e["outcome"] in ("failed", "broken", "xpassed")}
    if problems:
        lines += ["## Failing requirements", "", "| requirement | level | outcome | message |", "|---|---|---|---|"]
        for rid, e in problems.items():
            msg = e["message"].splitlines()[0][:160].replace("|", "\\|") if e["message"] else ""
            lines.append(f"| {rid} {titles.get(rid, '')} | {e['level']} | {e['outcome']} | {msg} |")
        lines.append("")
    soft = {rid: e for rid, e in doc["requirements"].items() if e["outcome"] == "non-strict"}
    if soft:
        lines += ["## SHOULD-level findings (non-strict)", ""]
        lines += [f"- {rid} {titles.get(rid, '')}" for rid in soft]
        lines.append("")
    known = {rid: e for rid, e in doc["requirements"].items() if e["outcome"] == "xfailed"}
    if known:
        lines += ["## Known deviations (strict xfail)", ""]
        lines += [f"- {rid} {titles.get(rid, '')}: {deviations.get(rid, '')}" for rid in known]
        lines.append("")
    blocked = {rid: e for rid, e in doc["requirements"].items() if e["outcome"] == "blocked"}
    if blocked:
        lines += ["## Not judged (blocked by another requirement's violation)", ""]
        lines += [f"- {rid} {titles.get(rid, '')}" for rid in blocked]
        lines.append("")
    thin = {fam: c for fam, c in doc.get("coverage", {}).items() if c["mostly_skipped"]}
    if thin:
        lines += ["## Mostly not judged (a skip is not a pass)", "", "| family | not judged | reasons |",
                  "|---|---|---|"]
        for fam, c in thin.items():
            reasons = "; ".join(f"{n}× {r}" for r, n in sorted(c["reasons"].items(), key=lambda kv: -kv[1])[:3])
            lines.append(f"| {fam} | {c['skipped']} of {c['tests']} | {reasons.replace('|', chr(92) + '|')} |")
        lines.append("")
    observed = [o for o in doc.get("observations", []) if o["kind"] == "observation"]
    if observed:
        lines += ["## Observations (MAY/INFO, never gating)", ""]
        seen = set()
        for o in observed:
            first = o["message"].splitlines()[0][:160]
            if (o["requirement"], first) in seen:
                continue
            seen.add((o["requirement"], first))
            lines.append(f"- {o['requirement']} [{o['level']}] {first}")
        lines.append("")
    lines += traffic_summary_lines(doc.get("traffic"))
    lines += timing_summary_lines(doc.get("metrics"))
    path.write_text(redact("\n".join(lines)) + "\n", encoding="utf-8")


def traffic_summary_lines(traffic: dict[str, Any] | None) -> list[str]:
    """The "Requests and tokens" section of summary.md (nothing when the run has no traffic block)."""
    from conformance.harness.traffic import summary_lines  # noqa: PLC0415

    return summary_lines(traffic) if traffic else []


def timing_summary_lines(metrics: dict[str, Any] | None) -> list[str]:
    """The "Timing (not gating)" section of summary.md (nothing when the run has no metrics)."""
    from conformance.harness.metrics import summary_lines  # noqa: PLC0415

    return summary_lines(metrics) if metrics else []


def _git_sha() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def write_allure_metadata(results_dir: Path, info: RunInfo) -> None:
    """environment.properties, executor.json and categories.json (controller only)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    import httpx  # noqa: PLC0415 - version string only

    props = {
        "endpoint.url": redact_url(info.endpoint),
        "model": info.model,
        "server": info.server or "unknown",
        "profile": info.profile,
        "strict": str(info.strict).lower(),
        "suite.version": __version__,
        "python": platform.python_version(),
        "pytest": pytest.__version__,
        "httpx": httpx.__version__,
        "git.sha": _git_sha(),
    }
    for key, value in info.reference.items():
        props[f"reference.{key}"] = str(value)
    text = "".join(f"{k}={_prop(v)}\n" for k, v in props.items())
    (results_dir / "environment.properties").write_text(redact(text), encoding="utf-8")
    executor = {
        "name": "CI" if os.environ.get("CI") else "local",
        "type": "llmconf",
        "buildName": props["git.sha"] or __version__,
        "reportName": "LLM endpoint conformance",
    }
    (results_dir / "executor.json").write_text(json.dumps(executor, indent=2), encoding="utf-8")
    shutil.copyfile(CATEGORIES_TEMPLATE, results_dir / "categories.json")


def _prop(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", " ").replace("=", "\\=").replace(":", "\\:")
