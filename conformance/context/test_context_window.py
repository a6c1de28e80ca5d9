"""context · window: the window the endpoint states, from every source, and its tokenizer.

Discovery reads every statement of the window (``conformance.harness.context``); these tests judge
that the statements agree (OAI-CTX-001) and that the endpoint's tokenizer counts what it bills
(OAI-CTX-002). The boundary tests (test_context_boundary.py) judge the window the endpoint enforces.
"""

import pytest

from conformance.harness.checks import window as checks
from conformance.harness.context import filler_words
from conformance.harness.failures import NotApplicable
from conformance.harness.requirements import requirement

pytestmark = [pytest.mark.long_context("boundary"),
              pytest.mark.alone("timing: over-window probes judged against prompt-scaled timeouts")]


@requirement("OAI-CTX-001")
def test_advertised_window_sources_agree(context_window):
    checks.window_sources_agree([s.as_dict() for s in context_window.sources])


@requirement("OAI-CTX-002")
def test_tokenizer_count_matches_billed_prompt_tokens(oai, context_window):
    if not context_window.counter.is_exact:
        raise NotApplicable("the endpoint offers no tokenizer (/tokenize, /v1/tokenize answered no count): "
                            "prompt sizes are calibrated on usage.prompt_tokens instead")
    # a text other than the one the template overhead was measured with, ~300 words
    text = " ".join(filler_words(23, 300))
    overhead = context_window.overhead("chat")
    result = oai.chat({"messages": [{"role": "user", "content": text}], "max_tokens": 1, "temperature": 0})
    usage = result.usage if isinstance(result.usage, dict) else {}
    checks.tokenizer_count_matches_usage(counted=context_window.count_text(text) + overhead,
                                         billed=usage.get("prompt_tokens"), tolerance=2)
