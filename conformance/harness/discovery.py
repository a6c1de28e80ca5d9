"""Capability discovery (``--profile discover``, the default for ``--endpoint URL`` without
``--profile``): a few cheap probes through the run's :class:`~conformance.harness.client.Client`
(so every probe is recorded and redacted like any other exchange) decide the capabilities, the
server family, the reasoning field and a few settings. The result is a :class:`Discovery`: printed
one line per capability with its reason, turned into the run's :class:`Profile`, and written as
``<reports-dir>/discovered-profile.toml``, a profile the user can commit and edit
(``profiles.load`` accepts it). A discovered profile has no known deviations: what it cannot know
fails, as it should.

Probes are small (``max_tokens`` 1-8; the Responses probe asks for 16 output tokens because the
OpenAI API rejects less), about twenty requests in all, each deciding something. The only longer
ones are the tool-prompt probes (32 and at most 96 tokens), sent only where llama.cpp's ``/props``
shows the chat template's tool-call syntax (see :func:`_tool_prompts`).

Decision table (one probe, or one probe per step of a retry loop):

=========================================  ===========  ==================================================
probe outcome                              capability   why
=========================================  ===========  ==================================================
2xx with the expected shape                declared     positive evidence
2xx with an unexpected shape               declared     the route exists; the tests judge the shape
404 / 405                                  withheld     documented "no such route" signal
4xx (400, 415, 422, ...) naming the        withheld     documented "unsupported parameter" signal; the
parameter                                               probe is retried without it, so one rejected
                                                        parameter does not hide the others
other 4xx not naming it                    withheld     no positive evidence (printed as such, so the
                                                        user can check and edit the profile)
401 / 403 / 408 / 429                      declared     not a capability signal (key or rate problem):
                                                        the tests judge it and report it
5xx                                        declared     5xx is never "unsupported": declared so the
                                                        tests run and fail visibly
timeout / transport error                  declared     same as 5xx (a probe error is not a signal)
endpoint unreachable (first probe gets     declared     every probed capability is declared, no further
no HTTP response at all)                                probe is sent; the tests report it as broken
=========================================  ===========  ==================================================

What counts as the "expected shape" or the "effect":

* **Standard request parameters** of the API being implemented (``n``, ``logprobs``, ``seed``,
  ``stop``, ``stream_options``, ``echo``, ``response_format``, ``tools``, ``tool_choice``,
  ``parallel_tool_calls``): accepted with 2xx → declared. A compatible server that accepts a
  standard parameter and ignores it violates the spec, and the tests say so.
* **Extensions** (``chat_template_kwargs.enable_thinking``, ``thinking_token_budget``, the hosted
  ``reasoning`` object): many servers silently ignore unknown fields, so acceptance proves
  nothing; these are declared only on an *observed effect* (reasoning appears or disappears,
  reasoning tokens stay within the budget).
* ``auth``: a request without the key gets 401/403 → declared; gets 2xx → withheld.
* ``vision``, ``audio`` and ``video`` are read from the endpoint's own statement of its inputs,
  never probed with media (discovery sends none): llama.cpp ``GET /props`` ``modalities``
  (``{"vision": true, "audio": false, "video": false}``), else ``GET /v1/models``
  ``data[].architecture.input_modalities`` of the model under test (``["text", "image"]``), via
  :func:`conformance.harness.modalities.stated_by_endpoint`. A modality it lists → declared; one it
  omits → withheld, and the statement is written as ``settings.input_modalities`` so the "no
  modality" tests (OAI-MM-009, ANT-MM-004) judge that the endpoint rejects those parts. An endpoint
  stating nothing (vLLM, NIM) → all three withheld as "not stated" and no ``input_modalities``
  (the "no modality" tests then skip: nothing states the inputs); declare them by hand
  (``--add-capability vision``, or a profile such as ``nim-omni``). The GETs are the ones the
  family detection sends anyway: no extra request.
* ``open_responses`` is a claim (``--open-responses``), ``responses_store`` is needed by no test of
  this suite, ``responses_truncation`` shows only on an input over the window, and the NIM media
  controls ``media_io_kwargs`` / ``audio_in_video`` show only in the usage of a video request:
  not probed, withheld (``--add-capability``).

Server family: ``llama.cpp`` when ``GET /props`` answers a llama-server properties object or the
models list says ``owned_by: llamacpp``; ``nim`` when the NIM health and metadata routes answer;
``vllm`` when the models list says ``owned_by: vllm`` (with ``max_model_len``); else ``unknown``.
Schema flavors: always ``compat``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from conformance.harness import capabilities as caps
from conformance.harness import modalities as mm
from conformance.harness.client import Client, Exchange
from conformance.harness.datasets import case
from conformance.harness.failures import HarnessError
from conformance.harness.profiles import Profile
from conformance.harness.redaction import redact

NAME = "discover"
ANTHROPIC_VERSION = "2023-06-01"
UNKNOWN_FIELD = "llmconf_unknown_field_probe"
NOT_PROBED = {
    "open_responses": "not probed: a claim of the endpoint, not observable cheaply (use --open-responses)",
    "responses_store": "not probed: no test of this suite needs it (use --add-capability)",
    # A cheap probe cannot tell: truncation "auto" is judged only on an input over the window, which
    # a conforming endpoint processes up to the window (the OAI-CTX-008 test's own request).
    "responses_truncation": "not probed: only an input over the context window shows it (use --add-capability)",
    # NIM extensions: only the prompt tokens of a video request show their effect; discovery sends no media.
    "media_io_kwargs": "not probed: only a video request's usage shows it, and discovery sends no media "
                       "(use --add-capability)",
    "audio_in_video": "not probed: only a video request's usage shows it, and discovery sends no media "
                      "(use --add-capability)",
}
SIGNAL_4XX_NOT_CAPABILITY = {401, 403, 408, 429}
REASONING_KEYS = ("reasoning_content", "reasoning")
_HELLO = [{"role": "user", "content": "Say hello."}]
_JSON_SCHEMA = {"name": "greeting", "strict": True, "schema": {
    "type": "object", "properties": {"greeting": {"type": "string"}}, "required": ["greeting"],
    "additionalProperties": False}}


def placeholder() -> Profile:
    """The run's profile until discovery ran (at the first test that cites a requirement)."""
    return Profile(name=NAME, description="capabilities are discovered at the first test", server="pending",
                   schema_flavors=("compat",), capabilities=frozenset(), reasoning_field="either")


@dataclass(frozen=True, slots=True)
class Decision:
    capability: str
    declared: bool
    reason: str


@dataclass(slots=True)
class Verdict:
    """How one probe outcome reads in the decision table."""

    declared: bool
    reason: str
    rejected: str | None = None  # the parameter a 4xx named (retry without it)
    ok: bool = False  # 2xx


@dataclass(slots=True)
class Discovery:
    endpoint: str
    model: str | None
    server: str = "unknown"
    server_reason: str = "no family signal (no llama.cpp /props, NIM routes or vLLM models metadata)"
    reasoning_field: str = "either"
    reasoning_reason: str = "no reasoning field observed"
    decisions: dict[str, Decision] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    setting_reasons: dict[str, str] = field(default_factory=dict)
    probes: list[dict[str, Any]] = field(default_factory=list)  # redacted exchange records
    seconds: float = 0.0

    def decide(self, capability: str, declared: bool, reason: str) -> None:
        if capability not in caps.CAPABILITIES:
            raise HarnessError(f"discovery decided an unknown capability {capability!r}")
        self.decisions[capability] = Decision(capability, declared, " ".join(redact(reason).split()))

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(d.capability for d in self.decisions.values() if d.declared)

    def profile(self, *, extra: Iterable[str] = (), path: str = "") -> Profile:
        return Profile(
            name=NAME,
            description=self.description,
            server=self.server,
            schema_flavors=("compat",),
            capabilities=self.capabilities | caps.validate(list(extra), where="command line"),
            reasoning_field=self.reasoning_field,
            deviations=(),
            settings=json.loads(json.dumps(self.settings)),
            path=path,
        )

    @property
    def description(self) -> str:
        return (f"Discovered by llmconf from {len(self.probes)} probes of {self.endpoint}"
                f"{f' (model {self.model})' if self.model else ''}; edit and commit it.")

    def lines(self) -> list[str]:
        """What was decided and why, one line per capability (for the terminal)."""
        width = max(len(c) for c in caps.CAPABILITIES)
        out = [f"server family: {self.server} ({self.server_reason})",
               f"reasoning field: {self.reasoning_field} ({self.reasoning_reason})"]
        for name in caps.CAPABILITIES:
            d = self.decisions.get(name) or Decision(name, False, "not decided")
            out.append(f"{'+' if d.declared else '-'} {name:<{width}}  {d.reason}")
        for key, reason in self.setting_reasons.items():
            out.append(f"setting {key} = {_short(_toml_value(self.settings[key]), 70)}  ({reason})")
        out.append(f"{len(self.probes)} probes in {self.seconds:.1f}s; "
                   f"{len(self.capabilities)} of {len(caps.CAPABILITIES)} capabilities declared")
        return out

    def to_toml(self) -> str:
        lines = [
            "# Discovered by `pytest --profile discover` (llmconf capability discovery).",
            "# Every capability below carries the reason it was declared or withheld. Review, edit, commit,",
            "# then run with --profile path/to/this.toml. Known deviations go in [[deviations]] entries",
            "# (requirement, reason, evidence), like conformance/profiles/reference.toml.",
            f"name = {_toml_value('discovered')}",
            f"description = {_toml_value(self.description)}",
            f"# {self.server_reason}",
            f"server = {_toml_value(self.server)}",
            'schema_flavors = ["compat"]',
            f"# {self.reasoning_reason}",
            f"reasoning_field = {_toml_value(self.reasoning_field)}",
            "capabilities = [",
        ]
        for name in caps.CAPABILITIES:
            d = self.decisions.get(name) or Decision(name, False, "not decided")
            entry = f"  {_toml_value(name)}," if d.declared else f"  # {_toml_value(name)},"
            lines.append(f"{entry:<28}# {d.reason}".replace("\n", " "))
        lines.append("]")
        if self.settings:
            lines += ["", "[settings]"]
            for key, value in self.settings.items():
                if key in self.setting_reasons:
                    lines.append(f"# {self.setting_reasons[key]}")
                lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_toml(), encoding="utf-8")
        probes = path.with_name(path.stem + ".probes.json")
        probes.write_text(json.dumps({"endpoint": self.endpoint, "model": self.model, "probes": self.probes},
                                     indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# --- TOML writing (values of the shapes a profile holds) ----------------------------------------


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a TOML basic string, except DEL (TOML forbids it raw) and lone surrogates.
        text = json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise HarnessError(f"cannot write {type(value).__name__} to TOML")


# --- reading one probe outcome ----------------------------------------------------------------


def _error_text(ex: Exchange) -> str:
    body = ex.json_or_none()
    if isinstance(body, dict):
        err = body.get("error", body)
        msg = err.get("message") if isinstance(err, dict) else err
        if isinstance(msg, str) and msg:
            return msg
        detail = body.get("detail")
        if detail:
            return json.dumps(detail, ensure_ascii=False)
    return ex.text


def names(ex: Exchange, parameter: str) -> bool:
    """True when the error body names the parameter (as a whole word, not inside another name)."""
    word = re.escape(parameter.lower())
    return re.search(rf"(?<![\w\\]){word}(?!\w)", ex.text.lower()) is not None


def _short(text: str, limit: int = 110) -> str:
    text = " ".join(redact(text).split())
    return text if len(text) <= limit else text[:limit] + "…"


def read(ex: Exchange | BaseException, what: str, *, params: tuple[str, ...] = (),
         shape: Callable[[Exchange], str | None] | None = None) -> Verdict:
    """One probe outcome through the decision table. ``shape`` returns None when a 2xx body has the
    expected shape, else what is wrong with it."""
    if isinstance(ex, BaseException):
        return Verdict(True, f"{what + ': ' if what else ''}probe failed ({_short(str(ex), 80)}); declared so the "
                             "tests judge it")
    status = ex.status or 0
    head = f"{ex.method} {ex.path}{f' ({what})' if what else ''} → {status}"
    if 200 <= status < 300:
        problem = shape(ex) if shape is not None else None
        if problem:
            return Verdict(True, f"{head} but {problem}; declared so the tests judge it", ok=True)
        return Verdict(True, f"{head}", ok=True)
    if status >= 500:
        return Verdict(True, f"{head} (5xx: {_short(_error_text(ex), 60)}); 5xx is never 'unsupported': "
                             "declared so the tests judge it")
    if status in (404, 405):
        return Verdict(False, f"{head}: no such route")
    if status in SIGNAL_4XX_NOT_CAPABILITY:
        return Verdict(True, f"{head} ({_short(_error_text(ex), 60)}): not a capability signal; declared so the "
                             "tests judge it")
    if 400 <= status < 500:
        for param in params:
            if names(ex, param):
                return Verdict(False, f"{head} naming '{param}': {_short(_error_text(ex))}", rejected=param)
        return Verdict(False, f"{head} without naming {', '.join(params) or 'a parameter'} "
                              f"({_short(_error_text(ex), 80)}): no positive evidence, withheld")
    return Verdict(True, f"{head}: unexpected status; declared so the tests judge it")


def _json(ex: Exchange | BaseException) -> Any:
    return ex.json_or_none() if isinstance(ex, Exchange) else None


def _object_is(kind: str) -> Callable[[Exchange], str | None]:
    def check(ex: Exchange) -> str | None:
        body = ex.json_or_none()
        if not isinstance(body, dict):
            return "the body is not a JSON object"
        if body.get("object") != kind and body.get("type") != kind:
            return f"object is {body.get('object', body.get('type'))!r}, not {kind!r}"
        return None

    return check


def _message(body: Any) -> dict[str, Any]:
    if isinstance(body, dict):
        choices = body.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            message = choices[0].get("message")
            if isinstance(message, dict):
                return message
    return {}


def _reasoning_of(message: dict[str, Any]) -> str | None:
    """The reasoning field a message carries with non-empty text, if any."""
    for key in REASONING_KEYS:
        value = message.get(key)
        if isinstance(value, str) and value.strip():
            return key
    return None


def _stream_usage_seen(ex: Exchange) -> bool:
    if ex.sse is None:
        return False
    for event in ex.sse.events:
        try:
            chunk = json.loads(event.data)
        except ValueError:
            continue
        if isinstance(chunk, dict) and isinstance(chunk.get("usage"), dict):
            return True
    return False


# --- the probes -----------------------------------------------------------------------------------


class _Prober:
    def __init__(self, client: Client, found: Discovery) -> None:
        self.client = client
        self.found = found
        self.model = "default"
        self.unreachable: str | None = None

    def send(self, method: str, path: str, *, body: Any = None, stream: bool = False,
             auth: str | None = "bearer", headers: dict[str, str] | None = None) -> Exchange | BaseException:
        if self.unreachable is not None:
            return HarnessError(self.unreachable)
        try:
            ex = self.client.request(method, path, json=body, stream=stream, auth=auth, headers=headers)
        except HarnessError as exc:
            ex = exc
            if not self.found.probes:
                self.unreachable = f"endpoint unreachable: {exc}"
        self._record(method, path, ex)
        return ex

    def _record(self, method: str, path: str, ex: Exchange | BaseException) -> None:
        if isinstance(ex, Exchange):
            record = ex.as_record()
            if ex.status is not None and ex.status >= 400:
                record["response"]["body"] = _short(ex.text, 500)
        else:
            record = {"request": {"method": method, "path": path}, "error": _short(str(ex), 300)}
        self.found.probes.append(record)

    def chat(self, body: dict[str, Any], **kw: Any) -> Exchange | BaseException:
        return self.send("POST", "/v1/chat/completions", body={"model": self.model, **body}, **kw)


def discover(client: Client, *, model: str | None = None, has_key: bool = False) -> Discovery:
    """Probe the endpoint behind ``client`` and decide every capability of the closed vocabulary.
    ``model``: the --model value, if any (else the first id of GET /v1/models). ``has_key``: the
    client sends an API key (then a request without it tells whether the endpoint enforces one)."""
    t0 = time.monotonic()
    found = Discovery(endpoint=client.base_url, model=model)
    p = _Prober(client, found)
    decide = found.decide

    # Routes and family signals -------------------------------------------------------------
    models = p.send("GET", "/v1/models")
    v = read(models, "", shape=_models_shape)
    decide("models", v.declared, v.reason)
    body = _json(models)
    entries = [e for e in body.get("data", [])] if isinstance(body, dict) and isinstance(body.get("data"), list) else []
    entries = [e for e in entries if isinstance(e, dict)]
    if found.model is None and entries and isinstance(entries[0].get("id"), str):
        found.model = entries[0]["id"]
    p.model = found.model or "default"
    owned = {str(e.get("owned_by", "")).lower() for e in entries}

    props = p.send("GET", "/props")
    props_body = _json(props)
    is_llama = isinstance(props_body, dict) and bool(
        {"default_generation_settings", "build_info", "total_slots", "chat_template"} & props_body.keys())
    live, ready = p.send("GET", "/v1/health/live"), p.send("GET", "/v1/health/ready")
    v_live, v_ready = read(live, ""), read(ready, "")
    # a 503 from ready means "not ready yet": the route exists (read() declares it as a 5xx too)
    decide("nim_health", v_live.declared and v_ready.declared,
           v_live.reason if not v_live.declared else v_ready.reason if not v_ready.declared
           else f"{v_live.reason}; {v_ready.reason}")
    metadata = p.send("GET", "/v1/metadata")
    v = read(metadata, "")
    decide("nim_metadata", v.declared, v.reason)
    if is_llama or "llamacpp" in owned:
        found.server = "llama.cpp"
        found.server_reason = ("GET /props answers a llama-server properties object" if is_llama
                               else "GET /v1/models says owned_by llamacpp")
    elif v_live.ok and v_ready.ok and read(metadata, "").ok:
        found.server = "nim"
        found.server_reason = "GET /v1/health/live, /v1/health/ready and /v1/metadata answer 2xx"
    elif "vllm" in owned:
        found.server = "vllm"
        found.server_reason = "GET /v1/models says owned_by vllm" + (
            " with max_model_len" if any("max_model_len" in e for e in entries) else "")

    _modalities(found, props_body, body)

    # Chat: the base probe, authentication, unknown fields ----------------------------------------
    base = p.chat({"messages": _HELLO, "max_tokens": 4, "temperature": 0})
    v = read(base, "", shape=_object_is("chat.completion"))
    decide("chat", v.declared, v.reason)
    chat_ok = v.ok
    default_reasoning = _reasoning_of(_message(_json(base)))

    if has_key:
        anon = p.chat({"messages": _HELLO, "max_tokens": 1}, auth=None)
        status = anon.status if isinstance(anon, Exchange) else None
        if status in (401, 403):
            decide("auth", True, f"POST /v1/chat/completions without the key → {status}")
        elif status is not None and 200 <= status < 300:
            decide("auth", False, f"POST /v1/chat/completions without the key → {status}: no key enforced")
        else:
            decide("auth", False, f"POST /v1/chat/completions without the key → {status or 'no response'}: "
                                  "no evidence that a key is enforced")
    else:
        decide("auth", False, "no API key configured: the probes were sent without one"
               + (" and succeeded" if chat_ok else ""))

    unknown = p.chat({"messages": _HELLO, "max_tokens": 1, UNKNOWN_FIELD: True})
    if isinstance(unknown, Exchange) and unknown.status is not None and 400 <= unknown.status < 500 \
            and names(unknown, UNKNOWN_FIELD):
        found.settings["rejects_unknown_fields"] = True
        found.setting_reasons["rejects_unknown_fields"] = f"an unknown request field → {unknown.status} naming it"

    # Streaming and the standard sampling parameters --------------------------------------------
    stream = p.chat({"messages": _HELLO, "max_tokens": 2, "stream": True,
                     "stream_options": {"include_usage": True}}, stream=True)
    v = read(stream, "stream, stream_options.include_usage", params=("stream_options",), shape=_event_stream)
    if v.rejected == "stream_options":
        decide("stream_usage", False, v.reason)
        stream = p.chat({"messages": _HELLO, "max_tokens": 2, "stream": True}, stream=True)
        v = read(stream, "stream", params=("stream",), shape=_event_stream)
        decide("streaming", v.declared, v.reason)
    else:
        decide("streaming", v.declared, v.reason)
        usage = isinstance(stream, Exchange) and v.ok and _stream_usage_seen(stream)
        if v.ok:
            v.reason += " with a usage chunk" if usage else " (stream_options.include_usage accepted, no usage chunk)"
        decide("stream_usage", v.declared, v.reason)

    params = {"n": 2, "logprobs": True, "top_logprobs": 1, "seed": 7, "stop": ["\n\n\n\n"]}
    capability = {"n": "n_gt_1", "logprobs": "logprobs", "top_logprobs": "logprobs", "seed": "seed",
                  "stop": "stop_sequences"}
    _parameter_loop(p, found, "/v1/chat/completions", {"messages": _HELLO, "max_tokens": 1}, params, capability,
                    shape=_object_is("chat.completion"))

    # Structured output and tools (standard parameters: accepted → declared) ---------------------
    ask_json = [{"role": "user", "content": "Reply with a JSON object that greets me."}]
    ex = p.chat({"messages": ask_json, "max_tokens": 1, "response_format": {"type": "json_object"}})
    v = read(ex, "response_format json_object", params=("response_format", "json_object"),
             shape=_object_is("chat.completion"))
    decide("json_object", v.declared, v.reason)
    ex = p.chat({"messages": ask_json, "max_tokens": 1,
                 "response_format": {"type": "json_schema", "json_schema": _JSON_SCHEMA}})
    v = read(ex, "response_format json_schema", params=("response_format", "json_schema"),
             shape=_object_is("chat.completion"))
    decide("json_schema_output", v.declared, v.reason)

    # The tool tests' own request (so the endpoint's prompt cache serves the later probes). Where the
    # chat template's tool-call syntax is known, the first probe also shows whether the model calls
    # a tool for the natural prompt (32 tokens: a model that calls starts the call at once).
    syntax = _call_syntax(props_body)
    tool_case = case("openai/tools.json", "weather-one-call").request
    tooled = {"messages": tool_case["messages"], "tools": tool_case["tools"], "temperature": 0}
    first = p.chat({**tooled, "tool_choice": "auto", "max_tokens": 32 if syntax else 1})
    v = read(first, "tools, tool_choice auto", params=("tools", "tool_choice"), shape=_object_is("chat.completion"))
    decide("tools", v.declared, v.reason)
    if v.declared:
        natural_calls = v.ok and _has_tool_call(first)
        ex = p.chat({**tooled, "tool_choice": "required", "parallel_tool_calls": True, "max_tokens": 1})
        v = read(ex, "tool_choice required, parallel_tool_calls",
                 params=("parallel_tool_calls", "tool_choice", "required"),
                 shape=_object_is("chat.completion"))
        if v.rejected == "parallel_tool_calls":
            decide("parallel_tool_calls", False, v.reason)
            ex = p.chat({**tooled, "tool_choice": "required", "max_tokens": 1})
            v = read(ex, "tool_choice required", params=("tool_choice", "required"),
                     shape=_object_is("chat.completion"))
            decide("tool_choice_required", v.declared, v.reason)
        else:
            decide("tool_choice_required", v.declared, v.reason)
            decide("parallel_tool_calls", v.declared, v.reason)
        named = {"type": "function", "function": {"name": "get_weather"}}
        ex = p.chat({**tooled, "max_tokens": 1, "tool_choice": named})
        v = read(ex, "tool_choice named", params=("tool_choice",), shape=_object_is("chat.completion"))
        decide("tool_choice_named", v.declared, v.reason)
        if syntax is not None and chat_ok and isinstance(first, Exchange) and first.status == 200 and not natural_calls:
            _tool_prompts(p, found, {**tool_case, "tool_choice": "auto", "parallel_tool_calls": False}, syntax)
    else:
        for name in ("tool_choice_required", "tool_choice_named", "parallel_tool_calls"):
            decide(name, False, "tools withheld")

    # Reasoning (extensions: declared on an observed effect only) -------------------------------
    _reasoning(p, found, chat_ok=chat_ok, default_reasoning=default_reasoning)

    # The other APIs ----------------------------------------------------------------------------
    params = {"echo": True, "logprobs": 1}
    capability = {"echo": "completions_echo", "logprobs": "completions_logprobs"}
    route = _parameter_loop(p, found, "/v1/completions", {"prompt": "Hello", "max_tokens": 1}, params, capability,
                            shape=_object_is("text_completion"))
    decide("completions", route.declared, route.reason)
    if not route.declared:
        for name in capability.values():
            decide(name, False, "completions withheld")

    ex = p.send("POST", "/v1/responses", body={"model": p.model, "input": "Say hello.", "max_output_tokens": 16})
    v = read(ex, "", shape=_object_is("response"))
    decide("responses", v.declared, v.reason)

    hdrs = {"anthropic-version": ANTHROPIC_VERSION}
    msg = {"model": p.model, "messages": _HELLO, "max_tokens": 1}
    ex = p.send("POST", "/v1/messages", body=msg, auth="x-api-key", headers=hdrs)
    v = read(ex, "", shape=_object_is("message"))
    auth_mode = "x-api-key"
    if has_key and isinstance(ex, Exchange) and ex.status in (401, 403):
        bearer = p.send("POST", "/v1/messages", body=msg, auth="bearer", headers=hdrs)
        vb = read(bearer, "Bearer", shape=_object_is("message"))
        if vb.ok:
            ex, v, auth_mode = bearer, vb, "bearer"
            found.settings["anthropic_auth"] = "bearer"
            found.setting_reasons["anthropic_auth"] = "POST /v1/messages refuses x-api-key and accepts Bearer"
    decide("messages", v.declared, v.reason + (" (with Bearer auth)" if auth_mode == "bearer" else ""))
    ex = p.send("POST", "/v1/messages/count_tokens", body={"model": p.model, "messages": _HELLO},
                auth=auth_mode, headers=hdrs)
    v = read(ex, "", shape=_count_shape)
    decide("count_tokens", v.declared, v.reason)

    for name, reason in NOT_PROBED.items():
        decide(name, False, reason)
    if p.unreachable is not None:
        for name, d in list(found.decisions.items()):
            if name not in NOT_PROBED and name != "auth":
                decide(name, True, f"{p.unreachable[:120]}; declared so the tests judge it")
        found.server_reason = p.unreachable[:160]
    found.seconds = time.monotonic() - t0
    return found


def _modalities(found: Discovery, props: Any, models: Any) -> None:
    """vision / audio / video from the endpoint's statement of its inputs (no media request): the
    ``/props`` and ``/v1/models`` answers already fetched; ``/v1/models`` is read for the model
    under test (:func:`conformance.harness.modalities.stated_by_endpoint`)."""
    inputs, source = mm.stated_by_endpoint(props, models, model=found.model)
    if inputs is None:
        for modality in mm.MODALITIES:
            found.decide(mm.CAPABILITY[modality], False,
                         "not stated: neither llama.cpp GET /props modalities nor GET /v1/models "
                         "architecture.input_modalities lists the inputs, and discovery sends no media "
                         "(use --add-capability)")
        return
    stated = sorted(inputs, key=lambda m: (m != "text", m))
    for modality in mm.MODALITIES:
        took = modality in inputs
        found.decide(mm.CAPABILITY[modality], took,
                     f"{source} {'lists' if took else 'omits'} {modality} (inputs {stated})")
    found.settings["input_modalities"] = stated
    found.setting_reasons["input_modalities"] = (
        f"stated by {source}: a modality it omits must be rejected with 4xx (OAI-MM-009)")


def _parameter_loop(p: _Prober, found: Discovery, path: str, base: dict[str, Any], params: dict[str, Any],
                    capability: dict[str, str], *, shape: Callable[[Exchange], str | None]) -> Verdict:
    """One request with every standard parameter; a 4xx naming one withholds it and the request is
    sent again without it. Returns the verdict of the last request (the route's)."""
    remaining = dict(params)
    withheld: dict[str, str] = {}
    while True:
        ex = p.send("POST", path, body={"model": p.model, **base, **remaining})
        v = read(ex, "", params=tuple(remaining), shape=shape)
        if v.rejected is None:
            break
        withheld.setdefault(capability[v.rejected], v.reason)
        remaining.pop(v.rejected)
        for other in [k for k in remaining if capability[k] == capability[v.rejected]]:
            remaining.pop(other)
    for name in dict.fromkeys(capability.values()):
        if name in withheld:
            found.decide(name, False, withheld[name])
        else:
            sent = ", ".join(k for k in remaining if capability[k] == name)
            found.decide(name, v.declared, f"{v.reason} ({sent} accepted)" if v.ok and sent else v.reason)
    return v


_CALL_SYNTAX = {
    # Qwen3-Coder / Nemotron 3 XML tool calls
    "xml": "<tool_call>\n<function={name}>\n<parameter={arg}>\n{value}\n</parameter>\n</function>\n</tool_call>",
    # Hermes-style JSON tool calls
    "hermes": '<tool_call>\n{{"name": "{name}", "arguments": {{"{arg}": "{value}"}}}}\n</tool_call>',
}


def _call_syntax(props: Any) -> str | None:
    """The tool-call syntax of the chat template a llama.cpp ``/props`` shows, if recognisable."""
    template = props.get("chat_template") if isinstance(props, dict) else None
    if not isinstance(template, str):
        return None
    if "<function=" in template and "<parameter=" in template:
        return "xml"
    if "<tool_call>" in template:
        return "hermes"
    return None


def _spelled(syntax: str, *cities: str) -> str:
    return "\n".join(_CALL_SYNTAX[syntax].format(name="get_weather", arg="location", value=c) for c in cities)


def _has_tool_call(ex: Exchange | BaseException) -> bool:
    calls = _message(_json(ex)).get("tool_calls")
    return isinstance(calls, list) and bool(calls)


def _tool_prompts(p: _Prober, found: Discovery, request: dict[str, Any], syntax: str) -> None:
    """Weak models call a tool only when the prompt shows the call in the chat template's own syntax
    (they imitate it). Probed only where the template is known (llama.cpp ``/props``) and the model
    made no call for the tool tests' natural prompt: the same request with the call spelled out in
    that syntax (the case's own token budget; generation stops when the call ends). When that one
    calls, ``settings.tool_prompts`` gives the tool tests such prompts (as
    conformance/profiles/reference.toml does by hand)."""
    one, two = _spelled(syntax, "Paris"), _spelled(syntax, "Paris", "London")
    ex = p.chat({**request, "messages": [*request["messages"][:-1], {"role": "user", "content": one}]})
    if isinstance(ex, Exchange) and ex.status == 200 and _has_tool_call(ex):
        found.settings["tool_prompts"] = {"weather-one-call": one, "weather-two-cities": two}
        found.setting_reasons["tool_prompts"] = (
            f"the model made no tool call for the natural prompt but did when the call was spelled out in its "
            f"chat template's {syntax} syntax: the tool tests use such prompts")


def _paths(fragment: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in fragment.items():
        if isinstance(value, dict) and value:
            out += _paths(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key} {json.dumps(value)}")
    return out


def _effect(v: Verdict, observed: bool, yes: str, no: str) -> tuple[bool, str]:
    """An extension's decision: on a 2xx, the observed effect decides; otherwise the table does."""
    if not v.ok:
        return v.declared, v.reason
    return (True, yes) if observed else (False, f"{no}; an extension is declared on an observed effect only")


def _reasoning(p: _Prober, found: Discovery, *, chat_ok: bool, default_reasoning: str | None) -> None:
    decide = found.decide
    ask = [{"role": "user", "content": "Is 17 a prime number? Think briefly."}]

    def probe(extra: dict[str, Any], params: tuple[str, ...]) -> tuple[Verdict, str | None, Any]:
        ex = p.chat({"messages": ask, "max_tokens": 8, "temperature": 0, **extra})
        v = read(ex, ", ".join(_paths(extra)), params=params, shape=_object_is("chat.completion"))
        body = _json(ex) if v.ok else None
        return v, (_reasoning_of(_message(body)) if v.ok else None), body

    used: str | None = None
    body: Any = None
    errors: list[str] = []
    if default_reasoning is not None:
        used, reason = default_reasoning, f"a plain chat answer carries '{default_reasoning}'"
        t, fld, _ = probe({"chat_template_kwargs": {"enable_thinking": False}}, ("chat_template_kwargs",))
        on, why = _effect(t, fld is None, "chat_template_kwargs.enable_thinking false removes the reasoning",
                          "enable_thinking false leaves the reasoning in place")
        decide("thinking_toggle", on, why)
        if t.ok and fld is None:
            _switches(found, "on", "the model reasons by default; chat_template_kwargs.enable_thinking false "
                                   "switches it off (so small max_tokens budgets get content)")
        h, fld, _ = probe({"reasoning": {"exclude": True}}, ("reasoning", "exclude"))
        decide("hosted_reasoning", *_effect(h, fld is None, "reasoning {exclude: true} removes the reasoning",
                                            "reasoning {exclude: true} leaves the reasoning in place"))
    else:
        reason = "chat_template_kwargs.enable_thinking true adds it"
        t, fld, body = probe({"chat_template_kwargs": {"enable_thinking": True}}, ("chat_template_kwargs",))
        decide("thinking_toggle", *_effect(t, fld is not None, f"enable_thinking true adds '{fld}', a plain "
                                           "answer has none", "enable_thinking true adds no reasoning field"))
        if t.ok and fld is not None:
            used = fld
            _switches(found, "off", "a plain answer has no reasoning; chat_template_kwargs.enable_thinking true "
                                    "switches it on")
            decide("hosted_reasoning", False, "not probed: chat_template_kwargs already switches reasoning on")
        else:
            if not t.ok and t.declared:
                errors.append(t.reason)
            reason = "the hosted reasoning {effort: low} object adds it"
            h, used, body = probe({"reasoning": {"effort": "low"}}, ("reasoning", "effort"))
            decide("hosted_reasoning", *_effect(h, used is not None, f"reasoning {{effort: low}} adds '{used}'",
                                                "reasoning {effort: low} adds no reasoning field"))
            if not h.ok and h.declared:
                errors.append(h.reason)
    if used is None:
        if errors:
            decide("reasoning", True, f"{errors[0]} (reasoning probe)")
            decide("reasoning_budget", True, f"{errors[0]} (reasoning probe)")
        else:
            decide("reasoning", False, "no probe answer carried a reasoning field" if chat_ok else "chat withheld")
            decide("reasoning_budget", False, "reasoning withheld")
        return
    found.reasoning_field, found.reasoning_reason = used, reason
    decide("reasoning", True, f"{reason} ('{used}')")
    _budget(p, found, ask, body, thinking_default=default_reasoning is not None)


def _switches(found: Discovery, default: str, reason: str) -> None:
    """Reasoning settings in the form ``conformance.harness.request_defaults`` reads (chat only: the
    probes saw chat; add responses / messages switches by hand where they apply)."""
    found.settings["reasoning_default"] = default
    found.setting_reasons["reasoning_default"] = reason
    found.settings["reasoning_off"] = {"chat": {"chat_template_kwargs": {"enable_thinking": False}}}
    found.settings["reasoning_on"] = {"chat": {"chat_template_kwargs": {"enable_thinking": True}}}


def _reasoning_tokens(body: Any) -> int | None:
    usage = body.get("usage") if isinstance(body, dict) else None
    details = usage.get("completion_tokens_details") if isinstance(usage, dict) else None
    spent = details.get("reasoning_tokens") if isinstance(details, dict) else None
    return spent if isinstance(spent, int) and not isinstance(spent, bool) else None


def _budget(p: _Prober, found: Discovery, ask: list[dict[str, Any]], body: Any, *, thinking_default: bool) -> None:
    """Declared only when usage reports reasoning tokens and a tiny budget bounds them."""
    if body is not None and _reasoning_tokens(body) is None:
        found.decide("reasoning_budget", False, "usage carries no completion_tokens_details.reasoning_tokens, so "
                                                "a budget cannot be observed")
        return
    on = {} if thinking_default else {"chat_template_kwargs": {"enable_thinking": True}}
    ex = p.chat({"messages": ask, "max_tokens": 12, "temperature": 0, "thinking_token_budget": 2, **on})
    v = read(ex, "thinking_token_budget", params=("thinking_token_budget",), shape=_object_is("chat.completion"))
    spent = _reasoning_tokens(_json(ex)) if v.ok else None
    if v.ok and spent is not None and spent <= 2:
        found.settings["reasoning_budget"] = {"chat": "thinking_token_budget"}
    found.decide("reasoning_budget", *_effect(v, spent is not None and spent <= 2,
                                              f"thinking_token_budget 2 → {spent} reasoning tokens",
                                              f"thinking_token_budget 2 → {spent} reasoning tokens: no bound"))


def _models_shape(ex: Exchange) -> str | None:
    body = ex.json_or_none()
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return "the body has no data list"
    if not body["data"]:
        return "the data list is empty"
    return None


def _event_stream(ex: Exchange) -> str | None:
    if ex.content_type != "text/event-stream":
        return f"content type is {ex.content_type!r}, not text/event-stream"
    if ex.sse is None or not ex.sse.events:
        return "no server-sent event"
    return None


def _count_shape(ex: Exchange) -> str | None:
    body = ex.json_or_none()
    if not isinstance(body, dict) or not isinstance(body.get("input_tokens"), int):
        return "the body has no integer input_tokens"
    return None


def resolve(client: Client, *, model: str | None, has_key: bool, extra: Iterable[str], reports_dir: Path) -> tuple[
        Discovery, Profile, Path]:
    """Discover, write ``<reports_dir>/discovered-profile.toml``, return the run's profile."""
    found = discover(client, model=model, has_key=has_key)
    path = Path(reports_dir) / "discovered-profile.toml"
    found.write(path)
    return found, replace(found.profile(extra=extra), path=str(path)), path
