"""Multi-token prediction (MTP) streams: several tokens per stream chunk.

The NIM Nemotron 3 Ultra seed (``/work/shared/seeds/001_4ee9c8a102c31166.txt``, "Speculative
Decoding with Multi-Token Prediction (MTP)") runs vLLM with ``--speculative-config
'{"method":"mtp","num_speculative_tokens":2}'``: each decoding step emits the verified token plus
up to 2 accepted draft tokens, so a stream chunk carries 1 to 3 tokens and a stream has fewer
chunks than ``usage`` counts tokens. These recorded-stream fixtures (chat, Responses, Messages)
prove that the stream checks take such a stream as it is (no check counts chunks as tokens) and
that the timing metrics count what their definitions say: ``itl_ms`` gaps between token-bearing
*events* (AIPerf inter_chunk_latency), ``tpot_ms`` and tokens/s from the *tokens* ``usage``
reports (AIPerf inter_token_latency), never from the chunk count."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance.harness import metrics as M
from conformance.harness.checks import openai as oai_checks
from conformance.harness.checks import reasoning as reasoning_checks
from conformance.harness.schemas import SchemaSet
from conformance.harness.streams.openai import ChunkStream
from tests.test_metrics import stream_ex

HEAD = {"id": "chatcmpl-87d0c4524fb6f1a4", "object": "chat.completion.chunk", "created": 1769635152,
        "model": "nvidia/nemotron-3-ultra-550b-a55b"}
# (arrival s, tokens in the chunk, text): 1-3 tokens per chunk (num_speculative_tokens 2)
REASONING = [(0.20, 3, "17 is odd"), (0.23, 2, ", not"), (0.26, 3, " divisible by 3")]
CONTENT = [(0.30, 3, "Yes, 17"), (0.33, 1, " is"), (0.36, 3, " a prime number"), (0.39, 2, ".")]
TOKENS = sum(n for _, n, _ in REASONING + CONTENT)  # 20 tokens in 7 token-bearing chunks
REASONING_TOKENS = sum(n for _, n, _ in REASONING)
TEXT = "".join(t for _, _, t in CONTENT)
USAGE = {"prompt_tokens": 21, "completion_tokens": TOKENS, "total_tokens": 21 + TOKENS,
         "completion_tokens_details": {"reasoning_tokens": REASONING_TOKENS}}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {**HEAD, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}


def chat_events() -> list[tuple[float, Any]]:
    return ([(0.10, _chunk({"role": "assistant", "content": ""}))]
            + [(t, _chunk({"reasoning": text})) for t, _, text in REASONING]
            + [(t, _chunk({"content": text})) for t, _, text in CONTENT]
            + [(0.40, _chunk({}, "stop")), (0.41, {**HEAD, "choices": [], "usage": USAGE})])


def chat_stream() -> ChunkStream:
    return ChunkStream.from_exchange(stream_ex("/v1/chat/completions", chat_events(), done=0.42))


def test_mtp_chat_stream_passes_the_stream_checks():
    stream = chat_stream()
    schemas = SchemaSet(flavors=("compat",))
    for passive in (oai_checks.chunks_are_json_objects, oai_checks.no_error_frames, oai_checks.stream_terminated_by_done,
                    oai_checks.nothing_after_done):
        passive(stream)
    oai_checks.chunks_match_schema(stream, schemas=schemas)
    oai_checks.chunk_identity_stable(stream)
    oai_checks.first_delta_has_role(stream)
    oai_checks.one_finish_reason_per_choice(stream)
    oai_checks.stream_usage_chunk(stream)
    oai_checks.usage_arithmetic(stream.final_usage())
    oai_checks.stream_matches_non_stream(stream.text(), TEXT)
    assert stream.text() == TEXT and reasoning_checks.reasoning_text(stream) == "".join(t for _, _, t in REASONING)
    reasoning_checks.reasoning_tokens_bounded(stream)
    reasoning_checks.reasoning_tokens_reported(stream, stream)
    reasoning_checks.no_think_leak(stream)
    # more tokens than token-bearing chunks: the case these fixtures exist for
    bearing = [c for c in stream.chunks
               if c.choices and (c.choices[0]["delta"].get("content") or c.choices[0]["delta"].get("reasoning"))]
    assert len(bearing) == 7 < TOKENS


def test_mtp_chat_stream_parity_with_its_blocking_answer():
    """The usage-parity check (OAI-USAGE-005) compares token counts, not chunks: a 7-chunk stream
    billing the blocking answer's 20 tokens agrees with it."""
    from conformance.harness.checks import parity  # noqa: PLC0415 - issue 14 §1 module

    blocking = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1769635152, "model": HEAD["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": TEXT}}], "usage": USAGE}
    parity.stream_usage_matches_blocking(chat_stream(), blocking)


def _assert_token_metrics(m: M.ExchangeMetrics, *, ttft_ms: float, e2e_ms: float, events: int) -> None:
    assert m.output_tokens_source == "usage" and m.output_tokens == TOKENS
    assert m.token_events == events < TOKENS
    assert len(m.itl_ms) == events - 1  # inter-chunk gaps, by definition
    assert m.ttft_ms == pytest.approx(ttft_ms) and m.e2e_ms == pytest.approx(e2e_ms)
    # TPOT over tokens, not chunks: (e2e - ttft) / (20 - 1), not / (7 - 1)
    assert m.tpot_ms == pytest.approx((e2e_ms - ttft_ms) / (TOKENS - 1))
    assert m.tpot_ms != pytest.approx((e2e_ms - ttft_ms) / (events - 1))
    assert m.output_tokens_per_s == pytest.approx(TOKENS / (e2e_ms / 1000))
    assert m.violations == []


def test_mtp_chat_metrics_count_tokens_not_chunks():
    m = M.exchange_metrics(stream_ex("/v1/chat/completions", chat_events(), done=0.42))
    _assert_token_metrics(m, ttft_ms=200, e2e_ms=420, events=7)
    assert m.itl_ms == pytest.approx([30.0, 30.0, 40.0, 30.0, 30.0, 30.0])
    assert m.reasoning_tokens == REASONING_TOKENS and m.ttft_content_ms == pytest.approx(300)


def test_mtp_responses_metrics_count_tokens_not_chunks():
    events: list[tuple[float, Any]] = [(0.10, {"type": "response.created", "response": {"id": "resp_1"}})]
    events += [(t, {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0,
                    "delta": text}) for t, _, text in REASONING + CONTENT]
    events.append((0.41, {"type": "response.completed", "response": {
        "id": "resp_1", "usage": {"input_tokens": 21, "output_tokens": TOKENS, "total_tokens": 21 + TOKENS}}}))
    m = M.exchange_metrics(stream_ex("/v1/responses", events, typed=True))
    _assert_token_metrics(m, ttft_ms=200, e2e_ms=410, events=7)


def test_mtp_messages_metrics_count_tokens_not_chunks():
    events: list[tuple[float, Any]] = [
        (0.10, {"type": "message_start", "message": {"usage": {"input_tokens": 21, "output_tokens": 1}}}),
        (0.11, {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})]
    events += [(t, {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}})
               for t, _, text in REASONING + CONTENT]
    events += [(0.40, {"type": "content_block_stop", "index": 0}),
               (0.41, {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                       "usage": {"output_tokens": TOKENS}}),
               (0.42, {"type": "message_stop"})]
    m = M.exchange_metrics(stream_ex("/v1/messages", events, typed=True))
    _assert_token_metrics(m, ttft_ms=200, e2e_ms=420, events=7)


def test_without_usage_the_chunk_count_is_a_flagged_estimate():
    """A stream without usage gives only its token-bearing events as output_tokens, flagged
    ``events`` (an undercount under MTP; the definition says so), never silently as tokens."""
    events = [e for e in chat_events() if not (isinstance(e[1], dict) and e[1].get("usage"))]
    m = M.exchange_metrics(stream_ex("/v1/chat/completions", events, done=0.42))
    assert (m.output_tokens, m.output_tokens_source) == (7, "events")
    assert "estimate" in M.DEFINITIONS["output_tokens"]


# --- the neutral fault mtp-coalesce-chunks -----------------------------------------------------


def _coalesce(payloads: list[Any]) -> list[Any]:
    from conformance.faults.model import Event, FaultContext, Request  # noqa: PLC0415
    from conformance.faults.table import FAULTS  # noqa: PLC0415

    events = [Event(data=p if isinstance(p, str) else json.dumps(p)) for p in payloads]
    hook = FAULTS["mtp-coalesce-chunks"].hooks.events
    assert hook is not None and FAULTS["mtp-coalesce-chunks"].neutral
    out = list(hook(FaultContext(Request("POST", "/v1/chat/completions"), stream=True), iter(events)))
    return [e.data if e.is_done else e.json for e in out]


def test_coalesce_merges_up_to_three_text_chunks_of_one_field():
    payloads = [e[1] for e in chat_events()] + ["[DONE]"]
    out = _coalesce(payloads)
    deltas = [c["choices"][0]["delta"] for c in out if isinstance(c, dict) and c.get("choices")]
    assert deltas == [{"role": "assistant", "content": ""},  # a role chunk is never merged
                      {"reasoning": "17 is odd, not divisible by 3"},  # 3 reasoning chunks → 1
                      {"content": "Yes, 17 is a prime number"}, {"content": "."},  # 3 + 1 content chunks
                      {}]
    assert out[-2] == payloads[-2] and out[-1] == "[DONE]"  # usage chunk and [DONE] untouched
    stream_text = "".join(d.get("content", "") for d in deltas)
    assert stream_text == TEXT


def test_coalesce_leaves_chunks_with_more_meaning_alone():
    logprobs = {**HEAD, "choices": [{"index": 0, "delta": {"content": "a"}, "logprobs": {"content": []},
                                     "finish_reason": None}]}
    tool = _chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{"}}]})
    other_choice = {**HEAD, "choices": [{"index": 1, "delta": {"content": "b"}, "finish_reason": None}]}
    finish = _chunk({"content": "c"}, "stop")
    plain = [_chunk({"content": "x"}), _chunk({"content": "y"})]
    payloads = [logprobs, logprobs, tool, tool, plain[0], other_choice, plain[1], finish]
    assert _coalesce(payloads) == payloads
    completions = [{"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m",
                    "choices": [{"index": 0, "text": t, "logprobs": None, "finish_reason": None}]}
                   for t in ("a", "b", "c", "d")]
    merged = _coalesce(completions)
    assert [c["choices"][0]["text"] for c in merged] == ["abc", "d"]
