"""The fault-injecting proxy (``conformance.faults``), offline.

A small canned upstream (a request handler in this module, served by ``tests/fake_upstream.py``)
serves chat completions, Responses, Messages and count_tokens answers, streamed and not. For every
fault, each scenario below runs a check of a declared requirement: it passes against the upstream
directly and fails through the proxy with that fault, under that requirement ID. Neutral transformations leave the parsed events
(type, data) as the upstream sent them and are flagged by no check.
"""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from conformance.faults import FAULTS, FaultProxy, UnknownFault
from conformance.faults.__main__ import main as faults_main
from conformance.faults.hooks.neutral import split_points
from conformance.faults.model import Event, Fault, FaultContext, Hooks, Request
from conformance.faults.proxy import HOOK_ERROR_HEADER
from conformance.faults.stream import BlockSplitter, iter_events
from conformance.harness import sse
from conformance.harness.checks import anthropic as ant_checks
from conformance.harness.checks import anthropic_tools, common, negative, nim, openai, reasoning, responses, tools
from conformance.harness.checks import sse as sse_checks
from conformance.harness.client import Client
from conformance.harness.exchange import Exchange
from conformance.harness.failures import ConformanceFailure, TransportError
from conformance.harness.redaction import MASK
from conformance.harness.requirements import load_catalog
from conformance.harness.schemas import SchemaSet
from conformance.harness.streams.anthropic import MessagesStream
from conformance.harness.streams.openai import ChunkStream
from conformance.harness.streams.responses import ResponsesStream
from tests.fake_upstream import _close_clients, client, schemas, serve  # noqa: F401 (fixtures)

TEXT = ["Hel", "lo ✓", " wörld"]
JSON_TEXT = ['{"name":', '"Ann",', '"age":3}']
REASONING = ["Let me ", "think."]
PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"], "additionalProperties": False}
CHAT_TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}]
ANT_TOOLS = [{"name": "get_weather", "description": "Weather for a city",
              "input_schema": {"type": "object", "properties": {"location": {"type": "string"}},
                               "required": ["location"]}}]
USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
CREATED = 1_700_000_000


# --- the canned upstream ------------------------------------------------------------------------


def _oai_error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}


def _chat_plan(req: dict[str, Any]) -> dict[str, Any]:
    user = req["messages"][-1].get("content", "") if req.get("messages") else ""
    fmt = req.get("response_format")
    return {
        "calls": (2 if "two" in str(user) else 1) if req.get("tools") else 0,
        "json": isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object"),
        "reasoning": bool((req.get("chat_template_kwargs") or {}).get("enable_thinking")),
    }


def _call(i: int) -> dict[str, Any]:
    return {"id": f"call_{i}", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'}}


def chat_body(req: dict[str, Any]) -> dict[str, Any]:
    plan = _chat_plan(req)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(JSON_TEXT if plan["json"] else TEXT)}
    finish = "stop"
    if plan["calls"]:
        message = {"role": "assistant", "content": None, "tool_calls": [_call(i) for i in range(plan["calls"])]}
        finish = "tool_calls"
    if plan["reasoning"]:
        message["reasoning_content"] = "".join(REASONING)
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": CREATED, "model": "stub",
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": dict(USAGE)}


def chat_chunks(req: dict[str, Any]) -> list[str]:
    plan = _chat_plan(req)
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": CREATED, "model": "stub"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return json.dumps({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]},
                          ensure_ascii=False)

    out = [chunk({"role": "assistant", "content": None})]
    if plan["reasoning"]:
        out += [chunk({"reasoning_content": r}) for r in REASONING]
    finish = "stop"
    if plan["calls"]:
        finish = "tool_calls"
        for i in range(plan["calls"]):
            out.append(chunk({"tool_calls": [{"index": i, "id": f"call_{i}", "type": "function",
                                              "function": {"name": "get_weather", "arguments": "{"}}]}))
            for piece in ('"location":', '"Paris"', "}"):
                out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
    else:
        out += [chunk({"content": t}) for t in (JSON_TEXT if plan["json"] else TEXT)]
    out.append(chunk({}, finish))
    if (req.get("stream_options") or {}).get("include_usage"):
        out.append(json.dumps({**base, "choices": [], "usage": dict(USAGE)}))
    return out + ["[DONE]"]


def _response_object(status: str, text: str, item_status: str) -> dict[str, Any]:
    out = {
        "id": "resp_1", "object": "response", "created_at": CREATED, "status": status, "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": None, "max_output_tokens": None, "model": "stub",
        "output": [] if status == "in_progress" else [{
            "type": "message", "id": "msg_1", "status": item_status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}],
        "parallel_tool_calls": True, "previous_response_id": None, "reasoning": None, "store": False,
        "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [],
        "top_p": 1.0, "truncation": "disabled", "metadata": {},
    }
    if status != "in_progress":
        out["usage"] = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0}, "output_tokens": 5,
                        "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15}
    return out


def _truncated(req: dict[str, Any]) -> bool:
    limit = req.get("max_output_tokens")
    return isinstance(limit, int) and limit <= 4


def responses_body(req: dict[str, Any]) -> dict[str, Any]:
    cut = _truncated(req)
    return _response_object("incomplete" if cut else "completed", "".join(TEXT), "incomplete" if cut else "completed")


def responses_events(req: dict[str, Any]) -> list[tuple[str, str]]:
    cut = _truncated(req)
    text = "".join(TEXT)
    status, item_status = ("incomplete", "incomplete") if cut else ("completed", "completed")
    item = {"type": "message", "id": "msg_1", "status": "in_progress", "role": "assistant", "content": []}
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    done_part = {**part, "text": text}
    final = _response_object(status, text, item_status)
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": _response_object("in_progress", "", "in_progress")},
        {"type": "response.in_progress", "response": _response_object("in_progress", "", "in_progress")},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0, "content_index": 0,
         "part": part},
        *({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0,
           "delta": t, "logprobs": []} for t in TEXT),
        {"type": "response.output_text.done", "item_id": "msg_1", "output_index": 0, "content_index": 0,
         "text": text, "logprobs": []},
        {"type": "response.content_part.done", "item_id": "msg_1", "output_index": 0, "content_index": 0,
         "part": done_part},
        {"type": "response.output_item.done", "output_index": 0, "item": final["output"][0]},
        {"type": f"response.{status}", "response": final},
    ]
    for n, event in enumerate(events):
        event["sequence_number"] = n
    return [(e["type"], json.dumps(e, ensure_ascii=False)) for e in events]


def messages_body(req: dict[str, Any]) -> dict[str, Any]:
    if req.get("tools"):
        content: list[dict[str, Any]] = [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                          "input": {"location": "Paris"}}]
        stop = "tool_use"
    else:
        content, stop = [{"type": "text", "text": "".join(TEXT)}], "end_turn"
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "stub", "content": content,
            "stop_reason": stop, "stop_sequence": None, "usage": {"input_tokens": 12, "output_tokens": 5}}


def messages_events(req: dict[str, Any]) -> list[tuple[str, str]]:
    start = {"id": "msg_1", "type": "message", "role": "assistant", "model": "stub", "content": [],
             "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 12, "output_tokens": 1}}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}, {"type": "ping"}]
    if req.get("tools"):
        events.append({"type": "content_block_start", "index": 0,
                       "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}})
        events += [{"type": "content_block_delta", "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": p}}
                   for p in ("", '{"location":', ' "Paris"}')]
        stop = "tool_use"
    else:
        events.append({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
        events += [{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}
                   for t in TEXT]
        stop = "end_turn"
    events += [{"type": "content_block_stop", "index": 0},
               {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": 5}},
               {"type": "message_stop"}]
    return [(e["type"], json.dumps(e, ensure_ascii=False)) for e in events]


@dataclass
class Seen:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


class Upstream(BaseHTTPRequestHandler):
    """The canned upstream. Query parameters: ``delay`` (seconds between stream events), ``eol``
    (``lf``, ``crlf`` or ``cr``), ``split`` (write each event in two halves)."""

    protocol_version = "HTTP/1.1"
    seen: list[Seen] = []
    aborted: list[str] = []

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _json(self, status: int, value: Any) -> None:
        data = json.dumps(value, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, events: list[tuple[str | None, str]], query: dict[str, list[str]]) -> None:
        delay = float(query.get("delay", ["0"])[0])
        eol = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}[query.get("eol", ["lf"])[0]]
        split = "split" in query
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for i, event in enumerate(events):
                if i and delay:
                    time.sleep(delay)
                data = sse.serialize([event], line_ending=eol)
                pieces = [data[: len(data) // 2], data[len(data) // 2:]] if split else [data]
                for piece in pieces:
                    self.wfile.write(b"%X\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.aborted.append(self.path)
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append(Seen("GET", self.path, list(self.headers.items()), b""))
        path = urlsplit(self.path).path
        if path == "/v1/health/ready":
            self._json(200, {"object": "health.response", "message": "ready"})
        elif path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": "stub", "object": "model", "created": CREATED,
                                                         "owned_by": "test"}]})
        else:
            self._json(404, _oai_error("not found"))

    def do_HEAD(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "123")
        self.end_headers()

    def do_POST(self) -> None:  # noqa: N802
        raw = self._body()
        self.seen.append(Seen("POST", self.path, list(self.headers.items()), raw))
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query, keep_blank_values=True)
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            req = None
        if path == "/echo":
            self._json(200, {"ok": True})
            return
        if path == "/v1/messages/count_tokens":
            if not isinstance(req, dict) or not isinstance(req.get("messages"), list):
                self._json(400, {"type": "error", "error": {"type": "invalid_request_error",
                                                            "message": "messages: field required"}})
            else:
                self._json(200, {"input_tokens": 12})
            return
        if path == "/v1/messages":
            if not isinstance(req, dict) or not req.get("messages"):
                self._json(400, {"type": "error", "error": {"type": "invalid_request_error",
                                                            "message": "messages: field required"}})
            elif req.get("stream"):
                self._stream(messages_events(req), query)
            else:
                self._json(200, messages_body(req))
            return
        if not isinstance(req, dict) or (path == "/v1/chat/completions" and not req.get("messages")):
            self._json(400, _oai_error("'messages' is required"))
            return
        if path in ("/v1/completions", "/v1/responses") and not req.get("prompt" if "completions" in path else "input"):
            self._json(400, _oai_error("'prompt' is required" if "completions" in path else "'input' is required"))
            return
        if path == "/v1/chat/completions":
            if req.get("stream"):
                self._stream([(None, c) for c in chat_chunks(req)], query)
            else:
                self._json(200, chat_body(req))
        elif path == "/v1/responses":
            if req.get("stream"):
                self._stream(responses_events(req), query)
            else:
                self._json(200, responses_body(req))
        else:
            self._json(404, _oai_error("not found"))


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    yield from serve(Upstream)


# --- request helpers ----------------------------------------------------------------------------

USER = [{"role": "user", "content": "Say hello."}]


def chat(c: Client, *, stream: bool = False, path: str = "/v1/chat/completions", **extra: Any) -> Exchange:
    body = {"model": "stub", "messages": USER, "max_tokens": 16, **extra}
    if stream:
        body["stream"] = True
    return c.request("POST", path, json=body, stream=stream)


def chat_stream(c: Client, **extra: Any) -> ChunkStream:
    return ChunkStream.from_exchange(chat(c, stream=True, **extra))


def resp_stream(c: Client, **extra: Any) -> ResponsesStream:
    ex = c.request("POST", "/v1/responses", json={"model": "stub", "input": "Say hello.", "stream": True, **extra},
                   stream=True)
    return ResponsesStream.from_exchange(ex)


def ant(c: Client, *, stream: bool = False, **extra: Any) -> Exchange:
    body = {"model": "stub", "max_tokens": 16, "messages": USER, **extra}
    if stream:
        body["stream"] = True
    return c.request("POST", "/v1/messages", json=body, stream=stream, headers={"anthropic-version": "2023-06-01"})


def ant_stream(c: Client, **extra: Any) -> MessagesStream:
    return MessagesStream.from_exchange(ant(c, stream=True, **extra))


def first_choice(ex: Exchange) -> dict[str, Any]:
    return ex.json()["choices"][0]


# --- one scenario per (fault, requirement, mode) --------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    fault: str
    requirement: str
    label: str
    run: Callable[[Client, SchemaSet], None]

    @property
    def id(self) -> str:
        return f"{self.fault}:{self.requirement}:{self.label}"


def _tool_finish_nonstream(c: Client, s: SchemaSet, **extra: Any) -> None:
    choice = first_choice(chat(c, **extra))
    tools.finish_reason_matches_tool_calls(choice["finish_reason"], choice["message"].get("tool_calls"))


def _tool_finish_stream(c: Client, s: SchemaSet, **extra: Any) -> None:
    stream = chat_stream(c, **extra)
    tools.finish_reason_matches_tool_calls(stream.finish_reasons()[-1], stream.tool_calls())


def _json_format() -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}}


def _ready_probe(c: Client, s: SchemaSet) -> None:
    ready = c.request("GET", "/v1/health/ready")
    probe = chat(c, max_tokens=1)
    nim.ready_means_serving(ready, probe)


def _ant_invalid_4xx(c: Client, s: SchemaSet) -> None:
    ex = c.request("POST", "/v1/messages", json={"model": "stub", "max_tokens": 4},
                   headers={"anthropic-version": "2023-06-01"})
    ant_checks.anthropic_error_envelope(ex, schemas=s)


def _invalid(c: Client, route: str) -> Exchange:
    """A request the canned upstream rejects with 4xx: Responses without input, completions without
    prompt, count_tokens without messages."""
    if route == "count_tokens":
        return c.request("POST", "/v1/messages/count_tokens", json={"model": "stub"},
                         headers={"anthropic-version": "2023-06-01"})
    path = {"responses": "/v1/responses", "completions": "/v1/completions"}[route]
    return c.request("POST", path, json={"model": "stub", "max_tokens": 4})


# the issue 14 negative cases (OAI-ERR-005/006, ANT-TOKENS-003, OAI-FUZZ-003) under both error faults
NEGATIVE_ROUTE_SCENARIOS = [
    Scenario(fault, rid, label, run)
    for fault in ("invalid-params-500", "error-envelope-malformed")
    for rid, label, run in [
        ("OAI-ERR-005", "invalid-request", lambda c, s: negative.invalid_responses_request_rejected(
            _invalid(c, "responses"), schemas=s)),
        ("OAI-ERR-006", "invalid-request", lambda c, s: negative.invalid_completions_request_rejected(
            _invalid(c, "completions"), schemas=s)),
        ("ANT-TOKENS-003", "invalid-request", lambda c, s: negative.invalid_count_tokens_request_rejected(
            _invalid(c, "count_tokens"), schemas=s)),
        ("OAI-FUZZ-003", "generated-invalid-request", lambda c, s: [
            negative.generated_invalid_request_rejected(_invalid(c, route), schemas=s, route=route, kind="missing")
            for route in ("responses", "completions", "count_tokens")]),
    ]
]


SCENARIOS: list[Scenario] = [
    Scenario("drop-done", "OAI-STREAM-002", "stream",
             lambda c, s: openai.stream_terminated_by_done(chat_stream(c))),
    Scenario("data-after-done", "OAI-STREAM-003", "stream",
             lambda c, s: openai.nothing_after_done(chat_stream(c))),
    Scenario("two-finish-reasons", "OAI-STREAM-009", "stream",
             lambda c, s: openai.one_finish_reason_per_choice(chat_stream(c))),
    Scenario("missing-role", "OAI-STREAM-008", "stream",
             lambda c, s: openai.first_delta_has_role(chat_stream(c))),
    Scenario("chunk-id-drift", "OAI-STREAM-007", "stream",
             lambda c, s: openai.chunk_identity_stable(chat_stream(c))),
    Scenario("chunk-id-drift", "OAI-CONC-001", "streams",
             lambda c, s: openai.concurrent_streams_isolated([chat_stream(c)], max_tokens=[0])),
    Scenario("usage-every-chunk", "OAI-USAGE-002", "include_usage",
             lambda c, s: openai.stream_usage_chunk(chat_stream(c, stream_options={"include_usage": True}))),
    Scenario("usage-every-chunk", "OAI-USAGE-003", "no-include_usage",
             lambda c, s: openai.no_usage_without_include(chat_stream(c))),
    Scenario("usage-missing-with-include-usage", "OAI-USAGE-002", "include_usage",
             lambda c, s: openai.stream_usage_chunk(chat_stream(c, stream_options={"include_usage": True}))),
    Scenario("usage-wrong-total", "OAI-USAGE-001", "non-stream",
             lambda c, s: openai.usage_arithmetic(chat(c).json()["usage"])),
    Scenario("usage-wrong-total", "OAI-USAGE-002", "include_usage",
             lambda c, s: openai.stream_usage_chunk(chat_stream(c, stream_options={"include_usage": True}))),
    Scenario("finish-stop-despite-tool-calls", "OAI-TOOLS-004", "non-stream",
             lambda c, s: _tool_finish_nonstream(c, s, tools=CHAT_TOOLS)),
    Scenario("finish-stop-despite-tool-calls", "OAI-TOOLS-004", "stream",
             lambda c, s: _tool_finish_stream(c, s, tools=CHAT_TOOLS)),
    Scenario("finish-tool-calls-without-calls", "OAI-TOOLS-004", "non-stream",
             lambda c, s: _tool_finish_nonstream(c, s)),
    Scenario("finish-tool-calls-without-calls", "OAI-TOOLS-004", "stream",
             lambda c, s: _tool_finish_stream(c, s)),
    Scenario("parallel-calls-index-zero", "OAI-TOOLS-003", "two-calls",
             lambda c, s: tools.parallel_calls_distinct(chat_stream(c, tools=CHAT_TOOLS, messages=[
                 {"role": "user", "content": "two cities"}]))),
    Scenario("parallel-calls-index-zero", "OAI-TOOLS-002", "two-calls",
             lambda c, s: tools.streamed_tool_calls_well_formed(chat_stream(c, tools=CHAT_TOOLS, messages=[
                 {"role": "user", "content": "two cities"}]), tools=CHAT_TOOLS)),
    Scenario("tool-name-repeated-per-chunk", "OAI-TOOLS-002", "stream",
             lambda c, s: tools.streamed_tool_calls_well_formed(chat_stream(c, tools=CHAT_TOOLS), tools=CHAT_TOOLS)),
    Scenario("tool-args-invalid-json", "OAI-TOOLS-001", "non-stream",
             lambda c, s: tools.tool_calls_valid(first_choice(chat(c, tools=CHAT_TOOLS))["message"], tools=CHAT_TOOLS)),
    Scenario("tool-args-invalid-json", "OAI-TOOLS-002", "stream",
             lambda c, s: tools.streamed_tool_calls_well_formed(chat_stream(c, tools=CHAT_TOOLS), tools=CHAT_TOOLS)),
    Scenario("tool-args-invalid-json", "OAI-TOOLS-002", "stream-two-calls",
             lambda c, s: tools.streamed_tool_calls_well_formed(chat_stream(c, tools=CHAT_TOOLS, messages=[
                 {"role": "user", "content": "two cities"}]), tools=CHAT_TOOLS)),
    Scenario("think-leak-into-content", "OAI-REASON-006", "non-stream",
             lambda c, s: reasoning.no_think_leak(first_choice(
                 chat(c, chat_template_kwargs={"enable_thinking": True}))["message"])),
    Scenario("think-leak-into-content", "OAI-REASON-006", "stream",
             lambda c, s: reasoning.no_think_leak(chat_stream(c, chat_template_kwargs={"enable_thinking": True}))),
    Scenario("think-leak-into-content", "OAI-REASON-006", "stream-no-reasoning",
             lambda c, s: reasoning.no_think_leak(chat_stream(c))),
    Scenario("responses-no-sequence-number", "OAI-RESP-005", "stream",
             lambda c, s: responses.sequence_numbers_increase_by_one(resp_stream(c))),
    Scenario("responses-no-sequence-number", "OAI-RESP-002", "stream",
             lambda c, s: responses.events_match_schemas(resp_stream(c), schemas=s)),
    Scenario("responses-completed-not-last", "OAI-RESP-004", "stream",
             lambda c, s: responses.one_terminal_event_last(resp_stream(c))),
    Scenario("responses-delta-text-mismatch", "OAI-RESP-007", "stream",
             lambda c, s: responses.deltas_match_done_and_output(resp_stream(c))),
    Scenario("responses-completed-on-truncation", "OAI-RESP-008", "non-stream",
             lambda c, s: responses.incomplete_on_max_output_tokens(c.request(
                 "POST", "/v1/responses", json={"model": "stub", "input": "x", "max_output_tokens": 3}).json())),
    Scenario("responses-completed-on-truncation", "OAI-RESP-008", "stream",
             lambda c, s: (lambda st: responses.incomplete_on_max_output_tokens(
                 st.final_response(), terminal_type=st.terminal()[-1].type))(resp_stream(c, max_output_tokens=3))),
    Scenario("anthropic-double-message-start", "ANT-STREAM-004", "stream",
             lambda c, s: ant_checks.message_start_first_once(ant_stream(c))),
    Scenario("anthropic-block-before-message-start", "ANT-STREAM-004", "stream",
             lambda c, s: ant_checks.message_start_first_once(ant_stream(c))),
    Scenario("anthropic-event-name-mismatch", "ANT-STREAM-003", "stream",
             lambda c, s: ant_checks.event_names_match_data_types(ant_stream(c))),
    Scenario("anthropic-invalid-input-json-delta", "ANT-STREAM-005", "stream",
             lambda c, s: ant_checks.content_blocks_well_formed(ant_stream(c, tools=ANT_TOOLS))),
    Scenario("anthropic-invalid-input-json-delta", "ANT-TOOLS-001", "stream",
             lambda c, s: anthropic_tools.tool_use_blocks_valid(ant_stream(c, tools=ANT_TOOLS), tools=ANT_TOOLS)),
    Scenario("anthropic-invalid-input-json-delta", "ANT-TOOLS-001", "non-stream",
             lambda c, s: anthropic_tools.tool_use_blocks_valid(ant(c, tools=ANT_TOOLS).json(), tools=ANT_TOOLS)),
    Scenario("count-tokens-off-by-n", "ANT-TOKENS-002", "non-stream",
             lambda c, s: ant_checks.count_tokens_matches_usage(
                 c.request("POST", "/v1/messages/count_tokens", json={"model": "stub", "messages": USER}).json(),
                 ant(c).json())),
    Scenario("context-overflow-500", "OAI-ERR-001", "invalid-request",
             lambda c, s: common.rejected_with_4xx(c.request("POST", "/v1/chat/completions", json={"model": "x"}))),
    Scenario("invalid-params-500", "OAI-ERR-001", "invalid-request",
             lambda c, s: common.rejected_with_4xx(c.request("POST", "/v1/chat/completions", json={"model": "x"}))),
    Scenario("invalid-params-500", "ANT-MSG-002", "invalid-request", _ant_invalid_4xx),
    Scenario("json-mode-invalid-json", "OAI-JSON-002", "non-stream",
             lambda c, s: (lambda ch: tools.json_schema_content(ch["message"]["content"], ch["finish_reason"],
                                                               schema=PERSON))(
                 first_choice(chat(c, response_format=_json_format())))),
    Scenario("json-mode-invalid-json", "OAI-JSON-002", "stream",
             lambda c, s: (lambda st: tools.json_schema_content(st.text(), st.finish_reasons()[-1], schema=PERSON))(
                 chat_stream(c, response_format=_json_format()))),
    Scenario("ready-while-not-serving", "NIM-HEALTH-002", "probe", _ready_probe),
    Scenario("error-envelope-malformed", "OAI-ERR-002", "invalid-request",
             lambda c, s: common.openai_error_envelope(
                 c.request("POST", "/v1/chat/completions", json={"model": "x"}), schemas=s)),
    Scenario("wrong-content-type", "OAI-STREAM-001", "stream",
             lambda c, s: openai.event_stream_content_type(chat(c, stream=True))),
    Scenario("wrong-content-type", "HTTP-CTYPE-001", "non-stream",
             lambda c, s: common.json_content_type(chat(c))),
    # a tenth of the requests get 429 (seeded, so the same ones every run): a conformance request is
    # judged as sent, never retried (tests/test_rate_limits.py has the eval side)
    Scenario("rate-limit-429", "HTTP-STATUS-001", "twenty-requests",
             lambda c, s: [common.well_formed_request_succeeds(chat(c)) for _ in range(20)]),
    *NEGATIVE_ROUTE_SCENARIOS,
]


def assert_fault_caught(upstream: str, schemas: SchemaSet, scenario: Any,
                        make_client: Callable[[str], Client] = client) -> None:
    """The scenario passes against the canned upstream (clean: NotApplicable would error) and fails,
    under its requirement, through the proxy applying its fault; the fault declares that requirement."""
    scenario.run(make_client(upstream), schemas)
    with FaultProxy(upstream, [scenario.fault]) as proxy:
        assert proxy.url is not None
        with pytest.raises(ConformanceFailure) as caught:
            scenario.run(make_client(proxy.url), schemas)
    assert caught.value.requirement == scenario.requirement, str(caught.value)
    assert scenario.requirement in FAULTS[scenario.fault].requirements


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda sc: sc.id)
def test_fault_is_caught_by_its_requirement(upstream: str, schemas: SchemaSet, scenario: Scenario) -> None:
    assert_fault_caught(upstream, schemas, scenario)


def test_every_declared_requirement_has_a_scenario() -> None:
    from tests.test_concurrency_faults import CONCURRENCY_SCENARIOS  # cross-talk: an echoing upstream
    from tests.test_context_faults import CONTEXT_SCENARIOS  # the context faults need a windowed upstream
    from tests.test_eval_faults import EVAL_SCENARIOS  # the planted accuracy regression, a lookup one
    from tests.test_media_faults import MEDIA_SCENARIOS  # the media faults, a multimodal one
    from tests.test_langchain_faults import LANGCHAIN_SCENARIOS  # LangChain's chat models as the client
    from tests.test_parity_faults import PARITY_SCENARIOS  # stream / non-stream parity, with text completions

    covered = {(s.fault, s.requirement) for s in [*SCENARIOS, *CONTEXT_SCENARIOS, *MEDIA_SCENARIOS, *EVAL_SCENARIOS,
                                                  *PARITY_SCENARIOS, *CONCURRENCY_SCENARIOS, *LANGCHAIN_SCENARIOS]}
    declared = {(f.name, r) for f in FAULTS.values() for r in f.requirements}
    assert declared - covered == set()
    assert covered - declared == set()


def test_registry_is_consistent_with_the_catalog() -> None:
    catalog = load_catalog()
    for name, fault in FAULTS.items():
        assert fault.name == name
        assert fault.description and fault.hooks.names()
        assert fault.neutral == (not fault.requirements)
        for rid in fault.requirements:
            assert rid in catalog, f"{name}: {rid} not in the catalog"
            assert catalog[rid].status == "active", f"{name}: {rid} is {catalog[rid].status}"
    neutral = {n for n, f in FAULTS.items() if f.neutral}
    assert neutral == {"crlf", "cr-only", "keepalive-comments", "split-bytes", "unknown-fields", "mtp-coalesce-chunks"}


def test_registry_split_model_hooks_table() -> None:
    """The model, the hooks per API family and the table are separate modules; hooks and model do
    no I/O (no transport, no proxy); ``registry`` re-exports the same objects."""
    import ast
    from pathlib import Path

    from conformance.faults import registry, table

    root = Path(registry.__file__).parent
    pure = [root / "model.py", root / "stream.py", *sorted((root / "hooks").glob("*.py"))]
    assert {p.stem for p in (root / "hooks").glob("*.py")} >= {"openai", "responses", "anthropic", "nim", "http",
                                                               "neutral", "common"}
    for path in pure:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            bad = [n for n in names if n.split(".")[0] in ("httpx", "socket", "urllib", "http", "subprocess")
                   or n in ("conformance.harness.client", "conformance.faults.proxy", "conformance.faults.table")]
            assert not bad, f"{path.name} imports {bad}"
    assert registry.FAULTS is table.FAULTS and registry.resolve is table.resolve
    families = {f.hooks.events.__module__.rsplit(".", 1)[-1] for f in FAULTS.values()
                if f.hooks.events is not None and f.hooks.events.__module__ != "conformance.faults.hooks.common"}
    assert families <= {"openai", "responses", "anthropic", "neutral", "media", "concurrency"}


# --- specific transformations ---------------------------------------------------------------------


def test_drop_done_and_data_after_done_transformations(upstream: str) -> None:
    with FaultProxy(upstream, ["drop-done"]) as proxy:
        stream = chat_stream(client(proxy.url))
    assert stream.done_count == 0 and len(stream.chunks) == len(TEXT) + 2
    with FaultProxy(upstream, ["data-after-done"]) as proxy:
        stream = chat_stream(client(proxy.url))
    assert stream.done_count == 1 and len(stream.after_done) == 1
    assert json.loads(stream.after_done[0].data)["choices"][0]["finish_reason"] == "stop"


def test_usage_every_chunk_forces_include_usage_upstream(upstream: str) -> None:
    Upstream.seen.clear()
    with FaultProxy(upstream, ["usage-every-chunk"]) as proxy:
        stream = chat_stream(client(proxy.url))
    sent = json.loads(Upstream.seen[-1].body)
    assert sent["stream_options"] == {"include_usage": True}
    assert all(c.usage == USAGE for c in stream.chunks)


def test_tool_args_invalid_json_drops_the_final_brace(upstream: str) -> None:
    with FaultProxy(upstream, ["tool-args-invalid-json"]) as proxy:
        c = client(proxy.url)
        message = first_choice(chat(c, tools=CHAT_TOOLS))["message"]
        stream = chat_stream(c, tools=CHAT_TOOLS, messages=[{"role": "user", "content": "two"}])
    assert message["tool_calls"][0]["function"]["arguments"] == '{"location":"Paris"'
    assert [call.arguments for call in stream.tool_calls()] == ['{"location":"Paris"'] * 2
    assert stream.finish_reasons() == ["tool_calls"]


def test_think_leak_wraps_the_reasoning(upstream: str) -> None:
    with FaultProxy(upstream, ["think-leak-into-content"]) as proxy:
        c = client(proxy.url)
        message = first_choice(chat(c, chat_template_kwargs={"enable_thinking": True}))["message"]
        stream = chat_stream(c, chat_template_kwargs={"enable_thinking": True})
    leaked = "<think>Let me think.</think>" + "".join(TEXT)
    assert message["content"] == leaked and stream.text() == leaked


def test_responses_truncation_fault_rewrites_terminal_event(upstream: str) -> None:
    with FaultProxy(upstream, ["responses-completed-on-truncation"]) as proxy:
        stream = resp_stream(client(proxy.url), max_output_tokens=3)
    terminal = stream.terminal()[-1]
    assert terminal.type == terminal.event_field == "response.completed"
    final = stream.final_response()
    assert final is not None and final["status"] == "completed" and "incomplete_details" not in final


def test_anthropic_block_before_message_start_order(upstream: str) -> None:
    with FaultProxy(upstream, ["anthropic-block-before-message-start"]) as proxy:
        stream = ant_stream(client(proxy.url))
    types = [e.type for e in stream.events]
    assert types[:3] == ["content_block_start", "message_start", "ping"]
    assert sorted(types) == sorted(t for t, _ in messages_events({}))


def test_ready_while_not_serving_answers_locally(upstream: str) -> None:
    Upstream.seen.clear()
    with FaultProxy(upstream, ["ready-while-not-serving"]) as proxy:
        c = client(proxy.url)
        ready = c.request("GET", "/v1/health/ready")
        probe = chat(c)
        models = c.request("GET", "/v1/models")
    assert ready.status == 200 and ready.json() == {"object": "health.response", "message": "ready"}
    assert probe.status == 503 and models.status == 200
    assert [s.path for s in Upstream.seen] == ["/v1/models"]


def test_wrong_content_type_and_error_faults(upstream: str) -> None:
    with FaultProxy(upstream, ["wrong-content-type", "invalid-params-500"]) as proxy:
        c = client(proxy.url)
        streamed = chat(c, stream=True)
        whole = chat(c)
        bad = c.request("POST", "/v1/chat/completions", json={"model": "x"})
    assert streamed.header("content-type") == "text/plain; charset=utf-8"
    assert whole.header("content-type") == "text/html; charset=utf-8"
    assert bad.status == 500 and bad.json() == _oai_error("'messages' is required")
    assert ChunkStream.from_exchange(streamed).done_count == 1  # still an event stream underneath


# --- neutral transformations ----------------------------------------------------------------------

STREAM_KINDS: dict[str, Callable[[Client, str], Exchange]] = {
    "chat": lambda c, q: chat(c, stream=True, path=f"/v1/chat/completions{q}"),
    "chat-usage-tools": lambda c, q: chat(c, stream=True, path=f"/v1/chat/completions{q}", tools=CHAT_TOOLS,
                                          stream_options={"include_usage": True}),
    "responses": lambda c, q: c.request("POST", f"/v1/responses{q}", stream=True,
                                        json={"model": "stub", "input": "hi", "stream": True}),
    "messages": lambda c, q: c.request("POST", f"/v1/messages{q}", stream=True, json={
        "model": "stub", "max_tokens": 8, "messages": USER, "stream": True, "tools": ANT_TOOLS}),
}
NEUTRAL = sorted(n for n, f in FAULTS.items() if f.neutral)


def _strip_extra(data: str) -> str:
    try:
        value = json.loads(data)
    except ValueError:
        return data
    if isinstance(value, dict):
        value.pop("x_llmconf_extra", None)
    return json.dumps(value, sort_keys=True)


def _events(ex: Exchange) -> list[tuple[str, str]]:
    assert ex.sse is not None
    return [(e.type, _strip_extra(e.data)) for e in ex.sse.events]


def _not_flagged(kind: str, ex: Exchange, schemas: SchemaSet) -> None:
    """The checks a correct suite runs on such a stream: none may fail."""
    assert ex.sse is not None
    sse_checks.stream_is_utf8(ex.sse)
    sse_checks.stream_ends_with_complete_event(ex.sse)
    sse_checks.no_unknown_fields(ex.sse)
    if kind.startswith("chat"):
        openai.event_stream_content_type(ex)
        stream = ChunkStream.from_exchange(ex)
        for check in (openai.stream_terminated_by_done, openai.nothing_after_done, openai.chunks_are_json_objects,
                      openai.no_error_frames, openai.chunk_identity_stable, openai.first_delta_has_role,
                      openai.one_finish_reason_per_choice):
            check(stream)
        openai.chunks_match_schema(stream, schemas=schemas)
        if kind == "chat-usage-tools":
            openai.stream_usage_chunk(stream)
            tools.streamed_tool_calls_well_formed(stream, tools=CHAT_TOOLS)
    elif kind == "responses":
        stream = ResponsesStream.from_exchange(ex)
        responses.events_match_schemas(stream, schemas=schemas)
        responses.starts_created_in_progress(stream)
        responses.one_terminal_event_last(stream)
        responses.sequence_numbers_increase_by_one(stream)
        responses.items_announced_and_paired(stream)
        responses.deltas_match_done_and_output(stream)
    else:
        stream = MessagesStream.from_exchange(ex)
        ant_checks.message_events_match_schemas(stream, schemas=schemas)
        ant_checks.event_names_match_data_types(stream)
        ant_checks.message_start_first_once(stream)
        ant_checks.content_blocks_well_formed(stream)
        ant_checks.message_delta_then_stop(stream)
        ant_checks.nothing_after_message_stop(stream)


@pytest.mark.parametrize("eol", ["lf", "crlf"])
@pytest.mark.parametrize("kind", sorted(STREAM_KINDS))
@pytest.mark.parametrize("name", NEUTRAL)
def test_neutral_transformation_keeps_events(upstream: str, schemas: SchemaSet, name: str, kind: str,
                                             eol: str) -> None:
    query = f"?eol={eol}&split=1"
    direct = STREAM_KINDS[kind](client(upstream), query)
    _not_flagged(kind, direct, schemas)
    with FaultProxy(upstream, [name], write_pause_s=0) as proxy:
        proxied = STREAM_KINDS[kind](client(proxy.url), query)
    assert proxied.status == 200
    if name == "mtp-coalesce-chunks" and kind == "chat":  # fewer chunks, the same text
        assert len(_events(proxied)) < len(_events(direct))
        assert ChunkStream.from_exchange(proxied).text() == ChunkStream.from_exchange(direct).text()
    else:
        assert _events(proxied) == _events(direct)
    _not_flagged(kind, proxied, schemas)
    assert proxied.sse is not None
    codes = {d.code for d in proxied.sse.diagnostics}
    body = proxied.body
    if name == "crlf":
        assert b"\r\n" in body and b"\r\r" not in body and body.count(b"\n") == body.count(b"\r\n")
    elif name == "cr-only":
        assert b"\n" not in body and b"\r" in body
    elif name == "keepalive-comments":
        assert sse.COMMENT in codes and b": keep-alive" in body
    elif name == "unknown-fields":
        assert all(json.loads(e.data).get("x_llmconf_extra") == 1 for e in proxied.sse.events if e.data != "[DONE]")
    elif name == "split-bytes":
        assert body == direct.body  # the bytes are the same; only the writes differ


def test_all_neutral_transformations_together(upstream: str, schemas: SchemaSet) -> None:
    for kind, send in STREAM_KINDS.items():
        direct = send(client(upstream), "")
        with FaultProxy(upstream, ["keepalive-comments", "crlf", "split-bytes", "unknown-fields"]) as proxy:
            proxied = send(client(proxy.url), "")
        assert _events(proxied) == _events(direct), kind
        _not_flagged(kind, proxied, schemas)


@pytest.mark.parametrize("name", NEUTRAL)
def test_neutral_transformation_of_json_bodies(upstream: str, name: str) -> None:
    c = client(upstream)
    direct = [chat(c), ant(c), c.request("POST", "/v1/messages/count_tokens", json={"messages": USER})]
    with FaultProxy(upstream, [name]) as proxy:
        p = client(proxy.url)
        proxied = [chat(p), ant(p), p.request("POST", "/v1/messages/count_tokens", json={"messages": USER})]
    for d, x in zip(direct, proxied):
        assert x.status == d.status and x.content_type == "application/json"
        assert x.header("content-length") == str(len(x.body))
        assert _strip_extra(x.text) == _strip_extra(d.text)
        if name == "unknown-fields":
            assert x.json()["x_llmconf_extra"] == 1
        else:
            assert x.body == d.body


def test_pass_through_without_faults_is_byte_exact(upstream: str) -> None:
    for query in ("?eol=lf", "?eol=crlf&split=1", "?eol=cr&split=1"):
        direct = chat(client(upstream), stream=True, path=f"/v1/chat/completions{query}")
        with FaultProxy(upstream, []) as proxy:
            proxied = chat(client(proxy.url), stream=True, path=f"/v1/chat/completions{query}")
        assert proxied.body == direct.body, query
        assert proxied.header("content-type") == "text/event-stream"


def test_event_level_fault_keeps_the_upstream_line_endings(upstream: str) -> None:
    with FaultProxy(upstream, ["missing-role"]) as proxy:
        ex = chat(client(proxy.url), stream=True, path="/v1/chat/completions?eol=crlf&split=1")
    assert ex.sse is not None and ex.sse.line_endings["LF"] == 0 and ex.sse.line_endings["CR"] == 0


# --- the event splitter -----------------------------------------------------------------------------

SAMPLE = (b"\xef\xbb\xbf: hello\n\nevent: a\ndata: {\"t\": \"\xc3\xa9\xe2\x9c\x93\"}\r\n\r\n"
          b"data: x\rdata: y\r\r\n\nid: 7\ndata: z\n\nretry: 10\n\ndata: [DONE]\r\n\r\ndata: tail")


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def test_iter_events_is_byte_exact_and_agrees_with_the_parser() -> None:
    expected = [(e.type, e.data, e.id) for e in sse.parse(SAMPLE).events]
    rng = random.Random(7)
    chunkings = [[i] for i in range(1, len(SAMPLE))]
    chunkings += [sorted(rng.sample(range(1, len(SAMPLE)), k)) for k in (3, 10, 40) for _ in range(20)]
    for cuts in chunkings:
        events = list(iter_events(_split(SAMPLE, cuts)))
        assert b"".join(e.raw or b"" for e in events) == SAMPLE, cuts
        got = [(e.type or "message", e.data) for e in events if e.is_event]
        assert got == [(t, d) for t, d, _ in expected], cuts
    assert [e.id for e in iter_events([SAMPLE]) if e.is_event] == [None, None, "7", None]


def test_reserialised_events_parse_the_same() -> None:
    events = list(iter_events([SAMPLE]))
    rebuilt = b"".join((e.with_data(e.data) if e.is_event else e).encode() for e in events if not e.dangling_lf)
    assert [(e.type, e.data) for e in sse.parse(rebuilt).events] == \
        [(e.type, e.data) for e in sse.parse(SAMPLE).events]


def test_block_splitter_waits_on_a_cr_at_the_end_of_a_line() -> None:
    splitter = BlockSplitter()
    assert splitter.feed(b"data: a\r") == []
    assert splitter.feed(b"\n\r") == [("block", b"data: a\r\n\r")]
    assert splitter.feed(b"\ndata: b\n\n") == [("lf", b"\n"), ("block", b"data: b\n\n")]


def test_split_points_cut_crlf_and_multibyte_utf8() -> None:
    data = "data: {\"t\": \"é✓\"}\r\n\r\n".encode()
    cuts = split_points(data, random.Random(1))
    assert data.index(b"\r\n") + 1 in cuts
    assert data.index("é".encode()) + 1 in cuts and data.index("✓".encode()) + 1 in cuts
    ctx = FaultContext(Request("POST", "/v1/chat/completions"))
    pieces = FAULTS["split-bytes"].hooks.wire(ctx, Event(data="x", raw=data), [data])  # type: ignore[misc]
    assert b"".join(pieces) == data and len(pieces) >= 4


# --- the proxy as an HTTP server ------------------------------------------------------------------


def test_streams_pass_through_incrementally(upstream: str) -> None:
    with FaultProxy(upstream, ["missing-role", "keepalive-comments", "split-bytes"]) as proxy:
        ex = chat(client(proxy.url), stream=True, path="/v1/chat/completions?delay=0.25")
    assert ex.sse is not None
    times = [e.t_received for e in ex.sse.events]
    assert len(times) == len(TEXT) + 3
    # the upstream spends ≥ 1.25 s between its first and last event; the first one is relayed at once
    assert times[-1] - times[0] >= 1.0, times
    assert ex.first_byte_s is not None and ex.first_byte_s < times[-1] - 0.9


def test_request_forwarded_with_credentials_and_recorded_redacted(upstream: str) -> None:
    bearer, key = "sk-proxy-secret-000111222", "ant-secret-key-333444555"
    Upstream.seen.clear()
    with FaultProxy(upstream, ["unknown-fields"]) as proxy:
        c = client(proxy.url)
        ex = c.request("POST", "/echo?a=1&b=two", json={"x": 1},
                       headers={"authorization": f"Bearer {bearer}", "x-api-key": key, "x-custom": "yes"})
        recorded = list(proxy.exchanges)
    assert ex.status == 200 and ex.json() == {"ok": True, "x_llmconf_extra": 1}
    seen = Upstream.seen[-1]
    headers = {k.lower(): v for k, v in seen.headers}
    assert seen.path == "/echo?a=1&b=two" and json.loads(seen.body) == {"x": 1}
    assert headers["authorization"] == f"Bearer {bearer}" and headers["x-api-key"] == key
    assert headers["x-custom"] == "yes"
    assert len(recorded) == 1
    record = json.dumps(recorded[0].as_record())
    assert bearer not in record and key not in record and MASK in record
    assert dict(recorded[0].request_headers)["authorization"] == MASK


def test_chunked_request_body_is_forwarded(upstream: str) -> None:
    Upstream.seen.clear()
    with FaultProxy(upstream, []) as proxy:
        assert proxy.url is not None
        host, port = proxy.url.removeprefix("http://").split(":")
        body = json.dumps({"model": "stub", "messages": USER}).encode()
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                         + b"%X\r\n%s\r\n" % (10, body[:10]) + b"%X\r\n%s\r\n" % (len(body) - 10, body[10:])
                         + b"0\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")
    assert json.loads(Upstream.seen[-1].body) == {"model": "stub", "messages": USER}


def _read_answer(sock: socket.socket) -> tuple[bytes, bytes]:
    """One HTTP/1.1 answer (head, body) from a keep-alive socket: Content-Length or chunked."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        while not rest.endswith(b"0\r\n\r\n"):
            rest += sock.recv(65536)
        body, pos = b"", 0
        while True:
            eol = rest.index(b"\r\n", pos)
            size = int(rest[pos:eol], 16)
            if size == 0:
                return head, body
            body += rest[eol + 2:eol + 2 + size]
            pos = eol + 4 + size
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(rest) < length:
        rest += sock.recv(65536)
    return head, rest


def test_keep_alive_connection_carries_a_stream_then_a_json_answer(upstream: str) -> None:
    with FaultProxy(upstream, ["missing-role"]) as proxy:
        assert proxy.url is not None
        host, port = proxy.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            for stream in (True, False, True):
                body = json.dumps({"model": "stub", "messages": USER, "stream": stream}).encode()
                sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                head, answer = _read_answer(sock)
                assert head.startswith(b"HTTP/1.1 200")
                if stream:
                    assert answer.endswith(b"data: [DONE]\n\n") and b'"role"' not in answer
                else:
                    assert json.loads(answer)["object"] == "chat.completion"


def test_client_disconnect_does_not_hang(upstream: str) -> None:
    Upstream.aborted.clear()
    with FaultProxy(upstream, ["missing-role"]) as proxy:
        assert proxy.url is not None
        host, port = proxy.url.removeprefix("http://").split(":")
        body = json.dumps({"model": "stub", "messages": USER, "stream": True}).encode()
        sock = socket.create_connection((host, int(port)), timeout=5)
        sock.sendall(b"POST /v1/chat/completions?delay=0.2 HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        received = b""
        while b"data:" not in received:
            received += sock.recv(4096)
        sock.close()
        deadline = time.monotonic() + 5
        while proxy.active and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proxy.active == 0
        assert proxy.exchanges[-1].error is not None  # recorded with the reason it stopped
        assert chat(client(proxy.url)).status == 200  # still serving


def test_upstream_failure_gives_502() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with FaultProxy(f"http://127.0.0.1:{port}", ["drop-done"]) as proxy:
        ex = chat(client(proxy.url))
    assert ex.status == 502 and ex.json()["error"]["type"] == "upstream_error"


def _boom(*args: Any) -> Any:
    raise ValueError("hook bug")


def _events_boom_after_first(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    for i, event in enumerate(events):
        if i == 1:
            raise ValueError("hook bug mid-stream")
        yield event


def _events_pass(ctx: FaultContext, events: Iterator[Event]) -> Iterator[Event]:
    yield from events


def test_a_raising_response_hook_is_counted_and_answered_500(upstream: str) -> None:
    fault = Fault("boom-response", "raises", ("OAI-ERR-001",), False, (), Hooks(response=_boom))
    with FaultProxy(upstream, [fault]) as proxy:
        ex = chat(client(proxy.url))
        assert chat(client(proxy.url), stream=True).status == 200  # no response hook on streams
    assert ex.status == 500 and ex.json()["error"]["type"] == "fault_hook_error"
    assert ex.header(HOOK_ERROR_HEADER) == "boom-response" and "hook bug" in ex.json()["error"]["message"]
    assert proxy.hook_errors == {"boom-response": 1}


def test_a_raising_events_hook_mid_stream_cuts_the_stream_and_is_counted(upstream: str) -> None:
    fault = Fault("boom-events", "raises", ("OAI-STREAM-002",), False, (), Hooks(events=_events_boom_after_first))
    with FaultProxy(upstream, [fault, FAULTS["crlf"]]) as proxy:
        with pytest.raises(TransportError, match="incomplete chunked read"):  # truncated: no final chunk
            chat(client(proxy.url), stream=True)
    assert proxy.hook_errors == {"boom-events": 1}


def test_an_upstream_failure_is_not_blamed_on_the_hooks() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    fault = Fault("pass-events", "passes", ("OAI-STREAM-002",), False, (), Hooks(events=_events_pass))
    with FaultProxy(f"http://127.0.0.1:{port}", [fault]) as proxy:
        assert chat(client(proxy.url), stream=True).status == 502
    assert proxy.hook_errors == {}


def test_head_keeps_the_declared_length_and_sends_no_body(upstream: str) -> None:
    with FaultProxy(upstream, ["unknown-fields"]) as proxy:
        ex = client(proxy.url).request("HEAD", "/v1/models")
    assert ex.status == 200 and ex.body == b"" and ex.header("content-length") == "123"


def test_unknown_fault_is_a_clear_error(upstream: str) -> None:
    with pytest.raises(UnknownFault, match=r"no-such-fault.*--list"):
        FaultProxy(upstream, ["drop-done,no-such-fault"])


def test_cli_list_and_usage_errors(capsys: pytest.CaptureFixture[str], upstream: str) -> None:
    assert faults_main(["--list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "REQUIREMENTS", "DESCRIPTION"]
    for name, fault in FAULTS.items():
        row = next(line for line in lines if line.split()[0] == name)
        assert row.split()[1] == ("neutral" if fault.neutral else "fault")
        assert row.split()[2] == (",".join(fault.requirements) or "-")
    assert faults_main(["--upstream", upstream, "--fault", "nope"]) == 2
    assert "--list" in capsys.readouterr().err
    assert faults_main(["--fault", "drop-done"]) == 2
    assert faults_main(["--upstream", upstream, "--listen", "nonsense"]) == 2


def test_cli_serves_until_sigterm(upstream: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance.faults", "--upstream", upstream, "--fault", "drop-done,crlf"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("FAULT_PROXY_URL=http://127.0.0.1:"), line
        stream = chat_stream(client(line.split("=", 1)[1]))
        assert stream.done_count == 0 and stream.exchange.body.count(b"\r\n") > 0
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()

