"""HTTP-level checks shared by every API (status classes, content types, error envelopes)."""

from __future__ import annotations

from conformance.harness.checks import check, fail
from conformance.harness.exchange import Exchange
from conformance.harness.schemas import SchemaSet

JSON_TYPES = ("application/json",)


def _excerpt(ex: Exchange, limit: int = 300) -> str:
    text = ex.redacted_body().decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + "…"


@check("HTTP-STATUS-001", passive=True)
def well_formed_request_succeeds(ex: Exchange) -> None:
    """A well-formed request is answered with 2xx; a 5xx is never acceptable."""
    if ex.status is None or not 200 <= ex.status < 300:
        kind = "server error" if ex.status is not None and ex.status >= 500 else "rejection"
        raise fail(
            f"{kind} for a well-formed {ex.method} {ex.path}",
            expected="2xx",
            actual=f"{ex.status} {_excerpt(ex)}",
        )


@check("HTTP-CTYPE-001", passive=True)
def json_content_type(ex: Exchange) -> None:
    """A JSON response declares Content-Type application/json."""
    ctype = ex.content_type
    if ctype not in JSON_TYPES and not ctype.endswith("+json"):
        raise fail("JSON body with a non-JSON content type", expected="application/json",
                   actual=ex.header("content-type"))


@check("HTTP-BODY-001", passive=True)
def body_is_json(ex: Exchange) -> None:
    """A JSON response body parses as JSON."""
    try:
        ex.json()
    except ValueError as exc:
        raise fail("response body is not JSON", expected="a JSON document", actual=f"{exc}: {_excerpt(ex, 120)}")


@check("OAI-ERR-001")
def rejected_with_4xx(ex: Exchange) -> None:
    """An invalid request is rejected with a 4xx status: never 2xx, never 5xx."""
    if ex.status is None or not 400 <= ex.status < 500:
        raise fail("invalid request not rejected with a client error", expected="4xx",
                   actual=f"{ex.status} {_excerpt(ex)}")


@check("OAI-ERR-002")
def openai_error_envelope(ex: Exchange, *, schemas: SchemaSet) -> None:
    """A 4xx response carries an OpenAI error envelope ``{"error": {...}}``."""
    try:
        body = ex.json()
    except ValueError:
        raise fail("error response body is not JSON", expected='{"error": {...}}', actual=_excerpt(ex)) from None
    schemas.validate(body, "openai/error", what="error body")


@check("OAI-ERR-004")
def unknown_model_rejected(ex: Exchange) -> None:
    """A request naming a model the endpoint does not serve is rejected with 4xx (not served by
    whatever model is loaded)."""
    if ex.status is None or not 400 <= ex.status < 500:
        raise fail("request for an unknown model not rejected", expected="4xx (404 model_not_found)",
                   actual=f"{ex.status} {_excerpt(ex, 160)}")


@check("HTTP-ROUTE-001")
def unknown_route_not_found(ex: Exchange) -> None:
    """A request to a route the server does not have is answered 404."""
    if ex.status != 404:
        raise fail("unknown route not answered with 404", expected=404, actual=f"{ex.status} {_excerpt(ex, 120)}")


@check("HTTP-METHOD-001")
def wrong_method_rejected(ex: Exchange) -> None:
    """A known route called with the wrong method is answered 405 (404 tolerated)."""
    if ex.status not in (404, 405):
        raise fail("wrong method not rejected", expected="405 (or 404)", actual=f"{ex.status} {_excerpt(ex, 120)}")


@check("HTTP-AUTH-001")
def unauthenticated_rejected(ex: Exchange) -> None:
    """A request without (or with a wrong) API key is rejected with 401."""
    if ex.status != 401:
        raise fail("request without valid credentials not rejected with 401", expected=401,
                   actual=f"{ex.status} {_excerpt(ex, 120)}")


@check("OAI-FUZZ-001")
def invalid_request_rejected_with_envelope(ex: Exchange, *, schemas: SchemaSet, kind: str = "") -> None:
    """A generated invalid request is rejected with 4xx and an OpenAI error envelope (never 2xx,
    never 5xx)."""
    what = f" ({kind})" if kind else ""
    if ex.status is None or not 400 <= ex.status < 500:
        raise fail(f"invalid request{what} not rejected with a client error", expected="4xx",
                   actual=f"{ex.status} {_excerpt(ex, 200)}")
    try:
        body = ex.json()
    except ValueError:
        raise fail(f"error body{what} is not JSON", expected='{"error": {...}}', actual=_excerpt(ex)) from None
    schemas.validate(body, "openai/error", what=f"error body{what}")
