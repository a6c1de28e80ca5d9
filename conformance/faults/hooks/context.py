"""Fault hooks for the context window and token limits (issue 9): the expensive failures at the edge
of the window that say nothing: a prompt silently cut to fit, a 500 or a hang instead of a 400, a
window advertised that is not the one enforced, an output limit ignored.

Every hook is pure (no I/O, no clock): the hang is a :class:`~conformance.faults.model.Hold` that
a response hook returns and the proxy carries out.
"""

from __future__ import annotations

import re
from typing import Any

from conformance.faults.hooks.common import is_int
from conformance.faults.model import MODELS, FaultContext, Hold, Request, Response

PROPS = "/props"  # llama.cpp server properties (default_generation_settings.n_ctx: the per-slot window)

# --- silent truncation ---------------------------------------------------------------------------

#: Request bodies up to this size pass untouched: only long prompts are cut (the rest of the
#: suite's requests are a few hundred bytes; a prompt near even a 2K-token window is ~8 KB).
TRUNCATE_BODY_BYTES = 4096
#: A prompt string is cut when it is longer than this (characters); what is cut is its middle half.
TRUNCATE_STRING_CHARS = 1024
# The request fields that carry the prompt, per API: chat and Messages `messages` (and Messages
# `system`), completions `prompt`, Responses `input` and `instructions`. Tools, schemas and
# metadata are never touched.
_PROMPT_FIELDS = ("messages", "prompt", "input", "system", "instructions")


def cut_middle(text: str) -> str:
    """``text`` without its middle half (the first and last quarters kept), as a "middle-out"
    transform does to make a prompt fit the window."""
    quarter = len(text) // 4
    return text[:quarter] + text[len(text) - quarter:]


def _cut_strings(value: Any) -> tuple[Any, bool]:
    if isinstance(value, str):
        return (cut_middle(value), True) if len(value) > TRUNCATE_STRING_CHARS else (value, False)
    if isinstance(value, list):
        pairs = [_cut_strings(v) for v in value]
        return [v for v, _ in pairs], any(c for _, c in pairs)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        changed = False
        for key, item in value.items():
            # message/part metadata (roles, types, ids, tool schemas) keep their values
            if key in ("content", "text", "input", "prompt") or isinstance(item, (list, dict)):
                out[key], cut = _cut_strings(item)
                changed |= cut
            else:
                out[key] = item
        return out, changed
    return value, False


def truncate_long_prompt(ctx: FaultContext, request: Request) -> Request:
    """A request whose body is larger than :data:`TRUNCATE_BODY_BYTES` goes upstream with the
    middle half of every long prompt string dropped: the server bills fewer tokens than were sent,
    and a prompt over the window by a few tokens fits and is answered 200."""
    if request.method != "POST" or request.body is None or len(request.body) <= TRUNCATE_BODY_BYTES:
        return request
    body = request.json
    if not isinstance(body, dict):
        return request
    changed = False
    for name in _PROMPT_FIELDS:
        if name in body:
            body[name], cut = _cut_strings(body[name])
            changed |= cut
    return request.with_json(body) if changed else request


# --- overflow answered wrongly --------------------------------------------------------------------

# How servers word "the prompt does not fit the window" (vLLM/NIM, llama.cpp, SGLang, OpenAI,
# Anthropic, TGI); matched against the whole body of a 4xx answer.
CONTEXT_EXCEEDED_RE = re.compile(
    r"context[ _-]?(length|size|window)|maximum context|exceed_context|context_length_exceeded"
    r"|prompt is too long|too many (input )?tokens|input is too long|max_model_len",
    re.IGNORECASE)


def is_context_exceeded(response: Response) -> bool:
    """A 4xx answer whose body says the context window was exceeded."""
    if not 400 <= response.status < 500:
        return False
    return bool(CONTEXT_EXCEEDED_RE.search(response.body.decode("utf-8", "replace")))


def overflow_to_500(ctx: FaultContext, response: Response) -> Response:
    """A context-exceeded 4xx becomes a 500 with the same body."""
    if is_context_exceeded(response):
        return response.with_status(500, "Internal Server Error")
    return response


def overflow_hang(ctx: FaultContext, response: Response) -> Response | Hold:
    """A context-exceeded 4xx is never answered: the connection is held open without a status line
    until the client gives up."""
    if is_context_exceeded(response):
        return Hold(f"context-exceeded {response.status} withheld")
    return response


# --- the advertised window ------------------------------------------------------------------------


def _double(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if is_int(value) and value > 0:
        obj[key] = value * 2
        return value
    return None


def advertise_double_window(ctx: FaultContext, body: Any) -> Any:
    """The window the endpoint states is doubled wherever it states it: ``/v1/models`` entries
    (``max_model_len``, llama.cpp ``meta.n_ctx``; ``max_model_len`` is added, doubled, when only
    ``meta.n_ctx`` states the window) and llama.cpp ``/props``
    (``default_generation_settings.n_ctx``, a top-level ``n_ctx``). The training context
    (``n_ctx_train``) is left alone. The server still enforces its real window."""
    if not isinstance(body, dict):
        return body
    if ctx.path == MODELS:
        for entry in body.get("data") or []:
            if not isinstance(entry, dict):
                continue
            meta = entry.get("meta")
            served = _double(meta, "n_ctx") if isinstance(meta, dict) else None
            if _double(entry, "max_model_len") is None and served is not None:
                entry["max_model_len"] = served * 2
    elif ctx.path == PROPS:
        settings = body.get("default_generation_settings")
        if isinstance(settings, dict):
            _double(settings, "n_ctx")
        _double(body, "n_ctx")
    return body


# --- output-token limits --------------------------------------------------------------------------

#: The output-token limit of each API: chat max_tokens / max_completion_tokens, completions and
#: Messages max_tokens, Responses max_output_tokens.
TOKEN_LIMIT_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


def strip_token_limits(ctx: FaultContext, request: Request) -> Request:
    """The output-token limit is removed before the request goes upstream: the server generates to
    its end of sequence or to the window, whatever the client asked for."""
    body = request.json
    if request.method != "POST" or not isinstance(body, dict) or not any(k in body for k in TOKEN_LIMIT_FIELDS):
        return request
    return request.with_json({k: v for k, v in body.items() if k not in TOKEN_LIMIT_FIELDS})
