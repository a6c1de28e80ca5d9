"""The Anthropic Messages stream layer (``streams/anthropic.py``): event bookkeeping, block
reassembly, the final message and the first-content timing."""

from __future__ import annotations

import json

from conformance.harness.streams.anthropic import MessagesStream, parse_partial_json
from tests.check_fixtures import mock_exchange

SSE = {"content-type": "text/event-stream"}


def frame(payload: dict | str, event: str | None = "auto") -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    name = payload.get("type") if event == "auto" and isinstance(payload, dict) else event
    head = f"event: {name}\n" if name not in (None, "auto") else ""
    return f"{head}data: {data}\n\n"


def stream_of(*frames: str, chunks: list[str] | None = None) -> MessagesStream:
    parts = chunks if chunks is not None else ["".join(frames)]
    ex = mock_exchange(headers=SSE, chunks=[p.encode("utf-8") for p in parts], stream=True, path="/v1/messages")
    return MessagesStream.from_exchange(ex)


MESSAGE = {"id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant", "content": [],
           "model": "claude-sonnet-4-5-20250929", "stop_reason": None, "stop_sequence": None,
           "usage": {"input_tokens": 25, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                     "output_tokens": 1}}
START = frame({"type": "message_start", "message": MESSAGE})
PING = "event: ping\ndata: {\"type\": \"ping\"}\n\n"
STOP = frame({"type": "message_stop"})


def block_start(i: int, block: dict) -> str:
    return frame({"type": "content_block_start", "index": i, "content_block": block})


def delta(i: int, d: dict) -> str:
    return frame({"type": "content_block_delta", "index": i, "delta": d})


def block_stop(i: int) -> str:
    return frame({"type": "content_block_stop", "index": i})


def message_delta(stop_reason: str, usage: dict, **extra) -> str:
    return frame({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None} | extra,
                  "usage": usage})


TEXT_FRAMES = [
    START,
    block_start(0, {"type": "text", "text": ""}),
    PING,
    delta(0, {"type": "text_delta", "text": "Hello"}),
    delta(0, {"type": "text_delta", "text": "!"}),
    block_stop(0),
    message_delta("end_turn", {"output_tokens": 15}),
    STOP,
]

TOOL_PIECES = ["", "{\"location\":", " \"San", " Francisc", "o,", " CA\"", ", ", "\"unit\": \"fah", "renheit\"}"]


def tool_frames(pieces: list[str]) -> list[str]:
    return [
        START,
        block_start(0, {"type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather",
                        "input": {}}),
        *[delta(0, {"type": "input_json_delta", "partial_json": p}) for p in pieces],
        block_stop(0),
        message_delta("tool_use", {"output_tokens": 89}),
        STOP,
    ]


def test_text_stream_events_blocks_and_final_message():
    stream = stream_of(*TEXT_FRAMES)
    assert [e.type for e in stream.events] == [
        "message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
        "content_block_stop", "message_delta", "message_stop"]
    assert all(e.event_field == e.type for e in stream.events)
    assert stream.pings == 1
    assert stream.done_indices == [] and stream.after_stop == [] and stream.unknown_types == []
    assert stream.non_json == [] and stream.non_object == [] and stream.untyped == []
    assert stream.message_stop_index == 7
    (block,) = stream.blocks()
    assert (block.index, block.type, block.text, block.stopped) == (0, "text", "Hello!", True)
    assert block.delta_types == ["text_delta", "text_delta"]
    assert stream.text() == "Hello!"
    final = stream.final_message()
    assert final == {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
        "content": [{"type": "text", "text": "Hello!"}], "model": "claude-sonnet-4-5-20250929",
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 25, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                  "output_tokens": 15},
    }
    assert stream.output_tokens_sequence() == [("#0 message_start", 1), ("#6 message_delta", 15)]


def test_final_message_does_not_alias_message_start():
    stream = stream_of(*TEXT_FRAMES)
    stream.final_message()["usage"]["output_tokens"] = 999
    assert stream.message_start.data["message"]["usage"]["output_tokens"] == 1
    assert stream.message_start.data["message"]["content"] == []


def test_vllm_stream_done_marker_and_missing_type_role():
    vllm_start = {"type": "message_start", "message": {
        "id": "chatcmpl-9b0f", "content": [], "model": "nvidia/nemotron", "stop_reason": None,
        "stop_sequence": None, "usage": {"input_tokens": 31, "output_tokens": 0}}}
    stream = stream_of(
        frame(vllm_start),
        block_start(0, {"type": "thinking", "thinking": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "The user greets me."}),
        delta(0, {"type": "signature_delta", "signature": "5f0c1d9e3b7a4c2d8e6f1a0b9c8d7e6f"}),
        block_stop(0),
        block_start(1, {"type": "text", "text": ""}),
        delta(1, {"type": "text_delta", "text": "Hello!"}),
        block_stop(1),
        frame({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
               "usage": {"input_tokens": 31, "output_tokens": 24}}),
        STOP,
        "data: [DONE]\n\n",
    )
    assert stream.done_indices == [10]
    assert stream.non_json == []  # [DONE] is recorded as a marker, not as a non-JSON payload
    assert [e.describe() for e in stream.after_stop] == ["#10 data: [DONE]"]
    assert stream.after_stop[0].is_done and stream.after_stop[0].data is None and stream.after_stop[0].type is None
    assert stream.pings == 0
    thinking, text = stream.blocks()
    assert (thinking.thinking, thinking.signature, thinking.signature_deltas) == (
        "The user greets me.", "5f0c1d9e3b7a4c2d8e6f1a0b9c8d7e6f", 1)
    final = stream.final_message()
    assert "type" not in final and "role" not in final  # described as sent, never invented
    assert final["content"] == [
        {"type": "thinking", "thinking": "The user greets me.", "signature": "5f0c1d9e3b7a4c2d8e6f1a0b9c8d7e6f"},
        {"type": "text", "text": "Hello!"},
    ]
    assert final["stop_reason"] == "end_turn" and final["stop_sequence"] is None
    assert final["usage"] == {"input_tokens": 31, "output_tokens": 24}
    assert stream.text() == "Hello!"


def test_tool_use_input_reassembled_from_partial_json():
    stream = stream_of(*tool_frames(TOOL_PIECES))
    (block,) = stream.blocks()
    assert block.partial_json == "".join(TOOL_PIECES)
    assert block.input_json_deltas == len(TOOL_PIECES)
    assert block.input == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert block.input_error is None
    assert stream.final_message()["content"] == [{
        "type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather",
        "input": {"location": "San Francisco, CA", "unit": "fahrenheit"}}]
    assert stream.text() == ""


def test_tool_use_invalid_partial_json_keeps_raw_string_and_error():
    pieces = [p for p in TOOL_PIECES if p != ", "]
    stream = stream_of(*tool_frames(pieces))
    (block,) = stream.blocks()
    assert block.partial_json == "".join(pieces)
    assert block.input is None
    assert block.input_error is not None and block.input_error.startswith("JSONDecodeError")
    # the final message falls back to the start block's input
    assert stream.final_message()["content"][0]["input"] == {}


def test_tool_use_empty_partial_json_is_empty_object():
    stream = stream_of(*tool_frames([""]))
    (block,) = stream.blocks()
    assert (block.partial_json, block.input, block.input_error) == ("", {}, None)
    assert parse_partial_json("  ") == ({}, None)
    assert parse_partial_json("[1]") == ([1], None)


def test_unknown_non_json_non_object_untyped_events_are_recorded():
    stream = stream_of(
        START,
        frame({"type": "content_block_annotation", "index": 0}),
        "event: content_block_delta\ndata: {\"type\":\"content_block_del\n\n",
        "event: content_block_delta\ndata: [\"Hello\"]\n\n",
        frame({"index": 0}, event="content_block_stop"),
        STOP,
    )
    assert len(stream.events) == 6
    assert stream.unknown_types == [(1, "content_block_annotation")]
    assert stream.non_json == [(2, "{\"type\":\"content_block_del")]
    assert stream.non_object == [(3, "[\"Hello\"]")]
    assert stream.untyped == [(4, "{\"index\":0}")]
    assert [e.type for e in stream.events] == [
        "message_start", "content_block_annotation", None, None, None, "message_stop"]
    assert stream.events[4].data == {"index": 0} and stream.events[4].event_field == "content_block_stop"
    assert [e.index for e in stream.json_events()] == [0, 1, 4, 5]


def test_events_after_message_stop_and_multiple_done():
    stream = stream_of(*TEXT_FRAMES, PING, "data: [DONE]\n\n", "data: [DONE]\n\n")
    assert stream.message_stop_index == 7
    assert [e.describe() for e in stream.after_stop] == ["#8 ping", "#9 data: [DONE]", "#10 data: [DONE]"]
    assert stream.done_indices == [9, 10]
    assert stream.pings == 2


def test_usage_is_cumulative_later_non_null_values_replace():
    stream = stream_of(
        START,
        block_start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "Hi"}),
        block_stop(0),
        message_delta("max_tokens", {"output_tokens": 9, "input_tokens": None, "cache_read_input_tokens": 7}),
        message_delta("max_tokens", {"output_tokens": 16, "server_tool_use": {"web_search_requests": 1,
                                                                              "web_fetch_requests": 0}},
                      stop_details=None),
        STOP,
    )
    final = stream.final_message()
    assert final["usage"] == {"input_tokens": 25, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 7,
                              "output_tokens": 16,
                              "server_tool_use": {"web_search_requests": 1, "web_fetch_requests": 0}}
    assert final["stop_reason"] == "max_tokens" and final["stop_details"] is None
    assert [v for _, v in stream.output_tokens_sequence()] == [1, 9, 16]


def test_thinking_citations_and_redacted_blocks_rebuilt():
    citation = {"type": "char_location", "cited_text": "The grass is green.", "document_index": 0,
                "start_char_index": 0, "end_char_index": 20}
    stream = stream_of(
        START,
        block_start(0, {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}),
        block_stop(0),
        block_start(1, {"type": "text", "text": "", "citations": []}),
        delta(1, {"type": "text_delta", "text": "The grass is green."}),
        delta(1, {"type": "citations_delta", "citation": citation}),
        block_stop(1),
        message_delta("end_turn", {"output_tokens": 9}),
        STOP,
    )
    assert stream.final_message()["content"] == [
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
        {"type": "text", "text": "The grass is green.", "citations": [citation]},
    ]


def test_deltas_for_unstarted_blocks_are_ignored_by_blocks():
    stream = stream_of(START, delta(3, {"type": "text_delta", "text": "orphan"}), block_stop(3),
                       message_delta("end_turn", {"output_tokens": 2}), STOP)
    assert stream.blocks() == []
    assert stream.text() == ""
    assert stream.final_message()["content"] == []


def test_no_message_start_gives_no_final_message():
    stream = stream_of(*TEXT_FRAMES[1:])
    assert stream.message_start is None
    assert stream.final_message() is None
    assert stream.text() == "Hello!"


def test_errors_view():
    stream = stream_of(START, frame({"type": "error", "error": {"type": "overloaded_error",
                                                                "message": "Overloaded"}}))
    assert [e.describe() for e in stream.errors] == ["#1 error"]
    assert stream.message_stop_index is None and stream.after_stop == []


def test_first_content_s_set_at_first_content_delta():
    chunks = [
        START + block_start(0, {"type": "text", "text": ""}) + PING,
        delta(0, {"type": "text_delta", "text": ""}),  # an empty delta is not content
        delta(0, {"type": "text_delta", "text": "Hello"}),
        block_stop(0) + message_delta("end_turn", {"output_tokens": 2}) + STOP,
    ]
    stream = stream_of(chunks=chunks)
    first = stream.first_content_event()
    assert first is not None and first.index == 4
    assert stream.exchange.first_content_s == first.t
    assert first.t >= stream.events[0].t


def test_first_content_s_counts_thinking_and_tool_input():
    thinking = stream_of(START, block_start(0, {"type": "thinking", "thinking": ""}),
                         delta(0, {"type": "thinking_delta", "thinking": "Hmm"}))
    assert thinking.first_content_event().index == 2
    assert thinking.exchange.first_content_s == thinking.events[2].t
    tool = stream_of(*tool_frames(["", "{}"]))
    assert tool.first_content_event().index == 3  # the empty first piece is not content


def test_first_content_s_unset_without_content_and_not_overwritten():
    empty = stream_of(START, PING, message_delta("end_turn", {"output_tokens": 0}), STOP)
    assert empty.exchange.first_content_s is None
    ex = mock_exchange(headers=SSE, body="".join(TEXT_FRAMES).encode(), stream=True, path="/v1/messages")
    ex.first_content_s = 0.125
    MessagesStream.from_exchange(ex)
    assert ex.first_content_s == 0.125


def test_non_stream_exchange_gives_empty_stream():
    ex = mock_exchange(headers={"content-type": "application/json"}, body=b"{}", path="/v1/messages")
    stream = MessagesStream.from_exchange(ex)
    assert stream.events == [] and stream.blocks() == [] and stream.final_message() is None
