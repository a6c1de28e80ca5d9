"""pytest -n N (conformance.harness.parallel): the shared reference's slots, the run-alone lock, the
worker → controller merge, and a parallel run through the real plugin that writes the same reports
as a serial one (pytester, nothing contacted)."""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

import pytest

from conformance.harness import metrics as run_metrics
from conformance.harness import outcomes, parallel, traffic
from conformance.reference.configs import get_config, with_slots
from tests.plugin_runs import INI, unit_profile


# --- slots ------------------------------------------------------------------------------------------

def test_with_slots_keeps_the_window_per_slot():
    base = get_config(None)
    four = with_slots(base, 4)
    assert (four.parallel, four.ctx_size) == (4, base.ctx_size // base.parallel * 4)
    assert four.ctx_size // four.parallel == base.ctx_size // base.parallel
    assert "--parallel" in four.server_args() and four.server_args()[four.server_args().index("--parallel") + 1] == "4"
    assert with_slots(base, 1) is base and with_slots(base, None) is base and with_slots(base, base.parallel) is base


# --- the run-alone lock -----------------------------------------------------------------------------

def _locks(tmp_path, n):
    return [parallel.RunAloneLock(tmp_path) for _ in range(n)]


def test_alone_waits_for_running_tests_and_holds_new_ones_off(tmp_path):
    """R1 runs; W (alone) asks and waits; R2 asks after W: W runs before R2, and alone."""
    r1, w, r2 = _locks(tmp_path, 3)  # separate open files: flock treats them as separate holders
    log: list[str] = []
    release_r1 = threading.Event()
    r1_in = threading.Event()

    def run(lock, name, alone, hold=None, entered=None):
        with lock.hold(alone=alone):
            log.append(f"{name}+")
            if entered is not None:
                entered.set()
            if hold is not None:
                hold.wait(10)
            log.append(f"{name}-")

    t1 = threading.Thread(target=run, args=(r1, "R1", False, release_r1, r1_in))
    t1.start()
    assert r1_in.wait(10)
    tw = threading.Thread(target=run, args=(w, "W", True))
    tw.start()
    time.sleep(0.3)  # W is waiting on R1 (if the lock were broken it would have entered by now)
    t2 = threading.Thread(target=run, args=(r2, "R2", False))
    t2.start()
    time.sleep(0.3)
    assert log == ["R1+"], log  # neither W nor R2 got in while R1 runs and W waits
    release_r1.set()
    for t in (t1, tw, t2):
        t.join(10)
    assert log == ["R1+", "R1-", "W+", "W-", "R2+", "R2-"], log
    for lock in (r1, w, r2):
        lock.close()


def test_ordinary_tests_share_the_lock(tmp_path):
    a, b = _locks(tmp_path, 2)
    with a.hold(alone=False):
        entered = threading.Event()

        def other():
            with b.hold(alone=False):
                entered.set()

        t = threading.Thread(target=other)
        t.start()
        assert entered.wait(10), "two ordinary tests must run at the same time"
        t.join(10)


def test_the_lock_says_when_its_holder_runs_alone(tmp_path):
    (lock,) = _locks(tmp_path, 1)
    assert not lock.exclusive()
    with lock.hold(alone=False):
        assert not lock.exclusive()
    with lock.hold(alone=True):
        assert lock.exclusive()
    assert not lock.exclusive()
    lock.close()


def test_an_alone_test_is_not_handed_an_exchange_made_beside_other_tests(tmp_path):
    """Under -n, a cached answer made while other tests' requests were in flight may have been
    batched with them: an alone test (which compares generations) gets it made again, alone."""
    import httpx

    from conformance.harness import profiles
    from conformance.harness.client import Client
    from conformance.harness.facades import OpenAI, Passive
    from conformance.harness.requirements import load_catalog
    from conformance.harness.schemas import SchemaSet

    sent: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(1)
        return httpx.Response(200, json={
            "id": f"c{len(sent)}", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})

    (lock,) = _locks(tmp_path, 1)
    oai = OpenAI(client=Client("http://endpoint.test", transport=httpx.MockTransport(handler)),
                 schemas=SchemaSet(flavors=("compat",)), model="m", exclusive=lock.exclusive,
                 passive=Passive(profile=profiles.load("generic"), catalog=load_catalog()))
    body = {"messages": [{"role": "user", "content": "x"}], "max_tokens": 1}
    try:
        with lock.hold(alone=False):
            first = oai.chat(body)
            assert oai.chat(body).exchange is first.exchange and len(sent) == 1  # ordinary tests share it
        with lock.hold(alone=True):
            again = oai.chat(body)
            assert again.exchange is not first.exchange and len(sent) == 2  # made again, alone
            assert oai.chat(body).exchange is again.exchange and len(sent) == 2
        with lock.hold(alone=False):
            assert oai.chat(body).exchange is again.exchange  # one made alone serves everyone
        serial = OpenAI(client=oai.client, schemas=oai.schemas, passive=oai.passive, model="m")
        made = serial.chat(body)
        assert serial.chat(body).exchange is made.exchange and len(sent) == 3  # a serial run: always alone
    finally:
        oai.client.close()
        lock.close()


# --- worker → controller -----------------------------------------------------------------------------

def _state():
    return SimpleNamespace(records={}, metrics=run_metrics.Collector(), traffic=traffic.Recorder(), eval_docs={},
                           merged={},
                           context_window=None, context_probes=[], modalities=None,
                           info=SimpleNamespace(model="", server=""))


def test_worker_output_round_trips_through_json_into_the_controller():
    worker = _state()
    rec = outcomes.TestRecord(nodeid="t.py::test_a", requirement="OAI-CHAT-001", outcome="failed", message="m",
                              duration_s=1.5, violations=[{"requirement": "OAI-CHAT-001", "kind": "failed"}])
    worker.records[rec.nodeid] = rec
    worker.metrics.items.append(run_metrics.ExchangeMetrics(seq=3, api="chat", method="POST",
                                                            path="/v1/chat/completions", stream=True, status=200,
                                                            itl_ms=[1.0, 2.5], nodeid=rec.nodeid))
    worker.info.model, worker.info.server = "m1", "llama.cpp"
    worker.eval_docs["lookup"] = {"gate": {"state": "PASS"}}
    worker.traffic.add_unattributed({"models": {"requests": 1, "generations": 0, "prompt_tokens": 0,
                                                "output_tokens": 0}})  # e.g. model discovery outside a test
    out = json.loads(json.dumps(parallel.worker_output(worker)))  # execnet carries plain types only
    controller = _state()
    parallel.merge_worker_output(controller, out)
    assert controller.records == worker.records
    assert controller.metrics.items == worker.metrics.items
    assert (controller.info.model, controller.info.server) == ("m1", "llama.cpp")
    assert controller.eval_docs == worker.eval_docs
    assert controller.traffic.unattributed(controller.records) == worker.traffic.unattributed(worker.records)
    assert controller.traffic.unattributed(controller.records)["models"]["requests"] == 1
    # a second worker adds its records; what the controller already knows stays
    other = _state()
    other.records["t.py::test_b"] = outcomes.TestRecord(nodeid="t.py::test_b", requirement="OAI-CHAT-002")
    other.info.model = "m2"
    parallel.merge_worker_output(controller, json.loads(json.dumps(parallel.worker_output(other))))
    assert sorted(controller.records) == ["t.py::test_a", "t.py::test_b"] and controller.info.model == "m1"


def test_worker_count_is_zero_without_xdist_or_on_a_worker():
    def config(n, dist="load", plugins=("xdist",), worker=False):
        cfg = SimpleNamespace(option=SimpleNamespace(numprocesses=n, dist=dist),
                              pluginmanager=SimpleNamespace(hasplugin=lambda name: name in plugins))
        if worker:
            cfg.workerinput = {}
        return cfg

    assert parallel.worker_count(config(4)) == 4
    assert parallel.worker_count(config(0)) == 0
    assert parallel.worker_count(config(None)) == 0
    assert parallel.worker_count(config(4, dist="no")) == 0
    assert parallel.worker_count(config(4, plugins=())) == 0
    assert parallel.worker_count(config(4, worker=True)) == 0


# --- end to end through the plugin (subprocess workers; nothing contacted) ------------------------------

INNER = '''
import os, time, pytest
from conformance.harness.requirements import requirement
from conformance.harness.failures import ConformanceFailure

def _span(name):
    start = time.monotonic()
    time.sleep(0.25)
    with open(os.environ["SPANS"], "a") as f:
        f.write(f"{name} {start} {time.monotonic()}\\n")

@requirement("OAI-CHAT-001")
@pytest.mark.parametrize("i", range(6))
def test_ordinary(i):
    _span(f"ordinary{i}")

@requirement("OAI-STREAM-002")
def test_fails():
    _span("fails")
    raise ConformanceFailure("no [DONE]")

@requirement("OAI-CONC-001")
@pytest.mark.alone("concurrency")
def test_alone():
    _span("alone")

@requirement("OAI-MODELS-001")
def test_skipped():
    pytest.skip("not applicable: unit")
'''

PROFILE = unit_profile("parallel tests")


@pytest.fixture
def run_plugin(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    pytester.makeini(INI)
    pytester.makepyfile(test_inner=INNER)
    profile = pytester.path / "unit.toml"
    profile.write_text(PROFILE)

    def go(reports: str, *extra: str):
        out = pytester.path / reports
        spans = pytester.path / f"{reports}.spans"
        monkeypatch.setenv("SPANS", str(spans))
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--endpoint=http://127.0.0.1:9",
                                               f"--profile={profile}", f"--reports-dir={out}", *extra)
        doc = json.loads((out / "conformance.json").read_text())
        rows = [line.split() for line in spans.read_text().splitlines()]
        return result, doc, out, {name: (float(a), float(b)) for name, a, b in rows}

    return go


def test_parallel_run_writes_the_serial_runs_reports(run_plugin):
    serial, sdoc, _, _ = run_plugin("serial")
    par, pdoc, out, spans = run_plugin("par", "-n", "2")
    assert serial.ret == par.ret == 1
    for key in ("requirements", "totals", "test_outcomes", "coverage"):
        assert pdoc[key] == sdoc[key], key
    assert pdoc["gate"]["state"] == sdoc["gate"]["state"] == "FAIL"
    assert pdoc["gate"]["line"] == sdoc["gate"]["line"]
    assert sorted(pdoc["test_durations_s"]) == sorted(sdoc["test_durations_s"])
    assert pdoc["cost_estimate"] == sdoc["cost_estimate"]  # estimated from a worker's selection under -n
    assert pdoc["traffic"]["totals"] == sdoc["traffic"]["totals"]
    assert "llmconf gate: FAIL" in par.stdout.str() and "2 workers" in par.stdout.str()
    junit = (out / "junit.xml").read_text()
    assert junit.count("<testcase ") == 9
    results = [json.loads(p.read_text()) for p in (out / "allure-results").glob("*-result.json")]
    assert sorted(r["name"] for r in results if r["name"] != "Run timing metrics") == sorted(
        [f"test_ordinary[{i}]" for i in range(6)] + ["test_fails", "test_alone", "test_skipped"])
    assert (out / "allure-results" / "environment.properties").is_file()  # the controller's metadata
    # the alone test ran with no other test in flight; the others did overlap (two workers)
    a0, a1 = spans.pop("alone")
    assert all(b <= a0 or a >= a1 for a, b in spans.values()), spans
    ordered = sorted(spans.values())
    assert any(ordered[i + 1][0] < ordered[i][1] for i in range(len(ordered) - 1)), "no two tests overlapped"


# --- the parallel-run benchmark's arithmetic (benchmarks/parallel_run.py) ---------------------------------

def test_benchmark_reads_the_server_floor_from_prometheus():
    from benchmarks import parallel_run as pr

    text = ("# HELP llamacpp:prompt_seconds_total x\n# TYPE llamacpp:prompt_seconds_total counter\n"
            "llamacpp:prompt_seconds_total 10.5\nllamacpp:tokens_predicted_seconds_total 20\n"
            'llamacpp:labelled{slot="0"} 3\nllamacpp:requests_processing 1\n')
    before = pr.parse_prometheus(text)
    assert before == {"llamacpp:prompt_seconds_total": 10.5, "llamacpp:tokens_predicted_seconds_total": 20.0,
                      "llamacpp:requests_processing": 1.0}
    after = dict(before, **{"llamacpp:prompt_seconds_total": 12.0, "llamacpp:tokens_predicted_seconds_total": 25.25})
    assert pr.server_floor_s(before, after) == 6.75
    assert pr.server_floor_s(None, after) is None
    assert pr.server_floor_s({"llamacpp:prompt_seconds_total": 1.0}, after) is None  # no --metrics: no floor


def test_benchmark_compares_verdicts_with_intermittent_deviations_as_one():
    from benchmarks import parallel_run as pr

    def doc(outcome_a, outcome_b):
        return {"intermittent_deviations": ["OAI-STREAM-007"],
                "requirements": {"OAI-STREAM-007": {"outcome": outcome_a, "tests": ["t::a"]},
                                 "OAI-CHAT-001": {"outcome": outcome_b, "tests": ["t::b"]}},
                "test_outcomes": {"t::a": outcome_a, "t::b": outcome_b}}

    assert pr.differences(pr.verdicts(doc("passed", "passed")), pr.verdicts(doc("xfailed", "passed"))) == []
    diffs = pr.differences(pr.verdicts(doc("passed", "passed")), pr.verdicts(doc("passed", "failed")))
    assert diffs == ["OAI-CHAT-001: passed vs failed", "test:t::b: passed vs failed"]


def test_benchmark_summary_is_a_ratio_of_medians():
    from benchmarks import parallel_run as pr

    runs = [{"workers": 0, "wall_s": 100.0, "pytest_cpu_s": 10.0, "server_cpu_s": 80.0, "server_floor_s": 90.0},
            {"workers": 4, "wall_s": 40.0, "pytest_cpu_s": 20.0, "server_cpu_s": 50.0, "server_floor_s": 120.0},
            {"workers": 4, "wall_s": 50.0, "pytest_cpu_s": 20.0, "server_cpu_s": 50.0, "server_floor_s": 120.0},
            {"workers": 0, "wall_s": 110.0, "pytest_cpu_s": 10.0, "server_cpu_s": 80.0, "server_floor_s": 90.0}]
    for r in runs:
        r.update(exit=0, tests=3)
    s = pr.summarize(runs, 4)
    assert (s["serial_wall_s"], s["parallel_wall_s"], s["speedup"]) == (105.0, 45.0, 2.33)
    assert s["meets_target"] is False and s["serial"]["wall_over_server_floor"] == round(105 / 90, 2)
    text = pr.render({"workers": 4, "slots": 4, "cores": 2, "rounds": 2, "latency_ms": 0, "runs": runs,
                      "differences": [], "summary": s})
    assert "speedup: **2.33×**" in text and "NOT met" in text and "verdicts: identical" in text


def test_latency_proxy_refuses_a_negative_latency():
    from conformance.faults.proxy import FaultProxy
    from conformance.harness.failures import UsageError

    with pytest.raises(UsageError, match="latency_s"):
        FaultProxy("http://127.0.0.1:9", latency_s=-1)
