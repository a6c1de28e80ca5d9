"""Checks for Anthropic tool use (ANT-TOOLS-*): tool_use blocks, stop_reason tool_use, the
tool_result round trip and tool_choice.

``message`` arguments are a non-streamed Message body, ``MessagesStream.final_message()`` or the
:class:`MessagesStream` itself. A message that should carry a tool call but carries none is judged
by its text blocks (:func:`~conformance.harness.checks.tool_leak.judge_missing_call`): the call
written as text fails, prose under tool_choice auto is not applicable.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from conformance.harness.checks import check, fail
from conformance.harness.checks.anthropic import message_text, require_message, tool_input_from_pieces
from conformance.harness.checks.tool_leak import judge_missing_call, leaked_tool_call
from conformance.harness.exchange import Exchange
from conformance.harness.failures import NotApplicable, UsageError
from conformance.harness.streams.anthropic import MessagesStream


def _short(text: Any, limit: int = 160) -> str:
    text = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def _has_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _blocks(message: dict[str, Any], btype: str) -> list[tuple[int, dict[str, Any]]]:
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [(i, b) for i, b in enumerate(content) if isinstance(b, dict) and b.get("type") == btype]


def _schema_errors(instance: Any, schema: Any) -> list[str]:
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise UsageError(f"the request's input_schema is not a valid JSON Schema: {exc.message}") from None
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: (list(e.absolute_path), e.validator))
    return [f"input{''.join(f'[{p!r}]' for p in e.absolute_path)} [{e.validator}] {e.message}" for e in errors]


@check("ANT-TOOLS-001")
def tool_use_blocks_valid(message: Any, *, tools: list[dict[str, Any]], tool_choice: Any = "auto") -> None:
    """Each tool_use block has a non-empty id, a declared tool name and an input object valid
    against that tool's input_schema (JSON Schema 2020-12), except the last block of a message cut
    by max_tokens, whose input cannot be complete (it must still be an object, and when streamed its
    pieces a prefix of a JSON object). For a MessagesStream, the
    input_json_delta pieces of each tool_use block also join into one JSON object, equal to the
    content_block_start input when that was not empty. A message without tool_use blocks is
    judged by its text: the call written as text fails (the endpoint did not parse its model's
    call), an empty answer fails, prose under tool_choice auto is not applicable."""
    declared = {t.get("name"): t for t in tools if isinstance(t, dict)}
    if isinstance(message, MessagesStream):
        tool_blocks = [b for b in message.blocks() if b.type == "tool_use"]
        cut = (message.final_message() or {}).get("stop_reason") == "max_tokens"
        for block in tool_blocks:
            if not block.input_json_deltas:
                continue
            value = tool_input_from_pieces("tool_use", block.index, block.partial_json,
                                           cut_last=cut and block is tool_blocks[-1])
            if value is None:
                continue  # the last call, cut by max_tokens: a valid prefix; its schema is not judged
            start_input = block.start.get("input")
            if start_input not in (None, {}) and start_input != value:
                raise fail(f"tool_use block {block.index}: the content_block_start input and the input_json_delta "
                           "pieces disagree", expected=start_input, actual=value)
    body = require_message(message)
    uses = _blocks(body, "tool_use")
    if not uses:
        judge_missing_call("ANT-TOOLS-001", "the text blocks", message_text(body), declared, tool_choice=tool_choice)
    for position, block in uses:
        where = f"tool_use block content[{position}]"
        if not _has_text(block.get("id")):
            raise fail(f"{where} without a non-empty id", expected="id: non-empty string", actual=block.get("id"))
        name = block.get("name")
        if name not in declared:
            raise fail(f"{where} names {name!r}, which is not among the declared tools",
                       expected=sorted(str(n) for n in declared), actual=name)
        value = block.get("input")
        if not isinstance(value, dict):
            kind = "a JSON-encoded string" if isinstance(value, str) else type(value).__name__
            raise fail(f"{where} ({name}): input is {kind}, not an object", expected="input: object",
                       actual=value)
        schema = declared[name].get("input_schema")
        if schema is None:
            continue
        if body.get("stop_reason") == "max_tokens" and position == uses[-1][0]:
            # An incomplete tool_use block cut by max_tokens (Anthropic: retry with a higher
            # max_tokens): its finished input does not exist, so the schema is not judged.
            continue
        errors = _schema_errors(value, schema)
        if errors:
            raise fail(f"{where} ({name}): input violates the tool's input_schema ({len(errors)} error(s)): "
                       + "; ".join(errors[:4]), expected=schema, actual=value)


@check("ANT-TOOLS-002")
def tool_use_stop_has_block(message: Any, *, tool_names: list[str] | None = None) -> None:
    """A message with stop_reason tool_use contains at least one tool_use block.

    Another stop_reason is judged by what came back: with tool_use blocks it is not applicable
    (this requirement binds stop_reason tool_use only); without, the text is judged as in
    ANT-TOOLS-001 (a call written as text fails, an empty answer fails, prose is not applicable:
    the model chose not to call). ``tool_names``: the declared tools, for bare-JSON calls."""
    body = require_message(message)
    stop = body.get("stop_reason")
    if stop != "tool_use":
        uses = [b.get("name") for _, b in _blocks(body, "tool_use")]
        if uses:
            raise NotApplicable(f"ANT-TOOLS-002: stop_reason is {stop!r}, not tool_use (tool_use blocks {uses})")
        judge_missing_call("ANT-TOOLS-002", f"the text blocks (stop_reason {stop!r})", message_text(body),
                           tool_names or ())
    if not _blocks(body, "tool_use"):
        content = body.get("content")
        types = [b.get("type") for b in content if isinstance(b, dict)] if isinstance(content, list) else content
        raise fail("stop_reason tool_use but no tool_use block", expected="at least one tool_use block",
                   actual=f"content block types {types}; text: {_short(message_text(body))!r}")


@check("ANT-TOOLS-003")
def tool_result_answered(ex: Exchange) -> None:
    """A conversation ending in a tool_result for the assistant's tool_use is accepted (2xx) and
    answered with a Message (type message or role assistant, with a content list)."""
    excerpt = _short(ex.redacted_body().decode("utf-8", errors="replace"), 300)
    if ex.status is None or not 200 <= ex.status < 300:
        raise fail(f"tool_result round trip rejected with {ex.status}", expected="2xx and a message",
                   actual=excerpt)
    try:
        body = ex.json()
    except ValueError:
        raise fail("tool_result round trip answered with a body that is not JSON", expected="a message object",
                   actual=excerpt) from None
    if not isinstance(body, dict) or not (body.get("type") == "message" or body.get("role") == "assistant") \
            or not isinstance(body.get("content"), list):
        raise fail("tool_result round trip not answered with a Messages response",
                   expected='{"type": "message", "role": "assistant", "content": [...]}', actual=excerpt)


@check("ANT-TOOLS-004")
def anthropic_tool_choice_honoured(message: Any, *, tool_choice: Any) -> None:
    """tool_choice none → no tool_use block; any → at least one; {type: tool, name} → a tool_use
    of that name (auto constrains nothing: judging it is a usage error). A missing call says when
    the text carries it (the endpoint did not parse its model's call)."""
    choice = tool_choice.get("type") if isinstance(tool_choice, dict) else tool_choice
    if choice == "auto":
        raise UsageError("anthropic_tool_choice_honoured judges none, any and tool; auto constrains nothing")
    if choice not in ("none", "any", "tool"):
        raise UsageError(f"unknown Anthropic tool_choice {tool_choice!r}")
    body = require_message(message)
    names = [b.get("name") for _, b in _blocks(body, "tool_use")]
    forced = tool_choice.get("name") if isinstance(tool_choice, dict) else None
    leak = leaked_tool_call(message_text(body), [forced] if isinstance(forced, str) else [])
    hint = " (the text carries the call: the endpoint did not parse it)" if leak else ""
    if choice == "none":
        if names:
            raise fail("tool_use block although tool_choice was none", expected="no tool_use block",
                       actual=f"tool_use {names}, stop_reason {body.get('stop_reason')!r}")
    elif choice == "any":
        if not names:
            raise fail(f"no tool_use block although tool_choice was any{hint}", expected="at least one tool_use block",
                       actual=f"stop_reason {body.get('stop_reason')!r}; text: {_short(message_text(body))!r}")
    else:
        name = tool_choice.get("name") if isinstance(tool_choice, dict) else None
        if not name:
            raise UsageError("tool_choice {type: tool} needs a name")
        if name not in names:
            raise fail(f"tool_choice forced {name!r} but the message does not call it{hint}",
                       expected=f"a tool_use block named {name!r}",
                       actual=f"tool_use {names}" if names else f"no tool_use; text: {_short(message_text(body))!r}")
