"""Parallel runs with pytest-xdist (``pytest -n N``).

One run, several processes, one result:

* **One endpoint.** The controller (the process the user started) starts the embedded reference
  once, with as many slots as workers (``conformance.reference.configs.with_slots``: the same window
  per slot as a serial run), and hands its URL and per-run key to the workers in
  ``workerinput``. With ``--profile discover`` the controller also runs capability discovery once
  and the workers load the profile it wrote, so every worker judges by the same profile.
* **One set of reports.** Each worker keeps its own records (one per test), timing metrics, and
  what it learnt about the endpoint (model, server, context window, modalities, evals) and sends
  them back in ``workeroutput`` when it ends; the controller merges them
  (:func:`merge_worker_output`) and writes ``conformance.json``, ``summary.md``, the metrics and
  the gate exactly as a serial run does. JUnit is xdist's own merge; Allure results are written by
  every worker into the one results folder (cleaned once, by the controller).
* **Tests that must run alone.** A test marked ``alone`` (timing, concurrency, hostile input,
  window-sized prompts, comparisons of two generations) or ``eval`` runs with no other test in
  flight: every worker holds a shared lock around each test and an ``alone`` test takes it
  exclusively (:class:`RunAloneLock`, writer
  preferring, so a stream of ordinary tests cannot starve it). In a serial run the lock is not
  used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: workerinput / workeroutput keys
INPUT_KEY = "llmconf"
OUTPUT_KEY = "llmconf"

#: The ``alone`` reason of tests that compare two generations: batching a request with other
#: requests changes llama.cpp's (and vLLM's) numerics, so a seeded or greedy answer may differ
#: under concurrent load (measured: OAI-PARAM-004 turned non-strict in a ``-n 4`` run).
DETERMINISM = "determinism: compares generations, which batching with other requests may change"

#: Markers that make a test run alone (the marker ``alone`` itself, plus these): an accuracy
#: evaluation is bulk traffic with its own concurrency. Long-context tests that judge window-sized
#: prompts against prompt-scaled timeouts carry ``alone`` themselves (conformance/context/); the
#: token-limit tests, whose prompts are small, do not.
ALONE_BY_MARKER = ("eval",)


def is_worker(config: Any) -> bool:
    return hasattr(config, "workerinput")


def worker_count(config: Any) -> int:
    """How many xdist workers this (controller) run starts; 0 for a serial run (or on a worker)."""
    if is_worker(config) or not config.pluginmanager.hasplugin("xdist"):
        return 0
    n = getattr(config.option, "numprocesses", None)
    dist = getattr(config.option, "dist", "no")
    if not isinstance(n, int) or n <= 0 or dist == "no":
        return 0
    return n


def worker_input(config: Any) -> dict[str, Any]:
    """What the controller handed to this worker (empty outside a worker)."""
    return dict(getattr(config, "workerinput", {}).get(INPUT_KEY) or {})


def runs_alone(item: Any) -> bool:
    return any(item.get_closest_marker(name) is not None for name in ("alone", *ALONE_BY_MARKER))


class RunAloneLock:
    """A writer-preferring readers/writer lock between processes, made of two ``flock`` files in a
    folder the controller creates: ``gate`` (held briefly by readers, and for the whole test by a
    writer, so no new reader gets in while a writer waits or runs) and ``rw`` (shared by readers,
    exclusive for a writer)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._gate = os.open(self.folder / "gate", os.O_RDWR | os.O_CREAT, 0o600)
        self._rw = os.open(self.folder / "rw", os.O_RDWR | os.O_CREAT, 0o600)
        #: True while this process holds the lock exclusively (no other worker's test runs).
        self.held_alone = False

    def exclusive(self) -> bool:
        return self.held_alone

    @contextlib.contextmanager
    def hold(self, *, alone: bool) -> Iterator[None]:
        if alone:
            fcntl.flock(self._gate, fcntl.LOCK_EX)
            try:
                fcntl.flock(self._rw, fcntl.LOCK_EX)
                self.held_alone = True
                try:
                    yield
                finally:
                    self.held_alone = False
                    fcntl.flock(self._rw, fcntl.LOCK_UN)
            finally:
                fcntl.flock(self._gate, fcntl.LOCK_UN)
            return
        fcntl.flock(self._gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(self._rw, fcntl.LOCK_SH)
        finally:
            fcntl.flock(self._gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(self._rw, fcntl.LOCK_UN)

    def close(self) -> None:
        for fd in (self._gate, self._rw):
            with contextlib.suppress(OSError):
                os.close(fd)


def make_lock_folder() -> str:
    return tempfile.mkdtemp(prefix="llmconf-xdist-")


def remove_lock_folder(folder: str | None) -> None:
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


# --- worker → controller --------------------------------------------------------------------


def endpoint_facts(state: Any) -> dict[str, Any]:
    """What this process learnt about the endpoint, JSON-able: the context window (its report and
    the probes' records) and the modalities, each when a test asked for it. A worker sends them
    back; the controller (or a serial run) writes them into the reports."""
    out: dict[str, Any] = {}
    if state.context_window is not None:
        out["context_window"] = {**state.context_window.as_report(),
                                 "probes": [ex.summary() for ex in state.context_probes]}
        out["context_probe_records"] = [ex.as_record() for ex in state.context_probes]
    if state.modalities is not None:
        out["modalities"] = state.modalities.to_json()
    return out


def worker_output(state: Any) -> dict[str, Any]:
    """What a worker sends back when it ends (JSON-able: execnet carries only plain types)."""
    info = state.info
    return {
        "records": [dataclasses.asdict(rec) for rec in state.records.values()],
        "metrics": [dataclasses.asdict(m) for m in state.metrics.items],
        "metric_failures": list(state.metrics.failures),
        # requests made outside any cited test (conformance.harness.traffic; the rest travel in the records)
        "traffic_unattributed": state.traffic.unattributed(state.records),
        "model": info.model,
        "server": info.server,
        "eval_docs": state.eval_docs,
        **endpoint_facts(state),
    }


def merge_worker_output(state: Any, out: dict[str, Any]) -> None:
    """Fold one worker's output into the controller's run state."""
    from conformance.harness.metrics import ExchangeMetrics  # noqa: PLC0415
    from conformance.harness.outcomes import TestRecord  # noqa: PLC0415

    for d in out.get("records", ()):
        rec = TestRecord(**d)
        state.records[rec.nodeid] = rec
    state.metrics.items.extend(ExchangeMetrics(**d) for d in out.get("metrics", ()))
    state.metrics.failures.extend(out.get("metric_failures", ()))
    state.traffic.add_unattributed(out.get("traffic_unattributed") or {})
    if out.get("model") and not state.info.model:
        state.info.model = out["model"]
    if out.get("server") and not state.info.server:
        state.info.server = out["server"]
    for name, doc in (out.get("eval_docs") or {}).items():
        state.eval_docs.setdefault(name, doc)
    merged = state.merged
    if out.get("context_window") is not None and "context_window" not in merged:
        merged["context_window"] = out["context_window"]
        merged["context_probe_records"] = out.get("context_probe_records", [])
    if out.get("modalities") is not None and "modalities" not in merged:
        merged["modalities"] = out["modalities"]
