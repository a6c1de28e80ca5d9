"""The Responses event layer (``conformance.harness.streams.responses``): it describes a stream —
events, [DONE], malformed payloads, unknown types, text reassembly, the final response, time to
first content — without judging it."""

from __future__ import annotations

import json
import time

from conformance.harness import sse
from conformance.harness.exchange import Exchange
from conformance.harness.streams.responses import (
    ResponsesStream,
    known_event_types,
    response_output_text,
)
from tests.check_fixtures import mock_exchange

MID = "msg_01"
FCID = "fc_01"


def _resp(status: str = "in_progress", output: list | None = None) -> dict:
    return {"id": "resp_01", "object": "response", "created_at": 1, "status": status, "model": "m",
            "output": output or []}


def _msg(text: str, mid: str = MID) -> dict:
    return {"id": mid, "type": "message", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def _sse(events: list, *, named: bool = True, done: bool = False) -> str:
    out = []
    for seq, ev in enumerate(events):
        if isinstance(ev, str):  # a raw data payload
            out.append(f"data: {ev}\n\n")
            continue
        ev = {**ev, "sequence_number": seq}
        if named:
            out.append(f"event: {ev['type']}\n")
        out.append(f"data: {json.dumps(ev)}\n\n")
    return "".join(out) + ("data: [DONE]\n\n" if done else "")


def _stream(text: str, chunks: list[str] | None = None) -> ResponsesStream:
    parts = [c.encode() for c in chunks] if chunks is not None else [text.encode()]
    ex = mock_exchange(headers={"content-type": "text/event-stream"}, chunks=parts, stream=True,
                       path="/v1/responses")
    return ResponsesStream.from_exchange(ex)


def _text_events(deltas: list[str], *, mid: str = MID, oi: int = 0, done: str | None = None) -> list[dict]:
    full = "".join(deltas)
    part = {"type": "output_text", "text": "", "annotations": []}
    return [
        {"type": "response.output_item.added", "output_index": oi,
         "item": {"id": mid, "type": "message", "role": "assistant", "status": "in_progress", "content": []}},
        {"type": "response.content_part.added", "item_id": mid, "output_index": oi, "content_index": 0, "part": part},
        *({"type": "response.output_text.delta", "item_id": mid, "output_index": oi, "content_index": 0, "delta": d}
          for d in deltas),
        {"type": "response.output_text.done", "item_id": mid, "output_index": oi, "content_index": 0,
         "text": full if done is None else done},
        {"type": "response.content_part.done", "item_id": mid, "output_index": oi, "content_index": 0,
         "part": {**part, "text": full}},
        {"type": "response.output_item.done", "output_index": oi, "item": _msg(full, mid)},
    ]


HEAD = [{"type": "response.created", "response": _resp()}, {"type": "response.in_progress", "response": _resp()}]


def test_known_event_types_are_the_schema_files():
    known = known_event_types()
    assert len(known) == 26
    assert {"error", "response.created", "response.output_text.delta", "response.completed"} <= known
    assert "response.reasoning_part.added" not in known  # vLLM's non-spec event


def test_events_and_lifecycle_views():
    events = HEAD + _text_events(["Hel", "lo"]) + [
        {"type": "response.completed", "response": _resp("completed", [_msg("Hello")])}]
    stream = _stream(_sse(events))
    assert [e.type for e in stream.events] == [e["type"] for e in events]
    assert [e.index for e in stream.events] == list(range(len(events)))
    assert all(e.event_field == e.type for e in stream.events)
    assert stream.events[0].sequence_number == 0
    assert stream.created_response()["status"] == "in_progress"
    assert [e.type for e in stream.terminal()] == ["response.completed"]
    assert stream.final_response()["status"] == "completed"
    assert stream.done_index is None and stream.done_count == 0
    assert stream.unknown_types == [] and stream.non_json == [] and stream.untyped == []


def test_text_reassembly_per_part():
    events = HEAD + _text_events(["Par", "is"]) + _text_events([" is", " big"], mid="msg_02", oi=1) + [
        {"type": "response.completed", "response": _resp("completed", [_msg("Paris"), _msg(" is big", "msg_02")])}]
    stream = _stream(_sse(events))
    parts = stream.text_parts()
    assert [(p.item_id, p.content_index, p.output_index) for p in parts] == [(MID, 0, 0), ("msg_02", 0, 1)]
    first = parts[0]
    assert first.kind == "output_text"
    assert first.deltas == ["Par", "is"] and first.text == "Paris"
    assert (first.done, first.part, first.item, first.final) == ("Paris", "Paris", "Paris", "Paris")
    assert stream.text() == "Paris is big"


def test_text_reassembly_records_disagreement_and_missing_final():
    # the .done text differs from the deltas; the final response has output: [] (vLLM PR #30223)
    events = HEAD + _text_events(["Par", "is"], done="Paris!") + [
        {"type": "response.completed", "response": _resp("completed", [])}]
    (part,) = _stream(_sse(events)).text_parts()
    assert part.text == "Paris" and part.done == "Paris!" and part.final is None


def test_final_only_part_and_refusal_kind():
    refusal = {"id": "msg_r", "type": "message", "role": "assistant", "status": "completed",
               "content": [{"type": "refusal", "refusal": "I can't."}]}
    events = HEAD + [{"type": "response.completed", "response": _resp("completed", [_msg("Hi"), refusal])}]
    parts = _stream(_sse(events)).text_parts()
    assert [(p.item_id, p.kind, p.deltas, p.done, p.final) for p in parts] == [
        (MID, "output_text", [], None, "Hi"), ("msg_r", "refusal", [], None, "I can't.")]


def test_function_call_reassembly():
    item = {"id": FCID, "type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": ""}
    events = HEAD + [
        {"type": "response.output_item.added", "output_index": 0, "item": {**item, "status": "in_progress"}},
        {"type": "response.function_call_arguments.delta", "item_id": FCID, "output_index": 0, "delta": '{"city"'},
        {"type": "response.function_call_arguments.delta", "item_id": FCID, "output_index": 0, "delta": ':"Paris"}'},
        {"type": "response.function_call_arguments.done", "item_id": FCID, "output_index": 0,
         "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "response.output_item.done", "output_index": 0, "item": {**item, "arguments": '{"city":"Paris"}'}},
        {"type": "response.completed", "response": _resp("completed", [{**item, "arguments": ""}])},
    ]
    (call,) = _stream(_sse(events)).function_calls()
    assert (call.item_id, call.output_index, call.name) == (FCID, 0, "get_weather")
    assert call.text == call.done == call.item == '{"city":"Paris"}'
    assert call.final == ""


def test_final_response_is_the_last_terminal_event():
    events = HEAD + [{"type": "response.completed", "response": _resp("completed")},
                     {"type": "response.failed", "response": _resp("failed")}]
    stream = _stream(_sse(events))
    assert [e.type for e in stream.terminal()] == ["response.completed", "response.failed"]
    assert stream.final_response()["status"] == "failed"
    assert _stream(_sse(HEAD)).final_response() is None
    assert _stream("").created_response() is None


def test_unknown_types_are_listed_once_in_order():
    events = HEAD + [
        {"type": "response.reasoning_part.added", "item_id": "rs", "output_index": 0, "content_index": 0},
        {"type": "response.web_search_call.in_progress", "item_id": "ws", "output_index": 1},
        {"type": "response.reasoning_part.added", "item_id": "rs", "output_index": 0, "content_index": 1},
        {"type": "acme:trace", "note": "vendor event"},
    ]
    stream = _stream(_sse(events))
    assert stream.unknown_type_names() == ["response.reasoning_part.added", "response.web_search_call.in_progress",
                                    "acme:trace"]
    assert len(stream.events) == len(events)  # unknown events stay in the stream


def test_done_detection():
    events = HEAD + [{"type": "response.completed", "response": _resp("completed")}]
    stream = _stream(_sse(events, done=True))
    assert stream.done_index == len(events) and stream.done_count == 1
    assert len(stream.sse_events) == len(events) + 1
    assert all(e.data is not None for e in stream.events)  # [DONE] is not an event
    assert [e.type for e in stream.terminal()] == ["response.completed"]

    early = _stream(_sse(HEAD, done=True) + _sse([{"type": "response.completed", "response": _resp("completed")}]))
    assert early.done_index == 2 and [e.index for e in early.terminal()] == [3]

    cut = _stream(_sse(events) + "data: [DONE]\n")  # no blank line: discarded by the parser
    assert cut.done_index is None and cut.unterminated_done

    spaced = _stream(_sse(events) + "data: [DONE] \n\n")  # not the sentinel: a non-JSON event
    assert spaced.done_index is None and spaced.non_json == [(len(events), "[DONE] ")]


def test_malformed_payloads_are_described():
    stream = _stream(_sse(HEAD + ['{"type": "response.output_text.delta", "delta":', "[1, 2]",
                                  '{"error": {"message": "boom"}}']))
    assert stream.non_json == [(2, '{"type": "response.output_text.delta", "delta":')]
    assert stream.non_object == [(3, "[1, 2]")]
    assert stream.untyped == [(4, '{"error": {"message": "boom"}}')]
    assert [(e.type, e.data is None) for e in stream.events[2:]] == [(None, True), (None, True), (None, False)]
    assert [e.type for e in stream.typed] == ["response.created", "response.in_progress"]


def test_event_field_is_recorded_raw():
    legacy = 'event: response.text.delta\ndata: {"type": "response.output_text.delta"}\n\n'
    stream = _stream(_sse(HEAD, named=False) + legacy)
    assert [e.event_field for e in stream.events] == [None, None, "response.text.delta"]


def test_first_content_s_is_the_first_non_empty_delta():
    events = HEAD + _text_events(["", "Hi"]) + [{"type": "response.completed", "response": _resp("completed")}]
    chunks = [f"{block}\n\n" for block in _sse(events).split("\n\n") if block]
    ex = Exchange(seq=1, method="POST", url="http://endpoint.test/v1/responses", request_headers=[],
                  request_body=None, stream=True, started_at=time.time())
    ex.sse = sse.parse(b"", chunks=[c.encode() for c in chunks])  # chunk i arrives at t = i
    stream = ResponsesStream.from_exchange(ex)
    first = stream.first_content_event()
    assert first is not None and first.get("delta") == "Hi"
    assert ex.first_content_s == first.t == 5.0  # event 4 is the empty delta


def test_first_content_s_counts_reasoning_and_function_arguments_and_is_not_overwritten():
    reasoning = HEAD + [{"type": "response.reasoning_text.delta", "item_id": "rs", "output_index": 0,
                         "content_index": 0, "delta": "Hmm"}]
    ex = mock_exchange(headers={"content-type": "text/event-stream"}, body=_sse(reasoning).encode(), stream=True,
                       path="/v1/responses")
    stream = ResponsesStream.from_exchange(ex)
    assert ex.first_content_s == stream.events[2].t

    args = HEAD + [{"type": "response.function_call_arguments.delta", "item_id": FCID, "output_index": 0,
                    "delta": "{"}]
    ex = mock_exchange(headers={"content-type": "text/event-stream"}, body=_sse(args).encode(), stream=True,
                       path="/v1/responses")
    ex.first_content_s = 0.123
    ResponsesStream.from_exchange(ex)
    assert ex.first_content_s == 0.123

    ex = mock_exchange(headers={"content-type": "text/event-stream"}, body=_sse(HEAD).encode(), stream=True,
                       path="/v1/responses")
    ResponsesStream.from_exchange(ex)
    assert ex.first_content_s is None


def test_non_stream_exchange_gives_an_empty_stream():
    ex = mock_exchange(headers={"content-type": "application/json"}, body=b"{}", path="/v1/responses")
    stream = ResponsesStream.from_exchange(ex)
    assert stream.events == [] and stream.final_response() is None and stream.text_parts() == []


def test_response_output_text():
    reasoning = {"id": "rs", "type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "x"}]}
    assert response_output_text(_resp("completed", [reasoning, _msg("Hello"), _msg(" there", "m2")])) == "Hello there"
    assert response_output_text(_resp("completed", [])) == ""
    assert response_output_text({"output": None}) is None
    assert response_output_text(None) is None
