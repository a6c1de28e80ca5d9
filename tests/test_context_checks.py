"""The context-window checks (conformance.harness.checks.context) on what the JSON fixtures cannot
express: a hang recorded as a timeout, a stream the client stopped, the "not applicable" cases,
and every wording family of an overflow error."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from conformance.harness.checks import context as checks
from conformance.harness.client import Client
from conformance.harness.failures import ConformanceFailure, EndpointTimeout, NotApplicable
from tests.check_fixtures import mock_exchange, recorded_after, schema_set

SCHEMAS = schema_set(("compat",))


def _recorded_after_timeout(handler, *, stream: bool, stop=None):
    """Send through the real client; return the exchange it recorded when it raised the timeout
    (what the boundary tests hand to the check)."""
    return recorded_after(handler, EndpointTimeout, stream=stream, stop=stop)


def test_a_hang_before_any_answer_is_an_overflow_violation():
    async def hang(request):  # noqa: ARG001
        await asyncio.sleep(5)
        return httpx.Response(400)

    ex = _recorded_after_timeout(hang, stream=False)
    assert ex.status is None and ex.error
    with pytest.raises(ConformanceFailure, match="OAI-CTX-004: no answer for an over-window prompt"):
        checks.over_window_prompt_rejected(ex, schemas=SCHEMAS)
    with pytest.raises(ConformanceFailure, match="ANT-CTX-003: no answer"):
        checks.messages_overflowing_output_rejected_or_stopped(ex, policy="either", prompt_tokens=2032, window=2048,
                                                               max_tokens=64, schemas=SCHEMAS)


def test_a_200_stream_that_goes_silent_is_an_overflow_violation():
    async def body():
        yield b'data: {"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": null}]}\n\n'
        await asyncio.sleep(5)

    def handler(request):  # noqa: ARG001
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    ex = _recorded_after_timeout(handler, stream=True)
    with pytest.raises(ConformanceFailure, match="200 stream .*then no answer"):
        checks.over_window_prompt_rejected(ex, schemas=SCHEMAS)


def _endless_stream(tokens: int) -> list[bytes]:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None}]}
    return [f"data: {json.dumps(chunk)}\n\n".encode() for _ in range(tokens)]


def test_a_stream_the_client_had_to_stop_did_not_stop_at_the_window():
    from conformance.harness.context import ContextWindow

    parts = _endless_stream(300)

    async def body():
        for part in parts:
            yield part

    client = Client("http://endpoint.test", transport=httpx.MockTransport(
        lambda request: httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())))
    try:
        ex = client.request("POST", "/v1/chat/completions", json={"model": "m"}, stream=True,
                            stop=ContextWindow.stop_after_tokens(72))
    finally:
        client.close()
    assert ex.stopped
    with pytest.raises(ConformanceFailure, match="did not stop at the window"):
        checks.overflowing_output_rejected_or_stopped(ex, api="chat", policy="either", prompt_tokens=2032, window=2048,
                                                      max_tokens=64, schemas=SCHEMAS)
    with pytest.raises(ConformanceFailure, match="stopped by the client"):
        checks.over_window_prompt_rejected(ex, schemas=SCHEMAS)


def _chat_stream(n: int, finish: str, completion: int | None) -> object:
    events = [{"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
               "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None}]}] * n
    events.append({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    if completion is not None:
        events.append({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [],
                       "usage": {"prompt_tokens": 2032, "completion_tokens": completion,
                                 "total_tokens": 2032 + completion}})
    text = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return mock_exchange(headers={"content-type": "text/event-stream"}, chunks=[text.encode()], stream=True)


def test_a_natural_end_before_the_window_is_not_applicable_and_says_why():
    ex = _chat_stream(5, "stop", 5)
    with pytest.raises(NotApplicable, match=r"ended its turn \(stop\) after 5 tokens of the 16"):
        checks.overflowing_output_rejected_or_stopped(ex, api="chat", policy="either", prompt_tokens=2032, window=2048,
                                                      max_tokens=64, schemas=SCHEMAS)
    # without usage the content events are counted, and the reason says so
    with pytest.raises(NotApplicable, match="content events"):
        checks.overflowing_output_rejected_or_stopped(_chat_stream(5, "stop", None), api="chat", policy="either",
                                                      prompt_tokens=2032, window=2048, max_tokens=64, schemas=SCHEMAS)


def test_the_room_comes_from_the_billed_prompt_when_usage_states_it():
    # sized for 2000 prompt tokens, billed 2032: only 16 fit, so 20 generated is a violation
    with pytest.raises(ConformanceFailure, match="20 tokens generated, only 16 fit"):
        checks.overflowing_output_rejected_or_stopped(_chat_stream(20, "length", 20), api="chat", policy="either",
                                                      prompt_tokens=2000, window=2048, max_tokens=64, schemas=SCHEMAS)


def test_an_unknown_overflow_policy_is_a_usage_error():
    with pytest.raises(ValueError, match="context_overflow_output"):
        checks.overflowing_output_rejected_or_stopped(_chat_stream(5, "length", 5), api="chat", policy="truncate",
                                                      prompt_tokens=2032, window=2048, max_tokens=64, schemas=SCHEMAS)


@pytest.mark.parametrize("status", [200, 500])
def test_no_rejection_leaves_the_message_check_not_applicable(status):
    ex = mock_exchange(status=status, headers={"content-type": "application/json"},
                       body=json.dumps({"error": {"message": "maximum context length is 9 tokens"}}).encode())
    with pytest.raises(NotApplicable, match=f"not rejected \\({status}"):
        checks.overflow_error_names_the_limit(ex, window=2048)
    checks.overflow_limit_matches_window(ex, window=2048)  # nothing stated by a rejection: nothing to compare


WORDINGS = [
    ("vllm", "This model's maximum context length is 2048 tokens. However, your messages resulted in 2100 tokens.",
     [2048]),
    ("vllm", "'max_tokens' or 'max_completion_tokens' is too large: 64. This model's maximum context length is "
             "2048 tokens and your request has 2040 input tokens (64 > 2048 - 2040).", [2048]),
    ("vllm-engine", "The decoder prompt (length 2100) is longer than the maximum model length of 2048.", [2048]),
    ("llama.cpp", "request (2100 tokens) exceeds the available context size (2048 tokens), try increasing it", [2048]),
    ("sglang", "The input (2100 tokens) is longer than the model's context length (2048 tokens).", [2048]),
    ("sglang-requested", "Requested token count exceeds the model's maximum context length of 2048 tokens.", [2048]),
    ("anthropic", "prompt is too long: 2100 tokens > 2048 maximum", [2048]),
    ("tgi", "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 2048. Given: 2100 `inputs` tokens",
     [2048]),
    ("openai-code", "context_length_exceeded", []),
    ("generic", "Your input exceeds the context window of this model.", []),
    ("generic", "Too many input tokens for this model", []),
]


@pytest.mark.parametrize(("family", "message", "limits"), WORDINGS, ids=[f"{w[0]}-{i}" for i, w in enumerate(WORDINGS)])
def test_every_overflow_wording_is_recognised_with_its_limit(family, message, limits):
    found, stated = checks.stated_limits({"error": {"message": message}})
    assert found == family
    assert stated == limits


def test_an_unrelated_error_names_no_family():
    assert checks.stated_limits({"error": {"message": "Invalid value for 'temperature'"}}) == (None, [])
