"""The cost estimate printed before a run (issue 13 §5): requests, prompt tokens and output tokens
of the selected tests, from what is known before the first request.

* **Accuracy evals** (``--eval NAME``): items × repeats per item (profile ``eval_repeats``) ×
  passes (``--eval-repeat``; 2 with ``--eval-save-baseline``); prompt tokens as the stored reference
  baseline recorded them (``conformance/evals/baselines/reference/<set>.json``, server-reported),
  else estimated from each item's text (:data:`CHARS_PER_TOKEN` characters a token, plus
  :data:`MESSAGE_OVERHEAD` per chat message); output tokens = the item's ``max_tokens`` (an upper
  bound).
* **Needle retrieval** (``--long-context full``): the grid the profile's ``needle_*`` settings give
  for a window of ``--context-length`` (else ``--max-prompt-tokens``, the most the run may process):
  the planned prompt sizes, output = the needle's ``max_tokens``. The run sizes it to the endpoint's
  own window, so this is an upper bound when the endpoint's window is smaller.
* **Conformance tests**: the recorded request budget (``conformance/budgets/reference.json``,
  :func:`conformance.harness.traffic.load_budget`): per selected test, its requirement's figures
  divided by the number of tests citing it, plus the session traffic (discovery, model listing)
  once. A long-context test against an endpoint other than the embedded reference keeps the
  budget's requests, its prompt tokens scaled from the budget's 2048-token window to the
  long-context cap (``min(--context-length, --max-prompt-tokens)``): window-sized prompts grow with
  the window. A test needing a higher ``--long-context`` tier than the run's is skipped, so it is
  left out. A test whose requirement has no recorded figure counts at the budget's median per
  test (said so in the line).

The line (always printed, before the first test)::

    llmconf cost estimate: ~N requests, ~P prompt tokens, ~O output tokens (from …)

and a warning block when the estimate exceeds ``--cost-threshold=REQUESTS[,TOKENS]`` (default
2000 requests or 2,000,000 tokens, prompt + output). ``--max-cost=REQUESTS[,TOKENS]`` refuses to
start a run whose estimate exceeds it (exit 4, the estimate printed). ``--cost-per-mtok=IN,OUT``
adds a money figure (price per million prompt / output tokens).

The estimate never decides a verdict; it is counted from the selection and recorded figures, never
from a clock.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance.harness.failures import UsageError

#: Characters per token of the eval prompts' estimate where no reference baseline records them
#: (English prose is ~4 with BPE tokenizers, but the lookup set measured 2.0 and caps 3.6 on the
#: reference's Gemma tokenizer: 3 leans to the high side).
CHARS_PER_TOKEN = 3.0
#: Stored reference baselines: their per-item ``tokens.prompt`` (server-reported) is used when present.
REFERENCE_BASELINES = Path(__file__).resolve().parents[1] / "evals" / "baselines" / "reference"
#: Template tokens per chat message (role markers) added to the estimate.
MESSAGE_OVERHEAD = 8
#: The window the recorded budget was measured on (the embedded reference, nemotron config).
BUDGET_WINDOW = 2048
DEFAULT_THRESHOLD = "2000,2000000"
#: The long-context tiers in order (conformance.harness.context.TIERS): a test needing a higher tier
#: than the run's is skipped, so it costs nothing.
TIERS = ("off", "boundary", "full")
#: Exit code of a run refused by --max-cost (pytest's own codes end at 5; 4 is "usage error").
REFUSED_EXIT = 4


# --- limits --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Limit:
    """``REQUESTS[,TOKENS]``: exceeded when either is (TOKENS = prompt + output; None: no token limit)."""

    requests: int
    tokens: int | None = None

    @classmethod
    def parse(cls, value: str, option: str = "--cost-threshold") -> Limit:
        parts = [p.strip().replace("_", "") for p in str(value).split(",")]
        if not 1 <= len(parts) <= 2 or not all(p.isdigit() for p in parts if p) or not parts[0]:
            raise UsageError(f"{option} expects REQUESTS[,TOKENS] (non-negative integers), got {value!r}")
        tokens = int(parts[1]) if len(parts) == 2 and parts[1] else None
        return cls(int(parts[0]), tokens)

    def exceeded_by(self, est: Estimate) -> list[str]:
        """What the estimate exceeds (empty: within the limit)."""
        out = []
        if est.requests > self.requests:
            out.append(f"{est.requests:,} requests > {self.requests:,}")
        if self.tokens is not None and est.tokens > self.tokens:
            out.append(f"{est.tokens:,} tokens > {self.tokens:,}")
        return out

    def __str__(self) -> str:
        return f"{self.requests:,} requests" + (f" or {self.tokens:,} tokens" if self.tokens is not None else "")


def parse_prices(value: str | None) -> tuple[float, float] | None:
    """``--cost-per-mtok=IN,OUT``: the price of a million prompt and of a million output tokens."""
    if value in (None, ""):
        return None
    parts = [p.strip() for p in str(value).split(",")]
    try:
        prices = tuple(float(p) for p in parts)
    except ValueError:
        prices = ()
    if len(prices) == 1:
        prices = (prices[0], prices[0])
    if len(prices) != 2 or any(not math.isfinite(p) or p < 0 for p in prices):
        raise UsageError(f"--cost-per-mtok expects IN,OUT (prices per million tokens, >= 0), got {value!r}")
    return prices  # type: ignore[return-value]


# --- what is selected ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Planned:
    """One selected test as the estimate sees it (from its markers; pure data, picklable)."""

    nodeid: str
    requirement: str | None = None
    eval_set: str | None = None      # marker eval_set(NAME) (accuracy sets, "needle")
    is_eval: bool = False            # marker eval
    long_context: bool = False       # marker long_context
    tier: str | None = None          # the long-context tier it needs (boundary, full)


def planned(item: Any) -> Planned:
    """A :class:`Planned` from a pytest item."""
    reqs = [m.args[0] for m in item.iter_markers("requirement") if m.args]
    mark = item.get_closest_marker("eval_set")
    name = mark.args[0] if mark is not None and mark.args else None
    is_eval = item.get_closest_marker("eval") is not None
    if is_eval and name is None and "needle" in item.nodeid:
        name = "needle"
    lc = item.get_closest_marker("long_context")
    return Planned(item.nodeid, reqs[0] if reqs else None, name, is_eval, lc is not None,
                   ((lc.args or ("boundary",))[0]) if lc is not None else None)


# --- the estimate --------------------------------------------------------------------------------

@dataclass(slots=True)
class Part:
    what: str
    requests: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    note: str = ""


@dataclass(slots=True)
class Estimate:
    parts: list[Part] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    prices: tuple[float, float] | None = None

    @property
    def requests(self) -> int:
        return sum(p.requests for p in self.parts)

    @property
    def prompt_tokens(self) -> int:
        return sum(p.prompt_tokens for p in self.parts)

    @property
    def output_tokens(self) -> int:
        return sum(p.output_tokens for p in self.parts)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens

    @property
    def money(self) -> float | None:
        if self.prices is None:
            return None
        return (self.prompt_tokens * self.prices[0] + self.output_tokens * self.prices[1]) / 1e6

    def line(self) -> str:
        money = f", ~{self.money:.2f} at {self.prices[0]:g}/{self.prices[1]:g} per M tokens" \
            if self.money is not None and self.prices else ""
        return (f"llmconf cost estimate: ~{self.requests:,} requests, ~{self.prompt_tokens:,} prompt tokens, "
                f"~{self.output_tokens:,} output tokens{money} (from {'; '.join(self.sources) or 'nothing selected'})")

    def detail_lines(self) -> list[str]:
        return [f"  {p.what}: ~{p.requests:,} requests, ~{p.prompt_tokens:,} prompt, ~{p.output_tokens:,} output"
                + (f" ({p.note})" if p.note else "") for p in self.parts if p.requests]

    def warning(self, threshold: Limit) -> list[str]:
        """The warning block when the estimate exceeds ``threshold`` (empty otherwise)."""
        over = threshold.exceeded_by(self)
        if not over:
            return []
        bar = "!" * 78
        return [bar, f"!! llmconf: this run is estimated to exceed the cost threshold ({'; '.join(over)})",
                *self.detail_lines(),
                f"!! threshold --cost-threshold={threshold.requests}"
                + (f",{threshold.tokens}" if threshold.tokens is not None else "")
                + " (raise it to silence this; --max-cost=REQUESTS[,TOKENS] refuses such runs)", bar]

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "prompt_tokens": self.prompt_tokens, "output_tokens": self.output_tokens,
                "money": None if self.money is None else round(self.money, 4), "sources": list(self.sources),
                "parts": [asdict(p) for p in self.parts]}


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def recorded_prompt_tokens(name: str, baselines: Path = REFERENCE_BASELINES) -> dict[str, int]:
    """Item id → prompt tokens the reference reported, from its stored baseline (empty without one)."""
    try:
        doc = json.loads((baselines / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out: dict[str, int] = {}
    for rec in doc.get("items", []) if isinstance(doc, dict) else []:
        tokens = rec.get("tokens") if isinstance(rec, dict) else None
        prompt = tokens.get("prompt") if isinstance(tokens, dict) else None
        if isinstance(prompt, int) and not isinstance(prompt, bool) and prompt > 0 and isinstance(rec.get("id"), str):
            out[rec["id"].split("#", 1)[0]] = prompt
    return out


def eval_part(name: str, *, k: int = 1, passes: int = 1, baselines: Path = REFERENCE_BASELINES) -> Part:
    """An accuracy set: every item k × passes times."""
    from conformance.harness.evals import sets  # noqa: PLC0415 - only when an eval is selected

    s = sets.load(name)
    recorded = recorded_prompt_tokens(name, baselines)
    prompt = output = measured = 0
    for item in s.items:
        if item.id in recorded:
            prompt += recorded[item.id]
            measured += 1
        else:
            overhead = MESSAGE_OVERHEAD * max(1, len(item.messages)) if item.api == "chat" else 0
            tools = _tokens(json.dumps(list(item.tools))) if item.tools else 0
            prompt += _tokens(item.prompt_text) + overhead + tools
        output += item.max_tokens
    n = k * passes
    how = (f"prompt tokens recorded by the reference baseline for {measured}/{s.count} items" if measured else
           f"prompt ~{CHARS_PER_TOKEN:g} chars/token")
    return Part(f"eval {name}", s.count * n, prompt * n, output * n,
                f"{s.count} items × {k} × {passes} pass(es); {how}, output at max_tokens")


def needle_part(profile_settings: Mapping[str, Any], window: int, cap: int | None) -> Part:
    from conformance.harness.evals import needle_run  # noqa: PLC0415

    ns = needle_run.NeedleSettings.from_settings(dict(profile_settings))
    grid = ns.grid(window, cap)
    per_length = len(grid.variants) * len(grid.depths) * grid.items
    return Part("eval needle", grid.requests, sum(grid.lengths) * per_length,
                grid.requests * needle_run.MAX_TOKENS[grid.api],
                f"grid for a {window}-token window: lengths {', '.join(map(str, grid.lengths))}")


def conformance_part(items: Sequence[Planned], budget: Mapping[str, Any] | None, *, long_prompt: int | None,
                     source: str) -> tuple[list[Part], str]:
    """The conformance tests from the recorded budget (per test of each requirement), the session
    traffic once, long-context tests at ``long_prompt`` tokens a request when given."""
    if not items:
        return [], ""
    if budget is None:
        return [Part("conformance", 0, 0, 0, f"{len(items)} tests without a recorded budget")], \
            f"{len(items)} conformance tests not estimated (no budget)"
    table = budget.get("by_requirement") or {}
    per_test: dict[str, tuple[float, float, float]] = {}
    for rid, e in table.items():
        tests = max(1, int(e.get("tests") or 1))
        per_test[rid] = (e.get("requests", 0) / tests, e.get("prompt_tokens", 0) / tests,
                         e.get("output_tokens", 0) / tests)
    fallback = tuple(statistics.median(v[i] for v in per_test.values()) if per_test else 0.0 for i in range(3))
    reg = [0.0, 0.0, 0.0]
    lng = [0.0, 0.0, 0.0]
    unknown = 0
    for it in items:
        fig = per_test.get(it.requirement or "")
        if fig is None:
            unknown += 1
            fig = fallback  # type: ignore[assignment]
        acc = lng if it.long_context and long_prompt else reg
        acc[0] += fig[0]
        acc[1] += fig[1] if acc is reg else fig[1] * long_prompt / BUDGET_WINDOW  # type: ignore[operator]
        acc[2] += fig[2]
    session = budget.get("unattributed") or {}
    n_long = sum(1 for i in items if i.long_context and long_prompt)
    parts = [Part("conformance", round(reg[0]) + int(session.get("requests", 0)),
                  round(reg[1]) + int(session.get("prompt_tokens", 0)),
                  round(reg[2]) + int(session.get("output_tokens", 0)),
                  f"{len(items) - n_long} tests"
                  + (f", {unknown} at the median per test (requirement not in the budget)" if unknown else ""))]
    if n_long:
        parts.append(Part("long-context", round(lng[0]), round(lng[1]), round(lng[2]),
                          f"{n_long} tests, prompt tokens scaled from the budget's {BUDGET_WINDOW}-token window to "
                          f"{long_prompt}"))
    return parts, f"{source} for {len(items)} conformance tests"


def estimate(items: Iterable[Planned], *, evals_k: int = 1, eval_passes: int = 1,
             profile_settings: Mapping[str, Any] | None = None, budget: Mapping[str, Any] | None = None,
             budget_source: str = "budget", needle_window: int | None = None, needle_cap: int | None = None,
             long_prompt: int | None = None, prices: tuple[float, float] | None = None,
             tier: str = "full") -> Estimate:
    """The estimate of the selected tests (pure: everything it reads is passed in). Tests needing a
    higher long-context tier than ``tier`` are skipped by the run and left out."""
    items = [it for it in items
             if it.tier is None or it.tier not in TIERS or TIERS.index(tier) >= TIERS.index(it.tier)]
    est = Estimate(prices=prices)
    evals: list[str] = []
    conf: list[Planned] = []
    for it in items:
        if it.is_eval:
            if it.eval_set and it.eval_set not in evals:
                evals.append(it.eval_set)
        else:
            conf.append(it)
    for name in evals:
        if name == "needle":
            if needle_window:
                est.parts.append(needle_part(profile_settings or {}, needle_window, needle_cap))
            continue
        est.parts.append(eval_part(name, k=evals_k, passes=eval_passes))
    accuracy = [n for n in evals if n != "needle"]
    if accuracy:
        est.sources.append(f"eval items ({', '.join(accuracy)})")
    if "needle" in evals:
        est.sources.append(f"the needle grid for a {needle_window}-token window (the run sizes it to the endpoint's: "
                           "an upper bound)" if needle_window else "the needle: not estimated (no window)")
    parts, src = conformance_part(conf, budget, long_prompt=long_prompt, source=budget_source)
    est.parts += parts
    if src:
        est.sources.append(src)
    return est


# --- pytest glue ---------------------------------------------------------------------------------

def for_run(items: Iterable[Planned], settings: Any, profile_settings: Mapping[str, Any],
            budget_path: Path | None = None) -> Estimate:
    """The estimate for a run's settings (``conformance.harness.config.Settings``) and profile."""
    from conformance.harness import traffic  # noqa: PLC0415

    path = Path(budget_path) if budget_path is not None else traffic.BUDGET_PATH
    try:
        budget: Mapping[str, Any] | None = traffic.load_budget(path)
        source = f"the recorded budget {path.name}"
    except traffic.BudgetError:
        budget, source = None, ""
    k = profile_settings.get("eval_repeats", 1)
    k = k if isinstance(k, int) and not isinstance(k, bool) and k >= 1 else 1
    passes = settings.eval_repeat or (2 if settings.eval_save_baseline else 1)
    stated = profile_settings.get("context_length")
    stated = stated if isinstance(stated, int) and not isinstance(stated, bool) and stated > 0 else None
    window = settings.context_length or stated or (BUDGET_WINDOW if settings.embedded else settings.max_prompt_tokens)
    long_prompt = None if settings.embedded and not settings.context_length else min(window,
                                                                                       settings.max_prompt_tokens)
    try:
        return estimate(items, evals_k=k, eval_passes=passes, profile_settings=profile_settings, budget=budget,
                        budget_source=source, needle_window=window, needle_cap=settings.max_prompt_tokens,
                        long_prompt=long_prompt, prices=parse_prices(settings.cost_per_mtok),
                        tier=str(getattr(settings, "long_context", "full")))
    except UsageError:
        raise
    except (KeyError, ValueError) as exc:  # a set that cannot be read: the run reports it itself
        est = Estimate()
        est.sources.append(f"no estimate: {exc}")
        return est
