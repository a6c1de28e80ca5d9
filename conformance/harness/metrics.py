"""Timing side-metrics per exchange, and their run-level aggregation (issue 12 §4).

Every recorded :class:`~conformance.harness.exchange.Exchange` of a run yields one
:class:`ExchangeMetrics` (:func:`exchange_metrics`): the API it called (classified from the path),
TTFB, for streams the arrival times of the first token of any kind, of the first content token and
of the last token and the gaps between token-bearing events, the end-to-end latency and the token
counts the server reported in ``usage``. :func:`aggregate` pools them per API and over the run
(nearest-rank percentiles, :func:`summarize`); :func:`judge_budgets` compares the aggregate with the
latency budgets a profile may declare.

Metrics are *recorded*, never gated by default: a verdict must not depend on timing unless a
profile sets budgets. The definitions follow AIPerf's (``ai-dynamo/aiperf``), see
:data:`DEFINITIONS`; the times all come from one clock (``time.monotonic()`` since the request
was sent), so they are comparable within an exchange.

This module is pure: it reads exchanges, it sends nothing.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance.harness.exchange import EVENT_STREAM, Exchange

__all__ = [
    "APIS",
    "DEFINITIONS",
    "ExchangeMetrics",
    "Budget",
    "BudgetResult",
    "Collector",
    "METRIC_KEYS",
    "aggregate",
    "classify_api",
    "exchange_metrics",
    "judge_budgets",
    "parse_budgets",
    "summarize",
]

#: The API classes, in report order. ``other`` is anything the suite calls that is none of these.
APIS = ("chat", "completions", "responses", "messages", "count_tokens", "models", "health", "other")

#: The timing metrics aggregated per API (each a :func:`summarize` dict), in report order.
METRIC_KEYS = (
    "ttfb_ms", "ttft_ms", "ttft_content_ms", "itl_ms", "tpot_ms", "e2e_ms",
    "output_tokens_per_s", "input_tokens", "output_tokens",
)

PERCENTILE_METHOD = "nearest-rank"

#: One line per metric, with the AIPerf metric it maps to (``conformance.json`` ``metrics.definitions``).
DEFINITIONS: dict[str, str] = {
    "ttfb_ms": "request sent -> response headers received (all requests; AIPerf: none, closest is "
               "'time to first response' for non-streamed requests)",
    "ttft_ms": "request sent -> arrival of the first SSE event carrying a token of any kind: content, reasoning "
               "(reasoning_content/reasoning, Responses reasoning deltas, Messages thinking_delta) or tool-call "
               "arguments; streamed 2xx only (AIPerf: time_to_first_token, which ignores tool-call-only deltas)",
    "ttft_content_ms": "request sent -> first non-reasoning token (content, refusal or tool-call arguments); "
                       "streamed only (llama-benchy: e2e_ttft; equals ttft_ms unless the model reasons first)",
    "itl_ms": "every gap between consecutive token-bearing SSE events of a stream, pooled over requests "
              "(AIPerf: inter_chunk_latency)",
    "tpot_ms": "(e2e_ms - ttft_ms) / (output_tokens - 1), per streamed request with output_tokens > 1 "
               "(AIPerf: inter_token_latency; vllm bench: TPOT)",
    "e2e_ms": "request sent -> last response byte (AIPerf: request_latency)",
    "output_tokens_per_s": "per request: output_tokens / e2e (AIPerf's per-request view; its "
                           "output_token_throughput is total tokens / benchmark duration)",
    "input_tokens": "server-reported prompt tokens: usage.prompt_tokens (chat/completions), usage.input_tokens "
                    "(Responses, Messages message_start/message_delta) (AIPerf: input_sequence_length, "
                    "which it counts client-side)",
    "output_tokens": "server-reported output tokens including reasoning: usage.completion_tokens, "
                     "usage.output_tokens; when a stream carries no usage, the number of token-bearing events "
                     "(an estimate, flagged output_tokens_source=events) (AIPerf: output_sequence_length, "
                     "re-tokenized client-side)",
}

#: Paths (their last segments) of each API; matched against the end of the path without the query.
_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("/chat/completions", "chat"),
    ("/messages/count_tokens", "count_tokens"),
    ("/completions", "completions"),
    ("/responses", "responses"),
    ("/messages", "messages"),
    ("/models", "models"),
)
_HEALTH = ("/health", "/health/ready", "/health/live", "/healthz", "/ready", "/live")


def classify_api(path: str) -> str:
    """The API class of a request path (``/v1/chat/completions?x=1`` -> ``chat``); ``other`` when
    it is none of :data:`APIS`. ``/v1/models/{id}`` is ``models``; ``/v1/responses/{id}`` (retrieve,
    cancel, input items) is ``other``: only ``POST …/responses`` generates."""
    p = path.split("?", 1)[0].split("#", 1)[0].rstrip("/").lower() or "/"
    for suffix, api in _SUFFIXES:
        if p.endswith(suffix):
            return api
    segments = p.split("/")
    if len(segments) >= 2 and segments[-2] == "models":
        return "models"
    if any(p.endswith(h) for h in _HEALTH):
        return "health"
    return "other"


@dataclass(slots=True)
class ExchangeMetrics:
    """The side-metrics of one exchange. Times are milliseconds since the request was sent; a
    metric that does not apply or could not be measured is ``None``, never 0."""

    seq: int
    api: str
    method: str
    path: str
    stream: bool  # the response was an event stream that was parsed
    status: int | None
    #: why the exchange is left out of the timing distributions: "error", "status", "stopped" (None: counted)
    excluded: str | None = None
    ttfb_ms: float | None = None
    first_byte_ms: float | None = None
    first_event_ms: float | None = None
    ttft_ms: float | None = None
    ttft_content_ms: float | None = None
    last_token_ms: float | None = None
    e2e_ms: float | None = None
    itl_ms: list[float] = field(default_factory=list)
    tpot_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    output_tokens_source: str | None = None  # "usage" | "events" (estimate) | None
    token_events: int = 0  # SSE events that carried a token
    output_tokens_per_s: float | None = None
    #: sanity invariants that do not hold (a harness bug, reported, never gated)
    violations: list[str] = field(default_factory=list)
    nodeid: str | None = None

    @property
    def counted(self) -> bool:
        return self.excluded is None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able: numbers, the path and the node id, no bodies."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float):
                out[key] = round(value, 3)
        out["itl_ms"] = [round(v, 3) for v in self.itl_ms]
        return out


# -- token detection per API ---------------------------------------------------------------------

#: (kind of the first token, or None) for one SSE payload: "reasoning" or "content" (content,
#: refusal, tool-call arguments). A payload may carry both (several choices): "content" wins for
#: ttft_content, any kind counts for ttft.
def _nonempty(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _chat_kinds(payload: Mapping[str, Any]) -> set[str]:
    kinds: set[str] = set()
    choices = payload.get("choices")
    if not isinstance(choices, list):
        return kinds
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        if isinstance(delta, dict):
            if _nonempty(delta.get("content")) or _nonempty(delta.get("refusal")):
                kinds.add("content")
            if _nonempty(delta.get("reasoning_content")) or _nonempty(delta.get("reasoning")):
                kinds.add("reasoning")
            calls = delta.get("tool_calls")
            if isinstance(calls, list) and calls:
                kinds.add("content")
            fc = delta.get("function_call")  # legacy
            if isinstance(fc, dict) and fc:
                kinds.add("content")
        if _nonempty(choice.get("text")):  # /v1/completions
            kinds.add("content")
    return kinds


_RESPONSES_CONTENT = {
    "response.output_text.delta", "response.refusal.delta", "response.function_call_arguments.delta",
    "response.custom_tool_call_input.delta", "response.mcp_call_arguments.delta",
}
_RESPONSES_REASONING = {
    "response.reasoning_text.delta", "response.reasoning.delta", "response.reasoning_summary_text.delta",
    "response.reasoning_summary.delta",
}


def _responses_kinds(etype: str, payload: Mapping[str, Any]) -> set[str]:
    kind = "content" if etype in _RESPONSES_CONTENT else "reasoning" if etype in _RESPONSES_REASONING else None
    if kind is None:
        return set()
    delta = payload.get("delta")
    return {kind} if _nonempty(delta) or (isinstance(delta, dict) and delta) else set()


def _messages_kinds(etype: str, payload: Mapping[str, Any]) -> set[str]:
    if etype != "content_block_delta":
        return set()
    delta = payload.get("delta")
    if not isinstance(delta, dict):
        return set()
    dtype = delta.get("type")
    if dtype == "text_delta" and _nonempty(delta.get("text")):
        return {"content"}
    if dtype == "input_json_delta" and _nonempty(delta.get("partial_json")):
        return {"content"}
    if dtype == "thinking_delta" and _nonempty(delta.get("thinking")):
        return {"reasoning"}
    return set()  # signature_delta, citations, empty pieces


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _openai_usage(usage: Any, into: dict[str, int | None]) -> None:
    if not isinstance(usage, dict):
        return
    if (v := _int(usage.get("prompt_tokens"))) is not None:
        into["input"] = v
    if (v := _int(usage.get("completion_tokens"))) is not None:
        into["output"] = v
    details = usage.get("completion_tokens_details")
    if isinstance(details, dict) and (v := _int(details.get("reasoning_tokens"))) is not None:
        into["reasoning"] = v


def _io_usage(usage: Any, into: dict[str, int | None]) -> None:
    """Responses / Messages ``usage``: ``input_tokens`` (plus the Messages cache read/creation
    tokens, which it does not include) / ``output_tokens``."""
    if not isinstance(usage, dict):
        return
    if (v := _int(usage.get("input_tokens"))) is not None:
        cached = [_int(usage.get(k)) for k in ("cache_read_input_tokens", "cache_creation_input_tokens")]
        into["input"] = v + sum(c for c in cached if c is not None)
    if (v := _int(usage.get("output_tokens"))) is not None:
        into["output"] = v
    details = usage.get("output_tokens_details")
    if isinstance(details, dict) and (v := _int(details.get("reasoning_tokens"))) is not None:
        into["reasoning"] = v


def _usage_of_payload(api: str, etype: str, payload: Mapping[str, Any], into: dict[str, int | None]) -> None:
    if api in ("chat", "completions"):
        _openai_usage(payload.get("usage"), into)
    elif api == "responses":
        response = payload.get("response")
        if isinstance(response, dict):
            _io_usage(response.get("usage"), into)
        elif etype == "" and "usage" in payload:  # a non-streamed Response object
            _io_usage(payload.get("usage"), into)
    elif api == "messages":
        message = payload.get("message")
        if etype == "message_start" and isinstance(message, dict):
            _io_usage(message.get("usage"), into)
        else:  # message_delta carries the cumulative usage; a non-streamed Message carries it at the top
            _io_usage(payload.get("usage"), into)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def exchange_metrics(ex: Exchange, *, include_other: bool = False) -> ExchangeMetrics | None:
    """The side-metrics of one exchange; ``None`` when its path is none of the known APIs (unless
    ``include_other``, then it is classified ``other`` with TTFB/E2E only)."""
    api = classify_api(ex.path)
    if api == "other" and not include_other:
        return None
    streamed = ex.sse is not None and ex.content_type == EVENT_STREAM
    m = ExchangeMetrics(seq=ex.seq, api=api, method=ex.method, path=ex.path.split("?", 1)[0],
                        stream=streamed, status=ex.status)
    if ex.error:
        m.excluded = "error"
    elif ex.status is None or not 200 <= ex.status < 300:
        m.excluded = "status"
    elif ex.stopped:
        m.excluded = "stopped"
    m.ttfb_ms = _ms(ex.ttfb_s)
    m.first_byte_ms = _ms(ex.first_byte_s)
    last_byte = ex.chunk_times[-1][0] if ex.chunk_times else None
    m.e2e_ms = _ms(last_byte if last_byte is not None else (ex.total_s if ex.status is not None else None))
    usage: dict[str, int | None] = {"input": None, "output": None, "reasoning": None}
    if streamed:
        assert ex.sse is not None
        token_times: list[float] = []
        previous_t: float | None = None
        for event in ex.sse.events:
            if m.first_event_ms is None:
                m.first_event_ms = _ms(event.t_received)
            if previous_t is not None and event.t_received < previous_t:
                m.violations.append("event arrival times are not monotone")
            previous_t = event.t_received
            data = event.data.strip()
            if not data or data == "[DONE]":
                continue
            try:
                payload = json.loads(data)
            except ValueError:
                continue
            if not isinstance(payload, dict):
                continue
            etype = payload.get("type") if isinstance(payload.get("type"), str) else event.type
            if api in ("chat", "completions"):
                kinds = _chat_kinds(payload)
            elif api == "responses":
                kinds = _responses_kinds(etype, payload)
            elif api == "messages":
                kinds = _messages_kinds(etype, payload)
            else:
                kinds = set()
            _usage_of_payload(api, etype, payload, usage)
            if not kinds:
                continue
            t = event.t_received
            token_times.append(t)
            if m.ttft_ms is None:
                m.ttft_ms = _ms(t)
            if "content" in kinds and m.ttft_content_ms is None:
                m.ttft_content_ms = _ms(t)
        m.token_events = len(token_times)
        if token_times:
            m.last_token_ms = _ms(token_times[-1])
            m.itl_ms = [(b - a) * 1000.0 for a, b in zip(token_times, token_times[1:])]
    elif ex.status is not None and 200 <= ex.status < 300 and api in ("chat", "completions", "responses", "messages"):
        payload = ex.json_or_none()
        if isinstance(payload, dict):
            _usage_of_payload(api, "", payload, usage)
    m.input_tokens, m.output_tokens, m.reasoning_tokens = usage["input"], usage["output"], usage["reasoning"]
    if m.output_tokens is not None:
        m.output_tokens_source = "usage"
    elif m.token_events:
        m.output_tokens, m.output_tokens_source = m.token_events, "events"
    if m.output_tokens is not None and m.output_tokens > 1 and m.ttft_ms is not None and m.e2e_ms is not None:
        m.tpot_ms = (m.e2e_ms - m.ttft_ms) / (m.output_tokens - 1)
    if m.output_tokens and m.e2e_ms:
        m.output_tokens_per_s = m.output_tokens / (m.e2e_ms / 1000.0)
    _check_invariants(m)
    return m


def _check_invariants(m: ExchangeMetrics) -> None:
    order = [("ttfb", m.ttfb_ms), ("first byte", m.first_byte_ms), ("first event", m.first_event_ms),
             ("ttft", m.ttft_ms), ("ttft_content", m.ttft_content_ms), ("e2e", m.e2e_ms)]
    known = [(name, v) for name, v in order if v is not None]
    for (a, va), (b, vb) in zip(known, known[1:]):
        if va > vb + 1e-9:
            m.violations.append(f"{a} ({va:.3f} ms) after {b} ({vb:.3f} ms)")
    if m.last_token_ms is not None and m.e2e_ms is not None and m.last_token_ms > m.e2e_ms + 1e-9:
        m.violations.append("last token after e2e")
    if m.tpot_ms is not None and m.tpot_ms < 0:
        m.violations.append("tpot < 0")


# -- aggregation ---------------------------------------------------------------------------------

def summarize(values: Sequence[float] | Iterable[float]) -> dict[str, Any]:
    """``n``, nearest-rank ``p50``/``p90``/``p99``, ``mean``, ``min``, ``max`` of ``values``
    (``None`` entries are dropped). With no values every statistic is ``None``."""
    xs = sorted(float(v) for v in values if v is not None)
    n = len(xs)
    if n == 0:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "mean": None, "min": None, "max": None}

    def rank(p: float) -> float:
        return xs[max(1, math.ceil(p / 100.0 * n)) - 1]

    return {"n": n, "p50": _r(rank(50)), "p90": _r(rank(90)), "p99": _r(rank(99)),
            "mean": _r(sum(xs) / n), "min": _r(xs[0]), "max": _r(xs[-1])}


def _r(x: float) -> float:
    return round(x, 3)


def _group(ms: Sequence[ExchangeMetrics]) -> dict[str, Any]:
    counted = [m for m in ms if m.counted]
    out: dict[str, Any] = {
        "requests": len(ms),
        "streamed": sum(1 for m in ms if m.stream),
        "errors": sum(1 for m in ms if m.excluded in ("error", "status")),
        "stopped": sum(1 for m in ms if m.excluded == "stopped"),
        "excluded": len(ms) - len(counted),
        "violations": sum(1 for m in ms if m.violations),
    }
    for key in METRIC_KEYS:
        if key == "itl_ms":
            values: list[float] = [v for m in counted for v in m.itl_ms]
        else:
            values = [getattr(m, key) for m in counted if getattr(m, key) is not None]
        out[key] = summarize(values)
    return out


def aggregate(ms: Iterable[ExchangeMetrics]) -> dict[str, Any]:
    """``{"apis": {api: group}, "run": group}``: a group counts requests, streamed, errors
    (transport errors and non-2xx), stopped, excluded (errors + stopped: left out of the timing
    distributions) and summarizes each of :data:`METRIC_KEYS` over the counted exchanges."""
    items = list(ms)
    apis = {api: _group([m for m in items if m.api == api]) for api in APIS if any(m.api == api for m in items)}
    return {"apis": apis, "run": _group(items)}


def metrics_block(ms: Iterable[ExchangeMetrics], budgets: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ``metrics`` block of ``conformance.json``."""
    block: dict[str, Any] = {"definitions": dict(DEFINITIONS), "percentile_method": PERCENTILE_METHOD}
    block.update(aggregate(ms))
    if budgets:
        block["budgets"] = budgets
    return block


# -- budgets -------------------------------------------------------------------------------------

#: A budget judged on fewer counted samples than this is not judged (the statistic means little).
DEFAULT_MIN_SAMPLES = 5
_STATS = ("p50", "p90", "p99", "mean", "min", "max")
_BUDGET_METRICS = tuple(k for k in METRIC_KEYS if k not in ("input_tokens", "output_tokens"))


@dataclass(frozen=True, slots=True)
class Budget:
    """``stat`` of ``metric`` over the counted exchanges of ``api`` (or ``run``) must be ≤ ``max``
    (or ≥ ``min``; both may be given). ``min_samples`` below which it is not judged."""

    api: str
    metric: str
    stat: str
    max: float | None = None
    min: float | None = None
    min_samples: int = DEFAULT_MIN_SAMPLES

    def label(self) -> str:
        bounds = []
        if self.max is not None:
            bounds.append(f"<= {self.max:g}")
        if self.min is not None:
            bounds.append(f">= {self.min:g}")
        return f"{self.api} {self.metric} {self.stat} {' and '.join(bounds)}"


@dataclass(frozen=True, slots=True)
class BudgetResult:
    budget: Budget
    value: float | None
    n: int
    ok: bool | None  # None: not judged (too few samples)
    reason: str

    def as_dict(self, requirement: str | None = None) -> dict[str, Any]:
        b = self.budget
        out: dict[str, Any] = {}
        if requirement:
            out["requirement"] = requirement
        out.update({"api": b.api, "metric": b.metric, "stat": b.stat, "limit": b.max, "min": b.min,
                    "value": self.value, "n": self.n, "min_samples": b.min_samples, "ok": self.ok,
                    "reason": self.reason})
        if b.min is None:
            out.pop("min")
        return out


def parse_budgets(raw: Any) -> list[Budget]:
    """Validate a profile's ``metric_budgets`` (a list of tables); raises ``ValueError`` naming
    the offending entry."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError("metric_budgets must be a list of tables")
    out: list[Budget] = []
    for i, entry in enumerate(raw):
        where = f"metric_budgets[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be a table")
        unknown = set(entry) - {"api", "metric", "stat", "max", "min", "min_samples"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        api = entry.get("api", "run")
        if api not in APIS and api != "run":
            raise ValueError(f"{where}: api {api!r} is not one of {list(APIS) + ['run']}")
        metric = entry.get("metric")
        if metric not in _BUDGET_METRICS:
            raise ValueError(f"{where}: metric {metric!r} is not one of {list(_BUDGET_METRICS)}")
        stat = entry.get("stat", "p90")
        if stat not in _STATS:
            raise ValueError(f"{where}: stat {stat!r} is not one of {list(_STATS)}")
        bounds = {}
        for key in ("max", "min"):
            value = entry.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError(f"{where}: {key} must be a number")
            bounds[key] = float(value) if value is not None else None
        if bounds["max"] is None and bounds["min"] is None:
            raise ValueError(f"{where}: give max and/or min")
        min_samples = entry.get("min_samples", DEFAULT_MIN_SAMPLES)
        if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
            raise ValueError(f"{where}: min_samples must be a positive integer")
        out.append(Budget(api=api, metric=metric, stat=stat, max=bounds["max"], min=bounds["min"],
                          min_samples=min_samples))
    return out


def judge_budgets(budgets: Sequence[Budget], agg: Mapping[str, Any]) -> list[BudgetResult]:
    """Judge each budget against an :func:`aggregate` result."""
    results = []
    for b in budgets:
        group = agg.get("run") if b.api == "run" else agg.get("apis", {}).get(b.api)
        stats = (group or {}).get(b.metric) or {}
        n = int(stats.get("n") or 0)
        value = stats.get(b.stat)
        if n < b.min_samples or value is None:
            results.append(BudgetResult(b, value, n, None,
                                        f"not judged: {n} sample(s) of {b.api} {b.metric}, fewer than "
                                        f"min_samples={b.min_samples}"))
            continue
        failed = []
        if b.max is not None and value > b.max:
            failed.append(f"{value:g} > {b.max:g}")
        if b.min is not None and value < b.min:
            failed.append(f"{value:g} < {b.min:g}")
        reason = (f"{b.api} {b.metric} {b.stat} = {value:g} over {n} samples: "
                  + ("; ".join(failed) if failed else f"holds ({b.label().split(' ', 3)[-1]})"))
        results.append(BudgetResult(b, value, n, not failed, reason))
    return results


# -- collection during a run ---------------------------------------------------------------------

class Collector:
    """The per-exchange metrics of a run, in the order the exchanges finished. :meth:`record` is
    the client's ``on_exchange`` hook body (it runs on the client's event-loop thread): it never
    raises, a metrics bug must not break an exchange."""

    def __init__(self) -> None:
        self.items: list[ExchangeMetrics] = []
        self.nodeid: str | None = None  # the test running now (set by the plugin)
        self.failures: list[str] = []  # exceptions raised while computing metrics (a harness bug)
        self._lock = threading.Lock()

    def record(self, ex: Exchange) -> ExchangeMetrics | None:
        try:
            m = exchange_metrics(ex, include_other=True)
        except Exception as exc:  # noqa: BLE001 - recorded, reported, never raised into the client
            with self._lock:
                self.failures.append(f"exchange {ex.seq}: {type(exc).__name__}: {exc}")
            return None
        if m is not None:
            m.nodeid = self.nodeid
            with self._lock:
                self.items.append(m)
        return m

    def by_seq(self, seq: int) -> ExchangeMetrics | None:
        with self._lock:
            for m in reversed(self.items):
                if m.seq == seq:
                    return m
        return None

    def write_jsonl(self, path: Path) -> Path:
        """``metrics.jsonl``: one line per exchange (numbers, the path and the test id; no bodies)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            lines = [json.dumps(m.as_dict(), ensure_ascii=False) for m in self.items]
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return path


# -- summary.md ----------------------------------------------------------------------------------

def _fmt(value: Any, digits: int = 0) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def summary_lines(block: Mapping[str, Any] | None) -> list[str]:
    """The "Timing (not gating)" section of summary.md from a ``metrics`` block."""
    if not block or not block.get("apis"):
        return []
    lines = ["## Timing (not gating)", "",
             f"Per API, over the exchanges that completed with a 2xx status ({block.get('percentile_method', '')} "
             "percentiles; n is the sample count: a p99 of few samples means little). Milliseconds; "
             "definitions in conformance.json `metrics.definitions`.", "",
             "| api | requests | excluded | TTFT p50/p90/p99 (n) | TPOT p50/p90/p99 (n) | E2E p50/p90/p99 (n) "
             "| output tok/s p50 (n) |",
             "|---|---|---|---|---|---|---|"]

    def trio(stats: Mapping[str, Any] | None, digits: int = 0) -> str:
        stats = stats or {}
        if not stats.get("n"):
            return "–"
        return (f"{_fmt(stats.get('p50'), digits)} / {_fmt(stats.get('p90'), digits)} / "
                f"{_fmt(stats.get('p99'), digits)} ({stats['n']})")

    rows = list(block["apis"].items())
    if block.get("run"):
        rows.append(("**run**", block["run"]))
    for api, g in rows:
        tps = g.get("output_tokens_per_s") or {}
        tps_cell = f"{_fmt(tps.get('p50'), 1)} ({tps['n']})" if tps.get("n") else "–"
        lines.append(f"| {api} | {g.get('requests', 0)} | {g.get('excluded', 0)} | {trio(g.get('ttft_ms'))} | "
                     f"{trio(g.get('tpot_ms'), 1)} | {trio(g.get('e2e_ms'))} | {tps_cell} |")
    lines.append("")
    budgets = block.get("budgets") or []
    if budgets:
        lines += ["Declared latency budgets (profile `metric_budgets`):", ""]
        for b in budgets:
            state = "" if b.get("ok") is None else "ok: " if b["ok"] else "EXCEEDED: "
            lines.append(f"- {state}{b.get('reason', '')}")  # a reason not judged starts with "not judged"
        lines.append("")
    run = block.get("run") or {}
    if run.get("violations"):
        lines += [f"- {run['violations']} exchange(s) with inconsistent timings (a harness bug; see metrics.jsonl "
                  "`violations`)", ""]
    return lines


# -- end of run: the metrics block, the budget requirement row -------------------------------------

#: The requirement the declared latency budgets are judged against (SHOULD: gates only under --strict).
BUDGET_REQUIREMENT = "OAI-PERF-001"
#: The node id of the session-end record of the budget judgement (no pytest item has it).
BUDGET_NODEID = "llmconf::run::metric_budgets"


def budget_record(results: Sequence[BudgetResult], *, catalog: Any, profile: Any, strict: bool) -> Any:
    """The :class:`~conformance.harness.outcomes.TestRecord` of the budget judgement, or ``None``
    when no budget is declared (the requirement is then not applicable: no row). A budget over the
    limit is a violation of :data:`BUDGET_REQUIREMENT` judged like any other (non-strict by
    default, failed under ``--strict``, excused by a profile deviation); budgets with too few
    samples are not judged, and when none is judged the row is skipped with the reason."""
    from conformance.harness import outcomes  # noqa: PLC0415 - avoids an import cycle at load time

    if not results:
        return None
    rec = outcomes.TestRecord(nodeid=BUDGET_NODEID, requirement=BUDGET_REQUIREMENT)
    judged = [r for r in results if r.ok is not None]
    if not judged:
        rec.outcome = "skipped"
        rec.message = "not applicable: " + "; ".join(r.reason for r in results)
        return rec
    over = [r for r in judged if not r.ok]
    if not over:
        rec.outcome, rec.message = "passed", "; ".join(r.reason for r in results)
        return rec
    from conformance.harness.checks.perf import latency_budgets_hold  # noqa: PLC0415
    from conformance.harness.failures import ConformanceFailure  # noqa: PLC0415

    try:
        latency_budgets_hold([r.as_dict() for r in results])
    except ConformanceFailure as exc:
        failure = exc
    else:  # pragma: no cover - the check fails whenever a judged budget is over
        raise AssertionError("latency_budgets_hold passed a budget that is over its limit")
    [violation] = outcomes.violations_of(failure, default_requirement=BUDGET_REQUIREMENT, catalog=catalog)
    # shapes: which budgets (so a profile deviation can excuse exactly those)
    violation = outcomes.Violation(violation.requirement, violation.level, violation.message,
                                   tuple(f"{r.budget.api} {r.budget.metric} {r.budget.stat}" for r in over),
                                   violation.source)
    j = outcomes.judge(violation, profile=profile, case=None, strict=strict)
    rec.violations = [j.as_dict(BUDGET_NODEID)]
    rec.outcome = {outcomes.FAILED: "failed", outcomes.NON_STRICT: "non-strict",
                   outcomes.KNOWN: "xfailed"}.get(j.kind, "observed")
    rec.message = rec.violations[0]["message"]
    return rec


def finish(collector: Collector, *, profile: Any, catalog: Any, strict: bool,
           reports_dir: Path) -> tuple[dict[str, Any], Any]:
    """At the end of a run: write ``metrics.jsonl``, build the ``metrics`` block (with the budget
    results when the profile declares ``metric_budgets``) and the budget record (or ``None``)."""
    collector.write_jsonl(reports_dir / "metrics.jsonl")
    budgets = parse_budgets(profile.setting("metric_budgets") if profile is not None else None)
    agg = aggregate(collector.items)
    results = judge_budgets(budgets, agg)
    block: dict[str, Any] = {"definitions": dict(DEFINITIONS), "percentile_method": PERCENTILE_METHOD, **agg}
    if results:
        block["budgets"] = [r.as_dict(BUDGET_REQUIREMENT) for r in results]
    if collector.failures:
        block["harness_errors"] = collector.failures[:20]
    return block, budget_record(results, catalog=catalog, profile=profile, strict=strict)


def derived_timings_s(ex: Exchange) -> dict[str, float]:
    """New keys for an exchange record's ``timings_s`` (the Allure ``request-N.json``): the first
    token of any kind, the first content token, the last token and TPOT, in seconds; only those
    that apply. Never raises (a metrics bug must not break a report)."""
    try:
        m = exchange_metrics(ex, include_other=True)
    except Exception:  # noqa: BLE001
        return {}
    if m is None:
        return {}
    pairs = (("first_token", m.ttft_ms), ("first_content_token", m.ttft_content_ms),
             ("last_token", m.last_token_ms), ("tpot", m.tpot_ms))
    return {key: round(value / 1000.0, 6) for key, value in pairs if value is not None}
