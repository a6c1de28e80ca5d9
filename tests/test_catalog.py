"""Catalog lint (test262 / k8s style): stable IDs, levels, spec pointers, citations, golden doc."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conformance.harness.requirements import ID_RE, Level, load_catalog
from tools.gen_requirements_doc import OUT, citations, render

ROOT = Path(__file__).resolve().parents[1]
CATALOG = load_catalog()
CITED = citations()
SPEC_PATH = ROOT.parent / "shared" / "specs" / "openai" / "openapi.yaml"


def test_ids_are_well_formed_and_unique():
    assert len(CATALOG) > 0
    for req in CATALOG:
        assert ID_RE.match(req.id), req.id


@pytest.mark.parametrize("req", list(CATALOG), ids=lambda r: r.id)
def test_requirement_is_cited_or_explains_why_not(req):
    if req.status == "retired":
        assert req.id not in CITED, f"retired {req.id} is still cited by {CITED[req.id]}"
        return
    assert req.id in CITED or req.untested, f"{req.id} is cited by no test and has no 'untested' reason"


@pytest.mark.parametrize("req", list(CATALOG), ids=lambda r: r.id)
def test_must_and_should_have_spec_pointers(req):
    if req.level in (Level.MUST, Level.SHOULD):
        assert req.spec, f"{req.id}: MUST/SHOULD needs a spec location"


@pytest.mark.parametrize("req", list(CATALOG), ids=lambda r: r.id)
def test_titles_are_declarative(req):
    assert not re.search(r"\b(should|must|test that)\b", req.title, re.I), f"{req.id}: title {req.title!r}"
    assert len(req.title) <= 100
    keyword = req.level.value if req.level is not Level.INFO else ""
    if keyword:
        assert keyword in req.description, f"{req.id}: description lacks its RFC 2119 keyword {keyword}"


@pytest.mark.parametrize("req", list(CATALOG), ids=lambda r: r.id)
def test_openapi_pointers_name_existing_components(req):
    if not SPEC_PATH.is_file():
        pytest.skip("the pinned OpenAI spec is not beside this checkout (../shared/specs)")
    text = SPEC_PATH.read_text(encoding="utf-8")
    for kind, value in req.spec_links():
        if kind == "openapi" and "#/components/schemas/" in value:
            name = value.split("#/components/schemas/", 1)[1].split("/", 1)[0]
            assert f"\n    {name}:\n" in text, f"{req.id}: {name} is not a component of the pinned spec"


def _test_functions() -> list[tuple[Path, ast.FunctionDef]]:
    out = []
    for path in sorted((ROOT / "conformance").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        out += [(path, n) for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                and n.name.startswith("test_")]
    return out


@pytest.mark.parametrize(("path", "fn"), _test_functions(), ids=lambda v: v.name if hasattr(v, "name") else "")
def test_every_conformance_test_cites_exactly_one_known_requirement(path, fn):
    ids = [d.args[0].value for d in fn.decorator_list
           if isinstance(d, ast.Call) and getattr(d.func, "id", None) == "requirement"]
    assert len(ids) == 1, f"{path.name}::{fn.name} cites {ids}"
    assert ids[0] in CATALOG, f"{path.name}::{fn.name} cites unknown {ids[0]}"
    assert CATALOG[ids[0]].status != "retired"


def test_test_names_are_unique_across_the_suite():
    names = [fn.name for _, fn in _test_functions()]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})


def test_generated_requirements_doc_is_current():
    assert OUT.read_text(encoding="utf-8") == render(), "run: python tools/gen_requirements_doc.py"
