"""Property tests of the strict SSE parser: any chunking and any line-ending style of the same
events parse to the same events; arbitrary bytes never crash it; diagnostics are reported."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.harness import sse
from conformance.harness.sse import SSEParser, parse, serialize
from tests.chunking import chunked as _chunked

# Data may contain anything but CR/LF inside a line (an LF inside data becomes several data lines;
# a lone CR would end the line). Include the characters str.splitlines() wrongly splits on.
TRICKY = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
data_text = st.text(alphabet=st.characters(blacklist_characters="\r", blacklist_categories=("Cs",)) | st.sampled_from(TRICKY),
                    max_size=40)
event_type = st.none() | st.text(alphabet="abcdefghijklmnopqrstuvwxyz._", min_size=1, max_size=12)
events_st = st.lists(st.tuples(event_type, data_text), min_size=0, max_size=8)
ENDINGS = {"LF": "\n", "CRLF": "\r\n", "CR": "\r"}


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    return _chunked(data, cuts, keep_empty=False)


def decorate(events: list[tuple[str | None, str]], ending: str, comments: bool, unknown: bool, bom: bool) -> bytes:
    """Serialise like `serialize`, optionally interleaving comments and unknown fields."""
    lines: list[str] = []
    for etype, data in events:
        if comments:
            lines.append(": keep-alive")
        if unknown:
            lines.append("x-vendor: 1")
        if etype is not None:
            lines.append(f"event: {etype}")
        lines.extend(f"data: {part}" for part in data.split("\n"))
        lines.append("")
    raw = "".join(line + ending for line in lines).encode("utf-8")
    return (b"\xef\xbb\xbf" + raw) if bom else raw


def expected(events: list[tuple[str | None, str]]) -> list[tuple[str, str]]:
    return [(etype or "message", data) for etype, data in events]


@given(events=events_st, ending=st.sampled_from(sorted(ENDINGS)), comments=st.booleans(), unknown=st.booleans(),
       bom=st.booleans(), cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
@settings(max_examples=300, deadline=None)
def test_same_events_for_any_chunking_and_line_ending(events, ending, comments, unknown, bom, cuts):
    raw = decorate(events, ENDINGS[ending], comments, unknown, bom)
    parser = parse(raw, chunks=chunked(raw, cuts))
    assert [(e.type, e.data) for e in parser.events] == expected(events)
    codes = {d.code for d in parser.diagnostics}
    assert (sse.BOM in codes) == bom
    assert (sse.COMMENT in codes) == (comments and bool(events))
    assert (sse.UNKNOWN_FIELD in codes) == (unknown and bool(events))
    assert sse.UNTERMINATED_EVENT not in codes and sse.INVALID_UTF8 not in codes
    if events:
        assert parser.line_endings[ending] > 0
        assert sum(parser.line_endings.values()) == parser.line_endings[ending]


@given(raw=st.binary(max_size=400), cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10))
@settings(max_examples=400, deadline=None)
def test_arbitrary_bytes_never_crash_and_chunking_never_matters(raw, cuts):
    whole = parse(raw)
    pieces = parse(raw, chunks=chunked(raw, cuts))
    assert [(e.type, e.data, e.id) for e in whole.events] == [(e.type, e.data, e.id) for e in pieces.events]
    assert [(d.code, d.byte_offset) for d in whole.diagnostics] == [(d.code, d.byte_offset) for d in pieces.diagnostics]


@given(events=events_st)
def test_serialize_round_trips(events):
    assert [(e.type, e.data) for e in parse(serialize(events)).events] == expected(events)


def test_unterminated_final_event_is_discarded_and_reported():
    parser = parse(b"data: a\n\ndata: [DONE]\n")
    assert [e.data for e in parser.events] == ["a"]
    assert parser.unterminated_tail is not None and "[DONE]" in parser.unterminated_tail
    assert {d.code for d in parser.diagnostics} >= {sse.UNTERMINATED_EVENT}


def test_trailing_bytes_without_line_end_are_reported():
    parser = parse(b"data: a\n\ndata: b")
    assert [e.data for e in parser.events] == ["a"]
    assert {d.code for d in parser.diagnostics} >= {sse.TRAILING_BYTES, sse.UNTERMINATED_EVENT}


def test_crlf_split_across_chunks_is_one_line_end():
    parser = parse(b"", chunks=[b"data: a\r", b"\n\r", b"\n"])
    assert [e.data for e in parser.events] == ["a"]
    assert parser.line_endings == {"LF": 0, "CRLF": 2, "CR": 0}


def test_multibyte_character_split_across_chunks():
    raw = "data: héllo €\n\n".encode()
    parser = parse(raw, chunks=[raw[:8], raw[8:14], raw[14:]])
    assert [e.data for e in parser.events] == ["héllo €"]
    assert not parser.diagnostics


def test_invalid_utf8_is_reported_not_raised():
    parser = parse(b"data: \xff\xfe\n\n")
    assert len(parser.events) == 1
    assert [d.code for d in parser.diagnostics] == [sse.INVALID_UTF8]


def test_event_field_without_data_is_not_dispatched():
    parser = parse(b"event: ping\n\ndata: x\n\n")
    assert [(e.type, e.data) for e in parser.events] == [("message", "x")]
    assert sse.EVENT_WITHOUT_DATA in {d.code for d in parser.diagnostics}


def test_field_value_strips_one_space_only_and_colonless_line_is_a_field():
    parser = parse(b"data:  two spaces\ndata\n\n")
    assert [e.data for e in parser.events] == [" two spaces\n"]


def test_id_and_retry_rules():
    parser = parse(b"id: 7\nretry: 12a\ndata: x\n\nid: a\x00b\ndata: y\n\n")
    assert [(e.id, e.retry) for e in parser.events] == [("7", None), ("7", None)]
    codes = [d.code for d in parser.diagnostics]
    assert sse.INVALID_RETRY in codes and sse.ID_WITH_NUL in codes


def test_unknown_field_is_ignored_but_reported():
    parser = parse(b"error: {\"message\": \"boom\"}\n\ndata: [DONE]\n\n")
    assert [e.data for e in parser.events] == ["[DONE]"]
    assert any(d.code == sse.UNKNOWN_FIELD and d.detail == "error" for d in parser.diagnostics)


def test_bom_only_stripped_at_start():
    parser = parse(b"data: a\n\n\xef\xbb\xbfdata: b\n\n")
    assert [e.data for e in parser.events] == ["a"]
    assert any(d.code == sse.UNKNOWN_FIELD for d in parser.diagnostics)


def test_feed_returns_completed_events_incrementally():
    parser = SSEParser()
    assert parser.feed(b"data: a\n", t=0.1) == []
    done = parser.feed(b"\n", t=0.2)
    assert [(e.data, e.t_received) for e in done] == [("a", 0.2)]
