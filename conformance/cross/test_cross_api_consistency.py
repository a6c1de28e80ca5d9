"""cross-API: one greedy prompt through chat completions, Responses and Messages (INFO: recorded,
never gated; chat templates may legitimately differ between the APIs of one server)."""

import pytest

from conformance.harness.checks import sdk as checks
from conformance.harness.checks.anthropic import message_text
from conformance.harness.requirements import requirement
from conformance.harness.parallel import DETERMINISM
from conformance.harness.streams.responses import response_output_text

PROMPT = "Say hello to the conformance suite."


@pytest.mark.alone(DETERMINISM)
@requirement("OAI-XAPI-001")
@pytest.mark.requires("responses", "messages")
def test_apis_agree_on_input_tokens_and_text_for_one_prompt(oai, ant):
    chat = oai.chat({"messages": [{"role": "user", "content": PROMPT}], "max_tokens": 8, "temperature": 0})
    _, resp = oai.responses({"input": [{"role": "user", "content": PROMPT}], "max_output_tokens": 8,
                             "temperature": 0})
    _, msg = ant.messages({"messages": [{"role": "user", "content": PROMPT}], "max_tokens": 8, "temperature": 0})
    tokens = {
        "chat": (chat.usage or {}).get("prompt_tokens"),
        "responses": (resp.get("usage") or {}).get("input_tokens"),
        "messages": (msg.get("usage") or {}).get("input_tokens"),
    }
    texts = {
        "chat": chat.text,
        "responses": response_output_text(resp) or "",
        "messages": message_text(msg),
    }
    checks.apis_agree(tokens, texts)
