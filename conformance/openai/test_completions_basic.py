"""completions · basic: the legacy text completions envelope and parameters."""

import pytest

from conformance.harness.checks import completions as checks
from conformance.harness.checks import openai as oai_checks
from conformance.harness.failures import NotApplicable
from conformance.harness.requirements import requirement

pytestmark = pytest.mark.requires("completions")

PROMPT = "The capital cities of Europe are Paris, Berlin,"
BASIC = {"prompt": PROMPT, "max_tokens": 8, "temperature": 0}


@requirement("OAI-CMPL-001")
def test_text_completion_validates_against_schema(oai, schemas):
    checks.text_completion_schema(oai.completions(BASIC).body, schemas=schemas)


@requirement("OAI-USAGE-001")
def test_completions_usage_counts_add_up(oai):
    oai_checks.usage_arithmetic(oai.completions(BASIC).usage)


@requirement("OAI-PARAM-001")
def test_completion_cut_by_max_tokens_finishes_with_length(oai):
    max_tokens = 4
    result = oai.completions({"prompt": PROMPT, "max_tokens": max_tokens, "temperature": 0})
    finish, usage = result.finish_reason, result.usage
    completion = usage.get("completion_tokens") if isinstance(usage, dict) else None
    if finish == "stop" and isinstance(completion, int) and completion < max_tokens:
        raise NotApplicable(f"the model ended on its own after {completion} < {max_tokens} tokens")
    oai_checks.length_finish(finish, usage, max_tokens=max_tokens)


@requirement("OAI-CMPL-004")
def test_echo_returns_prompt_before_completion(oai):
    result = oai.completions({**BASIC, "max_tokens": 4, "echo": True})
    checks.echo_prefixes_prompt(result.choice(0).get("text"), prompt=PROMPT)


@requirement("OAI-CMPL-005")
def test_requested_completions_logprobs_have_documented_shape(oai):
    result = oai.completions({**BASIC, "max_tokens": 4, "logprobs": 2})
    checks.completion_logprobs_shape(result.choice(0), k=2)
