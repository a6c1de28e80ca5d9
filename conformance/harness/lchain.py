"""LangChain chat models as real clients (issue 14 §6): ``langchain_openai.ChatOpenAI`` and
``langchain_nvidia_ai_endpoints.ChatNVIDIA`` built so that every request they make goes through the
suite's client layer (one door to the network: recording, redaction, timeouts, traffic attribution).

* ``ChatOpenAI`` is built on the openai SDK: it gets ``Client.sdk_http_client()`` as its
  ``http_client``, exactly like the SDK tests. Its async client gets a transport that refuses
  (the suite drives LangChain synchronously; an async call must not leave by another door).
* ``ChatNVIDIA`` makes its requests with ``requests`` (sync) and ``aiohttp`` (async). Its sync
  session is a ``requests.Session`` whose only adapter (:class:`ClientAdapter`) forwards every
  request through the same recording httpx client; ``trust_env`` is off (no proxy, no netrc). Its
  async session factory refuses. It is given ``base_url`` and ``model``, so it never resolves a
  model against the public NVIDIA catalog (that lookup happens only for NVIDIA-hosted URLs or
  without a model), and usage telemetry is off (it is sent only for NVIDIA-hosted URLs anyway).
  Any request it would still make, wherever to, goes through the adapter and is recorded.
* LangSmith tracing is switched off around every call (:func:`no_tracing`).

Nothing here downloads: ``ChatOpenAI`` needs tiktoken only to count tokens locally
(``get_num_tokens``), which the suite never calls; ``tests/test_langchain_client.py`` proves that no
connection leaves for any host but the endpoint.

The optional dependency group is ``langchain`` (``pip install -e '.[langchain]'``); without it the
tests skip, saying so (:func:`require`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx

from conformance.harness.client import Client
from conformance.harness.exchange import Exchange
from conformance.harness.failures import ConformanceFailure, EndpointTimeout, HarnessError, NotApplicable

EXTRA = "langchain"
#: import name → distribution, per LangChain client the suite runs
PACKAGES = {"openai": ("langchain_openai", "langchain-openai"),
            "nvidia": ("langchain_nvidia_ai_endpoints", "langchain-nvidia-ai-endpoints")}


def missing(kind: str) -> str | None:
    """Why the LangChain client ``kind`` (``openai`` or ``nvidia``) cannot run here (None: it can)."""
    module, dist = PACKAGES[kind]
    try:
        __import__(module)
    except ImportError as exc:
        return (f"{dist} is not installed (optional dependency group '{EXTRA}': "
                f"pip install -e '.[{EXTRA}]'): {exc}")
    return None


def require(kind: str) -> None:
    """Skip (with the reason) where the optional group is not installed."""
    if (why := missing(kind)) is not None:
        raise NotApplicable(why)


# --- the door --------------------------------------------------------------------------------------


class _RefuseAsync(httpx.AsyncBaseTransport):
    """The async httpx transport of ChatOpenAI: the suite drives LangChain synchronously, so an async
    request would be one the recording client never saw. Refused loudly instead."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise HarnessError(f"LangChain async request {request.method} {request.url} is not routed through the "
                           f"suite's client (the suite calls LangChain synchronously)")


def _refuse_aiohttp(*_: Any, **__: Any) -> Any:
    raise HarnessError("ChatNVIDIA's async (aiohttp) session is not routed through the suite's client "
                       "(the suite calls LangChain synchronously)")


class _Raw:
    """``requests.Response.raw`` over a streamed httpx response (already decoded by httpx)."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    def stream(self, chunk_size: int | None = None, decode_content: bool = True) -> Iterator[bytes]:
        import requests  # noqa: PLC0415

        try:
            for chunk in self._response.iter_bytes():
                if chunk:
                    yield chunk
        except httpx.TimeoutException as exc:
            raise requests.exceptions.ReadTimeout(f"{type(exc).__name__}: {exc}") from exc
        finally:
            self._response.close()

    def read(self, amt: int | None = None, decode_content: bool = True, **_: Any) -> bytes:
        return b"".join(self.stream())

    def close(self) -> None:
        self._response.close()

    def release_conn(self) -> None:
        self._response.close()


def _adapter_class() -> type:
    import requests  # noqa: PLC0415
    from requests.structures import CaseInsensitiveDict  # noqa: PLC0415
    from requests.utils import get_encoding_from_headers  # noqa: PLC0415

    class ClientAdapter(requests.adapters.BaseAdapter):
        """A ``requests`` transport adapter that sends every request through the suite's
        recording httpx client (``Client.sdk_http_client()``): same door, same records, same
        timeouts (the client's; the caller's ``timeout`` is ignored)."""

        def __init__(self, http: httpx.Client) -> None:
            super().__init__()
            self.http = http

        def send(self, request: Any, stream: bool = False, timeout: Any = None, verify: Any = True,
                 cert: Any = None, proxies: Any = None) -> Any:
            body = request.body
            if isinstance(body, str):
                body = body.encode("utf-8")
            try:
                built = self.http.build_request(request.method, request.url, headers=dict(request.headers),
                                                content=body)
                answer = self.http.send(built, stream=True)
            except httpx.TimeoutException as exc:
                raise requests.exceptions.Timeout(f"{type(exc).__name__}: {exc}", request=request) from exc
            except httpx.TransportError as exc:
                raise requests.exceptions.ConnectionError(f"{type(exc).__name__}: {exc}", request=request) from exc
            response = requests.Response()
            response.status_code = answer.status_code
            # httpx decodes any content-encoding: the body handed on is the decoded one
            response.headers = CaseInsensitiveDict({k: v for k, v in answer.headers.items()
                                                    if k.lower() not in ("content-encoding", "content-length")})
            response.encoding = get_encoding_from_headers(response.headers)
            response.raw = _Raw(answer)
            response.reason = answer.reason_phrase
            response.url = request.url
            response.request = request
            response.connection = self
            if not stream:
                _ = response.content
            return response

        def close(self) -> None:
            self.http.close()

    return ClientAdapter


def requests_session(http: httpx.Client) -> Any:
    """A ``requests.Session`` whose every request goes through ``http`` (``Client.sdk_http_client()``:
    recorded, redacted)."""
    import requests  # noqa: PLC0415

    session = requests.Session()
    session.trust_env = False
    session.adapters.clear()
    adapter = _adapter_class()(http)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# --- the chat models -------------------------------------------------------------------------------


def chat_openai(client: Client, http: httpx.Client, *, api_key: str | None, model: str, timeout_s: float,
                extra_body: dict | None = None, **params: Any) -> Any:
    """``ChatOpenAI`` against the endpoint (the seed's usage: ``base_url`` ``…/v1``, the served model),
    its traffic through ``http`` (``client.sdk_http_client()``; the caller closes it)."""
    from langchain_openai import ChatOpenAI  # noqa: PLC0415

    return ChatOpenAI(model=model, base_url=f"{client.base_url}/v1", api_key=api_key or "not-used",
                      http_client=http,
                      http_async_client=httpx.AsyncClient(transport=_RefuseAsync()),
                      max_retries=0, timeout=timeout_s, extra_body=extra_body or None, **params)


def chat_nvidia(client: Client, http: httpx.Client, *, api_key: str | None, model: str,
                extra_body: dict | None = None, **params: Any) -> Any:
    """``ChatNVIDIA`` against the endpoint (``base_url`` ``…/v1`` and the model given: no catalog
    lookup), its ``requests`` session replaced by :func:`requests_session` over ``http`` (the caller
    closes it)."""
    from langchain_nvidia_ai_endpoints import ChatNVIDIA  # noqa: PLC0415

    chat = ChatNVIDIA(model=model, base_url=f"{client.base_url}/v1", api_key=api_key or "not-used",
                      usage_telemetry_enabled=False, model_kwargs=dict(extra_body or {}), **params)
    inner = getattr(chat, "_client", None)
    if inner is None or not hasattr(inner, "get_session_fn"):
        raise HarnessError("this langchain-nvidia-ai-endpoints has no _client.get_session_fn: "
                           "its requests cannot be routed through the suite's client")
    session = requests_session(http)
    inner.get_session_fn = lambda: session
    async_inner = getattr(chat, "_async_client", None)
    if async_inner is not None:
        async_inner.get_async_session_fn = _refuse_aiohttp
    return chat


@contextlib.contextmanager
def no_tracing() -> Iterator[None]:
    """LangSmith tracing off, whatever the environment says (it would send the run elsewhere)."""
    try:
        from langsmith import tracing_context  # noqa: PLC0415
    except ImportError:  # pragma: no cover - langchain-core depends on langsmith
        yield
        return
    with tracing_context(enabled=False):
        yield


@contextlib.contextmanager
def verdict(requirement: str, what: str) -> Iterator[None]:
    """Map what LangChain raises: a timeout (openai's ``APITimeoutError``, ``requests``' ``Timeout``)
    → broken as a timeout; a connection failure → broken; anything else (an HTTP error it raised on
    the endpoint's answer, a parse or validation error) → a failure of ``requirement``."""
    try:
        with no_tracing():
            yield
    except (ConformanceFailure, HarnessError, NotApplicable):
        raise
    except Exception as exc:  # noqa: BLE001 - classified below
        names = {t.__name__ for t in type(exc).__mro__}
        if names & {"APITimeoutError", "Timeout", "TimeoutError"}:
            raise EndpointTimeout(f"{what}: {exc}") from exc
        if names & {"APIConnectionError", "ConnectionError"}:
            raise HarnessError(f"TransportError: {what}: {exc}") from exc
        raise ConformanceFailure(f"{what} raised {type(exc).__name__}: {exc}", requirement=requirement) from exc


# --- what LangChain made of it, and what was on the wire --------------------------------------------


def message_view(message: Any) -> dict[str, Any]:
    """The parts of an ``AIMessage`` / aggregated ``AIMessageChunk`` the checks judge, as plain data."""
    return {
        "type": type(message).__name__,
        "content": message.content,
        "tool_calls": [{"id": c.get("id"), "name": c.get("name"), "args": c.get("args")}
                       for c in (getattr(message, "tool_calls", None) or [])],
        "invalid_tool_calls": [dict(c) for c in (getattr(message, "invalid_tool_calls", None) or [])],
        "usage_metadata": dict(message.usage_metadata) if getattr(message, "usage_metadata", None) else None,
    }


def _usage(raw: Any) -> dict[str, Any] | None:
    return raw if isinstance(raw, dict) else None


def wire_view(ex: Exchange) -> dict[str, Any]:
    """One chat completion as the endpoint sent it (blocking, or a stream folded chunk by chunk):
    ``{"status", "stream", "content", "tool_calls": [{"id", "name", "arguments"}], "finish_reason",
    "usage", "chunks"}``; content is None where the endpoint sent none."""
    out: dict[str, Any] = {"status": ex.status, "stream": ex.stream, "content": None, "tool_calls": [],
                           "finish_reason": None, "usage": None, "chunks": 0}
    if not ex.stream:
        body = ex.json_or_none()
        if not isinstance(body, dict):
            return out
        choice = (body.get("choices") or [{}])[0] or {}
        message = choice.get("message") or {}
        out["content"] = message.get("content")
        out["finish_reason"] = choice.get("finish_reason")
        for call in message.get("tool_calls") or []:
            fn = call.get("function") or {}
            out["tool_calls"].append({"id": call.get("id"), "name": fn.get("name"), "arguments": fn.get("arguments")})
        out["usage"] = _usage(body.get("usage"))
        return out
    calls: dict[int, dict[str, Any]] = {}
    text: list[str] = []
    for event in (ex.sse.events if ex.sse is not None else []):
        if event.data.strip() == "[DONE]":
            continue
        try:
            chunk = json.loads(event.data)
        except ValueError:
            continue
        if not isinstance(chunk, dict):
            continue
        out["chunks"] += 1
        if chunk.get("usage"):
            out["usage"] = _usage(chunk.get("usage"))
        for choice in chunk.get("choices") or []:
            delta = (choice or {}).get("delta") or {}
            out["finish_reason"] = (choice or {}).get("finish_reason") or out["finish_reason"]
            if isinstance(delta.get("content"), str):
                text.append(delta["content"])
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(call.get("index", 0), {"id": None, "name": None, "arguments": ""})
                fn = call.get("function") or {}
                slot["id"] = slot["id"] or call.get("id")
                slot["name"] = slot["name"] or fn.get("name")
                slot["arguments"] += fn.get("arguments") or ""
    out["content"] = "".join(text) if text else None
    out["tool_calls"] = [calls[i] for i in sorted(calls)]
    return out


def exchanges_since(client: Client, start: int) -> list[Exchange]:
    return [ex for ex, _ in client.log[start:]]


def only_exchange(client: Client, start: int, what: str, *, path: str = "/v1/chat/completions") -> Exchange:
    """The one exchange a LangChain call made, which must be a POST to the endpoint's ``path``
    (anything else it sent, e.g. a model lookup, is a harness finding: the call is not what the
    suite meant to test)."""
    sent = exchanges_since(client, start)
    base = client.base_url
    stray = [f"{ex.method} {ex.url}" for ex in sent if not (ex.method == "POST" and ex.url == f"{base}{path}")]
    if stray or len(sent) != 1:
        raise HarnessError(f"{what} made {len(sent)} request(s) where one POST {base}{path} was expected; "
                           f"unexpected: {stray}")
    return sent[0]
