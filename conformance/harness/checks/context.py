"""Checks at the edge of the context window (issue 9 §2; requirements OAI-CTX-*, ANT-CTX-*).

Pure functions over recorded exchanges (or the stream objects built from them): a prompt that fits
is billed whole, a prompt over the window is rejected with 4xx and the API's error envelope (and
names the limit), prompt + max_tokens beyond the window is rejected or stops at the window, the
endpoint still serves afterwards, and Responses ``truncation`` behaves as documented.

Overflow error wordings are matched by :data:`LIMIT_FAMILIES`: each family is a
regex over the error message, with a ``limit`` group where the server states the window.
"""

from __future__ import annotations

import json
import re
from typing import Any

from conformance.harness.checks import check, fail
from conformance.harness.exchange import EVENT_STREAM, Exchange
from conformance.harness.failures import NotApplicable
from conformance.harness.schemas import SchemaSet

#: (family, regex) over an overflow error message; ``limit`` is the window the server states.
LIMIT_FAMILIES: tuple[tuple[str, str], ...] = (
    # vLLM / NIM / Dynamo / OpenAI: "This model's maximum context length is 8192 tokens. ..."
    ("vllm", r"maximum context length is (?P<limit>\d+) tokens"),
    # vLLM engine level: "The decoder prompt (length N) is longer than the maximum model length of M."
    ("vllm-engine", r"maximum model length(?: of| is)? (?P<limit>\d+)"),
    # llama.cpp: "request (4844 tokens) exceeds the available context size (4096 tokens), try increasing it"
    ("llama.cpp", r"exceeds the available context size \((?P<limit>\d+) tokens\)"),
    # SGLang: "The input (N tokens) is longer than the model's context length (M tokens)."
    ("sglang", r"longer than the model's context length \((?P<limit>\d+) tokens\)"),
    # SGLang: "Requested token count exceeds the model's maximum context length of N tokens"
    ("sglang-requested", r"exceeds the model's maximum context length(?: of (?P<limit>\d+))?"),
    # Anthropic: "prompt is too long: 210000 tokens > 200000 maximum"
    ("anthropic", r"prompt is too long: \d+ tokens > (?P<limit>\d+) maximum"),
    # TGI: "`inputs` tokens + `max_new_tokens` must be <= 4096"
    ("tgi", r"inputs`? tokens \+ `?max_new_tokens`? must be <= (?P<limit>\d+)"),
    # OpenAI error code (also seen as text) and the wordings without a number
    ("openai-code", r"context_length_exceeded"),
    ("generic", r"(maximum|max)[ _](context|model)[ _](length|len)|context (length|window|size)|"
                r"too many (input |prompt )?tokens|(prompt|input) is too long"),
)
_FAMILY_RES = tuple((name, re.compile(rx, re.IGNORECASE)) for name, rx in LIMIT_FAMILIES)

_USAGE_PROMPT_FIELD = {"chat": "prompt_tokens", "completions": "prompt_tokens", "responses": "input_tokens"}
_OVERFLOW_POLICIES = ("reject", "stop", "either")


# --- helpers (plain functions, not registered) ------------------------------------------------


def _exchange_of(subject: Any) -> Exchange:
    """An Exchange, or the exchange a parsed stream was built from."""
    if isinstance(subject, Exchange):
        return subject
    ex = getattr(subject, "exchange", None)
    if isinstance(ex, Exchange):
        return ex
    raise TypeError(f"expected an Exchange or a parsed stream, got {type(subject).__name__}")


def _excerpt(ex: Exchange, limit: int = 300) -> str:
    text = ex.redacted_body().decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + "…"


def _is_stream(ex: Exchange) -> bool:
    return ex.sse is not None or ex.content_type == EVENT_STREAM


def _events(ex: Exchange) -> list[Any]:
    """The JSON payloads of a stream's events, in order (non-JSON data is skipped)."""
    if ex.sse is None:
        return []
    out = []
    for event in ex.sse.events:
        try:
            out.append(json.loads(event.data))
        except ValueError:
            continue
    return out


def _content_bearing(payload: Any) -> bool:
    """A chat / completions chunk with text, a Responses text delta or a Messages content delta."""
    if not isinstance(payload, dict):
        return False
    for choice in payload.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        if isinstance(delta, dict) and any(isinstance(delta.get(k), str) and delta.get(k)
                                           for k in ("content", "reasoning_content", "reasoning")):
            return True
        if isinstance(choice.get("text"), str) and choice["text"]:
            return True
    kind = payload.get("type")
    if kind in ("response.output_text.delta", "response.reasoning_text.delta"):
        return bool(payload.get("delta"))
    if kind == "content_block_delta":
        delta = payload.get("delta")
        return isinstance(delta, dict) and any(isinstance(delta.get(k), str) and delta.get(k)
                                               for k in ("text", "thinking", "partial_json"))
    return False


def stream_error(ex: Exchange) -> tuple[Any, int] | None:
    """The first error a stream reported in-band and how many content-bearing events came before
    it: an OpenAI ``{"error": {...}}`` frame, a Messages / Responses ``error`` event or a
    ``response.failed`` event (its ``response.error``)."""
    content = 0
    for payload in _events(ex):
        if not isinstance(payload, dict):
            continue
        if payload.get("type") == "response.failed":
            response = payload.get("response")
            return (response.get("error") if isinstance(response, dict) else None) or payload, content
        if payload.get("type") == "error" or ("error" in payload and "choices" not in payload):
            return payload, content
        if _content_bearing(payload):
            content += 1
    return None


def error_message(body: Any) -> str | None:
    """The message of an error body: OpenAI ``{"error": {"message"}}``, Anthropic
    ``{"type": "error", "error": {"message"}}``, a bare ``{"message"}`` / ``{"detail"}`` or
    ``{"error": "text"}``; plus the error ``code`` when it is a string (``context_length_exceeded``)."""
    if not isinstance(body, dict):
        return None
    err = body.get("error")
    parts: list[str] = []
    if isinstance(err, dict):
        for key in ("message", "code", "type"):
            if isinstance(err.get(key), str) and err[key]:
                parts.append(err[key])
    elif isinstance(err, str) and err:
        parts.append(err)
    for key in ("message", "detail"):
        if isinstance(body.get(key), str) and body[key]:
            parts.append(body[key])
    return " | ".join(parts) if parts else None


def rejection_body(ex: Exchange) -> Any:
    """What an overflow rejection said: the JSON body of a 4xx, or the in-band error of a 200
    stream that reported one before any content. None when the exchange is not a rejection."""
    if ex.status is not None and 400 <= ex.status < 500:
        return ex.json_or_none() if ex.body else {}
    if ex.status is not None and 200 <= ex.status < 300 and _is_stream(ex):
        found = stream_error(ex)
        if found is not None and found[1] == 0:
            return found[0]
    return None


def stated_limits(body: Any) -> tuple[str | None, list[int]]:
    """(first matching family, every window size the error states: the ``limit`` of the matching
    families and a structured ``n_ctx`` field as llama.cpp sends it)."""
    message = error_message(body) or ""
    family = None
    limits: list[int] = []
    for name, rx in _FAMILY_RES:
        match = rx.search(message)
        if match is None:
            continue
        family = family or name
        value = match.groupdict().get("limit")
        if value is not None and int(value) not in limits:
            limits.append(int(value))
    err = body.get("error") if isinstance(body, dict) else None
    for holder in (err, body):
        if isinstance(holder, dict) and isinstance(holder.get("n_ctx"), int) and holder["n_ctx"] not in limits:
            limits.append(holder["n_ctx"])
    return family, limits


def _judge_rejection(ex: Exchange, *, schemas: SchemaSet, schema_id: str, envelope: str, what: str) -> None:
    """4xx with the envelope (or a 200 stream whose first word is an in-band error); never a 5xx,
    a hang, or a 200 that generates or ends without saying why."""
    if ex.status is None:
        raise fail(f"no answer for {what}: {ex.error or 'no response'}", expected="4xx",
                   actual=ex.error or "no response")
    if ex.status >= 500:
        raise fail(f"{what} answered with a server error", expected="4xx", actual=f"{ex.status} {_excerpt(ex)}")
    if 200 <= ex.status < 300:
        if _is_stream(ex):
            found = stream_error(ex)
            if found is not None and found[1] == 0:
                payload = found[0]
                if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
                    schemas.validate(payload, schema_id, what="in-stream error")  # an error frame / event
                elif error_message(payload) is None:  # a Responses error event or failed response
                    raise fail(f"{what}: in-stream error without a message", expected="an error with a message",
                               actual=json.dumps(payload)[:200])
                return
            content = sum(1 for p in _events(ex) if _content_bearing(p))
            how = (f"stopped by the client after {content} content events ({ex.stopped})" if ex.stopped
                   else f"then no answer: {ex.error}" if ex.error
                   else f"an error after {found[1]} content events" if found is not None
                   else f"ended after {content} content events without saying why")
            raise fail(f"{what} answered with a 200 stream ({how})", expected=f"4xx {envelope}",
                       actual=f"{ex.status} {_excerpt(ex, 200)}")
        raise fail(f"{what} accepted (the prompt was cut or the window is larger than stated)",
                   expected=f"4xx {envelope}", actual=f"{ex.status} {_excerpt(ex, 200)}")
    if not 400 <= ex.status < 500:
        raise fail(f"{what} not rejected with a client error", expected="4xx", actual=f"{ex.status} {_excerpt(ex)}")
    try:
        body = ex.json()
    except ValueError:
        raise fail("error response body is not JSON", expected=envelope, actual=_excerpt(ex)) from None
    schemas.validate(body, schema_id, what="error body")


def _billed(usage: Any, field: str) -> int:
    if not isinstance(usage, dict):
        raise fail("no usage to show how many prompt tokens were processed", expected=f"usage.{field}",
                   actual=usage)
    value = usage.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise fail(f"usage.{field} is not an integer", expected="integer", actual=value)
    return value


def _judge_whole(billed: int, *, sent: int, tolerance: int, field: str) -> None:
    if billed < sent - tolerance:
        raise fail(f"silent truncation: {sent} prompt tokens sent, {billed} billed ({field})",
                   expected=f">= {sent - tolerance} ({sent} - tolerance {tolerance})", actual=billed)


# --- OAI-CTX-003 / ANT-CTX-001: a prompt that fits is processed whole -------------------------


@check("OAI-CTX-003")
def prompt_processed_whole(usage: Any, *, api: str, sent: int, tolerance: int = 0) -> None:
    """The prompt tokens billed (``usage.prompt_tokens``; ``input_tokens`` on Responses) count the
    whole prompt that was sent (within the sizing tolerance): fewer is silent truncation."""
    field = _USAGE_PROMPT_FIELD[api]
    _judge_whole(_billed(usage, field), sent=sent, tolerance=tolerance, field=f"usage.{field}")


@check("ANT-CTX-001")
def messages_prompt_processed_whole(usage: Any, *, sent: int, tolerance: int = 0) -> None:
    """A Messages prompt is billed whole: ``input_tokens + cache_creation_input_tokens +
    cache_read_input_tokens`` (a prefix cache splits the prompt) counts every token sent."""
    total = _billed(usage, "input_tokens")
    for key in ("cache_creation_input_tokens", "cache_read_input_tokens"):
        value = usage.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise fail(f"usage.{key} is not an integer", expected="integer or absent", actual=value)
        total += value
    _judge_whole(total, sent=sent, tolerance=tolerance,
                 field="input_tokens + cache_creation_input_tokens + cache_read_input_tokens")



def _require_2xx(ex: Exchange, message: str) -> None:
    if ex.status is None or not 200 <= ex.status < 300:
        raise fail(message, expected="2xx", actual=f"{ex.status} {ex.error or _excerpt(ex, 200)}")

@check("OAI-CTX-003")
def fitting_prompt_answered(ex: Exchange) -> None:
    """A prompt that leaves room for the requested output is answered 2xx (a 4xx means the
    endpoint enforces a smaller window than it states; a 5xx is never acceptable)."""
    _require_2xx(ex, "a prompt that fits the window was not served")


@check("ANT-CTX-001")
def messages_fitting_prompt_answered(ex: Exchange) -> None:
    """A Messages prompt that leaves room for max_tokens is answered 2xx."""
    _require_2xx(ex, "a Messages prompt that fits the window was not served")


# --- OAI-CTX-004 / ANT-CTX-002: a prompt over the window is rejected --------------------------


@check("OAI-CTX-004")
def over_window_prompt_rejected(subject: Any, *, schemas: SchemaSet) -> None:
    """An over-window prompt (chat, completions, Responses) is rejected with 4xx and an OpenAI
    error envelope; never a 5xx, a hang (the exchange's recorded timeout) or a 200 that generates
    or ends without saying why. A 200 stream whose first event is an in-band error (a server that
    opens the stream before validating) counts as a rejection; its error object is judged."""
    _judge_rejection(_exchange_of(subject), schemas=schemas, schema_id="openai/error",
                     envelope='{"error": {...}}', what="an over-window prompt")


@check("ANT-CTX-002")
def messages_over_window_prompt_rejected(subject: Any, *, schemas: SchemaSet) -> None:
    """An over-window Messages prompt is rejected with 4xx and an Anthropic error
    ``{"type": "error", "error": {"type", "message"}}`` (or, streamed, an ``error`` event first)."""
    _judge_rejection(_exchange_of(subject), schemas=schemas, schema_id="anthropic/error",
                     envelope='{"type": "error", "error": {...}}', what="an over-window Messages prompt")


# --- OAI-CTX-005 (and OAI-CTX-001): the rejection names the limit -----------------------------


def _rejection_or_not_applicable(subject: Any) -> Any:
    ex = _exchange_of(subject)
    body = rejection_body(ex)
    if body is None:
        raise NotApplicable(f"the over-window request was not rejected ({ex.status}"
                            f"{', ' + ex.error if ex.error else ''}): no error message to read")
    return body


@check("OAI-CTX-005")
def overflow_error_names_the_limit(subject: Any, *, window: int) -> None:
    """The message of an overflow rejection (any API) says the context limit was exceeded, in one
    of the wordings of :data:`LIMIT_FAMILIES`, and a window it states equals ``window``. Raises
    NotApplicable when the exchange is no rejection (OAI-CTX-004 / ANT-CTX-002 judge that)."""
    body = _rejection_or_not_applicable(subject)
    message = error_message(body)
    if message is None:
        raise fail("overflow rejection without an error message", expected="a message naming the context limit",
                   actual=json.dumps(body)[:200] if body is not None else None)
    family, limits = stated_limits(body)
    if family is None:
        raise fail("overflow error message does not name the context limit",
                   expected="e.g. 'maximum context length is N tokens'", actual=message[:300])
    wrong = [n for n in limits if n != window]
    if wrong:
        raise fail(f"overflow error states a window of {wrong[0]} tokens, the window is {window}",
                   expected=window, actual=message[:300])


@check("OAI-CTX-001")
def overflow_limit_matches_window(subject: Any, *, window: int) -> None:
    """The window an overflow error states (in its message or a structured ``n_ctx``) is the
    window the endpoint advertises. An error that states none, or no rejection, has nothing to
    compare: that is judged by OAI-CTX-004/005, not here."""
    ex = _exchange_of(subject)
    body = rejection_body(ex)
    _, limits = stated_limits(body) if body is not None else (None, [])
    wrong = [n for n in limits if n != window]
    if wrong:
        raise fail(f"the endpoint enforces a window of {wrong[0]} tokens but advertises {window}",
                   expected=window, actual=f"{error_message(body) or body}"[:300])


# --- OAI-CTX-006 / ANT-CTX-003: prompt + max_tokens beyond the window -------------------------


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _overflow_outcome(ex: Exchange, api: str) -> tuple[str | None, int | None, int | None, int]:
    """(end reason, completion tokens from usage, prompt tokens from usage, content events) of a
    200 stream: finish_reason (chat / completions), ``status[:reason]`` (Responses), stop_reason
    (Messages)."""
    content = sum(1 for p in _events(ex) if _content_bearing(p))
    if api in ("chat", "completions"):
        from conformance.harness.streams.openai import ChunkStream  # noqa: PLC0415

        stream = ChunkStream.from_exchange(ex)
        reasons = stream.finish_reasons(0)
        usage = stream.final_usage() or {}
        return (reasons[-1] if reasons else None, _int(usage.get("completion_tokens")),
                _int(usage.get("prompt_tokens")), content)
    if api == "responses":
        from conformance.harness.streams.responses import ResponsesStream  # noqa: PLC0415

        response = ResponsesStream.from_exchange(ex).final_response() or {}
        status = response.get("status")
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        usage = response.get("usage") if isinstance(response.get("usage"), dict) else {}
        end = None if status is None else f"{status}:{reason}" if reason else str(status)
        return end, _int(usage.get("output_tokens")), _int(usage.get("input_tokens")), content
    from conformance.harness.streams.anthropic import MessagesStream  # noqa: PLC0415

    message = MessagesStream.from_exchange(ex).final_message() or {}
    usage = message.get("usage") if isinstance(message.get("usage"), dict) else {}
    prompt = _int(usage.get("input_tokens"))
    if prompt is not None:
        prompt += sum(_int(usage.get(k)) or 0 for k in ("cache_creation_input_tokens", "cache_read_input_tokens"))
    return message.get("stop_reason"), _int(usage.get("output_tokens")), prompt, content


#: End reasons that say "cut at the limit", per API; NATURAL: the model ended its turn itself.
_CUT = {"chat": ("length",), "completions": ("length",), "responses": ("incomplete:max_output_tokens",),
        "messages": ("max_tokens", "model_context_window_exceeded")}
_NATURAL = {"chat": ("stop",), "completions": ("stop",), "responses": ("completed",), "messages": ("end_turn",)}


def _judge_overflow_output(ex: Exchange, *, api: str, policy: str, prompt_tokens: int, window: int,
                           max_tokens: int, schemas: SchemaSet, tolerance: int = 0) -> None:
    if policy not in _OVERFLOW_POLICIES:
        raise ValueError(f"context_overflow_output must be one of {_OVERFLOW_POLICIES}, not {policy!r}")
    schema_id = "anthropic/error" if api == "messages" else "openai/error"
    what = f"a prompt of {prompt_tokens} tokens with max_tokens {max_tokens} (window {window})"
    if ex.status is None:
        raise fail(f"no answer for {what}: {ex.error or 'no response'}", expected="4xx or a stream cut at the window",
                   actual=ex.error)
    if ex.status >= 500:
        raise fail(f"{what} answered with a server error", expected="4xx or a stream cut at the window",
                   actual=f"{ex.status} {_excerpt(ex)}")
    if rejection_body(ex) is not None:
        if policy == "stop":
            raise fail(f"{what} rejected, but the profile declares context_overflow_output = 'stop'",
                       expected="200 and a generation cut at the window", actual=f"{ex.status} {_excerpt(ex, 200)}")
        _judge_rejection(ex, schemas=schemas, schema_id=schema_id, envelope="error envelope", what=what)
        return
    if not 200 <= ex.status < 300:
        raise fail(f"{what} answered with neither a rejection nor a generation", expected="4xx or 200",
                   actual=f"{ex.status} {_excerpt(ex)}")
    if policy == "reject":
        raise fail(f"{what} generated, but the profile declares context_overflow_output = 'reject'",
                   expected="4xx with the error envelope", actual=f"{ex.status} {_excerpt(ex, 200)}")
    if ex.stopped:
        raise fail(f"{what}: the generation did not stop at the window (the client stopped it: {ex.stopped})",
                   expected=f"at most {window - prompt_tokens} tokens, then a cut", actual=ex.stopped)
    if ex.error:
        raise fail(f"{what}: the stream broke off ({ex.error})", expected="a stream that ends", actual=ex.error)
    found = stream_error(ex)
    if found is not None:
        raise fail(f"{what}: the stream reported an error after {found[1]} content events",
                   expected="a cut reported as such", actual=json.dumps(found[0])[:200])
    end, completion, billed_prompt, content = _overflow_outcome(ex, api)
    # The room left is measured from the prompt billed (exact), unless that is less than was sent:
    # then the prompt was cut (OAI-CTX-003 judges that) and the room is what the sent prompt left.
    cut = billed_prompt is not None and billed_prompt < prompt_tokens - tolerance
    room = window - (prompt_tokens if billed_prompt is None or cut else billed_prompt)
    generated = completion if completion is not None else content
    if generated > room:
        hint = f" (the endpoint billed only {billed_prompt} prompt tokens: the prompt was cut)" if cut else ""
        raise fail(f"{what}: {generated} tokens generated, only {room} fit the window{hint}",
                   expected=f"<= {room} output tokens", actual=f"{generated} ({end})")
    if end is None:
        raise fail(f"{what}: the stream ended without a stop reason", expected=" / ".join(_CUT[api]), actual=None)
    if end in _CUT[api]:
        return
    if end in _NATURAL[api]:
        if generated < room:
            counted = "tokens" if completion is not None else "content events (no usage)"
            raise NotApplicable(f"the model ended its turn ({end}) after {generated} {counted} of the {room} "
                                "tokens left in the window: the cut was not reached")
        raise fail(f"{what}: the generation reached the window but reports {end!r}, which hides the cut",
                   expected=" / ".join(_CUT[api]), actual=f"{end} after {generated} tokens (room {room})")
    raise fail(f"{what}: unexpected stop reason {end!r}", expected=" / ".join(_CUT[api]), actual=end)


@check("OAI-CTX-006")
def overflowing_output_rejected_or_stopped(subject: Any, *, api: str, policy: str, prompt_tokens: int,
                                           window: int, max_tokens: int, schemas: SchemaSet,
                                           tolerance: int = 0) -> None:
    """Prompt + max_tokens beyond the window (a streamed request): either 4xx with the OpenAI error
    envelope or a generation of at most ``window - prompt`` tokens that ends with finish_reason
    length (Responses: status incomplete, reason max_output_tokens), as ``policy`` (the profile's
    ``context_overflow_output``: reject | stop | either) allows. Never a 5xx, a stream the client
    had to stop, more tokens than the sent prompt left room for (``tolerance``: the prompt's sizing
    tolerance), or a stop reason that hides the cut. NotApplicable when the model ended its turn
    before the window."""
    _judge_overflow_output(_exchange_of(subject), api=api, policy=policy, prompt_tokens=prompt_tokens,
                           window=window, max_tokens=max_tokens, schemas=schemas, tolerance=tolerance)


@check("ANT-CTX-003")
def messages_overflowing_output_rejected_or_stopped(subject: Any, *, policy: str, prompt_tokens: int,
                                                    window: int, max_tokens: int, schemas: SchemaSet,
                                                    tolerance: int = 0) -> None:
    """The Messages form of OAI-CTX-006: 4xx with an Anthropic error, or stop_reason max_tokens /
    model_context_window_exceeded after at most ``window - prompt`` tokens."""
    _judge_overflow_output(_exchange_of(subject), api="messages", policy=policy, prompt_tokens=prompt_tokens,
                           window=window, max_tokens=max_tokens, schemas=schemas, tolerance=tolerance)


# --- OAI-CTX-007: still serving ---------------------------------------------------------------


@check("OAI-CTX-007")
def endpoint_still_serves(ex: Exchange) -> None:
    """After requests at and over the window, a small well-formed request is answered 2xx."""
    _require_2xx(ex, "a small request failed after requests at and over the window")


# --- OAI-CTX-008: Responses truncation --------------------------------------------------------


@check("OAI-CTX-008")
def truncation_disabled_rejects(ex: Exchange, *, schemas: SchemaSet) -> None:
    """``truncation: "disabled"`` with an over-window input: 4xx with an OpenAI error envelope, or
    a Response with status failed whose error names the context limit."""
    if ex.status is not None and 200 <= ex.status < 300 and not _is_stream(ex):
        body = ex.json_or_none()
        if isinstance(body, dict) and body.get("status") == "failed":
            error = body.get("error")
            family, _ = stated_limits({"error": error})
            if family is None:
                raise fail("failed response whose error does not name the context limit",
                           expected="an error naming the context limit", actual=json.dumps(error)[:200])
            return
        raise fail("truncation disabled: an over-window input was accepted", expected="4xx or status failed",
                   actual=f"{ex.status} status {body.get('status') if isinstance(body, dict) else None}")
    _judge_rejection(ex, schemas=schemas, schema_id="openai/error", envelope='{"error": {...}}',
                     what='an over-window input with truncation "disabled"')


@check("OAI-CTX-008")
def truncation_auto_fits(ex: Exchange, *, window: int) -> None:
    """``truncation: "auto"`` with an over-window input: 200, a Response that is not failed, and
    ``usage.input_tokens`` within the window (the input was cut to fit)."""
    if ex.status is None or not 200 <= ex.status < 300:
        raise fail('truncation "auto": an over-window input was not served', expected="200",
                   actual=f"{ex.status} {ex.error or _excerpt(ex, 200)}")
    body = ex.json_or_none()
    if not isinstance(body, dict):
        raise fail("response body is not a JSON object", expected="a Response", actual=_excerpt(ex, 120))
    if body.get("status") == "failed":
        raise fail('truncation "auto": the response failed', expected="completed or incomplete",
                   actual=json.dumps(body.get("error"))[:200])
    billed = _billed(body.get("usage"), "input_tokens")
    if billed > window:
        raise fail(f'truncation "auto": {billed} input tokens billed, over the window of {window}',
                   expected=f"<= {window}", actual=billed)
