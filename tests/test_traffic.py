"""Requests and tokens per requirement (conformance.harness.traffic, issue 13 §4): per-exchange counts
from recorded exchanges, attribution to tests, the ``traffic`` block of conformance.json and the
summary section, the recorded budget and the CI budget check (good and bad fixtures: a 10 % + 1
increase fails, 10 % passes, a decrease passes), and, through pytester against a canned upstream,
the plugin's attribution (session fixtures set up inside a test belong to it; a test citing no
requirement is unattributed)."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.harness import metrics as M
from conformance.harness import traffic as T
from conformance.harness.outcomes import TestRecord as Record
from tests.fake_upstream import JSONHandler, serve
from tests.test_metrics import chat_chunk, json_ex, stream_ex

ROOT = Path(__file__).resolve().parents[1]


def counted(ex: Any) -> tuple[str, dict[str, int]]:
    return T.counts_of(ex, M.exchange_metrics(ex, include_other=True))


# -- per exchange -----------------------------------------------------------------------------------


def test_blocking_chat_counts_a_generation_and_its_usage():
    ex = json_ex("/v1/chat/completions", {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 5}})
    assert counted(ex) == ("chat", {"requests": 1, "generations": 1, "prompt_tokens": 12, "output_tokens": 5})


def test_stream_counts_the_final_usage():
    ex = stream_ex("/v1/chat/completions", [(0.01, chat_chunk(content="a")), (0.02, chat_chunk(content="b")),
                                            (0.03, {"choices": [], "usage": {"prompt_tokens": 7,
                                                                             "completion_tokens": 2}})], done=0.04)
    assert counted(ex) == ("chat", {"requests": 1, "generations": 1, "prompt_tokens": 7, "output_tokens": 2})


def test_stream_without_usage_reports_zero_tokens_never_an_estimate():
    ex = stream_ex("/v1/chat/completions", [(0.01, chat_chunk(content="a")), (0.02, chat_chunk(content="b"))],
                   done=0.03)
    m = M.exchange_metrics(ex)
    assert m is not None and m.output_tokens == 2 and m.output_tokens_source == "events"  # metrics' estimate
    assert T.counts_of(ex, m)[1] == {"requests": 1, "generations": 1, "prompt_tokens": 0, "output_tokens": 0}


def test_messages_input_counts_cache_tokens():
    ex = json_ex("/v1/messages", {"type": "message", "usage": {
        "input_tokens": 10, "cache_read_input_tokens": 3, "cache_creation_input_tokens": 2, "output_tokens": 4}})
    assert counted(ex) == ("messages", {"requests": 1, "generations": 1, "prompt_tokens": 15, "output_tokens": 4})


def test_rejected_requests_and_reads_are_requests_not_generations():
    bad = json_ex("/v1/chat/completions", {"error": {"message": "no"}}, status=400)
    models = json_ex("/v1/models", {"object": "list", "data": []}, method="GET")
    count = json_ex("/v1/messages/count_tokens", {"input_tokens": 9})
    assert counted(bad) == ("chat", {"requests": 1, "generations": 0, "prompt_tokens": 0, "output_tokens": 0})
    assert counted(models) == ("models", {"requests": 1, "generations": 0, "prompt_tokens": 0, "output_tokens": 0})
    assert counted(count)[0] == "count_tokens" and counted(count)[1]["generations"] == 0


def test_exchange_without_metrics_still_counts_as_a_request():
    ex = json_ex("/v1/responses", {"usage": {"input_tokens": 3, "output_tokens": 1}})
    assert T.counts_of(ex, None) == ("responses", {"requests": 1, "generations": 1, "prompt_tokens": 0,
                                                   "output_tokens": 0})


# -- attribution ------------------------------------------------------------------------------------


def chat(prompt: int = 4, out: int = 2, status: int = 200) -> Any:
    return json_ex("/v1/chat/completions", {"usage": {"prompt_tokens": prompt, "completion_tokens": out}},
                   status=status)


def test_recorder_attributes_to_the_running_test_and_the_session():
    r = T.Recorder()
    r.record(json_ex("/v1/models", {"data": []}, method="GET"))  # before any test
    r.nodeid = "t.py::a"
    r.record(chat(), M.exchange_metrics(chat()))
    r.record(chat(10, 1), M.exchange_metrics(chat(10, 1)))
    r.nodeid = "t.py::uncited"
    r.record(chat(), None)
    assert r.of("t.py::a") == {"chat": {"requests": 2, "generations": 2, "prompt_tokens": 14, "output_tokens": 3}}
    assert r.of("t.py::nothing") == {}
    un = r.unattributed(["t.py::a"])
    assert un == {"chat": {"requests": 1, "generations": 1, "prompt_tokens": 0, "output_tokens": 0},
                  "models": {"requests": 1, "generations": 0, "prompt_tokens": 0, "output_tokens": 0}}
    assert list(un) == ["chat", "models"]  # report order
    r.add_unattributed({"health": {"requests": 2}})
    assert r.unattributed(["t.py::a"])["health"]["requests"] == 2


def test_recorder_never_raises():
    r = T.Recorder()
    r.record(object(), object())  # neither an Exchange nor metrics
    assert r.failures and r.unattributed([]) == {}


def test_traffic_survives_the_xdist_transfer():
    rec = Record(nodeid="t.py::a", requirement="OAI-CHAT-001",
                     traffic={"chat": {"requests": 2, "generations": 2, "prompt_tokens": 14, "output_tokens": 3}})
    again = Record(**json.loads(json.dumps(dataclasses.asdict(rec))))
    assert again == rec
    assert Record(nodeid="x", requirement="OAI-CHAT-001").traffic == {}


# -- the block and the summary ----------------------------------------------------------------------


def records() -> list[Record]:
    c = lambda n, p, o: {"requests": n, "generations": n, "prompt_tokens": p, "output_tokens": o}  # noqa: E731
    return [
        Record("a::1", "OAI-CHAT-001", traffic={"chat": c(3, 30, 6), "models": {"requests": 1}}),
        Record("a::2", "OAI-CHAT-001", traffic={"chat": c(1, 10, 2)}),
        Record("b::1", "ANT-MSG-001", traffic={"messages": c(2, 20, 4)}),
        Record("c::1", "OAI-CHAT-004"),  # skipped before any request
    ]


def test_block_sums_tests_into_requirements_and_apis():
    block = T.traffic_block(records(), {"health": {"requests": 2}})
    assert block["totals"] == {"requests": 9, "generations": 6, "prompt_tokens": 60, "output_tokens": 12}
    assert block["by_api"]["chat"] == {"requests": 4, "generations": 4, "prompt_tokens": 40, "output_tokens": 8}
    assert list(block["by_api"]) == ["chat", "messages", "models", "health"]
    chat = block["by_requirement"]["OAI-CHAT-001"]
    assert (chat["requests"], chat["prompt_tokens"], chat["tests"]) == (5, 40, 2)
    assert chat["by_api"]["models"]["requests"] == 1
    assert block["by_requirement"]["OAI-CHAT-004"]["requests"] == 0  # listed: a requirement that costs nothing
    assert block["unattributed"]["requests"] == 2 and block["unattributed"]["by_api"]["health"]["requests"] == 2
    assert set(block["definitions"]) >= set(T.COUNTS)
    assert block["by_test"] == {"a::1": {"requests": 4, "generations": 3, "prompt_tokens": 30, "output_tokens": 6},
                                "a::2": {"requests": 1, "generations": 1, "prompt_tokens": 10, "output_tokens": 2},
                                "b::1": {"requests": 2, "generations": 2, "prompt_tokens": 20, "output_tokens": 4}}
    json.dumps(block)


def test_summary_section_lists_apis_and_top_requirements():
    lines = T.summary_lines(T.traffic_block(records(), {}))
    text = "\n".join(lines)
    assert lines[0] == "## Requests and tokens"
    assert "| chat | 4 | 4 | 40 | 8 |" in text and "| **total** | 7 | 6 | 60 | 12 |" in text
    top = [line for line in lines if line.startswith("| OAI-") or line.startswith("| ANT-")]
    assert top[0].startswith("| OAI-CHAT-001 | 2 | 5 |") and top[1].startswith("| ANT-MSG-001 |")
    assert "Requests per requirement: mean 2.3, median 2, max 5 over 3 requirements" in text
    assert T.summary_lines(None) == [] and T.summary_lines({}) == []


# -- the budget ---------------------------------------------------------------------------------------


def run_doc(tmp_path: Path, requests: int, *, by_req: dict[str, int] | None = None, profile: str = "reference",
            name: str = "conformance.json") -> Path:
    by_req = by_req if by_req is not None else {"OAI-CHAT-001": requests}
    doc = {"profile": profile, "suite_version": "x", "totals": {"tests": 3},
           "traffic": {"totals": {"requests": requests, "generations": requests, "prompt_tokens": 10 * requests,
                                  "output_tokens": requests},
                       "by_api": {"chat": {"requests": requests}},
                       "by_requirement": {rid: {"requests": n, "generations": n, "prompt_tokens": 0,
                                                "output_tokens": 0, "tests": 1} for rid, n in by_req.items()},
                       "unattributed": {"requests": 0}}}
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def budget(tmp_path: Path) -> Path:
    out = tmp_path / "budget.json"
    T.record_budget(run_doc(tmp_path, 100, by_req={"OAI-CHAT-001": 60, "ANT-MSG-001": 40}, name="rec.json"), out)
    return out


def checked(tmp_path: Path, budget: Path, requests: int, **kw: Any) -> tuple[int, str]:
    out = io.StringIO()
    by_req = kw.pop("by_req", {"OAI-CHAT-001": requests - 40, "ANT-MSG-001": 40})
    code = T.check(run_doc(tmp_path, requests, by_req=by_req, **kw), budget, out=out)
    return code, out.getvalue()


def test_record_writes_the_figure(budget: Path):
    doc = T.load_budget(budget)
    assert (doc["requests"], doc["prompt_tokens"], doc["output_tokens"], doc["profile"]) == (100, 1000, 100,
                                                                                             "reference")
    assert doc["command"] == "pytest" and "record" in doc["$comment"] and "check" in doc["$comment"]
    assert doc["by_requirement"]["ANT-MSG-001"]["requests"] == 40


def test_same_count_passes(tmp_path: Path, budget: Path):
    code, text = checked(tmp_path, budget, 100)
    assert code == 0 and "ok" in text and "ratio 1.000" in text


def test_ten_percent_more_passes(tmp_path: Path, budget: Path):
    code, text = checked(tmp_path, budget, 110)
    assert code == 0 and "ratio 1.100" in text


def test_ten_percent_and_one_more_fails_naming_the_requirement(tmp_path: Path, budget: Path):
    code, text = checked(tmp_path, budget, 111, by_req={"OAI-CHAT-001": 60, "ANT-MSG-001": 40, "OAI-TOOLS-001": 11})
    assert code == 1 and "FAIL" in text and "ratio 1.110" in text
    assert "OAI-TOOLS-001: 0 -> 11 (+11) (new)" in text and "record" in text
    code, text = checked(tmp_path, budget, 111)
    assert code == 1 and "OAI-CHAT-001: 60 -> 71 (+11)" in text


def test_a_decrease_passes_and_says_to_update_the_figure(tmp_path: Path, budget: Path):
    code, text = checked(tmp_path, budget, 80)
    assert code == 0 and "20 fewer requests" in text and "OAI-CHAT-001: 60 -> 40 (-20)" in text


def test_tolerance_is_a_parameter(tmp_path: Path, budget: Path):
    out = io.StringIO()
    assert T.check(run_doc(tmp_path, 103), budget, tolerance=0.02, out=out) == 1
    assert T.check(run_doc(tmp_path, 102), budget, tolerance=0.02, out=out) == 0


@pytest.mark.parametrize("bad", ["missing", "not-json", "no-traffic", "profile", "budget-missing", "budget-bad"])
def test_unusable_input_exits_2(tmp_path: Path, budget: Path, bad: str):
    run = run_doc(tmp_path, 100)
    if bad == "missing":
        run = tmp_path / "nope.json"
    elif bad == "not-json":
        run.write_text("{")
    elif bad == "no-traffic":
        run.write_text(json.dumps({"profile": "reference", "totals": {}}))
    elif bad == "profile":
        run = run_doc(tmp_path, 100, profile="nim")
    elif bad == "budget-missing":
        budget = tmp_path / "none.json"
    elif bad == "budget-bad":
        budget.write_text(json.dumps({"requests": "many", "prompt_tokens": 0, "output_tokens": 0}))
    out = io.StringIO()
    assert T.check(run, budget, out=out) == 2 and "UNUSABLE" in out.getvalue()


def test_load_budget_rejects_malformed_files(tmp_path: Path):
    path = tmp_path / "b.json"
    for doc in ({"requests": 0, "prompt_tokens": 0, "output_tokens": 0},
                {"requests": 5, "prompt_tokens": -1, "output_tokens": 0},
                {"requests": 5, "prompt_tokens": 1, "output_tokens": 0, "by_requirement": {"X": {"requests": 1.5}}},
                [1]):
        path.write_text(json.dumps(doc))
        with pytest.raises(T.BudgetError):
            T.load_budget(path)


def test_cli_check_and_record(tmp_path: Path):
    run = run_doc(tmp_path, 100)
    out = tmp_path / "b.json"
    tool = str(ROOT / "tools" / "request_budget.py")
    rec = subprocess.run([sys.executable, tool, "record", str(run), "--budget", str(out)],
                         capture_output=True, text=True, check=False)
    assert rec.returncode == 0 and out.exists(), rec.stdout + rec.stderr
    more = run_doc(tmp_path, 111, name="more.json")
    fail = subprocess.run([sys.executable, "-m", "conformance.harness.traffic", "check", str(more), "--budget",
                           str(out)], capture_output=True, text=True, check=False)
    assert fail.returncode == 1 and "FAIL" in fail.stdout
    ok = subprocess.run([sys.executable, tool, "check", str(run), "--budget", str(out)],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout


def test_the_shipped_budget_is_usable():
    doc = T.load_budget()
    assert T.BUDGET_PATH == ROOT / "conformance" / "budgets" / "reference.json"
    assert doc["profile"] == "reference" and doc["command"] == "pytest" and doc["requests"] > 100
    assert sum(e["requests"] for e in doc["by_requirement"].values()) + doc["unattributed"]["requests"] \
        == doc["requests"]


# -- through the plugin (pytester, canned upstream) -----------------------------------------------------


class Upstream(JSONHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path.endswith("/messages"):
            return self._json(200, {"type": "message", "usage": {"input_tokens": 5, "cache_read_input_tokens": 1,
                                                                  "output_tokens": 2}})
        self._json(200, {"object": "chat.completion", "choices": [],
                         "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}})


@pytest.fixture(scope="module")
def upstream():
    yield from serve(Upstream)


INNER = '''
import pytest
from conformance.harness.requirements import requirement

@pytest.fixture
def teardown_request(client):
    yield
    client.request("POST", "/v1/chat/completions", json={"model": "m"})

@requirement("OAI-CHAT-001")
def test_a_first(client, model, teardown_request):
    client.request("POST", "/v1/chat/completions", json={"model": model})

@requirement("ANT-MSG-001")
def test_b_messages(client, model):
    client.request("POST", "/v1/messages", json={"model": model})
    client.request("POST", "/v1/messages", json={"model": model})

def test_c_uncited(client):
    client.request("GET", "/v1/models")
'''

PROFILE = '''
name = "unit"
description = "traffic plugin test"
server = "unit"
capabilities = ["messages"]
'''


def test_run_attributes_requests_and_tokens_to_requirements(pytester: pytest.Pytester,
                                                           monkeypatch: pytest.MonkeyPatch, upstream: str):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = session\n"
                     "asyncio_default_test_loop_scope = session\n")
    pytester.makepyfile(test_inner=INNER)
    profile = pytester.path / "unit.toml"
    profile.write_text(PROFILE)
    reports = pytester.path / "reports"
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly", "--endpoint", upstream,
                                "--profile", str(profile), "--reports-dir", str(reports))
    result.assert_outcomes(passed=3)
    block = json.loads((reports / "conformance.json").read_text())["traffic"]
    first = block["by_requirement"]["OAI-CHAT-001"]
    # model discovery (a session fixture first set up here), the call and the fixture's teardown request
    assert first["by_api"] == {"chat": {"requests": 2, "generations": 2, "prompt_tokens": 8, "output_tokens": 4},
                               "models": {"requests": 1, "generations": 0, "prompt_tokens": 0, "output_tokens": 0}}
    assert block["by_requirement"]["ANT-MSG-001"]["by_api"] == {
        "messages": {"requests": 2, "generations": 2, "prompt_tokens": 12, "output_tokens": 4}}
    assert block["unattributed"]["by_api"] == {
        "models": {"requests": 1, "generations": 0, "prompt_tokens": 0, "output_tokens": 0}}
    assert block["totals"] == {"requests": 6, "generations": 4, "prompt_tokens": 20, "output_tokens": 8}
    summary = (reports / "summary.md").read_text()
    assert "## Requests and tokens" in summary and "| **total** | 6 | 4 | 20 | 8 |" in summary
