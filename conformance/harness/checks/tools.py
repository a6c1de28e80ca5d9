"""Checks for tool calling and structured output: chat ``tools``/``tool_choice``, streamed tool-call
fragments, ``response_format`` json_object/json_schema, and Responses function_call items.

Declared schemas (a tool's ``parameters``, a ``json_schema.schema``) come from our own request:
they are used as given under JSON Schema Draft 2020-12, and one that is not a valid schema is a
bug of the test (:class:`HarnessError`), never the endpoint's fault.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError as JSONSchemaError

from conformance.harness.checks import check, fail
from conformance.harness.checks.reasoning import THINK_TAG, content_text
from conformance.harness.checks.tool_leak import judge_missing_call, leaked_tool_call
from conformance.harness.exchange import Exchange
from conformance.harness.failures import HarnessError, NotApplicable, UsageError
from conformance.harness.streams.openai import ChunkStream, ReassembledCall
from conformance.harness.streams.responses import (
    FUNCTION_ARGS_DELTA,
    FUNCTION_ARGS_DONE,
    FunctionCallArgs,
    ResponsesStream,
    response_output_text,
)

_MISSING = object()


# --- helpers -------------------------------------------------------------------------------


def _excerpt(value: Any, limit: int = 200) -> Any:
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    return value


def _body_excerpt(ex: Exchange, limit: int = 200) -> str:
    return _excerpt(ex.redacted_body().decode("utf-8", errors="replace"), limit)


def _validator(schema: Any, *, what: str) -> jsonschema.Draft202012Validator:
    """A Draft 2020-12 validator for a schema we declared; an invalid one is our bug."""
    if isinstance(schema, bool):
        return jsonschema.Draft202012Validator(schema)
    if not isinstance(schema, Mapping):
        raise HarnessError(f"{what} is not a JSON Schema object: {schema!r:.200}")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except JSONSchemaError as exc:
        raise HarnessError(f"{what} is not a valid JSON Schema (test bug): {exc.message}") from None
    return jsonschema.Draft202012Validator(schema)


def _declared(tools: Any, *, flat: bool) -> dict[str, jsonschema.Draft202012Validator]:
    """Function name → validator of its ``parameters`` for the request's ``tools``.

    Chat tools are nested (``{"type": "function", "function": {"name", "parameters"}}``),
    Responses tools are flat (``{"type": "function", "name", "parameters"}``); tools of other
    types (built-in tools) are ignored. Omitted ``parameters`` accept any object."""
    if not isinstance(tools, list):
        raise UsageError(f"tools must be the request's tools list, got {type(tools).__name__}")
    out: dict[str, jsonschema.Draft202012Validator] = {}
    for i, tool in enumerate(tools):
        if not isinstance(tool, Mapping) or tool.get("type") != "function":
            continue
        spec = tool if flat else tool.get("function")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            shape = '{"type":"function","name",...}' if flat else '{"type":"function","function":{"name",...}}'
            raise UsageError(f"tools[{i}] is not a function tool of the form {shape}: {tool!r:.200}")
        params = spec.get("parameters", {"type": "object"})
        out[spec["name"]] = _validator(params if params is not None else {"type": "object"},
                                       what=f"tools[{i}] ({spec['name']}) parameters")
    if not out:
        raise UsageError("the request declares no function tool")
    return out


def _path(error: jsonschema.ValidationError) -> str:
    out = "$"
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _schema_errors(validator: jsonschema.Draft202012Validator, instance: Any) -> list[str]:
    errors = sorted(validator.iter_errors(instance), key=lambda e: (_path(e), str(e.validator)))
    return [f"{_path(e)} [{e.validator}] {_excerpt(e.message, 160)}" for e in errors]


def _parse(text: Any) -> tuple[Any, str | None]:
    """(value, None) when ``text`` is a string holding one JSON document, else (None, reason)."""
    if not isinstance(text, str):
        return None, f"not a string but {type(text).__name__}"
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, f"invalid JSON ({exc})"


def _json_values(text: str) -> tuple[list[Any], bool]:
    """The JSON documents written back to back in ``text`` and whether they cover all of it
    (``'{"a":1}{"b":2}'`` → two objects, True)."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos == end:
            return values, True
        try:
            value, pos = decoder.raw_decode(text, pos)
        except ValueError:
            return values, False
        values.append(value)


def _judge_arguments(where: str, name: Any, arguments: Any,
                     declared: Mapping[str, jsonschema.Draft202012Validator]) -> None:
    """A call names a declared function and its arguments are a string holding a JSON object
    valid against that function's parameters."""
    if name not in declared:
        raise fail(f"{where}: function name is not a declared tool", expected=sorted(declared), actual=name)
    if arguments is _MISSING:
        raise fail(f"{where}: arguments missing", expected="a JSON-encoded object string", actual="(absent)")
    if not isinstance(arguments, str):
        raise fail(f"{where}: arguments is not a string holding JSON", expected="a JSON-encoded object string",
                   actual=arguments)
    value, error = _parse(arguments)
    if error is not None:
        raise fail(f"{where}: arguments is not valid JSON", expected="a JSON object",
                   actual=f"{_excerpt(arguments)!r}: {error}")
    if not isinstance(value, dict):
        raise fail(f"{where}: arguments is JSON but not an object", expected="a JSON object",
                   actual=f"{type(value).__name__}: {_excerpt(arguments)}")
    errors = _schema_errors(declared[name], value)
    if errors:
        raise fail(f"{where}: arguments violate the parameters of {name} ({len(errors)} error(s))",
                   expected=f"valid against {name}.parameters", actual=errors[:8], details=errors)


def _name_args(call: Any) -> tuple[Any, Any]:
    """(name, arguments) of a call given as ``{"name", "arguments"}``, as a chat message tool call
    ``{"function": {...}}``, or as a :class:`ReassembledCall`."""
    if isinstance(call, ReassembledCall):
        return call.name, call.arguments
    if isinstance(call, Mapping):
        function = call.get("function")
        if isinstance(function, Mapping):
            return function.get("name"), function.get("arguments")
        return call.get("name"), call.get("arguments")
    return None, None


def _named_choice(tool_choice: Any) -> str | None:
    """The function named by a tool_choice (chat ``{"type":"function","function":{"name"}}``, or
    the flat Responses form), else None."""
    if not isinstance(tool_choice, Mapping) or tool_choice.get("type") != "function":
        return None
    function = tool_choice.get("function")
    name = function.get("name") if isinstance(function, Mapping) else tool_choice.get("name")
    return name if isinstance(name, str) else None


# --- chat completions: tool calls ----------------------------------------------------------


@check("OAI-TOOLS-001")
def tool_calls_valid(message: Any, *, tools: list[dict[str, Any]], tool_choice: Any = "auto") -> None:
    """Every tool call of a non-stream message has a non-empty id, type function, a declared
    function name and arguments: a string holding a JSON object valid against the tool's
    parameters.

    A message without tool calls is judged by its content (:func:`judge_missing_call`): the call
    written as text in content fails (the endpoint did not parse its model's call), so does an
    empty answer; prose is not applicable under tool_choice auto (the model chose not to call)."""
    declared = _declared(tools, flat=False)
    if not isinstance(message, Mapping):
        raise fail("no message object", expected="choices[i].message", actual=message)
    calls = message.get("tool_calls")
    if calls is None or calls == []:
        judge_missing_call("OAI-TOOLS-001", "content", content_text(dict(message)), declared, tool_choice=tool_choice)
    if not isinstance(calls, list):
        raise fail("tool_calls is not a list", expected="list of tool calls", actual=calls)
    for i, call in enumerate(calls):
        where = f"tool_calls[{i}]"
        if not isinstance(call, Mapping):
            raise fail(f"{where} is not an object", expected="tool call object", actual=call)
        if not isinstance(call.get("id"), str) or not call["id"]:
            raise fail(f"{where}: id missing or empty", expected="non-empty string id",
                       actual=call.get("id", "(absent)"))
        if call.get("type") != "function":
            raise fail(f"{where}: type is not function", expected="function", actual=call.get("type", "(absent)"))
        function = call.get("function")
        if not isinstance(function, Mapping):
            raise fail(f"{where}: function is not an object", expected='{"name", "arguments"}', actual=function)
        _judge_arguments(where, function.get("name"), function.get("arguments", _MISSING), declared)


@check("OAI-TOOLS-002")
def streamed_tool_calls_well_formed(stream: ChunkStream, *, tools: list[dict[str, Any]],
                                    tool_choice: Any = "auto") -> None:
    """Streamed tool calls: the first fragment of each call carries id, type and the full name;
    the name is not sent again; indices are 0, 1, ... in call order; each call keeps one id; the
    concatenated arguments are a JSON object valid against the declared parameters.

    When the choice finished with ``length``, the last call may be cut: its arguments are not
    judged here (OAI-TOOLS-004 judges the cut). A stream without tool-call fragments is judged by
    its concatenated content, as in :func:`tool_calls_valid`."""
    declared = _declared(tools, flat=False)
    loose = stream.tool_call_problems()
    if loose:
        raise fail("malformed tool_calls fragments", expected="objects with an integer index",
                   actual=loose[:3], details=loose)
    calls = stream.tool_calls()
    if not calls:
        judge_missing_call("OAI-TOOLS-002", "the streamed content", stream.text(), declared, tool_choice=tool_choice)
    indices = [c.index for c in calls]
    if indices != list(range(len(calls))):
        raise fail("tool_calls indices are not contiguous from 0 in call order",
                   expected=list(range(len(calls))), actual=indices)
    finish = stream.finish_reasons()
    cut = bool(finish) and finish[-1] == "length"
    for call in calls:
        where = f"call at index {call.index}"
        if call.problems:
            raise fail(f"{where}: malformed fragments", expected="string id/type/name/arguments",
                       actual=list(call.problems[:3]), details=list(call.problems))
        missing = [k for k in ("id", "type", "name") if k not in call.first_fragment_keys]
        if missing:
            raise fail(f"{where}: first fragment (chunk {call.first_chunk}) lacks {', '.join(missing)}",
                       expected="id, type and function.name on the first fragment",
                       actual=sorted(call.first_fragment_keys))
        if call.name_fragments > 1:
            parts = list(call.name_parts)
            kind = "repeated in" if all(p == parts[0] for p in parts) else "split across"
            raise fail(f"{where}: function name {kind} {call.name_fragments} fragments "
                       f"(an SDK accumulates {call.name!r})",
                       expected="the full name once, on the first fragment", actual=parts[:6])
        if len(call.ids) > 1:
            raise fail(f"{where}: id changes between fragments", expected=call.ids[0], actual=list(call.ids))
        if call.type != "function":
            raise fail(f"{where}: type is not function", expected="function", actual=call.type)
        if cut and call is calls[-1]:
            continue
        _judge_arguments(where, call.name, call.arguments, declared)


@check("OAI-TOOLS-003")
def parallel_calls_distinct(stream: ChunkStream, *, tools: list[dict[str, Any]] | None = None) -> None:
    """Several streamed calls each have their own index and id, and each call's fragments
    reassemble into its own JSON object (no calls merged at index 0). When the choice finished
    with ``length``, the last call may be cut and its arguments are not judged here.

    Fewer than two calls: a call written as text in the streamed content fails (the endpoint did
    not parse it; ``tools`` names the declared functions for bare-JSON calls), an empty answer
    without any call fails, otherwise it is not applicable, quoting the content."""
    calls = stream.tool_calls()
    for call in calls:
        values, whole = _json_values(call.arguments)
        if len(call.ids) > 1 or (whole and len(values) > 1):
            raise fail(f"several calls merged at index {call.index}",
                       expected="one index per call",
                       actual={"ids": list(call.ids), "name": call.name, "arguments": _excerpt(call.arguments)})
    if len(calls) < 2:
        declared = _declared(tools, flat=False) if tools is not None else {}
        if not calls:
            judge_missing_call("OAI-TOOLS-003", "the streamed content", stream.text(), declared)
        leak = leaked_tool_call(stream.text(), declared)
        if leak is not None:
            raise fail(f"one structured call ({calls[0].name}), but the streamed content carries another call as "
                       "text: the endpoint did not parse its model's tool call", expected="each call in tool_calls",
                       actual=leak.describe())
        raise NotApplicable(f"OAI-TOOLS-003: the model made one tool call ({calls[0].name}); parallel calls need "
                            f"at least 2 (content: {_excerpt(stream.text(), 120)!r})")
    ids = [c.id for c in calls]
    if any(not i for i in ids):
        raise fail("a parallel call has no id", expected="a non-empty id per call",
                   actual={c.index: c.id for c in calls})
    if len(set(ids)) != len(ids):
        raise fail("parallel calls share an id", expected="distinct ids", actual=ids)
    finish = stream.finish_reasons()
    cut = bool(finish) and finish[-1] == "length"
    for call in calls:
        if cut and call is calls[-1]:
            continue  # cut by max_tokens: judged by OAI-TOOLS-004, not a merge
        value, error = _parse(call.arguments)
        if error is not None or not isinstance(value, dict):
            raise fail(f"call at index {call.index}: arguments do not reassemble into a JSON object",
                       expected="a JSON object per call",
                       actual=f"{_excerpt(call.arguments)!r}: {error or type(value).__name__}")


# The finish_reason / tool_choice oracle (OAI-TOOLS-004). One row per situation, first match wins:
#
#   calls in the turn            | tool_choice      | allowed finish_reason
#   -----------------------------+------------------+------------------------------------------------
#   none                         | any              | anything but "tool_calls" (vLLM #53255: "tool_calls"
#                                |                  |   with an empty list)
#   ≥1, some arguments not JSON  | any              | "length" (the call was cut by max_tokens)
#   ≥1, all arguments JSON       | names a function | "tool_calls" or "stop" (OpenAI itself answers a
#                                |                  |   named tool_choice with "stop")
#   ≥1, all arguments JSON       | other / absent   | "tool_calls"
_NO_CALLS_FORBIDDEN = "tool_calls"
_CUT_ALLOWED = ("length",)
_NAMED_ALLOWED = ("tool_calls", "stop")
_COMPLETE_ALLOWED = ("tool_calls",)


@check("OAI-TOOLS-004")
def finish_reason_matches_tool_calls(
    finish_reason: Any, calls: list[Any] | None, *, tool_choice: Any = None, hit_max_tokens: bool = False
) -> None:
    """finish_reason agrees with the calls of the turn and the tool_choice (see the table above).
    ``calls`` holds ``{"name", "arguments"}`` dicts (or message tool calls / reassembled calls).
    ``hit_max_tokens``: usage shows completion_tokens == max_tokens, so "length" is the truth even
    after complete calls (generation went on past them and was cut)."""
    raw, calls = calls, list(calls or [])
    if finish_reason == "length" and hit_max_tokens:
        return
    if not calls:
        if finish_reason == _NO_CALLS_FORBIDDEN:
            raise fail('finish_reason "tool_calls" without any tool call', expected="stop or length (no call made)",
                       actual={"finish_reason": finish_reason, "tool_calls": raw})
        return
    summary = [{"name": n, "arguments": _excerpt(a, 80)} for n, a in map(_name_args, calls)]
    unparsed = [i for i, (_, args) in enumerate(map(_name_args, calls)) if _parse(args)[1] is not None]
    if unparsed:
        if finish_reason not in _CUT_ALLOWED:
            raise fail(f"tool call(s) {unparsed} with unparsable (cut) arguments but finish_reason "
                       f"{finish_reason!r}", expected="length", actual={"finish_reason": finish_reason,
                                                                         "calls": summary})
        return
    named = _named_choice(tool_choice)
    allowed = _NAMED_ALLOWED if named is not None else _COMPLETE_ALLOWED
    if finish_reason not in allowed:
        choice = f"named tool_choice {named!r}" if named is not None else f"tool_choice {tool_choice!r}"
        raise fail(f"finish_reason {finish_reason!r} despite {len(calls)} complete tool call(s) ({choice})",
                   expected=" or ".join(allowed), actual={"finish_reason": finish_reason, "calls": summary})


@check("OAI-TOOLS-005")
def no_tool_calls(message: Any) -> None:
    """With tool_choice none the message carries no tool call (tool_calls absent, null or [];
    no legacy function_call either)."""
    if not isinstance(message, Mapping):
        raise fail("no message object", expected="choices[i].message", actual=message)
    calls = message.get("tool_calls")
    if calls not in (None, []):
        raise fail("tool call(s) made although tool_choice was none", expected="no tool_calls (absent, null or [])",
                   actual=calls)
    legacy = message.get("function_call")
    if legacy not in (None, {}):
        raise fail("legacy function_call made although tool_choice was none", expected="function_call null",
                   actual=legacy)


@check("OAI-TOOLS-006")
def forced_call_present(calls: list[Any] | None, *, tool_choice: Any, content: Any = None,
                        tool_names: list[str] | None = None) -> None:
    """tool_choice "required" yields at least one call; a named function yields a call to that
    function (and no call to any other: "call exactly one specific function"). ``content`` (the
    message content) is quoted when the call is missing, saying when it carries the call as text
    (``tool_names``: the declared functions, for bare-JSON calls)."""
    calls = list(calls or [])
    names = [_name_args(c)[0] for c in calls]
    named = _named_choice(tool_choice)
    leak = leaked_tool_call(content, tool_names or ([named] if named else []))
    hint = " (content carries the call as text: the endpoint did not parse it)" if leak else ""
    shown = leak.describe() if leak else {"tool_calls": names, "content": _excerpt(content, 120)}
    if tool_choice == "required":
        if not calls:
            raise fail(f'no tool call although tool_choice was "required"{hint}', expected="at least one tool call",
                       actual=shown)
        return
    if named is None:
        raise UsageError(f'forced_call_present needs tool_choice "required" or a named function, got {tool_choice!r}')
    if named not in names:
        raise fail(f"no call to the function named by tool_choice ({named}){hint}", expected=f"a call to {named}",
                   actual=shown)
    others = [n for n in names if n != named]
    if others:
        raise fail(f"calls to other functions although tool_choice named {named}", expected=[named],
                   actual=names)


@check("OAI-TOOLS-007")
def tool_round_trip_answered(ex: Exchange) -> None:
    """A conversation ending in assistant tool_calls + the matching tool message is accepted
    (2xx) and answered by a chat.completion whose first choice is an assistant message with
    string content or tool calls."""
    if ex.status is None or not 200 <= ex.status < 300:
        raise fail("tool result round trip not accepted", expected="2xx", actual=f"{ex.status} {_body_excerpt(ex)}")
    body = ex.json_or_none()
    if not isinstance(body, dict) or body.get("object") != "chat.completion":
        raise fail("tool result round trip not answered by a chat.completion", expected='{"object": "chat.completion"}',
                   actual=_body_excerpt(ex))
    choices = body.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(message, dict) or message.get("role") != "assistant":
        raise fail("no assistant message in the answer to a tool result", expected={"role": "assistant"},
                   actual=message if first is not None else choices)
    if not isinstance(message.get("content"), str) and not message.get("tool_calls"):
        raise fail("answer to a tool result has neither content nor tool calls",
                   expected="content string or tool_calls", actual=message)


@check("OAI-TOOLS-008")
def undeclared_tool_choice_rejected(ex: Exchange) -> None:
    """A named tool_choice whose function is not declared is rejected with 4xx (2xx: the name was
    ignored; 5xx: the server broke on it)."""
    if ex.status is None or not 400 <= ex.status < 500:
        kind = "accepted" if ex.status is not None and ex.status < 400 else "server error for"
        raise fail(f"{kind} a tool_choice naming an undeclared function", expected="4xx",
                   actual=f"{ex.status} {_body_excerpt(ex)}")


# --- structured output ---------------------------------------------------------------------


_LITERALS = ("true", "false", "null")
_STRUCTURAL = set("{}[],:")


def json_prefix_error(text: str, *, top_object: bool = False) -> str | None:
    """None when ``text`` is a prefix of some JSON document (what a generation cut by the token
    limit leaves), else why not. Judged: the JSON grammar up to the cut (structure, string
    escapes, number and literal spelling, keys being strings, nothing after a complete
    document), and with ``top_object`` that the document is an object. Not judged: whether the
    finished document would have matched a schema (it does not exist)."""
    stack: list[str] = []
    # expect: value | key_or_close | key | colon | comma_or_close | done | value_or_close
    expect = "value"
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        at = f"character {i} ({text[max(0, i - 20):i + 20]!r})"
        if expect == "done":
            return f"text after the complete JSON document at {at}"
        if expect in ("value", "value_or_close"):
            if expect == "value_or_close" and ch == "]":
                stack.pop()
                expect = "comma_or_close" if stack else "done"
                i += 1
                continue
            if top_object and not stack and ch != "{":  # the first value of the document
                return f"the output does not start with a JSON object but with {text[i:i + 40]!r}"
            if ch in "{[":
                stack.append(ch)
                expect = "key_or_close" if ch == "{" else "value_or_close"
                i += 1
                continue
            if ch == '"':
                end, error = _scan_string(text, i)
                if error:
                    return f"{error} at {at}"
                if end is None:
                    return None  # cut inside a string
                i = end
                expect = "comma_or_close" if stack else "done"
                continue
            if ch in "-0123456789":
                j = i
                while j < n and text[j] in "+-0123456789.eE":
                    j += 1
                token = text[i:j]
                if not _number_ok(token, complete=j < n):
                    return f"malformed number {token!r} at {at}"
                i = j
                expect = "comma_or_close" if stack else "done"
                continue
            literal = next((lit for lit in _LITERALS if lit.startswith(text[i:i + len(lit)]) and text[i] == lit[0]),
                           None)
            if literal is not None:
                piece = text[i:i + len(literal)]
                if piece != literal:
                    return None if i + len(piece) == n else f"malformed literal at {at}"
                i += len(literal)
                expect = "comma_or_close" if stack else "done"
                continue
            return f"not JSON: expected a value at {at}"
        if expect in ("key_or_close", "key"):
            if expect == "key_or_close" and ch == "}":
                stack.pop()
                expect = "comma_or_close" if stack else "done"
                i += 1
                continue
            if ch != '"':
                return f"expected a string key at {at}"
            end, error = _scan_string(text, i)
            if error:
                return f"{error} at {at}"
            if end is None:
                return None
            i = end
            expect = "colon"
            continue
        if expect == "colon":
            if ch != ":":
                return f"expected ':' at {at}"
            expect = "value"
            i += 1
            continue
        # comma_or_close
        closer = "}" if stack[-1] == "{" else "]"
        if ch == ",":
            expect = "key" if stack[-1] == "{" else "value"
            i += 1
            continue
        if ch == closer:
            stack.pop()
            expect = "comma_or_close" if stack else "done"
            i += 1
            continue
        return f"expected ',' or {closer!r} at {at}"
    return None


def _scan_string(text: str, start: int) -> tuple[int | None, str | None]:
    """(index after the closing quote, None), (None, None) when the text ends inside the string,
    or (None, reason) for an invalid escape or control character."""
    i, n = start + 1, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            return i + 1, None
        if ch == "\\":
            if i + 1 >= n:
                return None, None
            esc = text[i + 1]
            if esc == "u":
                digits = text[i + 2:i + 6]
                if any(c not in "0123456789abcdefABCDEF" for c in digits):
                    return None, f"invalid \\u escape {text[i:i + 6]!r}"
                if len(digits) < 4:
                    return None, None
                i += 6
                continue
            if esc not in '"\\/bfnrt':
                return None, f"invalid escape {text[i:i + 2]!r}"
            i += 2
            continue
        if ord(ch) < 0x20:
            return None, f"unescaped control character {ch!r} in a string"
        i += 1
    return None, None


def _number_ok(token: str, *, complete: bool) -> bool:
    def number(t: str) -> bool:
        try:
            value = json.loads(t)
        except ValueError:
            return False
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return number(token) if complete else (number(token) or number(token + "0"))


def _judge_structured(requirement: str, what: str, text: Any, cut: bool,
                      validator: jsonschema.Draft202012Validator | None, *, top_object: bool) -> None:
    """Judge structured output as it came back: reasoning leaked as ``<think>`` fails; a cut
    output (``cut``) must be a JSON prefix (blank: not applicable, nothing was generated before
    the cut); a finished one must parse and validate."""
    if isinstance(text, str):
        leak = THINK_TAG.search(text)
        if leak:
            raise fail(f"{leak.group(0)} tag in {what} at character {leak.start()}: reasoning leaked into the "
                       "structured output", expected="JSON only (reasoning in its own field)",
                       actual=_excerpt(text[max(0, leak.start() - 40):], 200))
    if cut:
        if not isinstance(text, str):
            raise fail(f"{what} is not a string", expected="JSON text", actual=text)
        if not text.strip():
            raise NotApplicable(f"{requirement}: the output was cut by the token limit before any {what} "
                                f"was generated ({what} {text!r})")
        error = json_prefix_error(text, top_object=top_object)
        if error is not None:
            raise fail(f"{what} cut by the token limit is not the beginning of a JSON document: {error}",
                       expected="a prefix of a JSON " + ("object" if top_object else "document"),
                       actual=_excerpt(text))
        return
    _judge_document(what, text, validator)


def _judge_document(what: str, text: Any, validator: jsonschema.Draft202012Validator | None) -> None:
    if not isinstance(text, str):
        raise fail(f"{what} is not a string", expected="JSON text", actual=text)
    value, error = _parse(text)
    if error is not None:
        raise fail(f"{what} is not valid JSON", expected="a JSON document", actual=f"{_excerpt(text)!r}: {error}")
    if validator is None:
        if not isinstance(value, dict):
            raise fail(f"{what} is JSON but not an object", expected="a JSON object",
                       actual=f"{type(value).__name__}: {_excerpt(text)}")
        return
    errors = _schema_errors(validator, value)
    if errors:
        raise fail(f"{what} violates the requested schema ({len(errors)} error(s)): the constraint was ignored",
                   expected="valid against response_format schema", actual=errors[:8], details=errors)


def _cut_by_limit(requirement: str, finish_reason: Any) -> bool:
    """Whether the chat output was cut (finish_reason length); content_filter is not applicable
    (the provider withheld the output); any other finish_reason is judged as a finished output."""
    if finish_reason == "content_filter":
        raise NotApplicable(f"{requirement}: the output was withheld by a content filter "
                            "(finish_reason content_filter)")
    return finish_reason == "length"


def _schema_wants_object(schema: Any) -> bool:
    return isinstance(schema, Mapping) and schema.get("type") == "object"


@check("OAI-JSON-001")
def json_object_content(content: Any, finish_reason: Any) -> None:
    """With response_format json_object, content is a JSON object: finished (any finish_reason
    but length) it parses as one; cut by max_tokens (length) it is the beginning of one (prose,
    even cut, fails). ``<think>`` in content fails. content_filter is not applicable."""
    cut = _cut_by_limit("OAI-JSON-001", finish_reason)
    _judge_structured("OAI-JSON-001", "content", content, cut, None, top_object=True)


@check("OAI-JSON-002")
def json_schema_content(content: Any, finish_reason: Any, *, schema: Any) -> None:
    """With response_format json_schema, content (concatenated when streamed) that finished
    parses and validates against the schema; cut by max_tokens (length) it is a JSON prefix (an
    object's beginning when the schema's type is object; the schema itself cannot be judged on a
    fragment). Prose fails, so does ``<think>`` in content. content_filter is not applicable."""
    validator = _validator(schema, what="response_format json_schema.schema")
    cut = _cut_by_limit("OAI-JSON-002", finish_reason)
    _judge_structured("OAI-JSON-002", "content", content, cut, validator, top_object=_schema_wants_object(schema))


@check("OAI-JSON-003")
def responses_json_schema_output(response: Any, *, schema: Any) -> None:
    """With text.format json_schema, a completed response's output text (every output_text of
    its message items, concatenated) parses and validates against the schema; an incomplete one
    (incomplete_details.reason max_output_tokens) is a JSON prefix. Prose fails, so does
    ``<think>`` in the text. Not applicable: a refusal (refusal part, no output_text) and
    incomplete_details.reason content_filter. Any other status (failed, cancelled, in_progress
    in a final response) fails: there is no output to judge."""
    validator = _validator(schema, what="text.format schema")
    if not isinstance(response, Mapping):
        raise fail("no response object", expected="response object", actual=response)
    status = response.get("status")
    details = response.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, Mapping) else None
    if status == "incomplete" and reason == "content_filter":
        raise NotApplicable("OAI-JSON-003: the output was withheld by a content filter "
                            "(incomplete_details.reason content_filter)")
    if status not in ("completed", "incomplete"):
        raise fail(f"response status {status!r}: no structured output to judge",
                   expected="status completed (or incomplete at max_output_tokens)",
                   actual={"status": status, "error": response.get("error")})
    text = response_output_text(response)
    if text is None:
        raise fail(f"{status} response without an output list", expected="output[]", actual=response.get("output"))
    if text == "" and _has_refusal(response):
        raise NotApplicable("OAI-JSON-003: the model refused (refusal content part, no output_text)")
    _judge_structured("OAI-JSON-003", "output_text", text, status == "incomplete", validator,
                      top_object=_schema_wants_object(schema))


def _has_refusal(response: Mapping[str, Any]) -> bool:
    for item in response.get("output") or []:
        if isinstance(item, Mapping) and item.get("type") == "message":
            for part in item.get("content") or []:
                if isinstance(part, Mapping) and part.get("type") == "refusal":
                    return True
    return False


@check("OAI-JSON-004")
def invalid_schema_rejected(ex: Exchange) -> None:
    """A response_format whose schema is not a valid JSON Schema is rejected with 4xx."""
    if ex.status is None or not 400 <= ex.status < 500:
        kind = "accepted" if ex.status is not None and ex.status < 400 else "server error for"
        raise fail(f"{kind} an invalid JSON schema", expected="4xx", actual=f"{ex.status} {_body_excerpt(ex)}")


# --- Responses: function calls -------------------------------------------------------------


@check("OAI-RTOOLS-001")
def function_call_items_valid(response: Any, *, tools: list[dict[str, Any]], tool_choice: Any = "auto") -> None:
    """Every function_call output item carries call_id, a declared name and arguments holding a
    JSON object valid against the tool's parameters. A response without function_call items is
    judged by its output text (:func:`judge_missing_call`: a call written as text fails, an empty
    answer fails, prose under tool_choice auto is not applicable)."""
    declared = _declared(tools, flat=True)
    output = response.get("output") if isinstance(response, Mapping) else None
    if not isinstance(output, list):
        raise fail("response without an output list", expected="output[]", actual=response)
    items = [(i, item) for i, item in enumerate(output) if isinstance(item, Mapping)
             and item.get("type") == "function_call"]
    if not items:
        types = [i.get("type") if isinstance(i, Mapping) else i for i in output]
        judge_missing_call("OAI-RTOOLS-001", f"output_text (output item types {types})",
                           response_output_text(response), declared, tool_choice=tool_choice)
    for i, item in items:
        where = f"output[{i}] function_call"
        if not isinstance(item.get("call_id"), str) or not item["call_id"]:
            raise fail(f"{where}: call_id missing or empty", expected="non-empty string call_id",
                       actual=item.get("call_id", "(absent)"))
        _judge_arguments(where, item.get("name"), item.get("arguments", _MISSING), declared)


def _done_events(stream: ResponsesStream, call: FunctionCallArgs) -> int:
    count = 0
    for event in stream.of_type(FUNCTION_ARGS_DONE):
        if call.item_id is not None and event.item_id is not None:
            count += event.item_id == call.item_id
        elif event.output_index is not None:
            count += event.output_index == call.output_index
    return count


@check("OAI-RTOOLS-002")
def function_call_arguments_streamed(stream: ResponsesStream, *, tools: list[dict[str, Any]] | None = None,
                                     tool_choice: Any = "auto") -> None:
    """Each streamed function_call has ≥1 function_call_arguments.delta and exactly one
    function_call_arguments.done whose arguments equal their concatenation and parse as a JSON
    object. A stream without function_call items is judged by its text (the output_text deltas,
    else the final response's output text), as in :func:`function_call_items_valid`; ``tools``
    (flat Responses tools) names the declared functions for bare-JSON calls."""
    calls = stream.function_calls()
    if not calls:
        final = [i for i in stream.final_output_items() if isinstance(i, Mapping) and i.get("type") == "function_call"]
        if final:
            raise fail("function_call in the final response was never streamed",
                       expected=f"{FUNCTION_ARGS_DELTA} events", actual=_excerpt(json.dumps(final[0]), 200))
        declared = _declared(tools, flat=True) if tools is not None else {}
        text = stream.text() or response_output_text(stream.final_response() or {}) or ""
        judge_missing_call("OAI-RTOOLS-002", "the streamed output_text", text, declared, tool_choice=tool_choice)
    for call in calls:
        where = f"function_call item {call.item_id or call.output_index}" + (f" ({call.name})" if call.name else "")
        if not call.deltas:
            raise fail(f"{where}: no {FUNCTION_ARGS_DELTA}", expected=f"≥1 {FUNCTION_ARGS_DELTA}", actual=0)
        dones = _done_events(stream, call)
        if dones != 1:
            raise fail(f"{where}: {FUNCTION_ARGS_DONE} events", expected=1,
                       actual=f"{dones} (after {len(call.deltas)} delta(s))")
        if call.done != call.text:
            raise fail(f"{where}: {FUNCTION_ARGS_DONE} arguments differ from the concatenated deltas",
                       expected=_excerpt(call.text), actual=_excerpt(call.done))
        value, error = _parse(call.done)
        if error is not None or not isinstance(value, dict):
            raise fail(f"{where}: streamed arguments are not a JSON object", expected="a JSON object",
                       actual=f"{_excerpt(call.done)!r}: {error or type(value).__name__}")


@check("OAI-RTOOLS-003")
def function_call_output_answered(ex: Exchange) -> None:
    """Input with a function_call and its function_call_output is accepted (2xx) and answered by
    a response object with status completed or incomplete."""
    if ex.status is None or not 200 <= ex.status < 300:
        raise fail("function_call_output round trip not accepted", expected="2xx",
                   actual=f"{ex.status} {_body_excerpt(ex)}")
    body = ex.json_or_none()
    if not isinstance(body, dict) or body.get("object") != "response":
        raise fail("function_call_output round trip not answered by a response object",
                   expected='{"object": "response"}', actual=_body_excerpt(ex))
    if body.get("status") not in ("completed", "incomplete"):
        raise fail("function_call_output round trip not answered", expected="status completed or incomplete",
                   actual={"status": body.get("status"), "error": body.get("error")})
