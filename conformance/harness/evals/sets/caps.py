"""``caps``: few-shot "write these words in capitals" through ``/v1/completions``, a second task a
tiny *base* model does above chance but clearly below 100 % (issue 11 §7), so a regression (a
tokenizer or detokenizer mismatch, a broken ``prompt`` path) has room to show in both directions.

Five solved examples, then two lowercase words (from ``common.WORDS``); the completion's
first line, stripped, must equal the words in capitals. Four layouts are the templates
(clusters): ``io`` (``Input:``/``Output:``), ``arrow`` (``words => WORDS``), ``quote``
(``"words" in capitals is "WORDS"``) and ``pipe`` (``words | WORDS``).

No answer: the completion's first line is empty.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from conformance.harness.evals.sets.common import WORDS, Item, Verdict, score_first_line, set_header

NAME = "caps"
VERSION = "1.0.0"
SEED = 11
API = "completions"
MAX_TOKENS = 12
PER_TEMPLATE = 50
SHOTS = 5


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
    words = rng.sample(WORDS, 2 * (SHOTS + 1))
    shots = [" ".join(words[i:i + 2]) for i in range(0, 2 * SHOTS, 2)]
    query = " ".join(words[-2:])
    prompt = TEMPLATES[template]([(s, s.upper()) for s in shots], query)
    return {"id": f"{NAME}/{template}/{seed}", "template": template, "task": NAME, "api": API, "prompt": prompt,
            "max_tokens": MAX_TOKENS, "check": {"kind": "first_line", "answer": query.upper()}}


def generate() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    records = [make_item(t, s) for t in TEMPLATES for s in range(PER_TEMPLATE)]
    header = set_header(NAME, VERSION, SEED, API, "few-shot lowercase -> capitals copy (completions, base models)")
    return header, records


def score(item: Item, response: Mapping[str, Any]) -> tuple[Verdict, str, str | None]:
    return score_first_line(item, response, clean=lambda line: line.rstrip(".").strip().strip('"').strip(),
                            holds="first line equals the words in capitals")
