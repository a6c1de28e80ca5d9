"""Needle-in-a-haystack items in the style of RULER's ``niah_single`` and ``niah_multikey``
(NVIDIA/RULER, gkamradt/LLMTest_NeedleInAHaystack), generated from a seed: nothing is downloaded and no third-party
text is used.

* **Haystack**: simple sentences built from small word lists authored here (several sentence
  shapes, subjects, verbs, objects, places, times), drawn from a seeded RNG. It contains no
  digits, so a 7-digit value occurs only where a needle put it.
* **Needle**: ``One of the special magic numbers for {key} is: {value}.`` with a word key
  (adjective-noun, e.g. ``amber-lantern``) and a 7-digit value.
* ``niah_single``: one needle. ``niah_multikey``: the needle plus distractor needles with other
  keys and values at other places; the question asks for one key.
* **Depth**: the needle goes in at a sentence boundary, ``depth`` % of the way through the
  haystack (0 = before the first sentence, 100 = after the last).
* **Length**: the whole prompt the endpoint bills (chat template included) is sized to a target
  in tokens by the endpoint's own count (``count(text)`` + the API's ``overhead``), by binary
  search over the number of haystack sentences, like RULER.
* **Question** after the haystack. Chat asks for the number; completions end with RULER's answer
  prefix (``The special magic number for {key} mentioned in the provided text is``), which a base
  model continues.
* **Score**: RULER ``string_match_all``: the fraction of expected values contained in the
  answer (case-insensitive); an item is correct when it is 1.0. Only ``message.content`` (or
  completions ``text``) is scored, never reasoning.

Items, haystacks and values are a pure function of (seed, variant, target length, depth, index):
two runs with the same seed and window send the same prompts.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from conformance.harness.failures import UsageError

VARIANTS = ("niah_single", "niah_multikey")
APIS = ("chat", "completions")
#: Default needle depths (%). Three keep the default grid (2 variants × 4 lengths × 3 depths = 24
#: requests, ~1.9 × window × 6 prompt tokens) within ~4 minutes on the reference (window 2048,
#: ~130 prompt tokens/s); a profile widens it with ``needle_depths = [0, 25, 50, 75, 100]``.
DEFAULT_DEPTHS = (0, 50, 100)
MULTIKEY_DISTRACTORS = 3

INSTRUCTION = ("Some special magic numbers are hidden within the following text. Make sure to memorize it. "
               "I will quiz you about the numbers afterwards.")
QUESTION = "What is the special magic number for {key} mentioned in the provided text?"
CHAT_ANSWER_HINT = "Answer with the number only."
ANSWER_PREFIX = "The special magic number for {key} mentioned in the provided text is"
NEEDLE = "One of the special magic numbers for {key} is: {value}."

# --- authored word lists (this project's own; plain English words) ---------------------------

_SUBJECTS = (
    "the farmer", "a young painter", "the old sailor", "my neighbour", "the baker", "a tired traveller",
    "the teacher", "a quiet student", "the gardener", "the shepherd", "a street musician", "the librarian",
    "the miller", "a patient nurse", "the carpenter", "the fisherman", "a curious child", "the mayor",
    "the potter", "an elderly poet", "the blacksmith", "a cheerful cook", "the weaver", "the ferryman",
)
_VERBS = (
    "carried", "painted", "repaired", "noticed", "described", "collected", "cleaned", "borrowed",
    "admired", "wrapped", "measured", "polished", "moved", "opened", "sold", "found", "planted",
    "mended", "counted", "watched", "lifted", "folded", "sketched", "tasted",
)
_OBJECTS = (
    "a wooden chair", "the blue basket", "an old map", "a bundle of letters", "the copper kettle",
    "a loaf of bread", "the garden gate", "a pair of boots", "the broken lamp", "a jar of honey",
    "the striped umbrella", "a stack of books", "the painted box", "a woollen scarf", "the iron key",
    "a basket of apples", "the village clock", "a small boat", "the kitchen table", "a silver spoon",
)
_PLACES = (
    "near the river", "behind the mill", "at the market", "in the orchard", "by the harbour",
    "under the bridge", "on the hillside", "beside the chapel", "in the courtyard", "at the edge of the forest",
    "along the canal", "inside the barn", "next to the well", "on the village green", "in the attic",
)
_TIMES = (
    "In the morning", "Before noon", "Late in the evening", "After the storm", "On a windy afternoon",
    "At dawn", "During the festival", "Just before supper", "On a quiet Sunday", "After the harvest",
    "When the bells rang", "Early in spring",
)
_ADJECTIVES = (
    "green", "quiet", "bright", "cold", "narrow", "warm", "dusty", "gentle", "heavy", "crowded",
    "peaceful", "muddy", "golden", "empty", "steep", "damp",
)
_NOUNS = ("road", "sky", "meadow", "lake", "room", "garden", "valley", "square", "wind", "field", "path", "shore")
_FEELINGS = ("happy", "surprised", "pleased", "worried", "calm", "proud", "amused", "thoughtful")

_SHAPES: tuple[Callable[[random.Random], str], ...] = (
    lambda r: f"{r.choice(_SUBJECTS).capitalize()} {r.choice(_VERBS)} {r.choice(_OBJECTS)} {r.choice(_PLACES)}.",
    lambda r: f"{r.choice(_TIMES)}, {r.choice(_SUBJECTS)} {r.choice(_VERBS)} {r.choice(_OBJECTS)}.",
    lambda r: f"The {r.choice(_NOUNS)} was {r.choice(_ADJECTIVES)} and the {r.choice(_NOUNS)} was "
              f"{r.choice(_ADJECTIVES)}.",
    lambda r: f"{r.choice(_SUBJECTS).capitalize()} felt {r.choice(_FEELINGS)} {r.choice(_PLACES)}.",
    lambda r: f"{r.choice(_TIMES)}, the {r.choice(_NOUNS)} {r.choice(_PLACES)} looked {r.choice(_ADJECTIVES)}.",
    lambda r: f"Nobody knew why {r.choice(_SUBJECTS)} {r.choice(_VERBS)} {r.choice(_OBJECTS)}.",
)

# Needle keys: adjective-noun pairs from lists disjoint from the haystack's words.
_KEY_ADJECTIVES = (
    "amber", "brisk", "crimson", "dapper", "eager", "fickle", "glossy", "hollow", "icy", "jolly", "keen",
    "lavish", "mellow", "nimble", "opaque", "plucky", "rustic", "silken", "tawny", "umber", "vivid",
    "wily", "zesty", "frosty", "coral", "stormy", "sturdy", "velvet", "witty", "ruddy",
)
_KEY_NOUNS = (
    "lantern", "falcon", "compass", "harp", "pebble", "quill", "saddle", "thimble", "anchor", "beacon",
    "cactus", "dynamo", "easel", "fiddle", "goblet", "hammock", "igloo", "jigsaw", "kayak", "locket",
    "marble", "nutmeg", "otter", "parsnip", "raven", "sprocket", "turnip", "walrus", "yarrow", "zeppelin",
)

_SEVEN_DIGITS = re.compile(r"(?<!\d)\d{7}(?!\d)")


def haystack_sentences(seed: int | str) -> Iterator[str]:
    """An endless, deterministic stream of haystack sentences for ``seed`` (never two equal
    neighbours, never a digit)."""
    rng = random.Random(f"needle-haystack/{seed}")
    previous = ""
    while True:
        sentence = rng.choice(_SHAPES)(rng)
        if sentence != previous:
            previous = sentence
            yield sentence


def take_sentences(seed: int | str, n: int) -> list[str]:
    out = []
    for sentence in haystack_sentences(seed):
        if len(out) >= n:
            break
        out.append(sentence)
    return out


@dataclass(frozen=True, slots=True)
class Needle:
    key: str
    value: str

    @property
    def sentence(self) -> str:
        return NEEDLE.format(key=self.key, value=self.value)


def make_needles(rng: random.Random, n: int, *, exclude: Sequence[Needle] = ()) -> list[Needle]:
    """``n`` needles with distinct keys and distinct 7-digit values, none shared with ``exclude``."""
    keys: list[str] = [e.key for e in exclude]
    values: list[str] = [e.value for e in exclude]
    while len(keys) < n + len(exclude):
        key = f"{rng.choice(_KEY_ADJECTIVES)}-{rng.choice(_KEY_NOUNS)}"
        if key not in keys:
            keys.append(key)
    while len(values) < n + len(exclude):
        value = str(rng.randint(1_000_000, 9_999_999))
        if value not in values:
            values.append(value)
    return [Needle(k, v) for k, v in zip(keys[len(exclude):], values[len(exclude):], strict=True)]


def insertion_index(depth: float, n_sentences: int) -> int:
    """The sentence boundary ``depth`` % of the way through ``n_sentences`` sentences."""
    if not 0 <= depth <= 100:
        raise UsageError(f"needle depth must be within 0..100, got {depth}")
    return round(depth / 100 * n_sentences)


def render_context(sentences: Sequence[str], placed: Sequence[tuple[int, Needle]]) -> str:
    """The haystack with each needle inserted before sentence ``index`` (``len(sentences)`` =
    after the last one); needles at the same index keep their order."""
    parts: list[str] = []
    by_index: dict[int, list[Needle]] = {}
    for index, needle in placed:
        if not 0 <= index <= len(sentences):
            raise UsageError(f"needle index {index} outside 0..{len(sentences)}")
        by_index.setdefault(index, []).append(needle)
    for i in range(len(sentences) + 1):
        parts.extend(n.sentence for n in by_index.get(i, ()))
        if i < len(sentences):
            parts.append(sentences[i])
    return " ".join(parts)


def render_prompt(api: str, context: str, key: str) -> str:
    """The one user message (chat) or the prompt (completions)."""
    question = QUESTION.format(key=key)
    if api == "chat":
        return f"{INSTRUCTION}\n{context}\n{question} {CHAT_ANSWER_HINT}"
    if api == "completions":
        return f"{INSTRUCTION}\n{context}\n{question} {ANSWER_PREFIX.format(key=key)}"
    raise UsageError(f"needle api must be one of {APIS}, got {api!r}")


@dataclass(frozen=True, slots=True)
class Item:
    """One question: ``id`` is ``variant/L<target>/d<depth>/<index>`` (stable for a seed and window)."""

    id: str
    variant: str
    api: str
    length: int  # target prompt tokens (what the endpoint bills, template included)
    depth: int
    index: int
    query: Needle
    distractors: tuple[Needle, ...]
    sentences: int  # haystack sentences
    prompt: str
    tokens: int  # the prompt's own count + the API's template overhead (expected billed tokens)

    @property
    def expected(self) -> tuple[str, ...]:
        return (self.query.value,)


def _placements(seed: int | str, variant: str, length: int, depth: int, index: int, n_sentences: int
                ) -> tuple[Needle, list[Needle], list[tuple[int, Needle]]]:
    """The queried needle (drawn per item) at ``depth``; for ``niah_multikey`` the distractors and
    their places are drawn per (seed, length), so every item of one length shares them and
    consecutive items share the haystack up to the shallower queried needle (prefix caching)."""
    query = make_needles(random.Random(f"needle-item/{seed}/{variant}/{length}/{depth}/{index}"), 1)[0]
    placed: list[tuple[int, Needle]] = [(insertion_index(depth, n_sentences), query)]
    distractors: list[Needle] = []
    if variant == "niah_multikey":
        rng = random.Random(f"needle-distractors/{seed}/{length}")
        fixed = make_needles(rng, MULTIKEY_DISTRACTORS + 1)
        # Redraw only what collides with the query (rare), keeping the per-length draw stable.
        distractors = [d for d in fixed if d.key != query.key and d.value != query.value][:MULTIKEY_DISTRACTORS]
        if len(distractors) < MULTIKEY_DISTRACTORS:
            distractors += make_needles(rng, MULTIKEY_DISTRACTORS - len(distractors), exclude=[query, *distractors])
        places = random.Random(f"needle-distractor-places/{seed}/{length}")
        placed += [(places.randint(0, n_sentences), d) for d in distractors]
    return query, distractors, placed


def build_prompt(seed: int | str, variant: str, api: str, length: int, depth: int, index: int,
                 sentences: Sequence[str]) -> tuple[Needle, list[Needle], str]:
    query, distractors, placed = _placements(seed, variant, length, depth, index, len(sentences))
    return query, distractors, render_prompt(api, render_context(sentences, placed), query.key)


def fit_sentences(count: Callable[[str], int], *, overhead: int, target: int, seed: int | str, variant: str,
                  api: str, probe_depth: int = 50) -> int:
    """The largest number of haystack sentences whose prompt (needles included, placed as for
    item 0 at ``probe_depth``) the endpoint bills at most ``target`` tokens for. 0 when not even
    the bare question fits. ``count`` is called O(log n) times."""

    def cost(k: int) -> int:
        sentences = take_sentences(seed, k)
        return overhead + count(build_prompt(seed, variant, api, target, probe_depth, 0, sentences)[2])

    if cost(0) > target:
        return 0
    lo, hi = 0, 16
    while cost(hi) <= target:
        lo, hi = hi, hi * 2
        if hi > 50_000_000:
            raise UsageError("the token counter does not grow with the text; cannot size a haystack")
    while hi - lo > 1:  # cost(lo) <= target < cost(hi)
        mid = (lo + hi) // 2
        if cost(mid) <= target:
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True, slots=True)
class Grid:
    """What to ask: variants × lengths × depths × ``items`` per cell, on one API."""

    lengths: tuple[int, ...]
    depths: tuple[int, ...] = DEFAULT_DEPTHS
    variants: tuple[str, ...] = VARIANTS
    items: int = 1
    api: str = "chat"
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.lengths or any(not isinstance(n, int) or n <= 0 for n in self.lengths):
            raise UsageError(f"needle lengths must be positive integers, got {self.lengths}")
        if not self.depths or any(not isinstance(d, int) or not 0 <= d <= 100 for d in self.depths):
            raise UsageError(f"needle depths must be integers within 0..100, got {self.depths}")
        bad = set(self.variants) - set(VARIANTS)
        if not self.variants or bad:
            raise UsageError(f"needle variants must be among {VARIANTS}, got {self.variants}")
        if not isinstance(self.items, int) or self.items < 1:
            raise UsageError(f"needle items per cell must be >= 1, got {self.items}")
        if self.api not in APIS:
            raise UsageError(f"needle api must be one of {APIS}, got {self.api!r}")

    @property
    def requests(self) -> int:
        return len(self.variants) * len(self.lengths) * len(self.depths) * self.items


def default_lengths(window: int, *, cap: int | None = None, answer_room: int = 32, count: int = 4,
                    margin: int | None = None, minimum: int = 128) -> tuple[int, ...]:
    """``count`` prompt lengths spaced by factors of 2 up to min(window, cap) − answer room −
    margin (margin: 2 % of the window, at least 16 tokens, for the count's tolerance). Lengths
    below ``minimum`` are dropped."""
    top = min(window, cap) if cap else window
    margin = max(16, window // 50) if margin is None else margin
    top = top - answer_room - margin
    lengths = sorted({top // (2 ** i) for i in range(count)})
    return tuple(n for n in lengths if n >= minimum)


@dataclass(slots=True)
class Plan:
    """Every item of a grid, in the order to send them (per variant and length, deepest needle
    first: consecutive requests share the haystack up to the shallower needle, so a server's
    prefix cache saves most of the prefill)."""

    grid: Grid
    items: list[Item] = field(default_factory=list)
    sentences: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def prompt_tokens(self) -> int:
        return sum(i.tokens for i in self.items)


def plan(grid: Grid, *, count: Callable[[str], int], overhead: int, progress: Callable[[str], None] | None = None
         ) -> Plan:
    """Size every (variant, length) haystack with ``count`` and build the items.

    ``count(text)`` is the endpoint's token count of ``text`` alone; ``overhead`` the tokens the
    API adds around one user message (chat template, BOS). A length too small for the question
    itself raises :class:`UsageError`."""
    out = Plan(grid)
    for variant in grid.variants:
        for length in grid.lengths:
            k = fit_sentences(count, overhead=overhead, target=length, seed=grid.seed, variant=variant,
                              api=grid.api)
            if k == 0:
                raise UsageError(f"needle length {length} leaves no room for a haystack ({variant}, {grid.api})")
            out.sentences[(variant, length)] = k
            sentences = take_sentences(grid.seed, k)
            if progress is not None:
                progress(f"needle: sized {variant} at {length} tokens: {k} haystack sentences")
            for depth in sorted(grid.depths, reverse=True):
                for index in range(grid.items):
                    query, distractors, prompt = build_prompt(grid.seed, variant, grid.api, length, depth, index,
                                                              sentences)
                    out.items.append(Item(
                        id=f"{variant}/L{length}/d{depth}/{index}", variant=variant, api=grid.api, length=length,
                        depth=depth, index=index, query=query, distractors=tuple(distractors), sentences=k,
                        prompt=prompt, tokens=overhead + count(prompt)))
    return out


# --- scoring -------------------------------------------------------------------------------------


def string_match_all(prediction: str, references: Sequence[str]) -> float:
    """RULER's ``string_match_all``: the fraction of references contained in the prediction
    (case-insensitive)."""
    if not references:
        raise ValueError("no references to match")
    text = prediction.lower()
    return sum(ref.lower() in text for ref in references) / len(references)


@dataclass(frozen=True, slots=True)
class Score:
    score: float
    correct: bool
    no_answer: bool  # no 7-digit number at all in the answer
    distractor: bool  # the answer contains a distractor's value

    def as_dict(self) -> dict[str, object]:
        return {"score": self.score, "correct": self.correct, "no_answer": self.no_answer,
                "distractor": self.distractor}


def score(item: Item, prediction: str) -> Score:
    s = string_match_all(prediction, item.expected)
    return Score(score=s, correct=s == 1.0, no_answer=not _SEVEN_DIGITS.search(prediction),
                 distractor=any(d.value in prediction for d in item.distractors))
