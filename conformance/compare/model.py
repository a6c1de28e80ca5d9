"""The comparison model: load runs (``conformance.json`` and what lies next to it), build the
requirement × run matrix, the diff column, the Allure links and the timing table. Pure: no
rendering here (``markdown.py`` and ``html.py`` render it)."""

from __future__ import annotations

import hashlib
import json
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from conformance.harness.outcomes import OUTCOMES, family_of
from conformance.harness.redaction import redact_url

#: Row outcomes as the matrix names them (``absent``: the run has no row for the requirement).
ABSENT = "absent"
#: The outcomes of a test that make it the one a cell links to (before a passing or skipped one).
FAILING = ("failed", "broken", "xpassed", "non-strict", "xfailed", "blocked")
#: A known deviation declared intermittent shows on some runs and not on others: passed and xfailed
#: are one verdict for it (the same rule as tools/compare_runs.py).
INTERMITTENT = "passed/xfailed (intermittent deviation)"
INTERMITTENT_SAME = {"passed": INTERMITTENT, "xfailed": INTERMITTENT}
#: The timing table: (metric key in ``metrics.apis.<api>``, label, digits).
TIMING_METRICS = (("ttft_ms", "TTFT ms", 0), ("tpot_ms", "TPOT ms", 1), ("e2e_ms", "E2E ms", 0),
                  ("output_tokens_per_s", "output tok/s", 1))


class CompareError(Exception):
    """A run cannot be read (the CLI exits 2 with this one line)."""


# --- loading -------------------------------------------------------------------------------------


def report_path(path: str | Path) -> Path:
    """The ``conformance.json`` of a RUN_DIR (a reports directory), or ``path`` itself when it names
    the file."""
    path = Path(path)
    if path.is_dir():
        candidate = path / "conformance.json"
        if not candidate.is_file():
            raise CompareError(f"{path}: no conformance.json in this directory (give a run's reports directory "
                               "or the conformance.json itself)")
        return candidate
    if not path.exists():
        raise CompareError(f"{path}: no such file or directory")
    return path


def load_doc(path: str | Path) -> dict[str, Any]:
    """A parsed ``conformance.json`` (a mapping with a ``requirements`` mapping), or
    :class:`CompareError` saying why not."""
    file = report_path(path)
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CompareError(f"{file}: cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise CompareError(f"{file}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("requirements"), dict):
        raise CompareError(f"{file}: not a conformance.json (no 'requirements' mapping)")
    for rid, row in doc["requirements"].items():
        if not isinstance(row, dict) or not isinstance(row.get("outcome"), str):
            raise CompareError(f"{file}: requirement {rid!r} has no outcome")
    return doc


def allure_id(uuid: str) -> str:
    """The id under which Allure 3 stores a result (``md5(uuid)``, ``@allurereport/core``
    ``testResultRawToState``): its file is ``data/test-results/<id>.json`` and the Awesome report
    opens it at ``index.html#/<id>``."""
    return hashlib.md5(uuid.encode("utf-8")).hexdigest()  # noqa: S324 - an id, not security


def nodeid_of_result(result: Mapping[str, Any]) -> str | None:
    """The pytest node id of an allure-pytest ``*-result.json``: ``titlePath`` holds the path parts
    (then any classes) and ``name`` the test name with its parameter id."""
    parts = [str(p) for p in result.get("titlePath") or []]
    name = result.get("name")
    if not parts or not isinstance(name, str):
        return None
    for i, part in enumerate(parts):
        if part.endswith(".py"):
            return "::".join(["/".join(parts[: i + 1]), *parts[i + 1:], name])
    return None


@dataclass(slots=True)
class AllureIndex:
    """Where a run's Allure HTML report is and which test opens at which id."""

    report: Path  # the index.html the links point to
    single_file: bool
    ids: dict[str, str] = field(default_factory=dict)  # nodeid -> Allure test result id

    def target(self, nodeid: str) -> str | None:
        rid = self.ids.get(nodeid)
        return f"{self.report}#/{rid}" if rid else None


def allure_index(run_dir: Path) -> AllureIndex | None:
    """The run's Allure report (``allure-html-single/index.html`` first, it opens from file://;
    else ``allure-html/index.html``) with the node id → result id map, when both the report and
    its ``allure-results`` exist. Only ids the report really holds are kept."""
    results = run_dir / "allure-results"
    single = run_dir / "allure-html-single" / "index.html"
    multi = run_dir / "allure-html" / "index.html"
    if not results.is_dir() or not (single.is_file() or multi.is_file()):
        return None
    # the ids the linked report really holds
    if single.is_file():
        from conformance.report.allure import single_file_data  # noqa: PLC0415

        try:
            present = {Path(n).stem for n in single_file_data(single) if n.startswith("data/test-results/")}
        except Exception:  # noqa: BLE001 - an unreadable report gets no links, never a crash
            present = set()
    else:
        present = {p.stem for p in (multi.parent / "data" / "test-results").glob("*.json")}
    latest: dict[str, tuple[int, str]] = {}
    for path in results.glob("*-result.json"):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        nodeid, uuid = nodeid_of_result(result), result.get("uuid")
        if not nodeid or not isinstance(uuid, str):
            continue
        rid = allure_id(uuid)
        if rid not in present:
            continue
        stop = int(result.get("stop") or 0)
        if nodeid not in latest or stop >= latest[nodeid][0]:  # a rerun: the last attempt
            latest[nodeid] = (stop, rid)
    return AllureIndex(report=single if single.is_file() else multi, single_file=single.is_file(),
                       ids={k: v for k, (_, v) in latest.items()})


@dataclass(slots=True)
class Run:
    name: str
    source: Path  # the conformance.json
    doc: dict[str, Any]
    allure: AllureIndex | None = None
    _reasons: dict[str, str] | None = None

    @property
    def directory(self) -> Path:
        return self.source.parent

    @property
    def rows(self) -> dict[str, dict[str, Any]]:
        return self.doc["requirements"]

    @property
    def intermittent(self) -> set[str]:
        return set(self.doc.get("intermittent_deviations") or ())

    def label(self) -> str:
        return " · ".join(str(self.doc.get(k) or "?") for k in ("endpoint", "profile", "model"))

    def profile_reasons(self) -> dict[str, str]:
        """Known-deviation reasons of the run's profile as the shipped profile states them now: the
        tooltip's fallback for runs written before the rows carried the reason. Empty when the
        profile is not a shipped one."""
        if self._reasons is None:
            self._reasons = {}
            name = str(self.doc.get("profile") or "")
            try:
                from conformance.harness import profiles  # noqa: PLC0415

                if name in profiles.available():
                    for dev in profiles.load(name).deviations:
                        self._reasons.setdefault(dev.requirement, f"{dev.reason} (shipped profile {name})")
            except Exception:  # noqa: BLE001 - a tooltip, never a crash
                pass
        return self._reasons


def load_run(path: str | Path, name: str | None = None) -> Run:
    source = report_path(path)
    doc = load_doc(source)
    return Run(name=name or "", source=source, doc=doc, allure=allure_index(source.parent))


def default_names(runs: Sequence[Run]) -> list[str]:
    """Short unique names from the documents: the profile; the profile and model; endpoint,
    profile and model; then the run directory's name is added (e.g. stability runs ``1-idle``);
    finally a number."""
    def fields(run: Run, keys: Iterable[str]) -> str:
        return " · ".join(str(run.doc.get(k) or "?") for k in keys)

    for keys in (("profile",), ("profile", "model"), ("endpoint", "profile", "model")):
        names = [fields(r, keys) for r in runs]
        if len(set(names)) == len(names):
            return names
    names = [f"{fields(r, ('profile',))} ({r.directory.name or r.source.name})" for r in runs]
    if len(set(names)) == len(names):
        return names
    return [f"{n} #{i + 1}" for i, n in enumerate(names)]


def load_runs(paths: Sequence[str | Path], names: Sequence[str] = ()) -> list[Run]:
    if len(names) > len(paths):
        raise CompareError(f"{len(names)} --name values for {len(paths)} runs")
    runs = [load_run(p) for p in paths]
    defaults = default_names(runs)
    for i, run in enumerate(runs):
        run.name = names[i] if i < len(names) and names[i] else defaults[i]
    if len({r.name for r in runs}) != len(runs):
        raise CompareError("the run names are not unique: " + ", ".join(r.name for r in runs))
    return runs


# --- the matrix ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Cell:
    outcome: str  # a row outcome or ABSENT
    message: str = ""
    deviation: str = ""  # the known deviation's reason (xfailed rows)
    test: str = ""  # the test a link opens
    link: str | None = None  # relative to the output directory
    tests: int = 0
    median_duration_s: float | None = None


@dataclass(slots=True)
class Row:
    rid: str
    family: str
    level: str
    title: str
    cells: list[Cell]
    differs: bool
    diff: str  # "same", or what differs and in which runs
    tests_differ: list[str] = field(default_factory=list)  # same row outcome, a test's outcome moved


@dataclass(slots=True)
class Matrix:
    runs: list[Run]
    rows: list[Row]
    out_dir: Path

    @property
    def differing(self) -> list[Row]:
        return [r for r in self.rows if r.differs]

    def families(self) -> list[tuple[str, list[Row]]]:
        groups: dict[str, list[Row]] = {}
        for row in self.rows:
            groups.setdefault(row.family, []).append(row)
        return list(groups.items())


def normalise(outcome: str, rid: str, intermittent: set[str]) -> str:
    return INTERMITTENT_SAME.get(outcome, outcome) if rid in intermittent else outcome


def _link_test(row: Mapping[str, Any], test_outcomes: Mapping[str, str]) -> str:
    """The test a cell links to: the first whose outcome is the row's, else the first failing one,
    else the first."""
    tests = list(row.get("tests") or []) or sorted(row.get("test_outcomes") or {})
    if not tests:
        return ""
    for t in tests:
        if test_outcomes.get(t) == row["outcome"]:
            return t
    for t in tests:
        if test_outcomes.get(t) in FAILING:
            return t
    return tests[0]


def relative_link(target: str, out_dir: Path) -> str:
    """``target`` (a path with an optional ``#fragment``) relative to ``out_dir``, URL-quoted."""
    path, _, fragment = target.partition("#")
    rel = os.path.relpath(Path(path).resolve(), out_dir.resolve()).replace(os.sep, "/")
    return quote(rel) + (f"#{fragment}" if fragment else "")


def _deviation_reason(row: Mapping[str, Any]) -> str:
    reasons = [v.get("deviation") for v in row.get("violations") or [] if v.get("kind") == "known-deviation"]
    return "; ".join(dict.fromkeys(r for r in reasons if r))


def _cell(run: Run, rid: str, out_dir: Path) -> Cell:
    row = run.rows.get(rid)
    if row is None:
        return Cell(ABSENT)
    all_outcomes = dict(run.doc.get("test_outcomes") or {})
    all_outcomes.update(row.get("test_outcomes") or {})
    test = _link_test(row, all_outcomes)
    link = None
    if test and run.allure is not None:
        target = run.allure.target(test)
        link = relative_link(target, out_dir) if target else None
    durations = run.doc.get("test_durations_s") or {}
    cited = [durations[t] for t in (row.get("test_outcomes") or {}) if isinstance(durations.get(t), (int, float))]
    reason = _deviation_reason(row)
    if not reason and row["outcome"] == "xfailed":
        reason = run.profile_reasons().get(rid, "")
    return Cell(outcome=row["outcome"], message=str(row.get("message") or ""), deviation=reason,
                test=test, link=link, tests=len(row.get("test_outcomes") or {}),
                median_duration_s=statistics.median(cited) if cited else None)


def describe_diff(values: Sequence[str], names: Sequence[str]) -> str:
    """``same``, or each distinct (normalised) outcome with the runs that have it."""
    if len(set(values)) <= 1:
        return "same"
    groups: dict[str, list[str]] = {}
    for value, name in zip(values, names):
        groups.setdefault(value, []).append(name)
    return "differs: " + "; ".join(f"{v} ({', '.join(ns)})" for v, ns in groups.items())


def _tests_differ(runs: Sequence[Run], rid: str) -> list[str]:
    """Tests citing ``rid`` whose outcome differs between the runs that have the row."""
    present = [r for r in runs if rid in r.rows]
    nodeids = sorted(set().union(*(r.rows[rid].get("test_outcomes") or {} for r in present))) if present else []
    moved = []
    for t in nodeids:
        seen = {normalise((r.rows[rid].get("test_outcomes") or {}).get(t, ABSENT), rid, r.intermittent)
                for r in present}
        if len(seen) > 1:
            moved.append(t)
    return moved


def build_matrix(runs: Sequence[Run], out_dir: Path, catalog: Any = None) -> Matrix:
    """Rows: every requirement of any run, grouped by family (catalog order within the prefix),
    with level and title from the catalog (the document's level when the catalog lacks it)."""
    if catalog is None:
        from conformance.harness.requirements import load_catalog  # noqa: PLC0415

        catalog = load_catalog()
    ids = set().union(*(r.rows for r in runs)) if runs else set()
    names = [r.name for r in runs]
    rows = []
    for rid in sorted(ids, key=lambda x: (family_of(x), x)):
        req = catalog.requirements.get(rid) if hasattr(catalog, "requirements") else None
        level = req.level.value if req is not None else next(
            (str(r.rows[rid].get("level")) for r in runs if rid in r.rows and r.rows[rid].get("level")), "?")
        cells = [_cell(r, rid, out_dir) for r in runs]
        values = [normalise(c.outcome, rid, r.intermittent) for c, r in zip(cells, runs)]
        moved = _tests_differ(runs, rid)
        differs = len(set(values)) > 1 or bool(moved)
        diff = describe_diff(values, names)
        if diff == "same" and moved:
            diff = f"tests differ ({len(moved)}): " + ", ".join(moved[:3]) + (" …" if len(moved) > 3 else "")
        rows.append(Row(rid=rid, family=family_of(rid), level=level, title=req.title if req is not None else "",
                        cells=cells, differs=differs, diff=diff, tests_differ=moved))
    return Matrix(runs=list(runs), rows=rows, out_dir=out_dir)


# --- headers and timing ---------------------------------------------------------------------------


def totals_line(doc: Mapping[str, Any]) -> str:
    totals = doc.get("totals") or {}
    if not totals:
        counts: dict[str, int] = {}
        for row in doc["requirements"].values():
            counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
        totals = {**counts, "requirements": len(doc["requirements"])}
    parts = [f"{o} {totals[o]}" for o in OUTCOMES if totals.get(o)]
    tests = f", {totals['tests']} tests" if totals.get("tests") is not None else ""
    return f"{totals.get('requirements', len(doc['requirements']))} requirements ({', '.join(parts) or 'none'}){tests}"


def gate_line(doc: Mapping[str, Any]) -> str:
    """The run's gate: its ``gate`` block's line when the run recorded one; else the absolute rule
    (any failed, broken or xpassed requirement or test fails), marked as recomputed here."""
    gate = doc.get("gate")
    if isinstance(gate, Mapping) and (gate.get("line") or gate.get("state")):
        return str(gate.get("line") or gate.get("state"))
    bad = [rid for rid, row in doc["requirements"].items() if row["outcome"] in ("failed", "broken", "xpassed")]
    by_test = (doc.get("totals") or {}).get("tests_by_outcome") or {}
    state = "FAIL" if bad or any(by_test.get(o) for o in ("failed", "broken", "xpassed")) else "PASS"
    return f"{state} (no gate block in this run; recomputed: failed, broken or xpassed fail)"


def header(run: Run) -> list[tuple[str, str]]:
    doc = run.doc
    rows = [("endpoint", redact_url(str(doc.get("endpoint") or ""))), ("model", str(doc.get("model") or "")),
            ("profile", str(doc.get("profile") or "") + (" (strict)" if doc.get("strict") else "")),
            ("suite", str(doc.get("suite_version") or "")), ("generated", str(doc.get("generated_at") or "")),
            ("gate", gate_line(doc)), ("totals", totals_line(doc))]
    if doc.get("server"):
        rows.insert(3, ("server", str(doc["server"])))
    return rows


def timing_table(runs: Sequence[Run]) -> list[tuple[str, str, list[str]]]:
    """(api, metric label, one ``p50 / p90 (n)`` cell per run) for every API and metric any run
    measured; empty when no run has a ``metrics`` block. A missing statistic is ``–``, never 0."""
    blocks = [r.doc.get("metrics") if isinstance(r.doc.get("metrics"), Mapping) else {} for r in runs]
    apis: list[str] = []
    for block in blocks:
        for api in (block.get("apis") or {}):
            if api not in apis:
                apis.append(api)
    if any(b.get("run") for b in blocks):
        apis.append("run")
    out = []
    for api in apis:
        for key, label, digits in TIMING_METRICS:
            cells = []
            for block in blocks:
                group = block.get("run") if api == "run" else (block.get("apis") or {}).get(api)
                stats = (group or {}).get(key) if isinstance(group, Mapping) else None
                cells.append(_p50_p90(stats, digits))
            if any(c != "–" for c in cells):
                out.append((api, label, cells))
    return out


def _fmt(value: Any, digits: int) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "–"
    return f"{value:.{digits}f}"


def _p50_p90(stats: Any, digits: int) -> str:
    if not isinstance(stats, Mapping) or not stats.get("n"):
        return "–"
    return f"{_fmt(stats.get('p50'), digits)} / {_fmt(stats.get('p90'), digits)} ({stats['n']})"
