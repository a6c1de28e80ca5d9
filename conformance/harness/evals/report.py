"""The needle eval's report, apart from conformance: ``reports/evals/needle.json`` (every cell,
per-variant summary with Wilson intervals, every item with its timings), ``needle.md`` (length ×
depth tables) and ``needle.svg`` (a heat map like the NIAH plots: x = needle depth, y = prompt
length, colour = accuracy), written by hand (no plotting library). The same files are attached to
the Allure test.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from conformance import __version__
from conformance.harness.evals.needle import Grid
from conformance.harness.evals.stats import wilson
from conformance.harness.redaction import redact
from conformance.harness.svg import svg_open

METRIC = ("RULER string_match_all over the answer's content (never reasoning): an item is correct when every "
          "expected value is contained in it, case-insensitive")
INTERVAL = "Wilson score interval, 95 % two-sided"


def _cell(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    p = wilson(sum(1 for r in rows if r["correct"]), len(rows))
    billed = [r["prompt_tokens_billed"] for r in rows if isinstance(r.get("prompt_tokens_billed"), int)]
    return {**p.as_dict(),
            "no_answer": sum(1 for r in rows if r["no_answer"]),
            "distractor": sum(1 for r in rows if r["distractor"]),
            "prompt_tokens": round(statistics.fmean(billed)) if billed else
            (round(statistics.fmean(r["prompt_tokens_expected"] for r in rows)) if rows else None)}


def aggregate(grid: Grid, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per variant: the overall proportion, one cell per length × depth, and the margins."""
    out: dict[str, Any] = {}
    for variant in grid.variants:
        rows = [r for r in items if r["variant"] == variant]
        out[variant] = {
            "overall": _cell(rows),
            "cells": [{"length": n, "depth": d, **_cell([r for r in rows if r["length"] == n and r["depth"] == d])}
                      for n in grid.lengths for d in grid.depths],
            "by_length": [{"length": n, **_cell([r for r in rows if r["length"] == n])} for n in grid.lengths],
            "by_depth": [{"depth": d, **_cell([r for r in rows if r["depth"] == d])} for d in grid.depths],
        }
    return out


def _median(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if isinstance(v, (int, float))]
    return round(statistics.median(vals), 3) if vals else None


def document(*, grid: Grid, items: Sequence[dict[str, Any]], planned: int, model: str, endpoint: str,
             window: dict[str, Any], request: dict[str, Any], wall_s: float, floor: float | None,
             complete: bool, error: str | None = None, counters: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``needle.json`` document (``counters``: requests sent, 429 answers, retries and waits of
    the run, :meth:`conformance.harness.evals.runner.Counters.as_dict`)."""
    return {
        "eval": "needle",
        "suite_version": __version__,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "complete": complete,
        **({"error": error} if error else {}),
        "model": model,
        "endpoint": endpoint,
        "api": grid.api,
        "seed": grid.seed,
        "window": window,
        "grid": {"variants": list(grid.variants), "lengths_tokens": list(grid.lengths), "depths_percent":
                 list(grid.depths), "items_per_cell": grid.items, "requests_planned": planned},
        "request": request,
        "metric": METRIC,
        "interval": INTERVAL,
        "floor": floor,
        "gate": ("each variant's overall Wilson lower bound >= floor (OAI-EVAL-002)" if floor is not None else
                 "none: no needle_floor declared by the profile; reported only (OAI-EVAL-001)"),
        "variants": aggregate(grid, items),
        "timings": {
            "wall_s": round(wall_s, 1),
            "requests": len(items),
            "prompt_tokens_expected": sum(r["prompt_tokens_expected"] for r in items),
            "prompt_tokens_billed": sum(r["prompt_tokens_billed"] or 0 for r in items),
            "median_ttft_s": _median(r["ttft_s"] for r in items),
            "median_prefill_tokens_per_s": _median(r["prefill_tokens_per_s"] for r in items),
        },
        **({"counters": counters} if counters is not None else {}),
        "items": list(items),
    }


# --- markdown ------------------------------------------------------------------------------------


def _fmt(cell: dict[str, Any]) -> str:
    if not cell["n"]:
        return "–"
    return f"{cell['accuracy']:.2f} ({cell['correct']}/{cell['n']})"


def markdown(doc: dict[str, Any]) -> str:
    grid = doc["grid"]
    lines = [
        f"# Needle retrieval ({doc['api']} API)" + ("" if doc["complete"] else " — INCOMPLETE"),
        "",
        f"- model: `{doc['model']}`  seed: `{doc['seed']}`  window: {doc['window'].get('tokens')} tokens "
        f"({doc['window'].get('source')})",
        f"- metric: {doc['metric']}; interval: {doc['interval']}",
        f"- gate: {doc['gate']}",
        f"- {doc['timings']['requests']} of {grid['requests_planned']} requests in {doc['timings']['wall_s']} s; "
        f"median TTFT {doc['timings']['median_ttft_s']} s, median prefill "
        f"{doc['timings']['median_prefill_tokens_per_s']} tokens/s",
        *([f"- rate limits: {c['rate_limited']} × 429 ({c['retried_after_429']} retried, "
           f"{c.get('gave_up_after_429', 0)} gave up, waited {c['waited_s']} s) over {c['requests']} requests sent"]
          if (c := doc.get("counters")) else []),
        "",
        "| variant | accuracy | Wilson 95 % | n | no answer | distractor value |",
        "|---|---|---|---|---|---|",
    ]
    for variant, v in doc["variants"].items():
        o = v["overall"]
        acc = "–" if o["accuracy"] is None else f"{o['accuracy']:.3f}"
        lines.append(f"| {variant} | {acc} | [{o['wilson95'][0]:.3f}, {o['wilson95'][1]:.3f}] | {o['n']} | "
                     f"{o['no_answer']} | {o['distractor']} |")
    for variant, v in doc["variants"].items():
        depths = grid["depths_percent"]
        lines += ["", f"## {variant}: accuracy by prompt length (tokens) × needle depth (%)", "",
                  "| length \\ depth | " + " | ".join(f"{d} %" for d in depths) + " | all depths |",
                  "|---" * (len(depths) + 2) + "|"]
        for row in v["by_length"]:
            cells = [c for c in v["cells"] if c["length"] == row["length"]]
            lines.append(f"| {row['length']} | " + " | ".join(_fmt(c) for c in cells) + f" | {_fmt(row)} |")
        lines.append("| all lengths | " + " | ".join(_fmt(c) for c in v["by_depth"]) + f" | {_fmt(v['overall'])} |")
    if doc.get("error"):
        lines += ["", f"Stopped early: {doc['error']}"]
    return "\n".join(lines) + "\n"


# --- SVG heat map ------------------------------------------------------------------------------

#: The colour scale of the NIAH plots people know: red (0) → yellow → green (1).
STOPS = ((0.0, (0xF0, 0x49, 0x6E)), (0.5, (0xEB, 0xB8, 0x39)), (1.0, (0x0C, 0xD7, 0x9F)))
EMPTY = "#d9d9d9"


def colour(value: float | None) -> str:
    if value is None:
        return EMPTY
    v = min(1.0, max(0.0, value))
    for (a, ca), (b, cb) in zip(STOPS, STOPS[1:], strict=False):
        if v <= b:
            t = (v - a) / (b - a)
            return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb, strict=True))
    return "#" + "".join(f"{x:02x}" for x in STOPS[-1][1])


def svg(doc: dict[str, Any], *, cell_w: int = 64, cell_h: int = 40) -> str:
    """One panel per variant: columns = depths, rows = lengths (longest at the top), each cell
    coloured by its accuracy and labelled with k/n."""
    grid = doc["grid"]
    depths, lengths = grid["depths_percent"], list(reversed(grid["lengths_tokens"]))
    cell_w = max(cell_w, -(-220 // max(len(depths), 1)))  # room for each panel's two heading lines
    left, top, gap, right = 86, 78, 40, 90
    panel_w = cell_w * len(depths)
    panel_h = cell_h * len(lengths)
    variants = list(doc["variants"].items())
    width = left + len(variants) * panel_w + (len(variants) - 1) * gap + right
    height = top + panel_h + 64
    title = f"Needle retrieval · {doc['model']} · {doc['api']} API · seed {doc['seed']}"
    if not doc["complete"]:
        title += " · INCOMPLETE"
    out = svg_open(title, width, height)
    for p, (variant, v) in enumerate(variants):
        x0 = left + p * (panel_w + gap)
        o = v["overall"]
        acc = "–" if o["accuracy"] is None else f"{o['accuracy']:.2f}"
        out.append(f'<text x="{x0 + panel_w / 2}" y="{top - 28}" text-anchor="middle" font-weight="bold">'
                   f'{escape(variant)}</text>')
        out.append(f'<text x="{x0 + panel_w / 2}" y="{top - 12}" text-anchor="middle">accuracy {acc} '
                   f'[{o["wilson95"][0]:.2f}, {o["wilson95"][1]:.2f}], n={o["n"]}</text>')
        cells = {(c["length"], c["depth"]): c for c in v["cells"]}
        for r, length in enumerate(lengths):
            y = top + r * cell_h
            if p == 0:
                out.append(f'<text x="{left - 8}" y="{y + cell_h / 2 + 4}" text-anchor="end">{length}</text>')
            for c_i, depth in enumerate(depths):
                x = x0 + c_i * cell_w
                cell = cells.get((length, depth), {"accuracy": None, "n": 0, "correct": 0})
                fill = colour(cell["accuracy"])
                label = f"{cell['correct']}/{cell['n']}" if cell["n"] else "–"
                out.append(f'<rect x="{x}" y="{y}" width="{cell_w}" height="{cell_h}" fill="{fill}" '
                           f'stroke="white" stroke-width="1"><title>{escape(variant)} length {length} depth {depth} %: '
                           f'{label}</title></rect>')
                out.append(f'<text x="{x + cell_w / 2}" y="{y + cell_h / 2 + 4}" text-anchor="middle">{label}</text>')
        for c_i, depth in enumerate(depths):
            out.append(f'<text x="{x0 + c_i * cell_w + cell_w / 2}" y="{top + panel_h + 16}" '
                       f'text-anchor="middle">{depth}</text>')
        out.append(f'<text x="{x0 + panel_w / 2}" y="{top + panel_h + 34}" text-anchor="middle">'
                   'needle depth (%)</text>')
    out.append(f'<text x="16" y="{top + panel_h / 2}" text-anchor="middle" '
               f'transform="rotate(-90 16 {top + panel_h / 2})">prompt length (tokens)</text>')
    # colour bar
    bx = width - right + 30
    out.append('<defs><linearGradient id="acc" x1="0" y1="1" x2="0" y2="0">'
               + "".join(f'<stop offset="{s}" stop-color="{colour(s)}"/>' for s, _ in STOPS)
               + "</linearGradient></defs>")
    out.append(f'<rect x="{bx}" y="{top}" width="14" height="{panel_h}" fill="url(#acc)" stroke="#999"/>')
    for value in (0.0, 0.5, 1.0):
        out.append(f'<text x="{bx + 20}" y="{top + panel_h * (1 - value) + 4}">{value:.1f}</text>')
    out.append(f'<text x="{bx - 10}" y="{top - 8}">accuracy</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# --- files and attachments -----------------------------------------------------------------------


def write(directory: Path, doc: dict[str, Any]) -> dict[str, Path]:
    """Write needle.json, needle.md and needle.svg under ``directory``; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": directory / "needle.json", "md": directory / "needle.md", "svg": directory / "needle.svg"}
    paths["json"].write_text(redact(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n", encoding="utf-8")
    paths["md"].write_text(redact(markdown(doc)), encoding="utf-8")
    paths["svg"].write_text(redact(svg(doc)), encoding="utf-8")
    return paths


def attach(paths: dict[str, Path]) -> None:
    """Attach the report files to the running Allure test."""
    import allure  # noqa: PLC0415 - only inside a pytest run

    allure.attach.file(str(paths["svg"]), name="needle.svg", attachment_type=allure.attachment_type.SVG)
    allure.attach.file(str(paths["json"]), name="needle.json", attachment_type=allure.attachment_type.JSON)
    allure.attach.file(str(paths["md"]), name="needle.md", attachment_type=allure.attachment_type.TEXT)


def summary_line(doc: dict[str, Any]) -> str:
    """One line for conformance.json's observations: each variant's accuracy and interval."""
    parts = []
    for variant, v in doc["variants"].items():
        o = v["overall"]
        acc = "n/a" if o["accuracy"] is None else f"{o['accuracy']:.3f}"
        parts.append(f"{variant} {o['correct']}/{o['n']} = {acc} [{o['wilson95'][0]:.3f}, {o['wilson95'][1]:.3f}]")
    return (f"needle retrieval ({doc['api']} API, {doc['timings']['requests']} requests, seed {doc['seed']}): "
            + "; ".join(parts)
            + (f"; rate-limited: {c['rate_limited']} × 429, waited {c['waited_s']} s"
               if (c := doc.get("counters") or {}).get("rate_limited") else "")
            + " (an evaluation, not a conformance verdict; reports/evals/needle.md)")
