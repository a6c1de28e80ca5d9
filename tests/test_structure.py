"""The structure shows the rules: checks and stream layers import no transport, the command-line
tools run without pytest, every check cites a catalog requirement, every docs/ pointer resolves,
and the three stream layers share one base."""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from conformance.harness.checks import load_all
from conformance.harness.requirements import load_catalog
from conformance.harness.streams.anthropic import MessagesStream
from conformance.harness.streams.base import EventStream
from conformance.harness.streams.openai import ChunkStream
from conformance.harness.streams.responses import ResponsesStream

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "conformance" / "harness"
TRANSPORT = ("httpx", "httpx2", "httpcore", "conformance.harness.client")


def _imports(path: Path, package: str | None = None) -> set[str]:
    """Every module a file imports (absolute names; relative imports resolved within its package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    if package is None:
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.add(module)
            out.update(f"{module}.{alias.name}" for alias in node.names)
    return out


def _transport(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == t or m.startswith(t + ".") for t in TRANSPORT))


def _transport_free_modules() -> list[Path]:
    files = sorted((HARNESS / "checks").glob("*.py")) + sorted((HARNESS / "streams").glob("*.py"))
    return files + [HARNESS / "exchange.py", HARNESS / "sse.py", HARNESS / "redaction.py"]


@pytest.mark.parametrize("path", _transport_free_modules(), ids=lambda p: str(p.relative_to(HARNESS)))
def test_checks_and_streams_import_no_transport(path):
    bad = _transport(_imports(path))
    assert not bad, f"{path.relative_to(ROOT)} imports the transport: {bad}"


@pytest.mark.parametrize("source", [
    "import httpx\n",
    "from conformance.harness.client import Client\n",
    "from ..client import Exchange\n",
    "def f():\n    from conformance.harness import client\n",
])
def test_the_import_walk_sees_a_transport_import(tmp_path, source):
    """The walk above can fail: a check module importing the transport in any spelling is caught."""
    module = tmp_path / "sample.py"
    module.write_text(source, encoding="utf-8")
    assert _transport(_imports(module, package="conformance.harness.checks"))


def test_client_reexports_the_exchange_record():
    from conformance.harness import client, exchange

    assert client.Exchange is exchange.Exchange


# --- command-line tools never import pytest ------------------------------------------------

CLI_ENTRY_POINTS = [
    ["-m", "conformance.reference", "info"],
    ["-m", "conformance.faults", "--list"],
    ["-m", "conformance.faults.mutation", "--help"],
    [str(ROOT / "tools" / "compare_runs.py"), "--help"],
    [str(ROOT / "tools" / "extract_seed_samples.py"), "--help"],
    ["-c", "import tools.gen_requirements_doc"],  # running it would rewrite REQUIREMENTS.md
]
TEST_ONLY_MODULES = ("pytest", "_pytest", "allure", "allure_commons", "pluggy")


def _imported(stderr: str) -> set[str]:
    """Module names from ``python -X importtime`` output (``import time: self | cumulative | name``)."""
    out = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            out.add(line.rsplit("|", 1)[1].strip())
    return out


@pytest.mark.parametrize("argv", CLI_ENTRY_POINTS, ids=lambda a: " ".join(Path(x).name for x in a))
def test_command_line_tools_do_not_import_pytest(argv):
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    modules = _imported(proc.stderr)
    assert modules, f"no import trace from {argv}: {proc.stderr[-500:]}"
    assert proc.returncode in (0, 2), f"{argv} exited {proc.returncode}: {proc.stderr[-2000:]}"
    bad = sorted(m for m in modules if m.split(".")[0] in TEST_ONLY_MODULES)
    assert not bad, f"{' '.join(argv)} imports {bad}"


def test_import_trace_sees_pytest_when_it_is_imported():
    """The trace above can fail: a command that imports pytest is seen doing so."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import pytest"], capture_output=True,
                          text=True, timeout=120, check=True)
    assert "pytest" in _imported(proc.stderr)


# --- every check cites a catalog requirement -----------------------------------------------


def test_every_check_cites_an_active_catalog_requirement():
    catalog = load_catalog()
    checks = load_all()
    assert checks
    unknown = sorted(f"{c.name} → {c.requirement}" for c in checks.values() if c.requirement not in catalog)
    assert not unknown, f"@check IDs missing from the catalog: {unknown}"
    retired = sorted(f"{c.name} → {c.requirement}" for c in checks.values()
                     if catalog[c.requirement].status == "retired")
    assert not retired, f"@check IDs naming retired requirements: {retired}"


def test_requirements_no_check_or_test_cites_are_reported():
    """Report (never fail) active requirements cited neither by a test nor by a check; whether a
    requirement must be cited at all is tests/test_catalog.py's rule."""
    from tools.gen_requirements_doc import citations

    cited = set(citations()) | {c.requirement for c in load_all().values()}
    loose = sorted(r.id for r in load_catalog() if r.status != "retired" and r.id not in cited)
    if loose:
        warnings.warn(f"requirements cited by no test and no check: {loose}", stacklevel=1)


# --- docs pointers resolve -------------------------------------------------------------------

DOC_REF = re.compile(r"(?<![\w/.-])(docs/[\w./-]+\.md)")
BARE_DOC = re.compile(r"(?<![\w/.-])(wire-protocols\.md|reference-measurements\.md|house[- ]style)")
SCANNED = ("conformance", "tests", "tools", "schemas", "README.md", "pyproject.toml")
SUFFIXES = {".py", ".md", ".json", ".yaml", ".toml"}


def _scanned_files() -> list[Path]:
    files: list[Path] = []
    for entry in SCANNED:
        path = ROOT / entry
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [p for p in sorted(path.rglob("*")) if p.is_file() and p.suffix in SUFFIXES
                      and "__pycache__" not in p.parts
                      and "node_modules" not in p.parts]  # installed packages (git-ignored), not ours
    return [p for p in files if p != Path(__file__).resolve()]


def test_every_docs_pointer_resolves_in_the_repo():
    missing = []
    for path in _scanned_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for ref in DOC_REF.findall(text):
            if not (ROOT / ref.rstrip(".")).is_file():
                missing.append(f"{path.relative_to(ROOT)}: {ref}")
        for name in BARE_DOC.findall(text):
            if name.startswith("house"):
                missing.append(f"{path.relative_to(ROOT)}: {name} (not part of this repository)")
            elif not (ROOT / "docs" / name).is_file():
                missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, "doc pointers that do not resolve inside the repository:\n" + "\n".join(sorted(set(missing)))


def test_docs_pointer_scan_finds_a_missing_doc():
    assert DOC_REF.findall("see docs/nowhere.md §3") == ["docs/nowhere.md"]
    assert BARE_DOC.findall("(wire-protocols.md §2.6)") == ["wire-protocols.md"]


def test_wire_protocol_sections_cited_exist():
    """Every ``wire-protocols.md §N.M`` cited exists as a heading of docs/wire-protocols.md."""
    doc = (ROOT / "docs" / "wire-protocols.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^#+ (\d+(?:\.\d+)*)[ .]", doc, re.M))
    deviations = set(re.findall(r"^\| *(D\d+) *\|", doc, re.M))
    missing = []
    for path in _scanned_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for cite in re.findall(r"wire-protocols\.md[^\n\"]{0,80}", text):
            for section in re.findall(r"§ ?(\d+(?:\.\d+)*)|(?<![\w.§])(\d+\.\d+)(?![\w.])", cite):
                number = section[0] or section[1]
                if number and number not in headings:
                    missing.append(f"{path.relative_to(ROOT)}: §{number}")
            for dev in re.findall(r"\bD\d+\b", cite):
                if dev not in deviations:
                    missing.append(f"{path.relative_to(ROOT)}: {dev}")
    assert not missing, "sections cited but absent from docs/wire-protocols.md:\n" + "\n".join(sorted(set(missing)))


# --- one stream base -------------------------------------------------------------------------

SHARED_FIELDS = ("exchange", "sse_events", "done_indices", "non_json", "non_object", "untyped", "unknown_types",
                 "unterminated_done")
SHARED_VIEWS = ("events", "done_index", "done_count", "after_done", "diagnostics", "malformed")


@pytest.mark.parametrize("cls", [ChunkStream, ResponsesStream, MessagesStream], ids=lambda c: c.__name__)
def test_stream_layers_share_one_base(cls):
    assert issubclass(cls, EventStream)
    names = {f.name for f in dataclasses.fields(cls)}
    assert set(SHARED_FIELDS) <= names
    for view in SHARED_VIEWS:
        assert hasattr(cls, view) or view in names, f"{cls.__name__} has no {view}"


# one transcript, three layers: the shared fields mean the same thing everywhere
TRANSCRIPT = (
    b'data: {"type": "a", "choices": []}\n\n'
    b"data: not json\n\n"
    b"data: [1, 2]\n\n"
    b"data: [DONE]\n\n"
    b'data: {"type": "late", "choices": []}\n\n'
    b"data: [DONE]\n\n"
    b"data: [DONE]"  # no blank line: discarded by a conforming client
)


@pytest.mark.parametrize("cls", [ChunkStream, ResponsesStream, MessagesStream], ids=lambda c: c.__name__)
def test_shared_fields_mean_the_same_in_every_layer(cls):
    from tests.check_fixtures import mock_exchange

    ex = mock_exchange(headers={"content-type": "text/event-stream"}, chunks=[TRANSCRIPT], stream=True)
    stream = cls.from_exchange(ex)
    assert stream.exchange is ex
    assert [e.data for e in stream.sse_events][:3] == ['{"type": "a", "choices": []}', "not json", "[1, 2]"]
    assert len(stream.sse_events) == 6
    assert stream.done_indices == [3, 5] and stream.done_index == 3 and stream.done_count == 2
    assert [e.data for e in stream.after_done] == ['{"type": "late", "choices": []}', "[DONE]"]
    assert stream.non_json == [(1, "not json")] and stream.non_object == [(2, "[1, 2]")]
    assert stream.malformed == [(1, "not json"), (2, "[1, 2]")]
    assert stream.unterminated_done
    assert any(d.code == "unterminated-event-at-eof" for d in stream.diagnostics)
