"""The proxy faults the LangChain tests catch (OAI-LCHAIN-002, OAI-LCHAIN-003), offline: the real
ChatOpenAI / ChatNVIDIA, routed through the suite's client, against the canned endpoint of
``tests/test_langchain_client.py``, directly (the check passes) and through the fault proxy (it fails)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conformance.harness import lchain
from conformance.harness.checks import sdk as checks
from conformance.harness.client import Client
from conformance.harness.schemas import SchemaSet
from tests.fake_upstream import _close_clients, client, schemas, serve  # noqa: F401 (fixtures)
from tests.test_faults import Scenario, assert_fault_caught

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather.", "parameters": {
    "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}]


def _model(kind: str, c: Client, http: Any) -> Any:
    if kind == "openai":
        return lchain.chat_openai(c, http, api_key="k", model="m", timeout_s=10, max_tokens=8, stream_usage=True)
    return lchain.chat_nvidia(c, http, api_key="k", model="m", max_completion_tokens=8)


def _stream(kind: str) -> Any:
    def run(c: Client, s: SchemaSet) -> None:
        from langchain_core.messages import HumanMessage  # noqa: PLC0415

        http = c.sdk_http_client()
        try:
            start = len(c.log)
            with lchain.verdict("OAI-LCHAIN-002", "stream"):
                chunks = list(_model(kind, c, http).stream([HumanMessage("hi")]))
            total = chunks[0]
            for chunk in chunks[1:]:
                total = total + chunk
            ex = lchain.only_exchange(c, start, "stream")
            checks.langchain_stream_aggregates(lchain.message_view(total), lchain.wire_view(ex),
                                               [x.content for x in chunks])
        finally:
            http.close()
    return run


def _tools(kind: str) -> Any:
    def run(c: Client, s: SchemaSet) -> None:
        from langchain_core.messages import HumanMessage  # noqa: PLC0415

        http = c.sdk_http_client()
        try:
            start = len(c.log)
            with lchain.verdict("OAI-LCHAIN-003", "bind_tools"):
                message = _model(kind, c, http).bind_tools(TOOLS, tool_choice="auto").invoke([HumanMessage("weather?")])
            ex = lchain.only_exchange(c, start, "bind_tools")
            checks.langchain_tool_calls_match_wire(lchain.message_view(message), lchain.wire_view(ex), tools=TOOLS)
        finally:
            http.close()
    return run


LANGCHAIN_SCENARIOS: list[Scenario] = [
    *(Scenario("usage-missing-with-include-usage", "OAI-LCHAIN-002", f"stream-{k}", _stream(k))
      for k in ("openai", "nvidia")),
    *(Scenario("tool-args-invalid-json", "OAI-LCHAIN-003", f"bind-tools-{k}", _tools(k)) for k in ("openai", "nvidia")),
]


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    from tests.test_langchain_client import Upstream  # noqa: PLC0415 - skips without the langchain group

    yield from serve(Upstream)


@pytest.mark.parametrize("scenario", LANGCHAIN_SCENARIOS, ids=lambda sc: sc.id)
def test_langchain_fault_is_caught_by_its_requirement(upstream: str, schemas: SchemaSet, scenario: Scenario) -> None:
    pytest.importorskip("langchain_openai", reason="the langchain group is not installed")
    pytest.importorskip("langchain_nvidia_ai_endpoints", reason="the langchain group is not installed")
    assert_fault_caught(upstream, schemas, scenario)
