"""``caps``: few-shot "write these words in capitals" through ``/v1/completions``, a second task a
tiny *base* model does above chance but clearly below 100 % (issue 11 §7), so a regression (a
tokenizer or detokenizer mismatch, a broken ``prompt`` path) has room to show in both directions.

Five solved examples, then two lowercase words (from a list authored here); the completion's
first line, stripped, must equal the words in capitals. Four layouts are the templates
(clusters): ``io`` (``Input:``/``Output:``), ``arrow`` (``words => WORDS``), ``quote``
(``"words" in capitals is "WORDS"``) and ``pipe`` (``words | WORDS``).

No answer: the completion's first line is empty.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from conformance.harness.evals.sets.common import Item, Verdict, content_of, short

NAME = "caps"
VERSION = "1.0.0"
SEED = 11
API = "completions"
MAX_TOKENS = 12
PER_TEMPLATE = 50
SHOTS = 5

_WORDS = (
    "apple", "river", "stone", "cloud", "maple", "tiger", "lemon", "piano", "rocket", "candle", "forest",
    "silver", "garden", "window", "pepper", "violet", "castle", "ocean", "bridge", "falcon", "harbor",
    "meadow", "copper", "lantern", "pillow", "basket", "orange", "mirror", "thunder", "velvet", "pencil",
    "island", "rabbit", "carpet", "marble", "ladder", "pocket", "summer", "winter", "button",
)


def _io(shots, query):
    return "".join(f"Input: {a}\nOutput: {b}\n\n" for a, b in shots) + f"Input: {query}\nOutput:"


def _arrow(shots, query):
    return "".join(f"{a} => {b}\n" for a, b in shots) + f"{query} =>"


def _quote(shots, query):
    return "".join(f"\"{a}\" in capitals is \"{b}\"\n" for a, b in shots) + f"\"{query}\" in capitals is \""


def _pipe(shots, query):
    return "lower | UPPER\n" + "".join(f"{a} | {b}\n" for a, b in shots) + f"{query} |"


TEMPLATES = {"io": _io, "arrow": _arrow, "quote": _quote, "pipe": _pipe}


def make_item(template: str, seed: int) -> dict[str, Any]:
    rng = random.Random(f"{NAME}/{template}/{seed}/{SEED}")
    words = rng.sample(_WORDS, 2 * (SHOTS + 1))
    shots = [" ".join(words[i:i + 2]) for i in range(0, 2 * SHOTS, 2)]
    query = " ".join(words[-2:])
    prompt = TEMPLATES[template]([(s, s.upper()) for s in shots], query)
    return {"id": f"{NAME}/{template}/{seed}", "template": template, "task": NAME, "api": API, "prompt": prompt,
            "max_tokens": MAX_TOKENS, "check": {"kind": "first_line", "answer": query.upper()}}


def generate() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    records = [make_item(t, s) for t in TEMPLATES for s in range(PER_TEMPLATE)]
    header = {"name": NAME, "version": VERSION, "seed": SEED, "api": API,
              "generator": "conformance/harness/evals/sets/caps.py",
              "description": "few-shot lowercase -> capitals copy (completions, base models)"}
    return header, records


def score(item: Item, response: Mapping[str, Any]) -> tuple[Verdict, str, str | None]:
    text = content_of(item, response)
    if text is None:
        return None, "no choice in the response", None
    line = text.strip().split("\n", 1)[0].strip() if text.strip() else ""
    if not line:
        return None, f"empty first line (completion {short(text)})", None
    answer = line.rstrip(".").strip().strip('"').strip()
    expected = item.check["answer"]
    if answer == expected:
        return True, "first line equals the words in capitals", answer
    return False, f"expected {expected!r}, got {short(answer)!r}", answer
