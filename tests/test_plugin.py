"""The pytest plugin's outcome rules, reports and configuration, run through pytester (no endpoint:
the inner tests judge canned data, so nothing is contacted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.plugin_runs import INI

INNER = '''
import pytest
from conformance.harness.requirements import requirement
from conformance.harness.failures import ConformanceFailure, TransportError, NotApplicable

@requirement("OAI-STREAM-008")          # SHOULD
def test_should_violation():
    raise ConformanceFailure("first delta lacks role")

@requirement("OAI-STREAM-002")          # MUST
def test_must_violation():
    raise ConformanceFailure("no [DONE]")

@requirement("OAI-STREAM-003")
def test_harness_problem():
    raise TransportError("connection reset")

@requirement("OAI-STREAM-007")          # known deviation in the profile, still failing
def test_known_deviation():
    raise ConformanceFailure("created drifts")

@requirement("OAI-STREAM-009")          # known deviation in the profile, but fixed
def test_fixed_deviation():
    pass

@requirement("OAI-USAGE-002")           # needs stream_usage, not declared
def test_undeclared_capability():
    raise AssertionError("must not run")

@requirement("OAI-CHAT-004")
def test_not_applicable():
    raise NotApplicable("model stopped early")

@requirement("OAI-CHAT-001")
def test_pass():
    pass
'''

PROFILE = '''
name = "unit"
description = "profile for plugin tests"
server = "unit"
schema_flavors = ["compat"]
capabilities = ["streaming", "models"]

[[deviations]]
requirement = "OAI-STREAM-007"
reason = "created changes per chunk"
evidence = "unit test"
issue = "https://example.invalid/issue/1"

[[deviations]]
requirement = "OAI-STREAM-009"
reason = "was broken once"
evidence = "unit test"
'''




@pytest.fixture(autouse=True)
def inner_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("NGC_API_KEY", raising=False)
    pytester.makepyfile(test_inner=INNER)
    profile = pytester.path / "unit.toml"
    profile.write_text(PROFILE)

    def go(*extra: str) -> tuple[pytest.RunResult, dict]:
        reports = pytester.path / "reports"
        result = pytester.runpytest("-p", "no:cacheprovider", "--endpoint", "http://127.0.0.1:9",
                                    "--profile", str(profile), "--reports-dir", str(reports), "-rxXs", *extra)
        doc = json.loads((reports / "conformance.json").read_text())
        return result, doc

    return go


def test_outcomes_follow_the_house_rules(run):
    result, doc = run()
    outcomes = {rid: e["outcome"] for rid, e in doc["requirements"].items()}
    assert outcomes == {
        "OAI-STREAM-008": "non-strict",
        "OAI-STREAM-002": "failed",
        "OAI-STREAM-003": "broken",
        "OAI-STREAM-007": "xfailed",
        "OAI-STREAM-009": "xpassed",
        "OAI-USAGE-002": "skipped",
        "OAI-CHAT-004": "skipped",
        "OAI-CHAT-001": "passed",
    }
    result.assert_outcomes(passed=2, failed=3, skipped=2, xfailed=1)  # XPASS(strict) counts as failed
    assert doc["requirements"]["OAI-USAGE-002"]["message"].endswith("capability 'stream_usage' not declared for this endpoint")
    assert "not applicable: model stopped early" in doc["requirements"]["OAI-CHAT-004"]["message"]
    assert doc["requirements"]["OAI-STREAM-008"]["level"] == "SHOULD"
    assert doc["totals"]["failed"] == 1 and doc["totals"]["requirements"] == 8
    assert set(doc) >= {"suite_version", "endpoint", "model", "profile", "requirements", "totals"}
    assert result.ret == 1


def test_strict_makes_should_violations_fail(run):
    result, doc = run("--strict")
    assert doc["requirements"]["OAI-STREAM-008"]["outcome"] == "failed"
    assert "[SHOULD]" in doc["requirements"]["OAI-STREAM-008"]["message"]
    assert doc["strict"] is True


def test_summary_and_allure_results_are_written(run, pytester):
    result, doc = run()
    reports = pytester.path / "reports"
    summary = (reports / "summary.md").read_text()
    assert summary.startswith("# Endpoint conformance: FAIL") and "OAI-STREAM-002" in summary
    assert "Known deviations" in summary and "created changes per chunk" in summary
    results = [json.loads(p.read_text()) for p in (reports / "allure-results").glob("*-result.json")]
    by_name = {r["name"]: r for r in results}
    must = by_name["test_must_violation"]
    labels = {(l["name"], l["value"]) for l in must["labels"]}
    assert ("epic", "OpenAI-compatible API") in labels and ("severity", "blocker") in labels
    assert ("story", "OAI-STREAM-002 a stream is terminated by data [DONE]") in labels
    assert ("AS_ID", "OAI-STREAM-002") in labels or ("as_id", "OAI-STREAM-002") in labels
    assert must["status"] == "failed"
    assert by_name["test_harness_problem"]["status"] == "broken"
    assert by_name["test_known_deviation"]["status"] == "skipped"
    assert any(l["type"] == "issue" for l in by_name["test_known_deviation"]["links"])
    env = (reports / "allure-results" / "environment.properties").read_text()
    assert "profile=unit" in env and "suite.version=" in env
    assert (reports / "allure-results" / "categories.json").is_file()
    assert (reports / "junit.xml").is_file()


def test_citing_two_requirements_is_a_usage_error(pytester, monkeypatch):
    pytester.makepyfile(test_two='''
from conformance.harness.requirements import requirement
@requirement("OAI-CHAT-001")
@requirement("OAI-CHAT-002")
def test_x():
    pass
''')
    result = pytester.runpytest("-p", "no:cacheprovider", "--endpoint", "http://127.0.0.1:9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cites 2 requirements*"])


def test_unknown_requirement_is_a_usage_error(pytester):
    pytester.makepyfile(test_unknown='''
from conformance.harness.requirements import requirement
@requirement("OAI-CHAT-999")
def test_x():
    pass
''')
    result = pytester.runpytest("-p", "no:cacheprovider", "--endpoint", "http://127.0.0.1:9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_header_shows_redacted_configuration(pytester, monkeypatch):
    secret = "sk-plugin-header-secret-98765"
    monkeypatch.setenv("MY_KEY", secret)
    pytester.makepyfile(test_ok='''
from conformance.harness.requirements import requirement
@requirement("OAI-CHAT-001")
def test_x():
    pass
''')
    result = pytester.runpytest("-p", "no:cacheprovider", "--endpoint", "http://user:pw@example.invalid:8000/v1",
                                "--api-key-env", "MY_KEY", "--reports-dir", str(pytester.path / "r"))
    out = result.stdout.str()
    assert "llmconf 0.1.0: endpoint=http://***REDACTED***@example.invalid:8000" in out
    assert "$MY_KEY (set)" in out and secret not in out and "pw@" not in out
    for path in (pytester.path / "r").rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path


def test_env_and_ini_fallbacks(pytester, monkeypatch):
    monkeypatch.setenv("LLMCONF_PROFILE", "vllm")
    pytester.makeini(INI + "llmconf_endpoint = http://ini.invalid:1\n")
    pytester.makepyfile(test_ok='''
from conformance.harness.requirements import requirement
@requirement("OAI-CHAT-001")
def test_x():
    pass
''')
    result = pytester.runpytest("-p", "no:cacheprovider", "--reports-dir", str(pytester.path / "r"))
    result.stdout.fnmatch_lines(["*endpoint=http://ini.invalid:1*profile=vllm (vllm)*"])
    result = pytester.runpytest("-p", "no:cacheprovider", "--endpoint", "http://cli.invalid:2",
                                "--reports-dir", str(pytester.path / "r"))
    result.stdout.fnmatch_lines(["*endpoint=http://cli.invalid:2*"])


def test_bad_profile_is_a_usage_error(pytester):
    pytester.makepyfile(test_ok="def test_x():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--endpoint", "http://x.invalid", "--profile", "nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown profile 'nope'*"])


def test_open_responses_flag_adds_the_capability(pytester, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    pytester.makepyfile(test_or='''
from conformance.harness.requirements import requirement
@requirement("OAI-ORESP-001")
def test_x():
    pass
''')
    profile = pytester.path / "p.toml"
    profile.write_text('name="p"\ndescription="d"\nserver="s"\ncapabilities=["responses", "streaming"]\n')
    args = ["-p", "no:cacheprovider", "--endpoint", "http://127.0.0.1:9", "--profile", str(profile),
            "--reports-dir", str(pytester.path / "r")]
    pytester.runpytest(*args).assert_outcomes(skipped=1)
    pytester.runpytest(*args, "--open-responses").assert_outcomes(passed=1)
    pytester.runpytest(*args, "--add-capability", "open_responses").assert_outcomes(passed=1)
    result = pytester.runpytest(*args, "--add-capability", "telepathy")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
