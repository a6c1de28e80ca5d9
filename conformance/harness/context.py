"""The context window of the endpoint under test: where it is stated, how prompts are sized to it,
and how long-context requests are bounded in time and cost.

* **Discovery** (:func:`discover`): every source that states the served window is read and kept
  with its name: vLLM/NIM/SGLang ``max_model_len`` on ``/v1/models`` or ``/tokenize``, llama.cpp
  ``meta.n_ctx`` on ``/v1/models`` and ``default_generation_settings.n_ctx`` on ``/props`` (per
  slot), a hosted ``context_length`` / ``context_window`` on the model object, the profile's
  ``settings.context_length`` and the ``--context-length`` option. The window the tests use is the
  endpoint's own statement (first in that order), else the option, else the profile. Sources that
  disagree are findings (OAI-CTX-001). A training context (``n_ctx_train``) is kept but is not a
  statement of the served window.
* **Counting** (:class:`TokenCounter`): the endpoint's own tokenizer where it offers one
  (llama.cpp ``POST /tokenize {"content"}``, vLLM ``POST /tokenize {"prompt"}``, SGLang
  ``POST /v1/tokenize``); otherwise a calibration on ``usage.prompt_tokens`` of two cheap requests
  (``max_tokens: 1``) over the suite's own filler text. No tokenizer is downloaded.
* **Sizing** (:meth:`ContextWindow.prompt`): filler text generated from a seed (no third-party
  text) whose billed prompt size for a given API is known: the text's token count plus the
  template's own tokens for that API, measured once per API with one cheap request. With a
  tokenizer the text is the largest whole-word prefix of the filler that fits, every size counted
  exactly; one tokenization with pieces (llama.cpp ``with_pieces``) predicts where to cut, so a
  prompt costs about two counts (the cut and one word more) instead of a bisection of ~15.
* **Cost and time**: :meth:`ContextWindow.timeouts` scales the client's timeouts by the profile's
  declared prefill rate (``settings.prefill_tokens_per_second``); :meth:`ContextWindow.stop_after_tokens`
  is a client-side budget for streams that might run to the end of the window.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.harness.client import StopRule, Timeouts
from conformance.harness.exchange import Exchange
from conformance.harness.failures import HarnessError

__all__ = ["OUTPUT_LIMIT", "TIERS", "ContextWindow", "Prompt", "TokenCounter", "WindowSource", "discover",
           "filler_words", "prompt_body", "tier_allows"]

#: Long-context tiers, cheapest first (``--long-context``).
TIERS = ("off", "boundary", "full")
#: Prefill rate assumed when the profile declares none (tokens per second): a GPU server is far
#: faster; this only lengthens timeouts for long prompts.
DEFAULT_PREFILL_TPS = 2000.0


def tier_allows(selected: str, needed: str) -> bool:
    """Whether the run's tier (``--long-context``) includes a test that needs ``needed``."""
    return TIERS.index(selected) >= TIERS.index(needed)


@dataclass(frozen=True, slots=True)
class WindowSource:
    name: str  # e.g. "llama.cpp /props default_generation_settings.n_ctx"
    value: int
    #: False for a training context (n_ctx_train): not a statement of the served window.
    served: bool = True
    #: Declared by the user or the profile rather than said by the endpoint.
    declared: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "served": self.served, "declared": self.declared}


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str
    #: The prompt tokens the endpoint is expected to bill for a request whose only user message
    #: (or prompt) is ``text``: the text's tokens plus the API's template tokens.
    tokens: int
    #: ± allowed when comparing ``tokens`` with the endpoint's usage.
    tolerance: int
    #: How the size was established (tokenizer or calibration).
    method: str


# --- the suite's own filler text (seeded; no downloaded essays) ---------------------------------

_SUBJECTS = ("The river", "A small bird", "The old clock", "Every lamp", "The garden", "A quiet train",
             "The northern wind", "Each window", "The market", "A paper boat", "The tall ladder", "Her notebook")
_VERBS = ("passes", "follows", "touches", "watches", "crosses", "reaches", "circles", "remembers", "carries",
          "finds")
_ADJECTIVES = ("green", "silent", "distant", "warm", "narrow", "bright", "heavy", "gentle", "early", "wooden")
_OBJECTS = ("hill", "bridge", "harbour", "field", "station", "valley", "corner", "roof", "meadow", "road",
            "table", "shore")
_ENDINGS = ("at dawn", "in the evening", "after the rain", "before noon", "all week", "once more",
            "without a sound", "as usual")


def filler_words(seed: int, count: int) -> list[str]:
    """``count`` words of plain generated sentences (deterministic for a seed)."""
    rng = random.Random(seed)
    words: list[str] = []
    while len(words) < count:
        sentence = (f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} the {rng.choice(_ADJECTIVES)} "
                    f"{rng.choice(_OBJECTS)} {rng.choice(_ENDINGS)}.")
        words.extend(sentence.split(" "))
    return words[:count]


def _text(words: list[str]) -> str:
    return " ".join(words)


# --- the request a sized prompt goes into -----------------------------------------------------------

#: The output-limit parameter of each API (as the tests and the template measurement send it).
OUTPUT_LIMIT = {"chat": "max_tokens", "completions": "max_tokens", "responses": "max_output_tokens",
                "messages": "max_tokens"}


def prompt_body(api: str, text: str, max_tokens: int | None = None) -> dict[str, Any]:
    """A greedy request whose only user message (the prompt on completions, the input on
    Responses) is ``text``: the one shape a :class:`Prompt` is sized for, so the template overhead
    measured with it holds for every test that sends it."""
    if api not in OUTPUT_LIMIT:
        raise HarnessError(f"unknown API {api!r} for a context-window prompt")
    if api == "completions":
        body: dict[str, Any] = {"prompt": text}
    elif api == "responses":
        body = {"input": text}
    else:
        body = {"messages": [{"role": "user", "content": text}]}
    body["temperature"] = 0
    if max_tokens is not None:
        body[OUTPUT_LIMIT[api]] = max_tokens
    return body


# --- counting -------------------------------------------------------------------------------------


@dataclass(slots=True)
class TokenCounter:
    """Counts the tokens of plain text (no special tokens, no template)."""

    method: str
    #: Exact counter (the endpoint's tokenizer), or None when calibrated.
    exact: Callable[[str], int] | None = None
    #: Calibrated tokens per character and the fixed part of a calibration request.
    tokens_per_char: float = 0.0
    #: The character offset where each token of a text ends, from one tokenization (llama.cpp
    #: ``with_pieces``), or None. Only a guide for where to cut: every size is still counted with
    #: ``exact``.
    token_ends: Callable[[str], list[int] | None] | None = None

    @property
    def is_exact(self) -> bool:
        return self.exact is not None

    def count(self, text: str) -> int:
        if self.exact is not None:
            return self.exact(text)
        return round(len(text) * self.tokens_per_char)

    def tolerance(self, tokens: int) -> int:
        """± tokens a sized prompt may differ from the billed count."""
        return 2 if self.is_exact else max(8, math.ceil(0.03 * tokens))


def _json(ex: Exchange) -> Any:
    if ex.status is None or not 200 <= ex.status < 300:
        return None
    return ex.json_or_none()


def _tokenizer(client: Any, model: str, count_tokens: Callable[[str], int | None] | None = None
               ) -> tuple[str, Callable[[str], int]] | None:
    """The endpoint's tokenizer, if it offers one, as (name, count function). ``count_tokens``
    (Anthropic ``/v1/messages/count_tokens`` for one user message) is the last resort: it counts a
    templated prompt, so the text's count is taken as that minus the count for ``"a"`` plus one;
    the constant cancels out of every size, since the template overhead is measured the same way."""
    def llama(text: str) -> int | None:
        body = _json(client.request("POST", "/tokenize", json={"content": text, "add_special": False}))
        tokens = body.get("tokens") if isinstance(body, dict) else None
        return len(tokens) if isinstance(tokens, list) else None

    def vllm(path: str) -> Callable[[str], int | None]:
        def count(text: str) -> int | None:
            body = _json(client.request("POST", path, json={"model": model, "prompt": text,
                                                            "add_special_tokens": False}))
            if not isinstance(body, dict):
                return None
            if isinstance(body.get("count"), int):
                return int(body["count"])
            tokens = body.get("tokens")
            return len(tokens) if isinstance(tokens, list) else None
        return count

    def anthropic(text: str) -> int | None:
        assert count_tokens is not None
        whole, base = count_tokens(text), count_tokens("a")
        return whole - base + 1 if isinstance(whole, int) and isinstance(base, int) else None

    probe = "The river passes the green hill at dawn."
    candidates: list[tuple[str, Callable[[str], int | None]]] = [
        ("llama.cpp POST /tokenize", llama), ("vLLM POST /tokenize", vllm("/tokenize")),
        ("SGLang POST /v1/tokenize", vllm("/v1/tokenize"))]
    if count_tokens is not None:
        candidates.append(("Anthropic POST /v1/messages/count_tokens", anthropic))
    for name, fn in candidates:
        try:
            first = fn(probe)
        except HarnessError:
            continue
        if isinstance(first, int) and first > 0:
            def exact(text: str, fn: Callable[[str], int | None] = fn, name: str = name) -> int:
                value = fn(text)
                if value is None:
                    raise HarnessError(f"{name} stopped answering with a token count")
                return value
            return name, exact
    return None


def _llama_token_ends(client: Any) -> Callable[[str], list[int] | None]:
    """llama.cpp ``POST /tokenize`` with ``with_pieces``: the end offset of each token, or None when
    the pieces do not spell the text (then sizing searches with counts alone)."""
    def ends(text: str) -> list[int] | None:
        body = _json(client.request("POST", "/tokenize", json={"content": text, "add_special": False,
                                                                "with_pieces": True}))
        tokens = body.get("tokens") if isinstance(body, dict) else None
        if not isinstance(tokens, list):
            return None
        pieces = [t.get("piece") if isinstance(t, dict) else None for t in tokens]
        if not all(isinstance(piece, str) for piece in pieces):
            return None
        spelled = "".join(pieces)
        shift = 0
        if spelled != text:
            if spelled == " " + text:  # a SentencePiece space prefix on the first token
                shift = 1
            else:
                return None
        out: list[int] = []
        end = -shift
        for piece in pieces:
            end += len(piece)
            out.append(max(end, 0))
        return out
    return ends


# --- discovery ------------------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def window_sources(models_body: Any, props_body: Any, tokenize_body: Any, *, model: str,
                   profile_value: Any = None, profile_name: str = "", option_value: int | None = None
                   ) -> list[WindowSource]:
    """Every statement of the window found in the given bodies (pure; unit-tested offline)."""
    out: list[WindowSource] = []
    entry: dict[str, Any] | None = None
    if isinstance(models_body, dict) and isinstance(models_body.get("data"), list):
        entries = [e for e in models_body["data"] if isinstance(e, dict)]
        entry = next((e for e in entries if e.get("id") == model), entries[0] if entries else None)
    if entry is not None:
        for key in ("max_model_len", "context_length", "context_window", "max_context_length"):
            if (v := _int(entry.get(key))) is not None:
                out.append(WindowSource(f"/v1/models {key}", v))
        meta = entry.get("meta")
        if isinstance(meta, dict):
            if (v := _int(meta.get("n_ctx"))) is not None:
                out.append(WindowSource("/v1/models meta.n_ctx", v))
            if (v := _int(meta.get("n_ctx_train"))) is not None:
                out.append(WindowSource("/v1/models meta.n_ctx_train (training context)", v, served=False))
    if isinstance(props_body, dict):
        dgs = props_body.get("default_generation_settings")
        if isinstance(dgs, dict) and (v := _int(dgs.get("n_ctx"))) is not None:
            out.append(WindowSource("llama.cpp /props default_generation_settings.n_ctx (per slot)", v))
    if isinstance(tokenize_body, dict) and (v := _int(tokenize_body.get("max_model_len"))) is not None:
        out.append(WindowSource("/tokenize max_model_len", v))
    if option_value is not None:
        out.append(WindowSource("--context-length", int(option_value), declared=True))
    if (v := _int(profile_value)) is not None:
        out.append(WindowSource(f"profile {profile_name} settings.context_length", v, declared=True))
    return out


def choose(sources: list[WindowSource]) -> tuple[WindowSource | None, list[str], list[str]]:
    """(the window the tests use, disagreements, notes). The endpoint's own statement wins; a
    declared value is used only when the endpoint states none."""
    served = [s for s in sources if s.served]
    chosen = next((s for s in served if not s.declared), None) or next(iter(served), None)
    disagreements: list[str] = []
    notes: list[str] = []
    if chosen is not None:
        for s in served:
            if s is not chosen and s.value != chosen.value:
                disagreements.append(f"{s.name} says {s.value} tokens, {chosen.name} says {chosen.value}")
        for s in sources:
            if not s.served and s.value < chosen.value:
                notes.append(f"the served window ({chosen.value}) exceeds {s.name} ({s.value})")
    return chosen, disagreements, notes


@dataclass(slots=True)
class ContextWindow:
    """What the suite knows about the endpoint's window, plus the tools to use it."""

    tokens: int | None
    source: str | None
    sources: list[WindowSource]
    disagreements: list[str]
    notes: list[str]
    tier: str
    cap: int
    counter: TokenCounter
    base_timeouts: Timeouts
    prefill_tps: float
    #: api -> billed(api, text) for the overhead measurement (sends one cheap request).
    billed: Callable[[str, str], int]
    progress: Callable[[str], None] = print
    _overhead: dict[str, int] = field(default_factory=dict)
    _prompts: dict[tuple[str, int, int], Prompt] = field(default_factory=dict)
    #: seed -> {word count: exact token count of that many filler words}, shared by every size.
    _counts: dict[int, dict[int, int]] = field(default_factory=dict)
    #: seed -> predicted token count of the first k filler words (index k), from one tokenization.
    _predicted: dict[int, list[int]] = field(default_factory=dict)
    _filler: dict[int, list[str]] = field(default_factory=dict)

    # -- counting ---------------------------------------------------------------------------
    def count_text(self, text: str) -> int:
        """Tokens of plain text (the endpoint's tokenizer, or the calibrated estimate)."""
        return self.counter.count(text)

    def overhead(self, api: str) -> int:
        """The prompt tokens an API bills beyond the user text (chat template, BOS), measured once
        with one cheap request (``max_tokens`` 1, or count_tokens where that is declared)."""
        if api not in self._overhead:
            sample = _text(filler_words(7, 60))
            self._overhead[api] = self.billed(api, sample) - self.count_text(sample)
        return self._overhead[api]

    def prompt(self, api: str, n_tokens: int, *, seed: int = 0) -> Prompt:
        """Filler text that makes ``api`` bill about ``n_tokens`` prompt tokens (exactly, with a
        tokenizer, up to a word that does not fit)."""
        key = (api, n_tokens, seed)
        if key in self._prompts:
            return self._prompts[key]
        overhead = self.overhead(api)
        target = n_tokens - overhead
        if target <= 0:
            raise HarnessError(f"cannot size a {api} prompt of {n_tokens} tokens: the template alone bills {overhead}")
        if self.counter.is_exact:
            k = self._largest_fitting(seed, target)
            text = _text(self._words(seed, k)[:k])
            counted = self._counts[seed][k]
            method = f"{self.counter.method} (exact) + {overhead} template tokens"
        else:
            sample = filler_words(seed, 200)
            per_word = max(self.count_text(_text(sample)) / len(sample), 0.1)
            guess = max(1, int(target / per_word))
            words = filler_words(seed, int(guess * 1.25) + 50)
            chars_needed = target / self.counter.tokens_per_char
            text = _text(words)
            while len(text) < chars_needed:
                words = filler_words(seed, len(words) * 2)
                text = _text(words)
            text = text[: int(chars_needed)].rsplit(" ", 1)[0]
            counted = self.count_text(text)
            method = f"{self.counter.method} + {overhead} template tokens"
        result = Prompt(text=text, tokens=counted + overhead, tolerance=self.counter.tolerance(n_tokens),
                        method=method)
        self._prompts[key] = result
        return result

    # -- exact sizing: the largest k with count(first k filler words) <= target -------------------
    # Every count is the endpoint's exact count of exactly the text sent, memoised per seed (the
    # filler of a seed is one word sequence, so every size is a prefix of it). Where the tokenizer
    # returns pieces, one tokenization of a long filler predicts the count of every prefix; the
    # prediction only chooses which sizes to count (the predicted cut and one word more), so a
    # prompt costs about two counts, and a wrong prediction costs a few more, never a wrong size.
    def _words(self, seed: int, k: int) -> list[str]:
        words = self._filler.get(seed, [])
        if len(words) < k:
            words = filler_words(seed, max(k, 2 * len(words)))
            self._filler[seed] = words
        return words

    def _count_words(self, seed: int, k: int) -> int:
        known = self._counts.setdefault(seed, {0: 0})
        if k not in known:
            known[k] = self.count_text(_text(self._words(seed, k)[:k]))
        return known[k]

    def _prediction(self, seed: int, target: int) -> list[int] | None:
        ends_of = self.counter.token_ends
        if ends_of is None:
            return None
        pred = self._predicted.get(seed)
        while pred is None or pred[-1] <= target:
            n = max(2 * (len(pred) - 1) if pred else 0, int(target * 1.1) + 50)  # >= 1 token a word
            words = self._words(seed, n)[:n]
            text = _text(words)
            try:
                ends = ends_of(text)
            except HarnessError:
                ends = None
            if not ends or ends[-1] != len(text):
                self.counter.token_ends = None  # the pieces do not spell the text: count alone
                return None
            self._counts.setdefault(seed, {0: 0})[n] = len(ends)  # the same tokenization, exactly counted
            starts = [0, *ends[:-1]]
            pred, boundary = [0], -1
            for w in words:
                boundary += len(w) + 1
                pred.append(bisect.bisect_left(starts, boundary))  # tokens that begin inside the prefix
            self._predicted[seed] = pred
        return pred

    def _largest_fitting(self, seed: int, target: int) -> int:
        known = self._counts.setdefault(seed, {0: 0})
        pred = self._prediction(seed, target)
        limit = 64 * target + 1000  # words: no tokenizer needs more
        steps = 0
        while True:
            lo = max(k for k, c in known.items() if c <= target)
            hi = min((k for k, c in known.items() if c > target and k > lo), default=None)
            if hi == lo + 1:
                return lo
            guess: int | None = None
            if pred is not None:
                p = bisect.bisect_right(pred, target) - 1
                guess = next((g for g in (p, p + 1) if lo < g < len(pred) and (hi is None or g < hi)
                              and g not in known), None)
            if guess is None:
                steps += 1
                if hi is None:
                    if lo == 0:
                        guess = 200
                    elif steps > 6:
                        guess = 2 * lo
                    else:
                        guess = lo + max(1, int((target - known[lo]) * lo / max(known[lo], 1)))
                elif steps > 6:
                    guess = (lo + hi) // 2
                else:
                    guess = lo + int((target - known[lo]) * (hi - lo) / (known[hi] - known[lo]))
                if hi is not None:
                    guess = min(max(guess, lo + 1), hi - 1)
                guess = max(guess, lo + 1)
            if guess > limit:
                raise HarnessError(f"cannot size a prompt of {target} text tokens: {guess} filler words "
                                   f"still count {known[lo]} tokens")
            self._count_words(seed, guess)

    # -- time and cost ----------------------------------------------------------------------
    def prefill_seconds(self, prompt_tokens: int) -> float:
        return prompt_tokens / self.prefill_tps

    def timeouts(self, prompt_tokens: int) -> Timeouts:
        """The client's timeouts plus the prefill time the profile's rate allows for the prompt."""
        extra = self.prefill_seconds(max(prompt_tokens, 0))
        b = self.base_timeouts
        return Timeouts(connect_s=b.connect_s, read_s=b.read_s + extra, stream_idle_s=b.stream_idle_s + extra,
                        total_s=b.total_s + extra)

    @staticmethod
    def stop_after_tokens(n: int) -> StopRule:
        """A client budget for a stream: stop reading once more than ``n`` generated tokens can have
        arrived (events beyond ``n`` plus a margin for the lifecycle events of Responses and
        Messages streams). ``Exchange.stopped`` then records why."""
        margin = 16

        def rule(ex: Exchange) -> str | None:
            events = len(ex.sse.events) if ex.sse is not None else 0
            if events > n + margin:
                return f"client budget: more than {n} generated tokens streamed ({events} events); stopped"
            return None
        return rule

    # -- reporting --------------------------------------------------------------------------
    def as_report(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "source": self.source,
            "sources": [s.as_dict() for s in self.sources],
            "disagreements": list(self.disagreements),
            "notes": list(self.notes),
            "tokenizer": self.counter.method,
            "tokenizer_exact": self.counter.is_exact,
            #: prompt sizing cut at token pieces (llama.cpp with_pieces) rather than by counts alone
            "tokenizer_pieces": self.counter.token_ends is not None,
            "template_overhead": dict(self._overhead),
            "tier": self.tier,
            "max_prompt_tokens": self.cap,
            "prefill_tokens_per_second": self.prefill_tps,
        }

    def lines(self) -> list[str]:
        out = [f"context window: {self.tokens} tokens from {self.source}" if self.tokens
               else "context window: no source states it (pass --context-length N)"]
        out += [f"  source: {s.name} = {s.value}" + ("" if s.served else " (not the served window)")
                for s in self.sources]
        out += [f"  DISAGREEMENT: {d}" for d in self.disagreements]
        out += [f"  note: {n}" for n in self.notes]
        out.append(f"  token counting: {self.counter.method}")
        return out


def calibrate(billed_completion: Callable[[str], int], *, seed: int = 11) -> TokenCounter:
    """Tokens per character of the filler, from the prompt tokens billed for two lengths."""
    short, long = _text(filler_words(seed, 40)), _text(filler_words(seed, 240))
    a, b = billed_completion(short), billed_completion(long)
    if b <= a:
        raise HarnessError(f"cannot calibrate token counting: {len(long)} characters billed {b} tokens, "
                           f"{len(short)} characters billed {a}")
    return TokenCounter(method="calibrated on usage.prompt_tokens (two max_tokens=1 requests)",
                        tokens_per_char=(b - a) / (len(long) - len(short)))


def discover(*, client: Any, model: str, settings: Any, profile: Any,
             billed: Callable[[str, str], int], calibration_api: str,
             count_tokens: Callable[[str], int | None] | None = None,
             progress: Callable[[str], None] = print) -> ContextWindow:
    """Read every statement of the window and set up token counting (a handful of cheap requests)."""
    models = client.request("GET", "/v1/models")
    props = client.request("GET", "/props")
    tok = _tokenizer(client, model, count_tokens)
    tokenize_body = None
    if tok is not None and tok[0].startswith(("vLLM", "SGLang")):
        path = "/tokenize" if tok[0].startswith("vLLM") else "/v1/tokenize"
        tokenize_body = _json(client.request("POST", path, json={"model": model, "prompt": "a"}))
    sources = window_sources(_json(models), _json(props), tokenize_body, model=model,
                             profile_value=profile.setting("context_length", None), profile_name=profile.name,
                             option_value=settings.context_length)
    chosen, disagreements, notes = choose(sources)
    if tok is not None:
        counter = TokenCounter(method=f"the endpoint's tokenizer ({tok[0]})", exact=tok[1],
                               token_ends=_llama_token_ends(client) if tok[0].startswith("llama.cpp") else None)
    else:
        counter = calibrate(lambda text: billed(calibration_api, text))
    b = Timeouts(connect_s=settings.connect_timeout_s, read_s=settings.read_timeout_s,
                 stream_idle_s=settings.stream_idle_timeout_s, total_s=settings.timeout_s)
    rate = float(profile.setting("prefill_tokens_per_second", DEFAULT_PREFILL_TPS) or DEFAULT_PREFILL_TPS)
    return ContextWindow(tokens=chosen.value if chosen else None, source=chosen.name if chosen else None,
                         sources=sources, disagreements=disagreements, notes=notes, tier=settings.long_context,
                         cap=settings.max_prompt_tokens, counter=counter, base_timeouts=b, prefill_tps=rate,
                         billed=billed, progress=progress)


def billed_tokens(api: str, body: Any) -> int | None:
    """The prompt tokens a response body bills (whole prompt, cached parts included)."""
    if not isinstance(body, dict):
        return None
    if api == "count_tokens":
        return _int(body.get("input_tokens"))
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None
    if api == "messages":
        parts = [usage.get(k) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
        return sum(p for p in parts if isinstance(p, int)) if isinstance(parts[0], int) else None
    key = "input_tokens" if api == "responses" else "prompt_tokens"
    value = usage.get(key)
    return value if isinstance(value, int) else None
