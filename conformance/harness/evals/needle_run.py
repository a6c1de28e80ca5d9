"""Run the needle eval against the endpoint through the OpenAI-compatible facade.

Every request goes through :meth:`OpenAI.raw` with a timeout scaled to its prompt
(``cw.timeouts``) and then through the facade's passive checks (status, content type, schema,
SSE framing), so a protocol problem is recorded against its own requirement exactly as in any
conformance test; the answer itself only feeds the metric. Streamed when the profile declares
``streaming`` (then the time to the first content delta is the TTFT, ≈ prefill time), with
``stream_options.include_usage`` when it declares ``stream_usage``.

Settings (profile ``[settings]``; all optional):

* ``needle_api`` = ``"chat"`` (default) | ``"completions"`` (RULER's answer prefix; for base
  models such as the reference's Gemma 3 270M);
* ``needle_floor`` = e.g. ``0.85``: the accuracy floor judged on each variant's Wilson 95 %
  lower bound (requirement OAI-EVAL-002); without it the eval never fails on accuracy;
* ``needle_items`` (per length × depth cell, default 1), ``needle_depths`` (default 0, 50, 100:
  the default grid of 24 requests takes ~3-4 minutes on the reference), ``needle_lengths``
  (prompt tokens; default 4 lengths, factors of 2 apart, up to min(window, --max-prompt-tokens)
  − answer room − margin: 2 % of the window with the endpoint's tokenizer, 10 % with a
  calibrated count), ``needle_variants`` (default both), ``needle_seed`` (default 0).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from conformance.harness.checks import completions as cmpl_checks
from conformance.harness.checks import openai as oai_checks
from conformance.harness.evals import needle as nd
from conformance.harness.evals import runner
from conformance.harness.failures import UsageError

#: Output room per API: chat models write a sentence, the completions answer prefix needs ~10.
MAX_TOKENS = {"chat": 32, "completions": 16}
PATHS = {"chat": "/v1/chat/completions", "completions": "/v1/completions"}


class Window(Protocol):  # the part of conformance.harness.context.ContextWindow used here
    tokens: int
    cap: int

    def count_text(self, text: str) -> int: ...
    def overhead(self, api: str) -> int: ...
    def timeouts(self, prompt_tokens: int) -> Any: ...
    def progress(self, message: str) -> None: ...


@dataclass(frozen=True, slots=True)
class NeedleSettings:
    api: str = "chat"
    floor: float | None = None
    items: int = 1
    depths: tuple[int, ...] = nd.DEFAULT_DEPTHS
    lengths: tuple[int, ...] | None = None
    variants: tuple[str, ...] = nd.VARIANTS
    seed: int = 0

    @classmethod
    def from_settings(cls, settings: dict[str, Any], *, where: str = "profile settings") -> "NeedleSettings":
        def ints(key: str) -> tuple[int, ...] | None:
            value = settings.get(key)
            if value is None:
                return None
            if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise UsageError(f"{where}: {key} must be a list of integers, got {value!r}")
            return tuple(value)

        api = settings.get("needle_api", "chat")
        if api not in nd.APIS:
            raise UsageError(f"{where}: needle_api must be one of {nd.APIS}, got {api!r}")
        floor = settings.get("needle_floor")
        if floor is not None and (isinstance(floor, bool) or not isinstance(floor, (int, float))
                                  or not 0 < floor <= 1):
            raise UsageError(f"{where}: needle_floor must be a number in (0, 1], got {floor!r}")
        items = settings.get("needle_items", 1)
        if isinstance(items, bool) or not isinstance(items, int) or items < 1:
            raise UsageError(f"{where}: needle_items must be an integer >= 1, got {items!r}")
        seed = settings.get("needle_seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise UsageError(f"{where}: needle_seed must be an integer, got {seed!r}")
        variants = settings.get("needle_variants", list(nd.VARIANTS))
        if not isinstance(variants, list) or not variants or set(variants) - set(nd.VARIANTS):
            raise UsageError(f"{where}: needle_variants must list some of {nd.VARIANTS}, got {variants!r}")
        return cls(api=api, floor=None if floor is None else float(floor), items=items,
                   depths=ints("needle_depths") or nd.DEFAULT_DEPTHS, lengths=ints("needle_lengths"),
                   variants=tuple(variants), seed=seed)

    def grid(self, window: int, cap: int | None, *, exact_count: bool = True) -> nd.Grid:
        """The grid for a window. With a calibrated (estimated) token count the default lengths
        keep a 10 % margin instead of 2 %, so an estimate that runs short never pushes the longest
        prompt over the window."""
        room = MAX_TOKENS[self.api]
        top = min(window, cap) if cap else window
        if self.lengths is not None:
            too_long = [n for n in self.lengths if n + room > top]
            if too_long:
                raise UsageError(f"needle_lengths {too_long} leave no room for {room} output tokens within "
                                 f"{top} tokens (window {window}, cap {cap})")
            lengths = self.lengths
        else:
            margin = None if exact_count else max(16, window // 10)
            lengths = nd.default_lengths(window, cap=cap, answer_room=room, margin=margin)
            if not lengths:
                raise UsageError(f"the window ({window}) and cap ({cap}) leave no room for a needle haystack")
        return nd.Grid(lengths=tuple(lengths), depths=self.depths, variants=self.variants, items=self.items,
                       api=self.api, seed=self.seed)


@dataclass(slots=True)
class Result:
    item: nd.Item
    prediction: str
    score: nd.Score
    status: int | None
    finish_reason: Any
    prompt_tokens: int | None  # billed, from usage (None when the response has none)
    cached_tokens: int | None
    ttft_s: float | None
    total_s: float | None
    exchange_seq: int
    server_timings: dict[str, Any] | None = None

    @property
    def prefill_tps(self) -> float | None:
        tokens = self.prompt_tokens if self.prompt_tokens is not None else self.item.tokens
        return round(tokens / self.ttft_s, 1) if self.ttft_s else None

    def as_dict(self) -> dict[str, Any]:
        it = self.item
        return {
            "id": it.id, "variant": it.variant, "api": it.api, "length": it.length, "depth": it.depth,
            "index": it.index, "key": it.query.key, "expected": list(it.expected),
            "distractors": [{"key": d.key, "value": d.value} for d in it.distractors],
            "haystack_sentences": it.sentences, "prompt_tokens_expected": it.tokens,
            "prompt_tokens_billed": self.prompt_tokens, "cached_tokens": self.cached_tokens,
            "prediction": self.prediction, **self.score.as_dict(), "status": self.status,
            "finish_reason": self.finish_reason, "ttft_s": _round(self.ttft_s), "total_s": _round(self.total_s),
            "prefill_tokens_per_s": self.prefill_tps, "exchange": self.exchange_seq,
            **({"server_timings": self.server_timings} if self.server_timings else {}),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass(slots=True)
class Run:
    plan: nd.Plan
    results: list[Result] = field(default_factory=list)
    wall_s: float = 0.0
    request_params: dict[str, Any] = field(default_factory=dict)
    streamed: bool = False
    #: requests sent, 429 answers, retries, waits (evaluation traffic: a 429 is waited for and retried)
    counters: runner.Counters = field(default_factory=lambda: runner.Counters())


def request_body(item: nd.Item, *, stream: bool, include_usage: bool) -> dict[str, Any]:
    """The request for one item: greedy, small max_tokens, no stop sequence (a model that starts
    its answer on a new line would be cut before it); the profile's request defaults (reasoning
    off, etc.) are added by the facade."""
    body: dict[str, Any] = {"max_tokens": MAX_TOKENS[item.api], "temperature": 0}
    if item.api == "chat":
        body["messages"] = [{"role": "user", "content": item.prompt}]
    else:
        body["prompt"] = item.prompt
    if stream:
        body["stream"] = True
        if include_usage:
            body["stream_options"] = {"include_usage": True}
    return body


def _usage_numbers(usage: Any) -> tuple[int | None, int | None]:
    if not isinstance(usage, dict):
        return None, None
    prompt = usage.get("prompt_tokens")
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return (prompt if isinstance(prompt, int) else None, cached if isinstance(cached, int) else None)


def ask(oai: Any, cw: Window, item: nd.Item, *, stream: bool, include_usage: bool,
        counters: runner.Counters | None = None, sleep: Callable[[float], None] = time.sleep) -> Result:
    """Send one item and score its answer (content only, never reasoning). A 429 is evaluation
    traffic's rate limit: waited for and retried like the accuracy evals' (runner.send_with_retries)."""
    api = item.api
    body = oai.with_defaults(api, request_body(item, stream=stream, include_usage=include_usage))
    ex = runner.send_with_retries(oai, PATHS[api], body, counters if counters is not None else runner.Counters(),
                                  cw.progress, label=f"needle {item.id}", sleep=sleep, stream=stream,
                                  timeouts=cw.timeouts(item.tokens))
    timings: dict[str, Any] | None = None
    if stream:
        chunks = oai.stream_exchange(ex, completions=api == "completions")
        text = chunks.text(0)
        reasons = chunks.finish_reasons(0)
        finish = reasons[-1] if reasons else None
        usage = chunks.final_usage()
        for chunk in chunks.chunks:
            data = getattr(chunk, "data", None)
            if isinstance(data, dict) and isinstance(data.get("timings"), dict):
                timings = data["timings"]
    else:
        parsed = oai.json_exchange(ex)
        if api == "chat":
            oai.passive.run(oai_checks.chat_completion_schema, parsed, schemas=oai.schemas)
        else:
            oai.passive.run(cmpl_checks.text_completion_schema, parsed, schemas=oai.schemas)
        choice = _first_choice(parsed)
        if api == "chat":
            message = choice.get("message")
            content = message.get("content") if isinstance(message, dict) else None
        else:
            content = choice.get("text")
        text = content if isinstance(content, str) else ""
        finish = choice.get("finish_reason")
        usage = parsed.get("usage") if isinstance(parsed, dict) else None
        if isinstance(parsed, dict) and isinstance(parsed.get("timings"), dict):
            timings = parsed["timings"]
    prompt_tokens, cached = _usage_numbers(usage)
    return Result(item=item, prediction=text, score=nd.score(item, text), status=ex.status, finish_reason=finish,
                  prompt_tokens=prompt_tokens, cached_tokens=cached,
                  ttft_s=ex.first_content_s if stream else None, total_s=ex.total_s, exchange_seq=ex.seq,
                  server_timings=timings)


def _first_choice(parsed: Any) -> dict[str, Any]:
    choices = parsed.get("choices") if isinstance(parsed, dict) else None
    if isinstance(choices, list):
        for choice in choices:
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                return choice
    return {}


def grid_for(settings: NeedleSettings, cw: Window) -> nd.Grid:
    """The grid for the endpoint's window, cap and kind of token count."""
    counter = getattr(cw, "counter", None)
    return settings.grid(cw.tokens, cw.cap, exact_count=bool(getattr(counter, "is_exact", True)))


def run(oai: Any, cw: Window, settings: NeedleSettings, *, streaming: bool, stream_usage: bool,
        on_plan: Callable[[Run], None] | None = None, on_result: Callable[[Result], None] | None = None) -> Run:
    """Plan (size every haystack with the endpoint's count), print the budget, then ask every
    item in plan order with a progress line each. ``on_plan`` gets the run before the first
    request (it fills in as items are answered), ``on_result`` each result."""
    grid = grid_for(settings, cw)
    planned = nd.plan(grid, count=cw.count_text, overhead=cw.overhead(grid.api), progress=cw.progress)
    sample = (oai.with_defaults(grid.api, request_body(planned.items[0], stream=streaming, include_usage=stream_usage))
              if planned.items else {})
    out = Run(plan=planned, streamed=streaming,
              request_params={"path": PATHS[grid.api],
                              **{k: v for k, v in sample.items() if k not in ("messages", "prompt")}})
    estimate = getattr(cw, "prefill_seconds", None)
    budget = (f"; at most ~{estimate(planned.prompt_tokens) / 60:.0f} min of prefill at the profile's rate"
              if callable(estimate) else "")
    cw.progress(f"needle eval plan: {len(planned.items)} requests on {PATHS[grid.api]}, "
                f"{planned.prompt_tokens} prompt tokens in total{budget} (variants {', '.join(grid.variants)}; "
                f"lengths {', '.join(map(str, grid.lengths))} tokens; depths {', '.join(map(str, grid.depths))} %; "
                f"{grid.items} item(s) per cell; seed {grid.seed})")
    if on_plan is not None:
        on_plan(out)
    started = time.monotonic()
    for number, item in enumerate(planned.items, 1):
        result = ask(oai, cw, item, stream=streaming, include_usage=stream_usage, counters=out.counters)
        out.results.append(result)
        out.wall_s = time.monotonic() - started
        if on_result is not None:
            on_result(result)
        ttft = f", TTFT {result.ttft_s:.1f} s" if result.ttft_s is not None else ""
        cw.progress(f"needle {number}/{len(planned.items)} {item.id} ({item.tokens} tokens): "
                    f"{'found' if result.score.correct else 'missed'}{ttft}, {time.monotonic() - started:.0f} s so far")
    return out
