"""Named check functions: small, pure (no I/O), each tied to one requirement.

A check takes already-captured data (an :class:`~conformance.harness.exchange.Exchange`, a parsed
stream, a parsed body) and raises :class:`ConformanceFailure` with Expected/Actual; it never
returns a boolean. ``@check("OAI-STREAM-004")`` registers it and stamps the requirement ID on the
failures it raises. Every registered check has a good and a bad fixture in ``tests/`` that prove
it passes and fails (``tests/test_checks.py`` enforces this).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from conformance.harness.failures import ConformanceFailure, FailureGroup, UsageError

F = TypeVar("F", bound=Callable[..., None])


@dataclass(frozen=True, slots=True)
class CheckInfo:
    name: str
    requirement: str
    passive: bool
    func: Callable[..., None]


CHECKS: dict[str, CheckInfo] = {}


def _stamp(exc: ConformanceFailure, requirement: str) -> ConformanceFailure:
    if exc.requirement is not None:
        return exc
    if isinstance(exc, FailureGroup):
        return FailureGroup(exc.failures, requirement=requirement)
    return type(exc)(
        exc.detail_message, requirement=requirement, expected=exc.expected, actual=exc.actual, details=exc.details
    )


def check(requirement: str, *, passive: bool = False, name: str | None = None) -> Callable[[F], F]:
    """Register a check for ``requirement``. ``passive`` checks run on every matching exchange
    inside the protocol facades (and can be switched off with ``--disable-check NAME``)."""

    def deco(fn: F) -> F:
        check_name = name or fn.__name__
        if check_name in CHECKS:
            raise UsageError(f"duplicate check name {check_name}")

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            try:
                fn(*args, **kwargs)
            except ConformanceFailure as exc:
                stamped = _stamp(exc, requirement)
                if stamped is exc:
                    raise
                raise stamped from None

        wrapper.requirement = requirement  # type: ignore[attr-defined]
        wrapper.check_name = check_name  # type: ignore[attr-defined]
        CHECKS[check_name] = CheckInfo(check_name, requirement, passive, wrapper)
        return wrapper  # type: ignore[return-value]

    return deco


def fail(message: str, *, expected: Any = None, actual: Any = None, details: Any = None) -> ConformanceFailure:
    """Build a failure inside a check (the decorator stamps the requirement ID)."""
    return ConformanceFailure(message, expected=expected, actual=actual, details=details)


def load_all() -> dict[str, CheckInfo]:
    """Import every check module so the registry is complete."""
    from conformance.harness.checks import (  # noqa: F401, PLC0415
        anthropic,
        anthropic_thinking,
        anthropic_tools,
        common,
        completions,
        context,
        evals,
        media,
        media_errors,
        negative,
        nim,
        openai,
        parity,
        perf,
        reasoning,
        responses,
        sdk,
        sse,
        token_limits,
        tools,
        window,
    )

    return CHECKS
