"""Data-driven conformance cases (``datasets/<api>/*.json``), validated by
``datasets/dataset.schema.json``. Cases are data and never contain Python."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from conformance.harness.failures import UsageError


def datasets_root() -> Path:
    here = Path(__file__).resolve()
    for candidate in (here.parents[2] / "datasets", here.parents[1] / "datasets"):
        if candidate.is_dir():
            return candidate
    raise UsageError(f"datasets/ directory not found near {here}")


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    description: str
    request: dict[str, Any] = field(default_factory=dict)
    raw_body: str | None = None
    requires: tuple[str, ...] = ()
    expect: dict[str, Any] = field(default_factory=dict)
    group: str = ""


@lru_cache(maxsize=None)
def load(relpath: str) -> tuple[Case, ...]:
    path = datasets_root() / relpath
    raw = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for group in raw:
        for c in group["cases"]:
            out.append(Case(id=c["id"], description=c["description"], request=c.get("request", {}),
                            raw_body=c.get("raw_body"), requires=tuple(c.get("requires", ())),
                            expect=c.get("expect", {}), group=group["description"]))
    return tuple(out)


def case(relpath: str, case_id: str) -> Case:
    for c in load(relpath):
        if c.id == case_id:
            return c
    raise UsageError(f"{relpath}: no case {case_id!r}")


def cases(relpath: str, *, only: tuple[str, ...] = ()) -> list[Any]:
    """``pytest.param(case, id=case.id, marks=requires(...))`` for each case in the file."""
    import pytest  # noqa: PLC0415 - test parametrisation only; the CLI tools never import pytest

    params = []
    for c in load(relpath):
        if only and c.id not in only:
            continue
        marks = [pytest.mark.requires(*c.requires)] if c.requires else []
        params.append(pytest.param(c, id=c.id, marks=marks))
    return params
