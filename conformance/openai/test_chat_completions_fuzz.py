"""chat.completions · fuzz: Hypothesis against the live endpoint (bounded by the llmconf-ci
profile: every example is one HTTP request). Invalid requests → 4xx with an error envelope, never
5xx, the endpoint still serving; valid requests → schema-valid responses."""

import pytest
from hypothesis import given, note

from conformance.harness.checks import common as checks
from conformance.harness.datasets import case
from conformance.harness.requirements import requirement
from conformance.harness.strategies import MUTATIONS, invalid_requests, valid_requests

pytestmark = [pytest.mark.slow, pytest.mark.alone("hostile input: generated invalid requests, then the endpoint must still serve")]


def _kinds(profile):
    """Mutation kinds to generate: known OAI-ERR-001 deviations are not regenerated (they have
    their own strict xfails), unknown fields only where the profile says they are rejected."""
    skip = set(profile.setting("fuzz_skip", []))
    if not profile.setting("rejects_unknown_fields", False):
        skip.add("unknown-field")
    return tuple(k for k in MUTATIONS if k not in skip)


@requirement("OAI-FUZZ-001")
def test_generated_invalid_requests_are_rejected_with_4xx(oai, schemas, profile, model):
    @given(example=invalid_requests(model, _kinds(profile)))
    def run(example):
        kind, request = example
        note(f"violation: {kind}; request: {request}")
        ex = oai.raw("POST", "/v1/chat/completions", json_body=request)
        checks.invalid_request_rejected_with_envelope(ex, schemas=schemas, kind=kind)

    run()
    # The endpoint keeps serving after the invalid requests.
    ok = oai.chat(case("openai/chat_basic.json", "short-reply").request, reuse=False)
    checks.well_formed_request_succeeds.__wrapped__(ok.exchange)


@requirement("OAI-FUZZ-002")
def test_generated_valid_requests_get_schema_valid_responses(oai, profile, model):
    @given(request=valid_requests(model, allow_n=profile.has("n_gt_1"), allow_logprobs=profile.has("logprobs"),
                                  allow_stream=profile.has("streaming")))
    def run(request):
        note(f"request: {request}")
        if request.get("stream"):
            oai.chat_stream(request, reuse=False)  # passive checks: status, framing, every chunk's schema
        else:
            oai.chat(request, reuse=False)  # passive checks: status, content type, schema

    run()
