"""Protocol facades used by tests (fixtures ``oai``, ``nim``): build the request, call the client
once, run the *passive* checks on what came back, and hand the parsed result to the test.

Passive checks (status class, content type, JSON, schema, SSE framing, terminator) run on every
exchange of their kind. Each violation is recorded against the requirement it violates and judged
by ``conformance.harness.outcomes`` (known deviation for this case and shape, MUST, SHOULD, MAY/INFO);
the test goes on and fails at its end if any unexcused MUST violation was seen (see ``Passive``).

Identical requests can be shared between tests (``reuse=True``): checks are pure, so several
requirements can be judged on one exchange, and every request earns its tokens.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.harness import outcomes
from conformance.harness.checks import common as http_checks
from conformance.harness.checks import completions as cmpl_checks
from conformance.harness.checks import openai as oai_checks
from conformance.harness.checks import sse as sse_checks
from conformance.harness.client import Client
from conformance.harness.exchange import Exchange
from conformance.harness.failures import ConformanceFailure, HarnessError
from conformance.harness.profiles import Profile
from conformance.harness.requirements import Catalog
from conformance.harness.request_defaults import RequestPolicy
from conformance.harness.request_defaults import for_profile as request_policy
from conformance.harness.schemas import SchemaSet
from conformance.harness.streams.openai import ChunkStream

# (failure, forced kind or None): the run's sink judges the failure against the current test.
ViolationSink = Callable[[ConformanceFailure, "str | None"], None]


@dataclass(slots=True)
class Passive:
    """Runs passive checks on every exchange of their kind.

    Inside a run every violation goes to the run's ``sink``, which judges it against the current
    test's case (``conformance.harness.outcomes``) and attributes it to the requirement it violates;
    the test goes on, so its own check still runs and its own requirement is judged by that check
    alone. A test with an unexcused MUST violation fails when it ends. Only a *fatal* violation (an
    error status: nothing after it can be judged) also stops the test at once.

    Without a sink (outside pytest) the same rules decide with no case: a violation the profile does
    not excuse raises at MUST level (and at SHOULD level under ``--strict``).
    """

    profile: Profile
    catalog: Catalog
    strict: bool = False
    disabled: frozenset[str] = frozenset()
    sink: ViolationSink | None = None

    def run(self, fn: Callable[..., None], *args: Any, fatal: bool = False, **kwargs: Any) -> bool:
        """Run one check; return True when it passed, False when a violation was recorded."""
        name = getattr(fn, "check_name", fn.__name__)
        if name in self.disabled:
            return True
        try:
            fn(*args, **kwargs)
            return True
        except ConformanceFailure as exc:
            if exc.requirement is None and getattr(fn, "requirement", None):
                exc.requirement = fn.requirement  # type: ignore[attr-defined]
            if self.sink is not None:
                self.sink(exc, None)
                if fatal:
                    exc.llmconf_recorded = True  # type: ignore[attr-defined]
                    raise
                return False
            judged = [outcomes.judge(v, profile=self.profile, case=None, strict=self.strict)
                      for v in outcomes.violations_of(exc, default_requirement=exc.requirement or "",
                                                      catalog=self.catalog, source="passive")]
            if fatal or any(j.kind == outcomes.FAILED for j in judged):
                raise
            return False

    def observe(self, requirement: str, message: str) -> None:
        """Record a tolerated observation (e.g. unknown event types), never a verdict."""
        if self.sink is not None:
            self.sink(ConformanceFailure(message, requirement=requirement), outcomes.OBSERVATION)


def _key(method: str, path: str, body: Any, stream: bool, extra: Any = None) -> str:
    return json.dumps([method, path, body, stream, extra], sort_keys=True, ensure_ascii=False)


@dataclass(slots=True)
class ChatResult:
    exchange: Exchange
    body: dict[str, Any]

    def choice(self, index: int = 0) -> dict[str, Any]:
        for choice in self.body.get("choices") or []:
            if isinstance(choice, dict) and choice.get("index") == index:
                return choice
        raise ConformanceFailure(f"no choice with index {index}", requirement="OAI-CHAT-004",
                                 expected=index, actual=[c.get("index") for c in self.body.get("choices") or []])

    @property
    def message(self) -> dict[str, Any]:
        message = self.choice(0).get("message")
        return message if isinstance(message, dict) else {}

    @property
    def text(self) -> str:
        content = self.message.get("content")
        return content if isinstance(content, str) else ""

    @property
    def finish_reason(self) -> Any:
        return self.choice(0).get("finish_reason")

    @property
    def usage(self) -> Any:
        return self.body.get("usage")


@dataclass(slots=True)
class OpenAI:
    """The OpenAI-compatible API of the endpoint under test."""

    client: Client
    schemas: SchemaSet
    passive: Passive
    model: str
    #: Whether no other test's request can be in flight now: always in a serial run; in a parallel
    #: worker only while it holds the run-alone lock (``parallel.RunAloneLock.exclusive``).
    exclusive: Callable[[], bool] = field(default=lambda: True)
    _cache: dict[str, tuple[Exchange, bool]] = field(default_factory=dict)

    # -- helpers -----------------------------------------------------------------------------
    @property
    def requests(self) -> RequestPolicy:
        """The profile's request defaults and reasoning controls (``request_defaults.py``)."""
        return request_policy(self.passive.profile)

    def with_defaults(self, api: str, body: dict[str, Any]) -> dict[str, Any]:
        """Fill in the model and the profile's request defaults for ``api`` (``chat``,
        ``completions``, ``responses``, ``messages``; e.g. thinking off for a model that thinks by
        default, so small max_tokens budgets produce content). Deep merge: the request wins."""
        merged = self.requests.apply(api, body)
        return merged if "model" in merged else {"model": self.model, **merged}

    def with_model(self, body: dict[str, Any]) -> dict[str, Any]:
        """A chat request with the model and the profile's chat defaults."""
        return self.with_defaults("chat", body)

    def with_responses_model(self, body: dict[str, Any]) -> dict[str, Any]:
        """A Responses request with the model and the profile's Responses defaults."""
        return self.with_defaults("responses", body)

    def _send(self, key: str, reuse: bool, send: Callable[[], Exchange]) -> Exchange:
        """Send, or hand back the exchange of an identical earlier request when ``reuse`` is set.
        Passive checks always run again on what is returned, so each test records its findings.
        A test that runs alone (under ``pytest -n``) is not handed an exchange made while other
        tests' requests were in flight: batching with them may have changed the generation, and the
        alone tests compare generations (measured: OAI-RESP-014 turned non-strict on a cached
        blocking answer in a loaded ``-n 4`` run). It is made again, alone, and kept."""
        alone = self.exclusive()
        if reuse and (hit := self._cache.get(key)) is not None:
            cached, made_alone = hit
            if made_alone or not alone:
                self.client.log.append((cached, f"reused exchange #{cached.seq}"))
                return cached
        ex = send()
        if reuse:
            self._cache[key] = (ex, alone)
        return ex

    def json_exchange(self, ex: Exchange) -> Any:
        """Passive checks for a JSON success response; returns the parsed body."""
        self.passive.run(http_checks.well_formed_request_succeeds, ex, fatal=True)
        self.passive.run(http_checks.json_content_type, ex)
        try:
            return ex.json()
        except ValueError:
            http_checks.body_is_json(ex)  # raises with the requirement ID
            raise HarnessError("unreachable")  # pragma: no cover

    def sse_exchange(self, ex: Exchange) -> None:
        """Passive checks shared by every event stream: success, content type, UTF-8, framing."""
        self.passive.run(http_checks.well_formed_request_succeeds, ex, fatal=True)
        self.passive.run(oai_checks.event_stream_content_type, ex)
        if ex.sse is None:
            raise HarnessError("stream exchange without SSE parse")
        self.passive.run(sse_checks.stream_is_utf8, ex.sse)
        self.passive.run(sse_checks.stream_ends_with_complete_event, ex.sse)

    def stream_exchange(self, ex: Exchange, *, completions: bool = False) -> ChunkStream:
        """Passive checks for a chat or text completions chunk stream; returns the parsed stream."""
        self.sse_exchange(ex)
        stream = ChunkStream.from_exchange(ex)
        self.passive.run(oai_checks.chunks_are_json_objects, stream)
        self.passive.run(oai_checks.no_error_frames, stream)
        if completions:
            self.passive.run(cmpl_checks.completion_chunks_match_schema, stream, schemas=self.schemas)
        else:
            self.passive.run(oai_checks.chunks_match_schema, stream, schemas=self.schemas)
        self.passive.run(oai_checks.stream_terminated_by_done, stream)
        self.passive.run(oai_checks.nothing_after_done, stream)
        return stream

    # -- endpoints -----------------------------------------------------------------------------
    def raw(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        auth: str | None = "bearer",
        reuse: bool = False,
        timeouts: Any = None,
        stop: Any = None,
    ) -> Exchange:
        """Send anything; no passive checks (for negative tests). ``timeouts`` and ``stop`` go to
        :meth:`Client.request` (a per-request timeout, a client-side budget for a stream)."""
        key = _key(method, path, json_body if content is None else repr(content), stream, [headers, auth])
        return self._send(key, reuse, lambda: self.client.request(
            method, path, json=json_body, content=content, headers=headers, stream=stream, auth=auth,
            timeouts=timeouts, stop=stop))

    def chat(self, body: dict[str, Any], *, reuse: bool = True, timeouts: Any = None) -> ChatResult:
        body = self.with_model({k: v for k, v in body.items() if k != "stream"})
        key = _key("POST", "/v1/chat/completions", body, False)
        ex = self._send(key, reuse, lambda: self.client.request("POST", "/v1/chat/completions", json=body,
                                                                timeouts=timeouts))
        parsed = self.json_exchange(ex)
        self.passive.run(oai_checks.chat_completion_schema, parsed, schemas=self.schemas)
        return ChatResult(ex, parsed if isinstance(parsed, dict) else {})

    def chat_stream(self, body: dict[str, Any], *, reuse: bool = True, timeouts: Any = None) -> ChunkStream:
        body = self.with_model({**body, "stream": True})
        key = _key("POST", "/v1/chat/completions", body, True)
        ex = self._send(key, reuse, lambda: self.client.request("POST", "/v1/chat/completions", json=body,
                                                                stream=True, timeouts=timeouts))
        return self.stream_exchange(ex)

    def completions(self, body: dict[str, Any], *, reuse: bool = True, timeouts: Any = None) -> ChatResult:
        body = self.with_completion_model({k: v for k, v in body.items() if k != "stream"})
        key = _key("POST", "/v1/completions", body, False)
        ex = self._send(key, reuse, lambda: self.client.request("POST", "/v1/completions", json=body,
                                                                timeouts=timeouts))
        parsed = self.json_exchange(ex)
        self.passive.run(cmpl_checks.text_completion_schema, parsed, schemas=self.schemas)
        return ChatResult(ex, parsed if isinstance(parsed, dict) else {})

    def completions_stream(self, body: dict[str, Any], *, reuse: bool = True, timeouts: Any = None) -> ChunkStream:
        body = self.with_completion_model({**body, "stream": True})
        key = _key("POST", "/v1/completions", body, True)
        ex = self._send(key, reuse, lambda: self.client.request("POST", "/v1/completions", json=body, stream=True,
                                                                timeouts=timeouts))
        return self.stream_exchange(ex, completions=True)

    def with_completion_model(self, body: dict[str, Any]) -> dict[str, Any]:
        """A text completions request with the model and the profile's completions defaults (a
        body with ``input`` and no ``prompt`` is a Responses request and gets those defaults)."""
        api = "responses" if isinstance(body, dict) and "input" in body and "prompt" not in body else "completions"
        return self.with_defaults(api, body)

    def responses(self, body: dict[str, Any], *, reuse: bool = True,
                  timeouts: Any = None) -> tuple[Exchange, dict[str, Any]]:
        from conformance.harness.checks import responses as resp_checks  # noqa: PLC0415

        body = self.with_responses_model({k: v for k, v in body.items() if k != "stream"})
        key = _key("POST", "/v1/responses", body, False)
        ex = self._send(key, reuse, lambda: self.client.request("POST", "/v1/responses", json=body,
                                                                timeouts=timeouts))
        parsed = self.json_exchange(ex)
        self.passive.run(resp_checks.response_schema, parsed, schemas=self.schemas)
        return ex, parsed if isinstance(parsed, dict) else {}

    def responses_stream(self, body: dict[str, Any], *, reuse: bool = True, timeouts: Any = None) -> Any:
        from conformance.harness.checks import responses as resp_checks  # noqa: PLC0415
        from conformance.harness.streams.responses import ResponsesStream  # noqa: PLC0415

        body = self.with_responses_model({**body, "stream": True})
        key = _key("POST", "/v1/responses", body, True)
        ex = self._send(key, reuse, lambda: self.client.request("POST", "/v1/responses", json=body, stream=True,
                                                                timeouts=timeouts))
        self.sse_exchange(ex)
        stream = ResponsesStream.from_exchange(ex)
        if stream.unknown_types:
            self.passive.observe("OAI-RESP-002",
                                 f"unknown Responses event types tolerated: {stream.unknown_type_names()}")
        self.passive.run(resp_checks.events_match_schemas, stream, schemas=self.schemas)
        self.passive.run(resp_checks.one_terminal_event_last, stream)
        return stream

    def models(self, *, reuse: bool = True) -> tuple[Exchange, Any]:
        key = _key("GET", "/v1/models", None, False)
        ex = self._send(key, reuse, lambda: self.client.request("GET", "/v1/models"))
        body = self.json_exchange(ex)
        self.passive.run(oai_checks.models_list_schema, body, schemas=self.schemas)
        return ex, body


ANTHROPIC_VERSION = "2023-06-01"


@dataclass(slots=True)
class Anthropic:
    """The Anthropic-compatible Messages API of the endpoint under test (same passive rules)."""

    client: Client
    schemas: SchemaSet
    passive: Passive
    model: str
    openai: OpenAI  # shares the reuse cache and request plumbing

    @property
    def auth(self) -> str:
        """How the key is sent: ``x-api-key`` (Anthropic) unless the profile says ``bearer``."""
        return str(self.passive.profile.setting("anthropic_auth", "x-api-key"))

    def headers(self) -> dict[str, str]:
        return {"anthropic-version": ANTHROPIC_VERSION}

    def with_model(self, body: dict[str, Any]) -> dict[str, Any]:
        """A Messages request with the model and the profile's Messages defaults."""
        return self.openai.with_defaults("messages", body)

    def with_count_model(self, body: dict[str, Any]) -> dict[str, Any]:
        """A count_tokens request: the model and the prompt-shaping part of the Messages defaults
        (e.g. the template's thinking switch), no generation parameters."""
        return self.openai.with_defaults("count_tokens", body)

    def raw(self, method: str, path: str, *, json_body: Any = None, content: bytes | str | None = None,
            headers: dict[str, str] | None = None, stream: bool = False, reuse: bool = False,
            auth: str | None = "default", timeouts: Any = None, stop: Any = None) -> Exchange:
        return self.openai.raw(method, path, json_body=json_body, content=content,
                               headers={**self.headers(), **(headers or {})}, stream=stream,
                               auth=self.auth if auth == "default" else auth, reuse=reuse,
                               timeouts=timeouts, stop=stop)

    def messages(self, body: dict[str, Any], *, reuse: bool = True,
                 timeouts: Any = None) -> tuple[Exchange, dict[str, Any]]:
        from conformance.harness.checks import anthropic as ant_checks  # noqa: PLC0415

        body = self.with_model({k: v for k, v in body.items() if k != "stream"})
        ex = self.raw("POST", "/v1/messages", json_body=body, reuse=reuse, timeouts=timeouts)
        parsed = self.openai.json_exchange(ex)
        self.passive.run(ant_checks.message_schema, parsed, schemas=self.schemas)
        return ex, parsed if isinstance(parsed, dict) else {}

    def messages_stream(self, body: dict[str, Any], *, reuse: bool = True, timeouts: Any = None) -> Any:
        from conformance.harness.checks import anthropic as ant_checks  # noqa: PLC0415
        from conformance.harness.streams.anthropic import MessagesStream  # noqa: PLC0415

        body = self.with_model({**body, "stream": True})
        ex = self.raw("POST", "/v1/messages", json_body=body, stream=True, reuse=reuse, timeouts=timeouts)
        self.passive.run(http_checks.well_formed_request_succeeds, ex, fatal=True)
        self.passive.run(ant_checks.messages_event_stream_content_type, ex)
        if ex.sse is None:
            raise HarnessError("stream exchange without SSE parse")
        self.passive.run(sse_checks.stream_is_utf8, ex.sse)
        self.passive.run(sse_checks.stream_ends_with_complete_event, ex.sse)
        stream = MessagesStream.from_exchange(ex)
        if stream.unknown_types:
            self.passive.observe("ANT-STREAM-002", "unknown Messages event types tolerated: "
                                 f"{sorted({t for _, t in stream.unknown_types})}")
        self.passive.run(ant_checks.message_events_match_schemas, stream, schemas=self.schemas)
        self.passive.run(ant_checks.message_start_first_once, stream)
        return stream

    def count_tokens(self, body: dict[str, Any], *, reuse: bool = True) -> tuple[Exchange, dict[str, Any]]:
        from conformance.harness.checks import anthropic as ant_checks  # noqa: PLC0415

        body = self.with_count_model(body)
        ex = self.raw("POST", "/v1/messages/count_tokens", json_body=body, reuse=reuse)
        parsed = self.openai.json_exchange(ex)
        self.passive.run(ant_checks.count_tokens_schema, parsed, schemas=self.schemas)
        return ex, parsed if isinstance(parsed, dict) else {}
