"""Checks for the NIM management endpoints (health, metadata, version)."""

from __future__ import annotations

from conformance.harness.checks import check, fail
from conformance.harness.exchange import Exchange
from conformance.harness.schemas import SchemaSet


@check("NIM-HEALTH-001")
def live_ok(ex: Exchange) -> None:
    """GET /v1/health/live answers 200 while the service runs."""
    if ex.status != 200:
        raise fail("liveness endpoint not 200", expected=200, actual=ex.status)


@check("NIM-HEALTH-002")
def ready_means_serving(ready: Exchange, probe: Exchange) -> None:
    """When GET /v1/health/ready answers 200, a 1-token request succeeds."""
    if ready.status != 200:
        raise fail("readiness endpoint not 200 on a serving endpoint", expected=200, actual=ready.status)
    if probe.status is None or not 200 <= probe.status < 300:
        raise fail("ready reported, but a 1-token request failed", expected="2xx",
                   actual=f"{probe.status} {probe.text[:200]}")


@check("NIM-HEALTH-003")
def health_body_schema(ex: Exchange, *, schemas: SchemaSet) -> None:
    """Health responses carry a health.response JSON body."""
    try:
        body = ex.json()
    except ValueError:
        raise fail("health body is not JSON", expected="health.response object", actual=ex.text[:200]) from None
    schemas.validate(body, "nim/health", what="health body")


def _management_body(ex: Exchange, schema: str, what: str, schemas: SchemaSet) -> None:
    if ex.status != 200:
        raise fail(f"{what} not answered 200", expected=200, actual=f"{ex.status} {ex.text[:200]}")
    try:
        body = ex.json()
    except ValueError:
        raise fail(f"{what} body is not JSON", expected="a JSON object", actual=ex.text[:200]) from None
    schemas.validate(body, schema, what=f"{what} body")


@check("NIM-META-001")
def metadata_body(ex: Exchange, *, schemas: SchemaSet) -> None:
    """GET /v1/metadata answers 200 with a metadata object (version, modelInfo)."""
    _management_body(ex, "nim/metadata", "GET /v1/metadata", schemas)


@check("NIM-VER-001")
def version_body(ex: Exchange, *, schemas: SchemaSet) -> None:
    """GET /v1/version answers 200 with {release, api}."""
    _management_body(ex, "nim/version", "GET /v1/version", schemas)
