"""chat.completions · reasoning: field name, thinking on/off, budgets, leakage, stream parity."""

import pytest

from conformance.harness.checks import reasoning as checks
from conformance.harness.requirements import requirement
from conformance.harness.parallel import DETERMINISM

pytestmark = pytest.mark.requires("reasoning")

ASK = [{"role": "user", "content": "Is 17 a prime number? Think briefly, then answer."}]


def _thinking(oai, on: bool, *, budget: int | None = None, **extra):
    """The question with thinking switched on or off the profile's way (settings.reasoning_on /
    reasoning_off / reasoning_budget: chat_template_kwargs and thinking_token_budget on NIM, vLLM
    and llama.cpp; the reasoning object on hosted APIs); vLLM's switch when the profile names none."""
    switch = oai.requests.reasoning("chat", on, budget=budget)
    if not switch:
        switch = {"chat_template_kwargs": {"enable_thinking": on}}
    if budget is not None and not oai.requests.reasoning_budget.get("chat"):
        switch["thinking_token_budget"] = budget
    return {"messages": ASK, "max_tokens": 64, "temperature": 0, **switch, **extra}


@requirement("OAI-REASON-001")
def test_reasoning_comes_in_declared_field(oai, profile):
    checks.reasoning_in_declared_field(oai.chat(_thinking(oai, True)).message, field=profile.reasoning_field)


@requirement("OAI-REASON-002")
def test_thinking_off_produces_no_reasoning(oai):
    checks.no_reasoning(oai.chat(_thinking(oai, False)).message)


@requirement("OAI-REASON-003")
@pytest.mark.requires("reasoning_budget")
def test_thinking_token_budget_bounds_reasoning_tokens(oai, profile):
    budget = 16
    result = oai.chat(_thinking(oai, True, budget=budget, max_tokens=128))
    checks.reasoning_within_budget(result.usage, budget=budget, slack=int(profile.setting("budget_slack", 0)))


@requirement("OAI-REASON-004")
def test_reasoning_tokens_do_not_exceed_completion_tokens(oai):
    checks.reasoning_tokens_bounded(oai.chat(_thinking(oai, True)).usage)


@requirement("OAI-REASON-005")
def test_reasoning_tokens_reported_when_reasoning_present(oai):
    result = oai.chat(_thinking(oai, True))
    checks.reasoning_tokens_reported(result.usage, result.message)


@requirement("OAI-REASON-006")
@pytest.mark.parametrize("mode", ["blocking", pytest.param("streaming", marks=pytest.mark.requires("streaming"))])
def test_no_think_tags_leak_into_content(oai, mode):
    if mode == "blocking":
        checks.no_think_leak(oai.chat(_thinking(oai, True)).message.get("content"))
    else:
        checks.no_think_leak(oai.chat_stream(_thinking(oai, True)))


@pytest.mark.alone(DETERMINISM)
@requirement("OAI-REASON-007")
@pytest.mark.requires("streaming")
def test_stream_and_non_stream_agree_on_reasoning_presence(oai):
    blocking = oai.chat(_thinking(oai, True)).message
    streamed = oai.chat_stream(_thinking(oai, True))
    checks.reasoning_presence_agrees(checks.has_reasoning(streamed), checks.has_reasoning(blocking))


@requirement("OAI-REASON-008")
def test_length_finish_after_reasoning_leaves_content(oai):
    result = oai.chat(_thinking(oai, True, max_tokens=16))
    checks.content_not_starved_by_reasoning(result.message, result.finish_reason)


@requirement("OAI-REASON-009")
@pytest.mark.requires("hosted_reasoning")
def test_hosted_reasoning_exclude_removes_reasoning(oai):
    request = {"messages": ASK, "max_tokens": 64, "temperature": 0}
    # The control (same request without exclude) must reason, or the absence proves nothing. It
    # switches thinking on the profile's way: without a reasoning object the profile's default
    # (thinking off) would be added, and the control could never reason.
    on = oai.requests.reasoning("chat", True).get("reasoning")
    on = dict(on) if isinstance(on, dict) else {}
    control = oai.chat({**request, "reasoning": on} if on else request)
    result = oai.chat({**request, "reasoning": {**on, "exclude": True}})
    checks.reasoning_excluded(result.message, control=control.message)


# The hosted reasoning object as the seed documents it (aimlapi nemotron-3-ultra-550b-a55b,
# OpenRouter convention): {effort: low|medium|high} or {max_tokens: N}, "cannot be used
# simultaneously"; each sent alone, as the request's whole reasoning object.
EFFORT = {"messages": ASK, "max_tokens": 64, "temperature": 0, "reasoning": {"effort": "low"}}
# streamed with usage: the reasoning_tokens are judged on the final usage chunk
STREAMED = pytest.param("streaming", marks=pytest.mark.requires("streaming", "stream_usage"))


def _effort_answer(oai, mode):
    """The effort request's answer: the chat.completion body, or the stream (with usage)."""
    if mode == "blocking":
        return oai.chat(EFFORT).body
    return oai.chat_stream({**EFFORT, "stream_options": {"include_usage": True}})


@requirement("OAI-REASON-011")
@pytest.mark.requires("hosted_reasoning")
@pytest.mark.parametrize("mode", ["blocking", STREAMED])
def test_hosted_reasoning_effort_is_honoured(oai, profile, mode):
    checks.reasoning_effort_honoured(_effort_answer(oai, mode), field=profile.reasoning_field)


@requirement("OAI-REASON-012")
@pytest.mark.requires("hosted_reasoning")
def test_hosted_reasoning_max_tokens_bounds_reasoning_tokens(oai, profile):
    budget = 16
    result = oai.chat({"messages": ASK, "max_tokens": 128, "temperature": 0, "reasoning": {"max_tokens": budget}})
    checks.reasoning_max_tokens_honoured(result.body, budget=budget, slack=int(profile.setting("budget_slack", 0)))


@requirement("OAI-REASON-013")
@pytest.mark.requires("hosted_reasoning")
@pytest.mark.parametrize("mode", ["blocking", STREAMED])
def test_hosted_reasoning_details_and_meta_usage_agree(oai, mode):
    # The OAI-REASON-011 exchanges (reused: no extra request where both run).
    checks.reasoning_details_consistent(_effort_answer(oai, mode))
