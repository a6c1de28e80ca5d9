"""sdk · langchain: LangChain chat models as real clients (issue 14 §6).

``langchain_openai.ChatOpenAI`` (the NIM VLM guide's own example) and
``langchain_nvidia_ai_endpoints.ChatNVIDIA``, both pointed at the endpoint's ``/v1`` with the served
model, every request through the suite's recording client (``conformance/harness/lchain.py``): a chat
call, a stream, a tool call through ``bind_tools`` and, where the endpoint takes images, an image
message. Judged on LangChain's parsed objects against the wire (the one exchange each call made),
never on prose. Without the optional group ``langchain`` the tests skip, saying so.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.harness import lchain, media
from conformance.harness import media_parts as mp
from conformance.harness.checks import sdk as checks
from conformance.harness.failures import HarnessError
from conformance.harness.requirements import requirement
from conformance.harness.sdk import request
from conformance.harness.tooling import tool_request

PROMPT = "Say hello to the conformance suite."
CLIENTS = [pytest.param("openai", id="ChatOpenAI"), pytest.param("nvidia", id="ChatNVIDIA")]


@pytest.fixture
def lc_http(client):
    """The recording httpx client a test's LangChain model sends through (closed after the test)."""
    http = client.sdk_http_client()
    yield http
    http.close()


def _chat_model(kind: str, client: Any, http: Any, llmconf_state: Any, settings: Any, profile: Any, model: str, *,
                max_tokens: int) -> Any:
    """The LangChain chat model ``kind`` with the profile's request defaults (what the profile adds,
    e.g. a reasoning switch, travels as extra body fields, as in the SDK tests)."""
    lchain.require(kind)
    ask = request(profile, "chat", model=model, messages=[{"role": "user", "content": PROMPT}],
                  max_tokens=max_tokens, temperature=0)
    extra = dict(ask.get("extra_body") or {})
    usage = profile.has("stream_usage")
    if kind == "openai":
        return lchain.chat_openai(client, http, api_key=llmconf_state.api_key, model=model,
                                  timeout_s=settings.timeout_s, extra_body=extra, max_tokens=ask["max_tokens"],
                                  temperature=ask["temperature"], stream_usage=usage)
    return lchain.chat_nvidia(client, http, api_key=llmconf_state.api_key, model=model, extra_body=extra,
                              max_completion_tokens=ask["max_tokens"], temperature=ask["temperature"],
                              **({} if usage else {"stream_options": None}))


def _human(content: Any) -> Any:
    from langchain_core.messages import HumanMessage  # noqa: PLC0415

    return HumanMessage(content=content)


@requirement("OAI-LCHAIN-001")
@pytest.mark.parametrize("kind", CLIENTS)
def test_langchain_chat_invoke(kind, client, lc_http, llmconf_state, settings, profile, model):
    chat = _chat_model(kind, client, lc_http, llmconf_state, settings, profile, model, max_tokens=8)
    start = len(client.log)
    with lchain.verdict("OAI-LCHAIN-001", f"{type(chat).__name__}.invoke"):
        message = chat.invoke([_human(PROMPT)])
    ex = lchain.only_exchange(client, start, f"{type(chat).__name__}.invoke")
    checks.langchain_message_matches_wire(lchain.message_view(message), lchain.wire_view(ex))


@requirement("OAI-LCHAIN-002")
@pytest.mark.requires("streaming")
@pytest.mark.parametrize("kind", CLIENTS)
def test_langchain_chat_stream(kind, client, lc_http, llmconf_state, settings, profile, model):
    chat = _chat_model(kind, client, lc_http, llmconf_state, settings, profile, model, max_tokens=8)
    start = len(client.log)
    chunks = []
    with lchain.verdict("OAI-LCHAIN-002", f"{type(chat).__name__}.stream"):
        for chunk in chat.stream([_human(PROMPT)]):
            chunks.append(chunk)
        total = None
        for chunk in chunks:
            total = chunk if total is None else total + chunk
    ex = lchain.only_exchange(client, start, f"{type(chat).__name__}.stream")
    if not ex.stream:
        raise HarnessError(f"{type(chat).__name__}.stream sent {ex.summary()}: not a streamed exchange")
    # Usage is judged where LangChain asked for it on the wire (ChatNVIDIA drops stream_options for
    # the NVIDIA VLM models it knows; without the profile's stream_usage neither client asks).
    options = (ex.request_json or {}).get("stream_options") or {}
    checks.langchain_stream_aggregates(lchain.message_view(total) if total is not None else None,
                                       lchain.wire_view(ex), [c.content for c in chunks],
                                       usage_requested=bool(options.get("include_usage")))


@requirement("OAI-LCHAIN-003")
@pytest.mark.requires("tools")
@pytest.mark.parametrize("kind", CLIENTS)
def test_langchain_bind_tools_call(kind, client, lc_http, llmconf_state, settings, profile, model):
    # The tool tests' own request (settings.tool_prompts: the reference model is shown the call).
    case = tool_request(profile, "weather-one-call")
    chat = _chat_model(kind, client, lc_http, llmconf_state, settings, profile, model, max_tokens=case["max_tokens"])
    bound = chat.bind_tools(case["tools"], tool_choice="auto", parallel_tool_calls=False)
    start = len(client.log)
    with lchain.verdict("OAI-LCHAIN-003", f"{type(chat).__name__}.bind_tools(...).invoke"):
        message = bound.invoke([_human(case["messages"][-1]["content"])])
    ex = lchain.only_exchange(client, start, f"{type(chat).__name__}.bind_tools(...).invoke")
    checks.langchain_tool_calls_match_wire(lchain.message_view(message), lchain.wire_view(ex), tools=case["tools"])


@requirement("OAI-LCHAIN-004")
@pytest.mark.requires("vision")
@pytest.mark.media("basic")
@pytest.mark.parametrize("kind", CLIENTS)
def test_langchain_image_message(kind, client, lc_http, llmconf_state, settings, profile, model, modalities):
    if not modalities.has_shape("image", "image_url"):
        pytest.skip(f"the profile declares image shapes {list(modalities.shapes('image'))}, not 'image_url' "
                    f"(settings.media_shapes)")
    medium = media.CATALOG["png-64"]
    if (why := modalities.format_reason(medium)) is not None:
        pytest.skip(f"png-64: {why}")
    chat = _chat_model(kind, client, lc_http, llmconf_state, settings, profile, model, max_tokens=8)
    # The seed's example: a HumanMessage with a text part and an image_url part.
    content = [{"type": "text", "text": mp.PROMPT}, {"type": "image_url", "image_url": {"url": medium.data_uri}}]
    start = len(client.log)
    with lchain.verdict("OAI-LCHAIN-004", f"{type(chat).__name__}.invoke (image)"):
        message = chat.invoke([_human(content)])
    ex = lchain.only_exchange(client, start, f"{type(chat).__name__}.invoke (image)")
    checks.langchain_image_message_answered(lchain.message_view(message), lchain.wire_view(ex), ex.request_json,
                                            image_url=medium.data_uri)
