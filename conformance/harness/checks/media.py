"""Checks that valid media is accepted and counted (issue 10 §3; requirements OAI-MM-001..005,
OAI-MM-012, NIM-MM-001/002, ANT-MM-001/003).

Pure functions over what the tests captured: the exchange (or the stream parsed from it) of a
media request, and ``usage`` objects. Judged on the wire only — the status, the schema of the
answer and the prompt tokens billed — never on what the model says about the media.

The counting checks take a *billed* subject: a ``usage`` object, or the :class:`Exchange` of a
request that did not answer 2xx (the test hands over the failed exchange, so the violation is
recorded against the requirement of the test that needed the count). What "billed prompt tokens"
means per API (:func:`billed_prompt`):

* chat / completions: ``usage.prompt_tokens``;
* Responses: ``usage.input_tokens``;
* Messages: ``input_tokens + cache_read_input_tokens + cache_creation_input_tokens`` (a prefix
  cache splits the prompt between the three; llama-server reports an image request as
  ``input_tokens`` 55 + ``cache_read_input_tokens`` 15).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from conformance.harness.checks import check, fail
from conformance.harness.exchange import Exchange
from conformance.harness.schemas import SchemaSet

APIS = ("chat", "completions", "responses", "messages")
#: The usage field holding the prompt tokens, per API (Messages adds the cache fields).
PROMPT_FIELD = {"chat": "prompt_tokens", "completions": "prompt_tokens", "responses": "input_tokens",
                "messages": "input_tokens"}
MESSAGES_CACHE_FIELDS = ("cache_read_input_tokens", "cache_creation_input_tokens")
#: prompt_tokens_details field per modality (OpenAI's CompletionUsage names these two only).
DETAIL_FIELDS = {"image": "image_tokens", "audio": "audio_tokens"}
_SCHEMA = {"chat": ("openai/chat.completion", "openai/chat.completion.chunk"),
           "responses": ("openai/response", "openai/response"),
           "messages": ("anthropic/message", "anthropic/message")}


# --- helpers (plain functions, not registered) ------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _excerpt(ex: Exchange, limit: int = 300) -> str:
    text = ex.redacted_body().decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + "…"


def _exchange_of(subject: Any) -> Exchange | None:
    if isinstance(subject, Exchange):
        return subject
    ex = getattr(subject, "exchange", None)
    return ex if isinstance(ex, Exchange) else None


def _require_answered(ex: Exchange, what: str) -> None:
    if ex.status is None or not 200 <= ex.status < 300:
        raise fail(f"{what} was not answered", expected="200",
                   actual=f"{ex.status} {ex.error or _excerpt(ex, 200)}")


def billed_prompt(subject: Any, api: str, what: str = "the request") -> int:
    """The prompt tokens a request billed (see the module docstring). ``subject`` is a usage object,
    a whole response / message carrying ``usage``, or the Exchange of a request that failed (then
    the failure is the verdict: nothing was billed that could be judged)."""
    if api not in PROMPT_FIELD:
        raise ValueError(f"unknown api {api!r}")
    if isinstance(subject, Exchange):
        _require_answered(subject, what)
        try:
            subject = subject.json()
        except ValueError:
            raise fail(f"{what}: the answer is not JSON, so its usage cannot be read", expected="JSON with usage",
                       actual=_excerpt(subject)) from None
    usage = subject
    if isinstance(usage, dict) and PROMPT_FIELD[api] not in usage and isinstance(usage.get("usage"), dict):
        usage = usage["usage"]
    field = PROMPT_FIELD[api]
    if not isinstance(usage, dict):
        raise fail(f"{what}: no usage reported, so the prompt tokens billed are unknown", expected=f"usage.{field}",
                   actual=usage)
    value = usage.get(field)
    if not _is_int(value):
        raise fail(f"{what}: usage.{field} is not an integer", expected="integer", actual=value)
    total = value
    if api == "messages":
        for key in MESSAGES_CACHE_FIELDS:
            extra = usage.get(key)
            if extra is None:
                continue
            if not _is_int(extra):
                raise fail(f"{what}: usage.{key} is not an integer", expected="integer or absent", actual=extra)
            total += extra
    return total


def _formula(api: str) -> str:
    if api == "messages":
        return "input_tokens + cache_read_input_tokens + cache_creation_input_tokens"
    return f"usage.{PROMPT_FIELD[api]}"


def _judge_answer(subject: Any, *, api: str, schemas: SchemaSet, what: str) -> None:
    """2xx, and the answer (JSON body, or the stream it adds up to) validates against the API's schema."""
    if api not in _SCHEMA:
        raise ValueError(f"unknown api {api!r}")
    ex = _exchange_of(subject)
    if ex is None:
        raise TypeError(f"expected an Exchange or a parsed stream, got {type(subject).__name__}")
    _require_answered(ex, what)
    blocking_schema, chunk_schema = _SCHEMA[api]
    if ex.sse is None and subject is ex:
        try:
            body = ex.json()
        except ValueError:
            raise fail(f"{what}: the 200 is not JSON", expected="a JSON body", actual=_excerpt(ex)) from None
        schemas.validate(body, blocking_schema, what=f"{what}: response")
        return
    stream = subject if subject is not ex else _parse_stream(ex, api)
    if api == "chat":
        chunks = [c.data for c in stream.chunks]
        if not chunks:
            raise fail(f"{what}: the 200 stream carried no chunk", expected="chat.completion.chunk events",
                       actual=_excerpt(ex))
        schemas.validate_all(chunks, chunk_schema, what=f"{what}: chunk")
        return
    final = stream.final_response() if api == "responses" else stream.final_message()
    if final is None:
        start = "a terminal response event" if api == "responses" else "a message_start event"
        raise fail(f"{what}: the 200 stream never delivered the response", expected=start, actual=_excerpt(ex))
    schemas.validate(final, chunk_schema, what=f"{what}: final {'response' if api == 'responses' else 'message'}")


def _parse_stream(ex: Exchange, api: str) -> Any:
    if api == "chat":
        from conformance.harness.streams.openai import ChunkStream  # noqa: PLC0415

        return ChunkStream.from_exchange(ex)
    if api == "responses":
        from conformance.harness.streams.responses import ResponsesStream  # noqa: PLC0415

        return ResponsesStream.from_exchange(ex)
    from conformance.harness.streams.anthropic import MessagesStream  # noqa: PLC0415

    return MessagesStream.from_exchange(ex)


def _judge_more(more: Any, fewer: Any, *, api: str, more_what: str, fewer_what: str, allow_equal: bool,
                why: str) -> tuple[int, int]:
    high = billed_prompt(more, api, more_what)
    low = billed_prompt(fewer, api, fewer_what)
    if high < low or (high == low and not allow_equal):
        relation = "no fewer" if allow_equal else "more"
        raise fail(f"{more_what} billed {high} prompt tokens, {fewer_what} {low} ({_formula(api)}): {why}",
                   expected=f"{relation} than {low}", actual=high)
    return high, low


# --- OAI-MM-001: a valid media request is answered 200, schema-valid --------------------------


@check("OAI-MM-001")
def media_request_answered(subject: Any, *, api: str, schemas: SchemaSet) -> None:
    """A valid media request (``api``: chat or responses) is answered 2xx with a body, or a stream,
    that validates against the API's schema (the chunks of a chat stream; the final response of a
    Responses stream). ``subject``: the Exchange, or the stream parsed from it."""
    _judge_answer(subject, api=api, schemas=schemas, what="a valid media request")


# --- OAI-MM-002: media is counted in the prompt tokens ---------------------------------------


@check("OAI-MM-002")
def media_counted(media: Any, text: Any, *, api: str) -> None:
    """The media request bills more prompt tokens than its text-only twin (same request, no media):
    a 200 that bills only the text has silently dropped the media."""
    _judge_more(media, text, api=api, more_what="the media request", fewer_what="its text-only twin",
                allow_equal=False, why="the media was not counted (silently dropped?)")


# --- OAI-MM-003: every media item is counted --------------------------------------------------


@check("OAI-MM-003")
def every_item_counted(more: Any, fewer: Any, *, api: str = "chat", more_what: str = "more media",
                       fewer_what: str = "fewer media", allow_equal: bool = False) -> None:
    """A request with more media items bills more prompt tokens than one with fewer of them (with
    ``allow_equal``: a larger item bills no fewer than a smaller one)."""
    why = ("a larger item billed fewer tokens than a smaller one" if allow_equal
           else "an item of the request was not counted (dropped?)")
    _judge_more(more, fewer, api=api, more_what=more_what, fewer_what=fewer_what, allow_equal=allow_equal, why=why)


# --- OAI-MM-004: streamed == blocking -------------------------------------------------------------


@check("OAI-MM-004")
def stream_bills_like_blocking(streamed: Any, blocking: Any, *, api: str) -> None:
    """The streamed media request (usage requested) bills the same prompt tokens as the blocking one.
    ``streamed``: the usage of the stream (None: it reported none, a violation here)."""
    if streamed is None:
        raise fail("the streamed media request reported no usage (usage was requested)",
                   expected=f"usage with {PROMPT_FIELD[api]}", actual=None)
    s = billed_prompt(streamed, api, "the streamed media request")
    b = billed_prompt(blocking, api, "the blocking media request")
    if s != b:
        raise fail(f"the streamed media request billed {s} prompt tokens, the blocking one {b} ({_formula(api)})",
                   expected=b, actual=s)


# --- OAI-MM-005: prompt_tokens_details per modality -----------------------------------------------


def reported_details(usage: Any) -> dict[str, Any]:
    """The per-modality fields (image_tokens, audio_tokens) present in ``usage.prompt_tokens_details``."""
    details = usage.get("prompt_tokens_details") if isinstance(usage, dict) else None
    if not isinstance(details, dict):
        return {}
    return {f: details[f] for f in DETAIL_FIELDS.values() if f in details and details[f] is not None}


@check("OAI-MM-005")
def prompt_token_details_consistent(usage: Any, *, sent: Iterable[str]) -> None:
    """Each reported ``prompt_tokens_details.{image,audio}_tokens`` is a non-negative integer no
    larger than ``prompt_tokens``, greater than zero when that modality was ``sent`` and zero when
    it was not. Fields not reported are not judged (they are optional)."""
    sent = set(sent)
    unknown = sent - set(DETAIL_FIELDS) - {"video"}
    if unknown:
        raise ValueError(f"unknown modalities {sorted(unknown)}")
    if not isinstance(usage, dict) or not _is_int(usage.get("prompt_tokens")):
        raise fail("no usage.prompt_tokens to judge the details against", expected="usage.prompt_tokens",
                   actual=usage)
    total = usage["prompt_tokens"]
    problems = []
    reported = reported_details(usage)
    for modality, field in DETAIL_FIELDS.items():
        if field not in reported:
            continue
        value = reported[field]
        where = f"prompt_tokens_details.{field}"
        if not _is_int(value) or value < 0:
            problems.append(f"{where} is {value!r}, not a non-negative integer")
        elif value > total:
            problems.append(f"{where} {value} exceeds prompt_tokens {total}")
        elif modality in sent and value == 0:
            problems.append(f"{where} is 0 although {modality} was sent")
        elif modality not in sent and value != 0:
            problems.append(f"{where} is {value} although no {modality} was sent")
    if problems:
        raise fail("; ".join(problems), expected="consistent per-modality prompt token details",
                   actual=usage.get("prompt_tokens_details"))


# --- OAI-MM-012: media in the history is counted --------------------------------------------------


@check("OAI-MM-012")
def history_media_counted(with_image: Any, without_image: Any, *, api: str = "chat") -> None:
    """A conversation with an image in an earlier user turn bills more prompt tokens than the same
    conversation without it (the image in the history was not dropped)."""
    _judge_more(with_image, without_image, api=api, more_what="the conversation with an image in turn 1",
                fewer_what="the same conversation without it", allow_equal=False,
                why="the image in the history was not counted (dropped from the history?)")


# --- NIM-MM-001: media_io_kwargs frame controls -----------------------------------------------------


@check("NIM-MM-001")
def more_frames_billed_more(more_frames: Any, fewer_frames: Any, *, more: int = 4, fewer: int = 2) -> None:
    """A video sampled with ``num_frames`` ``more`` (fps -1) bills more prompt tokens than with
    ``fewer``: media_io_kwargs.video.num_frames is honoured."""
    _judge_more(more_frames, fewer_frames, api="chat", more_what=f"the video at num_frames {more}",
                fewer_what=f"the video at num_frames {fewer}", allow_equal=False,
                why="media_io_kwargs.video.num_frames was not honoured")


@check("NIM-MM-001")
def larger_frame_count_wins(both: Any, larger_alone: Any, smaller_alone: Any, *, fps: float = 4,
                            num_frames: int = 2) -> None:
    """With ``fps`` and ``num_frames`` both positive the larger frame count wins: the request bills
    the same as the larger setting alone (``{"fps": fps, "num_frames": -1}``), which bills more than
    the smaller alone (``{"fps": -1, "num_frames": num_frames}``; otherwise the case proves nothing
    and fps was not honoured)."""
    larger = billed_prompt(larger_alone, "chat", f"the video at fps {fps:g} (num_frames -1)")
    smaller = billed_prompt(smaller_alone, "chat", f"the video at num_frames {num_frames} (fps -1)")
    combined = billed_prompt(both, "chat", f"the video at fps {fps:g} and num_frames {num_frames}")
    if larger <= smaller:
        raise fail(f"fps {fps:g} billed {larger} prompt tokens, num_frames {num_frames} {smaller}: "
                   f"media_io_kwargs.video.fps was not honoured (fps {fps:g} samples more frames)",
                   expected=f"more than {smaller}", actual=larger)
    if combined != larger:
        side = "num_frames" if combined == smaller else "neither setting"
        raise fail(f"fps {fps:g} with num_frames {num_frames} billed {combined} prompt tokens, fps alone {larger}, "
                   f"num_frames alone {smaller}: {side} won, not the larger frame count",
                   expected=larger, actual=combined)


# --- NIM-MM-002: use_audio_in_video ------------------------------------------------------------------


@check("NIM-MM-002")
def audio_in_video_counted(with_audio: Any, without: Any) -> None:
    """A video with an audio track sent with ``mm_processor_kwargs.use_audio_in_video: true`` is
    answered 200 and bills more prompt tokens than without it (the track was fed to the model)."""
    _judge_more(with_audio, without, api="chat", more_what="the video with use_audio_in_video true",
                fewer_what="the same request without it", allow_equal=False,
                why="the video's audio track was not counted")


# --- ANT-MM-001: a Messages image block is accepted and counted -------------------------------------


@check("ANT-MM-001")
def messages_image_answered(subject: Any, *, schemas: SchemaSet) -> None:
    """A Messages request with a base64 image block is answered 2xx with a schema-valid message
    (streamed: the message the events add up to)."""
    _judge_answer(subject, api="messages", schemas=schemas, what="a Messages request with an image block")


@check("ANT-MM-001")
def messages_image_counted(image: Any, text: Any) -> None:
    """The Messages request with the image bills more input tokens (``input_tokens +
    cache_read_input_tokens + cache_creation_input_tokens``) than its text-only twin."""
    _judge_more(image, text, api="messages", more_what="the Messages request with the image",
                fewer_what="its text-only twin", allow_equal=False, why="the image was not counted")


# --- ANT-MM-003: count_tokens counts the image as Messages bills it ---------------------------------


@check("ANT-MM-003")
def count_tokens_counts_image(count_with: Any, count_without: Any, billed: Any) -> None:
    """count_tokens with the image block exceeds the count without it and equals the input tokens
    the Messages call billed for the same request (``billed``: its usage or the message)."""
    counts = []
    for label, body in (("with the image", count_with), ("without the image", count_without)):
        if isinstance(body, Exchange):
            _require_answered(body, f"count_tokens {label}")
            body = body.json_or_none()
        value = body.get("input_tokens") if isinstance(body, dict) else None
        if not _is_int(value):
            raise fail(f"count_tokens {label}: input_tokens missing", expected="an integer", actual=body)
        counts.append(value)
    with_image, without = counts
    if with_image <= without:
        raise fail(f"count_tokens with the image is {with_image}, without it {without}: the image was not counted",
                   expected=f"more than {without}", actual=with_image)
    total = billed_prompt(billed, "messages", "the Messages request with the image")
    if with_image != total:
        raise fail(f"count_tokens with the image is {with_image}, the Messages call billed {total} "
                   f"({_formula('messages')})", expected=total, actual=with_image)
