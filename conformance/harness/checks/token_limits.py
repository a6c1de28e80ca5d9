"""Output-token limits (issue 9 §3): an invalid ``max_tokens`` / ``max_completion_tokens`` /
``max_output_tokens`` is rejected with 4xx and the API's error envelope, or, where the profile
declares a clamp for the case (``settings.token_limit_clamps``), the generation stays within it.

The requests are streamed and the client stops reading after a budget
(:meth:`conformance.harness.context.ContextWindow.stop_after_tokens`), so a value the server reads
as "no limit" costs a few dozen tokens, not a whole window. A 200 is judged by how it ended:
``Exchange.stopped`` set (the client had to stop it) is "read as unbounded"; a stream that ended
on its own is "accepted instead of rejected". Nothing is called unbounded unless the client had to
stop it.

Also here: :func:`resolve_clamp` reads the profile setting (pure; a bad value is a usage error).
"""

from __future__ import annotations

import json
from typing import Any

from conformance.harness.checks import check, fail
from conformance.harness.exchange import Exchange
from conformance.harness.failures import UsageError
from conformance.harness.schemas import SchemaSet

__all__ = ["LIMIT_PARAMS", "VALUE_IDS", "generated_tokens", "invalid_max_tokens_rejected",
           "invalid_token_limit_rejected", "resolve_clamp"]

#: The limit parameter a request to each path carries (first one present wins).
LIMIT_PARAMS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
#: The value cases (test parameter ids end with one of these); keys of ``token_limit_clamps``.
VALUE_IDS = ("zero", "minus-one", "minus-two", "fractional", "above-window", "int-max")
#: A clamp to the window: the generation ends by the end of the window (completion ≤ window − prompt).
WINDOW = "window"


def _excerpt(ex: Exchange, limit: int = 300) -> str:
    text = ex.redacted_body().decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + "…"


def _limit(ex: Exchange) -> str:
    body = ex.request_json
    if isinstance(body, dict):
        for name in LIMIT_PARAMS:
            if name in body:
                return f"{name} {json.dumps(body[name])}"
    return "the token limit"


def _api(ex: Exchange) -> str:
    path = ex.path.split("?", 1)[0].rstrip("/")
    for suffix, api in (("/chat/completions", "chat"), ("/completions", "completions"), ("/responses", "responses"),
                        ("/messages", "messages")):
        if path.endswith(suffix):
            return api
    return "chat"


def _usage_output(api: str, usage: Any) -> int | None:
    if not isinstance(usage, dict):
        return None
    value = usage.get("output_tokens" if api in ("responses", "messages") else "completion_tokens")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _content_event(api: str, data: dict[str, Any], event_type: str) -> bool:
    """Whether one parsed stream event carries generated content (text, reasoning or a tool call)."""
    if api == "messages":
        return data.get("type") == "content_block_delta" or event_type == "content_block_delta"
    if api == "responses":
        kind = str(data.get("type") or event_type)
        return kind.startswith("response.") and kind.endswith(".delta")
    for choice in data.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        if api == "completions":
            if choice.get("text"):
                return True
            continue
        delta = choice.get("delta")
        if isinstance(delta, dict) and any(delta.get(k) for k in ("content", "reasoning_content", "reasoning",
                                                                   "tool_calls", "function_call", "refusal")):
            return True
    return False


def generated_tokens(ex: Exchange) -> tuple[int | None, int]:
    """(output tokens the response itself reports, or None; content-bearing stream events).

    The reported count is the last usage seen: ``usage.completion_tokens`` of a chunk (chat,
    completions), ``response.usage.output_tokens`` (Responses), ``usage.output_tokens`` of
    message_delta (Messages; message_start's is the count before generation). A non-streamed JSON
    answer counts as one event when it has content."""
    api = _api(ex)
    reported: int | None = None
    events = 0
    if ex.sse is not None and ex.sse.events:
        for event in ex.sse.events:
            try:
                data = json.loads(event.data)
            except ValueError:
                continue
            if not isinstance(data, dict):
                continue
            if _content_event(api, data, event.type):
                events += 1
            # message_start's usage is the count so far (0), not a report of the generation
            holder = data.get("response") if api == "responses" else data
            if isinstance(holder, dict) and (n := _usage_output(api, holder.get("usage"))) is not None:
                reported = n
        return reported, events
    body = ex.json_or_none()
    if isinstance(body, dict):
        reported = _usage_output(api, body.get("usage"))
        events = 1 if body.get("choices") or body.get("content") or body.get("output") else 0
    return reported, events


def _judge(ex: Exchange, *, schemas: SchemaSet, envelope: str, shape: str, clamp: int | None) -> None:
    what = _limit(ex)
    status = ex.status
    if status is not None and 400 <= status < 500:
        try:
            body = ex.json()
        except ValueError:
            raise fail(f"{what} rejected with {status} but the body is not JSON", expected=shape,
                       actual=_excerpt(ex)) from None
        schemas.validate(body, envelope, what="error body")
        return
    if status is None or status >= 500 or not 200 <= status < 300:
        kind = "a server error (never a rejection)" if status is not None and status >= 500 else "no 4xx"
        raise fail(f"{what} answered with {kind}", expected="4xx with the error envelope",
                   actual=f"{status} {_excerpt(ex)}")
    reported, events = generated_tokens(ex)
    counted = f"{reported} output tokens reported" if reported is not None else "no usage reported"
    counted += f", {events} content events"
    if clamp is not None:
        if ex.stopped:
            raise fail(f"{what} accepted under the declared clamp of {clamp} tokens, but still generating when "
                       "the client stopped it", expected=f"the generation ends within {clamp} tokens",
                       actual=f"{status}; {counted}; {ex.stopped}")
        generated = reported if reported is not None else events
        if generated > clamp:
            raise fail(f"{what} accepted, but the generation exceeded the declared clamp of {clamp} tokens",
                       expected=f"≤ {clamp} generated tokens", actual=f"{status}; {counted}")
        return
    if ex.stopped:
        raise fail(f"{what} accepted ({status}) and still generating when the client stopped it: read as "
                   "unbounded", expected="4xx (or a clamp the profile declares)",
                   actual=f"{counted}; {ex.stopped}")
    ended = (f"the stream ended by itself after {len(ex.sse.events)} events" if ex.sse is not None and ex.sse.events
             else _excerpt(ex, 160))
    raise fail(f"{what} accepted ({status}) instead of rejected with 4xx",
               expected="4xx (or a clamp the profile declares)", actual=f"{counted}; {ended}")


@check("OAI-CTX-009")
def invalid_token_limit_rejected(ex: Exchange, *, schemas: SchemaSet, clamp: int | None = None) -> None:
    """An invalid output-token limit (chat, completions, Responses) is rejected with 4xx and an
    OpenAI error envelope; with a declared ``clamp`` (tokens) a 200 is allowed if the generation
    ends on its own within it. A 200 the client had to stop is "read as unbounded"; a 5xx fails."""
    _judge(ex, schemas=schemas, envelope="openai/error", shape='{"error": {...}}', clamp=clamp)


@check("ANT-CTX-004")
def invalid_max_tokens_rejected(ex: Exchange, *, schemas: SchemaSet, clamp: int | None = None) -> None:
    """An invalid Messages ``max_tokens`` is rejected with 4xx and an Anthropic error body
    ``{"type": "error", "error": {"type", "message"}}``; a declared ``clamp`` as for OAI-CTX-009."""
    _judge(ex, schemas=schemas, envelope="anthropic/error", shape='{"type": "error", "error": {...}}', clamp=clamp)


def resolve_clamp(setting: Any, case_id: str, value_id: str, *, where: str = "settings.token_limit_clamps"
                  ) -> int | str | None:
    """The clamp the profile declares for one case: ``"window"``, a number of tokens, or None.

    ``setting`` is a table whose keys are value ids (``zero``, ``minus-one``, ``minus-two``,
    ``fractional``, ``above-window``, ``int-max``: every API) or full case ids
    (``chat-max-tokens-int-max``: one API and parameter; wins over the value id), and whose values
    are ``"window"`` or a positive integer. Anything else is a usage error."""
    if setting is None:
        return None
    if not isinstance(setting, dict):
        raise UsageError(f"{where} must be a table of case → \"window\" | tokens")
    for key, value in setting.items():
        if not isinstance(key, str) or not (key in VALUE_IDS or any(key.endswith("-" + v) for v in VALUE_IDS)):
            raise UsageError(f"{where}: unknown case {key!r} (one of {', '.join(VALUE_IDS)}, or a full case id "
                             "such as chat-max-tokens-int-max)")
        if value != WINDOW and not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            raise UsageError(f"{where}.{key} must be \"window\" or a positive number of tokens, got {value!r}")
    if case_id in setting:
        return setting[case_id]
    return setting.get(value_id)
