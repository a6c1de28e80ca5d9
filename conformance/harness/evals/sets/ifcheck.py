"""``ifcheck``: verifiable instruction following in the style of IFEval (google-research; its
verifiers are code, and so are ours): a short writing task with 1-3 constraints, each checked by
a regex or a parser, never by a judge and never with nltk/langdetect.

15 constraint kinds (the templates, i.e. clusters: an item's template is its primary constraint):
``words`` (word count within bounds), ``lowercase``, ``uppercase``, ``keywords`` (must include),
``forbidden`` (must not include a word), ``bullets`` (exactly N ``*``/``-`` bullet lines),
``end_phrase``, ``no_commas``, ``json`` (the whole answer is JSON, a ```json fence allowed),
``title`` (a ``<<title>>``), ``postscript`` (a line starting ``P.S.``), ``paragraphs`` (exactly N
paragraphs separated by ``***``), ``start_word``, ``quotes`` (wrapped in double quotes),
``highlights`` (at least N ``*highlighted*`` spans). Extra constraints are drawn only from kinds
compatible with the primary one (e.g. never lowercase with uppercase, nothing with ``json``).

Score (prompt-level strict): correct iff every constraint holds; the reason names the ones that
do not. No answer: empty content.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from typing import Any

from conformance.harness.evals.sets.common import Item, Verdict, content_of, set_header, short

NAME = "ifcheck"
VERSION = "1.0.0"
SEED = 11
API = "chat"
MAX_TOKENS = 400
PER_TEMPLATE = 10

KINDS = ("words", "lowercase", "uppercase", "keywords", "forbidden", "bullets", "end_phrase", "no_commas", "json",
         "title", "postscript", "paragraphs", "start_word", "quotes", "highlights")

#: Pairs that cannot both hold (or whose checks would interfere).
_CONFLICTS = {
    frozenset(p) for p in (
        ("lowercase", "uppercase"), ("uppercase", "end_phrase"), ("uppercase", "start_word"),
        ("uppercase", "keywords"), ("uppercase", "forbidden"), ("lowercase", "title"), ("uppercase", "title"),
        ("quotes", "end_phrase"), ("quotes", "start_word"), ("quotes", "bullets"), ("quotes", "paragraphs"),
        ("quotes", "title"), ("bullets", "paragraphs"), ("postscript", "end_phrase"), ("postscript", "quotes"),
        ("lowercase", "postscript"), ("uppercase", "postscript"), ("title", "start_word"),
        ("bullets", "start_word"), ("lowercase", "end_phrase"), ("lowercase", "start_word"),
        ("highlights", "bullets"),
    )
}

_GENRES = ("short note", "brief description", "short story", "short explanation", "product review",
           "travel tip", "short letter", "short poem", "summary", "short speech")
_TOPICS = ("a rainy day in a small town", "how bees make honey", "a lighthouse keeper", "learning to ride a bicycle",
           "the first snow of winter", "a busy train station", "a new coffee machine", "planting a vegetable garden",
           "a trip to the mountains", "why people keep journals", "an old wooden bridge", "a lost umbrella",
           "the night sky in the desert", "a neighbourhood bakery", "a school science fair", "a long ferry ride",
           "repairing a bicycle tyre", "a quiet public library", "a street market at dawn", "a friendly robot")
_KEYWORDS = ("window", "orange", "silver", "river", "morning", "ladder", "music", "paper", "garden", "candle",
             "thunder", "market", "bridge", "pocket", "castle")
_FORBIDDEN = ("very", "really", "good", "nice", "thing", "just", "also", "many")
_END_PHRASES = ("Is there anything else I can help with?", "That is all for today.", "Thank you for reading.",
                "See you soon.", "Have a lovely day.")
_START_WORDS = ("Today", "Imagine", "Yesterday", "Honestly", "Listen", "Once")


def _params(kind: str, rng: random.Random) -> dict[str, Any]:
    if kind == "words":
        low = rng.choice((20, 30, 40, 50))
        return {"min": low, "max": low + rng.choice((20, 30, 40))}
    if kind == "keywords":
        return {"words": sorted(rng.sample(_KEYWORDS, rng.randint(1, 2)))}
    if kind == "forbidden":
        return {"word": rng.choice(_FORBIDDEN)}
    if kind == "bullets":
        return {"n": rng.randint(2, 5)}
    if kind == "end_phrase":
        return {"phrase": rng.choice(_END_PHRASES)}
    if kind == "paragraphs":
        return {"n": rng.randint(2, 4)}
    if kind == "start_word":
        return {"word": rng.choice(_START_WORDS)}
    if kind == "highlights":
        return {"n": rng.randint(1, 3)}
    return {}


def instruction(c: Mapping[str, Any]) -> str:
    kind = c["kind"]
    return {
        "words": lambda: f"Use between {c.get('min')} and {c.get('max')} words.",
        "lowercase": lambda: "Write everything in lowercase letters; no capital letters at all.",
        "uppercase": lambda: "Write everything in capital letters (all caps).",
        "keywords": lambda: "Include the word" + ("s " if len(c.get("words", ())) > 1 else " ")
                            + " and ".join(f'"{w}"' for w in c.get("words", ())) + ".",
        "forbidden": lambda: f"Do not use the word \"{c.get('word')}\".",
        "bullets": lambda: f"Format the answer as exactly {c.get('n')} bullet points, each line starting with \"* \".",
        "end_phrase": lambda: f"End your answer with the exact phrase \"{c.get('phrase')}\" and nothing after it.",
        "no_commas": lambda: "Do not use any commas.",
        "json": lambda: "Give the whole answer as a JSON object and nothing else.",
        "title": lambda: "Give it a title wrapped in double angular brackets, like <<my title>>.",
        "postscript": lambda: "End with a postscript on its own line starting with \"P.S.\".",
        "paragraphs": lambda: f"Write exactly {c.get('n')} paragraphs separated by the markdown divider ***.",
        "start_word": lambda: f"Start your answer with the word \"{c.get('word')}\".",
        "quotes": lambda: "Wrap your entire answer in double quotation marks.",
        "highlights": lambda: f"Highlight at least {c.get('n')} parts with markdown, like *highlighted part*.",
    }[kind]()


def make_item(kind: str, seed: int) -> dict[str, Any]:
    rng = random.Random(f"{NAME}/{kind}/{seed}/{SEED}")
    kinds = [kind]
    for _ in range(rng.choice((0, 1, 1, 2))):
        options = [k for k in KINDS if k not in kinds and k != "json" and kind != "json"
                   and all(frozenset((k, x)) not in _CONFLICTS for x in kinds)]
        if options:
            kinds.append(rng.choice(options))
    constraints = [{"kind": k, **_params(k, rng)} for k in kinds]
    task = f"Write a {rng.choice(_GENRES)} about {rng.choice(_TOPICS)}."
    content = " ".join([task, *(instruction(c) for c in constraints)])
    return {"id": f"{NAME}/{kind}/{seed}", "template": kind, "task": NAME, "api": API,
            "messages": [{"role": "user", "content": content}], "max_tokens": MAX_TOKENS,
            "check": {"kind": "constraints", "constraints": constraints}}


def generate() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    records = [make_item(k, s) for k in KINDS for s in range(PER_TEMPLATE)]
    header = set_header(NAME, VERSION, SEED, API, "IFEval-style verifiable constraints checked by code")
    return header, records


# --- verifiers -------------------------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
_FENCE = re.compile(r"^\s*```(?:json)?\s*\n?(.*?)\n?\s*```\s*$", re.S | re.I)


def strip_fence(text: str) -> str:
    m = _FENCE.match(text)
    return m.group(1) if m else text


def _bullets(text: str) -> int:
    return len(re.findall(r"^\s*[*-]\s+\S", text, re.M))


def verify(c: Mapping[str, Any], text: str) -> tuple[bool, str]:
    """(holds, why) for one constraint on the answer text."""
    kind = c["kind"]
    stripped = text.strip()
    if kind == "words":
        n = len(_WORD.findall(text))
        return c["min"] <= n <= c["max"], f"{n} words (want {c['min']}-{c['max']})"
    if kind == "lowercase":
        return stripped == stripped.lower() and any(ch.isalpha() for ch in stripped), "not all lowercase"
    if kind == "uppercase":
        return stripped == stripped.upper() and any(ch.isalpha() for ch in stripped), "not all uppercase"
    if kind == "keywords":
        missing = [w for w in c["words"] if not re.search(rf"\b{re.escape(w)}\b", text, re.I)]
        return not missing, f"missing {missing}"
    if kind == "forbidden":
        return not re.search(rf"\b{re.escape(c['word'])}\b", text, re.I), f"uses {c['word']!r}"
    if kind == "bullets":
        n = _bullets(text)
        return n == c["n"], f"{n} bullet lines (want {c['n']})"
    if kind == "end_phrase":
        return stripped.endswith(c["phrase"]), f"does not end with {c['phrase']!r}"
    if kind == "no_commas":
        return "," not in text, "contains a comma"
    if kind == "json":
        try:
            json.loads(strip_fence(stripped))
        except ValueError:
            return False, "not JSON"
        return True, "JSON"
    if kind == "title":
        return bool(re.search(r"<<[^\n<>]+>>", text)), "no <<title>>"
    if kind == "postscript":
        return bool(re.search(r"^\s*P\.\s?S\.", text, re.M)), "no P.S. line"
    if kind == "paragraphs":
        parts = [p for p in re.split(r"\s*\*\*\*\s*", stripped)]
        ok = len(parts) == c["n"] and all(p.strip() for p in parts)
        return ok, f"{len([p for p in parts if p.strip()])} non-empty paragraphs of {len(parts)} (want {c['n']})"
    if kind == "start_word":
        m = re.match(r"[\W_]*([A-Za-z]+)", stripped)
        return bool(m) and m.group(1).lower() == c["word"].lower(), f"does not start with {c['word']!r}"
    if kind == "quotes":
        return len(stripped) > 1 and stripped[0] in "\"“" and stripped[-1] in "\"”", "not wrapped in double quotes"
    if kind == "highlights":
        n = len(re.findall(r"(?<!\*)\*[^\n*]+\*(?!\*)", text))
        return n >= c["n"], f"{n} highlighted spans (want >= {c['n']})"
    raise ValueError(f"unknown constraint kind {kind!r}")


def instruction_level(item: Item, response: Mapping[str, Any]) -> tuple[int, int]:
    """(constraints held, constraints) for IFEval's instruction-level accuracy; (0, n) without content."""
    text = content_of(item, response) or ""
    constraints = item.check["constraints"]
    if not text.strip():
        return 0, len(constraints)
    return sum(verify(c, text)[0] for c in constraints), len(constraints)


def score(item: Item, response: Mapping[str, Any]) -> tuple[Verdict, str, str | None]:
    text = content_of(item, response)
    if text is None:
        return None, "no choice in the response", None
    if not text.strip():
        return None, "empty content", None
    constraints = item.check["constraints"]
    failed = []
    for c in constraints:
        ok, why = verify(c, text)
        if not ok:
            failed.append(f"{c['kind']}: {why}")
    held = len(constraints) - len(failed)
    if not failed:
        return True, f"{held}/{len(constraints)} constraints hold", short(text, 200)
    return False, f"{held}/{len(constraints)} constraints hold; " + "; ".join(failed), short(text, 200)
