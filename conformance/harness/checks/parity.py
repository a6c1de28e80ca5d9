"""Stream / non-stream parity (issue 14 §1): a streamed and a blocking call of the same greedy
request bill the same prompt tokens (exactly) and the same output tokens (within the profile's
``usage_parity_tolerance``, default 0), and stream the same text, on chat and text completions,
Responses and Anthropic Messages.

The blocking call is the oracle for "the tokens actually generated": both calls ran the same
prompt through the same template and sampler, so a stream whose final usage disagrees counts its
own stream wrongly (e.g. a Messages stream whose final cumulative ``output_tokens`` ends far below
what it streamed). A detokenised text re-counted by a tokenizer route can differ from the
generated tokens by one or more (special and partial-UTF-8 tokens; measured on the reference: 16
generated, 15 re-counted), so it is not used as the oracle.

Prompt tokens are compared as *totals*: Anthropic ``input_tokens`` + ``cache_read_input_tokens``
+ ``cache_creation_input_tokens`` (a prompt cache moves tokens between them from one call to the
next: llama.cpp bills the second call of a prompt 5 + 45 cached), chat / completions
``prompt_tokens`` and Responses ``input_tokens`` (their cached counts are details included in the
total).
"""

from __future__ import annotations

from typing import Any

from conformance.harness.checks import check, fail
from conformance.harness.failures import NotApplicable, UsageError
from conformance.harness.streams.anthropic import MessagesStream
from conformance.harness.streams.openai import ChunkStream
from conformance.harness.streams.responses import ResponsesStream, response_output_text

#: Profile setting: how many output tokens a streamed and a blocking call of the same greedy
#: request may differ by (an endpoint that is not bitwise deterministic may generate differently).
TOLERANCE_SETTING = "usage_parity_tolerance"
ANTHROPIC_INPUT_FIELDS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def tolerance_of(settings: Any) -> int:
    """The profile's ``usage_parity_tolerance`` (an integer ≥ 0; 0 when not set)."""
    value = settings.get(TOLERANCE_SETTING, 0) if isinstance(settings, dict) else 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UsageError(f"settings.{TOLERANCE_SETTING} must be an integer >= 0, got {value!r}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(text: Any, limit: int = 120) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def _blocking_count(usage: Any, field: str, what: str) -> int:
    """A count of the blocking call's usage; NotApplicable when it has none (that is a violation
    of the usage-arithmetic requirement of its API, judged there)."""
    value = usage.get(field) if isinstance(usage, dict) else None
    if not _is_int(value) or value < 0:
        raise NotApplicable(f"the non-streamed {what} carries no usage.{field} to compare with "
                            f"(got {_short(value)}; judged by its usage requirement)")
    return value


def _streamed_count(usage: Any, field: str, where: str) -> int:
    value = usage.get(field) if isinstance(usage, dict) else None
    if not _is_int(value) or value < 0:
        raise fail(f"the stream's usage has no integer {field} ≥ 0 ({where})", expected=f"usage.{field}",
                   actual=usage if isinstance(usage, dict) else value)
    return value


def _texts_note(streamed_text: str | None, blocking_text: str | None) -> str:
    if streamed_text is None or blocking_text is None:
        return ""
    if streamed_text == blocking_text:
        return "; the two texts are identical (one generation, counted differently)"
    return "; the texts differ too (the generations differ)"


def _judge(*, prompt: tuple[int, int], output: tuple[int, int], tolerance: int, names: tuple[str, str],
           where: str, texts: tuple[str | None, str | None] = (None, None)) -> None:
    """The shared rule: prompt totals equal, output counts within ``tolerance``."""
    (s_prompt, b_prompt), (s_out, b_out) = prompt, output
    prompt_name, output_name = names
    if s_prompt != b_prompt:
        raise fail(f"the stream bills {s_prompt} {prompt_name}, the blocking call of the same request {b_prompt}",
                   expected=b_prompt, actual=f"{s_prompt} ({where})")
    if abs(s_out - b_out) > tolerance:
        below = "below" if s_out < b_out else "above"
        raise fail(f"the stream's final usage reports {s_out} {output_name}, {below} the {b_out} the blocking call "
                   f"of the same greedy request generated (tolerance {tolerance}){_texts_note(*texts)}",
                   expected=f"{b_out} ± {tolerance}", actual=f"{s_out} ({where})")


# --- chat and text completions ---------------------------------------------------------------------


def _choice_text(body: Any) -> str | None:
    choices = body.get("choices") if isinstance(body, dict) else None
    choice = next((c for c in choices or [] if isinstance(c, dict) and c.get("index", 0) == 0), None)
    if choice is None:
        return None
    message = choice.get("message")
    if isinstance(message, dict):
        return message.get("content") if isinstance(message.get("content"), str) else ""
    return choice.get("text") if isinstance(choice.get("text"), str) else None


@check("OAI-USAGE-005")
def stream_usage_matches_blocking(stream: ChunkStream, blocking: Any, *, tolerance: int = 0) -> None:
    """The final usage of a chat or text completions stream (usage requested with
    ``stream_options.include_usage``) bills the prompt_tokens of the blocking response to the same
    request exactly and its completion_tokens within ``tolerance``. ``blocking``: the parsed
    chat.completion / text_completion body."""
    b_usage = blocking.get("usage") if isinstance(blocking, dict) else None
    b_prompt = _blocking_count(b_usage, "prompt_tokens", "response")
    b_out = _blocking_count(b_usage, "completion_tokens", "response")
    usage = stream.final_usage()
    if usage is None:
        raise fail("the stream carries no usage although stream_options.include_usage was requested",
                   expected="a final chunk with usage", actual=f"{len(stream.chunks)} chunks, none with usage")
    where = f"chunk #{stream.usage_chunks()[-1].index}"
    _judge(prompt=(_streamed_count(usage, "prompt_tokens", where), b_prompt),
           output=(_streamed_count(usage, "completion_tokens", where), b_out), tolerance=tolerance,
           names=("prompt_tokens", "completion_tokens"), where=where, texts=(stream.text(0), _choice_text(blocking)))


@check("OAI-CMPL-006")
def completion_stream_text_matches_blocking(stream_text: str, blocking_text: Any) -> None:
    """At temperature 0 the concatenated ``text`` of a /v1/completions stream equals the text of
    the blocking completion of the same request."""
    if not isinstance(blocking_text, str):
        raise NotApplicable(f"the non-streamed completion carries no choices[0].text (got {_short(blocking_text)})")
    if stream_text != blocking_text:
        at = next((i for i, (a, b) in enumerate(zip(stream_text, blocking_text)) if a != b),
                  min(len(stream_text), len(blocking_text)))
        raise fail(f"streamed and non-streamed completion texts differ at temperature 0 (from character {at})",
                   expected=_short(blocking_text, 200), actual=_short(stream_text, 200))


# --- Responses -----------------------------------------------------------------------------------


def _terminal_usage(stream: ResponsesStream) -> tuple[Any, str]:
    terminals = stream.terminal()
    if not terminals:
        raise fail("the Responses stream has no terminal event to carry usage",
                   expected="response.completed (or .incomplete) with response.usage",
                   actual=[t for t in stream.types() if t][-3:])
    last = terminals[-1]
    response = last.response
    usage = response.get("usage") if isinstance(response, dict) else None
    if not isinstance(usage, dict):
        raise fail(f"the terminal {last.label()} carries no response.usage", expected="response.usage",
                   actual=usage)
    return usage, last.label()


@check("OAI-RESP-013")
def responses_stream_usage_matches_blocking(stream: ResponsesStream, blocking: Any, *, tolerance: int = 0) -> None:
    """The usage of a Responses stream's terminal event (``response.completed``) bills the
    input_tokens of the blocking response to the same request exactly and its output_tokens within
    ``tolerance``."""
    b_usage = blocking.get("usage") if isinstance(blocking, dict) else None
    b_in = _blocking_count(b_usage, "input_tokens", "response")
    b_out = _blocking_count(b_usage, "output_tokens", "response")
    usage, where = _terminal_usage(stream)
    _judge(prompt=(_streamed_count(usage, "input_tokens", where), b_in),
           output=(_streamed_count(usage, "output_tokens", where), b_out), tolerance=tolerance,
           names=("input_tokens", "output_tokens"), where=where,
           texts=(stream.text(), response_output_text(blocking)))


@check("OAI-RESP-014")
def responses_stream_text_matches_blocking(stream: ResponsesStream, blocking: Any) -> None:
    """At temperature 0 the concatenated ``response.output_text.delta`` deltas of a Responses
    stream equal the output text of the blocking response to the same request."""
    text = response_output_text(blocking)
    if text is None:
        raise NotApplicable("the non-streamed response carries no output list to compare with (judged by "
                            "OAI-RESP-001)")
    streamed = stream.text()
    if streamed != text:
        at = next((i for i, (a, b) in enumerate(zip(streamed, text)) if a != b), min(len(streamed), len(text)))
        raise fail(f"streamed output_text deltas and the non-streamed output text differ at temperature 0 "
                   f"(from character {at})", expected=_short(text, 200), actual=_short(streamed, 200))


# --- Anthropic Messages --------------------------------------------------------------------------


def _input_total(usage: Any, what: str, *, streamed: bool) -> int:
    """input_tokens + cache_read_input_tokens + cache_creation_input_tokens (absent or null cache
    counters count 0)."""
    value = usage.get("input_tokens") if isinstance(usage, dict) else None
    if not _is_int(value) or value < 0:
        if streamed:
            raise fail("the stream's message_start carries no integer usage.input_tokens ≥ 0",
                       expected="message_start.message.usage.input_tokens", actual=usage)
        raise NotApplicable(f"the non-streamed message carries no usage.input_tokens (got {_short(value)})")
    total = value
    for key in ANTHROPIC_INPUT_FIELDS[1:]:
        extra = usage.get(key)
        if extra is None:
            continue
        if not _is_int(extra) or extra < 0:
            if streamed:
                raise fail(f"the stream's usage.{key} is not an integer ≥ 0", expected=f"usage.{key}", actual=extra)
            raise NotApplicable(f"the non-streamed message's usage.{key} is not an integer (got {_short(extra)})")
        total += extra
    return total


@check("ANT-STREAM-008")
def messages_stream_usage_matches_blocking(stream: MessagesStream, message: Any, *, tolerance: int = 0) -> None:
    """A Messages stream bills the input of the blocking message to the same request exactly
    (input_tokens + cache counters, from message_start as updated by message_delta) and its final
    cumulative ``message_delta`` ``usage.output_tokens`` is the blocking ``output_tokens`` within
    ``tolerance``: a stream whose count ends far below what it generated fails."""
    b_usage = message.get("usage") if isinstance(message, dict) else None
    b_in = _input_total(b_usage, "message", streamed=False)
    b_out = _blocking_count(b_usage, "output_tokens", "message")
    final = stream.final_message()
    if final is None:
        raise fail("no message_start: the stream reports no usage", expected="message_start with usage",
                   actual=[e.describe() for e in stream.json_events()[:3]])
    s_in = _input_total(final.get("usage"), "stream", streamed=True)
    deltas = stream.message_deltas()
    last_value = None
    where = "no message_delta"
    for event in deltas:
        usage = (event.data or {}).get("usage")
        value = usage.get("output_tokens") if isinstance(usage, dict) else None
        if value is not None:
            last_value, where = value, f"{event.describe()} usage.output_tokens"
    if last_value is None:
        raise fail("no message_delta carries the cumulative usage.output_tokens", expected="message_delta.usage",
                   actual=[(e.describe(), (e.data or {}).get("usage")) for e in deltas[-2:]] or "no message_delta")
    if not _is_int(last_value) or last_value < 0:
        raise fail("the final message_delta usage.output_tokens is not an integer ≥ 0",
                   expected="an integer ≥ 0", actual=f"{last_value!r} ({where})")
    blocking_text = "".join(b.get("text", "") for b in message.get("content") or []
                            if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str))
    _judge(prompt=(s_in, b_in), output=(last_value, b_out), tolerance=tolerance,
           names=("input tokens (input_tokens + cache counters)", "output_tokens"), where=where,
           texts=(stream.text(), blocking_text))
