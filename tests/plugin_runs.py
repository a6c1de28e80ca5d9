"""Scaffolding shared by the tests that run the real plugin on inner test modules (pytester): the
ini those runs need, and a minimal endpoint profile."""

from __future__ import annotations

#: asyncio loop scopes as the project's pyproject sets them (pytester runs read no pyproject)
INI = "[pytest]\nasyncio_default_fixture_loop_scope = session\nasyncio_default_test_loop_scope = session\n"


def unit_profile(description: str, capabilities: tuple[str, ...] = ("streaming", "models")) -> str:
    """A profile TOML named ``unit`` declaring ``capabilities`` (no deviations, compat schemas)."""
    caps = ", ".join(f'"{c}"' for c in capabilities)
    return (f'name = "unit"\ndescription = "{description}"\nserver = "unit"\nschema_flavors = ["compat"]\n'
            f"capabilities = [{caps}]\n")
