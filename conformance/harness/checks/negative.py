"""Negative requests on Responses, text completions and count_tokens (issue 14 §2): an invalid
request is rejected with 4xx and the API's error envelope (never 2xx, never 5xx), and the route
still serves a well-formed request afterwards.

The first line of each status failure is fixed ("invalid request accepted", "invalid request
answered with a server error", ...), so a profile's known deviation can name its shape exactly
and a different failure of the same case still fails."""

from __future__ import annotations

from typing import Any

from conformance.harness.checks import check, fail
from conformance.harness.exchange import Exchange
from conformance.harness.schemas import SchemaSet

OPENAI_ENVELOPE = ("openai/error", '{"error": {...}}')
ANTHROPIC_ENVELOPE = ("anthropic/error", '{"type": "error", "error": {...}}')
# the route names of the fuzzer (conformance.harness.strategies.ROUTE_MUTATIONS) → their envelope
ENVELOPES = {"responses": OPENAI_ENVELOPE, "completions": OPENAI_ENVELOPE, "count_tokens": ANTHROPIC_ENVELOPE}


def _excerpt(ex: Exchange, limit: int = 240) -> str:
    text = ex.redacted_body().decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + "…"


def _rejected(ex: Exchange, *, schemas: SchemaSet, envelope: tuple[str, str], what: str = "") -> None:
    """4xx, then a JSON body valid against the envelope's schema."""
    schema_id, shape = envelope
    if ex.status is None or not 400 <= ex.status < 500:
        if ex.status is None:
            message = f"invalid request{what} not answered"
            actual = ex.error or "no response"
        else:
            if ex.status >= 500:
                message = f"invalid request{what} answered with a server error"
            elif 200 <= ex.status < 300:
                message = f"invalid request{what} accepted"
            else:
                message = f"invalid request{what} not rejected with a client error"
            actual = f"{ex.status} {_excerpt(ex)}"
        raise fail(message, expected="4xx", actual=actual)
    try:
        body = ex.json()
    except ValueError:
        raise fail(f"error body{what} is not JSON", expected=shape, actual=_excerpt(ex)) from None
    schemas.validate(body, schema_id, what=f"error body{what}")


def _served(ex: Exchange, message: str) -> Any:
    """2xx with a JSON body; returns the body."""
    if ex.status is None or not 200 <= ex.status < 300:
        actual = (ex.error or "no response") if ex.status is None else f"{ex.status} {_excerpt(ex)}"
        raise fail(message, expected="2xx", actual=actual)
    try:
        return ex.json()
    except ValueError:
        raise fail(f"{message}: the body is not JSON", expected="a JSON body", actual=_excerpt(ex)) from None


@check("OAI-ERR-005")
def invalid_responses_request_rejected(ex: Exchange, *, schemas: SchemaSet) -> None:
    """An invalid /v1/responses request is rejected with 4xx and an OpenAI error envelope."""
    _rejected(ex, schemas=schemas, envelope=OPENAI_ENVELOPE)


@check("OAI-ERR-006")
def invalid_completions_request_rejected(ex: Exchange, *, schemas: SchemaSet) -> None:
    """An invalid /v1/completions request is rejected with 4xx and an OpenAI error envelope."""
    _rejected(ex, schemas=schemas, envelope=OPENAI_ENVELOPE)


@check("ANT-TOKENS-003")
def invalid_count_tokens_request_rejected(ex: Exchange, *, schemas: SchemaSet) -> None:
    """An invalid /v1/messages/count_tokens request is rejected with 4xx (never a count, never
    5xx) and an Anthropic error envelope ``{"type": "error", "error": {"type", "message"}}``."""
    _rejected(ex, schemas=schemas, envelope=ANTHROPIC_ENVELOPE)


@check("ANT-TOKENS-003")
def count_tokens_serves_after_invalid_requests(ex: Exchange) -> None:
    """After the invalid requests, a well-formed count_tokens request is answered 2xx with an
    integer ``input_tokens`` ≥ 0."""
    body = _served(ex, "count_tokens failed after the invalid requests")
    count = body.get("input_tokens") if isinstance(body, dict) else None
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise fail("count_tokens answered after the invalid requests without a count",
                   expected='{"input_tokens": integer ≥ 0}', actual=_excerpt(ex))


@check("OAI-ERR-003")
def serves_after_invalid_requests(ex: Exchange) -> None:
    """After a series of invalid requests, a well-formed request to the same route is answered
    2xx."""
    _served(ex, f"a well-formed {ex.method} {ex.path} failed after the invalid requests")


@check("OAI-FUZZ-003")
def generated_invalid_request_rejected(ex: Exchange, *, schemas: SchemaSet, route: str, kind: str = "") -> None:
    """A generated invalid request to ``route`` (``responses``, ``completions``, ``count_tokens``)
    is rejected with 4xx and that API's error envelope (never 2xx, never 5xx)."""
    if route not in ENVELOPES:
        raise ValueError(f"unknown route {route!r}; known: {sorted(ENVELOPES)}")
    what = f" ({route}: {kind})" if kind else f" ({route})"
    _rejected(ex, schemas=schemas, envelope=ENVELOPES[route], what=what)


@check("OAI-FUZZ-003")
def serves_after_generated_invalid_requests(ex: Exchange, *, route: str) -> None:
    """After the generated invalid requests, a well-formed request to each fuzzed route is
    answered 2xx."""
    _served(ex, f"{route}: a well-formed request failed after the generated invalid requests")
