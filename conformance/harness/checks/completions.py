"""Checks for the legacy OpenAI text completions API (/v1/completions)."""

from __future__ import annotations

from typing import Any

from conformance.harness.checks import check, fail
from conformance.harness.schemas import SchemaSet
from conformance.harness.streams.openai import ChunkStream


@check("OAI-CMPL-001", passive=True)
def text_completion_schema(body: Any, *, schemas: SchemaSet) -> None:
    """A text completion validates against the text_completion schema."""
    schemas.validate(body, "openai/text_completion", what="text_completion")


@check("OAI-CMPL-002", passive=True)
def completion_chunks_match_schema(stream: ChunkStream, *, schemas: SchemaSet) -> None:
    """Every completions chunk validates against the text_completion chunk schema."""
    schemas.validate_all((c.data for c in stream.chunks), "openai/text_completion.chunk", what="completion chunk")


@check("OAI-CMPL-003")
def completion_one_finish_per_choice(stream: ChunkStream, *, n: int = 1) -> None:
    """Each completions choice gets exactly one non-null finish_reason and no text after it."""
    per_choice = stream.by_choice()
    if sorted(per_choice) != list(range(n)):
        raise fail("choice indices in the stream", expected=list(range(n)), actual=sorted(per_choice))
    for index, items in sorted(per_choice.items()):
        finals = [chunk for chunk, c in items if c.get("finish_reason") is not None]
        if len(finals) != 1:
            raise fail(f"choice {index}: number of chunks with a non-null finish_reason", expected=1,
                       actual=len(finals))
        for chunk, c in items:
            if chunk.index > finals[0].index and c.get("text"):
                raise fail(f"choice {index}: text after finish_reason", expected="no text", actual=c.get("text"))


@check("OAI-CMPL-004")
def echo_prefixes_prompt(text: Any, *, prompt: str) -> None:
    """With echo, the returned text starts with the prompt."""
    if not isinstance(text, str) or not text.startswith(prompt):
        raise fail("echo did not return the prompt first", expected=f"text starting with {prompt!r}",
                   actual=text if not isinstance(text, str) else text[: len(prompt) + 40])


@check("OAI-CMPL-005")
def completion_logprobs_shape(choice: Any, *, k: int) -> None:
    """logprobs = {tokens, token_logprobs, top_logprobs, text_offset}: parallel lists, logprobs ≤ 0,
    at most k alternatives per position."""
    lp = choice.get("logprobs") if isinstance(choice, dict) else None
    if not isinstance(lp, dict):
        raise fail("logprobs missing", expected="logprobs object", actual=lp)
    keys = ("tokens", "token_logprobs", "top_logprobs", "text_offset")
    lists = {key: lp.get(key) for key in keys}
    bad = [key for key, value in lists.items() if not isinstance(value, list)]
    if bad:
        raise fail(f"logprobs fields are not lists: {bad}", expected=list(keys), actual=sorted(lp))
    lengths = {key: len(value) for key, value in lists.items()}
    if len(set(lengths.values())) != 1 or not lengths["tokens"]:
        raise fail("logprobs lists are not parallel and non-empty", expected="equal lengths > 0", actual=lengths)
    for i, (token, value, top, offset) in enumerate(zip(*lists.values())):
        if not isinstance(token, str):
            raise fail(f"tokens[{i}]", expected="string", actual=token)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value > 0):
            raise fail(f"token_logprobs[{i}]", expected="number ≤ 0", actual=value)
        if top is not None and (not isinstance(top, dict) or len(top) > k or any(
                not isinstance(v, (int, float)) or v > 0 for v in top.values())):
            raise fail(f"top_logprobs[{i}]", expected=f"≤ {k} alternatives with logprob ≤ 0", actual=top)
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise fail(f"text_offset[{i}]", expected="integer ≥ 0", actual=offset)
