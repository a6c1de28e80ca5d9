"""The outcome taxonomy in exceptions.

* :class:`ConformanceFailure` (an ``AssertionError``): the endpoint violated a requirement. pytest
  and Allure report it as **failed**. Messages start with a stable prefix (the requirement ID, or
  ``SchemaViolation``) so Allure categories never depend on library wording.
* :class:`HarnessError` (not an ``AssertionError``): the suite or the transport could not reach a
  verdict (timeouts, connection errors, our own bugs). Reported as **broken**.
* :class:`NotApplicable` / :class:`Unsupported`: turned into a SKIP with the reason. Raised only for
  documented signals, never for an arbitrary error status.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conformance.harness.schemas import SchemaError


def _show(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


class ConformanceFailure(AssertionError):
    """A requirement is violated. ``requirement`` names the violated ID when it differs from (or
    refines) the ID the test cites."""

    prefix = ""

    def __init__(
        self,
        message: str,
        *,
        requirement: str | None = None,
        expected: Any = None,
        actual: Any = None,
        details: Any = None,
    ) -> None:
        self.requirement = requirement
        self.expected = expected
        self.actual = actual
        self.details = details
        self.detail_message = message
        head = " ".join(p for p in (self.prefix, requirement) if p)
        text = f"{head}: {message}" if head else message
        if expected is not None or actual is not None:
            text += f"\n  Expected: {_show(expected)}\n  Actual:   {_show(actual)}"
        super().__init__(text)

    @classmethod
    def expected_actual(
        cls, expected: Any, actual: Any, *, requirement: str | None = None, message: str = ""
    ) -> "ConformanceFailure":
        return cls(message or "unexpected value", requirement=requirement, expected=expected, actual=actual)


class SchemaViolation(ConformanceFailure):
    """A JSON body or stream event does not validate against its schema."""

    prefix = "SchemaViolation"

    @classmethod
    def from_errors(
        cls, errors: Sequence["SchemaError"], *, requirement: str | None = None, what: str = ""
    ) -> "SchemaViolation":
        lines = [
            f"{e.instance_path} [{e.keyword}] {e.message}" for e in errors[:8]
        ]
        more = f"\n  … and {len(errors) - 8} more" if len(errors) > 8 else ""
        message = f"{what} is invalid under {errors[0].schema_id} ({len(errors)} error(s))\n  " + "\n  ".join(
            lines
        ) + more
        return cls(message, requirement=requirement, details=[e.as_dict() for e in errors])

    @classmethod
    def from_many(
        cls, bad: Sequence[tuple[str, Sequence["SchemaError"]]], *, requirement: str | None = None
    ) -> "SchemaViolation":
        """Several invalid instances (e.g. stream events): the message shows the first; the details
        carry every error of every instance (each with ``where``), so a deviation's shapes are
        matched against all of them, never against the first alone."""
        label, errors = bad[0]
        first = cls.from_errors(errors, requirement=requirement, what=f"{label} (1 of {len(bad)} invalid)")
        details = [{**e.as_dict(), "where": where} for where, errs in bad for e in errs]
        kinds = sorted({f"{e.keyword} {e.instance_path}" for _, errs in bad[1:] for e in errs})
        message = first.detail_message + (f"\n  other invalid instances: {'; '.join(kinds[:8])}" if kinds else "")
        return cls(message, requirement=requirement, details=details)


class FailureGroup(ConformanceFailure):
    """Several violations found in one response."""

    def __init__(self, failures: Sequence[ConformanceFailure], *, requirement: str | None = None) -> None:
        self.failures = list(failures)
        body = "\n".join(f"[{i + 1}] {f}" for i, f in enumerate(self.failures))
        super().__init__(f"{len(self.failures)} violations\n{body}", requirement=requirement)


class HarnessError(Exception):
    """The suite could not reach a verdict (infrastructure, transport or a bug of ours)."""


class UsageError(HarnessError):
    """Invalid configuration or invalid use of a harness API."""


class TransportError(HarnessError):
    """Connection refused or reset, protocol error, body too large: no verdict possible."""


class EndpointTimeout(HarnessError):
    """A connect, read, stream-idle or total timeout expired."""

    def __init__(self, message: str) -> None:
        super().__init__(f"Timeout: {message}")


class NotApplicable(Exception):
    """The check does not apply to this response (e.g. the endpoint emitted no tool call although
    one was allowed). Becomes a SKIP with the reason; never raised to hide an error."""


class Unsupported(Exception):
    """A documented "not supported" signal (404/405 on an optional route, or the profile says so)."""

