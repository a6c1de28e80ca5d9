"""Fault hooks for multimodal requests (issue 10): the failures of media handling that say nothing
on their own: media not billed, an image silently dropped, a corrupt upload answered with 500, a
stream billing a media request differently from the blocking call.

Every hook is pure (no I/O, no clock) and touches only exchanges whose *request* carries media
parts (:func:`media_parts`): a text-only request passes untouched, so the text-only twins the
suite compares against are the upstream's own numbers.

Media parts, by API: chat ``messages[].content[]`` (``image_url``, ``input_audio``, NIM
``audio_url`` / ``video_url``, llama.cpp ``input_video``), Responses ``input[].content[]``
(``input_image``, ``input_audio``, ``input_file``), Messages ``messages[].content[]`` and a
list-form ``system`` (``image``, ``document`` blocks).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from conformance.faults.hooks.common import is_int
from conformance.faults.model import Event, FaultContext, Request, Response

#: Part types that carry media, on any of the three APIs.
MEDIA_PART_TYPES = frozenset({
    "image_url", "input_audio", "audio_url", "video_url", "input_video",  # chat (OpenAI, NIM, llama.cpp)
    "input_image", "input_file",  # Responses
    "image", "document",  # Anthropic Messages
})
#: Part types that carry an image.
IMAGE_PART_TYPES = frozenset({"image_url", "input_image", "image"})
# The request fields whose items (messages, input items, system blocks) hold content parts.
_CONTAINERS = ("messages", "input", "system")

#: How much ``stream-media-usage-mismatch`` adds to the prompt tokens of a streamed media
#: request: a quarter of them, at least this many (far beyond any rounding a check could allow).
STREAM_USAGE_EXTRA_MIN = 8


# --- finding media parts --------------------------------------------------------------------------


def _part_lists(body: Any) -> Iterator[list[Any]]:
    """Every list of content parts of a request body (a message's ``content``, a Responses input
    item's ``content``, a list-form Messages ``system``)."""
    if not isinstance(body, dict):
        return
    for name in _CONTAINERS:
        items = body.get(name)
        if not isinstance(items, list):
            continue
        if name == "system":
            yield items  # Messages system blocks are parts themselves
        for item in items:
            content = item.get("content") if isinstance(item, dict) else None
            if isinstance(content, list):
                yield content


def media_parts(body: Any, types: frozenset[str] = MEDIA_PART_TYPES) -> list[dict[str, Any]]:
    """The content parts of ``body`` whose type is one of ``types``."""
    return [p for parts in _part_lists(body) for p in parts if isinstance(p, dict) and p.get("type") in types]


def has_media(body: Any) -> bool:
    return bool(media_parts(body))


def strip_parts(body: Any, types: frozenset[str]) -> tuple[Any, int]:
    """A copy of ``body`` without its content parts of ``types``, and how many were removed. The
    messages themselves stay (a message left with no part keeps an empty content list)."""
    new = copy.deepcopy(body)
    removed = 0
    for parts in _part_lists(new):
        kept = [p for p in parts if not (isinstance(p, dict) and p.get("type") in types)]
        removed += len(parts) - len(kept)
        parts[:] = kept
    return new, removed


def text_words(body: Any) -> int:
    """The whitespace-separated words of a request's text (every string in its text parts, string
    contents, ``system`` and ``instructions``): a lower bound of the prompt tokens the same request
    without its media bills on any tokenizer that splits words apart (chat templates only add)."""
    count = 0

    def walk(value: Any) -> None:
        nonlocal count
        if isinstance(value, str):
            count += len(value.split())
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            if value.get("type") in MEDIA_PART_TYPES:
                return
            for key in ("content", "text", "input_text"):
                if key in value:
                    walk(value[key])

    if isinstance(body, dict):
        for name in (*_CONTAINERS, "instructions", "prompt"):
            walk(body.get(name))
    return count


# --- usage objects --------------------------------------------------------------------------------

_PROMPT_KEYS = ("prompt_tokens", "input_tokens")  # chat / completions; Responses and Messages
_CACHE_KEYS = ("cache_read_input_tokens", "cache_creation_input_tokens")  # Messages: part of the input


def _usages(obj: Any) -> list[dict[str, Any]]:
    """The usage objects of a response body or stream event: ``usage`` (chat bodies and chunks,
    Responses and Messages bodies, Messages ``message_delta``), ``response.usage`` (Responses
    events), ``message.usage`` (Messages ``message_start``)."""
    if not isinstance(obj, dict):
        return []
    found = []
    for holder in (obj, obj.get("response"), obj.get("message")):
        usage = holder.get("usage") if isinstance(holder, dict) else None
        if isinstance(usage, dict) and any(is_int(usage.get(k)) for k in _PROMPT_KEYS):
            found.append(usage)
    return found


def _set_prompt(usage: dict[str, Any], value: int) -> None:
    """Set the prompt tokens of ``usage`` to ``value`` (the Messages cache counters, which add to
    ``input_tokens``, become 0); cached-token details are capped by it, per-modality details
    become 0, and ``total_tokens`` stays the sum."""
    key = next(k for k in _PROMPT_KEYS if is_int(usage.get(k)))
    old = usage[key]
    usage[key] = value
    for cache in _CACHE_KEYS:
        if is_int(usage.get(cache)):
            usage[cache] = 0
    for details_key in ("prompt_tokens_details", "input_tokens_details"):
        details = usage.get(details_key)
        if isinstance(details, dict):
            if is_int(details.get("cached_tokens")):
                details["cached_tokens"] = min(details["cached_tokens"], value)
            for medium in ("image_tokens", "audio_tokens", "video_tokens"):
                if is_int(details.get(medium)):
                    details[medium] = 0
    if is_int(usage.get("total_tokens")):
        usage["total_tokens"] += value - old


def _billed(usage: dict[str, Any]) -> int:
    key = next(k for k in _PROMPT_KEYS if is_int(usage.get(k)))
    return usage[key] + sum(usage[c] for c in _CACHE_KEYS if is_int(usage.get(c)))


def _bill_text_only(obj: Any, words: int) -> Any:
    for usage in _usages(obj):
        if _billed(usage) > words:
            _set_prompt(usage, words)
    return obj


def _bill_more(obj: Any) -> Any:
    for usage in _usages(obj):
        key = next(k for k in _PROMPT_KEYS if is_int(usage.get(k)))
        extra = max(STREAM_USAGE_EXTRA_MIN, _billed(usage) // 4)
        usage[key] += extra
        if is_int(usage.get("total_tokens")):
            usage["total_tokens"] += extra
    return obj


# --- media-tokens-missing -------------------------------------------------------------------------


def media_tokens_missing_body(ctx: FaultContext, response: Response) -> Response:
    """A 200 answer to a request with media bills only the text: its prompt tokens (Messages: input
    plus cache counters) become :func:`text_words` of the request, never more than it billed."""
    body = ctx.request_json
    if response.status != 200 or not has_media(body):
        return response
    answer = response.json
    if not _usages(answer):
        return response
    return response.with_json(_bill_text_only(copy.deepcopy(answer), text_words(body)))


def media_tokens_missing_stream(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    """The same, on every usage a stream reports (chat usage chunks, Responses terminal events,
    Messages ``message_start`` / ``message_delta``)."""
    body = ctx.request_json
    if not has_media(body):
        yield from events
        return
    words = text_words(body)
    for event in events:
        obj = event.obj
        if obj is None or not _usages(obj):
            yield event
            continue
        yield event.with_json(_bill_text_only(obj, words))


# --- stream-media-usage-mismatch ------------------------------------------------------------------


def stream_media_usage_mismatch(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    """A streamed request with media reports more prompt tokens than the upstream billed (a quarter
    more, at least :data:`STREAM_USAGE_EXTRA_MIN`; ``total_tokens`` follows): the blocking call
    is left alone, so the two bill differently."""
    if not has_media(ctx.request_json):
        yield from events
        return
    for event in events:
        obj = event.obj
        if obj is None or not _usages(obj):
            yield event
            continue
        yield event.with_json(_bill_more(obj))


# --- drop-image -----------------------------------------------------------------------------------


def drop_images(ctx: FaultContext, request: Request) -> Request:
    """Image parts are removed from the request before it goes upstream: the server answers the
    text alone, 200."""
    body = request.json
    if request.method != "POST" or not media_parts(body, IMAGE_PART_TYPES):
        return request
    stripped, _ = strip_parts(body, IMAGE_PART_TYPES)
    return request.with_json(stripped)


# --- corrupt-media-500 ----------------------------------------------------------------------------


def _message_of(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    if isinstance(error, str):
        return error
    return "internal error"


def corrupt_media_500(ctx: FaultContext, response: Response) -> Response:
    """A 4xx answer to a request with media (the upstream rejected the media) becomes a 500 with a
    server-error envelope of the route's API (OpenAI ``server_error``, Anthropic ``api_error``)
    carrying the upstream's message."""
    if not 400 <= response.status < 500 or not has_media(ctx.request_json):
        return response
    message = _message_of(response.json)
    if ctx.path.startswith("/v1/messages"):
        envelope: dict[str, Any] = {"type": "error", "error": {"type": "api_error", "message": message}}
    else:
        envelope = {"error": {"message": message, "type": "server_error", "param": None, "code": None}}
    return Response.json_answer(500, envelope, reason="Internal Server Error")
