"""Responses, text completions and count_tokens · fuzz: Hypothesis against the live endpoint, one
bounded run over the three routes (the llmconf-ci profile's example budget, as the chat fuzzer:
every example is one HTTP request). Invalid requests → 4xx with the API's error envelope, never
5xx; every fuzzed route still serves afterwards."""

import pytest
from hypothesis import given, note, settings

from conformance.harness.checks import negative as checks
from conformance.harness.failures import NotApplicable
from conformance.harness.requirements import requirement
from conformance.harness.strategies import ROUTE_MUTATIONS, ROUTE_ORDER, invalid_route_requests, route_base_request

pytestmark = [pytest.mark.slow, pytest.mark.alone("hostile input: generated invalid requests, then the endpoint must still serve")]

# route → (path, the capability that declares it)
ROUTES = {
    "responses": ("/v1/responses", "responses"),
    "completions": ("/v1/completions", "completions"),
    "count_tokens": ("/v1/messages/count_tokens", "count_tokens"),
}


def _kinds(profile):
    """Violation kinds per declared route: the ones a profile records as known OAI-ERR-005,
    OAI-ERR-006 or ANT-TOKENS-003 deviations (``settings.fuzz_skip_by_route``) are not
    regenerated; a route left without kinds is not fuzzed."""
    skip = profile.setting("fuzz_skip_by_route", {}) or {}
    out = {}
    for route in ROUTE_ORDER:
        if not profile.has(ROUTES[route][1]):
            continue
        kinds = tuple(k for k in ROUTE_MUTATIONS[route] if k not in set(skip.get(route, ())))
        if kinds:
            out[route] = kinds
    return out


def _send(oai, ant, route, body):
    path = ROUTES[route][0]
    if route == "count_tokens":
        return ant.raw("POST", path, json_body=body)
    return oai.raw("POST", path, json_body=body)


@requirement("OAI-FUZZ-003")
def test_generated_invalid_responses_completions_and_count_tokens_requests_are_rejected(oai, ant, schemas,
                                                                                        profile, model):
    kinds = _kinds(profile)
    if not kinds:
        raise NotApplicable("the profile declares none of responses, completions, count_tokens, or every "
                            "violation of those it declares is a recorded deviation (settings.fuzz_skip_by_route)")
    fuzzed = set()

    # One failure is reported (the first, shrunk): a ConformanceFailure the harness judges, never
    # a group of several.
    @settings(report_multiple_bugs=False)
    @given(example=invalid_route_requests(model, kinds))
    def run(example):
        route, kind, request = example
        note(f"route: {route}; violation: {kind}; request: {request}")
        fuzzed.add(route)
        ex = _send(oai, ant, route, request)
        checks.generated_invalid_request_rejected(ex, schemas=schemas, route=route, kind=kind)

    run()
    # Every fuzzed route keeps serving after the invalid requests.
    for route in ROUTE_ORDER:
        if route in fuzzed:
            ex = _send(oai, ant, route, route_base_request(route, model))
            checks.serves_after_generated_invalid_requests(ex, route=route)
