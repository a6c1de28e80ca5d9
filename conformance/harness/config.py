"""Run settings. Precedence: command line > environment (``LLMCONF_*``) > ini (``llmconf_*`` in
``[tool.pytest.ini_options]``) > defaults (the OCI conformance model)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

from conformance.harness.failures import UsageError
from conformance.harness.redaction import redact_url

#: The key variable of an endpoint whose profile names none (``generic``, ``discover``, a profile
#: file without ``settings.api_key_env``): the OpenAI-compatible convention, and only that one.
GENERIC_KEY_ENV = "OPENAI_API_KEY"


@dataclass(frozen=True, slots=True)
class Option:
    name: str  # CLI flag without dashes, e.g. "endpoint"
    help: str
    default: Any = None
    kind: type = str
    is_flag: bool = False

    @property
    def dest(self) -> str:
        return "llmconf_" + self.name.replace("-", "_")

    @property
    def env(self) -> str:
        return "LLMCONF_" + self.name.replace("-", "_").upper()

    @property
    def ini(self) -> str:
        return self.dest


OPTIONS: tuple[Option, ...] = (
    Option("endpoint", "base URL of the endpoint under test (omit to start the embedded reference server)"),
    Option("model", "model id to request (default: the first id from GET /v1/models)"),
    Option("api-key-env", "name of the environment variable holding the API key (default: the profile's "
           "settings.api_key_env: nim NGC_API_KEY, openai OPENAI_API_KEY, vllm VLLM_API_KEY, hosted none; "
           "generic/discover/other profiles OPENAI_API_KEY; the embedded reference gets a generated key); "
           "sent as a Bearer token. No other variable is ever tried"),
    Option("profile", "endpoint profile: a shipped name (reference, nim, vllm, hosted, openai, generic), discover "
           "(probe the endpoint and write reports/discovered-profile.toml) or a .toml path "
           "(default: reference for the embedded server, discover otherwise)"),
    Option("timeout", "total time limit per request in seconds", 120.0, float),
    Option("connect-timeout", "TCP/TLS connect timeout in seconds", 10.0, float),
    Option("read-timeout", "time to the response headers / between body reads of a non-stream response, seconds",
           120.0, float),
    Option("stream-idle-timeout", "maximum silence between stream bytes in seconds", 60.0, float),
    Option("max-body-mb", "abort a response body larger than this many MiB", 16.0, float),
    Option("strict", "SHOULD-level violations fail the run (they are recorded and pass otherwise)", False, bool, True),
    Option("reports-dir", "where reports (allure-results, junit.xml, conformance.json, summary.md) go", "reports"),
    Option("allure-html", "at the end of the run, render allure-results as Allure 3 HTML (offline, the generator "
           "pinned in tools/allure; install: npm ci --prefix tools/allure --no-audit --no-fund) into "
           "<reports-dir>/allure-html (serve it) and <reports-dir>/allure-html-single/index.html (one file)",
           False, bool, True),
    Option("reference-config", "configuration of the embedded reference server (see python -m conformance.reference info)",
           None),
    Option("disable-check", "comma-separated passive check names to switch off", ""),
    Option("max-concurrency", "maximum concurrent requests the client sends (a cap on the suite's own traffic, "
           "per worker under -n; --concurrency sets how many streams the concurrency tests open)", 8, int),
    Option("open-responses", "judge /v1/responses by the Open Responses rules too ([DONE] terminator, nested "
           "error event, required fields)", False, bool, True),
    Option("add-capability", "declare extra capabilities on top of the profile's (comma-separated)", ""),
    Option("requirement", "run only tests citing these requirement IDs or ID prefixes (comma-separated, "
           "e.g. OAI-STREAM-002,ANT-STREAM)", ""),
    Option("concurrency", "number of chat streams the concurrency tests (OAI-CONC-001, OAI-CONC-002) open at once, "
           "each with its own prompt (the test sends as many blocking requests first, one at a time); what the "
           "endpoint is asked to serve concurrently, unlike --max-concurrency, the client's cap on requests in "
           "flight (keep it >= N for all N streams to be in flight together)", 8, int),
    Option("test-timeout", "backstop: wall-clock limit per test in seconds (0 disables)", 900.0, float),
    Option("long-context", "long-context tier: off (no window tests), boundary (limit discovery, behaviour at the "
           "window, token limits; the prompts that must be processed are capped by --max-prompt-tokens) or full "
           "(also the needle-retrieval evaluation up to the window)", "boundary"),
    Option("max-prompt-tokens", "largest prompt (tokens) the long-context tests may ask the endpoint to process; "
           "prompts over the window are sent whatever their size (a conforming server rejects them before "
           "prefill)", 32768, int),
    Option("context-length", "the context window you expect (tokens); compared with what the endpoint says", None,
           int),
    Option("media", "media tier: off (no media sent; the 'no modality' rules still run), basic (tiny images, "
           "1 s clips, a few frames) or full (also large images, many media per request, longer clips)", "basic"),
    Option("media-host", "address the endpoint can reach the suite's media server at (URL media cases); the "
           "server binds 0.0.0.0 then. Default: 127.0.0.1, and URL cases run only against a loopback endpoint", None),
    Option("eval", "accuracy eval sets to run, comma-separated (arith, ifcheck, jsonx, tools, lookup, caps, needle) or "
           "all; without it no accuracy eval runs; with it only evals run unless --requirement or -k also selects "
           "conformance tests (needle implies --long-context full)", ""),
    Option("eval-baseline", "stored eval baseline to gate against (paired test): a <set>.json file for one set, or "
           "a directory of <set>.json files", None),
    Option("eval-save-baseline", "write each eval set's run as a baseline: a .json file (one set) or a directory; "
           "the items are run twice to measure the flip rate (unless --eval-repeat says otherwise)", None),
    Option("eval-floor", "accuracy floor in (0, 1] for every selected eval set (three-state Wilson verdict)", None,
           float),
    Option("eval-repeat", "run each eval set N times (the flip rate comes from the first two); default 1, 2 with "
           "--eval-save-baseline", None, int),
    Option("baseline", "gate against a stored run: fail only on requirements that got worse than this "
           "conformance.json (pass → fail/broken; improvements and what still fails are listed, never gating); "
           "a directory holding conformance.json works too", None),
    Option("save-baseline", "write this run's conformance.json (with its gate) to PATH as a baseline for "
           "--baseline (parents created; a directory gets conformance.json inside)", None),
    Option("cost-threshold", "REQUESTS[,TOKENS]: print a warning block before the run when its cost estimate "
           "(requests; prompt + output tokens) exceeds either", "2000,2000000"),
    Option("max-cost", "REQUESTS[,TOKENS]: refuse to start (exit 4, the estimate printed) a run whose cost "
           "estimate exceeds either", None),
    Option("cost-per-mtok", "IN,OUT: price per million prompt / output tokens, to print the estimate as money",
           None),
)

LONG_CONTEXT_TIERS = ("off", "boundary", "full")
MEDIA_TIERS = ("off", "basic", "full")


def _coerce(opt: Option, value: Any) -> Any:
    if value is None:
        return None
    if opt.kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise UsageError(f"{opt.name}: expected a boolean, got {value!r}")
    try:
        return opt.kind(value)
    except (TypeError, ValueError):
        raise UsageError(f"{opt.name}: expected {opt.kind.__name__}, got {value!r}") from None


def resolve(
    cli: Callable[[str], Any], ini: Callable[[str], Any], env: dict[str, str] | None = None
) -> "Settings":
    """Build :class:`Settings` from the three sources, in precedence order."""
    env = dict(os.environ) if env is None else env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for opt in OPTIONS:
        value, source = cli(opt.dest), "cli"
        if value is None or (opt.is_flag and value is False):
            value, source = env.get(opt.env), "env"
        if value is None:
            raw = ini(opt.ini)
            value, source = (raw if raw not in ("", None, []) else None), "ini"
        if value is None:
            value, source = opt.default, "default"
        values[opt.dest] = _coerce(opt, value)
        sources[opt.name] = source
    endpoint = values["llmconf_endpoint"]
    key_env, key_source = key_variable(values["llmconf_api_key_env"], sources["api-key-env"],
                                       values["llmconf_profile"], embedded=not endpoint)
    api_key = (env.get(key_env) or None) if key_env else None
    if endpoint:
        endpoint = endpoint.rstrip("/")
        if endpoint.endswith("/v1"):
            endpoint = endpoint[: -len("/v1")]
        if not endpoint.startswith(("http://", "https://")):
            raise UsageError(f"--endpoint must be an http(s) URL, got {redact_url(endpoint)!r}")
    for opt in ("timeout", "connect-timeout", "read-timeout", "stream-idle-timeout", "max-body-mb",
                "max-prompt-tokens"):
        dest = "llmconf_" + opt.replace("-", "_")
        if values[dest] <= 0:
            raise UsageError(f"--{opt} must be positive")
    if values["llmconf_context_length"] is not None and values["llmconf_context_length"] <= 0:
        raise UsageError("--context-length must be positive")
    tier = str(values["llmconf_long_context"]).strip().lower()
    if tier not in LONG_CONTEXT_TIERS:
        raise UsageError(f"--long-context must be one of {', '.join(LONG_CONTEXT_TIERS)}, got {tier!r}")
    media = str(values["llmconf_media"]).strip().lower()
    if media not in MEDIA_TIERS:
        raise UsageError(f"--media must be one of {', '.join(MEDIA_TIERS)}, got {media!r}")
    evals = eval_sets(values["llmconf_eval"])
    if "needle" in evals:
        if tier == "off":
            raise UsageError("--eval needle needs the long-context window: drop --long-context off")
        tier = "full"  # the needle eval is the long-context tier "full"
    if values["llmconf_eval_floor"] is not None and not 0 < values["llmconf_eval_floor"] <= 1:
        raise UsageError("--eval-floor must be in (0, 1]")
    if values["llmconf_eval_repeat"] is not None and values["llmconf_eval_repeat"] < 1:
        raise UsageError("--eval-repeat must be >= 1")
    if (values["llmconf_eval_baseline"] or values["llmconf_eval_save_baseline"]) and not evals:
        raise UsageError("--eval-baseline / --eval-save-baseline need --eval NAME[,NAME]")
    from conformance.harness import cost  # noqa: PLC0415 - config stays importable on its own

    cost.Limit.parse(values["llmconf_cost_threshold"], "--cost-threshold")
    if values["llmconf_max_cost"]:
        cost.Limit.parse(values["llmconf_max_cost"], "--max-cost")
    cost.parse_prices(values["llmconf_cost_per_mtok"])
    return Settings(
        endpoint=endpoint,
        model=values["llmconf_model"],
        api_key_env=key_env,
        api_key=api_key,
        api_key_source=key_source,
        profile=values["llmconf_profile"],
        timeout_s=values["llmconf_timeout"],
        connect_timeout_s=values["llmconf_connect_timeout"],
        read_timeout_s=values["llmconf_read_timeout"],
        stream_idle_timeout_s=values["llmconf_stream_idle_timeout"],
        max_body_bytes=int(values["llmconf_max_body_mb"] * 1024 * 1024),
        strict=values["llmconf_strict"],
        reports_dir=values["llmconf_reports_dir"],
        reference_config=values["llmconf_reference_config"],
        disabled_checks=frozenset(c.strip() for c in values["llmconf_disable_check"].split(",") if c.strip()),
        max_concurrency=values["llmconf_max_concurrency"],
        test_timeout_s=values["llmconf_test_timeout"],
        open_responses=values["llmconf_open_responses"],
        requirements=tuple(r.strip() for r in values["llmconf_requirement"].split(",") if r.strip()),
        extra_capabilities=tuple(c.strip() for c in values["llmconf_add_capability"].split(",") if c.strip()),
        concurrency=values["llmconf_concurrency"],
        long_context=tier,
        max_prompt_tokens=values["llmconf_max_prompt_tokens"],
        context_length=values["llmconf_context_length"],
        media=media,
        media_host=values["llmconf_media_host"] or None,
        evals=evals,
        eval_baseline=values["llmconf_eval_baseline"] or None,
        eval_save_baseline=values["llmconf_eval_save_baseline"] or None,
        eval_floor=values["llmconf_eval_floor"],
        eval_repeat=values["llmconf_eval_repeat"],
        allure_html=values["llmconf_allure_html"],
        baseline=values["llmconf_baseline"] or None,
        save_baseline=values["llmconf_save_baseline"] or None,
        cost_threshold=values["llmconf_cost_threshold"],
        max_cost=values["llmconf_max_cost"] or None,
        cost_per_mtok=values["llmconf_cost_per_mtok"] or None,
        sources=sources,
    )


@dataclass(frozen=True, slots=True)
class Settings:
    endpoint: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    api_key: str | None = field(default=None, repr=False)
    #: Why this variable (``--api-key-env``, ``profile nim``, ``the generic rule``, ...), for the header.
    api_key_source: str = ""
    profile: str | None = None
    timeout_s: float = 120.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0
    stream_idle_timeout_s: float = 60.0
    max_body_bytes: int = 16 * 1024 * 1024
    strict: bool = False
    reports_dir: str = "reports"
    reference_config: str | None = None
    disabled_checks: frozenset[str] = frozenset()
    max_concurrency: int = 8
    test_timeout_s: float = 900.0
    open_responses: bool = False
    requirements: tuple[str, ...] = ()
    extra_capabilities: tuple[str, ...] = ()
    concurrency: int = 8
    long_context: str = "boundary"
    max_prompt_tokens: int = 32768
    context_length: int | None = None
    media: str = "basic"
    media_host: str | None = None
    #: accuracy eval sets selected with --eval (empty: none)
    evals: tuple[str, ...] = ()
    eval_baseline: str | None = None
    eval_save_baseline: str | None = None
    eval_floor: float | None = None
    eval_repeat: int | None = None
    #: render the Allure HTML reports at the end of the run (conformance.report.allure)
    allure_html: bool = False
    #: --baseline / --save-baseline: the release gate (conformance.harness.gating)
    baseline: str | None = None
    save_baseline: str | None = None
    #: the cost estimate (conformance.harness.cost): warning threshold, refusal limit, prices
    cost_threshold: str = "2000,2000000"
    max_cost: str | None = None
    cost_per_mtok: str | None = None
    sources: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def embedded(self) -> bool:
        return self.endpoint is None

    def key_description(self) -> str:
        """Which variable supplies the key and why; never the value."""
        why = f" from {self.api_key_source}" if self.api_key_source else ""
        if self.api_key_env:
            return f"${self.api_key_env} ({'set' if self.api_key else 'not set'}){why}"
        if self.embedded:
            return "generated per run (embedded reference)"
        return f"none{why}"

    def redacted(self) -> dict[str, Any]:
        """The configuration as it may be shown or stored: no secret values."""
        return {
            "endpoint": redact_url(self.endpoint) if self.endpoint else "embedded reference",
            "model": self.model or "(first id from /v1/models)",
            "api_key": self.key_description(),
            "profile": self.profile,
            "timeouts_s": {
                "connect": self.connect_timeout_s,
                "read": self.read_timeout_s,
                "stream_idle": self.stream_idle_timeout_s,
                "total": self.timeout_s,
            },
            "strict": self.strict,
            "long_context": {"tier": self.long_context, "max_prompt_tokens": self.max_prompt_tokens,
                             "context_length": self.context_length},
        }


def eval_sets(value: str | None) -> tuple[str, ...]:
    """The eval sets ``--eval`` names (``all``: every set), in report order; unknown names are a
    usage error."""
    names = [n.strip() for n in (value or "").split(",") if n.strip()]
    if not names:
        return ()
    from conformance.harness.evals import sets  # noqa: PLC0415 - config stays importable on its own

    if "all" in names:
        return sets.ALL
    unknown = [n for n in names if n not in sets.ALL]
    if unknown:
        raise UsageError(f"--eval: unknown eval set(s) {', '.join(unknown)} (sets: {', '.join(sets.ALL)}, or all)")
    return tuple(n for n in sets.ALL if n in names)


def key_variable(explicit: str | None, explicit_source: str, profile: str | None, *,
                 embedded: bool) -> tuple[str | None, str]:
    """The one environment variable the key is read from, and why. Precedence: ``--api-key-env``
    (or its env/ini fallback) > the embedded reference's generated key > the profile's
    ``settings.api_key_env`` > :data:`GENERIC_KEY_ENV` for profiles that name none. A profile that
    sets ``api_key_env = ""`` (``hosted``, ``reference``) has no default: its key must be named with
    ``--api-key-env``. No other provider's variable is ever tried."""
    if explicit:
        where = {"cli": "--api-key-env", "env": "$LLMCONF_API_KEY_ENV", "ini": "ini llmconf_api_key_env"}
        return explicit, where.get(explicit_source, "--api-key-env")
    if embedded:
        return None, "the embedded reference (a key generated per run)"
    if not profile or profile == "discover":
        return GENERIC_KEY_ENV, f"the generic rule (profile {profile or 'generic'} names no key variable)"
    from conformance.harness import profiles  # noqa: PLC0415 - config stays importable on its own

    try:
        loaded = profiles.load(profile)
    except UsageError:
        return None, f"no profile (unknown profile {profile!r})"  # the plugin reports the profile error
    declared = loaded.settings.get("api_key_env")
    if declared is None:
        return GENERIC_KEY_ENV, f"the generic rule (profile {loaded.name} names no key variable)"
    if not isinstance(declared, str):
        raise UsageError(f"{loaded.path}: settings.api_key_env must be a string")
    if not declared:
        return None, f"profile {loaded.name}, which names no key variable: pass --api-key-env NAME"
    return declared, f"profile {loaded.name}"
