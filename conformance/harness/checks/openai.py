"""Checks for the OpenAI-compatible chat completions and models APIs."""

from __future__ import annotations

import re
from typing import Any

from conformance.harness.checks import check, fail
from conformance.harness.exchange import Exchange
from conformance.harness.checks.shared import (
    require_done_terminator,
    require_event_stream,
    require_json_objects,
    require_nothing_after_done,
)
from conformance.harness.schemas import SchemaSet
from conformance.harness.streams.openai import ChunkStream

FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter", "function_call")
USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")


# --- non-stream ----------------------------------------------------------------------------


@check("OAI-CHAT-001", passive=True)
def chat_completion_schema(body: Any, *, schemas: SchemaSet) -> None:
    """A chat completion response validates against the chat.completion schema."""
    schemas.validate(body, "openai/chat.completion", what="chat.completion")


@check("OAI-CHAT-002")
def assistant_message_present(body: dict[str, Any]) -> None:
    """Each choice carries an assistant message with string content or tool calls."""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise fail("no choices", expected="at least one choice", actual=choices)
    for choice in choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict) or message.get("role") != "assistant":
            raise fail("choice without an assistant message", expected={"role": "assistant"}, actual=message)
        content, calls = message.get("content"), message.get("tool_calls")
        if not isinstance(content, str) and not calls:
            raise fail("assistant message has neither content nor tool calls",
                       expected="content string or tool_calls", actual=message)


@check("OAI-CHAT-003")
def finish_reason_documented(value: Any, *, where: str = "finish_reason") -> None:
    """A finish_reason is one of the documented values."""
    if value not in FINISH_REASONS:
        raise fail(f"undocumented {where}", expected=list(FINISH_REASONS), actual=value)


@check("OAI-CHAT-004")
def choices_indexed(body: dict[str, Any], *, n: int = 1) -> None:
    """A response has exactly ``n`` choices with indices 0..n-1."""
    choices = body.get("choices")
    if not isinstance(choices, list):
        raise fail("choices is not a list", expected=f"{n} choices", actual=choices)
    indices = [c.get("index") if isinstance(c, dict) else repr(c)[:40] for c in choices]
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in indices) or sorted(indices) != list(range(n)):
        raise fail("choices are not indexed 0..n-1", expected=list(range(n)), actual=indices)


@check("OAI-USAGE-001")
def usage_arithmetic(usage: Any) -> None:
    """usage is present with non-negative integer counts and total = prompt + completion."""
    if not isinstance(usage, dict):
        raise fail("usage missing", expected="usage object", actual=usage)
    for key in USAGE_FIELDS:
        value = usage.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise fail(f"usage.{key} is not a non-negative integer", expected="integer ≥ 0", actual=value)
    total = usage["prompt_tokens"] + usage["completion_tokens"]
    if usage["total_tokens"] != total:
        raise fail("total_tokens != prompt_tokens + completion_tokens",
                   expected=total, actual=usage["total_tokens"])


# --- streaming -----------------------------------------------------------------------------


@check("OAI-STREAM-001", passive=True)
def event_stream_content_type(ex: Exchange) -> None:
    """A streamed response declares Content-Type text/event-stream."""
    require_event_stream(ex)


@check("OAI-STREAM-002", passive=True)
def stream_terminated_by_done(stream: ChunkStream) -> None:
    """The stream ends with the exact sentinel ``data: [DONE]``."""
    require_done_terminator(stream)


@check("OAI-STREAM-003", passive=True)
def nothing_after_done(stream: ChunkStream) -> None:
    """Nothing follows ``data: [DONE]``."""
    require_nothing_after_done(stream)


@check("OAI-STREAM-004", passive=True)
def chunks_are_json_objects(stream: ChunkStream) -> None:
    """Every ``data:`` payload other than [DONE] is a JSON object."""
    require_json_objects(stream, expected="JSON object or [DONE]")
    if not stream.chunks and not stream.error_chunks:
        raise fail("stream carried no chunk", expected="at least one chunk", actual=len(stream.sse_events))


@check("OAI-STREAM-005", passive=True)
def chunks_match_schema(stream: ChunkStream, *, schemas: SchemaSet, name: str = "openai/chat.completion.chunk") -> None:
    """Every chunk validates against the chunk schema."""
    schemas.validate_all((c.data for c in stream.chunks), name, what="chunk")


@check("OAI-STREAM-006", passive=True)
def no_error_frames(stream: ChunkStream) -> None:
    """A stream for a well-formed request carries no ``{"error": ...}`` frame."""
    if stream.error_chunks:
        raise fail("error frame inside the stream", expected="no error frame",
                   actual=stream.error_chunks[0].data)


@check("OAI-STREAM-007")
def chunk_identity_stable(stream: ChunkStream) -> None:
    """Every chunk carries the same id, created and model."""
    if not stream.chunks:
        raise fail("no chunks to compare", expected="chunks", actual=0)
    first = stream.chunks[0].data
    span = stream.chunks[-1].t - stream.chunks[0].t
    for chunk in stream.chunks[1:]:
        for key in ("id", "created", "model"):
            if chunk.data.get(key) != first.get(key):
                raise fail(f"chunk {chunk.index} changes {key} (stream spans {span:.2f}s)",
                           expected=first.get(key), actual=chunk.data.get(key))


@check("OAI-STREAM-008")
def first_delta_has_role(stream: ChunkStream) -> None:
    """The first delta of each choice carries role "assistant"."""
    per_choice = stream.by_choice()
    if not per_choice:
        raise fail("no choice deltas", expected="at least one delta", actual=0)
    for index, items in sorted(per_choice.items()):
        delta = items[0][1].get("delta")
        role = delta.get("role") if isinstance(delta, dict) else None
        if role != "assistant":
            raise fail(f"first delta of choice {index} lacks role assistant", expected={"role": "assistant"},
                       actual=delta)


@check("OAI-STREAM-009")
def one_finish_reason_per_choice(stream: ChunkStream, *, n: int = 1) -> None:
    """Each of the n choices gets exactly one non-null finish_reason, and no content after it."""
    per_choice = stream.by_choice()
    if sorted(per_choice) != list(range(n)):
        raise fail("choice indices in the stream", expected=list(range(n)), actual=sorted(per_choice))
    for index, items in sorted(per_choice.items()):
        finals = [(chunk, c) for chunk, c in items if c.get("finish_reason") is not None]
        if len(finals) != 1:
            raise fail(f"choice {index}: number of chunks with a non-null finish_reason", expected=1,
                       actual=[c.get("finish_reason") for _, c in finals])
        final_chunk = finals[0][0]
        for chunk, c in items:
            if chunk.index > final_chunk.index:
                delta = c.get("delta")
                if isinstance(delta, dict) and any(
                    delta.get(k) for k in ("content", "tool_calls", "reasoning_content", "reasoning", "refusal")
                ):
                    raise fail(f"choice {index}: content after finish_reason", expected="no delta content",
                               actual=delta)


@check("OAI-STREAM-010")
def stream_matches_non_stream(stream_text: str, text: str) -> None:
    """At temperature 0 the streamed text equals the non-streamed text."""
    if stream_text != text:
        raise fail("streamed and non-streamed outputs differ at temperature 0",
                   expected=text[:200], actual=stream_text[:200])


@check("OAI-USAGE-002")
def stream_usage_chunk(stream: ChunkStream) -> None:
    """With include_usage, exactly one chunk carries usage; it has ``choices: []``, comes last
    before [DONE], and its counts add up."""
    carrying = stream.usage_chunks()
    if len(carrying) != 1:
        raise fail("chunks with a non-null usage", expected=1, actual=len(carrying))
    chunk = carrying[0]
    if chunk.data.get("choices") != []:
        raise fail("usage chunk does not have choices: []", expected=[],
                   actual=chunk.data.get("choices", "(choices absent)"))
    if chunk.index != len(stream.chunks) - 1:
        raise fail("usage chunk is not the last chunk", expected=len(stream.chunks) - 1, actual=chunk.index)
    usage_arithmetic.__wrapped__(chunk.usage)  # type: ignore[attr-defined] - judged under this requirement


@check("OAI-USAGE-004")
def usage_counts_every_choice(usage: Any, finish_reasons: list[Any], *, max_tokens: int) -> None:
    """When all n choices are cut by max_tokens, completion_tokens = n × max_tokens."""
    completion = usage.get("completion_tokens") if isinstance(usage, dict) else None
    expected = len(finish_reasons) * max_tokens
    if completion != expected:
        raise fail(f"completion_tokens for {len(finish_reasons)} choices each cut at max_tokens={max_tokens}",
                   expected=expected, actual=completion)


@check("OAI-USAGE-003")
def no_usage_without_include(stream: ChunkStream) -> None:
    """Without stream_options.include_usage, no chunk carries a non-null usage."""
    carrying = stream.usage_chunks()
    if carrying:
        raise fail("usage sent although include_usage was not requested", expected="no usage",
                   actual=f"{len(carrying)} chunk(s), first #{carrying[0].index}: {carrying[0].usage}")


@check("OAI-CONC-001")
def concurrent_streams_isolated(streams: list[ChunkStream], *, max_tokens: list[int]) -> None:
    """Each concurrent stream keeps one id of its own and accounts for its own request."""
    seen: dict[Any, int] = {}
    for i, (stream, limit) in enumerate(zip(streams, max_tokens)):
        ids = {c.data.get("id") for c in stream.chunks}
        if len(ids) != 1:
            raise fail(f"stream {i} carries several ids", expected="one id", actual=sorted(map(str, ids)))
        sid = ids.pop()
        if sid in seen:
            raise fail(f"streams {seen[sid]} and {i} share the id {sid!r}", expected="unique ids", actual=sid)
        seen[sid] = i
        reasons = stream.finish_reasons(0)
        usage = stream.final_usage()
        if reasons == ["length"] and usage is not None and usage.get("completion_tokens") != limit:
            raise fail(f"stream {i} (max_tokens={limit}) reports another request's usage",
                       expected=limit, actual=usage.get("completion_tokens"))


def marker_in(marker: str, text: str) -> bool:
    """``marker`` occurs in ``text`` as a whole word, case-insensitively (``apple`` is not in
    ``pineapple`` nor in ``apple2``)."""
    return re.search(rf"(?<!\w){re.escape(marker)}(?!\w)", text, re.IGNORECASE) is not None


@check("OAI-CONC-002")
def concurrent_streams_no_cross_talk(streams: list[ChunkStream], *, serial: list[dict[str, Any]],
                                     markers: list[str]) -> None:
    """No cross-talk between N concurrent streams with distinct prompts. Stream ``i`` is judged
    against ``serial[i]`` (``{"prompt_tokens": int, "text": str}``: the same request sent alone,
    blocking, before) and ``markers[i]`` (a word only prompt ``i`` contains):

    * its final ``usage.prompt_tokens`` equals its own serial count (prompt tokens are
      deterministic; distinct prompt lengths make a swapped usage or a swapped stream visible
      whatever the model writes);
    * its text contains no other stream's marker that its own serial answer did not contain (a
      marker comes only from its own prompt: another stream's marker in the output is another
      stream's output). Where the model echoes no marker (no serial answer contains its own),
      this part can see nothing; the usage part still judges."""
    if len(streams) != len(serial) or len(streams) != len(markers):
        raise fail("streams, serial answers and markers do not line up",
                   expected=len(streams), actual=[len(serial), len(markers)])
    counts = [s.get("prompt_tokens") for s in serial]
    problems: list[str] = []
    for i, stream in enumerate(streams):
        usage = stream.final_usage()
        got = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        if got != counts[i]:
            others = [j for j, c in enumerate(counts) if j != i and c == got]
            whose = f" (stream {others[0]}'s prompt, marker {markers[others[0]]!r})" if others else ""
            problems.append(f"stream {i} (marker {markers[i]!r}) reports prompt_tokens {got}, its own prompt has "
                            f"{counts[i]}{whose}")
        text = stream.text(0)
        own_serial = str(serial[i].get("text") or "")
        foreign = [j for j, m in enumerate(markers)
                   if j != i and marker_in(m, text) and not marker_in(m, own_serial)]
        if foreign:
            problems.append(f"stream {i} (marker {markers[i]!r}) carries the marker of stream(s) "
                            f"{foreign} ({', '.join(repr(markers[j]) for j in foreign)}): {text[:120]!r}")
    if problems:
        raise fail("cross-talk between concurrent streams: " + "; ".join(problems),
                   expected="each stream carries its own prompt's usage and output", actual=problems)


# --- parameters ----------------------------------------------------------------------------


@check("OAI-PARAM-001")
def length_finish(finish_reason: Any, usage: Any, *, max_tokens: int) -> None:
    """When generation is cut by max_tokens, finish_reason is "length" and completion_tokens ≤
    max_tokens."""
    if finish_reason != "length":
        raise fail("finish_reason when max_tokens is reached", expected="length", actual=finish_reason)
    completion = usage.get("completion_tokens") if isinstance(usage, dict) else None
    if not isinstance(completion, int) or isinstance(completion, bool):
        raise fail("usage.completion_tokens missing", expected=f"an integer ≤ {max_tokens}", actual=usage)
    if completion > max_tokens:
        raise fail("completion_tokens exceeds max_tokens", expected=f"≤ {max_tokens}", actual=completion)


@check("OAI-PARAM-002")
def stop_sequence_honoured(text: str, finish_reason: Any, *, stop: str, unconstrained: str) -> None:
    """A stop sequence ends generation: finish_reason "stop", and the output is the unconstrained
    output cut before the first occurrence of the stop sequence (which is not included)."""
    expected = unconstrained.split(stop, 1)[0]
    if finish_reason != "stop":
        raise fail("finish_reason when a stop sequence matched", expected="stop", actual=finish_reason)
    if stop in text:
        raise fail("output contains the stop sequence", expected=f"no {stop!r}", actual=text[:200])
    if text != expected:
        raise fail("output is not the unconstrained output cut at the stop sequence", expected=expected[:200],
                   actual=text[:200])


@check("OAI-PARAM-003")
def n_stream_choices(stream: ChunkStream, *, n: int) -> None:
    """With n choices requested, the stream carries every index 0..n-1, each with its own
    finish_reason."""
    one_finish_reason_per_choice.__wrapped__(stream, n=n)  # type: ignore[attr-defined] - judged under this requirement


@check("OAI-PARAM-004")
def seed_reproducible(first: str, second: str) -> None:
    """Two requests with the same seed and sampling parameters give the same output."""
    if first != second:
        raise fail("same seed, different outputs", expected=first[:200], actual=second[:200])


@check("OAI-PARAM-005")
def logprobs_shape(choice: dict[str, Any], *, top_logprobs: int) -> None:
    """Requested logprobs come as ``logprobs.content[]`` entries with token, logprob ≤ 0, bytes
    and at most ``top_logprobs`` alternatives each."""
    logprobs = choice.get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list) or not content:
        raise fail("logprobs.content missing or empty", expected="non-empty list", actual=logprobs)
    for i, entry in enumerate(content):
        if not isinstance(entry, dict):
            raise fail(f"logprobs.content[{i}] is not an object", expected="object", actual=entry)
        if not isinstance(entry.get("token"), str):
            raise fail(f"logprobs.content[{i}].token", expected="string", actual=entry.get("token"))
        lp = entry.get("logprob")
        if not _is_logprob(lp):
            raise fail(f"logprobs.content[{i}].logprob", expected="number ≤ 0", actual=lp)
        raw = entry.get("bytes")
        if raw is not None and not _is_byte_list(raw):
            raise fail(f"logprobs.content[{i}].bytes", expected="list of byte values or null", actual=raw)
        tops = entry.get("top_logprobs")
        low = 1 if top_logprobs > 0 else 0
        if not isinstance(tops, list) or not low <= len(tops) <= top_logprobs:
            raise fail(f"logprobs.content[{i}].top_logprobs length", expected=f"{low}..{top_logprobs}",
                       actual=None if not isinstance(tops, list) else len(tops))
        for alt in tops:
            alp = alt.get("logprob") if isinstance(alt, dict) else None
            alt_bytes = alt.get("bytes") if isinstance(alt, dict) else None
            if not isinstance(alt, dict) or not isinstance(alt.get("token"), str) or not _is_logprob(alp) or (
                    alt_bytes is not None and not _is_byte_list(alt_bytes)):
                raise fail(f"logprobs.content[{i}].top_logprobs entry", expected="{token, logprob ≤ 0, bytes}",
                           actual=alt)


def _is_logprob(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0


def _is_byte_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in value)


# --- models --------------------------------------------------------------------------------


@check("OAI-MODELS-001", passive=True)
def models_list_schema(body: Any, *, schemas: SchemaSet) -> None:
    """GET /v1/models returns a list object valid against the schema."""
    schemas.validate(body, "openai/model.list", what="model list")


@check("OAI-MODELS-002")
def model_listed(body: Any, *, model: str) -> None:
    """The model under test appears in GET /v1/models."""
    data = body.get("data") if isinstance(body, dict) else None
    ids = [m.get("id") for m in data if isinstance(m, dict)] if isinstance(data, list) else []
    if model not in ids:
        raise fail("model under test not listed", expected=model, actual=ids[:10])
