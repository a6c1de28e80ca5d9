"""Timing side-metrics (conformance.harness.metrics, issue 12 §4): per-exchange metrics from recorded
exchanges (built with the SSEParser, as the client records them), nearest-rank aggregation, the
latency budgets (OAI-PERF-001), the reports (metrics.jsonl, conformance.json, summary.md) and the
synthetic Allure result, the last ones through pytester against a canned local upstream."""

from __future__ import annotations

import json
import math
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conformance.harness import metrics as M
from conformance.harness import metrics_report
from conformance.harness.exchange import Exchange
from conformance.harness.failures import UsageError
from conformance.harness.profiles import parse as parse_profile
from conformance.harness.requirements import load_catalog
from conformance.harness.sse import SSEParser
from conformance.report import allure as allure_html
from tests.fake_upstream import JSONHandler, serve

# -- building recorded exchanges ------------------------------------------------------------------


def stream_ex(path: str, events: list[tuple[float, Any]], *, status: int = 200, ttfb: float = 0.005,
              done: float | None = None, typed: bool = False) -> Exchange:
    """A recorded streamed exchange: each (arrival time s, payload) is one SSE event in its own
    chunk (``typed``: with an ``event:`` line naming the payload's type)."""
    ex = Exchange.begin("POST", f"http://x{path}", {}, b"{}", stream=True)
    ex.status, ex.ttfb_s = status, ttfb
    ex.set_response_headers([("content-type", "text/event-stream")])
    ex.sse = SSEParser()
    items = list(events) + ([(done, "[DONE]")] if done is not None else [])
    body = bytearray()
    for t, payload in items:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        head = f"event: {payload['type']}\n" if typed and isinstance(payload, dict) else ""
        chunk = f"{head}data: {data}\n\n".encode()
        if ex.first_byte_s is None:
            ex.first_byte_s = t
        ex.chunk_times.append((t, len(chunk)))
        ex.sse.feed(chunk, t=t)
        body += chunk
    ex.sse.close()
    ex.body = bytes(body)
    ex.total_s = (items[-1][0] if items else ttfb) + 0.001
    return ex


def json_ex(path: str, body: Any, *, status: int = 200, ttfb: float = 0.2, last: float = 0.25,
            method: str = "POST") -> Exchange:
    ex = Exchange.begin(method, f"http://x{path}", {}, b"{}" if method == "POST" else None, stream=False)
    ex.status, ex.ttfb_s = status, ttfb
    ex.set_response_headers([("content-type", "application/json")])
    ex.body = json.dumps(body).encode()
    ex.first_byte_s = last
    ex.chunk_times.append((last, len(ex.body)))
    ex.total_s = last + 0.001
    return ex


def chat_chunk(**delta: Any) -> dict[str, Any]:
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}


# -- classification --------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "api"), [
    ("/v1/chat/completions", "chat"), ("/v1/chat/completions?x=1", "chat"), ("/chat/completions/", "chat"),
    ("/v1/completions", "completions"), ("/v1/responses", "responses"), ("/v1/messages", "messages"),
    ("/v1/messages/count_tokens", "count_tokens"), ("/v1/models", "models"), ("/v1/models/gemma", "models"),
    ("/health", "health"), ("/v1/health/ready", "health"), ("/v1/responses/resp_1", "other"),
    ("/v1/embeddings", "other"), ("/", "other"),
])
def test_api_is_classified_from_the_path(path, api):
    assert M.classify_api(path) == api


def test_unclassified_exchanges_are_none_unless_asked():
    ex = json_ex("/v1/embeddings", {"data": []})
    assert M.exchange_metrics(ex) is None
    m = M.exchange_metrics(ex, include_other=True)
    assert m is not None and m.api == "other" and m.e2e_ms == pytest.approx(250.0)


# -- first token per API ---------------------------------------------------------------------------


def test_chat_reasoning_first_stream_separates_ttft_from_ttft_content():
    ex = stream_ex("/v1/chat/completions", [
        (0.10, chat_chunk(role="assistant", content="")),  # role-only: not a token
        (0.20, chat_chunk(reasoning_content="Let me think")),
        (0.30, chat_chunk(reasoning_content=" more")),
        (0.50, chat_chunk(content="Hi")),
        (0.60, chat_chunk(content="!")),
        (0.61, {"object": "chat.completion.chunk", "choices": [],
                "usage": {"prompt_tokens": 12, "completion_tokens": 5,
                          "completion_tokens_details": {"reasoning_tokens": 3}}}),
    ], done=0.62)
    m = M.exchange_metrics(ex)
    assert m is not None and m.api == "chat" and m.stream and m.counted
    assert m.first_event_ms == pytest.approx(100)
    assert m.ttft_ms == pytest.approx(200) and m.ttft_content_ms == pytest.approx(500)
    assert m.ttft_ms < m.ttft_content_ms
    assert m.last_token_ms == pytest.approx(600) and m.e2e_ms == pytest.approx(620)
    assert m.itl_ms == pytest.approx([100, 200, 100])
    assert (m.input_tokens, m.output_tokens, m.reasoning_tokens, m.output_tokens_source) == (12, 5, 3, "usage")
    assert m.tpot_ms == pytest.approx((620 - 200) / 4)  # AIPerf ITL: (e2e - ttft) / (osl - 1)
    assert m.output_tokens_per_s == pytest.approx(5 / 0.62)
    assert m.ttfb_ms == pytest.approx(5) and m.violations == []


def test_chat_reasoning_field_named_reasoning_counts_too():
    ex = stream_ex("/v1/chat/completions", [(0.1, chat_chunk(reasoning="r")), (0.2, chat_chunk(content="c"))])
    m = M.exchange_metrics(ex)
    assert (m.ttft_ms, m.ttft_content_ms) == (pytest.approx(100), pytest.approx(200))


def test_chat_tool_call_only_stream_has_a_first_token():
    ex = stream_ex("/v1/chat/completions", [
        (0.05, chat_chunk(role="assistant")),
        (0.10, chat_chunk(tool_calls=[{"index": 0, "id": "c1", "type": "function",
                                       "function": {"name": "get", "arguments": ""}}])),
        (0.15, chat_chunk(tool_calls=[{"index": 0, "function": {"arguments": "{\"a\":"}}])),
        (0.20, chat_chunk(tool_calls=[{"index": 0, "function": {"arguments": "1}"}}])),
        (0.21, {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
    ], done=0.22)
    m = M.exchange_metrics(ex)
    assert m.ttft_ms == pytest.approx(100) and m.ttft_content_ms == pytest.approx(100)
    assert m.token_events == 3 and m.last_token_ms == pytest.approx(200)
    # no usage in the stream: the token-bearing events are the (flagged) estimate
    assert (m.output_tokens, m.output_tokens_source) == (3, "events")
    assert m.tpot_ms == pytest.approx((220 - 100) / 2)


def test_completions_stream_text():
    ex = stream_ex("/v1/completions", [
        (0.1, {"choices": [{"index": 0, "text": ""}]}),
        (0.2, {"choices": [{"index": 0, "text": "a"}]}),
        (0.3, {"choices": [{"index": 0, "text": "b"}], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}),
    ], done=0.31)
    m = M.exchange_metrics(ex)
    assert m.api == "completions" and m.ttft_ms == pytest.approx(200) and m.output_tokens == 2
    assert m.tpot_ms == pytest.approx(310 - 200)


def test_responses_stream_reasoning_then_text_and_usage_from_completed():
    ex = stream_ex("/v1/responses", [
        (0.01, {"type": "response.created", "response": {"id": "r", "status": "in_progress"}}),
        (0.10, {"type": "response.reasoning_text.delta", "delta": "hmm"}),
        (0.20, {"type": "response.output_text.delta", "delta": ""}),  # empty: not a token
        (0.30, {"type": "response.output_text.delta", "delta": "Hi"}),
        (0.40, {"type": "response.output_text.delta", "delta": "!"}),
        (0.45, {"type": "response.completed", "response": {"id": "r", "status": "completed",
                                                           "usage": {"input_tokens": 9, "output_tokens": 4,
                                                                     "output_tokens_details": {"reasoning_tokens": 1}}}}),
    ], typed=True)
    m = M.exchange_metrics(ex)
    assert m.api == "responses" and m.ttft_ms == pytest.approx(100) and m.ttft_content_ms == pytest.approx(300)
    assert (m.input_tokens, m.output_tokens, m.reasoning_tokens) == (9, 4, 1)
    assert m.itl_ms == pytest.approx([200, 100]) and m.e2e_ms == pytest.approx(450)


def test_responses_function_call_arguments_only():
    ex = stream_ex("/v1/responses", [
        (0.05, {"type": "response.output_item.added", "item": {"type": "function_call"}}),
        (0.10, {"type": "response.function_call_arguments.delta", "delta": "{\"a\""}),
        (0.12, {"type": "response.function_call_arguments.delta", "delta": ":1}"}),
    ])
    m = M.exchange_metrics(ex)
    assert m.ttft_ms == pytest.approx(100) and m.ttft_content_ms == pytest.approx(100) and m.token_events == 2


def test_messages_stream_thinking_text_tool_and_usage():
    ex = stream_ex("/v1/messages", [
        (0.01, {"type": "message_start", "message": {"usage": {"input_tokens": 20, "cache_read_input_tokens": 5,
                                                               "output_tokens": 1}}}),
        (0.02, {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
        (0.10, {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}}),
        (0.15, {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s"}}),
        (0.30, {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi"}}),
        (0.40, {"type": "content_block_delta", "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": "{\"a\":1}"}}),
        (0.45, {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}}),
        (0.46, {"type": "message_stop"}),
    ], typed=True)
    m = M.exchange_metrics(ex)
    assert m.api == "messages" and m.ttft_ms == pytest.approx(100) and m.ttft_content_ms == pytest.approx(300)
    assert m.token_events == 3 and m.itl_ms == pytest.approx([200, 100])  # the signature is not a token
    assert (m.input_tokens, m.output_tokens) == (25, 7)


def test_messages_text_only_stream_ttft_equals_ttft_content():
    ex = stream_ex("/v1/messages", [
        (0.2, {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "a"}})])
    m = M.exchange_metrics(ex)
    assert m.ttft_ms == m.ttft_content_ms == pytest.approx(200)


@pytest.mark.parametrize(("path", "body", "tokens"), [
    ("/v1/chat/completions", {"usage": {"prompt_tokens": 7, "completion_tokens": 10}}, (7, 10)),
    ("/v1/completions", {"usage": {"prompt_tokens": 7, "completion_tokens": 10}}, (7, 10)),
    ("/v1/responses", {"object": "response", "usage": {"input_tokens": 7, "output_tokens": 10}}, (7, 10)),
    ("/v1/messages", {"type": "message", "usage": {"input_tokens": 7, "output_tokens": 10}}, (7, 10)),
    ("/v1/messages/count_tokens", {"input_tokens": 7}, (None, None)),
])
def test_non_streamed_exchanges_have_ttfb_e2e_and_tokens_but_no_ttft(path, body, tokens):
    m = M.exchange_metrics(json_ex(path, body, ttfb=0.2, last=0.5))
    assert not m.stream and m.ttft_ms is None and m.tpot_ms is None and m.itl_ms == []
    assert m.ttfb_ms == pytest.approx(200) and m.e2e_ms == pytest.approx(500)
    assert (m.input_tokens, m.output_tokens) == tokens
    assert m.output_tokens_per_s == (pytest.approx(20.0) if tokens[1] else None)


def test_errors_non_2xx_and_stopped_are_excluded_and_counted():
    good = stream_ex("/v1/chat/completions", [(0.1, chat_chunk(content="a")), (0.2, chat_chunk(content="b"))])
    bad_status = json_ex("/v1/chat/completions", {"error": {"message": "no"}}, status=400, ttfb=9.0, last=9.0)
    failed = stream_ex("/v1/chat/completions", [(5.0, chat_chunk(content="x"))])
    failed.error = "EndpointTimeout: stream idle"
    stopped = stream_ex("/v1/chat/completions", [(7.0, chat_chunk(content="y")), (8.0, chat_chunk(content="z"))])
    stopped.stopped = "client budget of 2 events reached"
    ms = [M.exchange_metrics(ex) for ex in (good, bad_status, failed, stopped)]
    assert [m.excluded for m in ms] == [None, "status", "error", "stopped"]
    g = M.aggregate(ms)["apis"]["chat"]
    assert (g["requests"], g["streamed"], g["errors"], g["stopped"], g["excluded"]) == (4, 3, 2, 1, 3)
    assert g["ttft_ms"]["n"] == 1 and g["ttft_ms"]["max"] == pytest.approx(100)  # none of the excluded
    assert g["ttfb_ms"]["n"] == 1 and g["e2e_ms"]["max"] == pytest.approx(200)
    assert g["itl_ms"]["n"] == 1


def test_timing_invariant_violations_are_reported():
    ex = stream_ex("/v1/chat/completions", [(0.1, chat_chunk(content="a"))], ttfb=0.5)  # headers after the body
    m = M.exchange_metrics(ex)
    assert m.violations and "ttfb" in m.violations[0]
    assert M.aggregate([m])["run"]["violations"] == 1
    ok = M.exchange_metrics(stream_ex("/v1/chat/completions", [(0.1, chat_chunk(content="a"))]))
    assert ok.violations == []


# -- percentiles and aggregation -------------------------------------------------------------------


def nearest_rank(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[math.ceil(p / 100 * len(s)) - 1]


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 40, 100, 101])
def test_summarize_is_nearest_rank(n):
    xs = [float((i * 7919) % 1009) for i in range(n)]
    s = M.summarize(xs)
    assert s["n"] == n
    for p in (50, 90, 99):
        assert s[f"p{p}"] == nearest_rank(xs, p)
    assert s["min"] == min(xs) and s["max"] == max(xs) and s["mean"] == pytest.approx(sum(xs) / n, abs=1e-3)


def test_summarize_small_and_empty_samples():
    assert M.summarize([3.0, 1.0]) == {"n": 2, "p50": 1.0, "p90": 3.0, "p99": 3.0, "mean": 2.0, "min": 1.0,
                                       "max": 3.0}
    assert M.summarize(list(range(1, 11)))["p90"] == 9 and M.summarize(list(range(1, 101)))["p99"] == 99
    empty = M.summarize([])
    assert empty["n"] == 0 and all(empty[k] is None for k in ("p50", "p90", "p99", "mean", "min", "max"))
    assert M.summarize([None, 2.0])["n"] == 1  # type: ignore[list-item]


def test_aggregate_groups_per_api_and_pools_itl():
    a = stream_ex("/v1/chat/completions", [(0.1, chat_chunk(content="a")), (0.2, chat_chunk(content="b")),
                                           (0.4, chat_chunk(content="c"))])
    b = stream_ex("/v1/chat/completions", [(0.3, chat_chunk(content="a")), (0.35, chat_chunk(content="b"))])
    c = json_ex("/v1/models", {"data": []}, method="GET", ttfb=0.01, last=0.02)
    agg = M.aggregate([M.exchange_metrics(x) for x in (a, b, c)])
    assert list(agg["apis"]) == ["chat", "models"]
    chat = agg["apis"]["chat"]
    assert chat["itl_ms"]["n"] == 3 and sorted([chat["itl_ms"]["min"], chat["itl_ms"]["max"]]) == [50.0, 200.0]
    assert chat["ttft_ms"] == M.summarize([100.0, 300.0])
    assert agg["apis"]["models"]["ttft_ms"]["n"] == 0 and agg["apis"]["models"]["ttft_ms"]["p50"] is None
    assert agg["run"]["requests"] == 3 and agg["run"]["e2e_ms"]["n"] == 3
    block = M.metrics_block([M.exchange_metrics(a)])
    assert block["percentile_method"] == "nearest-rank" and set(M.METRIC_KEYS) <= set(block["definitions"])


def test_collector_never_raises_and_records_the_test(monkeypatch):
    c = M.Collector()
    c.nodeid = "t::x"
    m = c.record(stream_ex("/v1/chat/completions", [(0.1, chat_chunk(content="a"))]))
    assert m is not None and m.nodeid == "t::x" and c.items == [m]

    def bug(ex, **kw):
        raise KeyError("a harness bug")

    monkeypatch.setattr(M, "exchange_metrics", bug)
    assert c.record(stream_ex("/v1/chat/completions", [])) is None and len(c.failures) == 1 and len(c.items) == 1


# -- budgets (OAI-PERF-001) ------------------------------------------------------------------------


def agg_with_ttft(values: list[float]) -> dict[str, Any]:
    return {"apis": {"chat": {"ttft_ms": M.summarize(values)}}, "run": {"ttft_ms": M.summarize(values)}}


def test_budgets_pass_fail_and_not_judged():
    budgets = M.parse_budgets([
        {"api": "chat", "metric": "ttft_ms", "stat": "p90", "max": 500},
        {"api": "chat", "metric": "ttft_ms", "stat": "p50", "max": 100},
        {"api": "run", "metric": "ttft_ms", "stat": "min", "min": 5},
        {"api": "messages", "metric": "ttft_ms", "stat": "p90", "max": 500},  # no samples
        {"api": "chat", "metric": "ttft_ms", "stat": "p99", "max": 1, "min_samples": 50},  # too few
    ])
    results = M.judge_budgets(budgets, agg_with_ttft([100, 200, 300, 400, 450, 200]))
    assert [r.ok for r in results] == [True, False, True, None, None]
    assert results[1].value == 200 and "200 > 100" in results[1].reason
    assert "fewer than min_samples=5" in results[3].reason and "min_samples=50" in results[4].reason
    assert results[0].as_dict("OAI-PERF-001")["limit"] == 500


@pytest.mark.parametrize("bad", [
    {"metric": "ttft_ms"}, {"metric": "ttft", "max": 1}, {"metric": "ttft_ms", "stat": "p95", "max": 1},
    {"api": "embeddings", "metric": "ttft_ms", "max": 1}, {"metric": "ttft_ms", "max": "fast"},
    {"metric": "ttft_ms", "max": 1, "min_samples": 0}, {"metric": "ttft_ms", "max": 1, "typo": 1},
])
def test_bad_budgets_are_usage_errors(bad):
    with pytest.raises(ValueError):
        M.parse_budgets([bad])
    raw = {"name": "p", "description": "d", "server": "s", "settings": {"metric_budgets": [bad]}}
    with pytest.raises(UsageError, match="metric_budgets"):
        parse_profile(raw, where="p.toml")


def test_no_budgets_no_row_and_no_shipped_profile_sets_budgets():
    assert M.budget_record([], catalog=load_catalog(), profile=None, strict=True) is None
    from conformance.harness import profiles  # noqa: PLC0415

    for name in profiles.available():
        assert profiles.load(name).setting("metric_budgets") is None, name


def _record(values: list[float], limit: float, *, strict: bool, profile: Any = None):
    results = M.judge_budgets(M.parse_budgets([{"api": "chat", "metric": "ttft_ms", "stat": "p90", "max": limit}]),
                              agg_with_ttft(values))
    return M.budget_record(results, catalog=load_catalog(), profile=profile, strict=strict)


def test_budget_record_outcomes():
    five = [100.0, 110.0, 120.0, 130.0, 140.0]
    passed = _record(five, 1000, strict=True)
    assert passed.outcome == "passed" and passed.requirement == "OAI-PERF-001" and passed.violations == []
    soft = _record(five, 50, strict=False)
    assert soft.outcome == "non-strict" and soft.violations[0]["kind"] == "non-strict"
    assert soft.violations[0]["level"] == "SHOULD" and "140 > 50" in soft.message
    hard = _record(five, 50, strict=True)
    assert hard.outcome == "failed" and hard.message.startswith("[SHOULD]")
    few = _record([100.0], 50, strict=True)
    assert few.outcome == "skipped" and "not judged" in few.message


def test_budget_row_flows_into_the_requirement_table():
    from conformance.harness import reporting  # noqa: PLC0415

    levels = {r.id: r.level.value for r in load_catalog()}
    for strict, expected in ((False, "non-strict"), (True, "failed")):
        rec = _record([100.0] * 5, 50, strict=strict)
        rows = reporting.aggregate([rec], levels)["requirements"]
        assert rows["OAI-PERF-001"]["outcome"] == expected
    rows = reporting.aggregate([_record([1.0], 50, strict=True)], levels)["requirements"]
    assert rows["OAI-PERF-001"]["outcome"] == "skipped"


# -- summary, SVG, synthetic Allure result ---------------------------------------------------------


def test_summary_section_lists_each_api():
    ms = [M.exchange_metrics(stream_ex("/v1/chat/completions", [(0.1 * i, chat_chunk(content="a")),
                                                                (0.1 * i + 0.05, chat_chunk(content="b"))]))
          for i in range(1, 4)]
    block = M.metrics_block(ms)
    lines = "\n".join(M.summary_lines(block))
    assert "## Timing (not gating)" in lines and "| chat | 3 | 0 | 200 / 300 / 300 (3) |" in lines
    assert "| **run** |" in lines
    assert M.summary_lines(None) == [] and M.summary_lines({"apis": {}}) == []


def test_svg_plot_is_well_formed_xml():
    svg = metrics_report.svg_plot("TTFT <ms>", {"chat": [1.0, 5.0, 200.0], "messages": [30.0]})
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg") and "n=3" in svg and "TTFT &lt;ms&gt;" in svg
    assert len(root.findall(".//{http://www.w3.org/2000/svg}circle")) == 4
    assert "no samples" in metrics_report.svg_plot("empty", {})


def test_synthetic_allure_result_is_written_and_not_counted(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "a-result.json").write_text(json.dumps({"name": "t", "status": "passed", "uuid": "a", "labels": []}))
    ms = [M.exchange_metrics(stream_ex("/v1/chat/completions", [(0.1, chat_chunk(content="a"))]))]
    path = metrics_report.write_allure_result(results, ms, M.metrics_block(ms))
    doc = json.loads(path.read_text())
    assert doc["name"] == "Run timing metrics" and doc["status"] == "passed" and metrics_report.is_synthetic(doc)
    assert ("epic", "Run") in {(lb["name"], lb["value"]) for lb in doc["labels"]}
    names = {a["name"]: a for a in doc["attachments"]}
    assert set(names) == {"ttft_ms.svg", "tpot_ms.svg", "e2e_ms.svg", "metrics.json"}
    for a in doc["attachments"]:
        assert (results / a["source"]).is_file() and a["source"].endswith("-attachment." + a["source"].split(".")[-1])
    assert names["ttft_ms.svg"]["type"] == "image/svg+xml"
    summary = allure_html.stage_results(results, tmp_path / "stage")
    assert summary.tests == 1 and summary.passed == 1  # the synthetic result is not a test
    assert (tmp_path / "stage" / path.name).is_file()  # but it is rendered
    assert not metrics_report.is_synthetic({"labels": [{"name": "epic", "value": "Run"}]})


# -- through the plugin (pytester, canned upstream) ------------------------------------------------


class Upstream(JSONHandler):
    """Chat completions: a short stream with usage, or JSON; /v1/bad answers 500."""

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        if self.path.endswith("/bad/chat/completions"):
            return self._json(500, {"error": {"message": "boom"}})
        if not body.get("stream"):
            return self._json(200, {"object": "chat.completion", "choices": [{"index": 0, "message": {
                "role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}})
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        for payload in (chat_chunk(role="assistant", content=""), chat_chunk(reasoning_content="r"),
                        chat_chunk(content="a"), chat_chunk(content="b"),
                        {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 3}}):
            self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.01)  # separate arrivals: the reasoning delta comes strictly before the content
        self.wfile.write(b"data: [DONE]\n\n")


@pytest.fixture(scope="module")
def upstream():
    yield from serve(Upstream)


INNER = '''
from conformance.harness.requirements import requirement

@requirement("OAI-CHAT-001")
def test_streams(client):
    for _ in range(STREAMS):
        ex = client.request("POST", "/v1/chat/completions", json={"model": "m", "stream": True}, stream=True)
        assert ex.status == 200

@requirement("OAI-CHAT-004")
def test_plain_and_error(client):
    assert client.request("POST", "/v1/chat/completions", json={"model": "m"}).status == 200
    assert client.request("POST", "/v1/bad/chat/completions", json={"model": "m"}).status == 500
'''

PROFILE = '''
name = "unit"
description = "metrics plugin test"
server = "unit"
capabilities = ["streaming"]
'''


@pytest.fixture
def run_inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, upstream: str):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("NGC_API_KEY", raising=False)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = session\n"
                     "asyncio_default_test_loop_scope = session\n")

    def go(*extra: str, budgets: str = "", streams: int = 5) -> tuple[pytest.RunResult, Path]:
        pytester.makepyfile(test_inner=INNER.replace("STREAMS", str(streams)))
        profile = pytester.path / "unit.toml"
        profile.write_text(PROFILE + budgets)
        reports = pytester.path / "reports"
        result = pytester.runpytest("-p", "no:cacheprovider", "--endpoint", upstream, "--profile", str(profile),
                                    "--reports-dir", str(reports), *extra)
        return result, reports

    return go


def test_run_writes_metrics_jsonl_conformance_json_summary_and_allure(run_inner):
    result, reports = run_inner()
    result.assert_outcomes(passed=2)
    lines = [json.loads(line) for line in (reports / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 7
    streams = [x for x in lines if x["stream"]]
    assert len(streams) == 5 and all(x["nodeid"].endswith("::test_streams") for x in streams)
    assert all(x["ttft_ms"] < x["ttft_content_ms"] and x["output_tokens"] == 3 for x in streams)
    bad = [x for x in lines if x["status"] == 500]
    assert len(bad) == 1 and bad[0]["excluded"] == "status" and bad[0]["nodeid"].endswith("::test_plain_and_error")
    assert all("body" not in x and "content" not in x for x in lines)
    doc = json.loads((reports / "conformance.json").read_text())
    chat = doc["metrics"]["apis"]["chat"]
    assert (chat["requests"], chat["streamed"], chat["errors"], chat["excluded"]) == (7, 5, 1, 1)
    assert chat["ttft_ms"]["n"] == 5 and chat["e2e_ms"]["n"] == 5 + 1 and chat["tpot_ms"]["n"] == 5
    assert doc["metrics"]["percentile_method"] == "nearest-rank" and "budgets" not in doc["metrics"]
    assert "OAI-PERF-001" not in doc["requirements"]  # no budgets: not applicable, no row
    summary = (reports / "summary.md").read_text()
    assert "## Timing (not gating)" in summary and "| chat | 7 | 1 |" in summary
    synthetic = [json.loads(p.read_text()) for p in (reports / "allure-results").glob("*-result.json")]
    synthetic = [r for r in synthetic if metrics_report.is_synthetic(r)]
    assert len(synthetic) == 1 and len(synthetic[0]["attachments"]) == 4


BUDGETS = '''
[settings]
metric_budgets = [{api = "chat", metric = "ttft_ms", stat = "p90", max = 0.001}]
'''


def test_budget_over_the_limit_is_non_strict_by_default_and_fails_under_strict(run_inner):
    result, reports = run_inner(budgets=BUDGETS)
    doc = json.loads((reports / "conformance.json").read_text())
    row = doc["requirements"]["OAI-PERF-001"]
    assert row["outcome"] == "non-strict" and row["level"] == "SHOULD"
    assert doc["metrics"]["budgets"][0]["ok"] is False and doc["metrics"]["budgets"][0]["n"] == 5
    assert result.ret == 0
    assert "EXCEEDED" in (reports / "summary.md").read_text()
    result, reports = run_inner("--strict", budgets=BUDGETS)
    doc = json.loads((reports / "conformance.json").read_text())
    assert doc["requirements"]["OAI-PERF-001"]["outcome"] == "failed"
    assert result.ret != 0


def test_budget_with_too_few_samples_is_not_judged(run_inner):
    result, reports = run_inner("--strict", budgets=BUDGETS, streams=2)
    doc = json.loads((reports / "conformance.json").read_text())
    assert doc["requirements"]["OAI-PERF-001"]["outcome"] == "skipped"
    assert doc["metrics"]["budgets"][0]["ok"] is None and result.ret == 0


def test_generous_budget_passes(run_inner):
    result, reports = run_inner("--strict", budgets=BUDGETS.replace("0.001", "60000"))
    doc = json.loads((reports / "conformance.json").read_text())
    assert doc["requirements"]["OAI-PERF-001"]["outcome"] == "passed" and result.ret == 0


def test_latency_budgets_check_passes_and_fails():
    from conformance.harness.checks.perf import latency_budgets_hold  # noqa: PLC0415
    from conformance.harness.failures import ConformanceFailure  # noqa: PLC0415

    budgets = M.parse_budgets([{"api": "chat", "metric": "ttft_ms", "stat": "p50", "max": 150}])

    def judged(values):
        return [r.as_dict() for r in M.judge_budgets(budgets, agg_with_ttft(values))]

    latency_budgets_hold(judged([100.0] * 5))  # holds
    latency_budgets_hold(judged([900.0]))  # not judged: never fails
    with pytest.raises(ConformanceFailure) as info:
        latency_budgets_hold(judged([900.0] * 5))
    assert info.value.requirement == "OAI-PERF-001" and "900 > 150" in str(info.value)


def test_request_records_gain_derived_timings_only_as_new_keys():
    ex = stream_ex("/v1/chat/completions", [(0.1, chat_chunk(reasoning_content="r")), (0.2, chat_chunk(content="a")),
                                            (0.3, chat_chunk(content="b"))])
    derived = M.derived_timings_s(ex)
    assert derived == {"first_token": 0.1, "first_content_token": 0.2, "last_token": 0.3,
                       "tpot": pytest.approx((0.3 - 0.1) / 2)}  # e2e = last byte
    assert not set(derived) & set(ex.as_record()["timings_s"])
    assert M.derived_timings_s(json_ex("/v1/models", {}, method="GET")) == {}
