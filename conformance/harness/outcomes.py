"""The one module that decides outcomes: level → outcome, deviation matching, strictness and
attribution. The pytest plugin and the protocol facades both go through it; nothing else matches
deviations or reads xfail reasons.

Vocabulary:

* A **violation** is one failed requirement, seen in one test: the requirement it violates (never
  the requirement the test happens to cite), its level, its message and its *shapes* (signatures a
  deviation can name precisely, e.g. ``required $: 'sequence_number' is a required property``).
* Each violation is **judged** into a *kind*:
  ``known-deviation`` (the profile names this requirement, for this case, and every shape of the
  violation), ``failed`` (MUST, or SHOULD under ``--strict``), ``non-strict`` (SHOULD) or
  ``observation`` (MAY/INFO).
* A test's **verdict** follows from all the violations judged in it: any ``failed`` one fails the
  test (and the message says which requirements were violated). Otherwise a test whose cited
  requirement has a deviation for its case is ``xfailed`` when the deviation showed, ``xpassed``
  (fails the run: update the profile) when it did not, or ``passed`` with a note when the
  deviation is declared *intermittent* (it depends on what the model generates, not on the
  request, so it cannot be required to show on every run).
* The **requirement table** is built from violations, each against the requirement it violates:
  one failing row per violated requirement, listing every test that saw it. A test that was stopped
  by another requirement's violation before its own check ran leaves its own requirement
  ``blocked`` (not judged), never "failed".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.harness.failures import ConformanceFailure, FailureGroup
from conformance.harness.redaction import redact
from conformance.harness.requirements import Catalog, Level

# Kinds of judged violations.
FAILED, NON_STRICT, KNOWN, OBSERVATION = "failed", "non-strict", "known-deviation", "observation"
KINDS = (FAILED, NON_STRICT, KNOWN, OBSERVATION)

# Outcomes of tests and of requirement rows (``blocked`` and ``observed`` exist for rows only).
OUTCOMES = ("passed", "failed", "broken", "skipped", "xfailed", "xpassed", "non-strict", "blocked", "observed")
# When several tests or violations meet in one row, the row shows the most severe.
SEVERITY_ORDER = ("failed", "broken", "xpassed", "non-strict", "xfailed", "blocked", "observed", "passed", "skipped")
_KIND_TO_ROW = {FAILED: "failed", NON_STRICT: "non-strict", KNOWN: "xfailed", OBSERVATION: "observed"}
_INDEX = re.compile(r"\[\d+\]")


class DeviationFixed(AssertionError):
    """A strict known deviation that did not show: the endpoint now meets the requirement (XPASS).
    The profile entry must go."""


class ViolationsFound(AssertionError):
    """The test saw one or more unexcused violations (the message lists each with its requirement)."""


@dataclass(frozen=True, slots=True)
class Violation:
    requirement: str
    level: Level
    message: str
    shapes: tuple[str, ...]
    source: str = "check"  # "check" (raised in the test) or "passive" (a facade's passive check)

    def key(self) -> tuple[str, str]:
        return (self.requirement, self.message)


@dataclass(frozen=True, slots=True)
class Judged:
    violation: Violation
    kind: str
    deviation: Any = None  # the profiles.Deviation that excused it

    @property
    def requirement(self) -> str:
        return self.violation.requirement

    def as_dict(self, test: str) -> dict[str, Any]:
        message = self.violation.message
        if self.kind == FAILED and self.violation.level is Level.SHOULD:
            message = f"[SHOULD] {message}"  # failed only because of --strict
        out = {"test": test, "requirement": self.requirement, "level": self.violation.level.value,
               "kind": self.kind, "source": self.violation.source,
               "message": redact(message)[:2000],
               # what a deviation's ``shapes`` patterns are matched against (to write one precisely)
               "shapes": [redact(x)[:300] for x in self.violation.shapes[:50]]}
        if self.deviation is not None:
            out["deviation"] = self.deviation.reason
        return out


def shape_of_schema_error(detail: dict[str, Any]) -> str:
    """``<keyword> <path with indices as [*]>: <message>`` for one schema error."""
    path = _INDEX.sub("[*]", str(detail.get("path", "$")))
    return f"{detail.get('keyword', '?')} {path}: {detail.get('message', '')}"


def shapes_of(exc: ConformanceFailure) -> tuple[str, ...]:
    """What a deviation's ``shapes`` patterns are matched against: one signature per schema error
    of a schema violation; the first line of the message otherwise."""
    details = exc.details
    if exc.prefix == "SchemaViolation" and isinstance(details, list) and details:
        return tuple(shape_of_schema_error(d) for d in details if isinstance(d, dict))
    return (exc.detail_message.splitlines()[0] if exc.detail_message else str(exc).splitlines()[0],)


def violations_of(exc: ConformanceFailure, *, default_requirement: str, catalog: Catalog,
                  source: str = "check") -> list[Violation]:
    """Flatten a failure (groups included) into violations, each against its own requirement."""
    members: Sequence[ConformanceFailure] = exc.failures if isinstance(exc, FailureGroup) else [exc]
    group_rid = exc.requirement if isinstance(exc, FailureGroup) else None
    out = []
    for member in members:
        rid = member.requirement or group_rid or default_requirement
        level = catalog[rid].level if rid in catalog else Level.MUST
        out.append(Violation(rid, level, str(member), shapes_of(member), source))
    return out


def shape_matches(shape: str, pattern: str) -> bool:
    """``*`` in a pattern matches any run of characters; everything else is literal (so the
    ``[*]`` of a schema path or the ``[0]`` of a message need no escaping)."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, shape, flags=re.DOTALL) is not None


def deviation_excuses(deviation: Any, shapes: Iterable[str]) -> bool:
    """A deviation without ``shapes`` excuses any violation of its requirement (in its cases); with
    ``shapes`` it excuses a violation only when every one of the violation's shapes matches one of
    its patterns (:func:`shape_matches`)."""
    patterns = tuple(getattr(deviation, "shapes", ()) or ())
    if not patterns:
        return True
    return all(any(shape_matches(s, p) for p in patterns) for s in shapes)


def judge(violation: Violation, *, profile: Any, case: str | None, strict: bool) -> Judged:
    for dev in getattr(profile, "deviations", ()):
        if (dev.requirement == violation.requirement and dev.applies_to(case)
                and deviation_excuses(dev, violation.shapes)):
            return Judged(violation, KNOWN, dev)
    if violation.level is Level.MUST or (strict and violation.level is Level.SHOULD):
        return Judged(violation, FAILED)
    return Judged(violation, NON_STRICT if violation.level is Level.SHOULD else OBSERVATION)


@dataclass(slots=True)
class TestJudgement:
    """Everything judged in one test, and the test's verdict."""

    nodeid: str
    cited: str
    case: str | None
    judged: list[Judged] = field(default_factory=list)
    _seen: set[tuple[str, str]] = field(default_factory=set)

    def add(self, judged: Judged) -> bool:
        """Add once (a passive check and the test's own check may report the same violation)."""
        key = judged.violation.key()
        if key in self._seen:
            return False
        self._seen.add(key)
        self.judged.append(judged)
        return True

    def of_kind(self, *kinds: str) -> list[Judged]:
        return [j for j in self.judged if j.kind in kinds]

    def own(self, *kinds: str) -> list[Judged]:
        return [j for j in self.judged if j.requirement == self.cited and (not kinds or j.kind in kinds)]


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: str  # passed | failed | xfailed | xpassed | non-strict
    message: str = ""
    own_judged: bool = True  # False when the test stopped before its own check could run


def decide(tj: TestJudgement, *, profile: Any, aborted_by_other: bool) -> Verdict:
    """The test's verdict from what was judged in it. ``aborted_by_other``: the test body stopped on
    a violation of another requirement, so its own check never ran."""
    gating = tj.of_kind(FAILED)
    excused = tj.of_kind(KNOWN)
    if gating:
        lines = [f"{len(gating)} unexcused violation(s) in this test "
                 f"(requirements: {', '.join(sorted({j.requirement for j in gating}))}):"]
        lines += [f"  - [{j.violation.level.value}] {j.violation.message}" for j in gating]
        if excused:
            lines.append("also seen, excused by the profile's known deviations: "
                         + ", ".join(sorted({j.requirement for j in excused})))
        return Verdict("failed", "\n".join(lines), own_judged=not aborted_by_other or bool(tj.own(FAILED)))
    own_dev = profile.deviation(tj.cited, tj.case) if profile is not None else None
    if aborted_by_other:
        blockers = sorted({j.requirement for j in excused})
        return Verdict("xfailed", f"not judged: the test stopped on known deviation(s) {', '.join(blockers)} "
                                  f"before {tj.cited} could be checked", own_judged=False)
    if own_dev is not None:
        if tj.own(KNOWN):
            return Verdict("xfailed", own_dev.xfail_reason)
        if getattr(own_dev, "intermittent", False):
            return Verdict("passed", f"known intermittent deviation {tj.cited} did not show in this run")
        return Verdict("xpassed", f"[XPASS(strict)] {own_dev.xfail_reason}: the deviation did not show; "
                                  "the endpoint now meets the requirement, so remove the profile entry")
    soft = tj.own(NON_STRICT)
    if soft:
        return Verdict("non-strict", soft[0].violation.message)
    return Verdict("passed")


# --- requirement table -------------------------------------------------------------------------------


@dataclass(slots=True)
class TestRecord:
    nodeid: str
    requirement: str
    outcome: str = "passed"
    message: str = ""
    duration_s: float = 0.0
    own_judged: bool = True
    violations: list[dict[str, Any]] = field(default_factory=list)
    #: requests and tokens the test caused, per API: api -> {"requests", "generations", "prompt_tokens",
    #: "output_tokens"} (conformance.harness.traffic; JSON-able, survives asdict -> TestRecord(**d))
    traffic: dict[str, dict[str, int]] = field(default_factory=dict)


def _worst(outcomes: Iterable[str]) -> str:
    return min(outcomes, key=SEVERITY_ORDER.index)


def requirement_rows(records: Iterable[TestRecord], levels: dict[str, str]) -> dict[str, dict[str, Any]]:
    """One row per requirement, from the violations recorded against it (in any test) and the tests
    that cite it. A row never fails for a violation of another requirement."""
    records = list(records)
    citing: dict[str, list[TestRecord]] = {}
    seen: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        citing.setdefault(rec.requirement, []).append(rec)
        for v in rec.violations:
            seen.setdefault(v["requirement"], []).append(v)
    rows: dict[str, dict[str, Any]] = {}
    for rid in sorted(set(citing) | set(seen)):
        contributions: list[tuple[str, str, str]] = []  # (outcome, test, message)
        for v in seen.get(rid, []):
            contributions.append((_KIND_TO_ROW[v["kind"]], v["test"], v["message"]))
        for rec in citing.get(rid, []):
            own = [v for v in rec.violations if v["requirement"] == rid]
            if rec.outcome in ("skipped", "broken", "xpassed"):
                contributions.append((rec.outcome, rec.nodeid, rec.message))
            elif not rec.own_judged:
                contributions.append(("blocked", rec.nodeid, rec.message))
            elif not own:
                contributions.append(("passed", rec.nodeid, rec.message))
        outcome = _worst(o for o, _, _ in contributions) if contributions else "passed"
        tests = sorted({t for _, t, _ in contributions})
        messages = [f"{t}: {m}" for o, t, m in contributions if o == outcome and m]
        rows[rid] = {
            "level": levels.get(rid, "?"),
            "outcome": outcome,
            "tests": tests,
            "test_outcomes": {r.nodeid: r.outcome for r in sorted(citing.get(rid, []), key=lambda r: r.nodeid)},
            "message": redact("\n".join(dict.fromkeys(messages))[:4000]),
            "violations": [{k: v[k] for k in ("test", "kind", "message", "shapes", "deviation") if k in v}
                           for v in seen.get(rid, [])],
        }
    return rows


def family_of(rid: str) -> str:
    """``OAI-TOOLS-004`` → ``OAI-TOOLS``."""
    return rid.rsplit("-", 1)[0]


def coverage(records: Iterable[TestRecord]) -> dict[str, dict[str, Any]]:
    """Per requirement family: tests run, judged and skipped, so a family that mostly skipped never
    reads as a pass. ``mostly_skipped`` when more than half of its tests were not judged."""
    fam: dict[str, dict[str, Any]] = {}
    for rec in records:
        entry = fam.setdefault(family_of(rec.requirement), {"tests": 0, "skipped": 0, "judged": 0, "reasons": {}})
        entry["tests"] += 1
        if rec.outcome == "skipped":
            entry["skipped"] += 1
            reason = rec.message.splitlines()[0][:120] if rec.message else "skipped"
            entry["reasons"][reason] = entry["reasons"].get(reason, 0) + 1
        else:
            entry["judged"] += 1
    for entry in fam.values():
        entry["mostly_skipped"] = entry["skipped"] * 2 > entry["tests"]
    return dict(sorted(fam.items()))


def observations(records: Iterable[TestRecord]) -> list[dict[str, Any]]:
    """MAY/INFO observations and SHOULD findings, for the reports (never gating)."""
    return [v for rec in records for v in rec.violations if v["kind"] in (OBSERVATION, NON_STRICT)]
