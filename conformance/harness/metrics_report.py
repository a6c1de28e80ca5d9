"""The run's timing metrics in the Allure report: one synthetic result "Run timing metrics".

allure-pytest writes one ``<uuid>-result.json`` per test and ``<uuid>-attachment.<ext>`` per
attachment into the results directory; at the end of the run :func:`write_allure_result` adds one
more result of the same shape (label ``epic = Run``, status ``passed``: it carries figures, not a
verdict) with inline SVG strip/box plots of TTFT, TPOT and E2E per API and the ``metrics`` block as
JSON. It is marked with the label ``llmconf = run-metrics`` (:data:`SYNTHETIC_LABEL`), which the
known-deviation view (``conformance.report.allure``) uses to leave it out of the test counts.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from conformance.harness.metrics import APIS, ExchangeMetrics, summarize
from conformance.harness.redaction import redact
from conformance.harness.svg import svg_open

__all__ = ["PLOTS", "SYNTHETIC_LABEL", "is_synthetic", "svg_plot", "write_allure_result"]

#: (name, value) of the label that marks the synthetic result (not a test).
SYNTHETIC_LABEL = ("llmconf", "run-metrics")
RESULT_NAME = "Run timing metrics"
#: metric key -> plot title
PLOTS = {"ttft_ms": "Time to first token (ms, streamed)", "tpot_ms": "Time per output token (ms, streamed)",
         "e2e_ms": "End-to-end latency (ms)"}


def is_synthetic(result: Mapping[str, Any]) -> bool:
    """A result written by :func:`write_allure_result` (not a test)."""
    return any((label.get("name"), label.get("value")) == SYNTHETIC_LABEL for label in result.get("labels") or [])


def _values(items: Sequence[ExchangeMetrics], metric: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for api in APIS:
        values = [getattr(m, metric) for m in items if m.api == api and m.counted and getattr(m, metric) is not None]
        if values:
            out[api] = values
    return out


def _nice_max(x: float) -> float:
    if x <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(x))
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * exp >= x:
            return step * exp
    return 10 * exp


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def svg_plot(title: str, series: Mapping[str, Sequence[float]], *, width: int = 860, row_h: int = 44) -> str:
    """A horizontal strip plot with a box per row: every value a dot, the box from p50 to p90,
    a bar at p50, whiskers to min and max; labelled with n, p50, p90 and p99 (nearest-rank)."""
    left, right, top = 110, 290, 40
    rows = list(series.items())
    height = top + max(1, len(rows)) * row_h + 40
    plot_w = width - left - right
    vmax = _nice_max(max((max(v) for _, v in rows), default=1.0))

    def x(v: float) -> float:
        return left + plot_w * min(max(v, 0.0), vmax) / vmax

    out = svg_open(title, width, height)
    if not rows:
        out.append(f'<text x="{width / 2}" y="{top + 20}" text-anchor="middle" fill="#666">no samples</text>')
    bottom = top + len(rows) * row_h
    for i in range(6):  # grid and axis labels
        gx = left + plot_w * i / 5
        out.append(f'<line x1="{gx:.1f}" y1="{top}" x2="{gx:.1f}" y2="{bottom}" stroke="#eee"/>')
        out.append(f'<text x="{gx:.1f}" y="{bottom + 16}" text-anchor="middle" fill="#444">{vmax * i / 5:g}</text>')
    for r, (api, values) in enumerate(rows):
        cy = top + r * row_h + row_h / 2
        s = summarize(values)
        out.append(f'<text x="{left - 10}" y="{cy + 4}" text-anchor="end" font-weight="bold">{escape(api)}</text>')
        out.append(f'<line x1="{x(s["min"]):.1f}" y1="{cy}" x2="{x(s["max"]):.1f}" y2="{cy}" stroke="#888"/>')
        bx0, bx1 = x(s["p50"]), x(s["p90"])
        out.append(f'<rect x="{bx0:.1f}" y="{cy - 10}" width="{max(bx1 - bx0, 1):.1f}" height="20" '
                   f'fill="#76b900" fill-opacity="0.35" stroke="#4c7a00"><title>{escape(api)}: p50 {s["p50"]:g}, '
                   f'p90 {s["p90"]:g}</title></rect>')
        out.append(f'<line x1="{bx0:.1f}" y1="{cy - 12}" x2="{bx0:.1f}" y2="{cy + 12}" stroke="#2d4a00" '
                   'stroke-width="2"/>')
        for k, v in enumerate(values[:2000]):
            jitter = ((k * 37) % 17 - 8) * 0.9  # deterministic
            out.append(f'<circle cx="{x(v):.1f}" cy="{cy + jitter:.1f}" r="2" fill="#1f5fa8" fill-opacity="0.55"/>')
        label = f'n={s["n"]}  p50 {_num(s["p50"])}  p90 {_num(s["p90"])}  p99 {_num(s["p99"])}'
        out.append(f'<text x="{width - right + 10}" y="{cy + 4}" fill="#222">{escape(label)}</text>')
    out.append(f'<text x="{left + plot_w / 2}" y="{bottom + 34}" text-anchor="middle" fill="#444">'
               "box: p50 to p90 (nearest-rank); whiskers: min to max; dots: requests</text>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _attachment(results: Path, name: str, text: str, ext: str, mime: str) -> dict[str, str]:
    source = f"{uuid.uuid4()}-attachment.{ext}"
    (results / source).write_text(redact(text), encoding="utf-8")
    return {"name": name, "source": source, "type": mime}


def write_allure_result(results: Path, items: Sequence[ExchangeMetrics], block: Mapping[str, Any],
                        *, started: float | None = None) -> Path:
    """Write the synthetic "Run timing metrics" result (and its attachments) into ``results``."""
    results.mkdir(parents=True, exist_ok=True)
    attachments = [
        _attachment(results, f"{metric}.svg", svg_plot(title, _values(items, metric)), "svg", "image/svg+xml")
        for metric, title in PLOTS.items()
    ]
    attachments.append(_attachment(results, "metrics.json", json.dumps(dict(block), indent=2, ensure_ascii=False),
                                   "json", "application/json"))
    run = block.get("run") or {}
    ttft = (run.get("ttft_ms") or {})
    now_ms = int(time.time() * 1000)
    description = (f"{run.get('requests', 0)} exchanges ({run.get('excluded', 0)} left out of the timings: errors, "
                   f"non-2xx, stopped by the client); run TTFT p50 {ttft.get('p50')} ms over n={ttft.get('n', 0)}. "
                   "Recorded, not gating (unless the profile declares metric_budgets: OAI-PERF-001).")
    uid = str(uuid.uuid4())
    result = {
        "name": RESULT_NAME,
        "status": "passed",
        "description": description,
        "attachments": attachments,
        "start": int((started or time.time()) * 1000),
        "stop": now_ms,
        "uuid": uid,
        "historyId": hashlib.md5(b"llmconf-run-timing-metrics").hexdigest(),  # noqa: S324 - an id, not security
        "testCaseId": hashlib.md5(b"llmconf-run-timing-metrics").hexdigest(),  # noqa: S324
        "fullName": "llmconf.run#timing_metrics",
        "labels": [{"name": "epic", "value": "Run"}, {"name": "feature", "value": "timing metrics"},
                   {"name": "suite", "value": "run"}, {"name": "tag", "value": "not-gating"},
                   {"name": SYNTHETIC_LABEL[0], "value": SYNTHETIC_LABEL[1]}],
    }
    path = results / f"{uid}-result.json"
    path.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    return path
