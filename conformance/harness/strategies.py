"""Hand-written Hypothesis strategies for chat completion *requests* (deliberately not generated
from the schema; bounds come from the pinned spec's CreateChatCompletionRequest: temperature 0–2,
top_p 0–1, n 1–128, top_logprobs 0–20, presence/frequency_penalty -2–2).

``invalid_requests`` applies exactly one named violation to a valid base request, so every
failing example says what it broke (``kind``). ``invalid_route_requests`` does the same for
Responses, text completions and count_tokens (``ROUTE_MUTATIONS``, OAI-FUZZ-003)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

ROLES = ("system", "user", "assistant")
TEXT = st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "Zs")), min_size=1, max_size=40)

# kind → strategy of (field path, value) producing one violation of the request schema
MUTATIONS: dict[str, st.SearchStrategy[tuple[str, Any]]] = {
    "missing-messages": st.just(("messages", ...)),
    "messages-not-array": st.tuples(st.just("messages"), st.one_of(TEXT, st.integers(), st.just({"role": "user"}))),
    "messages-empty": st.just(("messages", [])),
    "message-missing-role": st.tuples(st.just("messages"), TEXT.map(lambda t: [{"content": t}])),
    "role-unknown": st.tuples(st.just("messages"), st.sampled_from(["wizard", "bot", "USER", ""]).map(
        lambda r: [{"role": r, "content": "hello"}])),
    "content-wrong-type": st.tuples(st.just("messages"), st.one_of(st.integers(), st.booleans(),
                                                                   st.lists(st.integers(), min_size=1, max_size=3)).map(
        lambda c: [{"role": "user", "content": c}])),
    "temperature-range": st.tuples(st.just("temperature"), st.one_of(
        st.floats(max_value=-0.01, min_value=-100, allow_nan=False), st.floats(min_value=2.01, max_value=100))),
    "temperature-type": st.tuples(st.just("temperature"), st.one_of(TEXT, st.lists(st.integers(), max_size=2))),
    "top-p-range": st.tuples(st.just("top_p"), st.one_of(
        st.floats(max_value=-0.01, min_value=-10, allow_nan=False), st.floats(min_value=1.01, max_value=10))),
    "max-tokens-negative": st.tuples(st.just("max_tokens"), st.integers(max_value=-2, min_value=-10_000)),
    # -1 on its own: llama.cpp reads it as "no limit" (n_predict -1) and generates to the context end
    "max-tokens-minus-one": st.just(("max_tokens", -1)),
    "max-tokens-string": st.tuples(st.just("max_tokens"), TEXT),
    "max-tokens-fractional": st.tuples(st.just("max_tokens"), st.floats(min_value=0.5, max_value=9.5).filter(
        lambda f: not f.is_integer())),
    "n-below-one": st.tuples(st.just("n"), st.integers(max_value=0, min_value=-5)),
    "top-logprobs-range": st.tuples(st.just("top_logprobs"), st.integers(min_value=21, max_value=1000)),
    "stream-type": st.tuples(st.just("stream"), st.sampled_from(["yes", 2, [True]])),
    "presence-penalty-range": st.tuples(st.just("presence_penalty"), st.one_of(
        st.floats(max_value=-2.01, min_value=-50), st.floats(min_value=2.01, max_value=50))),
    "unknown-field": st.tuples(st.sampled_from(["llmconf_unknown", "temprature", "max_token"]), st.integers()),
}


def base_request(model: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 2, "temperature": 0}


@st.composite
def invalid_requests(draw: st.DrawFn, model: str, kinds: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(kinds))
    field, value = draw(MUTATIONS[kind])
    request = base_request(model)
    if kind == "top-logprobs-range":
        request["logprobs"] = True
    if value is ...:
        request.pop(field, None)
    else:
        request[field] = value
    return kind, request


@st.composite
def valid_requests(draw: st.DrawFn, model: str, *, allow_n: bool, allow_logprobs: bool,
                   allow_stream: bool) -> dict[str, Any]:
    """Requests inside the documented ranges (small max_tokens: every example costs tokens)."""
    messages = [{"role": "user", "content": draw(TEXT)}]
    if draw(st.booleans()):
        messages.insert(0, {"role": "system", "content": draw(TEXT)})
    request: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": draw(st.integers(1, 6))}
    optional = {
        "temperature": st.floats(min_value=0, max_value=2),
        "top_p": st.floats(min_value=0.05, max_value=1),
        "presence_penalty": st.floats(min_value=-2, max_value=2),
        "frequency_penalty": st.floats(min_value=-2, max_value=2),
        "seed": st.integers(min_value=0, max_value=2**31 - 1),
        "stop": st.lists(st.text(alphabet="abcxyz.,;", min_size=1, max_size=4), min_size=1, max_size=3),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            request[key] = draw(strategy)
    if allow_n and draw(st.booleans()):
        request["n"] = 2
    if allow_logprobs and draw(st.booleans()):
        request["logprobs"] = True
        request["top_logprobs"] = draw(st.integers(min_value=0, max_value=5))
    if allow_stream and draw(st.booleans()):
        request["stream"] = True
        if draw(st.booleans()):
            request["stream_options"] = {"include_usage": True}
    return request


# --- Responses, text completions and count_tokens (OAI-FUZZ-003) --------------------------------
# Bounds from the pinned spec's CreateResponse (temperature 0–2, top_p 0–1, max_output_tokens ≥ 16,
# truncation auto|disabled, tool_choice none|auto|required or an object, tools an array) and
# CreateCompletionRequest (temperature 0–2, top_p 0–1, n 1–128, logprobs 0–5, max_tokens ≥ 0,
# stop a string or an array, echo and stream booleans), and the Anthropic count_tokens request
# (messages an array of user/assistant messages, content a string or an array of known blocks,
# system a string or an array of text blocks, tools an array). Wrong-typed values are never numeric
# strings or boolean words ("1", "yes"), which lenient validators legitimately coerce.

WORDS = st.sampled_from(["hot", "four", "many", "sometimes", "plenty"])
NOT_BOOLEAN = st.sampled_from(["sometimes", 2, [True]])
NOT_NUMBER = st.one_of(WORDS, st.lists(st.integers(0, 3), min_size=1, max_size=2))
BAD_ROLES = st.sampled_from(["wizard", "bot", "USER", ""])
OUT_OF_UNIT = st.one_of(st.floats(max_value=-0.01, min_value=-10, allow_nan=False),
                        st.floats(min_value=1.01, max_value=10))
OUT_OF_TEMPERATURE = st.one_of(st.floats(max_value=-0.01, min_value=-100, allow_nan=False),
                               st.floats(min_value=2.01, max_value=100))
NOT_ARRAY = st.one_of(WORDS, st.integers(), st.just({"type": "function", "name": "x"}))

# route → kind → strategy of (field, value) producing one violation (``...`` removes the field)
ROUTE_MUTATIONS: dict[str, dict[str, st.SearchStrategy[tuple[str, Any]]]] = {
    "responses": {
        "input-wrong-type": st.tuples(st.just("input"), st.one_of(
            st.integers(), st.booleans(), st.just({"role": "user", "content": "hello"}))),
        "input-role-unknown": st.tuples(st.just("input"), BAD_ROLES.map(lambda r: [{"role": r, "content": "hello"}])),
        "max-output-tokens-type": st.tuples(st.just("max_output_tokens"), NOT_NUMBER),
        # ≤ -2 only: llama.cpp reads -1 as "no limit" and 0..15 as small limits (OAI-CTX-009 judges those)
        "max-output-tokens-negative": st.tuples(st.just("max_output_tokens"), st.integers(-10_000, -2)),
        "temperature-type": st.tuples(st.just("temperature"), NOT_NUMBER),
        "temperature-range": st.tuples(st.just("temperature"), OUT_OF_TEMPERATURE),
        "top-p-range": st.tuples(st.just("top_p"), OUT_OF_UNIT),
        "truncation-unknown": st.tuples(st.just("truncation"), st.sampled_from(["sometimes", "middle", "AUTO"])),
        "tool-choice-unknown": st.tuples(st.just("tool_choice"), st.sampled_from(["whenever", "always", "never"])),
        "tools-not-array": st.tuples(st.just("tools"), NOT_ARRAY),
        "stream-type": st.tuples(st.just("stream"), NOT_BOOLEAN),
    },
    "completions": {
        "missing-prompt": st.just(("prompt", ...)),
        "prompt-wrong-type": st.tuples(st.just("prompt"), st.one_of(
            st.integers(), st.booleans(), st.just({"text": "hello"}))),
        "max-tokens-type": st.tuples(st.just("max_tokens"), NOT_NUMBER),
        # ≤ -2 only: -1 is llama.cpp's "no limit" (OAI-CTX-009 judges it)
        "max-tokens-negative": st.tuples(st.just("max_tokens"), st.integers(-10_000, -2)),
        "n-below-one": st.tuples(st.just("n"), st.integers(-5, 0)),
        "temperature-type": st.tuples(st.just("temperature"), NOT_NUMBER),
        "temperature-range": st.tuples(st.just("temperature"), OUT_OF_TEMPERATURE),
        "top-p-range": st.tuples(st.just("top_p"), OUT_OF_UNIT),
        "logprobs-range": st.tuples(st.just("logprobs"), st.one_of(st.integers(-100, -1), st.integers(6, 100))),
        "logprobs-type": st.tuples(st.just("logprobs"), WORDS),
        "stop-type": st.tuples(st.just("stop"), st.one_of(st.integers(), st.just({"at": "x"}))),
        "echo-type": st.tuples(st.just("echo"), NOT_BOOLEAN),
        "stream-type": st.tuples(st.just("stream"), NOT_BOOLEAN),
    },
    "count_tokens": {
        "missing-messages": st.just(("messages", ...)),
        "messages-not-array": st.tuples(st.just("messages"), st.one_of(
            WORDS, st.integers(), st.just({"role": "user", "content": "hello"}))),
        "role-unknown": st.tuples(st.just("messages"), BAD_ROLES.map(lambda r: [{"role": r, "content": "hello"}])),
        "content-wrong-type": st.tuples(st.just("messages"), st.one_of(st.integers(), st.booleans()).map(
            lambda c: [{"role": "user", "content": c}])),
        "system-wrong-type": st.tuples(st.just("system"), st.one_of(
            st.integers(), st.booleans(), st.just({"text": "be brief"}))),
        "tools-not-array": st.tuples(st.just("tools"), NOT_ARRAY),
        "block-type-unknown": st.tuples(st.just("messages"), st.sampled_from(["hologram", "txt", "video"]).map(
            lambda t: [{"role": "user", "content": [{"type": t, "text": "hello"}]}])),
    },
}
ROUTE_ORDER = ("responses", "completions", "count_tokens")


def route_base_request(route: str, model: str) -> dict[str, Any]:
    """A small valid request for ``route`` (max_output_tokens 16 is CreateResponse's minimum)."""
    if route == "responses":
        return {"model": model, "input": "Say hi.", "max_output_tokens": 16, "temperature": 0}
    if route == "completions":
        return {"model": model, "prompt": "Say hi.", "max_tokens": 2, "temperature": 0}
    if route == "count_tokens":
        return {"model": model, "messages": [{"role": "user", "content": "Say hi."}]}
    raise ValueError(f"unknown route {route!r}; known: {ROUTE_ORDER}")


@st.composite
def invalid_route_requests(draw: st.DrawFn, model: str,
                           kinds: dict[str, tuple[str, ...]]) -> tuple[str, str, dict[str, Any]]:
    """(route, kind, request): one route among those ``kinds`` names (with at least one kind),
    one violation of that route's request schema applied to its base request."""
    routes = tuple(r for r in ROUTE_ORDER if kinds.get(r))
    route = draw(st.sampled_from(routes))
    kind = draw(st.sampled_from(kinds[route]))
    field, value = draw(ROUTE_MUTATIONS[route][kind])
    request = route_base_request(route, model)
    if value is ...:
        request.pop(field, None)
    else:
        request[field] = value
    return route, kind, request
