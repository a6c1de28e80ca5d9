"""Capability discovery (conformance.harness.discovery) against mock endpoints built on
``httpx.MockTransport``: a llama.cpp-like server, a NIM-like server, a minimal one, a 5xx probe,
404 routes, an unreachable endpoint; the decision table; the discovered profile's TOML round trip;
and the plugin wiring (``--endpoint URL`` without ``--profile`` discovers) through pytester."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from conformance.harness import capabilities as caps
from conformance.harness import discovery, profiles
from conformance.harness.client import Client
from conformance.harness.failures import EndpointTimeout

KEY = "sk-discovery-test-key-000111"
Handler = Callable[[httpx.Request], httpx.Response]


def _chat_body(message: dict[str, Any], n: int = 1, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": i, "message": {"role": "assistant", **message}, "finish_reason": "length"}
                        for i in range(n)],
            "usage": usage or {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


def _sse(*chunks: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def _stream(request_body: dict[str, Any]) -> httpx.Response:
    chunks: list[dict[str, Any]] = [{"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                                     "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "length"}]}]
    if (request_body.get("stream_options") or {}).get("include_usage"):
        chunks.append({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [],
                       "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=_sse(*chunks))


def _error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "type": "invalid_request_error"}})


def llama_like(*, overrides: dict[str, Handler] | None = None) -> Handler:
    """llama-server: /props, owned_by llamacpp, key enforced except on /v1/models, unknown fields
    ignored, reasoning_content only with enable_thinking, no NIM routes."""
    overrides = overrides or {}

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path in overrides:
            return overrides[path](request)
        if path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": [{"id": "gemma", "object": "model",
                                                                          "owned_by": "llamacpp"}]})
        if request.headers.get("authorization") != f"Bearer {KEY}" and request.headers.get("x-api-key") != KEY:
            return httpx.Response(401, json={"error": {"message": "Invalid API Key", "type": "authentication_error"}})
        body = json.loads(request.content) if request.content else {}
        if path == "/props":
            return httpx.Response(200, json={"default_generation_settings": {}, "total_slots": 2,
                                             "chat_template": "{{ messages }} <tool_call><function=x><parameter=y>"})
        if path == "/v1/chat/completions":
            if body.get("stream"):
                return _stream(body)
            thinking = (body.get("chat_template_kwargs") or {}).get("enable_thinking")
            message = {"content": "Hello", **({"reasoning_content": "17 is odd"} if thinking else {})}
            if body.get("tools") and "<function=get_weather>" in body["messages"][-1]["content"]:
                message = {"content": None, "tool_calls": [{"id": "t1", "type": "function", "function": {
                    "name": "get_weather", "arguments": '{"location": "Paris"}'}}]}
            return httpx.Response(200, json=_chat_body(message, n=body.get("n", 1)))
        if path == "/v1/completions":
            return httpx.Response(200, json={"object": "text_completion", "choices": [{"text": " there", "index": 0}]})
        if path == "/v1/responses":
            return httpx.Response(200, json={"object": "response", "id": "r1", "output": []})
        if path == "/v1/messages":
            return httpx.Response(200, json={"type": "message", "id": "m1", "content": []})
        if path == "/v1/messages/count_tokens":
            return httpx.Response(200, json={"input_tokens": 3})
        return httpx.Response(404, json={"error": {"message": "File Not Found", "type": "not_found_error"}})

    return handler


def nim_like() -> Handler:
    """NIM on vLLM: health and metadata routes, thinks by default into 'reasoning', reports
    reasoning tokens and honours thinking_token_budget, rejects unknown fields and n > 1."""

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body = json.loads(request.content) if request.content else {}
        if path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": [
                {"id": "nvidia/nemotron", "object": "model", "owned_by": "system", "max_model_len": 8192}]})
        if path in ("/v1/health/live", "/v1/health/ready"):
            return httpx.Response(200, json={"object": "health.response", "message": "ok"})
        if path == "/v1/metadata":
            return httpx.Response(200, json={"modelInfo": []})
        if path == "/v1/chat/completions":
            extra = set(body) - {"model", "messages", "max_tokens", "temperature", "stream", "stream_options",
                                 "n", "logprobs", "top_logprobs", "seed", "stop", "response_format", "tools",
                                 "tool_choice", "parallel_tool_calls", "chat_template_kwargs",
                                 "thinking_token_budget"}
            if extra:
                return _error(400, f"Extra inputs are not permitted: {sorted(extra)[0]}")
            if body.get("n", 1) > 1:
                return _error(400, "n: only n=1 is supported with this model")
            if body.get("stream"):
                return _stream(body)
            thinking = (body.get("chat_template_kwargs") or {}).get("enable_thinking", True)
            spent = min(body.get("thinking_token_budget", 5), 5) if thinking else 0
            usage = {"prompt_tokens": 3, "completion_tokens": 8, "total_tokens": 11,
                     "completion_tokens_details": {"reasoning_tokens": spent}}
            message = {"content": "Yes", **({"reasoning": "17 has no divisors"} if thinking else {})}
            return httpx.Response(200, json=_chat_body(message, usage=usage))
        if path == "/v1/completions":
            return httpx.Response(200, json={"object": "text_completion", "choices": [{"text": "x", "index": 0}]})
        return httpx.Response(404, json={"detail": "Not Found"})

    return handler


def minimal() -> Handler:
    """Only models and chat; stream_options and tools rejected naming the parameter."""

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body = json.loads(request.content) if request.content else {}
        if path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": [{"id": "tiny", "object": "model"}]})
        if path == "/v1/chat/completions":
            if "stream_options" in body:
                return _error(400, "Unrecognized request argument supplied: stream_options")
            if "tools" in body:
                return _error(400, "'tools' is not supported")
            if "response_format" in body:
                return _error(422, "unprocessable")
            if body.get("stream"):
                return _stream(body)
            return httpx.Response(200, json=_chat_body({"content": "Hi"}))
        if path == "/v1/messages":
            return httpx.Response(405, text="Method Not Allowed")
        return httpx.Response(404, text="not found")

    return handler


def _client(handler: Handler, key: str | None = KEY) -> Client:
    return Client("http://h.test", api_key=key, transport=httpx.MockTransport(handler))


def _on(found: discovery.Discovery) -> set[str]:
    return set(found.capabilities)


def test_llama_cpp_like_endpoint():
    found = discovery.discover(_client(llama_like()), has_key=True)
    assert found.server == "llama.cpp" and "/props" in found.server_reason
    assert found.model == "gemma"
    assert _on(found) == {
        "models", "chat", "completions", "responses", "messages", "count_tokens", "auth", "streaming",
        "stream_usage", "n_gt_1", "logprobs", "seed", "stop_sequences", "completions_echo", "completions_logprobs",
        "tools", "tool_choice_required", "tool_choice_named", "parallel_tool_calls", "json_object",
        "json_schema_output", "reasoning", "thinking_toggle"}
    assert found.reasoning_field == "reasoning_content"
    assert found.settings["reasoning_default"] == "off"
    assert "rejects_unknown_fields" not in found.settings  # the unknown field was ignored (200)
    assert found.decisions["nim_health"].reason.endswith("no such route")
    assert "401" in found.decisions["auth"].reason
    # budget: usage reports no reasoning tokens, so a budget cannot be observed
    assert not found.decisions["reasoning_budget"].declared
    assert "reasoning_tokens" in found.decisions["reasoning_budget"].reason
    # no call for the natural prompt, a call when spelled out in the template's XML syntax
    assert set(found.settings["tool_prompts"]) == {"weather-one-call", "weather-two-cities"}
    assert found.settings["tool_prompts"]["weather-one-call"].startswith("<tool_call>\n<function=get_weather>")
    assert found.settings["tool_prompts"]["weather-two-cities"].count("<tool_call>") == 2
    assert set(found.decisions) == set(caps.CAPABILITIES)  # every capability decided, with a reason
    assert all(d.reason for d in found.decisions.values())
    assert 15 <= len(found.probes) <= 24


def test_llama_cpp_props_modalities_decide_the_media_capabilities():
    def props(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"total_slots": 1, "chat_template": "{{ messages }}",
                                         "modalities": {"vision": True, "audio": False, "video": False}})

    calls: list[str] = []
    base = llama_like(overrides={"/props": props})

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.content.decode(errors="replace"))
        return base(request)

    found = discovery.discover(_client(handler), has_key=True)
    assert "vision" in found.capabilities and not {"audio", "video"} & found.capabilities
    assert found.decisions["vision"].reason.startswith("GET /props modalities lists image")
    assert found.decisions["audio"].reason.startswith("GET /props modalities omits audio")
    assert found.settings["input_modalities"] == ["text", "image"]
    assert "OAI-MM-009" in found.setting_reasons["input_modalities"]
    assert not any("image_url" in c or "input_audio" in c or "base64" in c for c in calls)  # no media sent
    assert not {"media_io_kwargs", "audio_in_video"} & found.capabilities


def test_text_only_llama_cpp_states_its_inputs(tmp_path):
    def props(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"total_slots": 1, "modalities": {"vision": False, "audio": False,
                                                                           "video": False}})

    found = discovery.discover(_client(llama_like(overrides={"/props": props})), has_key=True)
    assert not {"vision", "audio", "video"} & found.capabilities
    assert found.settings["input_modalities"] == ["text"]
    found.write(tmp_path / "p.toml")
    text = (tmp_path / "p.toml").read_text()
    assert 'input_modalities = ["text"]' in text and '# "vision",' in text
    loaded = profiles.load(str(tmp_path / "p.toml"))
    assert loaded.settings["input_modalities"] == ["text"] and not loaded.has("vision")


def test_models_input_modalities_of_the_model_under_test():
    """OpenRouter-style ``architecture.input_modalities``, read for the --model entry, not the first."""
    nim = nim_like()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": [
                {"id": "text-model", "object": "model", "architecture": {"input_modalities": ["text"]}},
                {"id": "omni", "object": "model",
                 "architecture": {"input_modalities": ["text", "image", "audio", "video"]}}]})
        return nim(request)

    found = discovery.discover(_client(handler, key=None), model="omni")
    assert {"vision", "audio", "video"} <= found.capabilities
    assert "architecture.input_modalities lists video" in found.decisions["video"].reason
    assert found.settings["input_modalities"] == ["text", "audio", "image", "video"]
    first = discovery.discover(_client(handler, key=None))
    assert first.model == "text-model" and first.settings["input_modalities"] == ["text"]
    assert not {"vision", "audio", "video"} & first.capabilities


def test_no_statement_withholds_the_media_capabilities():
    found = discovery.discover(_client(nim_like(), key=None))
    for name in ("vision", "audio", "video"):
        d = found.decisions[name]
        assert not d.declared and d.reason.startswith("not stated") and "--add-capability" in d.reason
    assert "input_modalities" not in found.settings
    for name in ("media_io_kwargs", "audio_in_video"):
        assert not found.decisions[name].declared and "no media" in found.decisions[name].reason


def test_no_tool_prompts_when_the_natural_prompt_calls():
    def props(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"total_slots": 1, "chat_template": "<tool_call>{{ tools }}</tool_call>"})

    def chat(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("stream"):
            return _stream(body)
        calls = [{"id": "t1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]
        return httpx.Response(200, json=_chat_body({"content": None, "tool_calls": calls} if body.get("tools")
                                                   else {"content": "Hi"}))

    found = discovery.discover(_client(llama_like(overrides={"/props": props, "/v1/chat/completions": chat})),
                               has_key=True)
    assert "tools" in found.capabilities and "tool_prompts" not in found.settings


def test_nim_like_endpoint():
    found = discovery.discover(_client(nim_like(), key=None))
    assert found.server == "nim"
    on = _on(found)
    assert {"nim_health", "nim_metadata", "chat", "streaming", "reasoning", "thinking_toggle",
            "reasoning_budget", "logprobs", "seed", "stop_sequences"} <= on
    assert "n_gt_1" not in on and "naming 'n'" in found.decisions["n_gt_1"].reason  # retried without n
    assert not {"auth", "messages", "responses", "count_tokens"} & on
    assert found.reasoning_field == "reasoning"
    assert found.settings["rejects_unknown_fields"] is True
    assert found.settings["reasoning_default"] == "on"
    assert found.settings["reasoning_off"] == {"chat": {"chat_template_kwargs": {"enable_thinking": False}}}
    assert found.settings["reasoning_budget"] == {"chat": "thinking_token_budget"}
    assert not found.decisions["hosted_reasoning"].declared  # exclude rejected by name (unknown field)


def test_vllm_like_endpoint():
    nim = nim_like()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith(("/v1/health", "/v1/metadata")):
            return httpx.Response(404, json={"detail": "Not Found"})
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": [
                {"id": "Qwen/Qwen3-8B", "object": "model", "owned_by": "vllm", "max_model_len": 32768}]})
        return nim(request)

    found = discovery.discover(_client(handler, key=None))
    assert found.server == "vllm" and "max_model_len" in found.server_reason
    assert not {"nim_health", "nim_metadata"} & found.capabilities
    assert found.model == "Qwen/Qwen3-8B" and found.reasoning_field == "reasoning"


def test_minimal_endpoint_withholds_on_documented_signals():
    found = discovery.discover(_client(minimal(), key=None))
    assert found.server == "unknown"
    on = _on(found)
    assert on == {"models", "chat", "streaming", "n_gt_1", "logprobs", "seed", "stop_sequences"}
    assert "naming 'stream_options'" in found.decisions["stream_usage"].reason
    assert "naming 'tools'" in found.decisions["tools"].reason
    assert "no positive evidence" in found.decisions["json_object"].reason  # 422 not naming it
    assert "405" in found.decisions["messages"].reason
    assert found.reasoning_field == "either"
    assert "no API key" in found.decisions["auth"].reason


def test_a_5xx_probe_declares_the_capability():
    boom = {"/v1/responses": lambda r: httpx.Response(500, json={"error": {"message": "boom"}})}
    found = discovery.discover(_client(llama_like(overrides=boom)), has_key=True)
    assert found.decisions["responses"].declared
    assert "5xx" in found.decisions["responses"].reason and "judge" in found.decisions["responses"].reason


def test_a_timeout_probe_declares_the_capability():
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow")

    found = discovery.discover(_client(llama_like(overrides={"/v1/messages": hang})), has_key=True)
    assert found.decisions["messages"].declared and "probe failed" in found.decisions["messages"].reason


def test_404_routes_withhold():
    gone = {p: (lambda r: httpx.Response(404, text="nope")) for p in ("/v1/completions", "/v1/messages/count_tokens")}
    found = discovery.discover(_client(llama_like(overrides=gone)), has_key=True)
    assert not {"completions", "completions_echo", "completions_logprobs", "count_tokens"} & _on(found)
    assert "404" in found.decisions["completions"].reason


def test_unreachable_endpoint_declares_everything_probed_and_stops():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    found = discovery.discover(_client(refuse), has_key=True)
    assert found.probes and all("error" in p for p in found.probes)  # every probe is a recorded failure
    probed = set(caps.CAPABILITIES) - set(discovery.NOT_PROBED) - {"auth"}
    assert probed <= _on(found)
    assert "unreachable" in found.server_reason


def test_only_the_first_probe_touches_an_unreachable_endpoint():
    calls = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        raise httpx.ConnectError("refused")

    discovery.discover(_client(refuse), has_key=True)
    assert calls == ["/v1/models"]


@pytest.mark.parametrize(("status", "body", "declared", "phrase"), [
    (200, {"object": "chat.completion"}, True, "→ 200"),
    (200, {"object": "something"}, True, "declared so the tests judge it"),
    (404, {}, False, "no such route"),
    (405, {}, False, "no such route"),
    (400, {"error": {"message": "logprobs is not supported"}}, False, "naming 'logprobs'"),
    (400, {"error": {"message": "top_logprobs must be <= 5"}}, False, "no positive evidence"),
    (422, {"detail": [{"loc": ["body", "seed"], "msg": "extra"}]}, False, "naming 'seed'"),
    (401, {}, True, "not a capability signal"),
    (429, {}, True, "not a capability signal"),
    (500, {"error": {"message": "logprobs crashed"}}, True, "5xx is never 'unsupported'"),
    (503, {}, True, "5xx"),
])
def test_decision_table(status, body, declared, phrase):
    client = _client(lambda r: httpx.Response(status, json=body))
    ex = client.request("POST", "/v1/chat/completions", json={})
    v = discovery.read(ex, "x", params=("logprobs", "seed"), shape=discovery._object_is("chat.completion"))
    assert v.declared is declared and phrase in v.reason


def test_decision_table_probe_error():
    v = discovery.read(EndpointTimeout("read timeout (1s)"), "x")
    assert v.declared and "probe failed" in v.reason


def test_parameter_names_match_whole_words_only():
    client = _client(lambda r: httpx.Response(400, text='{"error": "bad\\nvalue for top_logprobs"}'))
    ex = client.request("POST", "/x", json={})
    assert discovery.names(ex, "top_logprobs")
    assert not discovery.names(ex, "logprobs") and not discovery.names(ex, "n")


@pytest.mark.parametrize("make", [llama_like, nim_like, minimal])
def test_discovered_profile_toml_round_trip(tmp_path, make):
    found = discovery.discover(_client(make()), has_key=make is llama_like)
    path = tmp_path / "discovered-profile.toml"
    found.write(path)
    loaded = profiles.load(str(path))
    assert loaded.capabilities == found.capabilities
    assert loaded.server == found.server and loaded.reasoning_field == found.reasoning_field
    assert loaded.settings == found.settings and loaded.deviations == ()
    assert loaded.schema_flavors == ("compat",)
    text = path.read_text()
    for d in found.decisions.values():  # every decision is commented with its reason
        assert d.reason[:40] in text
    probes = json.loads((tmp_path / "discovered-profile.probes.json").read_text())
    assert len(probes["probes"]) == len(found.probes)


def test_toml_values_survive_awkward_strings(tmp_path):
    found = discovery.Discovery(endpoint="http://h", model='a "quoted"\\ name\x7f\n\t😀')
    found.settings = {"weird key": {"x": ["a\"b", 1, 2.5, True]}, "plain": "é"}
    found.setting_reasons = {"plain": "a reason"}
    path = tmp_path / "p.toml"
    found.write(path)
    loaded = profiles.load(str(path))
    assert loaded.settings == found.settings
    assert " ".join(found.model.split()) in loaded.description  # the loader normalises whitespace


def test_probes_are_redacted_records():
    found = discovery.discover(_client(llama_like()), has_key=True)
    assert KEY not in json.dumps(found.probes)
    assert found.probes[0]["request"]["method"] == "GET"


def test_profile_adds_command_line_capabilities():
    found = discovery.discover(_client(minimal(), key=None))
    profile = found.profile(extra=("open_responses",))
    assert profile.name == discovery.NAME and "open_responses" in profile.capabilities
    assert profile.has("chat") and not profile.has("tools")


# --- plugin wiring -----------------------------------------------------------------------------


class _Mini(http.server.BaseHTTPRequestHandler):
    """A real (socket) minimal endpoint for the pytester run."""

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, ctype: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": "tiny", "object": "model"}]})
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        if self.path != "/v1/chat/completions":
            self._send(404, {"error": {"message": "not found"}})
        elif "tools" in body:
            self._send(400, {"error": {"message": "tools are not supported"}})
        elif body.get("stream"):
            self._send(200, _sse({"object": "chat.completion.chunk", "choices": []}), "text/event-stream")
        else:
            self._send(200, _chat_body({"content": "Hi"}))


@pytest.fixture
def mini_endpoint(pytester):
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = session\n"
                     "asyncio_default_test_loop_scope = session\n")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Mini)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_endpoint_without_profile_discovers(pytester, mini_endpoint, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    pytester.makepyfile(test_disc='''
import pytest
from conformance.harness.requirements import requirement

@requirement("OAI-CHAT-001")
def test_chat(profile):
    assert profile.name == "discover" and profile.has("chat")

@requirement("OAI-TOOLS-001")
@pytest.mark.requires("tools")
def test_tools():
    pass
''')
    reports = pytester.path / "r"
    result = pytester.runpytest("-p", "no:cacheprovider", "--endpoint", mini_endpoint, f"--reports-dir={reports}",
                                "-rs")
    out = result.stdout.str()
    assert "profile=discover (pending)" in out
    result.stdout.fnmatch_lines(["*llmconf capability discovery*", "*+ chat *POST /v1/chat/completions → 200*",
                                 "*- tools *naming 'tools'*", "*discovered profile written to*"])
    result.assert_outcomes(passed=1, skipped=1)
    assert "capability 'tools' not declared" in out
    loaded = profiles.load(str(reports / "discovered-profile.toml"))
    assert "chat" in loaded.capabilities and "tools" not in loaded.capabilities


def test_generic_profile_stays_available_by_name(pytester, mini_endpoint, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    pytester.makepyfile(test_gen='''
from conformance.harness.requirements import requirement

@requirement("OAI-CHAT-001")
def test_chat(profile):
    assert profile.name == "generic"
''')
    reports = pytester.path / "r"
    result = pytester.runpytest("-p", "no:cacheprovider", "--endpoint", mini_endpoint, "--profile", "generic",
                                f"--reports-dir={reports}")
    result.assert_outcomes(passed=1)
    assert "capability discovery" not in result.stdout.str()
    assert not (reports / "discovered-profile.toml").exists()
