"""One redaction function for every sink (Allure attachments, reports/*.json, logs, terminal).

Secrets are registered once (the API key read from the environment); every writer calls
:func:`redact` / :func:`redact_headers` / :func:`redact_url`. Registered values are replaced
wherever they occur, including inside URLs, JSON text and header values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***REDACTED***"
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie", "x-goog-api-key"}
)
SENSITIVE_QUERY = frozenset({"key", "api_key", "apikey", "token", "access_token", "signature", "sig"})
# Bearer tokens and well-known key shapes are masked even when not registered.
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\g<1>" + MASK),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), MASK),
    (re.compile(r"\bnvapi-[A-Za-z0-9_-]{8,}"), MASK),
]

_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask ``value`` everywhere from now on (values shorter than 4 characters are ignored: they
    would mask ordinary text and protect nothing)."""
    if value and len(value) >= 4:
        _secrets.add(value)


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_bytes(data: bytes) -> bytes:
    text = data.decode("utf-8", errors="replace")
    redacted = redact(text)
    return data if redacted == text else redacted.encode("utf-8")


def redact_json(value: Any) -> Any:
    """A copy of a parsed JSON value with every string redacted (keys are kept as they are)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_json(v) for v in value]
    if isinstance(value, dict):
        return {k: redact_json(v) for k, v in value.items()}
    return value


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    for name, value in items:
        out.append((name, MASK if name.lower() in SENSITIVE_HEADERS else redact(value)))
    return out


def redact_url(url: str) -> str:
    """Strip userinfo and mask sensitive query parameters."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if k.lower() in SENSITIVE_QUERY else v) for k, v in pairs])
    return redact(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))
