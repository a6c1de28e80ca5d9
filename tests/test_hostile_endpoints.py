"""The real suite against a hostile endpoint (tests/hostile_server.py): every selected test must end
failed or broken, never passed and never hung, with the right classification and every report
written.

Each behaviour runs an inner pytest session over a few real tests of the installed suite
(``--pyargs conformance.openai.test_chat_completions_streaming conformance.openai.test_chat_completions_basic``,
narrowed with ``-k``), in a subprocess with its own directory and INI, exactly as
``pytester.runpytest_subprocess`` would. The sessions are started together (a module fixture)
rather than one after the other: most of their time is spent waiting for the short client timeouts,
and one after the other they would not fit the file's time budget on two cores. A subprocess (not
in-process ``runpytest``) is also the only way to bound an inner session that hangs: it is killed
at :data:`INNER_BOUND_S` and the test fails.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conformance.harness.client import Client, Timeouts
from conformance.harness.failures import EndpointTimeout, TransportError
from conformance.harness.metrics_report import is_synthetic
from tests.hostile_server import BEHAVIOURS, MODELS_BODY, HostileServer
from tests.plugin_runs import INI

MODULES = ("conformance.openai.test_chat_completions_streaming", "conformance.openai.test_chat_completions_basic")
# test name → (the requirement it cites, whether it streams)
TESTS = {
    "test_streamed_response_has_event_stream_content_type": ("OAI-STREAM-001", True),
    "test_stream_is_terminated_by_done": ("OAI-STREAM-002", True),
    "test_conversation_with_system_message_is_answered": ("OAI-CHAT-002", False),
    "test_response_has_n_choices_indexed_from_0": ("OAI-CHAT-004", False),
}
TIMEOUT_S, READ_S, IDLE_S, CONNECT_S, MAX_BODY_MB, TEST_TIMEOUT_S = 3.0, 2.0, 1.5, 1.0, 2, 20.0
OPTIONS = [
    "--profile", "generic",  # no --model: discovery goes through the hostile server's GET /v1/models
    "--timeout", str(TIMEOUT_S), "--read-timeout", str(READ_S), "--stream-idle-timeout", str(IDLE_S),
    "--connect-timeout", str(CONNECT_S), "--max-body-mb", str(MAX_BODY_MB), "--test-timeout", str(TEST_TIMEOUT_S),
]
INNER_BOUND_S = 180.0  # an inner session (a few tests) must finish within this; it is killed at the bound
# (generous: the bound catches a hang, and a loaded 2-core machine starts pytest slowly)
# A test stopped by the client's own limits takes about one limit; the backstop would take TEST_TIMEOUT_S.
PER_TEST_BOUND_S = TIMEOUT_S + 5.0
LIMIT = f"larger than {int(MAX_BODY_MB * 1024 * 1024)} bytes"


@dataclass(frozen=True)
class Expect:
    outcome: str  # "failed" or "broken"
    stream: tuple[str, ...]  # substrings of a streaming test's message
    blocking: tuple[str, ...]  # substrings of a non-stream test's message
    tests: tuple[str, ...] = tuple(TESTS)
    extra: tuple[str, ...] = ()  # extra inner options (later ones win)


# The classification wherever it is clearly defined: timeouts, resets, garbage and the size limit are
# harness errors (broken, "Timeout:" / TransportError); a wrong content type is a MUST violation.
EXPECT: dict[str, Expect] = {
    "hang-before-headers": Expect("broken", ("Timeout: read timeout", "before response headers"),
                                  ("Timeout: read timeout", "before response headers")),
    "hang-mid-stream": Expect("broken", ("Timeout: stream idle timeout",), ("Timeout: read timeout", "reading body")),
    "reset": Expect("broken", ("TransportError: ", "ReadError", "(stream)"),
                    ("TransportError: ", "ReadError", "(reading body)")),
    "garbage": Expect("broken", ("TransportError: RemoteProtocolError",), ("TransportError: RemoteProtocolError",)),
    "huge-body": Expect("broken", ("TransportError: ", LIMIT), ("TransportError: ", LIMIT)),
    "drip": Expect("broken", (f"Timeout: total time limit of {TIMEOUT_S}s",), (f"Timeout: total time limit of {TIMEOUT_S}s",)),
    "wrong-content-type": Expect("failed", ("OAI-STREAM-001",), ("HTTP-CTYPE-001",)),
    "endless": Expect("broken", (f"Timeout: total time limit of {TIMEOUT_S}s",), (f"Timeout: total time limit of {TIMEOUT_S}s",)),
    # Headers dripped at 1 byte/s: the total limit stops the exchange before the headers are complete.
    "drip-headers": Expect("broken", (f"Timeout: total time limit of {TIMEOUT_S}s",),
                           (f"Timeout: total time limit of {TIMEOUT_S}s",),
                           tests=("test_streamed_response_has_event_stream_content_type",
                                  "test_conversation_with_system_message_is_answered"),
                           extra=("--test-timeout", "6")),
}
assert set(EXPECT) == set(BEHAVIOURS)


# --- inner sessions ---------------------------------------------------------------------------


@dataclass
class Inner:
    behaviour: str
    path: Path
    proc: subprocess.Popen
    started: float
    ended: float | None = None
    log: Path = field(default=Path())

    @property
    def reports(self) -> Path:
        return self.path / "reports"

    def wait(self) -> float:
        """Wait (up to the bound) for the session; return its wall time. A hung session is killed."""
        remaining = self.started + INNER_BOUND_S - time.monotonic()
        try:
            self.proc.wait(timeout=max(remaining, 0.1))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"{self.behaviour}: the inner session did not finish within {INNER_BOUND_S}s:\n{self.output()}")
        return (self.ended or time.monotonic()) - self.started

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:] if self.log.is_file() else ""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LLMCONF_", "PYTEST_")) and k not in ("OPENAI_API_KEY", "NGC_API_KEY")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _launch(server: HostileServer, behaviour: str, path: Path) -> Inner:
    exp = EXPECT[behaviour]
    (path / "pytest.ini").write_text(INI)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rfE", "--pyargs", *MODULES,
           "-k", " or ".join(exp.tests), "--endpoint", server.url_for(behaviour),
           f"--reports-dir={path / 'reports'}", *OPTIONS, *exp.extra]
    log = path / "inner.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=path, env=_env(), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    inner = Inner(behaviour, path, proc, time.monotonic(), log=log)

    def watch() -> None:
        proc.wait()
        inner.ended = time.monotonic()

    threading.Thread(target=watch, daemon=True).start()
    return inner


@pytest.fixture(scope="module")
def hostile() -> HostileServer:
    with HostileServer() as server:
        yield server


@pytest.fixture(scope="module")
def inner_sessions(hostile: HostileServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Inner]:
    sessions = {b: _launch(hostile, b, tmp_path_factory.mktemp(b)) for b in BEHAVIOURS}
    yield sessions
    for inner in sessions.values():  # only the processes started here
        if inner.proc.poll() is None:
            inner.proc.kill()
            inner.proc.wait()


def _messages(doc: dict) -> dict[str, tuple[str, str]]:
    """test name → (outcome, message) from conformance.json (each selected test cites its own ID)."""
    out = {}
    for name, (rid, _) in TESTS.items():
        nodeids = [n for n in doc["test_outcomes"] if n.endswith(name)]
        if not nodeids:
            continue
        (nodeid,) = nodeids
        # every row that names the test: its own requirement's, and any requirement it saw violated
        rows = [e for e in doc["requirements"].values() if nodeid in e["tests"]]
        assert rid in doc["requirements"] and nodeid in doc["requirements"][rid]["tests"], rid
        message = "\n".join(line for e in rows for line in e["message"].splitlines() if line.startswith(nodeid))
        out[name] = (doc["test_outcomes"][nodeid], message)
    return out


def _check_session(inner: Inner, hostile: HostileServer) -> list[str]:
    """The assertions common to every behaviour; returns the observed summary lines."""
    behaviour, exp = inner.behaviour, EXPECT[inner.behaviour]
    wall = inner.wait()
    out = inner.output()
    assert wall < INNER_BOUND_S, f"{behaviour}: {wall:.1f}s"
    # Exit status 1 (tests failed): not an internal error, an interruption or a usage error.
    assert inner.proc.returncode == pytest.ExitCode.TESTS_FAILED, f"{behaviour}: rc={inner.proc.returncode}\n{out}"

    # The hostile server really was asked: models (discovery), then the inference route.
    seen = hostile.requests_for(behaviour)
    assert any(r.method == "GET" and r.path == "/v1/models" for r in seen), seen
    inference = [r for r in seen if r.path == "/v1/chat/completions"]
    wanted_kinds = {TESTS[t][1] for t in exp.tests}
    assert {r.stream for r in inference} == wanted_kinds, inference

    # Reports exist.
    reports = inner.reports
    for name in ("conformance.json", "summary.md", "junit.xml"):
        assert (reports / name).is_file(), f"{behaviour}: reports/{name} missing\n{out}"
    doc = json.loads((reports / "conformance.json").read_text())
    assert doc["model"] == "hostile" and doc["profile"] == "generic"
    totals = doc["totals"]
    assert totals["tests"] == len(exp.tests), totals
    assert totals["tests_by_outcome"]["passed"] == 0 and totals["tests_by_outcome"]["non-strict"] == 0, totals
    assert totals["tests_by_outcome"][exp.outcome] == len(exp.tests), totals

    summary = (reports / "summary.md").read_text()
    assert summary.startswith("# Endpoint conformance: FAIL"), summary[:200]

    cases = list(ET.parse(reports / "junit.xml").getroot().iter("testcase"))
    assert sorted(c.get("name") for c in cases) == sorted(exp.tests)
    for case in cases:
        assert case.find("failure") is not None or case.find("error") is not None, ET.tostring(case)[:300]

    results = [json.loads(p.read_text()) for p in (reports / "allure-results").glob("*-result.json")]
    results = [r for r in results if not is_synthetic(r)]  # "Run timing metrics" is not a test
    statuses = {r["name"]: r["status"] for r in results}
    assert statuses == {t: exp.outcome for t in exp.tests}, statuses

    # Per test: outcome, message, and stopped by the client's limits (not the per-test backstop).
    messages = _messages(doc)
    assert set(messages) == set(exp.tests)
    lines = [f"{behaviour}: inner session {wall:.1f}s, rc={inner.proc.returncode}"]
    durations = {c.get("name"): float(c.get("time")) for c in cases}
    for name in exp.tests:
        outcome, message = messages[name]
        text = message.split(": ", 1)[1] if ": " in message else message  # drop the node id
        lines.append(f"{behaviour:20} {name:55} {outcome:7} {durations[name]:5.2f}s  {text[:150]}")
    print("\n".join(lines))
    for name in exp.tests:
        outcome, message = messages[name]
        assert outcome == exp.outcome, (name, outcome, message)
        for needle in (exp.stream if TESTS[name][1] else exp.blocking):
            assert needle in message, f"{behaviour} {name}: {needle!r} not in {message!r}"
        assert durations[name] < PER_TEST_BOUND_S, f"{behaviour} {name}: {durations[name]:.1f}s ({message})"
    return lines


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
def test_hostile_endpoint_tests_end_failed_or_broken(behaviour, inner_sessions, hostile):
    _check_session(inner_sessions[behaviour], hostile)


# --- the server itself and a minimal reproduction of the bug ---------------------------------------


def test_server_answers_models_misbehaves_elsewhere_and_shuts_down_promptly():
    with HostileServer("garbage") as fixed:  # a fixed behaviour for un-prefixed paths
        client = Client(fixed.url, timeouts=Timeouts(connect_s=1, read_s=1, stream_idle_s=1, total_s=2))
        try:
            assert client.request("GET", "/v1/models").json() == MODELS_BODY
            assert client.request("GET", "/endless/v1/models").json() == MODELS_BODY
            with pytest.raises(TransportError, match="RemoteProtocolError"):
                client.request("POST", "/v1/chat/completions", json={"stream": False})
        finally:
            client.close()
    server = HostileServer().start()
    stalled = []
    for behaviour in ("hang-before-headers", "endless", "drip"):
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(f"POST /{behaviour}/v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 16\r\n\r\n"
                     '{"stream": true}'.encode())
        stalled.append(sock)
    time.sleep(0.2)
    t0 = time.monotonic()
    server.close()
    for sock in stalled:
        sock.close()
    assert time.monotonic() - t0 < 1.5
    deadline = time.monotonic() + 2
    while any(t.name.startswith(f"hostile-{server.port}") for t in threading.enumerate()):
        assert time.monotonic() < deadline, [t.name for t in threading.enumerate()]
        time.sleep(0.05)


def test_total_limit_covers_a_header_drip():
    """Minimal reproduction: headers arriving 1 byte per 20 ms (≈ 2.3 s in all) against a 0.5 s total
    limit; every read returns well within the 1 s read timeout."""
    with HostileServer("drip-headers", drip_interval_s=0.02) as server:
        client = Client(server.url, timeouts=Timeouts(connect_s=1, read_s=1, stream_idle_s=1, total_s=0.5))
        t0 = time.monotonic()
        try:
            with pytest.raises(EndpointTimeout, match="total time limit"):
                client.request("POST", "/v1/chat/completions", json={"stream": True}, stream=True)
        finally:
            elapsed = time.monotonic() - t0
            client.close()
    assert elapsed < 1.5
