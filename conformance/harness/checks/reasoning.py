"""Checks for reasoning output on the OpenAI-compatible APIs (OAI-REASON-*: chat completions,
and the Responses reasoning item). Anthropic tool use and extended thinking live in
:mod:`~conformance.harness.checks.anthropic_tools` and
:mod:`~conformance.harness.checks.anthropic_thinking`.

Chat reasoning text arrives in ``message.reasoning`` (vLLM ≥ 0.16, NIM 2.x, aimlapi/OpenRouter),
``message.reasoning_content`` (SGLang, llama.cpp, hosted NVIDIA build, vLLM ≤ 0.11) or both with
the same value (vLLM 0.11–0.15, PR #27752 → #33402); aimlapi adds ``reasoning_details[]``
(wire-protocols.md §4.6, §6). The suite accepts the field the profile declares (or either),
records which one came (:func:`reasoning_field_used`), and fails when both are present with
different values or when reasoning leaks into ``content`` as ``<think>`` tags.

A chat ``message`` argument is ``choices[0].message`` (a whole chat.completion body is accepted
too) or, for the streamed variants, a :class:`ChunkStream` whose choice-0 deltas are concatenated
field by field. Whitespace-only reasoning counts as no reasoning text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from conformance.harness.checks import check, fail
from conformance.harness.failures import NotApplicable, UsageError
from conformance.harness.streams.openai import ChunkStream

REASONING_FIELDS = ("reasoning", "reasoning_content")
DECLARABLE_FIELDS = (*REASONING_FIELDS, "either")
THINK_TAG = re.compile(r"<\s*/?\s*think\s*>", re.IGNORECASE)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(text: Any, limit: int = 160) -> str:
    text = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def _has_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


# --- chat message views (public helpers for tests; not checks) -----------------------------


def _message_of(subject: Any) -> dict[str, Any] | ChunkStream:
    """The message dict (a chat.completion body stands for its first choice's message) or the
    stream itself."""
    if isinstance(subject, ChunkStream):
        return subject
    if isinstance(subject, dict) and isinstance(subject.get("choices"), list) and "message" not in subject:
        choices = [c for c in subject["choices"] if isinstance(c, dict)]
        first = next((c for c in choices if c.get("index") == 0), choices[0] if choices else None)
        message = first.get("message") if first else None
        if not isinstance(message, dict):
            raise fail("chat.completion without choices[0].message", expected="a message object", actual=first)
        return message
    if not isinstance(subject, dict):
        raise fail("no chat message to judge", expected="choices[0].message (an object) or a chunk stream",
                   actual=subject)
    return subject


def _deltas(stream: ChunkStream, choice: int = 0) -> list[dict[str, Any]]:
    return [c["delta"] for _, c in stream.by_choice().get(choice, []) if isinstance(c.get("delta"), dict)]


def reasoning_fields(subject: Any) -> dict[str, Any]:
    """The reasoning fields a message carries: ``{"reasoning": …, "reasoning_content": …}`` with
    only the keys present (values as sent, possibly None). For a stream, a field is present when
    at least one delta carried it as a string; its value is the concatenation. A value that is
    neither a string nor null fails (under the calling check's requirement)."""
    message = _message_of(subject)
    out: dict[str, Any] = {}
    if isinstance(message, ChunkStream):
        for name in REASONING_FIELDS:
            pieces = []
            for delta in _deltas(message):
                value = delta.get(name)
                if value is not None and not isinstance(value, str):
                    raise fail(f"delta.{name} is not a string", expected="string or null", actual=value)
                if isinstance(value, str):
                    pieces.append(value)
            if pieces:
                out[name] = "".join(pieces)
        return out
    for name in REASONING_FIELDS:
        if name in message:
            value = message[name]
            if value is not None and not isinstance(value, str):
                raise fail(f"message.{name} is not a string", expected="string or null", actual=value)
            out[name] = value
    return out


def reasoning_details(subject: Any) -> list[Any]:
    """aimlapi/OpenRouter ``reasoning_details`` entries (concatenated over the deltas of a stream)."""
    message = _message_of(subject)
    if isinstance(message, ChunkStream):
        out: list[Any] = []
        for delta in _deltas(message):
            value = delta.get("reasoning_details")
            if isinstance(value, list):
                out.extend(value)
        return out
    value = message.get("reasoning_details")
    return value if isinstance(value, list) else []


def _detail_texts(subject: Any) -> list[tuple[int, str, str]]:
    """(index, key, text) of reasoning_details entries that carry readable text or a summary
    (``reasoning.encrypted`` entries carry ``data`` only and are not readable text)."""
    out = []
    for i, entry in enumerate(reasoning_details(subject)):
        if isinstance(entry, dict):
            for key in ("text", "summary"):
                if _has_text(entry.get(key)):
                    out.append((i, key, entry[key]))
    return out


def reasoning_text(subject: Any) -> str:
    """The reasoning text of a message or stream: the first non-blank of reasoning,
    reasoning_content ('' when neither has text)."""
    fields = reasoning_fields(subject)
    for name in REASONING_FIELDS:
        if _has_text(fields.get(name)):
            return fields[name]
    return ""


def reasoning_field_used(subject: Any) -> str | None:
    """Which field carried the reasoning text: "reasoning", "reasoning_content", "both" or None
    (for the report; the suite accepts either)."""
    fields = reasoning_fields(subject)
    used = [name for name in REASONING_FIELDS if _has_text(fields.get(name))]
    return "both" if len(used) == 2 else (used[0] if used else None)


def has_reasoning(subject: Any) -> bool:
    """Whether a message or stream carries reasoning text (reasoning, reasoning_content or
    reasoning_details text/summary)."""
    return bool(reasoning_text(subject)) or bool(_detail_texts(subject))


def content_text(subject: Any) -> str | None:
    """``message.content`` (text parts joined when it is a list), or the concatenated content
    deltas of a stream."""
    if subject is None or isinstance(subject, str):
        return subject
    message = _message_of(subject)
    if isinstance(message, ChunkStream):
        return message.text()
    content = message.get("content")
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return content if isinstance(content, str) or content is None else str(content)


def _usage_of(subject: Any) -> Any:
    if isinstance(subject, ChunkStream):
        return subject.final_usage()
    if isinstance(subject, dict) and "choices" in subject and "usage" in subject:
        return subject["usage"]
    return subject


def reasoning_tokens(usage: Any) -> tuple[Any, str | None]:
    """``(value, where)`` of the reported reasoning token count:
    ``usage.completion_tokens_details.reasoning_tokens`` or SGLang's top-level
    ``usage.reasoning_tokens``; ``(None, None)`` when neither is reported (or is null)."""
    usage = _usage_of(usage)
    if not isinstance(usage, dict):
        return None, None
    details = usage.get("completion_tokens_details")
    if isinstance(details, dict) and details.get("reasoning_tokens") is not None:
        return details["reasoning_tokens"], "completion_tokens_details.reasoning_tokens"
    if usage.get("reasoning_tokens") is not None:
        return usage["reasoning_tokens"], "reasoning_tokens"
    return None, None


def _leak_hint(subject: Any) -> str:
    content = content_text(subject)
    if isinstance(content, str) and THINK_TAG.search(content):
        return " (content carries <think> tags: no reasoning parser active?)"
    return ""


# --- OAI-REASON ----------------------------------------------------------------------------


@check("OAI-REASON-001")
def reasoning_in_declared_field(message: Any, *, field: str) -> None:
    """With thinking on, reasoning text is a non-empty string in the declared field
    ("reasoning", "reasoning_content" or "either": at least one of them); when both fields are
    present and not null they are equal (vLLM 0.11–0.15 sends both)."""
    if field not in DECLARABLE_FIELDS:
        raise UsageError(f"reasoning field must be one of {DECLARABLE_FIELDS}, not {field!r}")
    fields = reasoning_fields(message)
    if all(fields.get(name) is not None for name in REASONING_FIELDS) and \
            fields["reasoning"] != fields["reasoning_content"]:
        a, b = fields["reasoning"], fields["reasoning_content"]
        at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        raise fail(f"reasoning and reasoning_content both present with different values (from character {at})",
                   expected="equal values (or only one field)",
                   actual={"reasoning": _short(a), "reasoning_content": _short(b)})
    wanted = REASONING_FIELDS if field == "either" else (field,)
    if any(_has_text(fields.get(name)) for name in wanted):
        return
    elsewhere = [name for name in REASONING_FIELDS if name not in wanted and _has_text(fields.get(name))]
    if elsewhere:
        raise fail(f"reasoning text is in {elsewhere[0]}, not in the declared field {field}",
                   expected=f"message.{field}: non-empty string",
                   actual={name: _short(value) for name, value in fields.items()})
    where = "reasoning or reasoning_content" if field == "either" else field
    raise fail(f"no reasoning text in {where} with thinking on{_leak_hint(message)}",
               expected=f"a non-empty string in {where}",
               actual={**{name: fields.get(name, "(absent)") for name in REASONING_FIELDS},
                       "content": _short(content_text(message))})


@check("OAI-REASON-002")
def no_reasoning(message: Any) -> None:
    """With thinking off, no reasoning text: reasoning and reasoning_content absent, null or
    blank, and no reasoning_details entry with text."""
    fields = reasoning_fields(message)
    carrying = {name: _short(value) for name, value in fields.items() if _has_text(value)}
    if carrying:
        content = content_text(message)
        hint = " (content is empty: the answer was routed to the reasoning field)" if not _has_text(content) else ""
        raise fail(f"reasoning text although thinking was off, in {', '.join(carrying)}{hint}",
                   expected="no reasoning text", actual={**carrying, "content": _short(content)})
    details = _detail_texts(message)
    if details:
        i, key, text = details[0]
        raise fail(f"reasoning text although thinking was off, in reasoning_details[{i}].{key}",
                   expected="no reasoning text", actual=_short(text))


def _reasoning_shown(message: Any) -> str:
    """The reasoning fields and content of a message, for a not-applicable reason."""
    fields = reasoning_fields(message)
    shown = {name: _short(fields.get(name, "(absent)"), 60) for name in REASONING_FIELDS}
    return ", ".join(f"{k}: {v}" for k, v in shown.items()) + f", content: {_short(content_text(message), 80)!r}"


def _details_shown(usage: Any) -> str:
    shown = _usage_of(usage)
    details = shown.get("completion_tokens_details", "(absent)") if isinstance(shown, dict) else shown
    return f"completion_tokens_details: {_short(details)}"


@check("OAI-REASON-003")
def reasoning_within_budget(usage: Any, *, budget: int, slack: int = 0) -> None:
    """With thinking_token_budget B, the reported reasoning_tokens is ≤ B + slack. A missing
    reasoning_tokens fails: the budget cannot be verified."""
    value, where = reasoning_tokens(usage)
    if where is None:
        raise fail("reasoning_tokens not reported, so the thinking_token_budget cannot be verified",
                   expected="usage.completion_tokens_details.reasoning_tokens: integer",
                   actual=_details_shown(usage))
    if not _is_int(value):
        raise fail(f"usage.{where} is not an integer", expected="integer", actual=value)
    limit = budget + slack
    if value > limit:
        extra = f" + slack {slack}" if slack else ""
        raise fail(f"reasoning_tokens exceeds thinking_token_budget {budget}{extra}", expected=f"≤ {limit}",
                   actual=value)


@check("OAI-REASON-004")
def reasoning_tokens_bounded(usage: Any) -> None:
    """When reported, reasoning_tokens is an integer between 0 and completion_tokens."""
    value, where = reasoning_tokens(usage)
    if where is None:
        raise NotApplicable(f"OAI-REASON-004: usage reports no reasoning_tokens to bound ({_details_shown(usage)}; "
                            "OAI-REASON-005 judges whether it must)")
    if not _is_int(value) or value < 0:
        raise fail(f"usage.{where} is not a non-negative integer", expected="integer ≥ 0", actual=value)
    completion = _usage_of(usage).get("completion_tokens")
    if not _is_int(completion):
        raise fail("usage.completion_tokens missing, so reasoning_tokens cannot be bounded",
                   expected=f"an integer ≥ {value}", actual=completion)
    if value > completion:
        raise fail(f"reasoning_tokens exceeds completion_tokens (completion_tokens must include the reasoning "
                   f"tokens; content tokens alone would be {completion})", expected=f"≤ {completion}", actual=value)


@check("OAI-REASON-005")
def reasoning_tokens_reported(usage: Any, message: Any) -> None:
    """A response with reasoning text reports reasoning_tokens > 0. Without reasoning text there is
    nothing to count (not applicable, quoting the fields; OAI-REASON-001 judges the absence)."""
    if not has_reasoning(message):
        raise NotApplicable("OAI-REASON-005: the message carries no reasoning text to count "
                            f"({_reasoning_shown(message)})")
    value, where = reasoning_tokens(usage)
    if where is None:
        raise fail("reasoning_tokens not reported although the message carries reasoning text",
                   expected="usage.completion_tokens_details.reasoning_tokens > 0",
                   actual=_details_shown(usage))
    if not _is_int(value) or value <= 0:
        raise fail(f"usage.{where} is {value!r} although the message carries reasoning text",
                   expected="an integer > 0", actual=value)


@check("OAI-REASON-006")
def no_think_leak(content: Any) -> None:
    """Content carries no ``<think>`` / ``</think>`` tag (case-insensitive), streamed (content
    deltas concatenated, so a tag split across deltas is found) or not. ``content``: a string,
    None, a message or a ChunkStream."""
    text = content_text(content)
    if not text:
        return
    match = THINK_TAG.search(text)
    if match:
        start, end = max(0, match.start() - 60), match.end() + 60
        excerpt = ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
        raise fail(f"{match.group(0)} tag in content at character {match.start()} (reasoning leaking into the answer)",
                   expected="content without <think> or </think>", actual=excerpt)


@check("OAI-REASON-007")
def reasoning_presence_agrees(streamed_has: Any, blocking_has: Any) -> None:
    """The streamed and non-streamed responses to the same request both carry reasoning text or
    both carry none (bools, or the ChunkStream and the message themselves)."""
    streamed = streamed_has if isinstance(streamed_has, bool) else has_reasoning(streamed_has)
    blocking = blocking_has if isinstance(blocking_has, bool) else has_reasoning(blocking_has)
    if streamed != blocking:
        which = "the non-streamed response has reasoning text but the streamed one has none" if blocking else \
            "the streamed response has reasoning text but the non-streamed one has none"
        raise fail(which, expected="reasoning in both or in neither",
                   actual={"streamed": streamed, "non-streamed": blocking})


@check("OAI-REASON-008")
def content_not_starved_by_reasoning(message: Any, finish_reason: Any) -> None:
    """INFO: records a response cut by max_tokens (finish_reason length) whose content is empty
    because the tokens went to reasoning. Not applicable when the response did not finish with
    length or carries no reasoning text."""
    if finish_reason != "length":
        raise NotApplicable(f"OAI-REASON-008: the answer was not cut (finish_reason {finish_reason!r}), so the "
                            "budget did not starve it")
    if not has_reasoning(message):
        raise NotApplicable(f"OAI-REASON-008: the cut answer carries no reasoning text, so reasoning did not "
                            f"starve it ({_reasoning_shown(message)})")
    content = content_text(message)
    if not _has_text(content):
        raise fail("finish_reason length with empty content: max_tokens was spent on reasoning (clients see an "
                   "empty answer)", expected="some content before the cut",
                   actual={"content": content, "reasoning": _short(reasoning_text(message) or "(details)", 80)})


@check("OAI-REASON-009")
def reasoning_excluded(message: Any, *, control: Any) -> None:
    """With reasoning {exclude: true}: no reasoning or reasoning_content text and no
    reasoning_details entry with text or summary (encrypted entries are not readable text).

    ``control`` is the answer to the same request without ``exclude``. An absence of reasoning
    proves something only when the control shows that this request does reason: a control
    without reasoning text is not applicable (quoting it), never a pass."""
    fields = reasoning_fields(message)
    carrying = {name: _short(value) for name, value in fields.items() if _has_text(value)}
    if carrying:
        raise fail(f"reasoning text in {', '.join(carrying)} although reasoning.exclude was true",
                   expected="no reasoning text", actual=carrying)
    details = _detail_texts(message)
    if details:
        i, key, text = details[0]
        raise fail(f"reasoning_details[{i}].{key} carries text although reasoning.exclude was true",
                   expected="no reasoning_details text", actual=_short(text))
    if not has_reasoning(control):
        raise NotApplicable("OAI-REASON-009: the control request (the same request without exclude) shows no "
                            f"reasoning either, so the absence proves nothing ({_reasoning_shown(control)})")


@check("OAI-REASON-010")
def responses_reasoning_item(response: Any) -> None:
    """A Responses result with reasoning requested carries a reasoning item before the message."""
    output = response.get("output") if isinstance(response, Mapping) else None
    if not isinstance(output, list):
        raise fail("response has no output list", expected="output items", actual=output)
    types = [item.get("type") if isinstance(item, Mapping) else None for item in output]
    if "reasoning" not in types:
        raise fail("no reasoning output item although reasoning was requested",
                   expected="a reasoning item before the message", actual=types)
    if "message" in types and types.index("message") < types.index("reasoning"):
        raise fail("reasoning item after the message item", expected="reasoning first", actual=types)
    item = output[types.index("reasoning")]
    texts = [p.get("text") for key in ("summary", "content") for p in (item.get(key) or []) if isinstance(p, Mapping)]
    if not any(isinstance(t, str) and t.strip() for t in texts):
        raise fail("reasoning item carries no summary or content text", expected="non-empty text", actual=item)


# --- hosted reasoning object (aimlapi / OpenRouter style: reasoning {effort, max_tokens, exclude}) ---


def _hosted_reasoning_rules(subject: Any, usage: Any, *, field: str, knob: str) -> None:
    """The thinking-on rules of the vLLM controls (OAI-REASON-001, -005, -004, -006) for a hosted
    request whose reasoning object sets ``knob``; raised under the calling check's requirement."""
    if not has_reasoning(subject):
        raise fail(f"no reasoning text although {knob} was set (it switches reasoning on){_leak_hint(subject)}",
                   expected="reasoning text (reasoning, reasoning_content or reasoning_details)",
                   actual=_reasoning_shown(subject))
    reasoning_in_declared_field.__wrapped__(subject, field=field)
    no_think_leak.__wrapped__(subject)
    reasoning_tokens_reported.__wrapped__(usage, subject)
    reasoning_tokens_bounded.__wrapped__(usage)


@check("OAI-REASON-011")
def reasoning_effort_honoured(subject: Any, *, field: str) -> None:
    """With the hosted reasoning object ``{effort: low|medium|high}`` (a chat.completion body or
    its stream), the request is answered by reasoning as with thinking on: reasoning text in the
    declared field, ``reasoning_tokens`` reported > 0 and ≤ completion_tokens, content without
    ``<think>`` tags."""
    _hosted_reasoning_rules(subject, _usage_of(subject), field=field, knob="reasoning.effort")


@check("OAI-REASON-012")
def reasoning_max_tokens_honoured(subject: Any, *, budget: int, slack: int = 0) -> None:
    """With the hosted reasoning object ``{max_tokens: B}`` (a chat.completion body or its
    stream): ``reasoning_tokens`` is reported and ≤ B + slack (the OAI-REASON-003 rule), ≤
    completion_tokens, and content carries no ``<think>`` tags. Reasoning text is not required
    (a budget bounds it from above only)."""
    usage = _usage_of(subject)
    no_think_leak.__wrapped__(subject)
    value, where = reasoning_tokens(usage)
    if where is None:
        raise fail("reasoning_tokens not reported, so reasoning.max_tokens cannot be verified",
                   expected="usage.completion_tokens_details.reasoning_tokens: integer", actual=_details_shown(usage))
    reasoning_tokens_bounded.__wrapped__(usage)
    limit = budget + slack
    if value > limit:
        extra = f" + slack {slack}" if slack else ""
        raise fail(f"reasoning_tokens exceeds reasoning.max_tokens {budget}{extra}", expected=f"≤ {limit}",
                   actual=value)


def _detail_entries_text(subject: Any) -> str | None:
    """The joined ``text`` of the ``reasoning.text`` entries of reasoning_details (in order; for a
    stream, over all deltas), None when there is no such entry. A text entry whose text is not a
    string fails."""
    pieces, seen = [], False
    for i, entry in enumerate(reasoning_details(subject)):
        if not isinstance(entry, dict):
            raise fail(f"reasoning_details[{i}] is not an object", expected="an object", actual=entry)
        if entry.get("type") != "reasoning.text":
            continue
        seen = True
        text = entry.get("text")
        if text is not None and not isinstance(text, str):
            raise fail(f"reasoning_details[{i}].text is not a string", expected="string", actual=text)
        pieces.append(text or "")
    return "".join(pieces) if seen else None


def _meta_usage(subject: Any) -> tuple[bool, Any]:
    """(present, value) of the top-level ``meta.usage`` (for a stream: the last chunk carrying
    ``meta``). A ``meta`` that is not an object (nor null) fails."""
    if isinstance(subject, ChunkStream):
        carrying = [c.data["meta"] for c in subject.chunks if c.data.get("meta") is not None]
        meta = carrying[-1] if carrying else None
    else:
        meta = subject.get("meta") if isinstance(subject, dict) else None
    if meta is None:
        return False, None
    if not isinstance(meta, dict):
        raise fail("meta is not an object", expected="an object or null", actual=meta)
    usage = meta.get("usage")
    return usage is not None, usage


def _is_amount(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and value >= 0 \
        and value != float("inf")


@check("OAI-REASON-013")
def reasoning_details_consistent(subject: Any) -> None:
    """aimlapi/OpenRouter extras agree with the standard fields (a chat.completion body or its
    stream): the joined text of the ``reasoning.text`` entries of ``reasoning_details`` equals
    the reasoning text (``reasoning`` / ``reasoning_content``; over all deltas for a stream);
    ``meta.usage`` (documented ``{credits_used, usd_spent}``, nullable) holds non-negative numbers,
    comes with a ``usage`` object, and any ``*_tokens`` count it repeats equals ``usage``'s.
    Not applicable when neither reasoning_details text nor meta.usage is present."""
    if not isinstance(subject, ChunkStream) and not isinstance(subject, dict):
        raise fail("no chat.completion to judge", expected="a chat.completion body or a chunk stream", actual=subject)
    details_text = _detail_entries_text(subject)
    has_meta, meta_usage = _meta_usage(subject)
    if details_text is None and not has_meta:
        raise NotApplicable("OAI-REASON-013: the answer carries neither reasoning_details text entries nor "
                            f"meta.usage to compare ({_reasoning_shown(subject)})")
    if details_text is not None:
        text = reasoning_text(subject)
        if not _has_text(text) and _has_text(details_text):
            raise fail("reasoning_details carry reasoning text but reasoning/reasoning_content is empty",
                       expected=_short(details_text), actual=_reasoning_shown(subject))
        if _has_text(text) and text != details_text:
            at = next((i for i, (x, y) in enumerate(zip(text, details_text)) if x != y),
                      min(len(text), len(details_text)))
            raise fail(f"reasoning_details text differs from the reasoning text (from character {at})",
                       expected=_short(text), actual=_short(details_text))
    if not has_meta:
        return
    if not isinstance(meta_usage, dict):
        raise fail("meta.usage is not an object", expected="an object or null", actual=meta_usage)
    for key in ("credits_used", "usd_spent"):
        if key in meta_usage and meta_usage[key] is not None and not _is_amount(meta_usage[key]):
            raise fail(f"meta.usage.{key} is not a non-negative number", expected="a number ≥ 0",
                       actual=meta_usage[key])
    usage = subject.final_usage() if isinstance(subject, ChunkStream) else subject.get("usage")
    if not isinstance(usage, dict):
        raise fail("meta.usage reports a charge but the response carries no usage object",
                   expected="usage with prompt_tokens and completion_tokens", actual=usage)
    for key, value in sorted(meta_usage.items()):
        if key.endswith("_tokens") and key in usage and value != usage[key]:
            raise fail(f"meta.usage.{key} differs from usage.{key}", expected=usage[key], actual=value)
