"""The fast paths of issue 13 §2 are proven equal to the reference paths they speed up.

* :class:`~conformance.harness.sse.SSEParser`'s fast path against the byte-level reference
  (``SSEParser(strict=True)``): the same events (type, data, id, retry, byte_offset, t_received,
  event_field, raw), the same diagnostics, line-ending counts and buffered state after *every* feed
  and after close, for arbitrary bytes split at arbitrary chunk boundaries.
* :func:`conformance.harness.streams.base.loads` (orjson where it agrees with ``json``) against
  ``json.loads``: the same value with the same types (int stays int, NaN stays NaN, key order), or
  a ``ValueError`` on the same inputs.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conformance.harness.sse import SSEParser
from tests.chunking import chunked as _chunked
from conformance.harness.streams import base

# -- the SSE parser --------------------------------------------------------------------------------

FRAGMENTS = [b"data: ", b"data:", b"data", b"event: ", b"event:", b"id: ", b"id: 7", b"retry: 12", b"retry: x",
             b": ping", b":", b"x-vendor: 1", b"\n", b"\n", b"\n\n", b"\r", b"\r\n", b"\xef\xbb\xbf", b"\xef",
             b"\xff", "é€東".encode(), b"{\"a\":1}", b"[DONE]", b"\x00", b" ", b"message_start", b"x"]
sse_like = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map(b"".join)
well_formed = st.lists(
    st.tuples(st.none() | st.sampled_from(["ping", "message_start", "response.output_text.delta", "é"]),
              st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=30)),
    max_size=10,
).map(lambda evs: b"".join((f"event: {t}\n" if t is not None else "").encode() + f"data: {d}\n\n".encode()
                           for t, d in evs))
any_stream = st.one_of(st.binary(max_size=300), sse_like, well_formed,
                       st.tuples(well_formed, sse_like, well_formed).map(b"".join))


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    return _chunked(data, cuts)  # empty chunks included: feed must accept them


def state(p: SSEParser) -> tuple[Any, ...]:
    return (list(p.events), list(p.diagnostics), dict(p.line_endings), bytes(p._buf), p._offset, p._pending_cr,
            p._started, list(p._data), p._event_type, p._last_id, p._retry, p._event_start, bytes(p._event_raw))


@given(raw=any_stream, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12))
@settings(max_examples=1500, deadline=None)
@example(raw=b"data: a\n\ndata: b\n\n", cuts=[])
@example(raw=b"event: x\ndata: a\n\n\ndata: b\n\n", cuts=[9, 12])
@example(raw=b"data: a\r\n\r\ndata: b\n\n", cuts=[8])
@example(raw=b"\xef\xbb\xbfdata: a\n\n", cuts=[1, 2])
@example(raw=b"id: 1\ndata: a\n\ndata: b\n\n", cuts=[])
def test_fast_path_equals_the_strict_parser(raw, cuts):
    assert_parsed_alike(chunked(raw, cuts), step=0.25)


@given(raw=any_stream)
@settings(max_examples=800, deadline=None)
def test_fast_path_equals_the_strict_parser_one_event_per_chunk(raw):
    """Chunks cut after every blank line: the live case (one event per network chunk)."""
    parts = raw.split(b"\n\n")
    assert_parsed_alike([p + b"\n\n" for p in parts[:-1]] + [parts[-1]])


def assert_parsed_alike(chunks: list[bytes], step: float = 1.0) -> None:
    """The fast path and the strict parser, fed the same chunks (the i-th received at ``i * step``),
    give the same events, state and diagnostics after every chunk and at the end."""
    fast, strict = SSEParser(), SSEParser(strict=True)
    for i, chunk in enumerate(chunks):
        assert fast.feed(chunk, t=i * step) == strict.feed(chunk, t=i * step)
        assert state(fast) == state(strict)
    assert fast.close() == strict.close()
    assert state(fast) == state(strict)
    assert fast.unterminated_tail == strict.unterminated_tail


#: Blocks mixed into a stream that repeats one event line: other event lines, and every way a block
#: can miss the usual shape (no data, two data lines, no event line, an empty or odd type, invalid
#: UTF-8, another field, CR line ends, a stray blank line).
OTHER_BLOCKS = [b"event: response.created\ndata: {}\n\n", b"event: ping\ndata: {\"type\": \"ping\"}\n\n",
                b"event: content_block_delta\ndata: x\n\n", b"data: {\"a\": 1}\n\n", b"event: x\n\n",
                b"event: x\ndata: a\ndata: b\n\n", b": comment\n\n", b"event: \ndata: v\n\n", b"event:  x\ndata: v\n\n",
                b"event: \xff\ndata: v\n\n", b"event: x\nid: 1\ndata: v\n\n", b"event: x\ndata: \xff\n\n",
                b"event: x\r\ndata: v\r\n\r\n", b"eventx: y\ndata: v\n\n", b"event: x\ndata:v\n\n", b"event: x\ndata: v\n\n\n",
                b"event: x\ndata: \ndata: v\n\n", b"event: response.output_text.delta\n\n"]


def _dominated(parts: tuple[bytes, list[str], list[tuple[int, bytes]]]) -> bytes:
    etype, values, others = parts
    blocks = [b"event: " + etype + b"\ndata: " + v.encode() + b"\n\n" for v in values]
    for pos, block in others:
        blocks.insert(pos % (len(blocks) + 1), block)
    return b"".join(blocks)


dominated = st.tuples(
    st.sampled_from([b"response.output_text.delta", b"content_block_delta", "é".encode(), b"x"]),
    st.lists(st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=8),
             min_size=1, max_size=30),
    st.lists(st.tuples(st.integers(0, 40), st.sampled_from(OTHER_BLOCKS)), max_size=10),
).map(_dominated)


@given(raw=dominated, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=4))
@settings(max_examples=800, deadline=None)
@example(raw=b"event: a\ndata: 1\n\nevent: a\ndata: 2\n\nevent: b\ndata: 3\n\nevent: a\ndata: 4\n\n"
             b"event: a\ndata: 5\n\n", cuts=[])
@example(raw=b"event: a\ndata: 1\n\nevent: a\ndata: 2\n\nevent: a\n\nevent: a\ndata: 4\ndata: 5\n\n", cuts=[])
def test_fast_path_equals_the_strict_parser_on_streams_of_one_event_line(raw, cuts):
    """Streams repeating one event line with others mixed in: the fast path cuts the repeated
    ones at a known length and the others one by one (or all with partition), and gives up on
    any block that is not of the usual shape; the strict parser is the reference."""
    for chunks in ([raw], chunked(raw, cuts)):
        assert_parsed_alike(chunks)


def test_fast_path_handles_the_usual_shapes_without_diagnostics():
    raw = b"event: message_start\ndata: {}\n\ndata: {\"a\": 1}\n\ndata: [DONE]\n\n"
    p = SSEParser()
    events = p.feed(raw, t=1.5)
    assert [(e.type, e.data, e.event_field, e.byte_offset, e.t_received) for e in events] == [
        ("message_start", "{}", "message_start", 0, 1.5), ("message", '{"a": 1}', None, 31, 1.5),
        ("message", "[DONE]", None, 47, 1.5)]
    assert events[0].raw == b"event: message_start\ndata: {}\n\n"
    assert p.close() == [] and p.line_endings == {"LF": 7, "CRLF": 0, "CR": 0}


# -- JSON decode -----------------------------------------------------------------------------------

def same(a: Any, b: Any) -> bool:
    """Equal values of the same types (NaN equals NaN; -0.0 is not 0.0; dict key order counts)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def outcome(loads: Any, text: str) -> tuple[str, Any]:
    try:
        return "value", loads(text)
    except ValueError:
        return "error", None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
    | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)
json_texts = st.one_of(
    json_values.map(lambda v: json.dumps(v)),  # NaN / Infinity included: json writes them
    json_values.map(lambda v: json.dumps(v, ensure_ascii=False)),
    st.text(max_size=60),  # lone surrogates included
    st.lists(st.sampled_from(['{', '}', '[', ']', '"', ':', ',', '1', '-', '0', '.', 'e', '9' * 19, 'NaN', 'Infinity',
                              'true', 'null', ' ', '\\ud800', '\\u00e9', '\ufeff', '\x00', '1e400', '"a"']),
             max_size=20).map("".join),
)


@given(text=json_texts)
@settings(max_examples=1500, deadline=None)
@example(text="18446744073709551616")
@example(text='{"n": -9223372036854775809}')
@example(text="NaN")
@example(text="1e400")
@example(text='"\\ud800"')
@example(text='"\ud800"')
@example(text="\ufeff{}")
@example(text='{"a": 1, "a": 2}')
def test_loads_equals_json_loads(text):
    fast, ref = outcome(base.loads, text), outcome(json.loads, text)
    assert fast[0] == ref[0], (text, fast, ref)
    assert same(fast[1], ref[1]), (text, fast, ref)


@pytest.mark.parametrize("text", ["1" * 19, "-" + "9" * 19, "[" + "1" * 25 + "]"])
def test_long_integers_stay_int(text):
    assert same(base.loads(text), json.loads(text))


@given(texts=st.lists(json_texts, max_size=6))
@settings(max_examples=500, deadline=None)
@example(texts=['{"a": 1}', "[DONE]", '{"b": 2}'])
@example(texts=['{"a": 1}', "1" * 25])
@example(texts=["12345678901", "123456789"])
def test_decode_all_equals_json_loads_per_text(texts):
    assert_decoded_as_json_loads(texts, base.decode_all(texts))


def assert_decoded_as_json_loads(texts, decoded):
    """``decoded`` holds, text by text, ``json.loads``' value, or NOT_JSON where it raises."""
    assert len(decoded) == len(texts)
    for text, value in zip(texts, decoded):
        ref = outcome(json.loads, text)
        if ref[0] == "error":
            assert value is base.NOT_JSON, text
        else:
            assert same(value, ref[1]), (text, value, ref)


# -- batch schema validation ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def schema_set():
    from conformance.harness.schemas import SchemaSet

    return SchemaSet()


def _mutations(obj: dict[str, Any]) -> list[Any]:
    """The object, and broken copies of it (a member removed, a member of a wrong type, not an
    object at all)."""
    out: list[Any] = [obj, [obj], "x", None]
    for key in list(obj):
        out.append({k: v for k, v in obj.items() if k != key})
        out.append({**obj, key: [1]})
        out.append({**obj, key: None})
    return out


@pytest.mark.parametrize("api", ["chat", "responses", "anthropic"])
def test_batch_validation_finds_exactly_the_invalid_instances(api, schema_set):
    from benchmarks import sse_decode as bench
    from conformance.harness.schemas import schema_id

    objs = [json.loads(e.data) for e in SSEParser().feed(b"".join(bench.STREAMS[api](3)), t=0.0)
            if e.data != "[DONE]"]
    instances = [m for obj in objs for m in _mutations(obj)]
    if api == "chat":
        name = "openai/chat.completion.chunk"
        validator = schema_set._compiled(schema_id(name))
        expected = [i for i, inst in enumerate(instances) if not validator.is_valid(inst)]
        assert schema_set.invalid_indices(instances, name) == expected
    else:
        prefix = bench.SCHEMA_PREFIX[api]
        known = schema_set.names_under(prefix)

        def bad(inst: Any) -> bool:
            etype = inst.get("type") if isinstance(inst, dict) else None
            if not isinstance(etype, str) or etype not in known:
                return False
            return not schema_set._compiled(schema_id(prefix + etype)).is_valid(inst)

        expected = [i for i, inst in enumerate(instances) if bad(inst)]
        assert schema_set.invalid_indices_by_type(instances, prefix, known) == expected
    assert expected  # the mutations break something


@given(datas=st.lists(st.sampled_from(["[DONE]", '{"a": 1}', "x", "", " [DONE]"]), max_size=8),
       stop_at_done=st.booleans())
@settings(max_examples=300, deadline=None)
def test_payload_texts_equals_the_loop(datas, stop_at_done):
    from conformance.harness.sse import SSEEvent

    events = [SSEEvent("message", d, None, None, 0, 0.0) for d in datas]
    expected: list[str] = []
    for event in events:  # the stream layers' loop before issue 13
        if event.data == "[DONE]":
            if stop_at_done:
                break
            continue
        expected.append(event.data)
    assert base.payload_texts(events, stop_at_done=stop_at_done) == expected


def test_gc_paused_restores_the_collector_state_even_on_error():
    import gc

    from conformance.harness.streams.base import gc_paused

    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError):
        with gc_paused():
            assert not gc.isenabled()
            with gc_paused():  # nested: the inner one leaves it paused
                assert not gc.isenabled()
            assert not gc.isenabled()
            1 / 0  # noqa: B018
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


def test_gc_paused_moves_what_it_made_to_the_oldest_generation_without_a_collection():
    import gc

    from conformance.harness.streams.base import gc_paused

    made: list[dict[str, int]] = []
    before = gc.get_stats()
    with gc_paused():
        made.extend({"i": i, "j": [i]} for i in range(5000))  # many more than a young generation
    assert gc.isenabled()
    assert gc.get_count()[0] < 700  # the young count was reset, not left to trigger a collection
    assert [s["collections"] for s in gc.get_stats()] == [s["collections"] for s in before]
    assert gc.is_tracked(made[0]["j"]) and gc.get_freeze_count() == 0  # still collectable, nothing frozen
    assert any(o is made[-1]["j"] for o in gc.get_objects(generation=2))


# -- issue 13 §2 (second pass): the parser's encoded data, the sampled digit-run guard -------------

@given(raw=st.one_of(any_stream, dominated), cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6))
@settings(max_examples=800, deadline=None)
@example(raw=b"event: a\ndata: 1\n\nevent: b\ndata: 2\n\nevent: a\ndata: 3\n\nevent: a\ndata: 4\n\n"
             b"event: c\ndata: 5\n\nevent: a\ndata: 6\n\n", cuts=[])
@example(raw=b"event: a\ndata: \xc3\xa9\n\nevent: a\ndata: x\n\n", cuts=[])
def test_encoded_data_is_every_events_data_encoded(raw, cuts):
    """What orjson reads (:meth:`SSEParser.encoded_data`) is each event's data, UTF-8 encoded, on
    the fast path (kept bytes) and on the byte-level path (encoded) alike."""
    for chunks in ([raw], chunked(raw, cuts)):
        for parser in (SSEParser(), SSEParser(strict=True)):
            for i, chunk in enumerate(chunks):
                parser.feed(chunk, t=float(i))
            parser.close()
            assert parser.encoded_data() == [e.data.encode() for e in parser.events]


def test_encoded_data_follows_events_changed_from_outside():
    from conformance.harness.sse import SSEEvent

    parser = SSEParser()
    parser.feed(b"data: a\n\ndata: b\n\n", t=0.0)
    parser.events.append(SSEEvent("message", "é", None, None, 0, 0.0))
    assert parser.encoded_data() == [b"a", b"b", "é".encode()]


digit_heavy = st.lists(st.sampled_from([b"0", b"1", b"9", b"5" * 6, b"7" * 12, b"3" * 13, b"x", b" ", b":", b"-",
                                        b"\n", b"\xff"]), max_size=60).map(b"".join)


@given(data=st.one_of(st.binary(max_size=200), digit_heavy))
@settings(max_examples=1500, deadline=None)
@example(data=b"1" * 19)
@example(data=b"1" * 18)
@example(data=b"x" + b"1" * 19)
@example(data=b"12345" + b"x" + b"1" * 19 + b"y")
@example(data=b"1" * 13)
def test_sampled_digit_guard_equals_the_full_scan(data):
    assert base.has_long_digit_run(data) == (b"0" * 19 in data.translate(bytes.maketrans(b"123456789", b"0" * 9)))


@given(texts=st.lists(json_texts, max_size=6))
@settings(max_examples=500, deadline=None)
@example(texts=['{"a": 1}', "1" * 25])
@example(texts=['"\ud800"', "[1]"])
@example(texts=["\ufeff{}", "{}"])
def test_decode_all_of_encoded_texts_equals_json_loads_per_text(texts):
    assert_decoded_as_json_loads(texts, base.decode_all(texts, encoded=[t.encode("utf-8", "surrogatepass")
                                                                         for t in texts]))


@given(raw=st.one_of(any_stream, dominated), stop_at_done=st.booleans())
@settings(max_examples=400, deadline=None)
def test_decode_payloads_equals_decoding_the_payload_texts(raw, stop_at_done):
    parser = SSEParser()
    parser.feed(raw + b"data: [DONE]\n\n" + raw, t=0.0)
    parser.close()
    texts = base.payload_texts(parser.events, stop_at_done=stop_at_done)
    expected = [outcome(json.loads, t) for t in texts]
    got = base.decode_payloads(parser, stop_at_done=stop_at_done)
    assert len(got) == len(expected)
    for (kind, value), mine in zip(expected, got):
        assert (mine is base.NOT_JSON) if kind == "error" else same(mine, value)


# -- issue 13 §2 (third pass): a guard sample that ids do not defeat, [DONE] found in the joined
# bytes, a split that does not search the whole rest of a long stream for each event -------------

@pytest.mark.parametrize("offset", range(10))
@pytest.mark.parametrize("run", [18, 19, 20])
def test_sampled_digit_guard_at_every_alignment(offset, run):
    """Each alignment of a run against the sample (every 5th byte): 19 digits are always found,
    18 never, whatever surrounds them (digits 5 bytes apart around the run included)."""
    for filler in (b"x", b"1x1x1"):
        data = (filler * 4)[:offset] + b"-" + b"7" * run + b"-" + filler * 3
        assert base.has_long_digit_run(data) is (run >= 19), data


def test_digit_guard_sample_rejects_the_benchmark_streams_without_a_full_scan():
    """The recorded-like streams of ``benchmarks/sse_decode.py`` (ids such as
    ``msg_7c1d2e3f4a5b6c7d`` and ``chatcmpl-...`` repeated in every event, 10-digit timestamps):
    the sample alone rules out a run of 19 digits, so decode_all never translates the whole
    stream (with a step of 6, the ids' alternate digits made it do so on every chat and Responses
    stream)."""
    from benchmarks.sse_decode import DELTAS, STREAMS

    for api, make in STREAMS.items():
        parser = SSEParser()
        parser.feed(b"".join(make(DELTAS)), t=0.0)
        parser.close()
        source = b"\n".join(parser.encoded_data())
        sample = source[::base._SAMPLE_STEP].translate(base._DIGITS_TO_ZERO)
        assert base._SAMPLE_RUN not in sample, api
        assert not base.has_long_digit_run(source)


done_payloads = st.lists(st.one_of(json_texts, st.sampled_from(['"[DONE]"', '{"t": "[DONE]"}', "[DONE]", "[DONE] ",
                                                                 "1" * 19, '{"id": 12345678901234567890}'])),
                         max_size=6)


@given(datas=done_payloads, done=st.sampled_from([None, "last", "twice"]), stop_at_done=st.booleans())
@settings(max_examples=500, deadline=None)
@example(datas=['{"a": 1}'], done="last", stop_at_done=False)
@example(datas=[], done="last", stop_at_done=True)
@example(datas=['"[DONE]"', '{"a": 1}'], done="last", stop_at_done=False)
@example(datas=["[DONE]", '{"a": 1}'], done=None, stop_at_done=True)
@example(datas=['{"a": 1}', "1" * 19], done="last", stop_at_done=False)
@example(datas=['{"a": 1}', "{"], done=None, stop_at_done=False)
def test_decode_payloads_with_and_without_a_final_done(datas, done, stop_at_done):
    """decode_payloads tells the usual streams (no [DONE]; one [DONE], last) from the joined
    bytes; the payloads and their values are those of payload_texts decoded by json.loads, for
    streams with [DONE] as the last event, in a payload's text, twice, or nowhere, with long digit
    runs and invalid JSON (the per-text path)."""
    lines = [d.replace("\r", " ").replace("\n", " ") for d in datas]
    lines += {"last": ["[DONE]"], "twice": ["[DONE]", "{}", "[DONE]"], None: []}[done]
    parser = SSEParser()
    parser.feed(b"".join(b"data: " + line.encode("utf-8", "surrogatepass") + b"\n\n" for line in lines), t=0.0)
    parser.close()
    texts = base.payload_texts(parser.events, stop_at_done=stop_at_done)
    assert_decoded_as_json_loads(texts, base.decode_payloads(parser, stop_at_done=stop_at_done))


_SEP_LINES = [b"event: response.output_text.delta", b"data: x", b"event: a"]


@given(pieces=st.lists(st.one_of(st.sampled_from([b"x", b"\n", b"\n\n", b"event: a", b"ev", b"\ndata: ", b"{}"]),
                                 st.binary(max_size=6)), max_size=40),
       line=st.sampled_from(_SEP_LINES), span=st.integers(min_value=0, max_value=40))
@settings(max_examples=800, deadline=None)
def test_split_in_spans_equals_bytes_split(pieces, line, span):
    """:func:`conformance.harness.sse._split` (a long input split a span at a time, cut at
    occurrences of the separator) is ``bytes.split`` for separators ``b"\\n\\n" + line`` (which
    cannot overlap themselves), whatever the span."""
    from conformance.harness import sse

    sep = b"\n\n" + line
    data = b"".join(p if i % 3 else p + sep for i, p in enumerate(pieces))
    saved = sse._SPLIT_SPAN
    sse._SPLIT_SPAN = span
    try:
        assert sse._split(data, sep) == data.split(sep)
    finally:
        sse._SPLIT_SPAN = saved


def test_split_in_spans_on_a_long_stream():
    from conformance.harness import sse
    from benchmarks.sse_decode import DELTAS, responses_stream

    body = b"".join(responses_stream(DELTAS)) * 3
    sep = b"\n\nevent: response.output_text.delta\ndata: "
    assert len(body) > 2 * sse._SPLIT_SPAN
    assert sse._split(body, sep) == body.split(sep)
