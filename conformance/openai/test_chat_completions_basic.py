"""chat.completions · basic: the non-streamed envelope."""

import pytest

from conformance.harness.checks import openai as checks
from conformance.harness.datasets import case, cases
from conformance.harness.requirements import requirement

BASIC = "openai/chat_basic.json"


@requirement("OAI-CHAT-001")
@pytest.mark.parametrize("c", cases(BASIC))
def test_chat_completion_validates_against_schema(oai, schemas, c):
    result = oai.chat(c.request)
    checks.chat_completion_schema(result.body, schemas=schemas)


@requirement("OAI-CHAT-002")
def test_conversation_with_system_message_is_answered(oai):
    result = oai.chat(case(BASIC, "system-multi-turn").request)
    checks.assistant_message_present(result.body)


@requirement("OAI-CHAT-003")
@pytest.mark.parametrize("mode", ["blocking", pytest.param("streaming", marks=pytest.mark.requires("streaming"))])
def test_finish_reason_is_documented(oai, mode):
    request = case(BASIC, "short-reply").request
    if mode == "blocking":
        checks.finish_reason_documented(oai.chat(request).finish_reason)
    else:
        reasons = oai.chat_stream(request).finish_reasons(0)
        for value in reasons or [None]:
            checks.finish_reason_documented(value)


@requirement("OAI-CHAT-004")
def test_response_has_n_choices_indexed_from_0(oai):
    checks.choices_indexed(oai.chat(case(BASIC, "short-reply").request).body, n=1)
