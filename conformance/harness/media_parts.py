"""Media request shapes (issue 10): the content parts and request bodies every multimodal test sends.

Pure: builds JSON-able dicts; no pytest, no transport. One function per wire shape, named after
the shape names of :data:`conformance.harness.modalities.SHAPES`:

* chat ``image_url`` (data URI or URL, optional ``detail``), ``input_audio`` (OpenAI: base64
  ``data`` + ``format``), ``audio_url`` and ``video_url`` (NIM);
* Responses ``input_image``; Anthropic Messages ``image`` block with a ``base64`` source.

:func:`chat_body`, :func:`responses_body` and :func:`messages_body` wrap parts into a request with a
fixed text, so the text-only twin of a media request (the usage baseline) differs only by the media.
"""

from __future__ import annotations

from typing import Any

from conformance.harness import media

__all__ = ["PROMPT", "anthropic_image", "audio_url", "chat_body", "image_url", "input_audio", "input_image",
           "messages_body", "part", "responses_body", "video_url"]

#: The text every media request carries (the baseline request carries it alone).
PROMPT = "Describe the attached media in one short sentence."
#: ``input_audio.format`` by MIME type (OpenAI documents wav and mp3).
_AUDIO_FORMAT = {"audio/wav": "wav", "audio/mpeg": "mp3", "audio/flac": "flac"}


def image_url(url: str, *, detail: str | None = None) -> dict[str, Any]:
    inner: dict[str, Any] = {"url": url}
    if detail is not None:
        inner["detail"] = detail
    return {"type": "image_url", "image_url": inner}


def input_audio(data: bytes, fmt: str = "wav") -> dict[str, Any]:
    return {"type": "input_audio", "input_audio": {"data": media.b64(data), "format": fmt}}


def audio_url(url: str) -> dict[str, Any]:
    return {"type": "audio_url", "audio_url": {"url": url}}


def video_url(url: str) -> dict[str, Any]:
    return {"type": "video_url", "video_url": {"url": url}}


def input_image(url: str, *, detail: str = "auto") -> dict[str, Any]:
    """Responses ``input_image`` (``image_url`` is a URL or a data URI; ``detail`` is required by
    the pinned spec's InputImageContent)."""
    return {"type": "input_image", "image_url": url, "detail": detail}


def anthropic_image(mime: str, data: bytes | str) -> dict[str, Any]:
    """Messages image block, ``source.type: base64`` (``data``: bytes, or a prepared base64 string)."""
    b64 = data if isinstance(data, str) else media.b64(data)
    return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": b64}}


def part(shape: str, medium: media.Medium, *, url: str | None = None) -> dict[str, Any]:
    """The content part of ``shape`` carrying ``medium`` (by data URI, or by ``url`` when given)."""
    ref = url if url is not None else medium.data_uri
    if shape == "image_url":
        return image_url(ref)
    if shape == "input_image":
        return input_image(ref)
    if shape == "anthropic_image":
        if url is not None:
            raise ValueError("anthropic_image is sent base64 only")
        return anthropic_image(medium.mime, medium.data)
    if shape == "input_audio":
        if url is not None:
            raise ValueError("input_audio carries base64 data, not a URL")
        return input_audio(medium.data, _AUDIO_FORMAT.get(medium.mime, "wav"))
    if shape == "audio_url":
        return audio_url(ref)
    if shape == "video_url":
        return video_url(ref)
    raise ValueError(f"unknown media shape {shape!r}")


def chat_body(*parts: dict[str, Any], text: str = PROMPT, max_tokens: int = 8) -> dict[str, Any]:
    """A chat request: one user message, a list of parts, the text first (no parts: the text-only twin,
    in the same list form so the template renders the text identically)."""
    content = [{"type": "text", "text": text}, *parts]
    return {"messages": [{"role": "user", "content": content}], "max_tokens": max_tokens, "temperature": 0}


def responses_body(*parts: dict[str, Any], text: str = PROMPT, max_output_tokens: int = 16) -> dict[str, Any]:
    """A Responses request (``max_output_tokens`` ≥ 16: the pinned spec's minimum)."""
    content = [{"type": "input_text", "text": text}, *parts]
    return {"input": [{"role": "user", "content": content}], "max_output_tokens": max_output_tokens,
            "temperature": 0}


def messages_body(*parts: dict[str, Any], text: str = PROMPT, max_tokens: int = 8) -> dict[str, Any]:
    """A Messages request; Anthropic puts images before the text."""
    content = [*parts, {"type": "text", "text": text}]
    return {"messages": [{"role": "user", "content": content}], "max_tokens": max_tokens, "temperature": 0}
