"""The context-window faults of the fault proxy (issue 9 §6), offline.

A canned upstream with a real window (:data:`WINDOW` tokens; a token is a whitespace-separated
word of the prompt, no template overhead) rejects over-window prompts with 400 (llama.cpp's
wording on the OpenAI routes, Anthropic's on /v1/messages), rejects invalid output limits with 400,
bills the whole prompt, generates up to the output limit (to the window when there is none) and
states its window on ``/v1/models`` (llama.cpp ``meta.n_ctx``; ``?style=vllm``: ``max_model_len``)
and ``/props``. For every context fault, each scenario runs a check of a declared requirement: it
passes against the upstream directly and fails through the proxy with that fault, under that
requirement ID. The hooks themselves are tested as the pure functions they are.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from conformance.faults import FAULTS, FaultProxy
from conformance.faults.hooks import context as hooks
from conformance.faults.model import CHAT, MODELS, Fault, FaultContext, Hold, Hooks, Request, Response
from conformance.harness import sse
from conformance.harness.checks import context as ctx_checks
from conformance.harness.checks import token_limits as limit_checks
from conformance.harness.client import Client, Timeouts
from conformance.harness.exchange import Exchange
from conformance.harness.failures import EndpointTimeout, TransportError
from conformance.harness.schemas import SchemaSet
from tests.fake_upstream import TIMEOUTS, _close_clients, client, schemas, serve  # noqa: F401 (fixtures)
from tests.test_faults import assert_fault_caught

WINDOW = 2000
WORD = "apple"
ANT_HEADERS = {"anthropic-version": "2023-06-01"}
CONTEXT_FAULTS = ("silent-truncation", "overflow-500", "overflow-hang", "models-window-mismatch",
                  "max-tokens-ignored")
LLAMA_OVERFLOW = {"error": {"code": 400, "message": "request (2144 tokens) exceeds the available context size "
                            "(2048 tokens), try increasing it", "type": "exceed_context_size_error",
                            "n_prompt_tokens": 2144, "n_ctx": 2048}}


# --- the windowed upstream ------------------------------------------------------------------------


def words(n: int) -> str:
    return " ".join([WORD] * n)


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, dict):
        for key in ("content", "text", "input", "prompt"):
            if key in value:
                yield from _texts(value[key])


def prompt_tokens(req: dict[str, Any]) -> int:
    fields = ("messages", "prompt", "input", "system", "instructions")
    return sum(len(t.split()) for f in fields if f in req for t in _texts(req[f]))


_LIMIT_FIELD = {"/v1/chat/completions": ("max_completion_tokens", "max_tokens"), "/v1/completions": ("max_tokens",),
                "/v1/responses": ("max_output_tokens",), "/v1/messages": ("max_tokens",)}


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]] = []

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return

    def _json(self, status: int, value: Any) -> None:
        data = json.dumps(value).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, path: str, message: str, kind: str = "invalid_request_error", **extra: Any) -> None:
        if path == "/v1/messages":
            self._json(400, {"type": "error", "error": {"type": kind, "message": message}})
        else:
            self._json(400, {"error": {"message": message, "type": kind, "param": None, "code": None, **extra}})

    def do_GET(self) -> None:  # noqa: N802
        split = urlsplit(self.path)
        if split.path == "/v1/models":
            entry: dict[str, Any] = {"id": "stub", "object": "model", "created": 1, "owned_by": "test"}
            if "vllm" in parse_qs(split.query).get("style", []):
                entry["max_model_len"] = WINDOW
            else:
                entry["meta"] = {"n_ctx": WINDOW, "n_ctx_train": 32768}
            self._json(200, {"object": "list", "data": [entry]})
        elif split.path == "/props":
            self._json(200, {"default_generation_settings": {"n_ctx": WINDOW, "params": {"n_predict": -1}},
                             "total_slots": 1})
        else:
            self._json(404, {"error": {"message": "not found", "type": "not_found", "code": 404}})

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        req = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        self.seen.append({"path": path, "body": req})
        if path not in _LIMIT_FIELD:
            self._json(404, {"error": {"message": "not found", "type": "not_found", "code": 404}})
            return
        n = prompt_tokens(req)
        if n > WINDOW:
            if path == "/v1/messages":
                self._error(path, f"prompt is too long: {n} tokens > {WINDOW} maximum")
            else:
                self._error(path, f"request ({n} tokens) exceeds the available context size ({WINDOW} tokens), "
                            "try increasing it", "exceed_context_size_error", n_prompt_tokens=n, n_ctx=WINDOW)
            return
        limit = next((req[f] for f in _LIMIT_FIELD[path] if f in req), None)
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            self._error(path, f"max_tokens must be a positive integer, got {limit!r}")
            return
        room = WINDOW - n  # the canned model never ends its turn: it stops at the limit or the window
        out = room if limit is None else min(limit, room)
        if req.get("stream"):
            self._stream(path, req, n, out)
        else:
            self._json(200, _body(path, n, out))

    def _stream(self, path: str, req: dict[str, Any], n: int, out: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for event in _events(path, req, n, out):
                data = sse.serialize([event])
                self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True


def _body(path: str, n: int, out: int) -> dict[str, Any]:
    text = " ".join(["x"] * out)
    if path == "/v1/chat/completions":
        return {"id": "c1", "object": "chat.completion", "created": 1, "model": "stub",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length",
                             "logprobs": None}],
                "usage": {"prompt_tokens": n, "completion_tokens": out, "total_tokens": n + out}}
    if path == "/v1/completions":
        return {"id": "c1", "object": "text_completion", "created": 1, "model": "stub",
                "choices": [{"index": 0, "text": text, "finish_reason": "length", "logprobs": None}],
                "usage": {"prompt_tokens": n, "completion_tokens": out, "total_tokens": n + out}}
    if path == "/v1/responses":
        return {"id": "r1", "object": "response", "created_at": 1, "status": "incomplete", "model": "stub",
                "incomplete_details": {"reason": "max_output_tokens"}, "output": [],
                "usage": {"input_tokens": n, "output_tokens": out, "total_tokens": n + out}}
    return {"id": "m1", "type": "message", "role": "assistant", "model": "stub",
            "content": [{"type": "text", "text": text}], "stop_reason": "max_tokens", "stop_sequence": None,
            "usage": {"input_tokens": n, "output_tokens": out}}


def _events(path: str, req: dict[str, Any], n: int, out: int) -> Iterator[tuple[str | None, str]]:
    if path in ("/v1/chat/completions", "/v1/completions"):
        chat = path == "/v1/chat/completions"
        base = {"id": "c1", "object": "chat.completion.chunk" if chat else "text_completion", "created": 1,
                "model": "stub"}

        def choice(text: str | None, finish: str | None) -> dict[str, Any]:
            if chat:
                return {"index": 0, "delta": {} if text is None else {"content": text}, "finish_reason": finish}
            return {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}

        if chat:
            yield None, json.dumps({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                         "finish_reason": None}]})
        for _ in range(out):
            yield None, json.dumps({**base, "choices": [choice("x ", None)]})
        yield None, json.dumps({**base, "choices": [choice(None, "length")]})
        if (req.get("stream_options") or {}).get("include_usage"):
            yield None, json.dumps({**base, "choices": [], "usage": {
                "prompt_tokens": n, "completion_tokens": out, "total_tokens": n + out}})
        yield None, "[DONE]"
    elif path == "/v1/responses":
        for _ in range(out):
            yield "response.output_text.delta", json.dumps({"type": "response.output_text.delta", "delta": "x "})
        final = _body(path, n, out)
        yield "response.incomplete", json.dumps({"type": "response.incomplete", "response": final})
    else:
        start = {"id": "m1", "type": "message", "role": "assistant", "model": "stub", "content": [],
                 "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": n, "output_tokens": 0}}
        events: list[dict[str, Any]] = [
            {"type": "message_start", "message": start},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}]
        for e in events:
            yield e["type"], json.dumps(e)
        for _ in range(out):
            yield "content_block_delta", json.dumps({"type": "content_block_delta", "index": 0,
                                                     "delta": {"type": "text_delta", "text": "x "}})
        for e in ({"type": "content_block_stop", "index": 0},
                  {"type": "message_delta", "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
                   "usage": {"output_tokens": out}},
                  {"type": "message_stop"}):
            yield e["type"], json.dumps(e)


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    yield from serve(Upstream)


# --- requests, as the context tests send them ------------------------------------------------------

FITS, OVER = WINDOW - 200, WINDOW + 5  # prompt sizes (tokens): leaves room for the output / a few over


def send(c: Client, api: str, n: int, *, stream: bool = False, stop: Any = None, **extra: Any) -> Exchange:
    """One request of ``api`` with a prompt of ``n`` tokens; a timeout comes back as the recorded
    exchange (``status`` None, ``error`` set), as the suite's tests turn it into a verdict."""
    text = words(n)
    path, body = {
        "chat": ("/v1/chat/completions", {"messages": [{"role": "user", "content": text}], "max_tokens": 8}),
        "completions": ("/v1/completions", {"prompt": text, "max_tokens": 8}),
        "responses": ("/v1/responses", {"input": text, "max_output_tokens": 8}),
        "messages": ("/v1/messages", {"messages": [{"role": "user", "content": text}], "max_tokens": 8}),
    }[api]
    body = {"model": "stub", **body, **extra}
    if stream:
        body["stream"] = True
    headers = ANT_HEADERS if api == "messages" else None
    try:
        return c.request("POST", path, json=body, stream=stream, headers=headers, stop=stop)
    except (EndpointTimeout, TransportError):
        return c.log[-1][0]


def usage_of(ex: Exchange) -> dict[str, Any]:
    """The usage of a non-streamed answer."""
    return ex.json()["usage"]


def advertised_window(c: Client, query: str = "") -> int:
    entry = c.request("GET", "/v1/models" + query).json()["data"][0]
    return entry.get("max_model_len") or entry["meta"]["n_ctx"]


def budget(n: int) -> Callable[[Exchange], str | None]:
    """Stop reading a stream after ``n`` events (the suite's client-side budget)."""
    return lambda ex: f"budget of {n} events spent" if ex.sse is not None and len(ex.sse.events) > n else None


# --- one scenario per (fault, requirement, mode) ---------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    fault: str
    requirement: str
    label: str
    run: Callable[[Client, SchemaSet], None]
    timeouts: Timeouts = TIMEOUTS

    @property
    def id(self) -> str:
        return f"{self.fault}:{self.requirement}:{self.label}"


def _fits_whole(api: str, *, stream: bool = False) -> Callable[[Client, SchemaSet], None]:
    def run(c: Client, s: SchemaSet) -> None:
        if stream:
            ex = send(c, api, FITS, stream=True, stream_options={"include_usage": True})
            ctx_checks.fitting_prompt_answered(ex)
            usage = json.loads([e.data for e in ex.sse.events if e.data != "[DONE]"][-1])["usage"]
        else:
            ex = send(c, api, FITS)
            ctx_checks.fitting_prompt_answered(ex)
            usage = usage_of(ex)
        ctx_checks.prompt_processed_whole(usage, api=api, sent=FITS, tolerance=2)
    return run


def _messages_fit_whole(c: Client, s: SchemaSet) -> None:
    ex = send(c, "messages", FITS)
    ctx_checks.messages_fitting_prompt_answered(ex)
    ctx_checks.messages_prompt_processed_whole(usage_of(ex), sent=FITS, tolerance=2)


def _over_rejected(api: str, *, stream: bool = False) -> Callable[[Client, SchemaSet], None]:
    def run(c: Client, s: SchemaSet) -> None:
        ex = send(c, api, OVER, stream=stream, stop=budget(20) if stream else None)
        if api == "messages":
            ctx_checks.messages_over_window_prompt_rejected(ex, schemas=s)
        else:
            ctx_checks.over_window_prompt_rejected(ex, schemas=s)
    return run


def _enforced_is_advertised(c: Client, s: SchemaSet) -> None:
    window = advertised_window(c)
    ctx_checks.overflow_limit_matches_window(send(c, "chat", window + 5), window=window)


def _invalid_limit_rejected(api: str, param: str, value: Any) -> Callable[[Client, SchemaSet], None]:
    """An invalid output limit, streamed under a client budget (as test_token_limits.py sends it)."""
    def run(c: Client, s: SchemaSet) -> None:
        ex = send(c, api, 10, stream=True, stop=budget(40), **{param: value})
        if api == "messages":
            limit_checks.invalid_max_tokens_rejected(ex, schemas=s)
        else:
            limit_checks.invalid_token_limit_rejected(ex, schemas=s)
    return run


def _stated_limit_is_advertised(c: Client, s: SchemaSet) -> None:
    window = advertised_window(c)
    ctx_checks.overflow_error_names_the_limit(send(c, "messages", window + 5), window=window)


HANG = Timeouts(connect_s=5, read_s=1, stream_idle_s=1, total_s=5)

CONTEXT_SCENARIOS: list[Scenario] = [
    Scenario("silent-truncation", "OAI-CTX-003", "chat", _fits_whole("chat")),
    Scenario("silent-truncation", "OAI-CTX-003", "completions-stream", _fits_whole("completions", stream=True)),
    Scenario("silent-truncation", "OAI-CTX-003", "responses", _fits_whole("responses")),
    Scenario("silent-truncation", "OAI-CTX-004", "chat", _over_rejected("chat")),
    Scenario("silent-truncation", "OAI-CTX-004", "chat-stream", _over_rejected("chat", stream=True)),
    Scenario("silent-truncation", "ANT-CTX-001", "messages", _messages_fit_whole),
    Scenario("silent-truncation", "ANT-CTX-002", "messages-stream", _over_rejected("messages", stream=True)),
    Scenario("overflow-500", "OAI-CTX-004", "completions", _over_rejected("completions")),
    Scenario("overflow-500", "OAI-CTX-004", "responses-stream", _over_rejected("responses", stream=True)),
    Scenario("overflow-500", "ANT-CTX-002", "messages", _over_rejected("messages")),
    Scenario("overflow-hang", "OAI-CTX-004", "chat", _over_rejected("chat"), HANG),
    Scenario("overflow-hang", "OAI-CTX-004", "chat-stream", _over_rejected("chat", stream=True), HANG),
    Scenario("overflow-hang", "ANT-CTX-002", "messages-stream", _over_rejected("messages", stream=True), HANG),
    Scenario("models-window-mismatch", "OAI-CTX-001", "enforced", _enforced_is_advertised),
    Scenario("models-window-mismatch", "OAI-CTX-005", "stated-limit", _stated_limit_is_advertised),
    Scenario("max-tokens-ignored", "OAI-CTX-009", "chat-max-tokens-minus-two",
             _invalid_limit_rejected("chat", "max_tokens", -2)),
    Scenario("max-tokens-ignored", "OAI-CTX-009", "responses-max-output-tokens-zero",
             _invalid_limit_rejected("responses", "max_output_tokens", 0)),
    Scenario("max-tokens-ignored", "ANT-CTX-004", "messages-max-tokens-fractional",
             _invalid_limit_rejected("messages", "max_tokens", 1.5)),
]


@pytest.mark.parametrize("scenario", CONTEXT_SCENARIOS, ids=lambda sc: sc.id)
def test_context_fault_is_caught_by_its_requirement(upstream: str, schemas: SchemaSet, scenario: Scenario) -> None:
    assert_fault_caught(upstream, schemas, scenario, lambda url: client(url, scenario.timeouts))


def test_the_context_faults_are_in_the_table() -> None:
    for name in CONTEXT_FAULTS:
        fault = FAULTS[name]
        assert not fault.neutral and fault.requirements
        assert all(r.startswith(("OAI-CTX-", "ANT-CTX-")) for r in fault.requirements)
    assert FAULTS["models-window-mismatch"].routes == (MODELS, hooks.PROPS)
    assert CHAT in FAULTS["silent-truncation"].routes and "/v1/messages/count_tokens" not in \
        FAULTS["silent-truncation"].routes  # the tokenizer the suite sizes prompts with is left alone
    assert FAULTS["overflow-500"].name != "context-overflow-500"  # that one: every chat 4xx, OAI-ERR-001


# --- the hooks, as pure functions ------------------------------------------------------------------


def _ctx(path: str = CHAT) -> FaultContext:
    return FaultContext(request=Request("POST", path))


def _request(path: str, body: dict[str, Any]) -> Request:
    return Request("POST", path, headers=(("content-type", "application/json"),),
                   body=json.dumps(body).encode("utf-8"))


def test_cut_middle_keeps_the_first_and_last_quarters() -> None:
    text = "".join(str(i % 10) for i in range(400))
    cut = hooks.cut_middle(text)
    assert cut == text[:100] + text[300:] and len(cut) == 200
    assert hooks.cut_middle("") == ""


@pytest.mark.parametrize("path,body,where", [
    ("/v1/chat/completions", {"messages": [{"role": "system", "content": "Be brief."},
                                           {"role": "user", "content": "LONG"}], "max_tokens": 4},
     lambda b: b["messages"][1]["content"]),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "text", "text": "LONG"}]}]},
     lambda b: b["messages"][0]["content"][0]["text"]),
    ("/v1/completions", {"prompt": "LONG", "max_tokens": 4}, lambda b: b["prompt"]),
    ("/v1/completions", {"prompt": ["LONG"], "max_tokens": 4}, lambda b: b["prompt"][0]),
    ("/v1/responses", {"input": "LONG", "truncation": "disabled"}, lambda b: b["input"]),
    ("/v1/responses", {"input": [{"type": "message", "role": "user",
                                  "content": [{"type": "input_text", "text": "LONG"}]}]},
     lambda b: b["input"][0]["content"][0]["text"]),
    ("/v1/messages", {"system": "LONG", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
     lambda b: b["system"]),
    ("/v1/messages", {"messages": [{"role": "user", "content": [{"type": "text", "text": "LONG"}]}], "max_tokens": 4},
     lambda b: b["messages"][0]["content"][0]["text"]),
])
def test_silent_truncation_cuts_the_prompt_of_long_requests(path: str, body: dict[str, Any],
                                                            where: Callable[[Any], str]) -> None:
    long_text = words(2000)
    raw = json.loads(json.dumps(body).replace('"LONG"', json.dumps(long_text)))
    out = hooks.truncate_long_prompt(_ctx(path), _request(path, raw))
    sent = out.json
    assert where(sent) == hooks.cut_middle(long_text)
    assert len(where(sent)) < len(long_text) * 0.6
    # everything else goes upstream as the client sent it
    assert {k: v for k, v in sent.items() if k not in ("messages", "prompt", "input", "system")} == \
        {k: v for k, v in raw.items() if k not in ("messages", "prompt", "input", "system")}
    assert out.header("content-type") == "application/json"


def test_silent_truncation_leaves_short_requests_and_other_fields_alone() -> None:
    short = _request(CHAT, {"messages": [{"role": "user", "content": words(100)}]})
    assert hooks.truncate_long_prompt(_ctx(), short) is short
    # a big body whose bulk is not prompt text (a long tool description) is not cut
    tools = [{"type": "function", "function": {"name": "f", "description": words(2000), "parameters": {}}}]
    big = _request(CHAT, {"messages": [{"role": "user", "content": "hi"}], "tools": tools})
    assert hooks.truncate_long_prompt(_ctx(), big) is big
    assert hooks.truncate_long_prompt(_ctx(), Request("POST", CHAT, body=b"x" * 10_000)).body == b"x" * 10_000
    get = Request("GET", CHAT, body=None)
    assert hooks.truncate_long_prompt(_ctx(), get) is get


@pytest.mark.parametrize("status,body,exceeded", [
    (400, LLAMA_OVERFLOW, True),
    (400, {"object": "error", "message": "This model's maximum context length is 8192 tokens. However, you "
           "requested 8200 tokens (8195 in the messages, 5 in the completion).", "type": "BadRequestError",
           "code": 400}, True),
    (400, {"error": {"message": "...", "type": "invalid_request_error", "code": "context_length_exceeded"}}, True),
    (400, {"type": "error", "error": {"type": "invalid_request_error",
                                      "message": "prompt is too long: 210000 tokens > 200000 maximum"}}, True),
    (413, {"error": {"message": "The input (9000 tokens) is longer than the model's context length (8192 tokens)."}},
     True),
    (400, {"error": {"message": "'messages' is required", "type": "invalid_request_error"}}, False),
    (401, {"error": {"message": "invalid api key"}}, False),
    (500, LLAMA_OVERFLOW, False),
    (200, {"choices": [{"message": {"content": "the context window is 4096 tokens"}}]}, False),
])
def test_context_exceeded_answers_are_recognised(status: int, body: Any, exceeded: bool) -> None:
    response = Response.json_answer(status, body)
    assert hooks.is_context_exceeded(response) is exceeded
    turned = hooks.overflow_to_500(_ctx(), response)
    held = hooks.overflow_hang(_ctx(), response)
    if exceeded:
        assert turned.status == 500 and turned.body == response.body and turned.headers == response.headers
        assert isinstance(held, Hold)
    else:
        assert turned is response and held is response


def test_advertised_window_is_doubled_on_models_and_props() -> None:
    llama = {"object": "list", "data": [{"id": "m", "meta": {"n_ctx": 2048, "n_ctx_train": 32768}}]}
    out = hooks.advertise_double_window(_ctx(MODELS), json.loads(json.dumps(llama)))
    assert out["data"][0]["meta"] == {"n_ctx": 4096, "n_ctx_train": 32768}
    assert out["data"][0]["max_model_len"] == 4096  # added, agreeing with the doubled n_ctx
    vllm = {"object": "list", "data": [{"id": "m", "max_model_len": 8192}, "junk"]}
    assert hooks.advertise_double_window(_ctx(MODELS), json.loads(json.dumps(vllm)))["data"][0]["max_model_len"] == \
        16384
    plain = {"object": "list", "data": [{"id": "m"}]}
    assert hooks.advertise_double_window(_ctx(MODELS), json.loads(json.dumps(plain))) == plain  # nothing stated
    props = {"default_generation_settings": {"n_ctx": 2048, "params": {"n_predict": -1}}, "total_slots": 2}
    out = hooks.advertise_double_window(_ctx(hooks.PROPS), json.loads(json.dumps(props)))
    assert out["default_generation_settings"]["n_ctx"] == 4096 and out["total_slots"] == 2
    assert hooks.advertise_double_window(_ctx(hooks.PROPS), ["not", "a", "dict"]) == ["not", "a", "dict"]


@pytest.mark.parametrize("body", [
    {"messages": [], "max_tokens": 4},
    {"messages": [], "max_completion_tokens": 4, "max_tokens": 8},
    {"prompt": "x", "max_tokens": -2},
    {"input": "x", "max_output_tokens": 0},
])
def test_token_limits_are_stripped(body: dict[str, Any]) -> None:
    out = hooks.strip_token_limits(_ctx(), _request(CHAT, body)).json
    assert not set(out) & set(hooks.TOKEN_LIMIT_FIELDS)
    assert {k: v for k, v in body.items() if k not in hooks.TOKEN_LIMIT_FIELDS} == out
    untouched = _request(CHAT, {"messages": []})
    assert hooks.strip_token_limits(_ctx(), untouched) is untouched


# --- through the proxy -----------------------------------------------------------------------------


def test_silent_truncation_through_the_proxy_bills_fewer_tokens(upstream: str) -> None:
    with FaultProxy(upstream, ["silent-truncation"]) as proxy:
        c = client(proxy.url)
        fits = send(c, "chat", FITS)
        over = send(c, "messages", OVER)
        small = send(c, "chat", 100)
    assert fits.status == 200 and abs(usage_of(fits)["prompt_tokens"] - FITS // 2) <= 1
    assert over.status == 200 and abs(usage_of(over)["input_tokens"] - OVER // 2) <= 1
    assert small.status == 200 and usage_of(small)["prompt_tokens"] == 100  # a small body is not cut


def test_max_tokens_ignored_through_the_proxy(upstream: str) -> None:
    with FaultProxy(upstream, ["max-tokens-ignored"]) as proxy:
        c = client(proxy.url)
        ex = send(c, "chat", 10, max_tokens=4, max_completion_tokens=4)
        stream = send(c, "messages", 10, stream=True, max_tokens=-2, stop=budget(30))
    assert Upstream.seen[-2]["body"].get("max_tokens") is None and "max_completion_tokens" not in Upstream.seen[-2][
        "body"]
    assert ex.status == 200 and usage_of(ex)["completion_tokens"] == WINDOW - 10  # ran to the window
    assert stream.status == 200 and stream.stopped  # -2 would have been rejected: the client had to stop it


def test_models_window_mismatch_through_the_proxy(upstream: str) -> None:
    with FaultProxy(upstream, ["models-window-mismatch"]) as proxy:
        c = client(proxy.url)
        assert advertised_window(c) == 2 * WINDOW
        assert advertised_window(c, "?style=vllm") == 2 * WINDOW
        assert c.request("GET", "/props").json()["default_generation_settings"]["n_ctx"] == 2 * WINDOW
        enforced = send(c, "chat", WINDOW + 1)  # the server still enforces its own window
    assert enforced.status == 400 and enforced.json()["error"]["n_ctx"] == WINDOW


def test_overflow_500_keeps_the_body_and_spares_other_errors(upstream: str) -> None:
    with FaultProxy(upstream, ["overflow-500"]) as proxy:
        c = client(proxy.url)
        over = send(c, "chat", OVER)
        invalid = send(c, "chat", 10, max_tokens=-2)
        fine = send(c, "chat", 10)
    assert over.status == 500 and "exceeds the available context size" in over.json()["error"]["message"]
    assert invalid.status == 400 and fine.status == 200


# --- the hang: the proxy holds the connection, the client gives up --------------------------------


def test_overflow_hang_holds_until_the_client_gives_up(upstream: str) -> None:
    with FaultProxy(upstream, ["overflow-hang"]) as proxy:
        c = client(proxy.url, HANG)
        t0 = time.monotonic()
        ex = send(c, "chat", OVER)
        waited = time.monotonic() - t0
        assert ex.status is None and "timeout" in (ex.error or "").lower()
        assert 0.9 <= waited < 4  # the client's read timeout (1 s), not the hold limit
        fine = send(c, "chat", 10)  # other requests are answered
        assert fine.status == 200
        deadline = time.monotonic() + 5
        while proxy.active and time.monotonic() < deadline:  # the held request ends once the client left
            time.sleep(0.05)
        assert proxy.active == 0
    assert proxy.hook_errors == {}


def _raw_post(url: str, body: dict[str, Any], timeout: float) -> tuple[socket.socket, float]:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    data = json.dumps(body).encode()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(data), data))
    return sock, time.monotonic()


def test_a_hold_ends_at_the_hold_limit_or_when_the_proxy_stops(upstream: str) -> None:
    body = {"model": "stub", "messages": [{"role": "user", "content": words(OVER)}], "max_tokens": 8}
    with FaultProxy(upstream, ["overflow-hang"], hold_limit_s=0.5) as proxy:
        sock, t0 = _raw_post(proxy.url, body, timeout=5)
        assert sock.recv(100) == b""  # closed, unanswered: no status line was ever sent
        assert 0.4 <= time.monotonic() - t0 < 4
        sock.close()
    proxy = FaultProxy(upstream, ["overflow-hang"])  # default limit: 15 minutes
    proxy.start()
    sock, t0 = _raw_post(proxy.url, body, timeout=5)
    time.sleep(0.3)
    proxy.stop()
    assert sock.recv(100) == b"" and time.monotonic() - t0 < 4
    sock.close()
    with pytest.raises(Exception, match="hold_limit_s"):
        FaultProxy(upstream, ["overflow-hang"], hold_limit_s=0)


def test_a_head_hook_may_hold_a_stream(upstream: str) -> None:
    held = Fault("hold-streams", "every event stream is held", ("OAI-CTX-004",), False, (CHAT,),
                 Hooks(head=lambda ctx, head: Hold("stream")))
    with FaultProxy(upstream, [held]) as proxy:  # type: ignore[list-item]
        c = client(proxy.url, HANG)
        ex = send(c, "chat", 10, stream=True)
        plain = send(c, "chat", 10)
    assert ex.status is None and plain.status == 200
