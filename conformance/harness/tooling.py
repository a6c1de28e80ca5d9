"""Shared request builders for the tool-calling suites (data comes from datasets/openai/tools.json;
a profile may replace the user prompt, e.g. the reference model needs the call spelled out in its
chat template's syntax before it imitates it)."""

from __future__ import annotations

import copy
from typing import Any

from conformance.harness.datasets import case
from conformance.harness.failures import NotApplicable

TOOLS_FILE = "openai/tools.json"


def tool_request(profile: Any, case_id: str, **extra: Any) -> dict[str, Any]:
    request = copy.deepcopy(case(TOOLS_FILE, case_id).request)
    prompts = profile.setting("tool_prompts", {})
    if case_id in prompts:
        request["messages"][-1]["content"] = prompts[case_id]
    request.update(extra)
    return request


def calls_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    """[{"name", "arguments"}] of a non-stream message."""
    out = []
    for call in message.get("tool_calls") or []:
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict):
            out.append({"name": fn.get("name"), "arguments": fn.get("arguments")})
    return out


def named(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


def responses_tools(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The chat tools of a request in the flat Responses shape."""
    return [{"type": "function", **t["function"]} for t in request["tools"]]


def anthropic_tools(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": t["function"]["name"], "description": t["function"]["description"],
             "input_schema": t["function"]["parameters"]} for t in request["tools"]]


def stop_from(unconstrained: str) -> str:
    """A 3-character stop sequence from the middle of a greedy output, so the same greedy request
    is certain to reach it (the stop checks are relational: output == unconstrained cut before it)."""
    if len(unconstrained) < 8:
        raise NotApplicable(f"unconstrained output too short to place a stop sequence: {unconstrained!r}")
    k = len(unconstrained) // 2
    stop = unconstrained[k:k + 3]
    return stop if stop.strip() else unconstrained[1:4]
