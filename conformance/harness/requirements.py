"""The requirement catalog: stable IDs, levels, spec pointers (``conformance/requirements/*.yaml``).

Tests cite requirements with :func:`requirement` and never define them inline. IDs are never
reused or renumbered; retired requirements stay in the catalog with ``status: retired``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from conformance.harness.capabilities import CAPABILITIES
from conformance.harness.failures import UsageError

if TYPE_CHECKING:
    import pytest

ID_RE = re.compile(r"^(OAI|ANT|SSE|HTTP|NIM)-[A-Z]{2,8}-\d{3}$")
STATUSES = ("active", "tentative", "retired")
CATALOG_DIR = Path(__file__).resolve().parents[1] / "requirements"


class Level(enum.Enum):
    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"
    INFO = "INFO"

    @property
    def gates(self) -> bool:
        """MUST gates a release always; SHOULD only under --strict; MAY and INFO never."""
        return self is Level.MUST


EPICS = {
    "OAI": "OpenAI-compatible API",
    "ANT": "Anthropic-compatible API",
    "SSE": "SSE framing",
    "HTTP": "HTTP transport",
    "NIM": "NIM management API",
}


@dataclass(frozen=True, slots=True)
class Requirement:
    id: str
    title: str
    level: Level
    status: str
    since: str
    description: str
    capabilities: tuple[str, ...] = ()
    spec: tuple[dict[str, str], ...] = ()
    core: bool = False
    untested: str | None = None
    source_file: str = ""

    @property
    def epic(self) -> str:
        return EPICS[self.id.split("-", 1)[0]]

    @property
    def severity(self) -> str:
        """Allure severity: core MUST → blocker, MUST → critical, SHOULD → normal, MAY → minor,
        INFO → trivial."""
        if self.level is Level.MUST:
            return "blocker" if self.core else "critical"
        return {Level.SHOULD: "normal", Level.MAY: "minor", Level.INFO: "trivial"}[self.level]

    @property
    def story(self) -> str:
        return f"{self.id} {self.title}"

    def spec_links(self) -> list[tuple[str, str]]:
        """(name, url-or-pointer) pairs for Allure links."""
        out = []
        for entry in self.spec:
            for kind, value in entry.items():
                out.append((kind, value))
        return out


@dataclass(slots=True)
class Catalog:
    requirements: dict[str, Requirement] = field(default_factory=dict)

    def __getitem__(self, rid: str) -> Requirement:
        try:
            return self.requirements[rid]
        except KeyError:
            raise UsageError(f"requirement {rid!r} is not in the catalog") from None

    def __contains__(self, rid: object) -> bool:
        return rid in self.requirements

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self.requirements.values())

    def __len__(self) -> int:
        return len(self.requirements)


# libyaml's safe loader when PyYAML was built with it (the same documents, ~10x faster: the catalog is
# read by every pytest process, and the mutation runner starts dozens of them).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_file(path: Path) -> list[Requirement]:
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
    if not isinstance(raw, dict) or not isinstance(raw.get("requirements"), list):
        raise UsageError(f"{path}: expected a mapping with a 'requirements' list")
    out = []
    for entry in raw["requirements"]:
        out.append(_parse_entry(entry, path))
    return out


def _parse_entry(entry: dict[str, Any], path: Path) -> Requirement:
    where = f"{path.name}:{entry.get('id', '?')}"
    unknown = set(entry) - {
        "id", "title", "level", "status", "since", "description", "capabilities", "spec", "core",
        "untested", "retired_reason",
    }
    if unknown:
        raise UsageError(f"{where}: unknown keys {sorted(unknown)}")
    rid = entry.get("id", "")
    if not ID_RE.match(rid):
        raise UsageError(f"{where}: id does not match {ID_RE.pattern}")
    try:
        level = Level(entry["level"])
    except (KeyError, ValueError):
        raise UsageError(f"{where}: level must be one of {[lv.value for lv in Level]}") from None
    status = entry.get("status", "active")
    if status not in STATUSES:
        raise UsageError(f"{where}: status must be one of {STATUSES}")
    caps = tuple(entry.get("capabilities") or ())
    bad = sorted(set(caps) - CAPABILITIES.keys())
    if bad:
        raise UsageError(f"{where}: unknown capabilities {bad}")
    spec = tuple(entry.get("spec") or ())
    for item in spec:
        if not isinstance(item, dict) or len(item) != 1:
            raise UsageError(f"{where}: each spec entry is a one-key mapping, e.g. {{openapi: '...'}}")
    for key in ("title", "description", "since"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise UsageError(f"{where}: '{key}' is required")
    return Requirement(
        id=rid,
        title=entry["title"].strip(),
        level=level,
        status=status,
        since=str(entry["since"]),
        description=" ".join(entry["description"].split()),
        capabilities=caps,
        spec=spec,
        core=bool(entry.get("core", False)),
        untested=entry.get("untested"),
        source_file=path.name,
    )


@lru_cache(maxsize=4)
def load_catalog(directory: Path = CATALOG_DIR) -> Catalog:
    catalog = Catalog()
    for path in sorted(directory.glob("*.yaml")):
        for req in _load_file(path):
            if req.id in catalog.requirements:
                raise UsageError(f"{path.name}: duplicate requirement id {req.id}")
            catalog.requirements[req.id] = req
    return catalog


def requirement(rid: str) -> pytest.MarkDecorator:
    """Cite one catalog requirement: ``@requirement("OAI-STREAM-004")``."""
    if not ID_RE.match(rid):
        raise UsageError(f"requirement id {rid!r} does not match {ID_RE.pattern}")
    import pytest  # noqa: PLC0415 - only test modules cite requirements; the CLI tools never do

    return pytest.mark.requirement(rid)


def cited(item: pytest.Item) -> list[str]:
    return [m.args[0] for m in item.iter_markers("requirement")]
