"""The release gate (``conformance.harness.gating``): absolute and baseline modes over synthetic
``conformance.json`` documents, each rule with a passing and a failing case; exit codes; and
``--baseline`` / ``--save-baseline`` end to end through the real plugin (pytester, nothing contacted)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from conformance.harness import gating
from conformance.harness.gating import FAIL, PASS, BaselineError, decide, reconcile
from tests.plugin_runs import INI, unit_profile

LEVELS = {"OAI-CHAT-001": "MUST", "OAI-CHAT-003": "MUST", "OAI-STREAM-002": "MUST", "OAI-STREAM-008": "SHOULD",
          "OAI-EVAL-003": "MUST", "OAI-STREAM-007": "MUST"}


def doc(outcomes: dict[str, str], *, strict: bool = False, tests: dict[str, str] | None = None,
        intermittent: tuple[str, ...] = (), **meta: Any) -> dict[str, Any]:
    """A minimal conformance.json: one row per requirement, one test per row with the same outcome."""
    rows = {rid: {"level": LEVELS.get(rid, "MUST"), "outcome": o, "tests": [f"t.py::test_{rid}"],
                  "message": f"t.py::test_{rid}: {o} message" if o != "passed" else ""}
            for rid, o in outcomes.items()}
    test_outcomes = {f"t.py::test_{rid}": o for rid, o in outcomes.items() if o not in ("blocked", "observed")}
    test_outcomes.update(tests or {})
    return {"suite_version": meta.get("suite_version", "0.12.0"), "profile": meta.get("profile", "reference"),
            "model": meta.get("model", "m"), "strict": strict, "requirements": rows, "test_outcomes": test_outcomes,
            "intermittent_deviations": list(intermittent)}


def names(entries: list[dict[str, Any]]) -> list[str]:
    return [e["requirement"] for e in entries]


# --- absolute mode -----------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["passed", "xfailed", "skipped", "blocked", "observed", "non-strict"])
def test_absolute_passes_without_failures(outcome):
    gate = decide(doc({"OAI-CHAT-001": "passed", "OAI-STREAM-008": outcome}))
    assert (gate.state, gate.exit_code, gate.mode) == (PASS, 0, "absolute")
    assert gate.line.startswith("PASS (absolute): ") and gate.failing == []


@pytest.mark.parametrize("outcome", ["failed", "broken", "xpassed"])
def test_absolute_fails_on_failed_broken_and_xpass(outcome):
    gate = decide(doc({"OAI-CHAT-001": "passed", "OAI-CHAT-003": outcome}))
    assert (gate.state, gate.exit_code) == (FAIL, 1)
    assert names(gate.failing) == ["OAI-CHAT-003"] and "OAI-CHAT-003" in gate.line
    assert gate.line.startswith("FAIL (absolute): ")
    if outcome == "xpassed":
        assert "XPASS" in gate.line and "remove the profile entry" in gate.line


def test_absolute_should_fails_only_when_recorded_failed_under_strict():
    assert decide(doc({"OAI-STREAM-008": "non-strict"})).state == PASS
    gate = decide(doc({"OAI-STREAM-008": "failed"}, strict=True))
    assert gate.state == FAIL and gate.failing[0]["level"] == "SHOULD"


def test_absolute_eval_gate_row_fails_the_run():
    assert decide(doc({"OAI-EVAL-003": "skipped"})).state == PASS  # no --eval-baseline: not applicable
    gate = decide(doc({"OAI-EVAL-003": "failed"}))
    assert gate.state == FAIL and "OAI-EVAL-003" in gate.line


def test_absolute_sees_a_test_failing_without_a_failing_row():
    ok = doc({"OAI-CHAT-001": "passed"})
    assert decide(ok).state == PASS
    bad = doc({"OAI-CHAT-001": "passed"}, tests={"t.py::test_OAI-CHAT-001": "failed"})  # a plain assert
    gate = decide(bad)
    assert gate.state == FAIL and names(gate.failing) == ["t.py::test_OAI-CHAT-001"]
    gate = decide(ok, extra_failures=["t.py::test_uncited"])
    assert gate.state == FAIL and "t.py::test_uncited" in gate.line


def test_line_lists_at_most_five_names():
    gate = decide(doc({f"OAI-X-{i:03d}": "failed" for i in range(8)}))
    assert "… and 3 more" in gate.line and "OAI-X-005" not in gate.line


# --- baseline mode -----------------------------------------------------------------------------------

BASE = doc({"OAI-CHAT-001": "passed", "OAI-CHAT-003": "failed", "OAI-STREAM-007": "xfailed",
            "OAI-STREAM-002": "skipped"})


def test_baseline_same_run_passes_and_says_zero_got_worse():
    gate = decide(BASE, baseline=BASE, baseline_path="b.json")
    assert (gate.state, gate.exit_code, gate.mode) == (PASS, 0, "baseline")
    assert gate.line.startswith("PASS (baseline b.json): 0 requirements got worse; 0 improved; 1 still failing")
    assert names(gate.still_failing) == ["OAI-CHAT-003"] and gate.warnings == []


@pytest.mark.parametrize("rid, before", [("OAI-CHAT-001", "passed"), ("OAI-STREAM-007", "xfailed"),
                                         ("OAI-STREAM-002", "skipped"), ("OAI-NEW-001", None)])
@pytest.mark.parametrize("after", ["failed", "broken"])
def test_baseline_fails_on_what_got_worse(rid, before, after):
    run = doc({**{k: v["outcome"] for k, v in BASE["requirements"].items()}, rid: after})
    gate = decide(run, baseline=BASE, baseline_path="b.json")
    assert (gate.state, gate.exit_code) == (FAIL, 1)
    assert names(gate.worse) == [rid]
    assert f"{rid} {before or 'absent'}→{after}" in gate.line
    assert gate.line.startswith("FAIL (baseline b.json): 1 requirement got worse: ")
    assert "1 still failing (not gating)" in gate.line


def test_baseline_never_fails_on_what_was_already_failing():
    run = doc({"OAI-CHAT-001": "passed", "OAI-CHAT-003": "broken", "OAI-STREAM-007": "xfailed",
               "OAI-STREAM-002": "skipped"})
    gate = decide(run, baseline=BASE)
    assert gate.state == PASS and names(gate.still_failing) == ["OAI-CHAT-003"] and gate.worse == []


def test_baseline_lists_improvements():
    run = doc({"OAI-CHAT-001": "passed", "OAI-CHAT-003": "passed", "OAI-STREAM-007": "passed",
               "OAI-STREAM-002": "skipped"})
    gate = decide(run, baseline=BASE)
    assert gate.state == PASS and names(gate.improved) == ["OAI-CHAT-003", "OAI-STREAM-007"]
    assert "2 improved" in gate.line
    assert names(decide(BASE, baseline=BASE).improved) == []


def test_baseline_xpass_is_visible_but_not_gating():
    run = doc({"OAI-CHAT-001": "passed", "OAI-CHAT-003": "failed", "OAI-STREAM-007": "xpassed",
               "OAI-STREAM-002": "skipped"})
    gate = decide(run, baseline=BASE)
    assert gate.state == PASS and names(gate.xpassed) == ["OAI-STREAM-007"]
    assert names(gate.improved) == ["OAI-STREAM-007"]
    assert "1 XPASS (not gating; remove the profile entry): OAI-STREAM-007" in gate.line
    assert decide(run).state == FAIL  # absolute mode: an XPASS fails


def test_baseline_no_longer_judged_is_a_warning_not_a_failure():
    run = doc({"OAI-CHAT-003": "failed", "OAI-STREAM-007": "skipped", "OAI-STREAM-002": "skipped"})
    gate = decide(run, baseline=BASE)
    assert gate.state == PASS
    assert names(gate.no_longer_judged) == ["OAI-CHAT-001", "OAI-STREAM-007"]
    assert all("warning, not a failure" in e["note"] for e in gate.no_longer_judged)
    assert "2 no longer judged (warning): OAI-CHAT-001 passed→absent, OAI-STREAM-007 xfailed→skipped" in gate.line
    assert decide(BASE, baseline=BASE).no_longer_judged == []


def test_baseline_intermittent_deviation_passed_equals_xfailed():
    base = doc({"OAI-STREAM-007": "xfailed", "OAI-CHAT-001": "passed"}, intermittent=("OAI-STREAM-007",))
    run = doc({"OAI-STREAM-007": "passed", "OAI-CHAT-001": "xfailed"}, intermittent=("OAI-STREAM-007",))
    gate = decide(run, baseline=base)
    assert gate.improved == []  # OAI-STREAM-007 xfailed → passed is the same verdict
    assert names(gate.newly_excused) == ["OAI-CHAT-001"]  # not intermittent: a new excuse is shown
    back = decide(base, baseline=run)
    assert back.newly_excused == [] and names(back.improved) == ["OAI-CHAT-001"]


def test_baseline_should_under_strict():
    base = doc({"OAI-STREAM-008": "passed"})
    new = decide(doc({"OAI-STREAM-008": "failed"}, strict=True), baseline=base)
    assert new.state == FAIL and names(new.worse) == ["OAI-STREAM-008"]  # a new SHOULD finding under --strict
    old = decide(doc({"OAI-STREAM-008": "failed"}, strict=True), baseline=doc({"OAI-STREAM-008": "non-strict"}))
    assert old.state == PASS and names(old.still_failing) == ["OAI-STREAM-008"]
    assert "judged under --strict" in old.still_failing[0]["note"]
    assert any("strict=False" in w for w in old.warnings)
    soft = decide(doc({"OAI-STREAM-008": "non-strict"}), baseline=base)
    assert soft.state == PASS and names(soft.new_findings) == ["OAI-STREAM-008"]


def test_baseline_non_strict_then_broken_is_worse():
    gate = decide(doc({"OAI-STREAM-008": "broken"}), baseline=doc({"OAI-STREAM-008": "non-strict"}))
    assert gate.state == FAIL


def test_baseline_eval_gate_fails_even_when_already_failing():
    base = doc({"OAI-EVAL-003": "failed", "OAI-CHAT-003": "failed"})
    gate = decide(doc({"OAI-EVAL-003": "failed", "OAI-CHAT-003": "failed"}), baseline=base)
    assert gate.state == FAIL and names(gate.worse) == ["OAI-EVAL-003"]
    assert names(gate.still_failing) == ["OAI-CHAT-003"]
    assert decide(doc({"OAI-EVAL-003": "passed"}), baseline=base).state == PASS


def test_baseline_compares_unattributed_test_failures_by_test_id():
    plain = {"t.py::test_plain": "failed"}
    base = doc({"OAI-CHAT-001": "passed"}, tests=plain)
    assert decide(doc({"OAI-CHAT-001": "passed"}, tests=plain), baseline=base).state == PASS
    gate = decide(doc({"OAI-CHAT-001": "passed"}, tests=plain), baseline=doc({"OAI-CHAT-001": "passed"}))
    assert gate.state == FAIL and names(gate.worse) == ["t.py::test_plain"]
    assert decide(doc({"OAI-CHAT-001": "passed"}), baseline=base, extra_failures=["x::y"]).state == FAIL


def test_baseline_warns_when_profile_model_or_version_differ():
    assert decide(BASE, baseline=BASE).warnings == []
    other = {**BASE, "profile": "vllm", "model": "other", "suite_version": "0.1.0"}
    gate = decide(BASE, baseline=other)
    assert gate.state == PASS and len(gate.warnings) == 3
    assert {re.search(r"baseline's (\w+)", w).group(1) for w in gate.warnings} == {"profile", "model",
                                                                                    "suite_version"}
    assert "3 warnings" in gate.line


# --- reading and writing baselines ----------------------------------------------------------------


@pytest.mark.parametrize("content, why", [
    (None, "no such file"),
    ("{not json", "not JSON"),
    ("[1, 2]", "not a conformance.json (the top level is not an object)"),
    ('{"requirements": {}}', "not a conformance.json (no suite_version)"),
    ('{"suite_version": "1"}', "not a conformance.json (no requirements table)"),
    ('{"suite_version": "1", "requirements": {"X-1": {"level": "MUST"}}}', "requirement X-1 has no outcome"),
])
def test_unusable_baseline_is_refused_with_one_line(tmp_path, content, why):
    path = tmp_path / "conformance.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(BaselineError) as err:
        gating.load_baseline(path)
    assert why in str(err.value) and "\n" not in str(err.value) and str(path) in str(err.value)


def test_baseline_is_read_from_a_file_or_its_directory(tmp_path):
    saved = gating.save_baseline(BASE, tmp_path / "a" / "b" / "conformance.json")
    assert saved.is_file() and gating.load_baseline(saved) == BASE
    assert gating.load_baseline(tmp_path / "a" / "b") == BASE
    assert gating.save_baseline(BASE, str(tmp_path / "dir") + "/") == tmp_path / "dir" / "conformance.json"


# --- exit status ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [2, 3, 4, 5])
def test_pytest_interrupt_usage_and_empty_codes_are_kept(status):
    gate = decide(BASE, baseline=BASE)
    assert reconcile(gate, status) == status and gate.state == FAIL and f"exit {status} kept" in gate.line


def test_baseline_mode_exit_status_follows_the_gate():
    gate = decide(BASE, baseline=BASE)
    assert reconcile(gate, 1) == 0  # pytest exits 1 for the pre-existing failure; nothing got worse
    worse = decide(doc({"OAI-CHAT-001": "failed"}), baseline=BASE)
    assert reconcile(worse, 1) == 1 and reconcile(decide(doc({"OAI-CHAT-001": "failed"}), baseline=BASE), 0) == 1


def test_a_run_that_stopped_early_keeps_pytests_status():
    gate = decide(BASE, baseline=BASE)
    assert reconcile(gate, 1, stopped_early=True) == 1 and "the run stopped early" in gate.line


def test_absolute_mode_the_stricter_wins():
    ok = decide(doc({"OAI-CHAT-001": "passed"}))
    assert reconcile(ok, 0) == 0 and ok.state == PASS
    ok = decide(doc({"OAI-CHAT-001": "passed"}))
    assert reconcile(ok, 1) == 1 and ok.state == FAIL and ok.line.startswith("FAIL (absolute)")
    assert "the stricter wins" in ok.line
    bad = decide(doc({"OAI-CHAT-001": "failed"}))
    assert reconcile(bad, 0) == 1 and "the gate is stricter" in bad.line


def test_markdown_lists_the_baseline_sections():
    run = doc({"OAI-CHAT-001": "failed", "OAI-CHAT-003": "passed", "OAI-STREAM-002": "skipped"})
    text = "\n".join(gating.markdown(decide(run, baseline=BASE).as_dict()))
    assert "## Got worse than the baseline (gating)" in text and "- OAI-CHAT-001 [MUST] passed → failed" in text
    assert "## Improved" in text and "## No longer judged (warning, not a failure)" in text
    assert "## Still failing" not in text
    assert "## " not in "\n".join(gating.markdown(decide(run).as_dict()))  # absolute: the line only


# --- end to end through the plugin -------------------------------------------------------------------

INNER = '''
import os
from conformance.harness.requirements import requirement
from conformance.harness.failures import ConformanceFailure

@requirement("OAI-CHAT-001")
def test_sometimes_regresses():
    if os.environ.get("GATE_BREAK"):
        raise ConformanceFailure("the regression")

@requirement("OAI-STREAM-002")
def test_always_fails():
    raise ConformanceFailure("no [DONE] (a pre-existing failure)")
'''

PROFILE = unit_profile("gate tests")


@pytest.fixture
def plugin_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("GATE_BREAK", raising=False)
    pytester.makeini(INI)
    pytester.makepyfile(test_inner=INNER)
    profile = pytester.path / "unit.toml"
    profile.write_text(PROFILE)

    def go(*extra: str, reports: str = "reports") -> tuple[pytest.RunResult, dict, str]:
        out = pytester.path / reports
        result = pytester.runpytest("-p", "no:cacheprovider", "--endpoint", "http://127.0.0.1:9",
                                    "--profile=" + str(profile), "--reports-dir", str(out), *extra)
        doc = json.loads((out / "conformance.json").read_text()) if (out / "conformance.json").exists() else {}
        summary = (out / "summary.md").read_text() if (out / "summary.md").exists() else ""
        return result, doc, summary

    return go


def _gate_line(result: pytest.RunResult) -> str:
    lines = [l for l in result.outlines if l.startswith("llmconf gate: ")]
    assert len(lines) == 1, result.outlines
    return lines[0]


def test_plugin_save_baseline_then_gate_against_it(plugin_run, pytester, monkeypatch):
    base = pytester.path / "reports" / "baseline" / "conformance.json"
    result, doc, summary = plugin_run("--save-baseline", str(base))
    assert result.ret == 1  # absolute: the pre-existing MUST failure fails the run
    assert doc["gate"]["mode"] == "absolute" and doc["gate"]["state"] == "FAIL"
    assert _gate_line(result).startswith("llmconf gate: FAIL (absolute): 1 requirement failing: OAI-STREAM-002")
    assert summary.startswith("# Endpoint conformance: FAIL\n") and "- gate: FAIL (absolute)" in summary
    saved = json.loads(base.read_text())
    assert saved["requirements"] == doc["requirements"] and saved["gate"]["saved_baseline"] == str(base)
    assert any(l == f"llmconf baseline saved: {base}" for l in result.outlines)

    # the same endpoint again, against the baseline: the pre-existing failure does not gate
    result, doc, summary = plugin_run("--baseline", str(base), reports="run2")
    assert result.ret == 0
    line = _gate_line(result)
    assert line == (f"llmconf gate: PASS (baseline {base}): 0 requirements got worse; 0 improved; "
                    "1 still failing (not gating)")
    assert doc["gate"]["state"] == "PASS" and doc["gate"]["mode"] == "baseline"
    assert [e["requirement"] for e in doc["gate"]["still_failing"]] == ["OAI-STREAM-002"]
    assert summary.startswith("# Endpoint conformance: PASS\n") and "## Still failing" in summary
    # the gate is the last line the plugin prints in the terminal summary
    gate_at = result.outlines.index(line)
    assert not any(l.startswith("llmconf") for l in result.outlines[gate_at + 1:])

    # a regression: OAI-CHAT-001 passed in the baseline and fails now
    monkeypatch.setenv("GATE_BREAK", "1")
    result, doc, summary = plugin_run("--baseline", str(base), reports="run3")
    assert result.ret == 1
    assert _gate_line(result).startswith(
        f"llmconf gate: FAIL (baseline {base}): 1 requirement got worse: OAI-CHAT-001 passed→failed; "
        "0 improved; 1 still failing (not gating)")
    assert summary.startswith("# Endpoint conformance: FAIL\n")
    assert "- OAI-CHAT-001 [MUST] passed → failed" in summary


def test_plugin_refuses_an_unusable_baseline(plugin_run, pytester):
    bad = pytester.path / "bad.json"
    bad.write_text('{"hello": 1}')
    result, doc, _ = plugin_run("--baseline", str(bad))
    assert result.ret == 4 and doc == {}
    assert f"--baseline {bad}: not a conformance.json (no suite_version)" in "\n".join(result.errlines)
    result, _, _ = plugin_run("--baseline", str(pytester.path / "missing.json"))
    assert result.ret == 4 and "no such file" in "\n".join(result.errlines)


def test_plugin_baseline_env_and_ini_fallbacks(plugin_run, pytester, monkeypatch):
    base = pytester.path / "b" / "conformance.json"
    monkeypatch.setenv("LLMCONF_SAVE_BASELINE", str(base))
    plugin_run()
    assert base.is_file()
    monkeypatch.delenv("LLMCONF_SAVE_BASELINE")
    pytester.makeini(INI + f"llmconf_baseline = {base}\n")
    result, doc, _ = plugin_run(reports="r2")
    assert result.ret == 0 and doc["gate"]["baseline"] == str(base)


def test_plugin_refuses_a_baseline_path_that_moved_the_rootdir(plugin_run, pytester, tmp_path_factory):
    """pytest picks its rootdir before plugins load, so ``--baseline /elsewhere/x.json`` (two tokens)
    is a test path to it: the run would lose the project's ini. ``--baseline=PATH`` is fine."""
    base = tmp_path_factory.mktemp("elsewhere") / "conformance.json"
    plugin_run("--save-baseline=" + str(base))
    assert base.is_file()
    result, _, _ = plugin_run("--baseline", str(base), reports="r2")
    assert result.ret == 4
    assert "--baseline PATH: pytest took PATH for a test path" in "\n".join(result.errlines)
    assert "write --baseline=PATH" in "\n".join(result.errlines)
    result, doc, _ = plugin_run("--baseline=" + str(base), reports="r3")
    assert result.ret == 0 and doc["gate"]["mode"] == "baseline" and doc["gate"]["baseline"] == str(base)


@pytest.mark.parametrize("flag", ["--eval-baseline", "--profile"])
def test_plugin_refuses_any_path_option_that_moved_the_rootdir(plugin_run, tmp_path_factory, flag):
    """The same trap for every option whose value is a path (``PATH_OPTIONS``): refused with the fix."""
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "x.toml"
    elsewhere.write_text("", encoding="utf-8")
    result, _, _ = plugin_run(flag, str(elsewhere), reports="r4")
    assert result.ret == 4
    assert f"write {flag}=PATH" in "\n".join(result.errlines)


# --- the Allure HTML title uses the same gate -------------------------------------------------------


def test_allure_title_uses_the_run_gate_next_to_the_results(tmp_path):
    from conformance.report import allure as allure_html

    results = tmp_path / "reports" / "allure-results"
    results.mkdir(parents=True)
    assert allure_html.run_gate_next_to(results) is None  # no conformance.json: the counts decide
    summary = allure_html.StageSummary(tests=2, passed=1, failed=1)
    assert summary.gate == "FAIL"
    gate = decide(BASE, baseline=BASE, baseline_path="b.json")  # a pre-existing failure, nothing worse
    (tmp_path / "reports" / "conformance.json").write_text(json.dumps({**BASE, "gate": gate.as_dict()}))
    summary.run_gate = allure_html.run_gate_next_to(results)
    assert summary.gate == "PASS"
    assert summary.headline() == "PASS: 1 passed, 1 failed, 0 known deviations, 0 skipped, vs baseline: 0 worse, " \
                                 "0 improved"
    worse = decide(doc({"OAI-CHAT-001": "failed"}), baseline=BASE).as_dict()
    (tmp_path / "reports" / "conformance.json").write_text(json.dumps({"gate": worse}))
    summary.run_gate = allure_html.run_gate_next_to(results)
    assert summary.gate == "FAIL" and "vs baseline: 1 worse" in summary.headline()


# --- the example CI workflows (docs/ci/) ---------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
CI_FILES = {"github": ROOT / "docs" / "ci" / "github-actions.yml", "gitlab": ROOT / "docs" / "ci" / "gitlab-ci.yml"}
PYTEST_OWN = {"--rootdir", "-q", "-x", "-p", "--maxfail", "-rxXs"}


def _ci(name: str) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(CI_FILES[name].read_text(encoding="utf-8"))


def _shell(name: str) -> str:
    data = _ci(name)
    if name == "github":
        steps = data["jobs"]["conformance"]["steps"]
        return "\n".join(s.get("run", "") for s in steps)
    job = data["llm-conformance"]
    return "\n".join([*job["before_script"], *job["script"]])


def _pytest_options(shell: str) -> list[str]:
    command = re.search(r"^\s*pytest (.*?)(?<!\\)$", shell.replace("\\\n", " "), re.M | re.S)
    assert command, "no pytest command"
    return [tok.split("=", 1)[0] for tok in command.group(1).split() if tok.startswith("-")]


def test_pytest_option_scan_sees_an_unknown_option():
    from conformance.harness import config

    known = {f"--{o.name}" for o in config.OPTIONS} | PYTEST_OWN
    assert [o for o in _pytest_options("pytest --endpoint x --no-such-option=1") if o not in known] == \
        ["--no-such-option"]


@pytest.mark.parametrize("name", sorted(CI_FILES))
def test_ci_examples_name_options_commands_and_paths_that_exist(name):
    from conformance.harness import config
    from conformance.report.allure import INSTALL_COMMAND

    shell = _shell(name)
    gate_array = re.search(r"gate=\((--[\w-]+)=", shell)  # the options added to the pytest command
    assert gate_array
    options = _pytest_options(shell) + [gate_array.group(1)]
    assert '"${gate[@]}"' in shell.replace("\\\n", " ").split("pytest ", 1)[1]
    known = {f"--{o.name}" for o in config.OPTIONS} | PYTEST_OWN
    assert options and not [o for o in options if o not in known]
    wanted = {"--endpoint", "--profile", "--reports-dir", "--allure-html", "--baseline", "--save-baseline"}
    assert wanted <= set(options)
    assert INSTALL_COMMAND in shell and "pip install -e ." in shell
    profile = re.search(r'PROFILE: (?:\$\{\{ vars\.LLMCONF_PROFILE \|\| \')?(\w+)', CI_FILES[name].read_text()).group(1)
    assert (ROOT / "conformance" / "profiles" / f"{profile}.toml").is_file()
    assert "--reports-dir=reports " in shell.replace("\\\n", " ")
    assert "--baseline=\"$BASELINE\"" in shell and "--save-baseline=reports/baseline/conformance.json" in shell
    # the artifact paths are where the plugin writes (reports dir "reports")
    text = CI_FILES[name].read_text()
    for path in ("reports/junit.xml", "reports/conformance.json", "reports/summary.md", "reports/allure-html",
                 "reports/allure-html-single", "reports/baseline/conformance.json"):
        assert path in text, path
    plugin = (ROOT / "conformance" / "harness" / "plugin.py").read_text()
    assert 'reports / "junit.xml"' in plugin and 'reports / "allure-html"' in plugin
    assert 'reports / "allure-html-single"' in plugin and 'reports / "summary.md"' in plugin


def test_github_example_writes_the_step_summary_and_keeps_artifacts_on_failure():
    data = _ci("github")
    assert (data.get("on") or data.get(True))  # YAML 1.1 reads the key `on` as True
    job = data["jobs"]["conformance"]
    assert "llm" in job["services"] and job["services"]["llm"]["ports"] == ["8000:8000"]
    assert job["env"]["ENDPOINT"] == "http://localhost:8000"
    steps = {s.get("name"): s for s in job["steps"]}
    summary = steps["Step summary"]
    assert summary["if"] == "always()" and 'cat reports/summary.md >> "$GITHUB_STEP_SUMMARY"' in summary["run"]
    upload = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"
    assert "/v1/health/ready" in _shell("github")  # the nim profile's readiness route


def test_gitlab_example_has_a_service_and_a_junit_report():
    job = _ci("gitlab")["llm-conformance"]
    service = job["services"][0]
    assert service["alias"] == "llm" and job["variables"]["ENDPOINT"] == "http://llm:8000"
    assert not any("$" in part for part in service["command"])  # GitLab does not expand them there
    assert job["artifacts"]["when"] == "always" and job["artifacts"]["reports"]["junit"] == "reports/junit.xml"
    assert '"/health"' in (ROOT / "conformance" / "profiles" / "vllm.toml").read_text()
    assert "$ENDPOINT/health" in _shell("gitlab")


EVAL_INNER = '''
import os
from conformance.harness.requirements import requirement
from conformance.harness.failures import ConformanceFailure

@requirement("OAI-EVAL-003")
def test_accuracy_gate_holds():
    if os.environ.get("EVAL_FAIL"):
        raise ConformanceFailure("accuracy gate FAIL: lookup 70/100 vs baseline 90/100")

@requirement("OAI-CHAT-001")
def test_ok():
    pass
'''


def test_plugin_eval_gate_fails_the_run_in_both_modes(plugin_run, pytester, monkeypatch):
    """The eval gate (OAI-EVAL-003, a test) plugs into the same exit logic: a FAIL fails an
    absolute run and a baseline-gated run, even when the baseline already had it failing."""
    pytester.makepyfile(test_inner=EVAL_INNER)
    base = pytester.path / "base.json"
    result, doc, _ = plugin_run("--save-baseline=" + str(base))
    assert result.ret == 0 and doc["gate"]["state"] == "PASS"
    monkeypatch.setenv("EVAL_FAIL", "1")
    result, doc, _ = plugin_run("--save-baseline=" + str(pytester.path / "failing.json"), reports="r2")
    assert result.ret == 1 and "OAI-EVAL-003" in _gate_line(result)
    for baseline in (base, pytester.path / "failing.json"):
        result, doc, _ = plugin_run(f"--baseline={baseline}", reports="r3")
        assert result.ret == 1 and [e["requirement"] for e in doc["gate"]["worse"]] == ["OAI-EVAL-003"]
    monkeypatch.delenv("EVAL_FAIL")
    result, doc, _ = plugin_run(f"--baseline={pytester.path / 'failing.json'}", reports="r4")
    assert result.ret == 0 and [e["requirement"] for e in doc["gate"]["improved"]] == ["OAI-EVAL-003"]
