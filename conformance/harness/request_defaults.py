"""Request defaults and reasoning controls, declared by the profile and applied to every request the
suite builds: the chat, completions, Responses and Messages facades, and the SDK tests (as
``extra_body``).

Profile ``[settings]`` keys (all optional)::

    reasoning_default = "on"            # the model thinks unless told not to ("off" when omitted)
    reasoning_token_allowance = 1024    # added to max_tokens when thinking is on and cannot be
                                        # switched off for a request (int: chat, responses, messages;
                                        # or a table per API)

    [settings.request_defaults]         # merged into every request of that API
    chat = { ... }                      # (``chat_defaults`` is the older spelling of this one)
    completions = { ... }
    responses = { ... }
    messages = { ... }

    [settings.reasoning_off]            # how to switch thinking off, per API; applied when
    chat = { chat_template_kwargs = { enable_thinking = false } }   # reasoning_default = "on" and
    responses = { ... }                                            # the request sets no reasoning
    messages = { ... }                                             # control of its own

    [settings.reasoning_on]             # how to switch thinking on, per API (for reasoning tests)
    chat = { chat_template_kwargs = { enable_thinking = true } }

    [settings.reasoning_budget]         # dotted key of the reasoning-token budget, per API
    chat = "thinking_token_budget"      # (hosted: "reasoning.max_tokens")

Every merge is deep and the request wins: a value the test sets explicitly is never overridden.
A request "sets reasoning itself" when it carries any key of the profile's reasoning switches for
that API or one of the well-known controls (``reasoning``, ``reasoning_effort``, ``thinking``,
``thinking_token_budget``, ``chat_template_kwargs.enable_thinking`` / ``.thinking``); then neither
the off switch nor the allowance is applied, so a test that asks for thinking gets exactly what it
asked for. ``count_tokens`` gets only the prompt-shaping part of the Messages defaults
(:data:`PROMPT_KEYS`): measured on the reference, a count taken without the Messages request's
``enable_thinking: false`` is one token off (the template renders differently).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Mapping

from conformance.harness.failures import UsageError

APIS = ("chat", "completions", "responses", "messages")
#: The APIs where a chat template (and so default thinking) is involved.
CONVERSATIONAL = ("chat", "responses", "messages")
#: Request keys that bound the number of generated tokens, in order of preference.
MAX_TOKENS_KEYS: dict[str, tuple[str, ...]] = {
    "chat": ("max_completion_tokens", "max_tokens"),
    "completions": ("max_tokens",),
    "responses": ("max_output_tokens",),
    "messages": ("max_tokens",),
}
#: Well-known reasoning controls (dotted paths); a request carrying one sets reasoning itself.
KNOWN_CONTROLS: dict[str, tuple[str, ...]] = {
    "chat": ("reasoning", "reasoning_effort", "thinking", "thinking_token_budget", "include_reasoning",
             "chat_template_kwargs.enable_thinking", "chat_template_kwargs.thinking"),
    "completions": ("reasoning", "reasoning_effort", "thinking_token_budget"),
    "responses": ("reasoning", "reasoning_effort", "thinking_token_budget",
                  "chat_template_kwargs.enable_thinking", "chat_template_kwargs.thinking"),
    "messages": ("thinking", "chat_template_kwargs.enable_thinking", "chat_template_kwargs.thinking"),
}
#: What a count_tokens request takes from the Messages defaults: the keys that shape the prompt (a
#: template switch such as ``chat_template_kwargs.enable_thinking`` changes the rendered prompt, so
#: the count must be taken under the same switch as the Messages request it is compared with).
PROMPT_KEYS = ("chat_template_kwargs", "thinking", "system", "tools", "tool_choice")
SETTING_KEYS = ("request_defaults", "chat_defaults", "reasoning_default", "reasoning_token_allowance",
                "reasoning_off", "reasoning_on", "reasoning_budget")


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` laid on top: nested tables merge key by key, ``over`` wins every
    conflict (a non-table value in ``over`` replaces a table in ``base``). Inputs are not changed."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _paths(fragment: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of the leaves of a table (``{"a": {"b": 1}}`` → ``["a.b"]``)."""
    out: list[str] = []
    for key, value in fragment.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out += _paths(value, path + ".")
        else:
            out.append(path)
    return out


def has_path(body: Mapping[str, Any], path: str) -> bool:
    node: Any = body
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def set_path(body: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = body
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise UsageError(f"{where} must be a table")
    return dict(value)


def _per_api(settings: Mapping[str, Any], key: str, where: str) -> dict[str, dict[str, Any]]:
    raw = _table(settings.get(key, {}), f"{where}: settings.{key}")
    unknown = set(raw) - set(APIS)
    if unknown:
        raise UsageError(f"{where}: settings.{key} has unknown APIs {sorted(unknown)} (known: {list(APIS)})")
    return {api: _table(frag, f"{where}: settings.{key}.{api}") for api, frag in raw.items()}


@dataclass(frozen=True)
class RequestPolicy:
    """What a profile adds to the requests the suite sends (see the module docstring)."""

    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    reasoning_default: str = "off"
    reasoning_off: dict[str, dict[str, Any]] = field(default_factory=dict)
    reasoning_on: dict[str, dict[str, Any]] = field(default_factory=dict)
    reasoning_budget: dict[str, str] = field(default_factory=dict)
    allowance: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], *, where: str = "profile") -> "RequestPolicy":
        defaults = _per_api(settings, "request_defaults", where)
        if "chat_defaults" in settings:
            if "chat" in defaults:
                raise UsageError(f"{where}: settings.chat_defaults and settings.request_defaults.chat both given; "
                                 "keep request_defaults.chat")
            defaults["chat"] = _table(settings["chat_defaults"], f"{where}: settings.chat_defaults")
        default = settings.get("reasoning_default", "off")
        if default not in ("on", "off"):
            raise UsageError(f"{where}: settings.reasoning_default must be \"on\" or \"off\", got {default!r}")
        raw_allow = settings.get("reasoning_token_allowance", 0)
        if isinstance(raw_allow, Mapping):
            bad = set(raw_allow) - set(APIS)
            if bad:
                raise UsageError(f"{where}: settings.reasoning_token_allowance has unknown APIs {sorted(bad)}")
            allowance = dict(raw_allow)
        else:
            allowance = {api: raw_allow for api in CONVERSATIONAL}
        for api, n in allowance.items():
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise UsageError(f"{where}: settings.reasoning_token_allowance ({api}) must be a non-negative "
                                 f"integer, got {n!r}")
        budget = _table(settings.get("reasoning_budget", {}), f"{where}: settings.reasoning_budget")
        for api, path in budget.items():
            if api not in APIS or not isinstance(path, str) or not path:
                raise UsageError(f"{where}: settings.reasoning_budget.{api} must name a dotted request key")
        return cls(defaults=defaults, reasoning_default=default,
                   reasoning_off=_per_api(settings, "reasoning_off", where),
                   reasoning_on=_per_api(settings, "reasoning_on", where),
                   reasoning_budget=budget, allowance={a: n for a, n in allowance.items() if n})

    # -- queries -------------------------------------------------------------------------------
    def sets_reasoning(self, api: str, body: Mapping[str, Any]) -> bool:
        """True when the request carries a reasoning control of its own."""
        paths = set(KNOWN_CONTROLS.get(api, ()))
        for table in (self.reasoning_off, self.reasoning_on):
            paths.update(_paths(table.get(api, {})))
        if api in self.reasoning_budget:
            paths.add(self.reasoning_budget[api])
        return any(has_path(body, p) for p in paths)

    def reasoning(self, api: str, on: bool, *, budget: int | None = None) -> dict[str, Any]:
        """The request fragment that switches thinking on (or off) on ``api`` for this profile, with
        a reasoning-token budget when asked; empty when the profile declares no switch."""
        fragment = copy.deepcopy((self.reasoning_on if on else self.reasoning_off).get(api, {}))
        if budget is not None and api in self.reasoning_budget:
            set_path(fragment, self.reasoning_budget[api], budget)
        return fragment

    # -- the merge -----------------------------------------------------------------------------
    def apply(self, api: str, body: Any) -> Any:
        """``body`` with the profile's defaults for ``api`` laid under it. Non-object bodies (negative
        tests) pass unchanged."""
        if api == "count_tokens" and isinstance(body, Mapping):
            merged = self.apply("messages", body)
            return {k: v for k, v in merged.items() if k in body or k in PROMPT_KEYS}
        if api not in APIS or not isinstance(body, Mapping):
            return body
        merged = deep_merge(self.defaults.get(api, {}), body)
        if self.reasoning_default != "on" or self.sets_reasoning(api, body):
            return merged
        if self.reasoning_off.get(api):
            return deep_merge(self.reasoning_off[api], merged)
        extra = self.allowance.get(api, 0)
        if extra:
            for key in MAX_TOKENS_KEYS[api]:
                value = merged.get(key)
                # Only a valid budget grows: an invalid one (negative, fractional, a string) is what
                # a negative test sends, and must reach the endpoint unchanged.
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    merged[key] = value + extra
                    break
        return merged

    def sdk_kwargs(self, api: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """SDK call keyword arguments with the defaults applied: a value the call passes by name
        stays a named argument (possibly updated, e.g. max_tokens plus the allowance), everything the
        profile adds goes into ``extra_body`` (which the SDKs lay over the body they build)."""
        named = {k: v for k, v in kwargs.items() if k != "extra_body"}
        extra = dict(kwargs.get("extra_body") or {})
        merged = self.apply(api, {**named, **extra})
        out = {k: merged[k] for k in named if k in merged}
        rest = {k: v for k, v in merged.items() if k not in named}
        if rest:
            out["extra_body"] = rest
        return out


def policy(settings: Mapping[str, Any], *, where: str = "profile") -> RequestPolicy:
    return RequestPolicy.from_settings(settings, where=where)


_CACHE: dict[int, tuple[Any, RequestPolicy]] = {}


def for_profile(profile: Any) -> RequestPolicy:
    """The policy of a loaded :class:`~conformance.harness.profiles.Profile` (parsed once per
    profile object)."""
    hit = _CACHE.get(id(profile))
    if hit is not None and hit[0] is profile:
        return hit[1]
    result = RequestPolicy.from_settings(profile.settings, where=getattr(profile, "path", "") or profile.name)
    _CACHE[id(profile)] = (profile, result)
    return result
