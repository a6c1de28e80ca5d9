"""``ChunkStream.tool_calls``: streamed ``delta.tool_calls`` fragments merged by index, as the SDK
accumulators do, described (never judged) and never crashing on malformed fragments. Plus the
preconditions of the tool checks that ``tests/test_checks.py`` cannot express (NotApplicable,
HarnessError for a schema of ours that is invalid)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from conformance.harness.checks import tools as tool_checks
from conformance.harness.failures import ConformanceFailure, HarnessError, NotApplicable, UsageError
from conformance.harness.streams.openai import ChunkStream, ReassembledCall
from tests.check_fixtures import _build, load_fixture_files, mock_exchange

LLAMA_ID = "Nlp2MGQmK7a4wVhXc0R1sTfYu9ZbE3dJ"
PARIS = '{"location":"Paris"}'


def _chunk(delta: Any, finish: str | None = None, index: int = 0) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}


def _stream(*payloads: Any, done: bool = True, split: int | None = None) -> ChunkStream:
    text = "".join(f"data: {p if isinstance(p, str) else json.dumps(p)}\n\n" for p in payloads)
    text += "data: [DONE]\n\n" if done else ""
    raw = text.encode()
    chunks = [raw[i:i + split] for i in range(0, len(raw), split)] if split else [raw]
    ex = mock_exchange(headers={"content-type": "text/event-stream"}, chunks=chunks, stream=True)
    return ChunkStream.from_exchange(ex)


def _tc(index: Any = 0, **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {} if index is None else {"index": index}
    fn = {k: fields.pop(k) for k in ("name", "arguments") if k in fields}
    entry.update(fields)
    if fn:
        entry["function"] = fn
    return entry


def _calls(*deltas: dict[str, Any], finish: str = "tool_calls") -> list[dict[str, Any]]:
    return [_chunk({"role": "assistant", "content": None})] + [_chunk(d) for d in deltas] + [_chunk({}, finish)]


# the llama.cpp stream of docs/reference-measurements.md "Tools"
LLAMA_DOC = _calls(
    {"tool_calls": [_tc(0, id=LLAMA_ID, type="function", name="get_weather", arguments="{")]},
    {"tool_calls": [_tc(0, arguments='"location":"')]},
    {"tool_calls": [_tc(0, arguments="Paris")]},
    {"tool_calls": [_tc(0, arguments='"')]},
    {"tool_calls": [_tc(0, arguments="}")]},
)


# --- reassembly ----------------------------------------------------------------------------


def test_llama_cpp_stream_reassembles_into_one_call():
    stream = _stream(*LLAMA_DOC)
    assert stream.tool_calls() == [ReassembledCall(
        index=0, id=LLAMA_ID, type="function", name="get_weather", arguments=PARIS, fragments=5, name_fragments=1,
        first_fragment_keys=frozenset({"id", "type", "name"}), order=0, first_chunk=1, ids=(LLAMA_ID,),
        id_fragments=1, name_parts=("get_weather",), problems=(),
    )]
    assert stream.tool_call_problems() == []


def test_reassembly_is_independent_of_network_chunking():
    whole = _stream(*LLAMA_DOC).tool_calls()
    assert _stream(*LLAMA_DOC, split=7).tool_calls() == whole
    assert _stream(*LLAMA_DOC, split=1).tool_calls() == whole


def test_openai_shape_first_fragment_with_empty_arguments():
    calls = _stream(*_calls(
        {"role": "assistant", "content": None, "refusal": None,
         "tool_calls": [_tc(0, id="call_A", type="function", name="get_weather", arguments="")]},
        {"tool_calls": [_tc(0, arguments='{"loc')]},
        {"tool_calls": [_tc(0, arguments='ation":"Paris"}')]},
    )).tool_calls()
    assert [(c.id, c.name, c.arguments, c.fragments) for c in calls] == [
        ("call_A", "get_weather", '{"location":"Paris"}', 3)]


def test_interleaved_parallel_calls_merge_by_index():
    stream = _stream(*_calls(
        {"tool_calls": [_tc(0, id="call_A", type="function", name="get_weather", arguments=""),
                        _tc(1, id="call_B", type="function", name="search_docs", arguments="")]},
        {"tool_calls": [_tc(1, arguments='{"query":'), _tc(0, arguments='{"location":')]},
        {"tool_calls": [_tc(0, arguments='"Paris"}')]},
        {"tool_calls": [_tc(1, arguments='"NIM"}')]},
    ))
    calls = stream.tool_calls()
    assert [(c.index, c.order, c.id, c.name, c.arguments, c.fragments) for c in calls] == [
        (0, 0, "call_A", "get_weather", '{"location":"Paris"}', 3),
        (1, 1, "call_B", "search_docs", '{"query":"NIM"}', 3),
    ]


def test_several_fragments_of_one_index_in_one_delta():
    calls = _stream(*_calls({"tool_calls": [_tc(0, id="c", type="function", name="f", arguments='{"a"'),
                                            _tc(0, arguments=":1}")]})).tool_calls()
    assert [(c.arguments, c.fragments) for c in calls] == [('{"a":1}', 2)]


def test_order_is_first_appearance_not_index():
    calls = _stream(*_calls(
        {"tool_calls": [_tc(1, id="b", type="function", name="f", arguments="{}")]},
        {"tool_calls": [_tc(0, id="a", type="function", name="f", arguments="{}")]},
    )).tool_calls()
    assert [(c.index, c.order, c.first_chunk) for c in calls] == [(1, 0, 1), (0, 1, 2)]


def test_index_gap_is_kept_as_sent():
    calls = _stream(*_calls(
        {"tool_calls": [_tc(0, id="a", type="function", name="f", arguments="{}")]},
        {"tool_calls": [_tc(2, id="b", type="function", name="f", arguments="{}")]},
    )).tool_calls()
    assert [c.index for c in calls] == [0, 2]


def test_repeated_name_is_accumulated_like_the_sdk():
    deltas = [{"tool_calls": [_tc(0, id="chatcmpl-tool-1", type="function", name="get_weather", arguments=p)]}
              for p in ("{", '"location": "Paris"', "}")]
    (call,) = _stream(*_calls(*deltas)).tool_calls()
    assert call.name == "get_weather" * 3
    assert call.name_fragments == 3 and call.name_parts == ("get_weather",) * 3
    assert call.ids == ("chatcmpl-tool-1",) and call.id == "chatcmpl-tool-1" and call.id_fragments == 3
    assert call.arguments == '{"location": "Paris"}'


def test_split_name_and_late_id():
    (call,) = _stream(*_calls(
        {"tool_calls": [_tc(0, type="function", name="get_")]},
        {"tool_calls": [_tc(0, id="call_late", name="weather", arguments="{}")]},
    )).tool_calls()
    assert call.name == "get_weather" and call.name_parts == ("get_", "weather")
    assert call.first_fragment_keys == frozenset({"type", "name"})
    assert call.id == "call_late"


def test_calls_merged_at_index_zero_keep_every_id():
    (call,) = _stream(*_calls(
        {"tool_calls": [_tc(0, id="chatcmpl-tool-a", type="function", name="get_weather")]},
        {"tool_calls": [_tc(0, arguments='{"location": "Paris"}')]},
        {"tool_calls": [_tc(0, id="chatcmpl-tool-b", type="function", name="get_weather")]},
        {"tool_calls": [_tc(0, arguments='{"location": "London"}')]},
    )).tool_calls()
    assert call.ids == ("chatcmpl-tool-a", "chatcmpl-tool-b") and call.id == "chatcmpl-tool-a"
    assert call.arguments == '{"location": "Paris"}{"location": "London"}'
    assert call.fragments == 4


def test_empty_strings_and_nulls_do_not_count_as_carried_keys():
    (call,) = _stream(*_calls(
        {"tool_calls": [_tc(0, id="", type="function", name="", arguments=None)]},
        {"tool_calls": [_tc(0, id="call_1", type=None, name="f", arguments="{}")]},
        {"tool_calls": [_tc(0, id=None, name=None, arguments="")]},
    )).tool_calls()
    assert call.first_fragment_keys == frozenset({"type"})
    assert (call.id, call.name, call.name_fragments, call.arguments, call.problems) == ("call_1", "f", 1, "{}", ())


def test_no_tool_calls():
    stream = _stream(_chunk({"role": "assistant", "content": "Hi", "tool_calls": None}),
                     _chunk({"content": "!", "tool_calls": []}), _chunk({}, "stop"))
    assert stream.tool_calls() == [] and stream.tool_call_problems() == []
    assert _stream(done=False).tool_calls() == []


def test_choice_index_selects_the_choice():
    stream = _stream(
        _chunk({"role": "assistant", "content": "text"}, index=0),
        _chunk({"role": "assistant", "tool_calls": [_tc(0, id="c1", type="function", name="f", arguments="{}")]},
               index=1),
        _chunk({}, "stop", index=0), _chunk({}, "tool_calls", index=1),
    )
    assert stream.tool_calls() == []
    assert [c.id for c in stream.tool_calls(1)] == ["c1"]


def test_malformed_fragments_are_recorded_not_raised():
    stream = _stream(
        _chunk({"role": "assistant", "tool_calls": {"index": 0, "id": "x"}}),  # not a list
        _chunk({"tool_calls": ["get_weather", None]}),  # entries not objects
        _chunk({"tool_calls": [_tc(None, id="no-index", name="f", arguments="{}")]}),
        _chunk({"tool_calls": [_tc(True, id="bool-index")]}),
        _chunk({"tool_calls": [_tc(-1, id="negative")]}),
        _chunk({"tool_calls": [_tc("0", id="string-index")]}),
        _chunk({"tool_calls": [_tc(0, id="c", type="function", name="f", arguments={"a": 1})]}),
        _chunk({"tool_calls": [{"index": 0, "function": "not-an-object"}]}),
        _chunk({"tool_calls": [_tc(0, id=7, type="tool", name=["f"], arguments="{}")]}),
        "not json at all",
        _chunk({"delta": "not an object"}),
        _chunk({}, "tool_calls"),
    )
    problems = stream.tool_call_problems()
    assert len(problems) == 7
    assert "not a list" in problems[0] and "no usable index" in problems[3]
    (call,) = stream.tool_calls()
    assert (call.index, call.id, call.name, call.arguments, call.fragments) == (0, "c", "f", "{}", 3)
    assert len(call.problems) == 5
    assert any("arguments is not a string" in p for p in call.problems)
    assert any("function is not an object" in p for p in call.problems)
    assert any("type changes" in p for p in call.problems)


def test_reassembled_call_is_frozen():
    (call,) = _stream(*LLAMA_DOC).tool_calls()
    with pytest.raises(dataclasses.FrozenInstanceError):
        call.name = "other"  # type: ignore[misc]


def test_other_views_are_unchanged_by_tool_calls():
    stream = _stream(*LLAMA_DOC)
    assert stream.text() == "" and stream.finish_reasons() == ["tool_calls"]
    assert stream.first_content_chunk() is stream.chunks[1]


def _sdk_accumulate(stream: ChunkStream) -> list[dict[str, Any]]:
    deltas = pytest.importorskip("openai.lib.streaming._deltas")
    acc: dict[Any, Any] = {}
    for _, choice in stream.by_choice().get(0, []):
        if isinstance(choice.get("delta"), dict):
            deltas.accumulate_delta(acc, json.loads(json.dumps(choice["delta"])))
    return acc.get("tool_calls") or []


def _stream_fixtures() -> list[Any]:
    docs = load_fixture_files()
    out = []
    for name in ("streamed_tool_calls_well_formed", "parallel_calls_distinct"):
        for i, case in enumerate(docs[name]["good"]):
            out.append(pytest.param(case["args"][0], id=f"{name}-good-{i}"))
    return out


@pytest.mark.parametrize("arg", _stream_fixtures())
def test_reassembly_matches_the_openai_sdk_accumulator_on_good_fixtures(arg):
    stream = _build(arg)
    ours = [{"index": c.index, "id": c.id, "type": c.type,
             "function": {"name": c.name, "arguments": c.arguments}} for c in stream.tool_calls()]
    sdk = [{"index": e.get("index"), "id": e.get("id"), "type": e.get("type"),
            "function": {"name": e["function"].get("name"), "arguments": e["function"].get("arguments")}}
           for e in _sdk_accumulate(stream)]
    assert ours == sdk


# --- tool checks: preconditions ----------------------------------------------------------

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}]


def test_message_without_tool_calls_is_not_applicable_only_as_prose_under_auto():
    for calls in (None, []):
        with pytest.raises(NotApplicable, match="chose not to call a tool .*'Hi'"):
            tool_checks.tool_calls_valid({"role": "assistant", "content": "Hi", "tool_calls": calls}, tools=TOOLS)
    with pytest.raises(ConformanceFailure, match="forces one"):
        tool_checks.tool_calls_valid({"role": "assistant", "content": "Hi"}, tools=TOOLS, tool_choice="required")
    with pytest.raises(ConformanceFailure, match="neither a tool call nor any text"):
        tool_checks.tool_calls_valid({"role": "assistant", "content": None}, tools=TOOLS)


def test_stream_without_tool_calls_is_not_applicable_when_prose():
    stream = _stream(_chunk({"role": "assistant", "content": "Hi"}), _chunk({}, "stop"))
    with pytest.raises(NotApplicable, match="chose not to call"):
        tool_checks.streamed_tool_calls_well_formed(stream, tools=TOOLS)
    with pytest.raises(NotApplicable, match="chose not to call"):
        tool_checks.parallel_calls_distinct(stream)


def test_single_call_is_not_applicable_to_parallel_calls_distinct():
    with pytest.raises(NotApplicable, match="one tool call"):
        tool_checks.parallel_calls_distinct(_stream(*LLAMA_DOC))


def test_merged_calls_fail_before_the_two_call_precondition():
    merged = _stream(*_calls({"tool_calls": [_tc(0, id="c", type="function", name="f",
                                                 arguments='{"a":1}{"a":2}')]}))
    with pytest.raises(ConformanceFailure, match="merged at index 0"):
        tool_checks.parallel_calls_distinct(merged)


def test_cut_json_content_is_judged_as_a_prefix():
    for finish in ("length",):
        tool_checks.json_object_content('{"name": "NIM"', finish)
        tool_checks.json_schema_content('{\n    "', finish, schema={"type": "object"})
        with pytest.raises(ConformanceFailure, match="does not start with a JSON object"):
            tool_checks.json_object_content('Here is {"name": "NIM"', finish)
    for finish in ("stop", "tool_calls", None):  # anything but length is a finished output
        with pytest.raises(ConformanceFailure, match="not valid JSON"):
            tool_checks.json_object_content('{"name": "NIM"', finish)


def test_responses_json_output_incomplete_is_judged_as_a_prefix():
    response = {"object": "response", "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"},
                "output": [{"type": "message", "content": [{"type": "output_text", "text": '{"name": "Ad'}]}]}
    tool_checks.responses_json_schema_output(response, schema={"type": "object"})
    response["output"][0]["content"][0]["text"] = "The person is"
    with pytest.raises(ConformanceFailure, match="does not start with a JSON object"):
        tool_checks.responses_json_schema_output(response, schema={"type": "object"})
    refused = {"object": "response", "status": "completed", "output": [
        {"type": "message", "content": [{"type": "refusal", "refusal": "I can't help with that."}]}]}
    with pytest.raises(NotApplicable, match="refused"):
        tool_checks.responses_json_schema_output(refused, schema={"type": "object"})


def test_responses_without_function_call_items_are_not_applicable_when_prose():
    response = {"object": "response", "status": "completed", "output": [
        {"type": "message", "content": [{"type": "output_text", "text": "Hi"}]}]}
    flat = [{"type": "function", "name": "get_weather", "parameters": TOOLS[0]["function"]["parameters"]}]
    with pytest.raises(NotApplicable, match="chose not to call"):
        tool_checks.function_call_items_valid(response, tools=flat)
    ex = mock_exchange(headers={"content-type": "text/event-stream"}, stream=True, path="/v1/responses",
                       chunks=[b'event: response.completed\ndata: {"type":"response.completed","response":'
                               + json.dumps(response).encode() + b"}\n\n"])
    from conformance.harness.streams.responses import ResponsesStream  # noqa: PLC0415
    with pytest.raises(NotApplicable, match="chose not to call"):
        tool_checks.function_call_arguments_streamed(ResponsesStream.from_exchange(ex))


def test_invalid_declared_schema_is_our_bug():
    bad_tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "nonsense"}}}]
    message = {"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    with pytest.raises(HarnessError, match="not a valid JSON Schema"):
        tool_checks.tool_calls_valid(message, tools=bad_tools)
    with pytest.raises(HarnessError, match="not a valid JSON Schema"):
        tool_checks.json_schema_content("{}", "stop", schema={"type": "nonsense"})
    with pytest.raises(HarnessError):
        tool_checks.responses_json_schema_output({"status": "completed", "output": []}, schema={"required": "x"})


def test_misused_checks_raise_usage_errors():
    with pytest.raises(UsageError):
        tool_checks.forced_call_present([], tool_choice="auto")
    with pytest.raises(UsageError):  # Responses-style flat tools given to a chat check
        tool_checks.tool_calls_valid({"tool_calls": []}, tools=[{"type": "function", "name": "f"}])


# --- vLLM qwen3_coder parser (the parser the NIM Nemotron 3 seeds name) ------------------------

QWEN3_CODER = json.loads((Path(__file__).parent / "fixtures" / "qwen3_coder_tool_stream.json").read_text())


def _sse_stream(text: str, split: int | None = None) -> ChunkStream:
    raw = text.encode()
    chunks = [raw[i:i + split] for i in range(0, len(raw), split)] if split else [raw]
    return ChunkStream.from_exchange(mock_exchange(headers={"content-type": "text/event-stream"}, chunks=chunks,
                                                   stream=True))


@pytest.mark.parametrize("split", [None, 5, 1])
def test_qwen3_coder_stream_reassembles_into_its_calls(split):
    """Header fragment with arguments "", then "{", one fragment per parameter, "}": the calls the
    parser meant, whatever the network chunking, and OAI-TOOLS-002/-003 pass on them."""
    good = QWEN3_CODER["good"]
    stream = _sse_stream(good["sse"], split)
    calls = stream.tool_calls()
    assert [(c.index, c.id, c.name, c.arguments, c.fragments) for c in calls] == [
        (e["index"], e["id"], e["name"], e["arguments"], e["fragments"]) for e in good["expected"]]
    assert all(c.name_fragments == 1 and c.first_fragment_keys == {"id", "type", "name"} for c in calls)
    assert stream.tool_call_problems() == [] and stream.finish_reasons() == ["tool_calls"]
    tool_checks.streamed_tool_calls_well_formed(stream, tools=QWEN3_CODER["tools"])
    tool_checks.parallel_calls_distinct(stream, tools=QWEN3_CODER["tools"])


@pytest.mark.parametrize("defect", sorted(QWEN3_CODER["bad"]))
def test_qwen3_coder_brace_defects_are_caught(defect):
    """The parser's documented brace defects reassemble into the broken arguments and fail OAI-TOOLS-002."""
    bad = QWEN3_CODER["bad"][defect]
    stream = _sse_stream(bad["sse"])
    assert [c.arguments for c in stream.tool_calls()] == [bad["arguments"]]
    with pytest.raises(ConformanceFailure, match="not valid JSON") as info:
        tool_checks.streamed_tool_calls_well_formed(stream, tools=QWEN3_CODER["tools"])
    assert info.value.requirement == "OAI-TOOLS-002"
