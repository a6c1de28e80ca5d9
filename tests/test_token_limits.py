"""The token-limit cases (conformance/context/test_token_limits.py) and the profile's
``token_limit_clamps`` setting, offline."""

from __future__ import annotations

import pytest

from conformance.context import test_token_limits as module
from conformance.harness.checks.token_limits import VALUE_IDS, WINDOW, resolve_clamp
from conformance.harness.failures import UsageError


def _ids(params):
    return [p.id for p in params]


def test_every_api_and_parameter_gets_every_value_except_completions_zero():
    oai, ant = _ids(module.OAI_LIMITS), _ids(module.ANT_LIMITS)
    assert len(oai) == len(set(oai)) == 4 * len(VALUE_IDS) - 1
    assert "completions-max-tokens-zero" not in oai  # minimum: 0 in the spec: a valid value
    assert ant == [f"messages-max-tokens-{v}" for v in VALUE_IDS]
    assert set(module.VALUES) == set(VALUE_IDS)


def test_only_the_window_cases_are_long_context_tests():
    for param in module.OAI_LIMITS + module.ANT_LIMITS:
        tiers = [m.args for m in param.marks if m.name == "long_context"]
        assert tiers == ([("boundary",)] if param.id.endswith("above-window") else []), param.id
        needs = {a for m in param.marks if m.name == "requires" for a in m.args}
        assert "streaming" in needs, param.id  # every case is streamed under a client budget


def test_no_clamp_declared():
    assert resolve_clamp(None, "chat-max-tokens-int-max", "int-max") is None
    assert resolve_clamp({"zero": 1}, "chat-max-tokens-int-max", "int-max") is None


def test_clamp_by_value_and_by_case_id_the_case_id_wins():
    setting = {"int-max": WINDOW, "chat-max-tokens-int-max": 4096, "above-window": WINDOW}
    assert resolve_clamp(setting, "chat-max-tokens-int-max", "int-max") == 4096
    assert resolve_clamp(setting, "completions-max-tokens-int-max", "int-max") == WINDOW
    assert resolve_clamp(setting, "messages-max-tokens-above-window", "above-window") == WINDOW


@pytest.mark.parametrize("setting", [
    ["above-window"],                     # not a table
    {"above-the-window": WINDOW},         # unknown value id
    {"chat-max-tokens-huge": 5},          # unknown case id
    {"int-max": 0},                       # not positive
    {"int-max": "context"},               # neither "window" nor tokens
    {"int-max": True},                    # a bool is not a number of tokens
])
def test_bad_clamp_settings_are_usage_errors(setting):
    with pytest.raises(UsageError):
        resolve_clamp(setting, "chat-max-tokens-int-max", "int-max")
