"""Endpoint profiles (TOML, shipped in ``conformance/profiles/``).

A profile declares what the endpoint is (capabilities, schema overlay flavors, wire conventions
such as the reasoning field name) and its **known deviations**: requirement ID → reason +
evidence. Known deviations become strict xfails, so a fixed deviation (XPASS) fails the run and
the list stays true.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.harness import capabilities as caps
from conformance.harness.failures import UsageError
from conformance.harness.requirements import ID_RE

PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"
REASONING_FIELDS = ("reasoning", "reasoning_content", "either")
_TOP_KEYS = {
    "name", "description", "server", "schema_flavors", "capabilities", "reasoning_field", "deviations",
    "settings",
}
_DEV_KEYS = {"requirement", "reason", "evidence", "issue", "cases"}


@dataclass(frozen=True, slots=True)
class Deviation:
    requirement: str
    reason: str
    evidence: str
    issue: str | None = None
    cases: tuple[str, ...] = ()  # restrict to these parametrisation ids (substring match); empty = all

    def applies_to(self, param_id: str | None) -> bool:
        if not self.cases:
            return True
        return param_id is not None and any(c in param_id for c in self.cases)

    @property
    def xfail_reason(self) -> str:
        link = f" ({self.issue})" if self.issue else ""
        return f"known deviation {self.requirement}: {self.reason}{link}"


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    server: str
    schema_flavors: tuple[str, ...]
    capabilities: frozenset[str]
    reasoning_field: str
    deviations: tuple[Deviation, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    path: str = ""

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    def deviation(self, requirement: str, param_id: str | None = None) -> Deviation | None:
        for dev in self.deviations:
            if dev.requirement == requirement and dev.applies_to(param_id):
                return dev
        return None

    def is_known_deviation(self, requirement: str) -> bool:
        """For passive checks: any deviation entry for the requirement (case filters ignored)."""
        return any(dev.requirement == requirement for dev in self.deviations)

    def setting(self, key: str, default: Any = None) -> Any:
        return self.settings.get(key, default)


def available() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))


def load(name_or_path: str) -> Profile:
    path = Path(name_or_path)
    if not (path.suffix == ".toml" and path.is_file()):
        path = PROFILES_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            raise UsageError(f"unknown profile {name_or_path!r}; shipped profiles: {available()} (or pass a .toml path)")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: {exc}") from None
    return parse(raw, where=str(path))


def parse(raw: dict[str, Any], *, where: str) -> Profile:
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise UsageError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("name", "description", "server"):
        if not isinstance(raw.get(key), str):
            raise UsageError(f"{where}: '{key}' (string) is required")
    reasoning_field = raw.get("reasoning_field", "either")
    if reasoning_field not in REASONING_FIELDS:
        raise UsageError(f"{where}: reasoning_field must be one of {REASONING_FIELDS}")
    deviations = []
    for i, entry in enumerate(raw.get("deviations", [])):
        bad = set(entry) - _DEV_KEYS
        if bad:
            raise UsageError(f"{where}: deviations[{i}] has unknown keys {sorted(bad)}")
        rid = entry.get("requirement", "")
        if not ID_RE.match(rid):
            raise UsageError(f"{where}: deviations[{i}].requirement {rid!r} is not a requirement id")
        for key in ("reason", "evidence"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise UsageError(f"{where}: deviations[{i}] ({rid}) needs a non-empty '{key}'")
        deviations.append(
            Deviation(
                requirement=rid,
                reason=" ".join(entry["reason"].split()),
                evidence=entry["evidence"].strip(),
                issue=entry.get("issue"),
                cases=tuple(entry.get("cases", ())),
            )
        )
    return Profile(
        name=raw["name"],
        description=" ".join(raw["description"].split()),
        server=raw["server"],
        schema_flavors=tuple(raw.get("schema_flavors", ())),
        capabilities=caps.validate(raw.get("capabilities", []), where=where),
        reasoning_field=reasoning_field,
        deviations=tuple(deviations),
        settings=dict(raw.get("settings", {})),
        path=where,
    )


def with_capabilities(profile: Profile, *names: str) -> Profile:
    """The profile with extra capabilities (e.g. --open-responses adds ``open_responses``)."""
    from dataclasses import replace  # noqa: PLC0415

    return replace(profile, capabilities=profile.capabilities | caps.validate(names, where="command line"))
