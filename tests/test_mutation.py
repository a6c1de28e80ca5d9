"""The mutation runner's verdict logic, on synthetic conformance.json documents, and its plumbing
(fresh report directory per run, hook errors, adapters counted apart) with a fake suite."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from conformance.faults import mutation
from conformance.faults.adapters import ADAPTERS
from conformance.faults.model import Fault, Hooks
from conformance.faults.mutation import (
    ADAPTED,
    FaultResult,
    ReportFormatError,
    judge,
    judge_neutral,
    parse_report,
    run_mutation,
    run_suite,
    score,
    write_reports,
)
from conformance.faults.proxy import HOOK_ERROR_HEADER
from conformance.faults.table import FAULTS, resolve
from conformance.harness.capabilities import CAPABILITIES

T1, T2 = "t.py::test_a[x]", "t.py::test_a[y]"


def row(tests: dict[str, str], *violations: tuple[str, str], outcome: str = "passed") -> dict[str, Any]:
    return {"level": "MUST", "outcome": outcome, "tests": sorted(tests), "test_outcomes": tests, "message": "",
            "violations": [{"test": t, "kind": k, "message": f"{k} in {t}"} for t, k in violations]}


def report(**rows: dict[str, Any]) -> mutation.RunReport:
    doc = {"requirements": {rid.replace("_", "-"): r for rid, r in rows.items()}}
    outcomes: dict[str, str] = {}
    for r in rows.values():
        outcomes.update(r["test_outcomes"])
    doc["test_outcomes"] = outcomes
    return parse_report(json.loads(json.dumps(doc)))


# --- judging faults ------------------------------------------------------------------------------


def test_caught_when_a_new_violation_of_a_declared_requirement_appears():
    base = report(R_1=row({T1: "passed", T2: "xfailed"}, (T2, "known-deviation")))
    seen = report(R_1=row({T1: "failed", T2: "xfailed"}, (T1, "failed"), (T2, "known-deviation"), outcome="failed"))
    result = judge("f", ["R-1"], base, seen)
    assert result.outcome == "caught" and result.caught_by == ["R-1"]
    assert result.new_violations == [{"requirement": "R-1", "test": T1, "kind": "failed", "message": f"failed in {T1}"}]


def test_a_failure_of_another_requirement_in_the_same_tests_is_not_caught():
    # The fault makes the test fail, but through OTHER-1 (e.g. a passive check); R-1 saw nothing.
    base = report(R_1=row({T1: "passed"}))
    seen = report(R_1=row({T1: "failed"}, outcome="passed"), OTHER_1=row({}, (T1, "failed"), outcome="failed"))
    result = judge("f", ["R-1"], base, seen)
    assert result.outcome == "missed" and result.caught_by == [] and result.new_violations == []


def test_a_violation_the_baseline_already_had_is_not_new():
    base = report(R=row({T1: "passed", T2: "failed"}, (T2, "failed"), outcome="failed"))
    assert judge("f", ["R"], base, base).outcome == "missed"  # T1 stayed clean
    # ...but the same test with another kind is new (a known deviation turned into an unexcused one).
    base = report(R=row({T1: "xfailed"}, (T1, "known-deviation"), outcome="xfailed"))
    seen = report(R=row({T1: "failed"}, (T1, "known-deviation"), (T1, "failed"), outcome="failed"))
    assert judge("f", ["R"], base, seen).outcome == "caught"


@pytest.mark.parametrize("kind", ["failed", "non-strict", "known-deviation", "observation"])
def test_every_violation_kind_counts(kind: str):
    base = report(R=row({T1: "passed"}))
    assert judge("f", ["R"], base, report(R=row({T1: "passed"}, (T1, kind)))).outcome == "caught"


def test_unmeasurable_when_nothing_was_judged_clean_without_the_fault():
    base = report(R=row({T1: "xfailed"}, (T1, "known-deviation"), outcome="xfailed"))
    result = judge("f", ["R"], base, base)
    assert result.outcome == "unmeasurable" and "R=xfailed" in result.detail
    assert judge("f", ["R"], report(R=row({T1: "skipped"})), report(R=row({T1: "skipped"}))).outcome == "unmeasurable"
    assert judge("f", ["R"], report(), report()).outcome == "unmeasurable"


def test_broken_when_no_verdict_was_reached():
    base = report(R=row({T1: "passed"}))
    assert judge("f", ["R"], base, report(R=row({T1: "broken"}, outcome="broken"))).outcome == "broken"


def test_a_hook_error_makes_the_fault_broken_never_caught():
    base = report(R=row({T1: "passed"}))
    seen = report(R=row({T1: "failed"}, (T1, "failed"), outcome="failed"))
    result = judge("f", ["R"], base, seen, hook_errors={"f": 2})
    assert result.outcome == "broken" and result.caught_by == [] and "f: 2×" in result.detail


def test_old_reports_without_violation_lists_fail_loudly():
    old = {"requirements": {"R": {"level": "MUST", "outcome": "failed", "tests": [T1], "test_outcomes": {T1: "failed"},
                                  "message": ""}}}
    with pytest.raises(ReportFormatError, match="no 'violations' list"):
        parse_report(old)
    with pytest.raises(ReportFormatError, match="malformed violation"):
        parse_report({"requirements": {"R": {"violations": [{"test": T1, "kind": "bad"}]}}})


# --- neutral transformations -----------------------------------------------------------------------


def test_neutral_transformation_must_change_no_verdict():
    base = report(R=row({T1: "passed", T2: "xfailed"}, (T2, "known-deviation")))
    assert judge_neutral("n", base, base).outcome == "clean"
    # A new observation changes no test outcome but is a changed verdict of R.
    seen = report(R=row({T1: "passed", T2: "xfailed"}, (T2, "known-deviation"), (T1, "observation")))
    result = judge_neutral("n", base, seen)
    assert result.outcome == "changed" and "new observation" in result.detail
    seen = report(R=row({T1: "failed", T2: "xfailed"}, (T2, "known-deviation")))
    assert judge_neutral("n", base, seen).outcome == "changed"
    assert judge_neutral("n", base, base, hook_errors={"n": 1}).outcome == "broken"


INTERMITTENT = mutation.Intermittent((("R", ("tool-use",)), ("S", ())))
TU, TX = "t.py::test_b[tool-use]", "t.py::test_b[text]"


def test_a_violation_excused_by_an_intermittent_deviation_proves_no_catch():
    base = report(R=row({TU: "passed", TX: "passed"}))
    noisy = report(R=row({TU: "xfailed", TX: "passed"}, (TU, "known-deviation")))
    result = judge("f", ["R"], base, noisy, intermittent=INTERMITTENT)
    assert result.outcome == "missed" and "intermittent" in result.detail and result.new_violations
    # The same known deviation in a case the deviation does not cover, or an unexcused one, counts.
    assert judge("f", ["R"], base, report(R=row({TX: "xfailed"}, (TX, "known-deviation"))),
                 intermittent=INTERMITTENT).outcome == "caught"
    assert judge("f", ["R"], base, report(R=row({TU: "failed"}, (TU, "failed"))),
                 intermittent=INTERMITTENT).outcome == "caught"
    assert judge("f", ["R"], base, noisy).outcome == "caught"  # without the profile's word, it counts


def test_an_intermittent_deviation_coming_or_going_is_no_neutral_change():
    base = report(S=row({T1: "passed"}), R=row({TU: "xfailed"}, (TU, "known-deviation")))
    seen = report(S=row({T1: "xfailed"}, (T1, "known-deviation")), R=row({TU: "passed"}))
    result = judge_neutral("n", base, seen, intermittent=INTERMITTENT)
    assert result.outcome == "clean" and "not counted" in result.detail
    assert judge_neutral("n", base, seen).outcome == "changed"
    worse = report(S=row({T1: "failed"}, (T1, "failed")), R=row({TU: "xfailed"}, (TU, "known-deviation")))
    assert judge_neutral("n", base, worse, intermittent=INTERMITTENT).outcome == "changed"


def test_intermittent_deviations_come_from_the_profile():
    from conformance.harness.profiles import load

    profile = load("reference")
    intermittent = mutation.Intermittent.of_profile(profile)
    assert {r for r, _ in intermittent.deviations} == {d.requirement for d in profile.deviations if d.intermittent}


# --- the score -------------------------------------------------------------------------------------


def test_faults_through_adapters_are_counted_apart():
    results = [FaultResult("a", False, ["R"], "caught"), FaultResult("b", False, ["R"], "caught"),
               FaultResult("c", False, ["R"], "missed", adapters=["nim-health"]),
               FaultResult("d", False, ["R"], "caught", adapters=["responses-sequencing"]),
               FaultResult("n", True, [], "clean")]
    doc = score(results)
    assert doc["headline"].startswith("2/2 caught on the raw reference, 1/2 through adapters; "
                                      "1/1 neutral transformations changed no verdict")
    assert doc["raw"] == {"caught": 2, "faults": 2} and doc["adapted"] == {"caught": 1, "faults": 2}
    assert doc["score"] == "3/4" and not doc["passed"]
    assert score([r for r in results if r.fault != "c"])["passed"]
    broken = score([FaultResult("a", False, ["R"], "broken"), FaultResult("n", True, [], "clean")])
    assert not broken["passed"] and broken["broken"] == 1 and "1 broken" in broken["headline"]


def test_adapter_table_names_real_faults_adapters_and_capabilities():
    for fault, (adapters, caps) in ADAPTED.items():
        assert fault in FAULTS
        assert all(a in ADAPTERS for a in adapters)
        assert set(caps) <= CAPABILITIES.keys()
        resolved = resolve([*(ADAPTERS[a] for a in adapters), fault])
        assert [f.name for f in resolved] == [*adapters, fault]  # adapters first, then the fault
    assert not set(ADAPTERS) & set(FAULTS)


# --- plumbing --------------------------------------------------------------------------------------


def _doc(**rows: dict[str, Any]) -> dict[str, Any]:
    return {"requirements": {rid.replace("_", "-"): r for rid, r in rows.items()}}


def test_every_suite_run_starts_from_an_empty_report_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    seen: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        out = Path(next(c for c in cmd if c.startswith("--reports-dir=")).split("=", 1)[1])
        seen.append(sorted(p.name for p in out.iterdir()))
        (out / "conformance.json").write_text(json.dumps(_doc(R=row({T1: "passed"}))), encoding="utf-8")
        (out / "junit.xml").write_text("<testsuites/>", encoding="utf-8")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(mutation.subprocess, "run", fake_run)
    runs = tmp_path / "baseline"
    (runs / "allure-results").mkdir(parents=True)
    (runs / "conformance.json").write_text(json.dumps(_doc(R=row({T1: "failed"}, (T1, "failed")))), encoding="utf-8")
    first = run_suite("http://127.0.0.1:1", ["R"], runs, profile="reference", key_env=None)
    second = run_suite("http://127.0.0.1:1", ["R"], runs, profile="reference", key_env=None)
    assert seen == [[], []]  # neither the stale report nor the first run's files were there
    assert first.violations == second.violations == {"R": {}}


def test_a_run_without_a_report_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(mutation.subprocess, "run",
                        lambda cmd, **kw: subprocess.CompletedProcess(cmd, 3, "INTERNALERROR", ""))
    stale = tmp_path / "f"
    stale.mkdir()
    (stale / "conformance.json").write_text(json.dumps(_doc(R=row({T1: "passed"}))), encoding="utf-8")
    with pytest.raises(RuntimeError, match="no conformance.json"):  # the stale report was not read
        run_suite("http://127.0.0.1:1", ["R"], stale, profile="reference", key_env=None)


def _raise(*args: Any) -> Any:
    raise KeyError("boom")


BOOM = Fault("boom", "a fault whose request hook raises", ("OAI-STREAM-002",), False, (), Hooks(request=_raise))


def test_run_mutation_hook_errors_adapters_and_fresh_dirs(tmp_path: Path):
    calls: list[tuple[str, list[str], str]] = []
    clean = _doc(**{rid.replace("-", "_"): row({f"t::{rid}": "passed"})
                    for f in FAULTS.values() for rid in f.requirements})
    caught_by = {"drop-done": "OAI-STREAM-002", "ready-while-not-serving": "NIM-HEALTH-002", "boom": "OAI-STREAM-002"}

    def suite(url: str, requirements: list[str], reports: Path, **options: Any) -> mutation.RunReport:
        assert not reports.exists() or not any(reports.iterdir())
        reports.mkdir(parents=True, exist_ok=True)
        (reports / "marker").write_text("x")
        status = ""
        try:  # one real request through the proxy: a raising hook answers 500 and is counted
            urllib.request.urlopen(url + "/v1/models", timeout=5).close()
        except urllib.error.HTTPError as exc:
            status = f"{exc.code} {exc.headers.get(HOOK_ERROR_HEADER)}"
        except OSError:
            status = "upstream down"
        calls.append((reports.name, sorted(requirements), status))
        doc = json.loads(json.dumps(clean))
        rid = caught_by.get(reports.name)
        if rid:
            doc["requirements"][rid]["violations"] = [{"test": f"t::{rid}", "kind": "failed", "message": "x"}]
        return parse_report(doc)

    selected = [BOOM, FAULTS["drop-done"], FAULTS["ready-while-not-serving"], FAULTS["crlf"]]
    baseline, results = run_mutation(selected, "http://127.0.0.1:9", tmp_path, profile="reference", key_env=None,
                                     suite=suite, log=lambda line: None)
    by_name = {r.fault: r for r in results}
    assert by_name["boom"].outcome == "broken" and by_name["boom"].hook_errors == {"boom": 1}
    assert by_name["drop-done"].outcome == "caught" and by_name["drop-done"].adapters == []
    assert by_name["ready-while-not-serving"].outcome == "caught"
    assert by_name["ready-while-not-serving"].adapters == ["nim-health"]
    assert by_name["crlf"].outcome == "clean"
    assert [c[0] for c in calls] == ["baseline", "boom", "drop-done", "baseline+nim-health", "ready-while-not-serving",
                                     "crlf"]
    assert dict((c[0], c[2]) for c in calls)["boom"] == "500 boom"
    assert dict((c[0], c[1]) for c in calls)["drop-done"] == ["OAI-STREAM-002"]

    doc = write_reports(tmp_path, baseline, results)
    assert doc["headline"] == ("1/2 caught on the raw reference, 1/1 through adapters; "
                               "1/1 neutral transformations changed no verdict; 1 broken")
    assert not doc["passed"]
    md = (tmp_path / "mutation.md").read_text(encoding="utf-8")
    assert md.splitlines()[0] == f"# Mutation score: {doc['headline']} — FAIL"
    assert "| boom | OAI-STREAM-002 | - | broken |" in md
    assert json.loads((tmp_path / "mutation.json").read_text())["adapted"] == {"caught": 1, "faults": 1}


def _neutral_suite(calls: list[str], changes: str | None = None):
    clean = _doc(**{rid.replace("-", "_"): row({f"t::{rid}": "passed"})
                    for f in FAULTS.values() for rid in f.requirements})

    def suite(url: str, requirements: list[str], reports: Path, **options: Any) -> mutation.RunReport:
        calls.append(reports.name)
        doc = json.loads(json.dumps(clean))
        if changes is not None and changes in reports.name.split("+"):  # this transformation breaks a test
            doc["requirements"]["OAI-STREAM-002"]["violations"] = [
                {"test": "t::OAI-STREAM-002", "kind": "failed", "message": "x"}]
            doc["requirements"]["OAI-STREAM-002"]["tests"] = {"t::OAI-STREAM-002": "failed"}
        return parse_report(doc)
    return suite


def test_neutral_transformations_run_together_and_alone_only_when_the_bundle_changed_a_verdict(tmp_path: Path):
    neutrals = [FAULTS[n] for n in ("cr-only", "crlf", "keepalive-comments", "unknown-fields")]
    assert [[f.name for f in b] for b in mutation.neutral_bundles(neutrals)] == [
        ["cr-only", "keepalive-comments", "unknown-fields"], ["crlf"]]  # two line-ending rewrites never share a run
    calls: list[str] = []
    _, results = run_mutation(neutrals, "http://127.0.0.1:9", tmp_path / "a", profile="reference", key_env=None,
                              suite=_neutral_suite(calls), log=lambda line: None)
    assert calls == ["baseline", "cr-only+keepalive-comments+unknown-fields", "crlf"]
    assert {r.fault: r.outcome for r in results} == dict.fromkeys(
        ("cr-only", "crlf", "keepalive-comments", "unknown-fields"), "clean")
    assert "run together with cr-only, unknown-fields" in {r.fault: r for r in results}["keepalive-comments"].detail

    calls.clear()  # the bundle changed a verdict: each member alone names the one that did
    _, results = run_mutation(neutrals, "http://127.0.0.1:9", tmp_path / "b", profile="reference", key_env=None,
                              suite=_neutral_suite(calls, changes="keepalive-comments"), log=lambda line: None)
    assert calls == ["baseline", "cr-only+keepalive-comments+unknown-fields", "cr-only", "crlf",
                     "keepalive-comments", "unknown-fields"]
    by_name = {r.fault: r for r in results}
    assert by_name["keepalive-comments"].outcome == "changed"
    assert by_name["cr-only"].outcome == by_name["unknown-fields"].outcome == by_name["crlf"].outcome == "clean"
    assert by_name["cr-only"].detail.startswith("its bundle changed a verdict when run together: run alone")


def test_a_fault_with_run_settings_is_measured_against_a_baseline_with_the_same_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from conformance.harness.profiles import load

    settings = mutation.RunSettings(options=("--read-timeout=3",), profile_settings=(("prefill_tokens_per_second", 9),),
                                    why="short timeouts")
    monkeypatch.setitem(mutation.RUN_SETTINGS, "drop-done", settings)
    calls: list[tuple[str, str, list[str]]] = []
    clean = _doc(**{rid.replace("-", "_"): row({f"t::{rid}": "passed"})
                    for f in FAULTS.values() for rid in f.requirements})

    def suite(url: str, requirements: list[str], reports: Path, **options: Any) -> mutation.RunReport:
        calls.append((reports.name, options["profile"], list(options["extra"])))
        doc = json.loads(json.dumps(clean))
        if reports.name == "drop-done":
            doc["requirements"]["OAI-STREAM-002"]["violations"] = [
                {"test": "t::OAI-STREAM-002", "kind": "failed", "message": "x"}]
        return parse_report(doc)

    _, results = run_mutation([FAULTS["drop-done"], FAULTS["crlf"]], "http://127.0.0.1:9", tmp_path,
                              profile="reference", key_env=None, suite=suite, log=lambda line: None)
    by_run = {name: (profile, extra) for name, profile, extra in calls}
    assert [c[0] for c in calls] == ["baseline", "baseline+drop-done-settings", "drop-done", "crlf"]
    assert by_run["baseline"] == ("reference", []) and by_run["crlf"] == ("reference", [])
    assert by_run["drop-done"] == by_run["baseline+drop-done-settings"]
    derived, extra = by_run["drop-done"]
    assert extra == ["--read-timeout=3"]
    profile = load(derived)  # extends the profile given, with the settings laid over it
    assert profile.name == "reference" and profile.setting("prefill_tokens_per_second") == 9
    assert len(profile.deviations) == len(load("reference").deviations)
    result = results[0]
    assert result.outcome == "caught" and "short timeouts (--read-timeout=3), against its own baseline" in result.detail


def test_costly_requirements_stay_out_of_the_shared_baseline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    own = Fault("own-baseline", "a fault whose tests are costly", ("OAI-CTX-003", "OAI-CTX-004"), False, (),
                Hooks(request=lambda ctx, request: request))
    monkeypatch.setitem(mutation.FAULTS, own.name, own)
    monkeypatch.setitem(mutation.RUN_SETTINGS, own.name, mutation.RunSettings(shared_baseline=False, why="costly"))
    shared = mutation.shared_requirements()
    assert "OAI-CTX-003" not in shared  # declared by no other fault
    assert "OAI-CTX-004" in shared  # overflow-500 declares it too
    selections: dict[str, list[str]] = {}

    def suite(url: str, requirements: list[str], reports: Path, **options: Any) -> mutation.RunReport:
        selections[reports.name] = sorted(requirements)
        return parse_report(_doc(**{rid.replace("-", "_"): row({f"t::{rid}": "passed"}) for rid in requirements}))

    run_mutation([own, FAULTS["crlf"]], "http://127.0.0.1:9", tmp_path, profile="reference", key_env=None,
                 suite=suite, log=lambda line: None)
    assert selections["baseline+own-baseline-settings"] == selections["own-baseline"] == ["OAI-CTX-003",
                                                                                          "OAI-CTX-004"]
    assert selections["crlf"] == selections["baseline"] == shared


def test_run_settings_name_real_faults():
    assert set(mutation.RUN_SETTINGS) <= set(FAULTS)
    hang = mutation.RUN_SETTINGS["overflow-hang"]
    assert any(o.startswith("--read-timeout=") for o in hang.options)
    assert set(FAULTS["overflow-hang"].requirements) == {"OAI-CTX-004", "ANT-CTX-002"}  # over-window tests only
    shared = mutation.shared_requirements()
    assert {"OAI-CTX-001", "OAI-CTX-004", "OAI-CTX-005", "ANT-CTX-002"} <= set(shared)
    assert not {"OAI-CTX-003", "ANT-CTX-001", "OAI-CTX-009", "ANT-CTX-004"} & set(shared)


def _write_run(where: Path, **rows: dict[str, Any]) -> Path:
    where.mkdir(parents=True)
    (where / "conformance.json").write_text(json.dumps(_doc(**rows)), encoding="utf-8")
    return where


def test_measured_elsewhere_judges_the_given_runs_and_runs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    base = _write_run(tmp_path / "rerun", OAI_EVAL_003=row({T1: "passed"}))
    planted = _write_run(tmp_path / "planted", OAI_EVAL_003=row({T1: "failed"}, (T1, "failed"), outcome="failed"))
    same = _write_run(tmp_path / "same", OAI_EVAL_003=row({T1: "passed"}))

    def no_run(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a measured fault must not be run")

    monkeypatch.setattr(mutation, "run_mutation", no_run)
    argv = ["--faults", "eval-answers-corrupted", "--reports-dir", str(tmp_path / "m")]
    assert mutation.main([*argv, "--measured", f"eval-answers-corrupted={base},{planted}"]) == 0
    doc = json.loads((tmp_path / "m" / "mutation.json").read_text())
    (result,) = doc["results"]
    assert result["outcome"] == "caught" and result["caught_by"] == ["OAI-EVAL-003"]
    assert result["detail"].startswith(f"measured by runs made elsewhere: {planted} (through the proxy) against {base}")
    # the bad fixtures: a faulted run that shows nothing new, and a run that is missing
    assert mutation.main([*argv, "--measured", f"eval-answers-corrupted={base},{same}"]) == 1
    assert json.loads((tmp_path / "m" / "mutation.json").read_text())["results"][0]["outcome"] == "missed"
    assert mutation.main([*argv, "--measured", f"eval-answers-corrupted={base},{tmp_path / 'nope'}"]) == 1
    assert json.loads((tmp_path / "m" / "mutation.json").read_text())["results"][0]["outcome"] == "broken"
    with pytest.raises(SystemExit):
        mutation.main([*argv, "--measured", "no-such-fault=a,b"])
