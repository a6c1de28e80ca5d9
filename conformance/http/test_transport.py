"""http: transport-level requirements shared by every API."""

import pytest

from conformance.harness.checks import common as checks
from conformance.harness.datasets import case
from conformance.harness.requirements import requirement

SHORT = case("openai/chat_basic.json", "short-reply").request
CHAT = "/v1/chat/completions"


@requirement("HTTP-STATUS-001")
def test_well_formed_request_is_answered_with_2xx(oai):
    checks.well_formed_request_succeeds(oai.chat(SHORT).exchange)


@requirement("HTTP-CTYPE-001")
def test_json_response_declares_application_json(oai):
    checks.json_content_type(oai.chat(SHORT).exchange)


@requirement("HTTP-BODY-001")
def test_json_response_body_parses(oai):
    checks.body_is_json(oai.chat(SHORT).exchange)


@requirement("HTTP-ROUTE-001")
def test_unknown_route_is_answered_404(oai):
    checks.unknown_route_not_found(oai.raw("GET", "/v1/llmconf-no-such-route"))


@requirement("HTTP-METHOD-001")
def test_wrong_method_is_rejected_with_405(oai):
    checks.wrong_method_rejected(oai.raw("GET", CHAT))


@requirement("HTTP-AUTH-001")
@pytest.mark.parametrize("credentials", ["none", "wrong-key"])
def test_request_without_valid_credentials_is_rejected_with_401(oai, credentials):
    body = oai.with_model(SHORT)
    if credentials == "none":
        ex = oai.raw("POST", CHAT, json_body=body, auth=None)
    else:
        ex = oai.raw("POST", CHAT, json_body=body, auth=None, headers={"authorization": "Bearer llmconf-wrong-key"})
    checks.unauthenticated_rejected(ex)
