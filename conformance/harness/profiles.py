"""Endpoint profiles (TOML, shipped in ``conformance/profiles/``).

A profile declares what the endpoint is (capabilities, schema overlay flavors, wire conventions
such as the reasoning field name) and its **known deviations**: requirement ID → reason +
evidence, optionally scoped to cases (test parameter ids) and shapes (patterns over the violation's
signature). ``conformance.harness.outcomes`` matches them: a deviation excuses exactly what it names,
and a strict deviation that does not show (XPASS) fails the run, so the list stays true; one
declared ``intermittent`` is reported when it shows and never fails the run when it does not.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.harness import capabilities as caps
from conformance.harness import request_defaults
from conformance.harness.failures import UsageError
from conformance.harness.requirements import ID_RE

PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"
REASONING_FIELDS = ("reasoning", "reasoning_content", "either")
_TOP_KEYS = {
    "name", "description", "server", "schema_flavors", "capabilities", "reasoning_field", "deviations",
    "settings", "extends", "remove_deviations",
}
_DEV_KEYS = {"requirement", "reason", "evidence", "issue", "cases", "shapes", "intermittent"}


@dataclass(frozen=True, slots=True)
class Deviation:
    requirement: str
    reason: str
    evidence: str
    issue: str | None = None
    cases: tuple[str, ...] = ()  # restrict to these parametrisation ids (substring match); empty = all
    # patterns (``*`` = any characters, the rest literal) over a violation's shapes (conformance.harness.outcomes.shapes_of); empty =
    # any violation of the requirement in these cases. With patterns, a violation is excused only
    # when every one of its shapes matches one of them.
    shapes: tuple[str, ...] = ()
    # The deviation depends on what the model generates (or on timing), not on the request alone:
    # reported when it shows, never an XPASS when it does not.
    intermittent: bool = False

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
    return parse(_load_raw(path), where=str(path))


def _load_raw(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The profile's TOML; with ``extends = "<profile>"`` laid over its parent: keys given here
    replace the parent's, ``settings`` merge table by table, and ``deviations`` are the parent's
    (minus the requirement IDs in ``remove_deviations``) followed by the ones given here."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: {exc}") from None
    parent_name = raw.pop("extends", None)
    removed = raw.pop("remove_deviations", [])
    if parent_name is None:
        if removed:
            raise UsageError(f"{path}: remove_deviations needs extends")
        return raw
    if not isinstance(parent_name, str) or not isinstance(removed, list):
        raise UsageError(f"{path}: extends must name a profile and remove_deviations list requirement IDs")
    parent_path = path.parent / f"{parent_name}.toml" if not parent_name.endswith(".toml") else path.parent / parent_name
    if not parent_path.is_file():
        parent_path = PROFILES_DIR / f"{parent_name}.toml"
    if not parent_path.is_file() or parent_path.resolve() in seen or parent_path.resolve() == path.resolve():
        raise UsageError(f"{path}: extends {parent_name!r}: no such profile (or a cycle)")
    parent = _load_raw(parent_path, (*seen, path.resolve()))
    kept = [d for d in parent.get("deviations", []) if d.get("requirement") not in removed]
    unknown = set(removed) - {d.get("requirement") for d in parent.get("deviations", [])}
    if unknown:
        raise UsageError(f"{path}: remove_deviations names requirements {sorted(unknown)} that "
                         f"{parent_name} does not list")
    merged = {**parent, **{k: v for k, v in raw.items() if k not in ("settings", "deviations")}}
    merged["settings"] = request_defaults.deep_merge(parent.get("settings", {}), raw.get("settings", {}))
    merged["deviations"] = kept + list(raw.get("deviations", []))
    return merged


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
                shapes=_strings(entry.get("shapes", ()), where=f"{where}: deviations[{i}].shapes"),
                intermittent=_flag(entry.get("intermittent", False), where=f"{where}: deviations[{i}].intermittent"),
            )
        )
    settings = raw.get("settings", {})
    if not isinstance(settings, dict):
        raise UsageError(f"{where}: 'settings' must be a table")
    request_defaults.RequestPolicy.from_settings(settings, where=where)  # a bad request setting is a usage error now
    from conformance.harness import metrics  # noqa: PLC0415 - latency budgets (issue 12 §4)

    try:
        metrics.parse_budgets(settings.get("metric_budgets"))
    except ValueError as exc:
        raise UsageError(f"{where}: settings.{exc}") from None
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


def _strings(value: Any, *, where: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise UsageError(f"{where} must be a list of non-empty strings")
    return tuple(value)


def _flag(value: Any, *, where: str) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"{where} must be true or false")
    return value


def with_capabilities(profile: Profile, *names: str) -> Profile:
    """The profile with extra capabilities (e.g. --open-responses adds ``open_responses``)."""
    from dataclasses import replace  # noqa: PLC0415

    return replace(profile, capabilities=profile.capabilities | caps.validate(names, where="command line"))
