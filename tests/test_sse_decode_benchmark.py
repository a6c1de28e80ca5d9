"""Offline logic of the SSE decode benchmark and the benchmark runner (no figure is judged here:
benchmarks measure, tests check that they measure the right thing)."""

from __future__ import annotations

import json

import pytest

from benchmarks import __main__ as runner
from benchmarks import sse_decode as bench
from conformance.harness.sse import SSEParser


@pytest.mark.parametrize("api", sorted(bench.STREAMS))
def test_authored_streams_are_clean_and_both_parser_paths_agree(api):
    chunks = bench.STREAMS[api](20)
    for feed in (chunks, [b"".join(chunks)]):
        fast, strict = SSEParser(), SSEParser(strict=True)
        for i, chunk in enumerate(feed):
            fast.feed(chunk, t=float(i))
            strict.feed(chunk, t=float(i))
        assert fast.close() == strict.close() == []
        assert fast.events == strict.events
        assert len(fast.events) == bench.floor(chunks)


@pytest.mark.parametrize("api", sorted(bench.STREAMS))
def test_every_contender_decodes_every_event(api):
    chunks = bench.STREAMS[api](20)
    expected = bench.floor(chunks)
    assert bench.SuitePath(api, strict=True)(chunks) == expected
    assert bench.SuitePath(api, strict=False)(chunks) == expected
    assert bench.LayersPath(api)(chunks) == expected  # the schema check passes: the streams are valid


def test_run_reports_ratios_against_the_floor():
    result = bench.run(rounds=1, reps=1, include_sdk=False, processes=1)
    assert set(result["streams"]) == {f"{a}/{c}" for a in bench.STREAMS for c in bench.CHUNKINGS}
    for entry in result["streams"].values():
        assert entry["contenders"]["floor"]["ratio_vs_floor"] == 1.0
        assert {"suite", "suite_strict", "suite_layers"} <= set(entry["contenders"])
        assert isinstance(entry["meets_target"], bool)
    text = bench.render(result)
    assert "× floor" in text and "chat/recorded" in text
    json.dumps(result)


def test_runner_writes_reports_benchmarks_json(tmp_path, monkeypatch, capsys):
    fake = {"benchmark": "fake", "streams": {}}
    monkeypatch.setattr(runner, "OFFLINE", {"fake": (lambda quick: dict(fake), lambda r: "fake figures\n")})
    assert runner.main(["--quick", "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "benchmarks.json").read_text())
    assert doc["benchmarks"]["fake"]["benchmark"] == "fake" and doc["quick"] is True
    assert (tmp_path / "benchmarks" / "fake.md").read_text() == "fake figures\n"
    assert "fake figures" in capsys.readouterr().out


def test_paired_ratio_cancels_a_drift_that_hits_both_times_of_a_round():
    # The suite takes 2× the floor's time in four rounds; the machine slows down 3× in rounds 2-3
    # (for both), and round 5 slows the suite alone. The paired ratio sees 0.5 (the median of the
    # rounds' ratios); the ratio of medians takes its two medians from different rounds.
    floor = bench.Figure("chat", "floor", 10, [1.0, 3.0, 3.0, 1.0, 1.0])
    suite = bench.Figure("chat", "suite", 10, [2.0, 6.0, 6.0, 2.0, 6.0])
    assert bench.paired_ratio(floor, suite) == 0.5
    assert suite.rate(1) / floor.rate(1) == pytest.approx(1 / 6)  # medians 1.0 and 6.0: from different rounds
    with pytest.raises(ValueError):
        bench.paired_ratio(floor, bench.Figure("chat", "suite", 10, [1.0]))


def test_rounds_taken_in_several_processes_are_pooled():
    pooled = bench.measure_in_processes(2, rounds=1, reps=1, include_sdk=False)
    assert set(pooled) == {f"{a}/{c}" for a in bench.STREAMS for c in bench.CHUNKINGS}
    for figures in pooled.values():  # one round from each process, for every contender
        assert {name: len(fig.seconds) for name, fig in figures.items()} == dict.fromkeys(figures, 2)
    result = bench.run(rounds=1, reps=1, include_sdk=False, processes=2)
    assert result["processes"] == 2 and result["rounds"] == 2
    for entry in result["streams"].values():
        assert entry["contenders"]["floor"]["ratio_vs_floor"] == 1.0
        assert entry["contenders"]["suite"]["ratio_vs_floor"] > 0
    assert "2 rounds (2 processes)" in bench.render(result)
