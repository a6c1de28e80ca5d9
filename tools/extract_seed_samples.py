#!/usr/bin/env python3
"""Extract the sample wire bodies from the seed documents into offline test fixtures.

The seed documents (``/work/shared/seeds/*.txt``: NVIDIA NIM guides and a hosted provider's page)
contain sample responses, SSE chunk streams and health bodies. Those samples are documentation
facts the suite must accept, so they become fixtures under ``tests/fixtures/seeds/``:

* ``<source>-<what>.json``: one JSON body, re-serialised (2-space indent, key order kept);
* ``<source>-<what>.sse``: the ``data: ...`` lines exactly as documented, blank-line separated,
  ending with ``data: [DONE]`` when the document has it. Elision lines (``...``) that stand for
  chunks the document left out are dropped and listed in the manifest;
* ``manifest.json``: the sidecar for every fixture (seed file and sha256, section heading, line
  range, schema id, the overlay flavors its profile applies, dropped lines, identical copies in
  other seeds);
* ``README.md``: provenance, generated from the manifest.

Samples that appear identically in several seeds (e.g. two revisions of the same guide) are written
once; the manifest lists the other occurrences under ``also_in``. Requests (``model`` + ``messages``),
request fragments and code are ignored.

Usage::

    python tools/extract_seed_samples.py [SEED_DIR_OR_FILE ...] [--out DIR] [--check]

``--check`` writes nothing and exits 1 when the committed fixtures differ from a fresh extraction.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_SEEDS = Path("/work/shared/seeds")
REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "tests" / "fixtures" / "seeds"
TOOL = "tools/extract_seed_samples.py"

# Readable source names for the known seeds; unknown seeds fall back to "<vendor>-<file stem>".
SOURCES = {
    "000_491493b4d3bc4904": "nim-nemotron3-ultra",
    "001_4ee9c8a102c31166": "nim-nemotron3-ultra-rev2",
    "002_f80c5e411c313f68": "aimlapi-nemotron3-ultra",
    "003_a9b5b4dd73c4fcd9": "nim-vlm-nemotron3-nano-omni",
}

# The overlay flavors the profile of each vendor applies (schemas/README.md, "Overlays").
PROFILE_FLAVORS = {"nim": ["compat"], "aimlapi": ["compat", "hosted"]}

ELISIONS = {"...", "…", "[...]", "[…]"}


@dataclass(frozen=True, slots=True)
class Sample:
    kind: str  # "json" | "sse"
    what: str
    schema: str | None
    payload: Any  # parsed JSON value, or the list of SSE data lines
    section: str
    lines: tuple[int, int]  # 1-based, inclusive
    dropped: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def key(self) -> str:
        return json.dumps([self.kind, self.what, self.payload], sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Seed:
    path: Path
    text: str

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def vendor(self) -> str:
        return "aimlapi" if "aimlapi" in self.text.lower() else "nim"

    @property
    def source(self) -> str:
        return SOURCES.get(self.stem, f"{self.vendor}-{self.stem}")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


# --- section headings ------------------------------------------------------------------------

_SPHINX_HEADING = re.compile(r"^(?P<title>[^#\s].{0,98}?)#\s*$")  # rendered docs: "Ready Endpoint#"
_MD_HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*$")
_SUMMARY = re.compile(r"<summary>(?P<title>.+?)</summary>")


def section_of(lines: Sequence[str], index: int, markdown: bool) -> str:
    """The nearest heading above line ``index`` (0-based)."""
    for i in range(index - 1, -1, -1):
        line = lines[i].strip()
        if m := _SUMMARY.search(line):
            return m.group("title").strip()
        if m := _SPHINX_HEADING.match(line):
            return m.group("title").strip()
        if markdown and (m := _MD_HEADING.match(line)) and (i == 0 or not lines[i - 1].strip()):
            return m.group("title").strip()
    return ""


# --- classification --------------------------------------------------------------------------


def classify(obj: Any) -> tuple[str, str] | None:
    """(what, schema id) for a wire body worth keeping, else None."""
    if not isinstance(obj, dict):
        return None
    kind = obj.get("object")
    if kind == "chat.completion":
        return "chat-completion", "openai/chat.completion"
    if kind == "chat.completion.chunk":
        return "chat-completion-chunk", "openai/chat.completion.chunk"
    if kind == "health.response":
        return "health", "nim/health"
    if kind == "list" and isinstance(obj.get("data"), list):
        return "models", "openai/model.list"
    if kind == "error" or ("error" in obj and len(obj) <= 2):
        return "error", "openai/error"
    if set(obj) >= {"release", "api"}:
        return "version", "nim/version"
    return None


def health_what(section: str, body: dict[str, Any]) -> str:
    probe = f"{section} {body.get('message', '')} {body.get('status', '')}".lower()
    if "live" in probe:
        return "health-live"
    if "ready" in probe:
        return "health-ready"
    return "health"


# --- extraction ------------------------------------------------------------------------------


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    return starts


def extract_json(seed: Seed) -> list[Sample]:
    text = seed.text
    lines = text.split("\n")
    starts = _line_starts(text)
    markdown = "```" in text
    decoder = json.JSONDecoder()
    out: list[Sample] = []
    consumed_until = -1
    for lineno, line in enumerate(lines):
        offset = starts[lineno]
        if offset < consumed_until or not line.lstrip().startswith("{"):
            continue
        begin = offset + (len(line) - len(line.lstrip()))
        try:
            obj, end = decoder.raw_decode(text, begin)
        except json.JSONDecodeError:
            continue
        found = classify(obj)
        if found is None:
            continue
        consumed_until = end
        end_line = text.count("\n", 0, end) + 1
        what, schema = found
        section = section_of(lines, lineno, markdown)
        if what == "health":
            what = health_what(section, obj)
        out.append(
            Sample(
                kind="json",
                what=what,
                schema=schema,
                payload=obj,
                section=section,
                lines=(lineno + 1, end_line),
            )
        )
    return out


def extract_sse(seed: Seed) -> list[Sample]:
    lines = seed.text.split("\n")
    markdown = "```" in seed.text
    out: list[Sample] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip().startswith("data:"):
            i += 1
            continue
        first = i
        data: list[str] = []
        dropped: list[dict[str, Any]] = []
        last = i
        while i < len(lines):
            stripped = lines[i].strip()
            if stripped.startswith("data:"):
                data.append(stripped)
                last = i
            elif stripped in ELISIONS:
                dropped.append({"line": i + 1, "text": stripped})
                last = i
            elif stripped:
                break
            i += 1
        payloads = [d[len("data:"):].strip() for d in data]
        notes: list[str] = []
        objects = []
        for p in payloads:
            if p == "[DONE]":
                continue
            try:
                objects.append(json.loads(p))
            except json.JSONDecodeError:
                notes.append(f"unparseable data line: {p[:60]}")
        if payloads and payloads[-1] != "[DONE]":
            notes.append("the documented stream has no data: [DONE]")
        if any(p == "[DONE]" for p in payloads[:-1]):
            notes.append("data: [DONE] before the end of the documented stream")
        kinds = {classify(o) for o in objects}
        if kinds == {("chat-completion-chunk", "openai/chat.completion.chunk")}:
            what, schema = "chat-completion-stream", "openai/chat.completion.chunk"
        else:
            what, schema = "stream", None
            notes.append("not a chat.completion.chunk stream; not validated")
        out.append(
            Sample(
                kind="sse",
                what=what,
                schema=schema,
                payload=data,
                section=section_of(lines, first, markdown),
                lines=(first + 1, last + 1),
                dropped=dropped,
                notes=notes,
            )
        )
    return out


def render(sample: Sample) -> str:
    if sample.kind == "sse":
        return "".join(f"{line}\n\n" for line in sample.payload)
    return json.dumps(sample.payload, indent=2, ensure_ascii=False) + "\n"


def collect(seeds: Iterable[Seed]) -> tuple[dict[str, str], dict[str, Any]]:
    """All fixture files (name → content) and the manifest."""
    files: dict[str, str] = {}
    entries: dict[str, dict[str, Any]] = {}
    by_key: dict[str, str] = {}
    seed_rows = []
    for seed in seeds:
        samples = sorted(extract_json(seed) + extract_sse(seed), key=lambda s: s.lines)
        flavors = PROFILE_FLAVORS.get(seed.vendor, ["compat"])
        written = 0
        for sample in samples:
            occurrence = {"seed": seed.path.name, "section": sample.section, "lines": list(sample.lines)}
            key = sample.key()
            if key in by_key:
                entries[by_key[key]].setdefault("also_in", []).append(occurrence)
                continue
            base = f"{seed.source}-{sample.what}"
            ext = ".sse" if sample.kind == "sse" else ".json"
            name, n = base + ext, 2
            while name in files:
                name, n = f"{base}-{n}{ext}", n + 1
            files[name] = render(sample)
            by_key[key] = name
            written += 1
            entry: dict[str, Any] = {
                "file": name,
                "kind": sample.kind,
                "schema": sample.schema,
                "flavors": flavors,
                "source": seed.source,
                **occurrence,
                "seed_sha256": seed.sha256,
            }
            if sample.kind == "sse":
                # An elision line means the document left chunks out: the fixture is an excerpt.
                entry["complete_stream"] = not sample.dropped
            if sample.dropped:
                entry["dropped_lines"] = sample.dropped
            if sample.notes:
                entry["notes"] = sample.notes
            entries[name] = entry
        seed_rows.append(
            {
                "seed": seed.path.name,
                "source": seed.source,
                "vendor": seed.vendor,
                "sha256": seed.sha256,
                "samples_found": len(samples),
                "fixtures_written": written,
            }
        )
    manifest = {
        "generated_by": TOOL,
        "note": "Documentation examples: facts the suite must accept under the listed flavors.",
        "seeds": seed_rows,
        "fixtures": [entries[k] for k in sorted(entries)],
    }
    files["manifest.json"] = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    files["README.md"] = readme(manifest)
    return files, manifest


def readme(manifest: dict[str, Any]) -> str:
    out = [
        "# Seed fixtures",
        "",
        f"Generated by `{TOOL}` from the seed documents in `/work/shared/seeds/` (see its",
        "`README.md`); do not edit by hand, re-run the tool instead:",
        "",
        "```",
        "python tools/extract_seed_samples.py            # write",
        "python tools/extract_seed_samples.py --check    # verify, exit 1 on drift",
        "```",
        "",
        "Every file here is a **documentation example** copied from vendor documentation: a fact the",
        "suite must accept for that vendor's profile (NIM samples under the `compat` flavor, aimlapi",
        "samples under `compat` + `hosted`). They are not captures from live endpoints.",
        "`tests/test_seed_samples.py` validates them offline. `manifest.json` is the sidecar: seed",
        "file and sha256, section heading, line range, schema, flavors, dropped lines, duplicates.",
        "",
        "JSON bodies are re-serialised (2-space indent, key order kept). SSE files keep the documented",
        "`data: ...` lines verbatim (leading indentation removed), one event per line pair, ending with",
        "`data: [DONE]`. Lines such as `...` that stand for chunks the document leaves out are dropped",
        "and recorded under `dropped_lines`, so those streams are excerpts, not complete streams.",
        "",
        "| fixture | seed | section | lines | schema | flavors |",
        "|---|---|---|---|---|---|",
    ]
    for e in manifest["fixtures"]:
        seeds = ", ".join([e["seed"], *(a["seed"] for a in e.get("also_in", []))])
        lines = "–".join(str(n) for n in e["lines"])
        out.append(
            f"| `{e['file']}` | {seeds} | {e['section']} | {lines} | `{e['schema']}` | "
            f"{', '.join(e['flavors'])} |"
        )
    out += ["", "Dropped lines and other notes:", ""]
    for e in manifest["fixtures"]:
        for d in e.get("dropped_lines", []):
            out.append(f"- `{e['file']}`: `{d['text']}` at {e['seed']}:{d['line']} (elided chunks)")
        for n in e.get("notes", []):
            out.append(f"- `{e['file']}`: {n}")
    empty = [s for s in manifest["seeds"] if not s["samples_found"]]
    out += ["", "Seeds without any response sample (requests and code only):", ""]
    out += [f"- {s['seed']} ({s['source']})" for s in empty] or ["- none"]
    return "\n".join(out) + "\n"


def load_seeds(args: Sequence[str]) -> list[Seed]:
    paths: list[Path] = []
    for arg in args or [str(DEFAULT_SEEDS)]:
        p = Path(arg)
        paths.extend(sorted(p.glob("*.txt")) if p.is_dir() else [p])
    if not paths:
        raise SystemExit(f"no seed documents found in {args or [str(DEFAULT_SEEDS)]}")
    return [Seed(p, p.read_text(encoding="utf-8")) for p in paths]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("seeds", nargs="*", help=f"seed directories or files (default {DEFAULT_SEEDS})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    parser.add_argument("--check", action="store_true", help="verify the fixtures are up to date; write nothing")
    ns = parser.parse_args(argv)
    files, manifest = collect(load_seeds(ns.seeds))

    out: Path = ns.out
    old_manifest = out / "manifest.json"
    stale: set[str] = set()
    if old_manifest.is_file():
        stale = {e["file"] for e in json.loads(old_manifest.read_text(encoding="utf-8")).get("fixtures", [])}
    stale -= set(files)

    if ns.check:
        drift = [n for n, c in files.items() if not (out / n).is_file() or (out / n).read_text(encoding="utf-8") != c]
        drift += sorted(n for n in stale if (out / n).exists())
        for n in drift:
            print(f"out of date: {out / n}", file=sys.stderr)
        return 1 if drift else 0

    out.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (out / name).unlink(missing_ok=True)
    for name, content in files.items():
        (out / name).write_text(content, encoding="utf-8")
    for e in manifest["fixtures"]:
        extra = f" (+{len(e['also_in'])} identical)" if e.get("also_in") else ""
        print(f"{e['file']}: {e['seed']}:{e['lines'][0]}-{e['lines'][1]} [{e['section']}]{extra}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
