"""The official SDKs as real clients. Their traffic goes through the suite's client layer
(``Client.sdk_http_client``), so every exchange is recorded and redacted. An SDK error or parse
failure is a conformance failure carrying the SDK's message; an SDK transport failure is broken."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from conformance.harness.client import Client
from conformance.harness.failures import ConformanceFailure, EndpointTimeout, HarnessError, NotApplicable


def request(profile: Any, api: str, **kwargs: Any) -> dict[str, Any]:
    """Keyword arguments for an SDK call on ``api`` (``chat``, ``completions``, ``responses``,
    ``messages``, ``count_tokens``) with the profile's request defaults and reasoning controls applied, exactly as the
    facades apply them: what the call names stays a named argument, what the profile adds travels
    in ``extra_body``, and a value the call sets is never overridden."""
    from conformance.harness.request_defaults import for_profile  # noqa: PLC0415

    return for_profile(profile).sdk_kwargs(api, kwargs)


def openai_client(client: Client, api_key: str | None, timeout_s: float) -> Any:
    try:
        import openai  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - the [sdk] extra is part of the setup
        raise HarnessError("the openai SDK is not installed: pip install -e '.[sdk]'") from exc
    return openai.OpenAI(base_url=f"{client.base_url}/v1", api_key=api_key or "not-used",
                         http_client=client.sdk_http_client(), max_retries=0, timeout=timeout_s)


def anthropic_client(client: Client, api_key: str | None, timeout_s: float, *, auth: str = "x-api-key") -> Any:
    try:
        import anthropic  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover
        raise HarnessError("the anthropic SDK is not installed: pip install -e '.[sdk]'") from exc
    kwargs: dict[str, Any] = {"api_key": api_key or "not-used"}
    if auth == "bearer":
        kwargs = {"auth_token": api_key or "not-used"}
    # anthropic SDK 2.x is built on httpx2 (an API-compatible fork of httpx); older ones on httpx.
    library = "httpx2" if hasattr(anthropic._base_client, "httpx2") else "httpx"
    return anthropic.Anthropic(base_url=client.base_url, http_client=client.sdk_http_client(library), max_retries=0,
                               timeout=timeout_s, **kwargs)


@contextlib.contextmanager
def sdk_verdict(requirement: str, what: str) -> Iterator[None]:
    """Map SDK exceptions: connection/timeout → broken; anything else the SDK raises (API status
    errors, parse/validation errors) → a failure of ``requirement`` with the SDK's message."""
    try:
        yield
    except (ConformanceFailure, HarnessError, NotApplicable):
        raise
    except Exception as exc:  # noqa: BLE001 - classified below
        name = type(exc).__name__
        if name in ("APITimeoutError",):
            raise EndpointTimeout(f"{what}: {exc}") from exc
        if name in ("APIConnectionError",):
            raise HarnessError(f"TransportError: {what}: {exc}") from exc
        raise ConformanceFailure(f"{what} raised {name}: {exc}", requirement=requirement) from exc
