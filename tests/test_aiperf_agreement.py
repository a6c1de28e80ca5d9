"""The AIPerf agreement benchmark's offline parts: AIPerf export parsing (fixture trimmed from a real
AIPerf 0.13.0 export against the reference), the input-file writer, the request body, and the
comparison (within and outside the 5 % target, noise, no data). No AIPerf, no endpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import aiperf_agreement as bench
from conformance.harness.exchange import Exchange
from conformance.harness.metrics import exchange_metrics
from conformance.harness.sse import SSEParser

FIXTURES = Path(__file__).parent / "fixtures" / "aiperf"


def test_records_keep_profiling_requests_without_errors() -> None:
    rows = bench.parse_aiperf_records((FIXTURES / "profile_export.jsonl").read_text().splitlines())
    # 4 lines: a warm-up record and an error record are dropped
    assert len(rows) == 2
    first = rows[0]
    assert first["ttft_ms"] == pytest.approx(708.721397)
    assert first["e2e_ms"] == pytest.approx(1511.3376489999998)
    assert first["tpot_ms"] == pytest.approx(53.50775013333333)
    assert first["output_tokens"] == 16.0 and first["input_tokens"] == 54.0
    assert len(first["itl_ms"]) == 14 and first["itl_ms"][0] == pytest.approx(54.347818999999994)
    assert first["decode_tokens_per_s"] == pytest.approx(1000.0 / first["tpot_ms"], rel=1e-6)
    # AIPerf's ITL is (latency - TTFT) / (OSL - 1): the definition the suite's tpot_ms copies
    assert first["tpot_ms"] == pytest.approx((first["e2e_ms"] - first["ttft_ms"]) / (first["output_tokens"] - 1))
    assert bench.count_aiperf_errors((FIXTURES / "profile_export.jsonl").read_text().splitlines()) == 1


def test_records_missing_metric_is_none_not_zero() -> None:
    line = json.dumps({"metadata": {"benchmark_phase": "profiling"},
                       "metrics": {"request_latency": {"value": 10.0, "unit": "ms"}}})
    (row,) = bench.parse_aiperf_records([line, ""])
    assert row["e2e_ms"] == 10.0
    assert row["ttft_ms"] is None and row["itl_ms"] == []


def test_summary_parsing() -> None:
    doc = json.loads((FIXTURES / "profile_export_aiperf.json").read_text())
    s = bench.parse_aiperf_summary(doc)
    assert s["aiperf_version"] == "0.13.0"
    assert s["request_count"] == 4.0 and s["errors"] == 0
    assert s["metrics"]["ttft_ms"]["p50"] == pytest.approx(460.85396199999997)
    assert s["metrics"]["e2e_ms"]["count"] == 4


def test_input_file_is_aiperf_single_turn_jsonl(tmp_path: Path) -> None:
    prompts = bench.prompt_set(30)
    assert prompts == bench.prompt_set(30)  # deterministic
    assert len(set(prompts)) == 30  # distinct
    path = bench.write_input_file(tmp_path / "in.jsonl", prompts, 32)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["text"] for line in lines] == prompts
    assert all(set(line) == {"text", "output_length"} and line["output_length"] == 32 for line in lines)
    with pytest.raises(ValueError):
        bench.write_input_file(tmp_path / "x.jsonl", prompts, 1)
    with pytest.raises(ValueError):
        bench.prompt_set(0)


def test_suite_body_matches_aiperf_payload() -> None:
    # the payload AIPerf 0.13.0 wrote to inputs.json for the same line and options
    aiperf_payload = {"messages": [{"role": "user", "content": "hi"}], "model": "m", "stream": True, "max_tokens": 16,
                      "temperature": 0, "ignore_eos": True, "cache_prompt": False,
                      "stream_options": {"include_usage": True}}
    body = bench.chat_body("m", "hi", 16, bench.DEFAULT_EXTRA)
    assert json.dumps(body) == json.dumps(aiperf_payload)  # same keys, same order


def test_stub_tokenizer_is_local_hf_format(tmp_path: Path) -> None:
    d = bench.write_stub_tokenizer(tmp_path / "tok")
    tok = json.loads((d / "tokenizer.json").read_text())
    assert tok["model"]["type"] == "WordLevel"
    assert json.loads((d / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"


def _round(ttft: list[float], e2e: list[float]) -> list[dict]:
    return [{"ttft_ms": a, "e2e_ms": b, "itl_ms": [b / 10, b / 20]} for a, b in zip(ttft, e2e)]


def _row(rows: list[dict], metric: str) -> dict:
    return next(r for r in rows if r["metric"] == metric)


def test_compare_within_target() -> None:
    suite = [_round([100, 104, 102], [1000, 1010, 1020])]
    aiperf = [_round([99, 100, 101], [1005, 1015, 1030])]
    rows = bench.compare(suite, aiperf)
    ttft = _row(rows, "ttft_ms")
    assert ttft["suite_median"] == 102 and ttft["aiperf_median"] == 100
    assert ttft["ratio"] == pytest.approx(1.02) and ttft["diff_pct"] == pytest.approx(2.0)
    assert ttft["within_target"] is True and ttft["verdict"] == "agree"
    assert _row(rows, "itl_ms")["n_suite"] == 6  # pooled gaps
    assert _row(rows, "tpot_ms")["verdict"] == "no data"


def test_compare_outside_target_differs_when_rounds_agree_with_themselves() -> None:
    suite = [_round([120, 121], [1000, 1000]), _round([120, 121], [1000, 1000])]
    aiperf = [_round([100, 101], [1000, 1000]), _round([100, 101], [1000, 1000])]
    ttft = _row(bench.compare(suite, aiperf), "ttft_ms")
    assert ttft["ratio"] == pytest.approx(120.5 / 100.5, rel=1e-3)
    assert ttft["within_target"] is False and ttft["verdict"] == "differs"
    assert ttft["suite_noise_pct"] == 0 and ttft["aiperf_noise_pct"] == 0


def test_compare_outside_target_but_within_noise() -> None:
    # AIPerf disagrees with itself by ±20 % between rounds: a 10 % difference is inside that
    suite = [_round([110, 110], [1000, 1000])]
    aiperf = [_round([80, 80], [1000, 1000]), _round([120, 120], [1000, 1000])]
    ttft = _row(bench.compare(suite, aiperf), "ttft_ms")
    assert ttft["aiperf_median"] == 100 and ttft["diff_pct"] == pytest.approx(10.0)
    assert ttft["within_target"] is False and ttft["aiperf_noise_pct"] == pytest.approx(20.0)
    assert ttft["verdict"] == "within noise"


def test_compare_target_is_a_parameter() -> None:
    suite, aiperf = [_round([104], [1000])], [_round([100], [1000])]
    assert _row(bench.compare(suite, aiperf, target_pct=5.0), "ttft_ms")["within_target"] is True
    assert _row(bench.compare(suite, aiperf, target_pct=3.0), "ttft_ms")["within_target"] is False


def test_abba_order() -> None:
    assert bench.order(4) == ["aiperf", "suite", "suite", "aiperf"]
    assert bench.order(2) == ["aiperf", "suite"]


def test_suite_values_from_a_recorded_stream() -> None:
    """The suite side goes through exchange_metrics: a role-only first chunk is not a token (as in
    AIPerf), TPOT uses usage.completion_tokens."""
    ex = Exchange.begin("POST", "http://x/v1/chat/completions", {}, b"{}", stream=True)
    ex.status, ex.ttfb_s = 200, 0.010
    ex.set_response_headers([("content-type", "text/event-stream")])
    ex.sse = SSEParser()
    chunks = [
        (0.020, {"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]}),
        (0.100, {"choices": [{"index": 0, "delta": {"content": "a"}}]}),
        (0.150, {"choices": [{"index": 0, "delta": {"content": "b"}}]}),
        (0.200, {"choices": [{"index": 0, "delta": {"content": "c"}}]}),
        (0.210, {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}}),
    ]
    for t, payload in chunks:
        data = f"data: {json.dumps(payload)}\n\n".encode()
        ex.chunk_times.append((t, len(data)))
        ex.sse.feed(data, t=t)
    ex.sse.feed(b"data: [DONE]\n\n", t=0.220)
    ex.chunk_times.append((0.220, 14))
    ex.sse.close()
    ex.total_s = 0.221
    v = bench.suite_values(exchange_metrics(ex))
    assert v["ttft_ms"] == pytest.approx(100.0)
    assert v["e2e_ms"] == pytest.approx(220.0)
    assert v["output_tokens"] == 3 and v["input_tokens"] == 7
    assert v["tpot_ms"] == pytest.approx((220.0 - 100.0) / 2)
    assert v["decode_tokens_per_s"] == pytest.approx(1000.0 / 60.0)
    assert v["itl_ms"] == pytest.approx([50.0, 50.0])


def test_skips_with_install_hint_without_aiperf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(bench, "find_aiperf", lambda explicit=None: None)
    assert bench.main(["--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "SKIPPED: aiperf is not installed" in err and "pip install aiperf==0.13.0" in err
    doc = json.loads((tmp_path / "aiperf-agreement.json").read_text())
    assert doc["status"] == "skipped"
    assert bench.main(["--out", str(tmp_path), "--require"]) == 2


def test_offline_env_blocks_other_hosts() -> None:
    env = bench.offline_env("10.0.0.5")
    assert env["HTTPS_PROXY"] == "http://127.0.0.1:9" and env["https_proxy"] == "http://127.0.0.1:9"
    assert env["NO_PROXY"].split(",")[0] == "10.0.0.5"
    assert "HF_HUB_OFFLINE" not in env


def test_markdown_renders_ratios() -> None:
    suite = [_round([102], [1000])]
    aiperf = [_round([100], [1000])]
    doc = {"status": "ok", "endpoint": "http://e", "model": "m", "aiperf": {"version": "0.13.0"},
           "settings": {"requests": 1, "max_tokens": 8, "extra_inputs": {}, "rounds": 1, "order": ["aiperf"]},
           "duration_s": 1.0, "target_pct": 5.0, "explanations": {"ttft_ms": "why"},
           "results": {"c1": {"concurrency": 1, "metrics": bench.compare(suite, aiperf),
                              "fixed_length": {"suite": {"requests": 1, "at_max_tokens": 1},
                                               "aiperf": {"requests": 1, "at_max_tokens": 1}}}}}
    md = bench.render_markdown(doc)
    assert "| TTFT | `time_to_first_token` | 102.00 | 100.00 | 1.020 | 2.0 | – | – |" in md
    assert "agree" in md and "## Concurrency 1" in md


def _raw_line(rid: str, timings: dict | None) -> str:
    last = {"choices": [], "usage": {"completion_tokens": 4, "prompt_tokens": 80}}
    if timings is not None:
        last["timings"] = timings
    packets = [{"name": "data", "value": json.dumps({"choices": [{"index": 0, "delta": {"content": "a"}}]})},
               {"name": "data", "value": json.dumps(last)}, {"name": "data", "value": "[DONE]"}]
    return json.dumps({"metadata": {"x_request_id": rid, "benchmark_phase": "profiling"}, "status": 200,
                       "responses": [{"perf_ns": i, "packets": [p]} for i, p in enumerate(packets)]})


def test_server_timings_from_aiperf_raw_export() -> None:
    # the shape of AIPerf 0.13.0's profile_export_raw.jsonl with llama.cpp's timings in the usage chunk
    raw = bench.parse_aiperf_raw([
        _raw_line("r1", {"prompt_ms": 1422.117, "predicted_per_token_ms": 44.3177, "predicted_n": 4}),
        _raw_line("r2", None), ""])
    assert raw["r1"] == {"server_prompt_ms": pytest.approx(1422.117), "server_decode_ms": pytest.approx(44.3177),
                         "server_total_ms": None}
    assert raw["r2"] == {"server_prompt_ms": None, "server_decode_ms": None, "server_total_ms": None}  # not 0
    assert bench.server_timings(['{"timings": {"prompt_ms": 5, "predicted_ms": 7}}', "[DONE]", "not json {"]) == {
        "server_prompt_ms": 5.0, "server_decode_ms": None, "server_total_ms": 12.0}


def test_derived_client_share_of_ttft() -> None:
    assert bench.derive({"ttft_ms": 810.0, "server_prompt_ms": 741.0})["ttft_minus_prefill_ms"] == pytest.approx(69.0)
    assert bench.derive({"ttft_ms": 810.0, "server_prompt_ms": None})["ttft_minus_prefill_ms"] is None


def _paced_round(ttft: float, prefill: float, n: int = 3) -> list[dict]:
    return [{"ttft_ms": ttft, "server_prompt_ms": prefill} for _ in range(n)]


def test_paced_ratio_takes_out_a_slower_server() -> None:
    # the server itself was 20 % slower during AIPerf's rounds: raw TTFT differs, paced agrees
    rows = bench.compare([_paced_round(100.0, 90.0)], [_paced_round(120.0, 108.0)])
    ttft = _row(rows, "ttft_ms")
    assert ttft["within_target"] is False
    assert ttft["paced_ratio"] == pytest.approx(1.0) and ttft["verdict"] == "agree paced"
    # same server speed, different client measurement: paced does not excuse it
    rows = bench.compare([_paced_round(100.0, 90.0)], [_paced_round(120.0, 90.0)])
    ttft = _row(rows, "ttft_ms")
    assert ttft["paced_ratio"] == pytest.approx(100 / 120, rel=1e-3) and ttft["verdict"] == "differs"
    # no server timings (not llama.cpp): no paced ratio
    rows = bench.compare([[{"ttft_ms": 100.0}]], [[{"ttft_ms": 120.0}]])
    assert _row(rows, "ttft_ms")["paced_ratio"] is None


def test_paced_ratio_of_a_rate_multiplies() -> None:
    suite = [[{"decode_tokens_per_s": 12.0, "server_decode_ms": 80.0}]]
    aiperf = [[{"decode_tokens_per_s": 10.0, "server_decode_ms": 96.0}]]
    row = _row(bench.compare(suite, aiperf), "decode_tokens_per_s")
    assert row["ratio"] == pytest.approx(1.2) and row["paced_ratio"] == pytest.approx(1.0)
