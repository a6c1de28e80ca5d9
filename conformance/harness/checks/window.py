"""Checks on the context window the endpoint states (OAI-CTX-001) and on its tokenizer (OAI-CTX-002)."""

from __future__ import annotations

from typing import Any

from conformance.harness.checks import check, fail


@check("OAI-CTX-001")
def window_sources_agree(sources: list[dict[str, Any]]) -> None:
    """Every source that states the served window states the same number of tokens (a training
    context, ``served: false``, is not a statement of the served window)."""
    served = [s for s in sources if s.get("served", True)]
    values = {int(s["value"]) for s in served}
    if len(values) > 1:
        listing = "; ".join(f"{s['name']} = {s['value']}" for s in served)
        raise fail("the endpoint states different context windows", expected="one value", actual=listing)


@check("OAI-CTX-002")
def tokenizer_count_matches_usage(*, counted: int, billed: Any, tolerance: int = 0) -> None:
    """The endpoint's tokenizer count of a prompt (plus the template's tokens) equals the prompt
    tokens it bills for that prompt."""
    if not isinstance(billed, int) or isinstance(billed, bool):
        raise fail("no integer prompt token count to compare with the tokenizer", expected="an integer",
                   actual=billed)
    if abs(billed - counted) > tolerance:
        raise fail("the tokenizer and the usage disagree on the prompt's size",
                   expected=f"{counted} ± {tolerance} (tokenizer + template)", actual=f"{billed} billed")
