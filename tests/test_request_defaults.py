"""Profiles drive every request: request defaults and reasoning controls reach every API facade and
the SDK calls, a value the test sets always wins; keys come only from the profile's variable."""

from __future__ import annotations

import json
import textwrap

import httpx
import pytest

from conformance.harness import config as cfg
from conformance.harness import profiles
from conformance.harness.requirements import load_catalog
from conformance.harness.client import Client
from conformance.harness.facades import Anthropic, OpenAI, Passive
from conformance.harness.failures import UsageError
from conformance.harness.request_defaults import RequestPolicy, deep_merge, for_profile
from conformance.harness.schemas import SchemaSet
from conformance.harness.sdk import request as sdk_request

OFF = {"chat_template_kwargs": {"enable_thinking": False}}
ON = {"chat_template_kwargs": {"enable_thinking": True}}
USER = [{"role": "user", "content": "hi"}]


def _profile(settings: str, name: str = "unit") -> profiles.Profile:
    import tomllib

    raw = tomllib.loads(f'name="{name}"\ndescription="d"\nserver="s"\n' + textwrap.dedent(settings))
    return profiles.parse(raw, where=name)


THINKING = _profile("""
    [settings]
    reasoning_default = "on"
    reasoning_token_allowance = 500
    [settings.request_defaults]
    chat = { top_k = 5, chat_template_kwargs = { style = "x" } }
    completions = { top_k = 6 }
    responses = { top_k = 7 }
    messages = { top_k = 8 }
    [settings.reasoning_off]
    chat = { chat_template_kwargs = { enable_thinking = false } }
    responses = { chat_template_kwargs = { enable_thinking = false } }
    [settings.reasoning_on]
    chat = { chat_template_kwargs = { enable_thinking = true } }
    [settings.reasoning_budget]
    chat = "thinking_token_budget"
""")


# -- the merge -----------------------------------------------------------------------------------

def test_deep_merge_lets_the_request_win_and_copies():
    base = {"a": {"b": 1, "c": 2}, "d": 1}
    over = {"a": {"b": 9}, "d": {"x": 1}}
    out = deep_merge(base, over)
    assert out == {"a": {"b": 9, "c": 2}, "d": {"x": 1}}
    out["a"]["c"] = 99
    assert base["a"]["c"] == 2


def test_thinking_off_and_defaults_are_merged_under_the_request():
    pol = for_profile(THINKING)
    body = pol.apply("chat", {"messages": USER, "max_tokens": 8, "top_k": 1})
    assert body == {"messages": USER, "max_tokens": 8, "top_k": 1,
                    "chat_template_kwargs": {"style": "x", "enable_thinking": False}}


@pytest.mark.parametrize("control", [
    ON, {"reasoning_effort": "low"}, {"reasoning": {"exclude": True}}, {"thinking_token_budget": 16},
])
def test_a_request_that_sets_reasoning_itself_is_left_alone(control):
    body = for_profile(THINKING).apply("chat", {"messages": USER, "max_tokens": 8, **control})
    assert body["max_tokens"] == 8
    assert body.get("chat_template_kwargs", {}).get("enable_thinking") is not False
    for key, value in control.items():
        assert body[key] == (deep_merge({"style": "x"}, value) if key == "chat_template_kwargs" else value)


def test_allowance_only_where_no_off_switch_and_only_for_valid_budgets():
    pol = for_profile(THINKING)
    # messages has no off switch in this profile: the budget grows instead
    assert pol.apply("messages", {"messages": USER, "max_tokens": 8})["max_tokens"] == 508
    assert "chat_template_kwargs" not in pol.apply("messages", {"messages": USER, "max_tokens": 8})
    # completions is not conversational: no template, no thinking, no allowance
    assert pol.apply("completions", {"prompt": "x", "max_tokens": 8}) == {"prompt": "x", "max_tokens": 8, "top_k": 6}
    # negative tests send invalid budgets; they reach the endpoint unchanged
    for bad in (-1, 0, 1.5, "8", True):
        assert pol.apply("messages", {"messages": USER, "max_tokens": bad})["max_tokens"] == bad
    # an explicit thinking request keeps its own budget
    assert pol.apply("messages", {"max_tokens": 8, "thinking": {"type": "enabled"}})["max_tokens"] == 8


def test_reasoning_off_by_default_adds_no_switch():
    pol = for_profile(profiles.load("reference"))
    assert pol.apply("chat", {"messages": USER}) == {"messages": USER}
    assert pol.reasoning("chat", True) == ON and pol.reasoning("messages", False) == OFF


def test_reasoning_fragment_carries_the_budget_where_declared():
    hosted = for_profile(profiles.load("hosted"))
    assert hosted.reasoning("chat", True, budget=16) == {"reasoning": {"enabled": True, "max_tokens": 16}}
    nim = for_profile(profiles.load("nim"))
    assert nim.reasoning("chat", True, budget=16) == {**ON, "thinking_token_budget": 16}
    assert nim.reasoning("completions", True) == {}


def test_non_object_bodies_pass_unchanged():
    assert for_profile(THINKING).apply("chat", ["not", "an", "object"]) == ["not", "an", "object"]


@pytest.mark.parametrize("settings, message", [
    ('reasoning_default = "maybe"', "reasoning_default"),
    ("reasoning_token_allowance = -1", "non-negative"),
    ("[settings.request_defaults]\nchats = {}", "unknown APIs"),
    ("[settings.reasoning_off]\nchat = 1", "must be a table"),
    ('chat_defaults = {a = 1}\n[settings.request_defaults]\nchat = {b = 1}', "both given"),
])
def test_bad_request_settings_are_usage_errors(settings, message):
    with pytest.raises(UsageError, match=message):
        _profile("[settings]\n" + settings)


def test_chat_defaults_is_still_read_as_request_defaults_chat():
    prof = _profile("[settings]\nchat_defaults = { top_k = 3 }")
    assert for_profile(prof).apply("chat", {"top_k": 1, "x": 1}) == {"top_k": 1, "x": 1}
    assert for_profile(prof).apply("chat", {"x": 1}) == {"top_k": 3, "x": 1}


# -- the facades put it on the wire ---------------------------------------------------------------

def _facades(profile: profiles.Profile) -> tuple[OpenAI, Anthropic, list[tuple[str, dict]]]:
    sent: list[tuple[str, dict]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.path, json.loads(request.content)))
        if json.loads(request.content).get("stream"):
            return httpx.Response(200, content=b"data: [DONE]\n\n", headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json={})

    client = Client("http://endpoint.test", transport=httpx.MockTransport(handler))
    passive = Passive(profile=profile, catalog=load_catalog(), sink=lambda exc, kind: None)
    oai = OpenAI(client=client, schemas=SchemaSet(flavors=("compat",)), passive=passive, model="m")
    ant = Anthropic(client=client, schemas=SchemaSet(flavors=("compat",)), passive=passive, model="m", openai=oai)
    return oai, ant, sent


def test_defaults_reach_every_api_facade():
    oai, ant, sent = _facades(THINKING)
    oai.chat({"messages": USER, "max_tokens": 8})
    oai.chat_stream({"messages": USER, "max_tokens": 8})
    oai.completions({"prompt": "x", "max_tokens": 8})
    oai.completions_stream({"prompt": "x", "max_tokens": 8})
    oai.responses({"input": "x", "max_output_tokens": 8})
    oai.responses_stream({"input": "x", "max_output_tokens": 8})
    ant.messages({"messages": USER, "max_tokens": 8})
    ant.messages_stream({"messages": USER, "max_tokens": 8})
    ant.count_tokens({"messages": USER})
    by_path: dict[str, list[dict]] = {}
    for path, body in sent:
        by_path.setdefault(path, []).append(body)
    assert len(sent) == 9
    for body in by_path["/v1/chat/completions"]:
        assert body["model"] == "m" and body["top_k"] == 5 and body["max_tokens"] == 8
        assert body["chat_template_kwargs"] == {"style": "x", "enable_thinking": False}
    for body in by_path["/v1/completions"]:
        assert body["top_k"] == 6 and body["max_tokens"] == 8 and "chat_template_kwargs" not in body
    for body in by_path["/v1/responses"]:
        assert body["top_k"] == 7 and body["chat_template_kwargs"] == {"enable_thinking": False}
        assert body["max_output_tokens"] == 8
    for body in by_path["/v1/messages"]:
        assert body["top_k"] == 8 and body["max_tokens"] == 508  # no off switch declared: the allowance
    # count_tokens: the model only here (no prompt-shaping Messages default in this profile)
    assert by_path["/v1/messages/count_tokens"] == [{"model": "m", "messages": USER}]


def test_count_tokens_gets_the_prompt_shaping_switch_of_messages():
    prof = _profile("""
        [settings]
        reasoning_default = "on"
        [settings.request_defaults]
        messages = { top_k = 8, chat_template_kwargs = { style = "x" } }
        [settings.reasoning_off]
        messages = { chat_template_kwargs = { enable_thinking = false } }
    """)
    oai, ant, sent = _facades(prof)
    ant.count_tokens({"messages": USER})
    ant.messages({"messages": USER, "max_tokens": 4})
    (_, counted), (_, message) = sent
    assert counted == {"model": "m", "messages": USER,
                       "chat_template_kwargs": {"style": "x", "enable_thinking": False}}
    assert message["chat_template_kwargs"] == counted["chat_template_kwargs"] and message["top_k"] == 8
    # a count that sets thinking itself is left alone, like the Messages request would be
    ant.count_tokens({"messages": USER, "thinking": {"type": "enabled", "budget_tokens": 1024}})
    assert sent[-1][1]["chat_template_kwargs"] == {"style": "x"}


def test_explicit_request_values_win_on_the_wire():
    oai, ant, sent = _facades(THINKING)
    oai.chat({"messages": USER, "max_tokens": 64, "top_k": 1, **ON})
    oai.responses({"input": "x", "reasoning": {"effort": "low"}, "max_output_tokens": 96})
    ant.messages({"messages": USER, "max_tokens": 1088, "thinking": {"type": "enabled", "budget_tokens": 1024}})
    chat, resp, msg = (body for _, body in sent)
    assert chat["chat_template_kwargs"] == {"style": "x", "enable_thinking": True} and chat["top_k"] == 1
    assert "chat_template_kwargs" not in resp and resp["max_output_tokens"] == 96
    assert msg["max_tokens"] == 1088 and msg["thinking"]["type"] == "enabled"


def test_test_helpers_fill_the_right_api_defaults():
    oai, ant, _ = _facades(THINKING)
    assert oai.with_model({"messages": USER})["top_k"] == 5
    assert oai.with_completion_model({"prompt": "x"})["top_k"] == 6
    assert oai.with_completion_model({"input": "x"})["top_k"] == 7  # a Responses body
    assert oai.with_responses_model({"input": "x"})["top_k"] == 7
    assert ant.with_model({"messages": USER})["top_k"] == 8


# -- the SDK calls -------------------------------------------------------------------------------

def test_sdk_request_keeps_named_arguments_and_moves_additions_to_extra_body():
    kwargs = sdk_request(THINKING, "chat", model="m", messages=USER, max_tokens=8, temperature=0)
    assert kwargs == {"model": "m", "messages": USER, "max_tokens": 8, "temperature": 0,
                      "extra_body": {"top_k": 5, "chat_template_kwargs": {"style": "x", "enable_thinking": False}}}
    kwargs = sdk_request(THINKING, "messages", model="m", messages=USER, max_tokens=8, extra_body={"temperature": 0})
    assert kwargs == {"model": "m", "messages": USER, "max_tokens": 508,
                      "extra_body": {"temperature": 0, "top_k": 8}}
    kwargs = sdk_request(THINKING, "chat", model="m", messages=USER, extra_body=ON)
    assert kwargs["extra_body"]["chat_template_kwargs"]["enable_thinking"] is True
    assert sdk_request(profiles.load("reference"), "chat", model="m", max_tokens=8) == {"model": "m", "max_tokens": 8}


def test_sdk_request_reaches_the_wire_through_the_openai_sdk():
    openai = pytest.importorskip("openai")
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"id": "c", "object": "chat.completion", "created": 1, "model": "m",
                                         "choices": [{"index": 0, "finish_reason": "stop",
                                                      "message": {"role": "assistant", "content": "hi"}}]})

    sdk = openai.OpenAI(base_url="http://endpoint.test/v1", api_key="k", max_retries=0,
                        http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    sdk.chat.completions.create(**sdk_request(THINKING, "chat", model="m", messages=USER, max_tokens=8, temperature=0))
    assert seen == [{"model": "m", "messages": USER, "max_tokens": 8, "temperature": 0, "top_k": 5,
                     "chat_template_kwargs": {"style": "x", "enable_thinking": False}}]


# -- shipped profiles ------------------------------------------------------------------------------

def test_profiles_that_think_by_default_say_how_to_switch_it_off():
    for name in profiles.available():
        pol = for_profile(profiles.load(name))
        if pol.reasoning_default == "on":
            for api in ("chat", "responses", "messages"):
                if profiles.load(name).has(api if api != "chat" else "chat"):
                    assert pol.reasoning_off.get(api) or pol.allowance.get(api), (name, api)


def test_reference_thinking_extends_reference():
    ref, thinking = profiles.load("reference"), profiles.load("reference-thinking")
    assert thinking.capabilities == ref.capabilities and thinking.server == ref.server
    assert thinking.setting("reference_config") == "nemotron-thinking"
    assert thinking.setting("tool_prompts") == ref.setting("tool_prompts")
    assert for_profile(thinking).reasoning_default == "on" and for_profile(ref).reasoning_default == "off"
    ref_ids = {d.requirement for d in ref.deviations}
    assert {d.requirement for d in thinking.deviations} == ref_ids - {"ANT-THINK-001", "OAI-REASON-010"}


def test_extends_rejects_unknown_parent_and_unknown_removals(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('extends = "no-such-profile"\nname="x"\ndescription="d"\nserver="s"\n')
    with pytest.raises(UsageError, match="no such profile"):
        profiles.load(str(path))
    path.write_text('extends = "reference"\nremove_deviations = ["OAI-CHAT-001"]\nname="x"\ndescription="d"\n')
    with pytest.raises(UsageError, match="does not list"):
        profiles.load(str(path))


# -- keys go only where they belong ----------------------------------------------------------------

ALL_KEYS = {"OPENAI_API_KEY": "sk-openai-value", "NGC_API_KEY": "nvapi-ngc-value", "VLLM_API_KEY": "vllm-value",
            "EXAMPLE_KEY": "example-value"}


def _resolve(cli: dict[str, str], env: dict[str, str] = ALL_KEYS) -> cfg.Settings:
    return cfg.resolve(lambda dest: cli.get(dest), lambda ini: "", dict(env))


@pytest.mark.parametrize("profile, variable", [
    ("nim", "NGC_API_KEY"), ("openai", "OPENAI_API_KEY"), ("vllm", "VLLM_API_KEY"), ("generic", "OPENAI_API_KEY"),
    (None, "OPENAI_API_KEY"), ("discover", "OPENAI_API_KEY"),
])
def test_each_profile_reads_its_own_key_variable(profile, variable):
    cli = {"llmconf_endpoint": "http://h.test"}
    if profile:
        cli["llmconf_profile"] = profile
    settings = _resolve(cli)
    assert settings.api_key_env == variable and settings.api_key == ALL_KEYS[variable]


def test_no_fallback_to_another_providers_key():
    only_openai = {"OPENAI_API_KEY": "sk-openai-value"}
    nim = _resolve({"llmconf_endpoint": "http://h.test", "llmconf_profile": "nim"}, only_openai)
    assert nim.api_key_env == "NGC_API_KEY" and nim.api_key is None
    assert nim.redacted()["api_key"] == "$NGC_API_KEY (not set) from profile nim"
    only_ngc = {"NGC_API_KEY": "nvapi-ngc-value"}
    generic = _resolve({"llmconf_endpoint": "http://h.test"}, only_ngc)
    assert generic.api_key is None and generic.api_key_env == "OPENAI_API_KEY"


def test_hosted_needs_the_variable_named():
    hosted = _resolve({"llmconf_endpoint": "http://h.test", "llmconf_profile": "hosted"})
    assert hosted.api_key is None and hosted.api_key_env is None
    assert "pass --api-key-env" in hosted.redacted()["api_key"]
    named = _resolve({"llmconf_endpoint": "http://h.test", "llmconf_profile": "hosted",
                      "llmconf_api_key_env": "EXAMPLE_KEY"})
    assert named.api_key == "example-value" and named.redacted()["api_key"] == "$EXAMPLE_KEY (set) from --api-key-env"


def test_api_key_env_option_beats_the_profile():
    settings = _resolve({"llmconf_endpoint": "http://h.test", "llmconf_profile": "nim",
                         "llmconf_api_key_env": "EXAMPLE_KEY"})
    assert settings.api_key_env == "EXAMPLE_KEY" and settings.api_key == "example-value"


def test_embedded_reference_gets_a_generated_key_not_the_shell_one():
    settings = _resolve({})
    assert settings.api_key is None and settings.api_key_env is None
    assert settings.redacted()["api_key"] == "generated per run (embedded reference)"
    named = _resolve({"llmconf_api_key_env": "EXAMPLE_KEY"})
    assert named.api_key == "example-value"


def test_profile_file_key_variable(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('name="p"\ndescription="d"\nserver="s"\n[settings]\napi_key_env = "EXAMPLE_KEY"\n')
    settings = _resolve({"llmconf_endpoint": "http://h.test", "llmconf_profile": str(path)})
    assert settings.api_key == "example-value" and settings.redacted()["api_key"] == "$EXAMPLE_KEY (set) from profile p"
    path.write_text('name="p"\ndescription="d"\nserver="s"\n')
    settings = _resolve({"llmconf_endpoint": "http://h.test", "llmconf_profile": str(path)})
    assert settings.api_key_env == "OPENAI_API_KEY" and "generic rule" in settings.redacted()["api_key"]


def test_header_names_the_variable_never_the_value(pytester, monkeypatch):
    for name, value in ALL_KEYS.items():
        monkeypatch.setenv(name, value)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = session\n"
                     "asyncio_default_test_loop_scope = session\n")
    pytester.makepyfile(test_ok="def test_x():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--endpoint", "http://h.invalid:8000", "--profile", "nim",
                                "--reports-dir", str(pytester.path / "r"))
    out = result.stdout.str()
    assert "api_key=$NGC_API_KEY (set) from profile nim" in out
    assert not any(value in out for value in ALL_KEYS.values())


def test_policy_is_cached_per_profile_object():
    prof = profiles.load("nim")
    assert for_profile(prof) is for_profile(prof)
    assert isinstance(for_profile(prof), RequestPolicy)
