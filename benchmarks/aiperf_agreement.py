"""AIPerf agreement benchmark (issue 12 §4): do the suite's timing metrics agree with NVIDIA AIPerf's?

One reference (or ``--endpoint``), one authored prompt set, the same concurrency, the same
``max_tokens`` with a fixed output length, sent once through AIPerf (``aiperf profile``, PyPI
``aiperf``) and once through the suite's own :class:`~conformance.harness.client.Client`, whose
recorded exchanges go through :func:`conformance.harness.metrics.exchange_metrics`. The two tools
alternate in ABBA order per concurrency level so that drift of a shared machine cancels. The
per-request values of both tools are pooled over the rounds and their medians compared with the
*same* median function; the report gives suite/AIPerf ratios, whether each is within the target
(5 %), and the round-to-round spread of each tool (the noise floor the ratios must be read against).

This is a benchmark, not a test: it judges nothing about the endpoint, it measures. It never
downloads: AIPerf is run with ``--use-server-token-count`` on a custom ``single_turn`` input file and
a local stub tokenizer directory (written here; AIPerf insists on loading *a* tokenizer even when it
does not tokenize), GPU telemetry and server-metrics scraping are off, and the AIPerf process gets
an unreachable HTTP(S) proxy for every host but the endpoint's, so an attempted download fails
instead of happening. Without AIPerf it skips, printing the install command.

Run: ``python -m benchmarks.aiperf_agreement [--quick] [--endpoint URL]``; writes
``reports/benchmarks/aiperf-agreement.{json,md}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

NAME = "aiperf-agreement"
SCHEMA_VERSION = 1
TARGET_PCT = 5.0
AIPERF_VERSION = "0.13.0"
AIPERF_VENV = Path(os.environ.get("LLMCONF_CACHE_DIR") or Path.home() / ".cache" / "llmconf") / "aiperf-venv"
INSTALL_HINT = (
    f"python3 -m venv {AIPERF_VENV} && {AIPERF_VENV}/bin/pip install aiperf=={AIPERF_VERSION}"
    "   (its own venv: it has many dependencies; or point --aiperf / $LLMCONF_AIPERF at an aiperf executable)"
)
CHAT_PATH = "/v1/chat/completions"
#: Sent by both tools with every request. ``ignore_eos`` fixes the output length at ``max_tokens``
#: (llama.cpp and vLLM honour it); ``cache_prompt: false`` keeps llama.cpp's prompt cache from
#: making the second tool's repeat of a prompt faster than the first's.
DEFAULT_EXTRA: dict[str, Any] = {"temperature": 0, "ignore_eos": True, "cache_prompt": False}


# -- the prompt set --------------------------------------------------------------------------------

_SUBJECTS = (
    "a lighthouse keeper's morning", "how a bicycle gear works", "the water cycle", "a night market",
    "why bread rises", "a chess opening", "the life of a honeybee", "how tides form",
    "a train journey through mountains", "the history of paper", "a rainy afternoon in a library",
    "how a compass works", "a desert at dawn", "the rules of a card game", "an old clock tower",
    "how volcanoes erupt", "a fishing village", "the invention of the telescope", "a winter forest",
    "how a bridge carries weight", "a busy airport", "the migration of birds", "a pottery workshop",
    "how rainbows appear",
)


def prompt_set(n: int) -> list[str]:
    """``n`` deterministic, distinct user prompts of similar length (a numbered case each, so no
    two share more than the template's prefix)."""
    if n < 1:
        raise ValueError("the prompt set needs at least one prompt")
    out = []
    for i in range(n):
        subject = _SUBJECTS[i % len(_SUBJECTS)]
        out.append(f"Case {i + 1:03d}. Write a calm, detailed paragraph about {subject}. "
                   f"Use plain words, keep a steady pace, and do not use lists or headings.")
    return out


def write_input_file(path: Path, prompts: Sequence[str], max_tokens: int) -> Path:
    """AIPerf's ``--custom-dataset-type single_turn`` JSONL: one ``{"text", "output_length"}`` per
    line (``output_length`` becomes the request's ``max_tokens`` with ``--use-legacy-max-tokens``)."""
    if max_tokens < 2:
        raise ValueError("max_tokens must be at least 2 (TPOT needs two tokens)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for text in prompts:
            f.write(json.dumps({"text": text, "output_length": max_tokens}, ensure_ascii=False) + "\n")
    return path


def chat_body(model: str, prompt: str, max_tokens: int, extra: Mapping[str, Any]) -> dict[str, Any]:
    """The request the suite sends: the body AIPerf's chat endpoint builds for the same input line
    (checked against its ``inputs.json``), key for key."""
    body: dict[str, Any] = {"messages": [{"role": "user", "content": prompt}], "model": model, "stream": True,
                            "max_tokens": max_tokens}
    body.update(extra)
    body["stream_options"] = {"include_usage": True}
    return body


def write_stub_tokenizer(directory: Path) -> Path:
    """A local HF-format tokenizer (one-entry WordLevel vocabulary) that satisfies AIPerf's
    tokenizer loader without the Hub. With ``--use-server-token-count`` AIPerf does not tokenize
    for its metrics, so the stub never shows in a number."""
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 0, "content": "[UNK]", "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True}],
        "normalizer": None, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": None, "decoder": None,
        "model": {"type": "WordLevel", "vocab": {"[UNK]": 0}, "unk_token": "[UNK]"},
    }
    (directory / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    (directory / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "[UNK]", "model_max_length": 1_000_000}),
        encoding="utf-8")
    return directory


# -- per-request values ----------------------------------------------------------------------------

#: The compared metrics: (key, label, suite field of ExchangeMetrics or a derivation, AIPerf record metric).
@dataclass(frozen=True, slots=True)
class Pair:
    key: str
    label: str
    aiperf: str
    unit: str
    pooled: bool = False  # a list per request (gaps), pooled over requests


PAIRS: tuple[Pair, ...] = (
    Pair("ttft_ms", "TTFT", "time_to_first_token", "ms"),
    Pair("ttft_content_ms", "TTFT (first content token)", "time_to_first_output_token", "ms"),
    Pair("tpot_ms", "TPOT = AIPerf ITL", "inter_token_latency", "ms"),
    Pair("itl_ms", "gaps between token events = AIPerf ICL", "inter_chunk_latency", "ms", pooled=True),
    Pair("e2e_ms", "E2E request latency", "request_latency", "ms"),
    Pair("output_tokens_per_s", "output tokens/s per request (OSL / E2E)", "e2e_output_token_throughput", "tok/s"),
    Pair("decode_tokens_per_s", "decode tokens/s per user (1000 / TPOT)", "output_token_throughput_per_user", "tok/s"),
    Pair("output_tokens", "output tokens", "output_sequence_length", "tokens"),
    Pair("input_tokens", "input tokens (server usage)", "input_sequence_length", "tokens"),
    # The server's own account of the same requests (llama.cpp's ``timings`` in the last chunk; read
    # from the suite's exchange and from AIPerf's raw export): shows whether the *server* was slower
    # during one tool's runs, which no client-side definition can explain.
    Pair("server_prompt_ms", "server prefill time (llama.cpp timings.prompt_ms)", "raw: timings.prompt_ms", "ms"),
    Pair("server_decode_ms", "server decode ms/token (timings.predicted_per_token_ms)",
         "raw: timings.predicted_per_token_ms", "ms"),
    Pair("server_total_ms", "server prefill + decode time (timings.prompt_ms + predicted_ms)",
         "raw: timings", "ms"),
    Pair("ttft_minus_prefill_ms", "TTFT − server prefill (client + transport + queue)", "derived", "ms"),
)
SERVER_KEYS = ("server_prompt_ms", "server_decode_ms", "server_total_ms", "ttft_minus_prefill_ms")

#: metric -> (server metric that paces it, +1 for a time, -1 for a rate). ``ratio / server ratio``
#: (times; ``ratio * server ratio`` for rates) takes out the server running faster or slower during
#: one tool's rounds (machine load), leaving the difference in how the two clients measure.
SERVER_PACE: dict[str, tuple[str, int]] = {
    "ttft_ms": ("server_prompt_ms", 1), "ttft_content_ms": ("server_prompt_ms", 1),
    "tpot_ms": ("server_decode_ms", 1), "itl_ms": ("server_decode_ms", 1),
    "e2e_ms": ("server_total_ms", 1), "output_tokens_per_s": ("server_total_ms", -1),
    "decode_tokens_per_s": ("server_decode_ms", -1),
}


def derive(row: dict[str, Any]) -> dict[str, Any]:
    """Adds ``ttft_minus_prefill_ms``: the part of TTFT the server did not spend in prefill."""
    ttft, prefill = row.get("ttft_ms"), row.get("server_prompt_ms")
    row["ttft_minus_prefill_ms"] = ttft - prefill if ttft is not None and prefill is not None else None
    return row


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def server_timings(payloads: Iterable[str]) -> dict[str, float | None]:
    """llama.cpp's per-request ``timings`` (the last SSE data payload that has them): prefill
    time and decode time per token as the server measured them; ``None`` from other servers."""
    found: dict[str, float | None] = {"server_prompt_ms": None, "server_decode_ms": None, "server_total_ms": None}
    for data in payloads:
        data = data.strip()
        if not data.startswith("{") or '"timings"' not in data:
            continue
        try:
            timings = json.loads(data).get("timings")
        except ValueError:
            continue
        if isinstance(timings, dict):
            prompt, decode = _num(timings.get("prompt_ms")), _num(timings.get("predicted_per_token_ms"))
            predicted = _num(timings.get("predicted_ms"))
            found = {"server_prompt_ms": prompt, "server_decode_ms": decode,
                     "server_total_ms": prompt + predicted if prompt is not None and predicted is not None else None}
    return found


def parse_aiperf_raw(lines: Iterable[str]) -> dict[str, dict[str, float | None]]:
    """``x_request_id`` → :func:`server_timings` of each response in AIPerf's
    ``profile_export_raw.jsonl`` (``--export-level raw``)."""
    out = {}
    for line in lines:
        if not line.strip():
            continue
        record = json.loads(line)
        rid = (record.get("metadata") or {}).get("x_request_id")
        payloads = [packet.get("value", "") for response in record.get("responses") or []
                    for packet in response.get("packets") or [] if packet.get("name") == "data"]
        if rid:
            out[rid] = server_timings(payloads)
    return out


def suite_values(m: Any) -> dict[str, Any]:
    """The compared values of one :class:`~conformance.harness.metrics.ExchangeMetrics`."""
    out = {p.key: getattr(m, p.key, None) for p in PAIRS
           if p.key != "decode_tokens_per_s" and p.key not in SERVER_KEYS}
    tpot = getattr(m, "tpot_ms", None)
    out["decode_tokens_per_s"] = 1000.0 / tpot if tpot else None
    return out


def parse_aiperf_records(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The profiling-phase, error-free records of AIPerf's ``profile_export.jsonl`` as
    ``{pair key: value}`` (a list for pooled metrics); warm-up records and errors are dropped."""
    out = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        record = json.loads(line)
        meta = record.get("metadata") or {}
        if meta.get("benchmark_phase", "profiling") != "profiling" or meta.get("was_cancelled"):
            continue
        if record.get("error"):
            continue
        metrics = record.get("metrics") or {}
        row: dict[str, Any] = {"_id": meta.get("x_request_id")}
        for p in PAIRS:
            if p.key in SERVER_KEYS:
                row[p.key] = None  # from the raw export, see parse_aiperf_raw
                continue
            entry = metrics.get(p.aiperf)
            value = entry.get("value") if isinstance(entry, dict) else None
            if p.pooled:
                row[p.key] = [float(v) for v in value] if isinstance(value, list) else []
            else:
                row[p.key] = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        out.append(row)
    return out


def count_aiperf_errors(lines: Iterable[str]) -> int:
    """Profiling-phase records of ``profile_export.jsonl`` that carry an ``error`` (left out of the
    comparison, counted in the report)."""
    return sum(1 for line in lines if line.strip()
               and (rec := json.loads(line)).get("error")
               and (rec.get("metadata") or {}).get("benchmark_phase", "profiling") == "profiling")


def parse_aiperf_summary(doc: Mapping[str, Any]) -> dict[str, Any]:
    """AIPerf's own summary (``profile_export_aiperf.json``): its p50 and avg of each compared
    metric (its percentiles interpolate), plus the request count and the version."""
    out: dict[str, Any] = {"aiperf_version": doc.get("aiperf_version"), "metrics": {}}
    for p in PAIRS:
        entry = doc.get(p.aiperf)
        if isinstance(entry, dict):
            out["metrics"][p.key] = {k: entry.get(k) for k in ("p50", "avg", "count") if k in entry}
    count = doc.get("request_count")
    out["request_count"] = count.get("avg") if isinstance(count, dict) else None
    errors = doc.get("error_summary")
    out["errors"] = len(errors) if isinstance(errors, list) else 0
    return out


# -- comparison ------------------------------------------------------------------------------------

def median(values: Iterable[float | None]) -> float | None:
    xs = [float(v) for v in values if v is not None]
    return statistics.median(xs) if xs else None


def _values(rows: Sequence[Mapping[str, Any]], pair: Pair) -> list[float]:
    if pair.pooled:
        return [float(v) for r in rows for v in (r.get(pair.key) or [])]
    return [float(r[pair.key]) for r in rows if r.get(pair.key) is not None]


def spread_pct(round_medians: Sequence[float | None], pooled: float | None) -> float | None:
    """The largest deviation of one round's median from the pooled median, in % of the pooled
    median: how much a tool disagrees with itself between rounds."""
    ms = [m for m in round_medians if m is not None]
    if not ms or not pooled:
        return None
    return max(abs(m - pooled) for m in ms) / abs(pooled) * 100.0


def compare(suite_rounds: Sequence[Sequence[Mapping[str, Any]]], aiperf_rounds: Sequence[Sequence[Mapping[str, Any]]],
            target_pct: float = TARGET_PCT) -> list[dict[str, Any]]:
    """One row per :data:`PAIRS` entry: pooled medians of both tools, ``ratio`` = suite / AIPerf,
    ``diff_pct``, ``within_target`` and each tool's round-to-round ``noise_pct``; for a metric the
    server paces (:data:`SERVER_PACE`) with server timings on both sides, ``paced_ratio`` /
    ``paced_diff_pct``: the ratio with the server's own speed ratio taken out. ``verdict``:
    ``agree`` (|diff| ≤ target), ``agree paced`` (only the paced ratio is within the target: the
    server ran at a different speed during one tool's rounds), ``within noise`` (beyond the target
    but not beyond the larger self-disagreement of either tool), ``differs`` otherwise, ``no data``
    when a side has none."""
    rows = []
    medians: dict[str, tuple[float | None, float | None]] = {}
    for pair in PAIRS:
        s_all = [r for rnd in suite_rounds for r in rnd]
        a_all = [r for rnd in aiperf_rounds for r in rnd]
        s_vals, a_vals = _values(s_all, pair), _values(a_all, pair)
        s_med, a_med = median(s_vals), median(a_vals)
        medians[pair.key] = (s_med, a_med)
        s_noise = spread_pct([median(_values(rnd, pair)) for rnd in suite_rounds], s_med)
        a_noise = spread_pct([median(_values(rnd, pair)) for rnd in aiperf_rounds], a_med)
        row: dict[str, Any] = {"metric": pair.key, "label": pair.label, "aiperf_metric": pair.aiperf, "unit": pair.unit,
                               "n_suite": len(s_vals), "n_aiperf": len(a_vals),
                               "suite_median": _round(s_med), "aiperf_median": _round(a_med),
                               "ratio": None, "diff_pct": None, "within_target": None,
                               "suite_noise_pct": _round(s_noise), "aiperf_noise_pct": _round(a_noise)}
        if s_med is None or a_med is None or a_med == 0:
            row["verdict"] = "no data"
        else:
            ratio = s_med / a_med
            diff = (ratio - 1.0) * 100.0
            row.update(ratio=round(ratio, 4), diff_pct=round(diff, 2), within_target=abs(diff) <= target_pct)
            noise = max(x for x in (s_noise, a_noise, 0.0) if x is not None)
            row["verdict"] = ("agree" if abs(diff) <= target_pct
                              else "within noise" if abs(diff) <= noise else "differs")
        rows.append(row)
    for row in rows:  # the server's own timings are context (its speed during each tool's rounds), not agreement
        if row["metric"] in ("server_prompt_ms", "server_decode_ms", "server_total_ms") and row["verdict"] != "no data":
            row["verdict"] = "server pace"
            row["within_target"] = None
    for row in rows:  # second pass: the server medians are known now
        row["paced_ratio"] = row["paced_diff_pct"] = None
        pace = SERVER_PACE.get(row["metric"])
        if pace is None or row["ratio"] is None:
            continue
        s_srv, a_srv = medians.get(pace[0], (None, None))
        if not s_srv or not a_srv:
            continue
        server_ratio = s_srv / a_srv
        paced = row["ratio"] / server_ratio if pace[1] > 0 else row["ratio"] * server_ratio
        paced_diff = (paced - 1.0) * 100.0
        row.update(paced_ratio=round(paced, 4), paced_diff_pct=round(paced_diff, 2))
        if row["verdict"] != "agree" and abs(paced_diff) <= target_pct:
            row["verdict"] = "agree paced"
    return rows


def _round(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(x, nd)


def _compact(row: Mapping[str, Any]) -> dict[str, Any]:
    """One request's values for the JSON report (rounded; no ids)."""
    return {k: ([round(x, 2) for x in v] if isinstance(v, list) else round(v, 3) if isinstance(v, float) else v)
            for k, v in row.items() if not k.startswith("_")}


#: Why a metric may differ systematically, shown beside it in the report.
EXPLANATIONS: dict[str, str] = {
    "ttft_ms": "Both start at the request send (AIPerf: perf_counter_ns in its worker just before aiohttp sends; "
               "suite: time.monotonic() before httpx sends) and stop at the first SSE event with non-empty "
               "content or reasoning; role-only first chunks count for neither. A constant offset is client "
               "overhead (AIPerf's worker runs in its own process; the suite's client in asyncio); the suite also "
               "counts tool-call-only deltas as tokens (none in this prompt set).",
    "ttft_content_ms": "AIPerf's time_to_first_output_token skips reasoning tokens like the suite's ttft_content_ms; "
                       "equal to TTFT for a non-reasoning model.",
    "tpot_ms": "Same formula: (E2E − TTFT) / (output tokens − 1) with the server's usage.completion_tokens (AIPerf "
               "with --use-server-token-count). Without that flag AIPerf re-tokenizes the text client-side, "
               "and OSL (hence ITL) depends on its tokenizer.",
    "itl_ms": "Pooled gaps between token-bearing events; AIPerf's inter_chunk_latency pools gaps between all "
              "parsed responses, which for llama.cpp are the same events (one token per chunk).",
    "e2e_ms": "Suite: request sent → last response byte (includes the usage chunk and [DONE]); AIPerf: request "
              "start → last response it parsed (the usage chunk). The [DONE] line arrives with or right after it.",
    "output_tokens_per_s": "Per request OSL / E2E on both sides (AIPerf: e2e_output_token_throughput); "
                           "inherits E2E's agreement.",
    "decode_tokens_per_s": "1000 / TPOT on both sides (AIPerf: output_token_throughput_per_user = 1 / ITL); "
                           "inherits TPOT's agreement.",
    "output_tokens": "Both read usage.completion_tokens; with ignore_eos every request runs to max_tokens.",
    "input_tokens": "Both read usage.prompt_tokens (AIPerf counts ISL client-side unless --use-server-token-count).",
    "server_prompt_ms": "Not a client measurement: llama.cpp's own prefill time for the same requests. When it "
                        "differs between the tools' runs as much as TTFT does, the server was slower during one "
                        "tool's runs (machine load, e.g. the client's own CPU use on a 2-core host), not measured "
                        "differently.",
    "server_decode_ms": "llama.cpp's own decode time per token during each tool's runs; compare its ratio with "
                        "TPOT's and ICL's: equal ratios mean the clients measure alike and the server ran at a "
                        "different speed.",
}


# -- running the two tools -------------------------------------------------------------------------

def find_aiperf(explicit: str | None = None) -> str | None:
    for candidate in (explicit, os.environ.get("LLMCONF_AIPERF"), str(AIPERF_VENV / "bin" / "aiperf"),
                      shutil.which("aiperf")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def aiperf_version(exe: str) -> str | None:
    python = Path(exe).with_name("python")
    if not python.exists():
        return None
    proc = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('aiperf'))"],
                          capture_output=True, text=True, timeout=60)
    return proc.stdout.strip() or None


def offline_env(endpoint_host: str) -> dict[str, str]:
    """AIPerf's environment: no telemetry, and every HTTP(S) client that honours the proxy
    variables sent to a closed local port for every host but the endpoint's, so nothing is fetched.
    (``HF_HUB_OFFLINE`` is *not* set: AIPerf 0.13.0 then looks a local tokenizer path up in the hub
    cache and fails.)"""
    env = {k: v for k, v in os.environ.items()
           if k.upper() not in {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                                "NO_PROXY"}}
    dead = "http://127.0.0.1:9"
    no_proxy = ",".join(dict.fromkeys([endpoint_host, "127.0.0.1", "localhost"]))
    env.update({"HF_HUB_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1", "HTTP_PROXY": dead, "HTTPS_PROXY": dead,
                "ALL_PROXY": dead, "http_proxy": dead, "https_proxy": dead, "all_proxy": dead,
                "NO_PROXY": no_proxy, "no_proxy": no_proxy, "NO_COLOR": "1"})
    return env


def aiperf_command(exe: str, *, base_url: str, model: str, input_file: Path, tokenizer: Path, concurrency: int,
                   requests: int, extra: Mapping[str, Any], artifact_dir: Path, timeout_s: float) -> list[str]:
    return [
        exe, "profile", "--model", model, "--tokenizer", str(tokenizer), "--url", base_url,
        "--endpoint-type", "chat", "--streaming",
        "--input-file", str(input_file), "--custom-dataset-type", "single_turn",
        "--dataset-sampling-strategy", "sequential",
        "--use-server-token-count", "--use-legacy-max-tokens",
        # a new connection per request, as the suite's client does for streams: llama.cpp closes a
        # streamed connection while advertising keep-alive, so AIPerf's default pool gets
        # ServerDisconnectedError on a reused one (measured: 1-2 of 12 requests per run)
        "--connection-reuse-strategy", "never",
        "--concurrency", str(concurrency), "--request-count", str(requests),
        "--extra-inputs", json.dumps(dict(extra), separators=(",", ":")),
        "--request-timeout-seconds", str(int(timeout_s)),
        "--artifact-dir", str(artifact_dir), "--ui", "none",
        "--workers-max", "1", "--record-processors", "1",
        "--no-gpu-telemetry", "--no-server-metrics", "--export-level", "raw",
    ]


def run_aiperf(cmd: Sequence[str], env: Mapping[str, str], artifact_dir: Path, timeout_s: float
               ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if artifact_dir.exists():
        shutil.rmtree(artifact_dir)
    artifact_dir.mkdir(parents=True)
    with (artifact_dir.parent / f"{artifact_dir.name}.log").open("w", encoding="utf-8") as log:
        proc = subprocess.run(list(cmd), env=dict(env), stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s)
    records_file, summary_file = artifact_dir / "profile_export.jsonl", artifact_dir / "profile_export_aiperf.json"
    if proc.returncode != 0 or not records_file.exists():
        raise RuntimeError(f"aiperf exited {proc.returncode}; see {artifact_dir.parent / (artifact_dir.name + '.log')}")
    lines = records_file.read_text(encoding="utf-8").splitlines()
    records = parse_aiperf_records(lines)
    raw_file = artifact_dir / "profile_export_raw.jsonl"
    if raw_file.exists():
        raw = parse_aiperf_raw(raw_file.read_text(encoding="utf-8").splitlines())
        for row in records:
            row.update(raw.get(row.get("_id") or "", {}))
            derive(row)
    summary = parse_aiperf_summary(json.loads(summary_file.read_text(encoding="utf-8"))) if summary_file.exists() else {}
    summary["error_records"] = count_aiperf_errors(lines)
    return records, summary


async def _suite_round(base_url: str, model: str, prompts: Sequence[str], max_tokens: int,
                       extra: Mapping[str, Any], concurrency: int, timeout_s: float) -> list[Any]:
    from conformance.harness.client import Client, Timeouts

    client = Client(base_url, max_concurrency=concurrency,
                    timeouts=Timeouts(read_s=timeout_s, stream_idle_s=timeout_s, total_s=timeout_s))
    todo = iter(list(prompts))
    exchanges: list[Any] = []

    async def lane() -> None:
        for prompt in todo:  # one shared iterator: each lane takes the next prompt, like AIPerf's credits
            exchanges.append(await client.arequest("POST", CHAT_PATH, json=chat_body(model, prompt, max_tokens, extra),
                                                   stream=True))

    try:
        await asyncio.gather(*(lane() for _ in range(concurrency)))
    finally:
        await client.aclose()
    return exchanges


def run_suite(base_url: str, model: str, prompts: Sequence[str], max_tokens: int, extra: Mapping[str, Any],
              concurrency: int, timeout_s: float) -> list[dict[str, Any]]:
    from conformance.harness.metrics import exchange_metrics

    exchanges = asyncio.run(_suite_round(base_url, model, prompts, max_tokens, extra, concurrency, timeout_s))
    rows = []
    for ex in exchanges:
        m = exchange_metrics(ex)
        if m is None or not m.counted:
            raise RuntimeError(f"suite request failed: {ex.summary()}")
        row = suite_values(m)
        row.update(server_timings(e.data for e in (ex.sse.events if ex.sse is not None else [])))
        rows.append(derive(row))
    return rows


def fetch_model(base_url: str) -> str:
    from conformance.harness.client import Client

    client = Client(base_url)
    try:
        ex = client.request("GET", "/v1/models")
    finally:
        client.close()
    data = (ex.json_or_none() or {}).get("data") or []
    if not data or not isinstance(data[0], dict) or not data[0].get("id"):
        raise RuntimeError(f"GET /v1/models gave no model id ({ex.summary()})")
    return str(data[0]["id"])


def base_of(endpoint: str) -> str:
    base = endpoint.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


# -- the report ------------------------------------------------------------------------------------

def fixed_length(rows: Iterable[Mapping[str, Any]], max_tokens: int) -> dict[str, Any]:
    counts = [r.get("output_tokens") for r in rows]
    return {"requests": len(counts), "at_max_tokens": sum(1 for c in counts if c == max_tokens)}


def render_markdown(doc: Mapping[str, Any]) -> str:
    lines = [f"# AIPerf agreement benchmark ({doc.get('status')})", ""]
    if doc.get("status") != "ok":
        lines += [str(doc.get("reason", "")), ""]
        return "\n".join(lines)
    s = doc["settings"]
    lines += [
        f"Endpoint `{doc['endpoint']}` (model `{doc['model']}`), AIPerf {doc['aiperf']['version']}. "
        f"{s['requests']} distinct prompts per run, `max_tokens` {s['max_tokens']}, extra inputs "
        f"`{json.dumps(s['extra_inputs'])}`, {s['rounds']} rounds per tool per concurrency in order "
        f"{' '.join(s['order'])}; {doc['duration_s']:.0f} s in all. Medians of per-request values pooled over the "
        f"rounds, the same median function for both tools; ratio = suite / AIPerf; target ±{doc['target_pct']:g} %. "
        f"Noise = the largest deviation of one round's median from the tool's pooled median. Paced ratio = ratio "
        f"divided by the ratio of the server's own timing of the same phase (llama.cpp `timings`; multiplied "
        f"for rates): it takes out the server running slower during one tool's rounds.",
        "",
    ]
    for result in doc["results"].values():
        lines += [f"## Concurrency {result['concurrency']}", "",
                  "| metric | AIPerf metric | suite median | AIPerf median | ratio | Δ % | paced ratio | paced Δ % "
                  "| noise suite / AIPerf % | verdict |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in result["metrics"]:
            def f(x: Any, nd: int = 2) -> str:
                return "–" if x is None else f"{x:.{nd}f}" if isinstance(x, float) else str(x)
            lines.append(f"| {r['label']} | `{r['aiperf_metric']}` | {f(r['suite_median'])} | {f(r['aiperf_median'])} "
                         f"| {f(r['ratio'], 3)} | {f(r['diff_pct'], 1)} | {f(r.get('paced_ratio'), 3)} "
                         f"| {f(r.get('paced_diff_pct'), 1)} | {f(r['suite_noise_pct'], 1)} / "
                         f"{f(r['aiperf_noise_pct'], 1)} | {r['verdict']} |")
        fl = result["fixed_length"]
        lines += ["", f"Output length fixed at max_tokens: suite {fl['suite']['at_max_tokens']}/{fl['suite']['requests']}, "
                      f"AIPerf {fl['aiperf']['at_max_tokens']}/{fl['aiperf']['requests']} requests; "
                      f"AIPerf error records left out: {result.get('aiperf_error_records', 0)}. "
                      f"Client CPU / wall seconds over the rounds: suite {result.get('client_cpu_s', {}).get('suite')} / "
                      f"{result.get('wall_s', {}).get('suite')}, AIPerf (all its processes, incl. start-up) "
                      f"{result.get('client_cpu_s', {}).get('aiperf')} / {result.get('wall_s', {}).get('aiperf')}.", ""]
    lines += ["## Why a metric can differ", ""]
    lines += [f"- **{k}**: {v}" for k, v in doc["explanations"].items()]
    return "\n".join(lines) + "\n"


def write_report(doc: Mapping[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    jpath, mpath = out_dir / f"{NAME}.json", out_dir / f"{NAME}.md"
    jpath.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    mpath.write_text(render_markdown(doc), encoding="utf-8")
    return jpath, mpath


# -- main ------------------------------------------------------------------------------------------

@dataclass
class Settings:
    concurrency: list[int]
    requests: int
    rounds: int
    max_tokens: int
    extra: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_EXTRA))
    timeout_s: float = 300.0


QUICK = {"concurrency": [1, 2], "requests": 6, "rounds": 2, "max_tokens": 24}
FULL = {"concurrency": [1, 2], "requests": 12, "rounds": 4, "max_tokens": 32}


def order(rounds: int) -> list[str]:
    """ABBA…: round r runs AIPerf first when r % 4 in (0, 3), so each tool goes first equally often
    and a linear drift cancels over every four rounds."""
    return ["aiperf" if r % 4 in (0, 3) else "suite" for r in range(rounds)]


def run(settings: Settings, *, endpoint: str | None, aiperf_exe: str, out_dir: Path,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    started = time.monotonic()
    server = None
    if endpoint is None:
        from conformance.reference.server import ReferenceServer

        server = ReferenceServer(log_path=out_dir / "aiperf-agreement-server.log")
        endpoint = server.start()
        log(f"reference server at {endpoint}")
    try:
        base = base_of(endpoint)
        model = fetch_model(base)
        work = out_dir / "aiperf-agreement-artifacts"
        if work.exists():
            shutil.rmtree(work)
        prompts = prompt_set(settings.requests)
        input_file = write_input_file(work / "prompts.jsonl", prompts, settings.max_tokens)
        tokenizer = write_stub_tokenizer(work / "stub-tokenizer")
        env = offline_env(urlsplit(base).hostname or "127.0.0.1")
        # one warm-up request, measured by neither tool (first-request allocation in the server)
        run_suite(base, model, prompts[:1], settings.max_tokens, settings.extra, 1, settings.timeout_s)
        seq = order(settings.rounds)
        results: dict[str, Any] = {}
        for c in settings.concurrency:
            suite_rounds: list[list[dict[str, Any]]] = []
            aiperf_rounds: list[list[dict[str, Any]]] = []
            summaries = []
            cpu = {"aiperf": 0.0, "suite": 0.0}
            wall = {"aiperf": 0.0, "suite": 0.0}
            for r, first in enumerate(seq):
                for tool in ((first, "suite" if first == "aiperf" else "aiperf")):
                    t = time.monotonic()
                    if tool == "aiperf":
                        art = work / f"c{c}-r{r + 1}"
                        cmd = aiperf_command(aiperf_exe, base_url=base, model=model, input_file=input_file,
                                             tokenizer=tokenizer, concurrency=c, requests=len(prompts),
                                             extra=settings.extra, artifact_dir=art, timeout_s=settings.timeout_s)
                        before = resource.getrusage(resource.RUSAGE_CHILDREN)
                        records, summary = run_aiperf(cmd, env, art, settings.timeout_s * max(2, len(prompts)))
                        after = resource.getrusage(resource.RUSAGE_CHILDREN)
                        cpu["aiperf"] += (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                        aiperf_rounds.append(records)
                        summaries.append(summary)
                    else:
                        before_cpu = time.process_time()
                        suite_rounds.append(run_suite(base, model, prompts, settings.max_tokens, settings.extra, c,
                                                      settings.timeout_s))
                        cpu["suite"] += time.process_time() - before_cpu
                    wall[tool] += time.monotonic() - t
                    log(f"concurrency {c} round {r + 1}: {tool} {time.monotonic() - t:.1f} s")
            rows = compare(suite_rounds, aiperf_rounds)
            results[f"c{c}"] = {
                "concurrency": c,
                "metrics": rows,
                "rounds": {"suite": [{p.key: _round(median(_values(rnd, p))) for p in PAIRS} for rnd in suite_rounds],
                           "aiperf": [{p.key: _round(median(_values(rnd, p))) for p in PAIRS} for rnd in aiperf_rounds]},
                "aiperf_exports": summaries,
                "aiperf_error_records": sum(x.get("error_records", 0) for x in summaries),
                # client CPU seconds (AIPerf: all its processes incl. start-up; suite: this process)
                # and wall seconds per tool over all rounds of this level
                "client_cpu_s": {k: round(v, 1) for k, v in cpu.items()},
                "wall_s": {k: round(v, 1) for k, v in wall.items()},
                "per_request": {"suite": [[_compact(x) for x in rnd] for rnd in suite_rounds],
                                "aiperf": [[_compact(x) for x in rnd] for rnd in aiperf_rounds]},
                "fixed_length": {"suite": fixed_length([x for rnd in suite_rounds for x in rnd], settings.max_tokens),
                                 "aiperf": fixed_length([x for rnd in aiperf_rounds for x in rnd], settings.max_tokens)},
            }
        return {
            "benchmark": NAME, "schema_version": SCHEMA_VERSION, "status": "ok",
            "endpoint": base, "model": model,
            "aiperf": {"version": aiperf_version(aiperf_exe),
                       "command": [Path(aiperf_exe).name] + aiperf_command(
                           "aiperf", base_url=base, model=model, input_file=Path("prompts.jsonl"),
                           tokenizer=Path("stub-tokenizer"), concurrency=0, requests=len(prompts),
                           extra=settings.extra, artifact_dir=Path("ARTIFACTS"), timeout_s=settings.timeout_s)[1:]},
            "settings": {"concurrency": settings.concurrency, "requests": settings.requests, "rounds": settings.rounds,
                         "max_tokens": settings.max_tokens, "extra_inputs": settings.extra, "order": seq},
            "target_pct": TARGET_PCT, "median": "statistics.median of per-request values pooled over rounds",
            "duration_s": round(time.monotonic() - started, 1),
            "results": results, "explanations": EXPLANATIONS,
        }
    finally:
        if server is not None:
            server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.aiperf_agreement", description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", help="an OpenAI-compatible base URL; default: start the embedded reference")
    ap.add_argument("--quick", action="store_true", help=f"CI size: {QUICK}")
    ap.add_argument("--concurrency", help="comma-separated levels (default 1,2)")
    ap.add_argument("--requests", type=int, help="prompts per run")
    ap.add_argument("--rounds", type=int, help="runs per tool per concurrency (ABBA order)")
    ap.add_argument("--max-tokens", type=int)
    ap.add_argument("--extra", help=f"JSON object sent with every request by both tools (default {DEFAULT_EXTRA})")
    ap.add_argument("--aiperf", help="the aiperf executable (default: $LLMCONF_AIPERF, the cache venv, PATH)")
    ap.add_argument("--out", default="reports/benchmarks", help="report folder (default reports/benchmarks)")
    ap.add_argument("--require", action="store_true", help="exit 2 instead of skipping when aiperf is missing")
    args = ap.parse_args(argv)
    base = dict(QUICK if args.quick else FULL)
    settings = Settings(
        concurrency=[int(x) for x in args.concurrency.split(",")] if args.concurrency else base["concurrency"],
        requests=args.requests or base["requests"], rounds=args.rounds or base["rounds"],
        max_tokens=args.max_tokens or base["max_tokens"],
        extra=json.loads(args.extra) if args.extra else dict(DEFAULT_EXTRA))
    if settings.rounds < 1 or any(c < 1 for c in settings.concurrency):
        ap.error("--rounds and --concurrency must be ≥ 1")
    out_dir = Path(args.out)
    exe = find_aiperf(args.aiperf)
    if exe is None:
        reason = f"SKIPPED: aiperf is not installed. Install it (once, needs PyPI): {INSTALL_HINT}"
        print(reason, file=sys.stderr)
        write_report({"benchmark": NAME, "schema_version": SCHEMA_VERSION, "status": "skipped", "reason": reason},
                     out_dir)
        return 2 if args.require else 0
    doc = run(settings, endpoint=args.endpoint, aiperf_exe=exe, out_dir=out_dir,
              log=lambda s: print(s, file=sys.stderr, flush=True))
    jpath, mpath = write_report(doc, out_dir)
    print(render_markdown(doc))
    print(f"wrote {jpath} and {mpath}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
