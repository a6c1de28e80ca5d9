"""Allure 3 HTML from ``allure-results``, offline, with the generator pinned in ``tools/allure``.

What it does, in order (``generate``):

1. finds the pinned generator (``tools/allure/node_modules/.bin/allure``, or ``$LLMCONF_ALLURE``) and
   checks the installed version is the pinned one; otherwise :class:`AllureError` names the one
   command that installs it (:data:`INSTALL_COMMAND`);
2. stages a copy of the results (attachments hard-linked) in which a **known deviation** is made
   visible: allure-pytest stores an xfail as *skipped*, and Allure's success rate ignores skipped
   results, so a run with 46 known deviations read "100 %". In the staged copy a known deviation
   is *failed* (by default; ``deviations="skipped"`` keeps the raw status), its message starts with
   :data:`KNOWN_PREFIX`, it carries the tag ``known-deviation`` and the label
   ``outcome=known-deviation``, and the category "Known deviation (excused by the profile)" takes it
   before any other. The raw results, JUnit and ``conformance.json`` keep the xfail. A result
   already shown that way is recognised (staging a staged folder changes nothing);
3. writes a small config that imports the repository's ``allurerc.mjs`` (categories, grouping) and
   sets the output, the report name (which states the gate and the number of known deviations) and
   the history file. The gate is the run's own (the ``gate`` block of the ``conformance.json``
   beside the results), else :func:`conformance.harness.gating.decide` over the counts: one rule;
4. renders into an emptied output folder (Allure 3 does not clean it), keeping the previous
   report's ``history.jsonl``: a report folder that is kept between runs (a CI cache or artifact)
   gets trends;
5. removes the Google Analytics tag Allure 3 always embeds (the report is often opened offline).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance.harness import gating
from conformance.harness.metrics_report import is_synthetic

REPO_ROOT = Path(__file__).resolve().parents[2]
ALLURE_DIR = REPO_ROOT / "tools" / "allure"
BASE_CONFIG = REPO_ROOT / "allurerc.mjs"
INSTALL_COMMAND = "npm ci --prefix tools/allure --no-audit --no-fund"
DEFAULT_RESULTS = Path("reports/allure-results")
DEFAULT_OUT = Path("reports/allure-html")
DEFAULT_OUT_SINGLE = Path("reports/allure-html-single")
REPORT_NAME = "LLM endpoint conformance"
HISTORY_FILE = "history.jsonl"
SUMMARY_FILE = "llmconf-report.json"
KNOWN_PREFIX = "[KNOWN DEVIATION] "
KNOWN_TAG = "known-deviation"
DEVIATION_MODES = ("failed", "skipped")
#: how the plugin's xfail verdicts for known deviations read in allure-pytest's message
#: (conformance.harness.outcomes.decide, profiles.Deviation.xfail_reason)
_KNOWN_XFAIL = re.compile(r"^XFAIL (known deviation |not judged: the test stopped on known deviation)")
_XPASS = re.compile(r"\[XPASS\(strict\)\]")
_ANALYTICS = re.compile(
    r'\s*<script async src="https://www\.googletagmanager\.com/gtag/js\?id=[^"]*"></script>'
    r"\s*<script>\s*window\.dataLayer.*?</script>", re.DOTALL)


_SINGLE_FILE_DATA = re.compile(r'd\("([^"]+)","([A-Za-z0-9+/=]*)"\)')


class AllureError(Exception):
    """A problem the user must fix (not installed, no results, a refused output folder, a failed
    generation); the message says what to do."""


# --- the pinned generator --------------------------------------------------------------------------


def pinned_version(allure_dir: Path = ALLURE_DIR) -> str:
    """The version ``tools/allure/package.json`` pins (``dependencies.allure``)."""
    try:
        pkg = json.loads((allure_dir / "package.json").read_text(encoding="utf-8"))
        return str(pkg["dependencies"]["allure"])
    except (OSError, ValueError, KeyError) as exc:
        raise AllureError(f"cannot read the Allure pin in {allure_dir / 'package.json'}: {exc}") from None


def installed_version(allure_dir: Path = ALLURE_DIR) -> str | None:
    try:
        pkg = json.loads((allure_dir / "node_modules" / "allure" / "package.json").read_text(encoding="utf-8"))
        return str(pkg.get("version"))
    except (OSError, ValueError):
        return None


def find_allure(allure_dir: Path = ALLURE_DIR, env: Mapping[str, str] | None = None) -> list[str]:
    """The command that runs the pinned Allure 3 CLI. ``$LLMCONF_ALLURE`` names another executable
    (taken as is). Raises :class:`AllureError` saying the install command when it is missing."""
    env = os.environ if env is None else env
    explicit = env.get("LLMCONF_ALLURE")
    if explicit:
        if not (shutil.which(explicit) or Path(explicit).is_file()):
            raise AllureError(f"$LLMCONF_ALLURE={explicit} does not exist")
        return [explicit]
    pin = pinned_version(allure_dir)
    cli = allure_dir / "node_modules" / ".bin" / "allure"
    if shutil.which("node", path=env.get("PATH")) is None:
        raise AllureError(f"Allure {pin} needs Node.js >= 20 on PATH (e.g. `apt-get install nodejs npm`); "
                          f"then install it once with `{INSTALL_COMMAND}`")
    if not cli.exists():
        raise AllureError(f"Allure {pin} (the HTML report generator) is not installed: run `{INSTALL_COMMAND}` "
                          "from the repository root (once; the report is then generated offline)")
    have = installed_version(allure_dir)
    if have != pin:
        raise AllureError(f"tools/allure has Allure {have or '(unknown version)'} but package.json pins {pin}: "
                          f"run `{INSTALL_COMMAND}`")
    return [str(cli)]


# --- staging: known deviations made visible ---------------------------------------------------------


@dataclass(slots=True)
class StageSummary:
    """Counts over the results as pytest decided them (before the known-deviation view)."""

    tests: int = 0
    passed: int = 0
    failed: int = 0
    broken: int = 0
    skipped: int = 0
    known_deviations: int = 0
    deviations_fixed: int = 0
    other: int = 0
    known_requirements: list[str] = field(default_factory=list)
    #: the run's own gate (``conformance.harness.gating``), from the ``conformance.json`` next to
    #: the results (:func:`run_gate_next_to`); it decides the title when present
    run_gate: dict[str, Any] | None = None

    @property
    def gate(self) -> str:
        """The run's gate when known (a baseline-gated run passes with pre-existing failures);
        otherwise the absolute gate (:func:`conformance.harness.gating.decide`, the one rule) of
        :meth:`document`: a failed, broken or XPASS result fails; a known deviation, a skip and a
        SHOULD finding without ``--strict`` (a passed result) do not."""
        if self.run_gate and self.run_gate.get("state") in ("PASS", "FAIL"):
            return str(self.run_gate["state"])
        return gating.decide(self.document()).state

    def document(self) -> dict[str, Any]:
        """The counts as a ``conformance.json``-shaped document for :func:`gating.decide` when no
        ``conformance.json`` lies beside the results: no requirement table, one synthetic
        ``test_outcomes`` entry per counted result, in the suite's outcome words (a known deviation is
        ``xfailed``, a fixed one ``xpassed``, a result Allure cannot classify ``unknown``)."""
        per_outcome = {"passed": self.passed, "failed": self.failed - self.deviations_fixed,
                       "xpassed": self.deviations_fixed, "broken": self.broken, "xfailed": self.known_deviations,
                       "skipped": self.skipped, "unknown": self.other}
        tests = {f"allure-results: {outcome} result {i}": outcome
                 for outcome, n in per_outcome.items() for i in range(1, n + 1)}
        return {"suite_version": "unknown (Allure results only)", "strict": False, "requirements": {},
                "test_outcomes": tests}

    def headline(self) -> str:
        parts = [f"{self.passed} passed"]
        if self.failed:
            parts.append(f"{self.failed} failed" + (f" (incl. {self.deviations_fixed} deviation(s) fixed: XPASS)"
                                                    if self.deviations_fixed else ""))
        if self.broken:
            parts.append(f"{self.broken} broken")
        parts.append(f"{self.known_deviations} known deviation{'s' if self.known_deviations != 1 else ''}")
        parts.append(f"{self.skipped} skipped")
        if self.run_gate and self.run_gate.get("mode") == "baseline":
            parts.append(f"vs baseline: {len(self.run_gate.get('worse') or ())} worse, "
                         f"{len(self.run_gate.get('improved') or ())} improved")
        return f"{self.gate}: " + ", ".join(parts)

    def report_name(self, base: str = REPORT_NAME) -> str:
        """The report title: the gate first, and the deviations, so it never reads all green."""
        return f"{base} — {self.headline()}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "gate": self.gate, "headline": self.headline()}


def run_gate_next_to(results: Path) -> dict[str, Any] | None:
    """The ``gate`` block of the ``conformance.json`` beside the results folder (the plugin writes
    ``<reports>/conformance.json`` and ``<reports>/allure-results``), or None."""
    try:
        gate = json.loads((Path(results).parent / "conformance.json").read_text(encoding="utf-8")).get("gate")
    except (OSError, ValueError, AttributeError):
        return None
    return gate if isinstance(gate, dict) else None


def is_known_deviation(result: Mapping[str, Any]) -> bool:
    """A raw allure-pytest result the plugin decided as a known deviation (an xfail), or one already
    shown as such (:func:`view_result`: failed or skipped, its message :data:`KNOWN_PREFIX` + the xfail
    message, the message the category "Known deviation (excused by the profile)" takes)."""
    message = (result.get("statusDetails") or {}).get("message") or ""
    if message.startswith(KNOWN_PREFIX) and result.get("status") in DEVIATION_MODES:
        return bool(_KNOWN_XFAIL.match(message.removeprefix(KNOWN_PREFIX)))
    return result.get("status") == "skipped" and bool(_KNOWN_XFAIL.match(message))


def _requirement(result: Mapping[str, Any]) -> str | None:
    for label in result.get("labels") or []:
        if label.get("name") == "requirement":
            return str(label.get("value"))
    return None


def view_result(result: dict[str, Any], *, deviations: str = "failed") -> tuple[dict[str, Any], bool]:
    """The result as the HTML report shows it, and whether it is a known deviation."""
    if deviations not in DEVIATION_MODES:
        raise ValueError(f"deviations must be one of {DEVIATION_MODES}")
    labels = result.get("labels") or []
    seen: set[tuple[str, str]] = set()
    deduped = []
    for label in labels:  # the plugin adds known-deviation statically and per verdict
        key = (label.get("name"), label.get("value"))
        if key not in seen:
            seen.add(key)
            deduped.append(label)
    result = {**result, "labels": deduped}
    if not is_known_deviation(result):
        return result, False
    details = dict(result.get("statusDetails") or {})
    message = details.get("message", "")
    details["message"] = message if message.startswith(KNOWN_PREFIX) else KNOWN_PREFIX + message
    result["statusDetails"] = details
    result["status"] = "failed" if deviations == "failed" else "skipped"
    if ("tag", KNOWN_TAG) not in seen:
        result["labels"].append({"name": "tag", "value": KNOWN_TAG})
    if ("outcome", KNOWN_TAG) not in seen:
        result["labels"].append({"name": "outcome", "value": KNOWN_TAG})
    return result, True


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def stage_results(results: Path, stage: Path, *, deviations: str = "failed") -> StageSummary:
    """Copy ``results`` into ``stage`` with the known-deviation view applied (attachments are
    hard-linked where possible). Raises :class:`AllureError` when there is nothing to render."""
    if not results.is_dir():
        raise AllureError(f"no Allure results at {results}: run the suite first (it writes "
                          f"{DEFAULT_RESULTS} by default) or give --results DIR")
    names = sorted(p.name for p in results.iterdir() if p.is_file())
    if not any(n.endswith("-result.json") for n in names):
        raise AllureError(f"{results} holds no test results (*-result.json): nothing to render")
    stage.mkdir(parents=True, exist_ok=True)
    summary = StageSummary()
    known: set[str] = set()
    for name in names:
        src = results / name
        if not name.endswith("-result.json"):
            _link_or_copy(src, stage / name)
            continue
        try:
            raw = json.loads(src.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            _link_or_copy(src, stage / name)  # let Allure judge it
            continue
        if is_synthetic(raw):  # "Run timing metrics": figures, not a test (not counted)
            _link_or_copy(src, stage / name)
            continue
        status = raw.get("status")
        summary.tests += 1
        viewed, is_known = view_result(raw, deviations=deviations)
        if is_known:
            summary.known_deviations += 1
            rid = _requirement(raw)
            if rid:
                known.add(rid)
        elif status in ("passed", "failed", "broken", "skipped"):
            setattr(summary, status, getattr(summary, status) + 1)
            if status == "failed" and _XPASS.search((raw.get("statusDetails") or {}).get("message") or ""):
                summary.deviations_fixed += 1
        else:
            summary.other += 1
        (stage / name).write_text(json.dumps(viewed, ensure_ascii=False), encoding="utf-8")
    summary.known_requirements = sorted(known)
    return summary


# --- config ----------------------------------------------------------------------------------------


def render_config(*, base_config: Path, output: Path, name: str, single_file: bool,
                  history_path: Path | None, history_limit: int | None) -> str:
    """The generated ``allurerc`` (ES module): the repository's config with this run's settings."""
    history = json.dumps(str(history_path)) if history_path is not None else "undefined"
    limit = str(int(history_limit)) if history_limit else "undefined"
    return (
        "// generated by python -m conformance.report allure-html; not to be edited\n"
        f"import base, {{ awesomeOptions }} from {json.dumps(base_config.resolve().as_uri())};\n"
        "\n"
        "export default {\n"
        "  ...base,\n"
        f"  name: {json.dumps(name, ensure_ascii=False)},\n"
        f"  output: {json.dumps(str(output))},\n"
        f"  historyPath: {history},\n"
        f"  historyLimit: {limit},\n"
        "  plugins: {\n"
        "    awesome: {\n"
        "      options: {\n"
        "        ...awesomeOptions,\n"
        f"        reportName: {json.dumps(name, ensure_ascii=False)},\n"
        f"        singleFile: {'true' if single_file else 'false'},\n"
        "      },\n"
        "    },\n"
        "  },\n"
        "};\n"
    )


# --- generation ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Generated:
    out: Path
    index: Path
    summary: StageSummary
    single_file: bool
    history_entries: int
    seconds: float

    def line(self) -> str:
        how = ("one file, opens from file://" if self.single_file
               else f"serve it: python -m http.server -d {self.out} (file:// does not load it)")
        trend = f"; history: {self.history_entries} run(s)" if self.history_entries else ""
        return f"Allure HTML {self.index} ({self.summary.headline()}{trend}; {how})"


def _check_output(out: Path, results: Path) -> None:
    """Refuse to empty a folder that is not a report (``--out .`` or a typo must not wipe a tree)."""
    if out == results or out in results.parents or out == REPO_ROOT or out == Path.home() or out == Path("/"):
        raise AllureError(f"refusing to write the report into {out}: it would delete the results or the checkout")
    if not out.exists():
        return
    if not out.is_dir():
        raise AllureError(f"--out {out} exists and is not a directory")
    entries = list(out.iterdir())
    if entries and not (out / "index.html").is_file():
        raise AllureError(f"refusing to empty {out}: it is not an Allure report (no index.html); "
                          "choose another --out or remove it")


def strip_analytics(html: Path) -> bool:
    """Remove the Google Analytics tag from a generated page; True when one was removed."""
    text = html.read_text(encoding="utf-8")
    new, n = _ANALYTICS.subn("", text)
    if n:
        html.write_text(new, encoding="utf-8")
    return bool(n)


def generate(results: Path = DEFAULT_RESULTS, out: Path | None = None, *, single_file: bool = False,
             history: bool = True, history_limit: int | None = 30, deviations: str = "failed",
             keep_analytics: bool = False, name: str = REPORT_NAME, allure_cmd: Sequence[str] | None = None,
             base_config: Path = BASE_CONFIG, timeout_s: float = 600.0) -> Generated:
    """Render ``results`` into ``out`` (see the module docstring). Raises :class:`AllureError`."""
    started = time.monotonic()
    cmd = list(allure_cmd) if allure_cmd else find_allure()
    results = Path(results).resolve()
    out = Path(out if out is not None else (DEFAULT_OUT_SINGLE if single_file else DEFAULT_OUT)).resolve()
    _check_output(out, results)
    with tempfile.TemporaryDirectory(prefix="llmconf-allure-") as tmp_name:
        tmp = Path(tmp_name)
        summary = stage_results(results, tmp / "results", deviations=deviations)
        summary.run_gate = run_gate_next_to(results)
        staged_history = tmp / HISTORY_FILE
        previous = out / HISTORY_FILE
        if history and previous.is_file():
            shutil.copyfile(previous, staged_history)
        config = tmp / "allurerc.mjs"
        config.write_text(render_config(base_config=base_config, output=out, name=summary.report_name(name),
                                        single_file=single_file, history_path=staged_history if history else None,
                                        history_limit=history_limit), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        env = {**os.environ, "NO_COLOR": "1", "ALLURE_NO_ANALYTICS": "true"}
        try:
            proc = subprocess.run([*cmd, "generate", str(tmp / "results"), "--config", str(config), "--output", str(out)],
                                  cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise AllureError(f"allure generate did not finish in {timeout_s:.0f} s") from None
        except OSError as exc:
            raise AllureError(f"cannot run {cmd[0]}: {exc}; reinstall with `{INSTALL_COMMAND}`") from None
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise AllureError(f"allure generate failed (exit {proc.returncode}):\n{tail}")
        index = out / "index.html"
        if not index.is_file():
            raise AllureError(f"allure generate wrote no {index}:\n{(proc.stdout + proc.stderr).strip()[-2000:]}")
        entries = 0
        if history and staged_history.is_file():
            shutil.copyfile(staged_history, out / HISTORY_FILE)
            entries = sum(1 for line in staged_history.read_text(encoding="utf-8").splitlines() if line.strip())
    if not keep_analytics:
        for page in out.glob("*.html"):
            strip_analytics(page)
    (out / SUMMARY_FILE).write_text(json.dumps({**summary.as_dict(), "single_file": single_file,
                                                "results": str(results)}, indent=2) + "\n", encoding="utf-8")
    return Generated(out=out, index=index, summary=summary, single_file=single_file, history_entries=entries,
                     seconds=time.monotonic() - started)


def single_file_data(html: Path) -> dict[str, bytes]:
    """The data a single-file report embeds (``d("widgets/…json", "<base64>")`` calls), decoded: a
    plain byte search of the page misses what is in there (the secret-hygiene test reads it)."""
    import base64  # noqa: PLC0415

    text = html.read_text(encoding="utf-8", errors="replace")
    return {name: base64.b64decode(value) for name, value in _SINGLE_FILE_DATA.findall(text)}
