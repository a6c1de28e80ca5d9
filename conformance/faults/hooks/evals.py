"""Fault hook for the accuracy evals (issue 11 §7): a *planted regression*. A deterministic share
of answers is corrupted (the share is chosen by a hash of the prompt, so a rerun corrupts the same
items, like a real regression would): the response stays well-formed (status, schema, usage), only
its text changes, so no conformance check can see it and only the paired accuracy gate can
(requirement OAI-EVAL-003).

Corruption: every digit d becomes (d + 1) mod 10 and every letter changes case (a lookup value
or a capitalised copy becomes wrong); a text with neither gets a ``#`` in front. Non-streamed
chat (``message.content``) and text completions (``choices[].text``) only: the eval runner
does not stream.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from conformance.faults.model import FaultContext, Response

#: The share of prompts whose answers are corrupted.
SHARE = 0.2


def corrupts(key: str, share: float = SHARE) -> bool:
    """Whether the answer to a prompt ``key`` is corrupted: the first 32 bits of its SHA-256, as
    a fraction of 2**32, are below ``share``."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:4], "big") / 2**32 < share


def prompt_key(body: Any) -> str | None:
    """The text a request asks: the completions ``prompt``, or the chat messages' contents."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("prompt"), str):
        return body["prompt"]
    messages = body.get("messages")
    if isinstance(messages, list):
        return "\n".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
    return None


def corrupt_text(text: str) -> str:
    out = "".join(str((int(ch) + 1) % 10) if ch.isdigit() else ch.swapcase() for ch in text)
    return out if out != text else "#" + text


def corrupt_answers(ctx: FaultContext, response: Response) -> Response:
    """A 200 answer to a prompt whose hash falls in :data:`SHARE` gets its text corrupted."""
    key = prompt_key(ctx.request_json)
    if response.status != 200 or key is None or not corrupts(key):
        return response
    answer = response.json
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not isinstance(choices, list):
        return response
    answer = copy.deepcopy(answer)
    for choice in answer["choices"]:
        if not isinstance(choice, dict):
            continue
        if isinstance(choice.get("text"), str):
            choice["text"] = corrupt_text(choice["text"])
        message = choice.get("message")
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            message["content"] = corrupt_text(message["content"])
    return response.with_json(answer)
