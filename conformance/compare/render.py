"""Render a :class:`~conformance.compare.model.Matrix` as Markdown and as one static HTML page
(inline CSS, no script, no external URL). Every text from a report (messages come from the
endpoint) is escaped; the callers redact the whole output before writing it."""

from __future__ import annotations

import html
from collections.abc import Sequence

from conformance.compare.model import ABSENT, Cell, Matrix, Run, header, relative_link, timing_table

#: Outcome → (Markdown marker, label, CSS background, CSS text colour).
STYLE = {
    "passed": ("✅", "passed", "#c8e6c9", "#1b5e20"),
    "failed": ("❌", "failed", "#e53935", "#ffffff"),
    "broken": ("💥", "broken", "#bf360c", "#ffffff"),
    "xfailed": ("⚠️", "known deviation", "#ffc107", "#3e2723"),
    "xpassed": ("🟣", "XPASS (deviation fixed)", "#8e24aa", "#ffffff"),
    "non-strict": ("🟡", "non-strict (SHOULD)", "#fff59d", "#5d4037"),
    "skipped": ("⏭️", "skipped", "#e0e0e0", "#424242"),
    "blocked": ("⛔", "blocked (not judged)", "#b0bec5", "#263238"),
    "observed": ("👁️", "observed (MAY/INFO)", "#bbdefb", "#0d47a1"),
    ABSENT: ("", "absent", "#ffffff", "#9e9e9e"),
}
#: The longest message kept in a tooltip; the rest is left out with a note (the Allure test has it whole).
TOOLTIP_CHARS = 600


def style(outcome: str) -> tuple[str, str, str, str]:
    return STYLE.get(outcome, ("❔", outcome, "#ffffff", "#000000"))


def clip(text: str, limit: int = TOOLTIP_CHARS) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]} … [{len(text) - limit} more characters left out here; the run's report has them]"


def tooltip(cell: Cell) -> str:
    parts = [style(cell.outcome)[1]]
    if cell.deviation:
        parts.append(f"known deviation: {cell.deviation}")
    if cell.message:
        parts.append(clip(cell.message))
    if cell.test:
        parts.append(f"test: {cell.test}")
    if cell.tests:
        parts.append(f"{cell.tests} citing test(s)" + (f", median duration {cell.median_duration_s:.2f} s"
                                                       if cell.median_duration_s is not None else ""))
    return "\n".join(parts)


def _no_link_notes(runs: Sequence[Run]) -> list[str]:
    notes = []
    for run in runs:
        if run.allure is None:
            notes.append(f"{run.name}: no links: no Allure HTML next to {run.source.name} (render it with "
                         f"`python -m conformance.report allure-html --results {run.directory}/allure-results "
                         f"--out {run.directory}/allure-html`, or run pytest with `--allure-html`).")
        elif not run.allure.single_file:
            notes.append(f"{run.name}: links open {run.allure.report.parent.name}/index.html, which loads only when "
                         "served over HTTP (e.g. `python -m http.server` in a common parent), not from file://.")
    return notes


# --- Markdown ----------------------------------------------------------------------------------------


def md(text: str) -> str:
    """One Markdown table cell: no pipe, no line break, no raw HTML."""
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", " ").replace("\n", " "))


def md_cell(cell: Cell) -> str:
    if cell.outcome == ABSENT:
        return "—"
    marker, label, _, _ = style(cell.outcome)
    text = f"{marker} {label}".strip()
    return f"[{md(text)}]({cell.link})" if cell.link else md(text)


def markdown(matrix: Matrix, *, only_diff: bool = False) -> str:
    runs = matrix.runs
    rows = matrix.differing if only_diff else matrix.rows
    lines = [f"# Conformance comparison of {len(runs)} runs", "",
             f"{len(matrix.rows)} requirements, {len(matrix.differing)} differ"
             + (" (only those are shown)" if only_diff else "") + ". Intermittent known deviations count passed and "
             "xfailed as the same verdict.", "", "## Runs", "",
             "| | " + " | ".join(md(r.name) for r in runs) + " |", "|---|" + "---|" * len(runs)]
    heads = [dict(header(r)) for r in runs]
    keys = list(dict.fromkeys(k for h in heads for k in h))
    for key in keys:
        lines.append(f"| {key} | " + " | ".join(md(h.get(key, "")) for h in heads) + " |")
    lines += ["", "## Matrix", "",
              "| requirement | level | title | " + " | ".join(md(r.name) for r in runs) + " | diff |",
              "|---|---|---|" + "---|" * len(runs) + "---|"]
    if not rows:
        lines.append("| (no requirement differs) | | | " + " | " * len(runs) + " |")
    family = None
    for row in rows:
        if row.family != family:
            family = row.family
            lines.append(f"| **{md(family)}** | | | " + " | " * len(runs) + " |")
        lines.append(f"| {row.rid} | {md(row.level)} | {md(row.title)} | "
                     + " | ".join(md_cell(c) for c in row.cells) + f" | {md(row.diff)} |")
    lines += ["", "Legend: " + ", ".join(f"{m} {label}" for o, (m, label, _, _) in STYLE.items() if o != ABSENT)
              + ", — absent (not run).", ""]
    timing = timing_table(runs)
    lines += ["## Timing (not gating)", ""]
    if timing:
        lines += ["p50 / p90 (n) per API from each run's conformance.json `metrics` block.", "",
                  "| api | metric | " + " | ".join(md(r.name) for r in runs) + " |", "|---|---|" + "---|" * len(runs)]
        lines += [f"| {md(api)} | {label} | " + " | ".join(cells) + " |" for api, label, cells in timing]
    else:
        lines.append("No run has a `metrics` block (timing metrics were not recorded).")
    notes = _no_link_notes(runs)
    if notes:
        lines += ["", "## Notes", ""] + [f"- {md(n)}" for n in notes]
    return "\n".join(lines) + "\n"


# --- HTML --------------------------------------------------------------------------------------------


def e(text: object) -> str:
    return html.escape(str(text), quote=True)


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5em;color:#212121}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #cfd8dc;padding:3px 6px;vertical-align:top}
th{background:#eceff1;position:sticky;top:0;z-index:1}
td.o a{color:inherit;text-decoration:underline dotted}
tr.fam td{background:#455a64;color:#fff;font-weight:bold}
td.diff{font-size:12px;max-width:28em}
tr.differs td.diff{background:#fff3e0;font-weight:bold}
td.title{max-width:28em}
.runs td{max-width:30em;word-break:break-word}
.legend span{display:inline-block;padding:2px 6px;margin:2px;border:1px solid #cfd8dc}
#onlydiff:checked ~ table.matrix tr.same{display:none}
#onlydiff:checked ~ table.matrix tr.fam{display:none}
.note{font-size:12px;color:#546e7a}
"""


def html_cell(cell: Cell) -> str:
    if cell.outcome == ABSENT:
        return '<td class="o o-absent" title="absent: the run has no row for this requirement"></td>'
    _, label, bg, fg = style(cell.outcome)
    text = e(label)
    if cell.link:
        text = f'<a href="{e(cell.link)}">{text}</a>'
    cls = "o o-" + "".join(ch if ch.isalnum() else "-" for ch in cell.outcome)
    return f'<td class="{cls}" style="background:{bg};color:{fg}" title="{e(tooltip(cell))}">{text}</td>'


def html_page(matrix: Matrix, *, only_diff: bool = False) -> str:
    runs = matrix.runs
    rows = matrix.differing if only_diff else matrix.rows
    n = len(runs)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>Conformance comparison of {n} runs</title><style>{CSS}</style></head><body>",
           f"<h1>Conformance comparison of {n} runs</h1>",
           f'<p id="headline">{len(matrix.rows)} requirements, <b>{len(matrix.differing)} differ</b>'
           + (" (only those are shown)" if only_diff else "")
           + ". Intermittent known deviations count passed and xfailed as the same verdict. Hover a cell for its "
           "message; a link opens the run's Allure test.</p>",
           "<h2>Runs</h2>", '<table class="runs"><tr><th></th>' + "".join(f"<th>{e(r.name)}</th>" for r in runs)
           + "</tr>"]
    heads = [dict(header(r)) for r in runs]
    for key in dict.fromkeys(k for h in heads for k in h):
        out.append(f"<tr><th>{e(key)}</th>" + "".join(f"<td>{e(h.get(key, ''))}</td>" for h in heads) + "</tr>")
    out.append("<tr><th>Allure</th>" + "".join(
        f'<td><a href="{e(_overview(r, matrix))}">report</a></td>' if r.allure else "<td>—</td>" for r in runs)
        + "</tr></table>")
    out += ["<h2>Matrix</h2>", '<p class="legend">' + "".join(
        f'<span style="background:{bg};color:{fg}">{e(label)}</span>'
        for o, (_, label, bg, fg) in STYLE.items()) + "</p>",
        '<input type="checkbox" id="onlydiff"><label for="onlydiff"> only requirements that differ</label>',
        '<table class="matrix"><thead><tr><th>requirement</th><th>level</th><th>title</th>'
        + "".join(f"<th>{e(r.name)}</th>" for r in runs) + "<th>diff</th></tr></thead><tbody>"]
    if not rows:
        out.append(f'<tr class="same"><td colspan="{n + 4}">no requirement differs</td></tr>')
    family = None
    for row in rows:
        if row.family != family:
            family = row.family
            out.append(f'<tr class="fam"><td colspan="{n + 4}">{e(family)}</td></tr>')
        cls = "differs" if row.differs else "same"
        out.append(f'<tr class="{cls}" id="{e(row.rid)}"><td>{e(row.rid)}</td><td>{e(row.level)}</td>'
                   f'<td class="title">{e(row.title)}</td>' + "".join(html_cell(c) for c in row.cells)
                   + f'<td class="diff">{e(row.diff)}</td></tr>')
    out.append("</tbody></table>")
    timing = timing_table(runs)
    out.append("<h2>Timing (not gating)</h2>")
    if timing:
        out += ['<p class="note">p50 / p90 (n) per API from each run\'s conformance.json <code>metrics</code> '
                "block; milliseconds except tok/s.</p>",
                '<table class="timing"><tr><th>api</th><th>metric</th>'
                + "".join(f"<th>{e(r.name)}</th>" for r in runs) + "</tr>"]
        out += [f"<tr><td>{e(api)}</td><td>{e(label)}</td>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>"
                for api, label, cells in timing]
        out.append("</table>")
    else:
        out.append('<p class="note">No run has a <code>metrics</code> block (timing metrics were not recorded).</p>')
    notes = _no_link_notes(runs)
    if notes:
        out += ["<h2>Notes</h2>", "<ul>"] + [f'<li class="note">{e(x)}</li>' for x in notes] + ["</ul>"]
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _overview(run: Run, matrix: Matrix) -> str:
    assert run.allure is not None
    return relative_link(str(run.allure.report), matrix.out_dir)
