"""The release gate: one decision, one exit code and one line, from a ``conformance.json`` document
(pure: no pytest). The plugin computes it at the end of the run (``--baseline``), writes it into
``conformance.json`` as the ``gate`` block, puts it at the top of ``summary.md`` and prints its line
last (``llmconf gate: …``); the Allure HTML title uses it too.

Modes
-----

**absolute** (no baseline; today's rule): the run FAILs (exit 1) when any requirement row is
``failed`` (MUST, or SHOULD under ``--strict``: the row already says so), ``broken`` or ``xpassed``
(a known deviation that no longer shows: the profile entry must go), or when a test failed, broke or
XPASSed without a row saying so (a plain ``assert`` in a test, or a test outside the catalog).
The accuracy eval gate is the row ``OAI-EVAL-003`` (a MUST): an eval FAIL fails the run here.

**baseline** (``--baseline reports/baseline/conformance.json``): the run FAILs only on what got
*worse* than the baseline run. Per requirement, baseline outcome → this run's outcome:

* **worse** (gates): anything that was not failing (passed, observed, xfailed, skipped, blocked,
  xpassed, non-strict, or absent from the baseline) → ``failed``/``broken``. Under ``--strict`` a
  SHOULD row that newly fails is a new SHOULD finding and counts. A SHOULD row that was
  ``non-strict`` in the baseline and is ``failed`` now (because this run is ``--strict``) is the
  *same* finding judged strictly: **still failing**, not worse (switching ``--strict`` on never
  fails on what was already found; a warning says the modes differ). ``non-strict`` → ``broken`` is
  worse (the check no longer runs to the end).
* **still failing** (listed, never gates): failed/broken → failed/broken.
  Exception: ``OAI-EVAL-003`` gates whenever it fails, whatever the baseline says: the eval gate is
  already a comparison against its own stored eval baseline (or a floor), so "already failing" does
  not apply to it (:data:`ALWAYS_GATING`).
* **improved** (listed): failed/broken/non-strict/xfailed/xpassed → passed/observed, failed/broken →
  non-strict, and any → ``xpassed``.
* **XPASS** (a known deviation that did not show) is not worse: it never fails a baseline-gated run.
  It is listed under ``xpassed`` and named in the line (the profile's deviation entry should go), and
  counted as improved when the baseline row was not already ``xpassed`` or ``passed``.
* **no longer judged** (a warning, never a failure): a row the baseline judged (any outcome but
  skipped/blocked/absent) that is skipped, blocked or absent now: a check that stopped running cannot
  be gated on, but it must not go unnoticed.
* **newly excused** (a warning): passed/failed/broken → ``xfailed``: the profile gained a deviation.
* **new SHOULD findings** (listed, not gating without ``--strict``): not-a-finding → ``non-strict``.
* Requirements with an **intermittent** deviation (``intermittent_deviations`` in either document):
  ``passed`` and ``xfailed`` are the same verdict, so neither direction is listed.
* Tests that failed without a failing row (see absolute mode) are compared by test id with the
  baseline's ``test_outcomes``: failing there too → still failing, otherwise worse.

A baseline that cannot be read or is not a ``conformance.json`` is refused (:class:`BaselineError`,
a usage error: exit 4). A baseline from another profile, model, suite version or strictness is used,
with a warning.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PASS, FAIL = "PASS", "FAIL"
ABSOLUTE, BASELINE = "absolute", "baseline"
EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 4
#: pytest exit codes the gate never overrides: interrupted, internal error, usage error, no tests.
PYTEST_KEEPS = (2, 3, 4, 5)

FAILING = ("failed", "broken")
GATING_ABSOLUTE = ("failed", "broken", "xpassed")
NOT_JUDGED = ("skipped", "blocked", "absent")
#: Requirements that gate whenever they fail, baseline or not (already relative to a stored baseline).
ALWAYS_GATING = frozenset({"OAI-EVAL-003"})
#: How many names the one-line reason shows per list before "… and N more".
LINE_NAMES = 5


class BaselineError(ValueError):
    """The baseline cannot be used (one line saying why)."""


@dataclass(slots=True)
class Gate:
    state: str
    exit_code: int
    mode: str
    line: str
    baseline: str | None = None
    #: absolute: the requirements (and unattributed tests) that fail the run
    failing: list[dict[str, Any]] = field(default_factory=list)
    #: baseline mode: what got worse (gates), improved, is still failing (never gates), ...
    worse: list[dict[str, Any]] = field(default_factory=list)
    improved: list[dict[str, Any]] = field(default_factory=list)
    still_failing: list[dict[str, Any]] = field(default_factory=list)
    no_longer_judged: list[dict[str, Any]] = field(default_factory=list)
    newly_excused: list[dict[str, Any]] = field(default_factory=list)
    new_findings: list[dict[str, Any]] = field(default_factory=list)
    xpassed: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: --save-baseline: where this run's document was saved
    saved_baseline: str | None = None

    @property
    def passed(self) -> bool:
        return self.state == PASS

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- reading --------------------------------------------------------------------------------------


def load_baseline(path: str | Path) -> dict[str, Any]:
    """Read a baseline ``conformance.json`` (a directory holding one is accepted). Raises
    :class:`BaselineError` with one line when it cannot be read or is not a conformance report."""
    p = Path(path)
    if p.is_dir():
        p = p / "conformance.json"
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(f"--baseline {path}: no such file (write one with --save-baseline PATH)") from None
    except OSError as exc:
        raise BaselineError(f"--baseline {path}: cannot be read: {exc.strerror or exc}") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise BaselineError(f"--baseline {path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    problem = _not_a_report(doc)
    if problem:
        raise BaselineError(f"--baseline {path}: not a conformance.json ({problem})")
    return doc


def _not_a_report(doc: Any) -> str:
    if not isinstance(doc, dict):
        return "the top level is not an object"
    if "suite_version" not in doc:
        return "no suite_version"
    rows = doc.get("requirements")
    if not isinstance(rows, dict):
        return "no requirements table"
    for rid, row in rows.items():
        if not isinstance(row, dict) or not isinstance(row.get("outcome"), str):
            return f"requirement {rid} has no outcome"
    return ""


# --- deciding -------------------------------------------------------------------------------------


def _rows(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(doc.get("requirements") or {})


def _unattributed(doc: Mapping[str, Any]) -> dict[str, str]:
    """Tests that failed, broke or XPASSed although no row with that outcome lists them (a plain
    ``assert`` in a cited test leaves its row ``passed``)."""
    listed = {t for row in _rows(doc).values() if row.get("outcome") in GATING_ABSOLUTE for t in row.get("tests") or ()}
    return {t: o for t, o in (doc.get("test_outcomes") or {}).items() if o in GATING_ABSOLUTE and t not in listed}


def _entry(rid: str, row: Mapping[str, Any] | None, before: str | None = None, after: str | None = None,
           note: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"requirement": rid, "level": (row or {}).get("level", "?")}
    if before is not None:
        out["before"] = before
    if after is not None:
        out["after"] = after
    message = (row or {}).get("message") or ""
    if message and after in FAILING + ("xpassed",):
        out["message"] = message.splitlines()[0][:300]
    if note:
        out["note"] = note
    return out


def _names(entries: list[dict[str, Any]], *, transition: bool) -> str:
    shown = []
    for e in entries[:LINE_NAMES]:
        name = e["requirement"]
        if transition and "before" in e:
            shown.append(f"{name} {e['before']}→{e['after']}")
        elif "after" in e:
            shown.append(f"{name} ({e['after']})")
        else:
            shown.append(name)
    more = len(entries) - LINE_NAMES
    return ", ".join(shown) + (f", … and {more} more" if more > 0 else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def decide(doc: Mapping[str, Any], *, baseline: Mapping[str, Any] | None = None, strict: bool | None = None,
           baseline_path: str | None = None, extra_failures: Iterable[str] = ()) -> Gate:
    """The gate of the run ``doc`` (a ``conformance.json`` document). ``strict`` defaults to the
    document's own ``strict``. ``extra_failures``: test ids that failed outside the requirement
    table (not cited), which fail the run in both modes."""
    strict = bool(doc.get("strict")) if strict is None else strict
    extra = sorted(set(extra_failures))
    if baseline is None:
        return _absolute(doc, extra)
    return _baseline(doc, baseline, strict=strict, path=baseline_path or "given", extra=extra)


def _absolute(doc: Mapping[str, Any], extra: list[str]) -> Gate:
    rows = _rows(doc)
    failing = [_entry(rid, row, after=row["outcome"]) for rid, row in sorted(rows.items())
               if row.get("outcome") in GATING_ABSOLUTE]
    tests = {**_unattributed(doc), **{t: "failed" for t in extra}}
    failing += [{"requirement": t, "level": "test", "after": o, "note": "test outside the requirement table"}
                for t, o in sorted(tests.items())]
    counts: dict[str, int] = {}
    for row in rows.values():
        counts[row.get("outcome", "?")] = counts.get(row.get("outcome", "?"), 0) + 1
    if failing:
        xp = [e for e in failing if e["after"] == "xpassed"]
        other = [e for e in failing if e["after"] != "xpassed"]
        parts = []
        if other:
            parts.append(f"{_plural(len(other), 'requirement')} failing: {_names(other, transition=False)}")
        if xp:
            parts.append(f"{len(xp)} XPASS (known deviation no longer shows; remove the profile entry): "
                         f"{_names(xp, transition=False)}")
        line = "FAIL (absolute): " + "; ".join(parts)
        return Gate(FAIL, EXIT_FAIL, ABSOLUTE, line, failing=failing)
    summary = ", ".join(f"{n} {o}" for o, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return Gate(PASS, EXIT_PASS, ABSOLUTE,
                f"PASS (absolute): no MUST failure, no XPASS, nothing broken ({len(rows)} requirements: "
                f"{summary or 'none'})")


def _norm(outcome: str | None, *, rid: str, intermittent: set[str]) -> str:
    o = outcome or "absent"
    if o == "observed":
        return "passed"  # a MAY/INFO observation is a pass
    if rid in intermittent and o == "xfailed":
        return "passed"  # an intermittent deviation: passed ≡ xfailed
    return o


def _baseline(doc: Mapping[str, Any], base: Mapping[str, Any], *, strict: bool, path: str,
              extra: list[str]) -> Gate:
    gate = Gate(PASS, EXIT_PASS, BASELINE, "", baseline=path)
    for key in ("profile", "model", "suite_version"):
        if base.get(key) != doc.get(key):
            gate.warnings.append(f"the baseline's {key} differs: {base.get(key)!r} (baseline) vs "
                                 f"{doc.get(key)!r} (this run)")
    if bool(base.get("strict")) != strict:
        gate.warnings.append(f"the baseline was recorded with strict={bool(base.get('strict'))}, this run has "
                             f"strict={strict}: SHOULD findings are compared as findings")
    intermittent = set(doc.get("intermittent_deviations") or ()) | set(base.get("intermittent_deviations") or ())
    now, before = _rows(doc), _rows(base)
    for rid in sorted(set(now) | set(before)):
        row, brow = now.get(rid), before.get(rid)
        b_raw, a_raw = (brow or {}).get("outcome", "absent"), (row or {}).get("outcome", "absent")
        b, a = _norm(b_raw, rid=rid, intermittent=intermittent), _norm(a_raw, rid=rid, intermittent=intermittent)
        level = (row or brow or {}).get("level", "?")
        entry = _entry(rid, row or brow, b_raw, a_raw)
        if a in FAILING:
            if rid in ALWAYS_GATING:
                entry["note"] = "the eval gate fails the run whatever the baseline says (it has its own baseline)"
                gate.worse.append(entry)
            elif b in FAILING:
                gate.still_failing.append(entry)
            elif b == "non-strict" and a == "failed" and level == "SHOULD":
                entry["note"] = "the same SHOULD finding, judged under --strict now"
                gate.still_failing.append(entry)
            else:
                gate.worse.append(entry)
        elif a == "xpassed":
            gate.xpassed.append(entry)
            if b not in ("xpassed", "passed"):
                gate.improved.append(entry)
        elif a == "passed":
            if b in FAILING + ("non-strict", "xfailed", "xpassed"):
                if b != "xpassed":
                    gate.improved.append(entry)
        elif a == "non-strict":
            if b in FAILING:
                gate.improved.append(entry)
            elif b != "non-strict":
                gate.new_findings.append(entry)
        elif a == "xfailed":
            if b in ("passed",) + FAILING:
                gate.newly_excused.append(entry)
        if a in NOT_JUDGED and b not in NOT_JUDGED:
            entry = dict(entry, note="no longer judged: a warning, not a failure")
            gate.no_longer_judged.append(entry)
    # tests failing without a failing row: compared by test id
    base_tests = base.get("test_outcomes") or {}
    for test, outcome in sorted({**_unattributed(doc), **{t: "failed" for t in extra}}.items()):
        entry = {"requirement": test, "level": "test", "before": base_tests.get(test, "absent"), "after": outcome,
                 "note": "a test failing without a failing requirement row"}
        if outcome == "xpassed":
            gate.xpassed.append(entry)
        elif entry["before"] in GATING_ABSOLUTE and test not in extra:
            gate.still_failing.append(entry)
        else:
            gate.worse.append(entry)
    if gate.worse:
        gate.state, gate.exit_code = FAIL, EXIT_FAIL
    parts = [f"{_plural(len(gate.worse), 'requirement')} got worse"
             + (f": {_names(gate.worse, transition=True)}" if gate.worse else ""),
             f"{len(gate.improved)} improved", f"{len(gate.still_failing)} still failing (not gating)"]
    if gate.xpassed:
        parts.append(f"{len(gate.xpassed)} XPASS (not gating; remove the profile entry): "
                     f"{_names(gate.xpassed, transition=False)}")
    if gate.no_longer_judged:
        parts.append(f"{len(gate.no_longer_judged)} no longer judged (warning): "
                     f"{_names(gate.no_longer_judged, transition=True)}")
    if gate.newly_excused:
        parts.append(f"{len(gate.newly_excused)} newly excused by the profile (warning)")
    if gate.warnings:
        parts.append(_plural(len(gate.warnings), "warning"))
    gate.line = f"{gate.state} (baseline {path}): " + "; ".join(parts)
    return gate


def reconcile(gate: Gate, pytest_status: int, *, stopped_early: bool = False) -> int:
    """The run's exit code from the gate and pytest's own status, and the gate updated to agree.

    * pytest's interrupted / internal error / usage error / no tests (2, 3, 4, 5) are kept, and so
      is its status when the run stopped early (``-x``, ``--maxfail``): the gate's line says so.
    * baseline mode: the gate's exit code (a pre-existing failure would make pytest exit 1).
    * absolute mode: pytest's status; if the two disagree the stricter wins and the line says why.
    """
    if pytest_status in PYTEST_KEEPS or stopped_early:
        why = "the run stopped early" if stopped_early else f"pytest exit status {pytest_status}"
        if pytest_status != gate.exit_code:
            gate.line += f" [exit {pytest_status} kept: {why}]"
            if pytest_status != EXIT_PASS:
                gate.state = FAIL
            gate.exit_code = pytest_status
        return pytest_status
    if gate.mode == BASELINE:
        return gate.exit_code
    if pytest_status == gate.exit_code:
        return pytest_status
    if gate.exit_code == EXIT_FAIL:  # pytest passed, the gate did not (e.g. a row no pytest test failed for,
        # such as a metric budget judged at the end of the run under --strict)
        gate.line += f" [pytest said {pytest_status}; the gate is stricter: exit 1]"
        return EXIT_FAIL
    gate.state, gate.exit_code = FAIL, pytest_status
    gate.line = gate.line.replace("PASS (absolute)", "FAIL (absolute)", 1) + (
        f" [but pytest exit status {pytest_status}: a failure outside the requirement table; the stricter wins]")
    return pytest_status


def markdown(gate: Mapping[str, Any]) -> list[str]:
    """The gate's lines for ``summary.md`` (under the headline): the line, warnings, the lists."""
    lines = [f"- gate: {gate['line']}"]
    lines += [f"- warning: {w}" for w in gate.get("warnings") or ()]
    lines.append("")
    sections = (("worse", "Got worse than the baseline (gating)"), ("improved", "Improved"),
                ("still_failing", "Still failing (in the baseline too; not gating)"),
                ("xpassed", "XPASS: known deviation no longer shows (not gating with a baseline; remove the entry)"),
                ("no_longer_judged", "No longer judged (warning, not a failure)"),
                ("newly_excused", "Newly excused by a profile deviation (warning)"),
                ("new_findings", "New SHOULD findings (not gating without --strict)"))
    if gate.get("mode") != BASELINE:
        return lines
    for key, title in sections:
        entries = gate.get(key) or []
        if not entries:
            continue
        lines += [f"## {title}", ""]
        for e in entries:
            note = f" — {e['note']}" if e.get("note") else ""
            lines.append(f"- {e['requirement']} [{e.get('level', '?')}] {e.get('before', '?')} → "
                         f"{e.get('after', '?')}{note}")
        lines.append("")
    return lines


def baseline_path(path: str | Path) -> Path:
    """Where ``--save-baseline PATH`` writes: PATH, or PATH/conformance.json for a directory."""
    p = Path(path)
    return p / "conformance.json" if p.is_dir() or str(path).endswith(("/", "\\")) else p


def save_baseline(doc: Mapping[str, Any], path: str | Path) -> Path:
    """``--save-baseline PATH``: the run's whole ``conformance.json`` (gate included) to PATH (a
    directory, existing or ending in ``/``, gets ``conformance.json`` inside); parents are created."""
    from conformance.harness.redaction import redact  # noqa: PLC0415 - keeps the module light

    p = baseline_path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(redact(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n", encoding="utf-8")
    return p
