"""Checks for media the endpoint must refuse (issue 10; OAI-MM-006..011, ANT-MM-002, ANT-MM-004).

Pure functions over recorded exchanges: undecodable media, unknown part types, unreachable media
URLs and parts of a modality the endpoint does not take are rejected with a 4xx status and the
API's error envelope (never a 5xx, a hang or a 200 that answers the text alone); damaged or
mislabelled media is rejected or decoded and counted; the endpoint still serves afterwards.

A streamed request may also be refused in-band: a 200 event stream whose first event is an error
(an OpenAI ``{"error": {...}}`` frame, a Messages ``error`` event) before any content counts as a
rejection, as for the context-window checks (``checks/context.py``).

Every failure message starts with ``<what> <how>`` where ``how`` is one of a few fixed phrases
("answered with a server error", "got no answer", "was accepted", ...): the profile's deviations
name those phrases in their ``shapes``.
"""

from __future__ import annotations

from conformance.harness.checks import check, fail
from conformance.harness.checks.context import _exchange_of, _excerpt, _is_stream, stream_error
from conformance.harness.exchange import Exchange
from conformance.harness.schemas import SchemaSet

OPENAI_ENVELOPE = '{"error": {...}}'
ANTHROPIC_ENVELOPE = '{"type": "error", "error": {...}}'


def _judge_rejection(ex: Exchange, *, schemas: SchemaSet, schema_id: str, envelope: str, what: str,
                     accepted: str, timeout_s: float | None = None) -> None:
    """4xx with the envelope (or a 200 stream whose first word is an in-band error); never a 5xx,
    no answer, an answer after ``timeout_s``, or a 200 (``accepted`` says what a 200 means)."""
    if ex.status is None:
        within = f" within {timeout_s:g} s" if timeout_s is not None else ""
        raise fail(f"{what} got no answer{within}", expected=f"4xx {envelope}{within}",
                   actual=ex.error or "no response")
    if ex.status >= 500:
        raise fail(f"{what} answered with a server error", expected=f"4xx {envelope}",
                   actual=f"{ex.status} {_excerpt(ex)}")
    if timeout_s is not None and ex.ttfb_s is not None and ex.ttfb_s > timeout_s:
        raise fail(f"{what} was answered only after {ex.ttfb_s:.1f} s", expected=f"an answer within {timeout_s:g} s",
                   actual=f"{ex.status} after {ex.ttfb_s:.1f} s")
    if 200 <= ex.status < 300:
        if _is_stream(ex):
            found = stream_error(ex)
            if found is not None and found[1] == 0:
                payload = found[0]
                if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
                    schemas.validate(payload, schema_id, what="in-stream error")
                    return
            raise fail(f"{what} was accepted: a 200 stream ({accepted})", expected=f"4xx {envelope}",
                       actual=f"{ex.status} {_excerpt(ex, 200)}")
        raise fail(f"{what} was accepted ({accepted})", expected=f"4xx {envelope}",
                   actual=f"{ex.status} {_excerpt(ex, 200)}")
    if not 400 <= ex.status < 500:
        raise fail(f"{what} was not rejected with a client error", expected=f"4xx {envelope}",
                   actual=f"{ex.status} {_excerpt(ex)}")
    try:
        body = ex.json()
    except ValueError:
        raise fail(f"{what}: the error body is not JSON", expected=envelope, actual=_excerpt(ex)) from None
    schemas.validate(body, schema_id, what="error body")


def _named(kind: str, case: str) -> str:
    return f"{kind} ({case})" if case else kind


def _billed(ex: Exchange, field: str) -> int:
    body = ex.json_or_none()
    usage = body.get("usage") if isinstance(body, dict) else None
    value = usage.get(field) if isinstance(usage, dict) else None
    if not isinstance(value, int) or isinstance(value, bool):
        raise fail(f"no usage.{field} to show whether the media was counted", expected=f"integer usage.{field}",
                   actual=usage if usage is not None else _excerpt(ex, 200))
    return value


def media_tokens_of(ex: Exchange, *, text_tokens: int, field: str = "prompt_tokens") -> int | None:
    """How many prompt tokens a 200 bills beyond the text-only twin (None: not a 200 with usage)."""
    if ex.status != 200:
        return None
    body = ex.json_or_none()
    usage = body.get("usage") if isinstance(body, dict) else None
    value = usage.get(field) if isinstance(usage, dict) else None
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return value - text_tokens


# --- OAI-MM-006: undecodable media ------------------------------------------------------------


@check("OAI-MM-006")
def undecodable_media_rejected(ex: Exchange, *, schemas: SchemaSet, case: str = "") -> None:
    """Media that cannot be decoded (empty, not base64, text labelled as media, a bare signature, a
    bomb, a non-media MIME type, a part without its data) is rejected with 4xx and the OpenAI error
    envelope, streamed or not: never a 5xx, a hang, or a 200."""
    _judge_rejection(_exchange_of(ex), schemas=schemas, schema_id="openai/error", envelope=OPENAI_ENVELOPE,
                     what=_named("undecodable media", case), accepted="the media was dropped or made up")


# --- OAI-MM-007: damaged or mislabelled media -------------------------------------------------


@check("OAI-MM-007")
def damaged_media_rejected_or_counted(ex: Exchange, *, schemas: SchemaSet, text_tokens: int, case: str = "",
                                      field: str = "prompt_tokens") -> None:
    """A truncated or mislabelled medium is either rejected (4xx + OpenAI envelope) or decoded and
    counted: a 200 bills more prompt tokens (``field``) than the text-only twin (``text_tokens``).
    A 5xx, no answer, or a 200 that bills only the text (the media silently dropped) fails."""
    ex = _exchange_of(ex)
    what = _named("damaged media", case)
    if ex.status == 200:
        billed = _billed(ex, field)
        if billed <= text_tokens:
            raise fail(f"{what} was silently dropped: the 200 bills only the text",
                       expected=f"usage.{field} > {text_tokens} (the text-only request), or a 4xx",
                       actual=billed)
        return
    _judge_rejection(ex, schemas=schemas, schema_id="openai/error", envelope=OPENAI_ENVELOPE, what=what,
                     accepted="not counted")


# --- OAI-MM-008: unreachable media URLs -------------------------------------------------------


@check("OAI-MM-008")
def unreachable_media_url_rejected(ex: Exchange, *, schemas: SchemaSet, timeout_s: float, case: str = "") -> None:
    """A media URL that answers 404 or 500, refuses the connection or never answers is rejected
    with 4xx and the OpenAI error envelope within ``timeout_s``: not a 5xx (the fetch failed
    because of the client's URL), not a hang, not a 200."""
    _judge_rejection(_exchange_of(ex), schemas=schemas, schema_id="openai/error", envelope=OPENAI_ENVELOPE,
                     what=_named("an unreachable media URL", case), accepted="the media was dropped",
                     timeout_s=timeout_s)


# --- OAI-MM-009 / ANT-MM-004: a modality the endpoint does not take ------------------------------


@check("OAI-MM-009")
def missing_modality_rejected(ex: Exchange, *, schemas: SchemaSet, modality: str, case: str = "") -> None:
    """A part of a modality the endpoint does not take is rejected with 4xx and the OpenAI error
    envelope: never a 5xx, never a 200 that drops the media and answers the text."""
    _judge_rejection(_exchange_of(ex), schemas=schemas, schema_id="openai/error", envelope=OPENAI_ENVELOPE,
                     what=_named(f"{'an' if modality[:1] in 'aeiou' else 'a'} {modality} part to an endpoint "
                                 f"without {modality} input", case),
                     accepted="the media was dropped and the text answered")


@check("ANT-MM-004")
def messages_image_without_vision_rejected(ex: Exchange, *, schemas: SchemaSet, case: str = "") -> None:
    """A Messages image block sent to a model without vision is rejected with 4xx and the Anthropic
    error envelope (``{"type": "error", ...}``): never a 5xx, never a 200 that answers the text."""
    _judge_rejection(_exchange_of(ex), schemas=schemas, schema_id="anthropic/error", envelope=ANTHROPIC_ENVELOPE,
                     what=_named("a Messages image block to a model without vision", case),
                     accepted="the image was dropped and the text answered")


# --- OAI-MM-010: unknown part types -----------------------------------------------------------


@check("OAI-MM-010")
def unknown_part_type_rejected(ex: Exchange, *, schemas: SchemaSet, case: str = "") -> None:
    """A content part of a type no API defines, or of another API's type, is rejected with 4xx and
    the OpenAI error envelope: never a 5xx, never silently ignored (200)."""
    _judge_rejection(_exchange_of(ex), schemas=schemas, schema_id="openai/error", envelope=OPENAI_ENVELOPE,
                     what=_named("an unknown content part type", case), accepted="the part was ignored")


# --- ANT-MM-002: a bad Messages image block ---------------------------------------------------


@check("ANT-MM-002")
def bad_messages_image_rejected(ex: Exchange, *, schemas: SchemaSet, case: str = "") -> None:
    """A Messages image block whose data is no decodable image, or whose media_type is no image
    type, is rejected with 4xx and the Anthropic error envelope: never a 5xx or a 200."""
    _judge_rejection(_exchange_of(ex), schemas=schemas, schema_id="anthropic/error", envelope=ANTHROPIC_ENVELOPE,
                     what=_named("a bad Messages image block", case), accepted="the image was dropped or made up")


# --- OAI-MM-011: the endpoint still serves ----------------------------------------------------


@check("OAI-MM-011")
def serves_after_bad_media(ex: Exchange, *, before: int, what: str = "text request",
                           field: str = "prompt_tokens") -> None:
    """After the bad-media requests, a request answered earlier is answered 200 again and bills the
    same prompt tokens (``field``) as before (``before``)."""
    ex = _exchange_of(ex)
    if ex.status != 200:
        raise fail(f"the {what} failed after the bad-media requests", expected="200 (it was answered before)",
                   actual=f"{ex.status} {ex.error or _excerpt(ex, 200)}")
    billed = _billed(ex, field)
    if billed != before:
        raise fail(f"the {what} bills {billed} prompt tokens after the bad-media requests, {before} before",
                   expected=before, actual=billed)
