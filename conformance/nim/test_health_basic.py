"""health: NIM management endpoints (only when the profile declares nim_health)."""

from conformance.harness.checks import nim as checks
from conformance.harness.requirements import requirement

LIVE, READY = "/v1/health/live", "/v1/health/ready"


@requirement("NIM-HEALTH-001")
def test_liveness_endpoint_answers_200(oai):
    checks.live_ok(oai.raw("GET", LIVE, reuse=True))


@requirement("NIM-HEALTH-002")
def test_ready_endpoint_serves_one_token_request(oai):
    ready = oai.raw("GET", READY)
    probe = oai.raw("POST", "/v1/chat/completions", json_body=oai.with_model(
        {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}))
    checks.ready_means_serving(ready, probe)


@requirement("NIM-HEALTH-003")
def test_health_responses_carry_health_body(oai, schemas):
    checks.health_body_schema(oai.raw("GET", LIVE, reuse=True), schemas=schemas)
    checks.health_body_schema(oai.raw("GET", READY, reuse=True), schemas=schemas)
