"""Detector for a tool call that reached the client as text instead of a structured call.

When an endpoint's tool parser is off, misconfigured or broken (a common NIM/vLLM
misconfiguration: ``--enable-auto-tool-choice`` without the model's ``--tool-call-parser``), the
model's call comes back in ``content`` (chat), in an ``output_text`` (Responses) or in a text
block (Anthropic) in the model's own call syntax, and no structured call is returned. A suite that
skips "because the model did not call" then passes such an endpoint. This module recognises the
call syntaxes of the common open-model families so the tool checks can fail instead:

=====================  ==========================================================================
syntax                 looks like
=====================  ==========================================================================
``xml``                Nemotron 3 / qwen3_coder: ``<tool_call><function=NAME><parameter=…>``, or
                       ``<function=NAME>`` alone (also Llama 3.1's ``<function=NAME>{…}</function>``)
``hermes``             Hermes / Qwen 2.5 / many others: ``<tool_call>{"name": …}</tool_call>``
``tool_call tag``      any other ``<tool_call>`` / ``<|tool_call>`` / ``<tool_calls>`` opening tag
``python_tag``         Llama 3.x: ``<|python_tag|>``
``mistral``            Mistral: ``[TOOL_CALLS]``
``deepseek``           DeepSeek V3/R1: ``<｜tool▁calls▁begin｜>`` / ``<｜tool▁call▁begin｜>``
``kimi``               Kimi K2: ``<|tool_calls_section_begin|>`` / ``<|tool_call_begin|>``
``json``               a bare JSON object ``{"name": <declared tool>, "arguments"|"parameters": …}``
                       (also ``{"type": "function", "function": {"name": …}}``), alone or in a list
=====================  ==========================================================================

A bare JSON object counts only when it names one of the declared tools (prose that merely
mentions a tool by name never counts). The detector is a pure function; its good and bad cases
are in ``tests/fixtures/tool_leak.json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from conformance.harness.checks import fail
from conformance.harness.failures import NotApplicable

_MARKUP: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("xml", re.compile(r"<\s*function\s*=\s*([A-Za-z_][\w.\-]*)\s*>")),
    ("python_tag", re.compile(r"<\|python_tag\|>")),
    ("mistral", re.compile(r"\[TOOL_CALLS\]")),
    ("deepseek", re.compile(r"<｜tool▁calls?▁begin｜>")),
    ("kimi", re.compile(r"<\|tool_calls?_(?:section_)?begin\|>")),
    ("tool_call tag", re.compile(r"<\|?\s*tool_calls?\s*\|?>", re.IGNORECASE)),
)
_NAME_IN_JSON = re.compile(r'"name"\s*:\s*"([^"\\]{1,200})"')


@dataclass(frozen=True, slots=True)
class LeakedCall:
    """A tool call found in text: its syntax, the function it names (when readable), where it
    starts and an excerpt around it."""

    syntax: str
    name: str | None
    at: int
    excerpt: str

    def describe(self) -> str:
        named = f" calling {self.name!r}" if self.name else ""
        return f"{self.syntax} tool-call markup{named} at character {self.at}: {self.excerpt!r}"


def _excerpt(text: str, start: int, limit: int = 160) -> str:
    begin = max(0, start - 20)
    end = min(len(text), begin + limit)
    return ("…" if begin else "") + text[begin:end] + ("…" if end < len(text) else "")


def _call_name(value: Any, declared: frozenset[str]) -> str | None:
    """The declared tool a JSON value calls: ``{"name", "arguments"|"parameters"}`` or
    ``{"type": "function", "function": {"name", ...}}``."""
    if not isinstance(value, dict):
        return None
    function = value.get("function")
    if isinstance(function, dict) and function.get("name") in declared:
        return function["name"]
    if value.get("name") in declared and ("arguments" in value or "parameters" in value):
        return value["name"]
    return None


def _json_call(text: str, declared: frozenset[str]) -> LeakedCall | None:
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        name = _call_name(value, declared)
        if name is not None:
            return LeakedCall("json", name, match.start(), _excerpt(text, match.start()))
    return None


def leaked_tool_call(text: Any, tool_names: Iterable[str] = ()) -> LeakedCall | None:
    """The first tool call written as text in ``text`` (see the module table), or None.

    ``tool_names``: the declared function names (a bare JSON object counts only when it names
    one of them; markup counts whatever it names). Non-string ``text`` (None, a list) is None."""
    if not isinstance(text, str) or not text:
        return None
    declared = frozenset(n for n in tool_names if isinstance(n, str))
    found: list[LeakedCall] = []
    for syntax, pattern in _MARKUP:
        match = pattern.search(text)
        if match is None:
            continue
        name = match.group(1) if syntax == "xml" else None
        if syntax == "tool_call tag":
            tail = text[match.end():match.end() + 400]
            inner = re.search(r"<\s*function\s*=\s*([A-Za-z_][\w.\-]*)\s*>", tail)
            if inner:
                syntax, name = "xml", inner.group(1)
            else:
                named = _NAME_IN_JSON.search(tail)
                if named:
                    syntax, name = "hermes", named.group(1)
        elif name is None:
            named = _NAME_IN_JSON.search(text[match.end():match.end() + 400])
            name = named.group(1) if named else None
        found.append(LeakedCall(syntax, name, match.start(), _excerpt(text, match.start())))
    if found:
        return min(found, key=lambda leak: leak.at)
    return _json_call(text, declared) if declared else None


def _is_auto(tool_choice: Any) -> bool:
    return tool_choice in (None, "auto") or (isinstance(tool_choice, dict) and tool_choice.get("type") == "auto")


def judge_missing_call(requirement: str, where: str, text: Any, tool_names: Iterable[str], *,
                       tool_choice: Any = "auto") -> None:
    """Called by a tool check when the answer carries no structured call: never returns.

    * the text carries a call (:func:`leaked_tool_call`) → failure: the endpoint did not parse its
      own model's call;
    * the text is blank → failure: the answer carries neither a call nor text, so there is no
      evidence that the model chose not to call (a parser that swallows the call looks like this);
    * prose under tool_choice auto → :class:`NotApplicable` quoting it: the model chose not to call;
    * prose under any other tool_choice → failure (the call was forced).

    ``where`` names the text's place ("content", "output_text", "text blocks"). Raised failures
    carry no requirement: the calling check's decorator stamps its own."""
    names = sorted(n for n in tool_names if isinstance(n, str))
    leak = leaked_tool_call(text, names)
    if leak is not None:
        raise fail(f"no structured tool call, but {where} carries the call as text: the endpoint did not parse "
                   f"its model's tool call (tool parser off or broken?)",
                   expected="the call in the API's tool-call field", actual=leak.describe())
    if not isinstance(text, str) or not text.strip():
        raise fail(f"the answer carries neither a tool call nor any text in {where}: no evidence that the model "
                   "chose not to call", expected="a tool call, or text declining to call",
                   actual=text if text is None else repr(text))
    if not _is_auto(tool_choice):
        raise fail(f"no tool call although tool_choice {tool_choice!r} forces one", expected="a tool call",
                   actual=f"{where}: {_excerpt(text, 0)!r}")
    raise NotApplicable(f"{requirement}: the model chose not to call a tool (tool_choice auto; {where}: "
                        f"{_excerpt(text, 0)!r})")
