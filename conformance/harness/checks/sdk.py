"""Checks on what the official SDKs rebuilt from the endpoint's responses, and the cross-API
consistency observation."""

from __future__ import annotations

from typing import Any

from conformance.harness.checks import check, fail


@check("OAI-SDK-002")
def openai_stream_accumulation_matches(final_text: Any, deltas_text: str) -> None:
    """The openai SDK's accumulated completion carries the concatenated streamed deltas."""
    if final_text != deltas_text:
        raise fail("SDK-accumulated content differs from the streamed deltas", expected=deltas_text[:200],
                   actual=final_text if not isinstance(final_text, str) else final_text[:200])


@check("ANT-SDK-002")
def anthropic_stream_accumulation_matches(final_text: Any, deltas_text: str) -> None:
    """The anthropic SDK's final message carries the concatenated streamed text deltas."""
    if final_text != deltas_text:
        raise fail("SDK final message text differs from the streamed deltas", expected=deltas_text[:200],
                   actual=final_text if not isinstance(final_text, str) else final_text[:200])


@check("OAI-XAPI-001")
def apis_agree(input_tokens: dict[str, Any], texts: dict[str, str]) -> None:
    """The same greedy prompt through several APIs reports the same input tokens and text."""
    counts = {api: n for api, n in input_tokens.items()}
    if len(set(counts.values())) > 1:
        raise fail("input token accounting differs between APIs", expected="one value", actual=counts)
    if len(set(texts.values())) > 1:
        raise fail("greedy output differs between APIs", expected="one text",
                   actual={api: t[:80] for api, t in texts.items()})
