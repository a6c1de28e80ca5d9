"""``lookup``: few-shot key → value lookup through ``/v1/completions``, a task a tiny *base* model
(Gemma 3 270M, not instruction-tuned) does well above chance, so a regression has room to show
(issue 11 §7). Through a chat template such a model answers nothing useful.

A prompt lists 8-12 ``key`` → 4-digit ``value`` pairs (keys are common English words from
``common.WORDS``, values from the seeded RNG), shows one solved query and asks for another key;
the completion's first line, stripped, must equal the value. Four layouts are the templates
(clusters): ``colon`` (``key: value`` / ``Q:``/``A:``), ``arrow`` (``key -> value``), ``sentence``
(``The code for key is value.``) and ``table`` (``key | value``).

No answer: the completion's first line is empty.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

from conformance.harness.evals.sets.common import WORDS, Item, Verdict, score_first_line, set_header

NAME = "lookup"
VERSION = "1.0.0"
SEED = 11
API = "completions"
MAX_TOKENS = 8
PER_TEMPLATE = 50


def _colon(pairs, shot, query):
    table = "\n".join(f"{k}: {v}" for k, v in pairs)
    return f"{table}\n\nQ: {shot[0]}\nA: {shot[1]}\nQ: {query[0]}\nA:"


def _arrow(pairs, shot, query):
    table = "\n".join(f"{k} -> {v}" for k, v in pairs)
    return f"Codes:\n{table}\n\nLookup:\n{shot[0]} -> {shot[1]}\n{query[0]} ->"


def _sentence(pairs, shot, query):
    table = " ".join(f"The code for {k} is {v}." for k, v in pairs)
    return f"{table}\n\nThe code for {shot[0]} is {shot[1]}.\nThe code for {query[0]} is"


def _table(pairs, shot, query):
    table = "\n".join(f"{k} | {v}" for k, v in pairs)
    return f"name | code\n{table}\n\nname | code\n{shot[0]} | {shot[1]}\n{query[0]} |"


TEMPLATES = {"colon": _colon, "arrow": _arrow, "sentence": _sentence, "table": _table}


def make_item(template: str, seed: int) -> dict[str, Any]:
    rng = random.Random(f"{NAME}/{template}/{seed}/{SEED}")
    n = rng.randint(8, 12)
    keys = rng.sample(WORDS, n)
    values = rng.sample(range(1000, 10000), n)
    pairs = [(k, str(v)) for k, v in zip(keys, values)]
    q = rng.randrange(n)
    shot = rng.choice([i for i in range(n) if i != q])
    prompt = TEMPLATES[template](pairs, pairs[shot], pairs[q])
    return {"id": f"{NAME}/{template}/{seed}", "template": template, "task": NAME, "api": API, "prompt": prompt,
            "max_tokens": MAX_TOKENS, "check": {"kind": "first_line", "answer": pairs[q][1]}}


def generate() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    records = [make_item(t, s) for t in TEMPLATES for s in range(PER_TEMPLATE)]
    header = set_header(NAME, VERSION, SEED, API, "few-shot key -> 4-digit value lookup (completions, base models)")
    return header, records


_FIRST_TOKEN = re.compile(r"\S+")


def score(item: Item, response: Mapping[str, Any]) -> tuple[Verdict, str, str | None]:
    return score_first_line(item, response, clean=lambda line: line.rstrip(".").strip(),
                            holds="first line equals the value")
