"""The accuracy-eval runner (issue 11 §2, §4, §6): ask every item of a set through the suite's
facade, score it, gate the run and write the report.

* **Requests**: the item's body (:meth:`Item.request_body`) plus explicit sampling parameters, always
  sent: greedy by default (``temperature 0``, ``top_p 1``, ``seed 0``); the profile may supply
  vendor sampling (``settings.eval_sampling``, any request keys, e.g. ``{temperature = 0.6,
  top_p = 0.95}`` or a reasoning switch) and k repeats per item (``settings.eval_repeats``, for
  reasoning-on evals: each repeat is an item ``<id>#<j>`` clustered by its item). Then the
  profile's request defaults apply through :meth:`OpenAI.with_defaults` (reasoning **off** via
  ``settings.reasoning_off`` unless the sampling sets reasoning itself). Non-streamed.
* **Concurrency**: a thread pool of ``--max-concurrency`` workers sends the requests (the client's
  own semaphore bounds them too); the main thread judges each answer as it arrives, so every
  passive check runs in the test that owns the run.
* **Tie-in with conformance**: every response goes through the facade's passive checks (status,
  content type, JSON, the chat / text completion schema; on chat ``no_think_leak`` when the profile
  declares reasoning; for tool items ``tool_calls_valid``, which fails a call leaked into content).
  A violation is recorded against its own requirement in the running test, exactly as in any
  conformance test; the item itself is then scored as no answer with the protocol reason.
* **Rate limits**: a 429 is counted, waited for (``Retry-After`` seconds, at most
  :data:`MAX_WAIT_S`; 1 s without the header) and retried at most :data:`RETRIES_429` times, each
  wait printed; a 429 after the last retry goes to the passive checks like any error status.
* **Runs**: ``passes`` runs of the whole set (``--eval-repeat``; 2 by default when a baseline is
  saved): the first is the recorded one, the flip rate (verdicts that differ) comes from the first two.

Pure parts (request building, item records, the report documents) are importable without pytest.
"""

from __future__ import annotations

import concurrent.futures as cf
import email.utils
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance import __version__
from conformance.harness.checks import completions as cmpl_checks
from conformance.harness.checks import openai as oai_checks
from conformance.harness.checks import reasoning as reasoning_checks
from conformance.harness.checks import tools as tool_checks
from conformance.harness.evals import gate as g
from conformance.harness.evals import sets
from conformance.harness.exchange import Exchange
from conformance.harness.failures import ConformanceFailure, HarnessError, NotApplicable, UsageError
from conformance.harness.redaction import redact

#: Greedy decoding, always sent explicitly (an omitted temperature may mean the server's default).
GREEDY: dict[str, Any] = {"temperature": 0, "top_p": 1, "seed": 0}
PATHS = {"chat": "/v1/chat/completions", "completions": "/v1/completions"}
#: 429 handling: retries per request, and the longest wait honoured.
RETRIES_429 = 3
MAX_WAIT_S = 30.0
#: Stop asking after this many items whose request broke (transport) or answered an error status.
MAX_ERRORS = 10
#: Keys of a request body that are the item itself, not its parameters (left out of the params hash).
_ITEM_KEYS = ("model", "prompt", "messages", "tools", "tool_choice", "max_tokens")


# --- options -----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class EvalOptions:
    """What the run asks for (``--eval*`` options and the profile's ``eval_*`` settings)."""

    sampling: Mapping[str, Any] = field(default_factory=lambda: dict(GREEDY))
    k: int = 1                       # repeats per item (profile eval_repeats)
    passes: int = 1                  # runs of the whole set (--eval-repeat)
    concurrency: int = 4
    baseline: Path | None = None     # --eval-baseline (file or directory)
    save_baseline: Path | None = None
    floor: float | None = None

    @classmethod
    def build(cls, *, profile_settings: Mapping[str, Any], repeat: int | None, concurrency: int,
              baseline: str | None, save_baseline: str | None, floor: float | None,
              where: str = "profile settings") -> EvalOptions:
        extra = profile_settings.get("eval_sampling", {})
        if not isinstance(extra, Mapping):
            raise UsageError(f"{where}: eval_sampling must be a table of request keys, got {extra!r}")
        k = profile_settings.get("eval_repeats", 1)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise UsageError(f"{where}: eval_repeats must be an integer >= 1, got {k!r}")
        passes = repeat if repeat is not None else (2 if save_baseline else 1)
        if passes < 1:
            raise UsageError(f"--eval-repeat must be >= 1, got {passes}")
        if floor is not None and not 0 < floor <= 1:
            raise UsageError(f"--eval-floor must be in (0, 1], got {floor}")
        return cls(sampling={**GREEDY, **dict(extra)}, k=k, passes=passes, concurrency=max(1, concurrency),
                   baseline=Path(baseline) if baseline else None,
                   save_baseline=Path(save_baseline) if save_baseline else None, floor=floor)


def baseline_path(path: Path, name: str, selected: Sequence[str]) -> Path:
    """The baseline file of set ``name``: ``path`` itself when it ends in ``.json`` (one set only),
    else ``path/<name>.json`` (a directory of baselines, one per set)."""
    if path.suffix == ".json":
        gated = [s for s in selected if s in sets.NAMES]
        if len(gated) > 1:
            raise UsageError(f"baseline {path} is one file but {len(gated)} sets are selected "
                             f"({', '.join(gated)}): give a directory (one <set>.json per set)")
        return path
    return path / f"{name}.json"


# --- requests ------------------------------------------------------------------------------------------

def request_body(oai: Any, item: sets.Item, sampling: Mapping[str, Any]) -> dict[str, Any]:
    """The full request of one item: its body, the sampling (explicit, the item's own keys win
    over nothing: sampling never overrides max_tokens or the prompt), then the profile's defaults."""
    body = item.request_body()
    for key, value in sampling.items():
        body.setdefault(key, json.loads(json.dumps(value)))
    return oai.with_defaults(item.api, body)


def request_params(body: Mapping[str, Any], item: sets.Item) -> dict[str, Any]:
    """The parameters of a request (what a baseline's params hash covers): everything but the item."""
    return {"path": PATHS[item.api], **{k: v for k, v in body.items() if k not in _ITEM_KEYS}}


def retry_after_seconds(value: str | None) -> float:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); 1 without one."""
    if not value:
        return 1.0
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return 1.0


@dataclass(slots=True)
class Counters:
    requests: int = 0
    rate_limited: int = 0        # 429 answers seen
    retried: int = 0             # requests sent again after a 429
    gave_up: int = 0             # requests still answered 429 after the last retry (judged as sent)
    waited_s: float = 0.0
    protocol_errors: int = 0     # items whose response broke a passive check that stops judging
    transport_errors: int = 0    # items whose request raised (timeout, connection)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "rate_limited": self.rate_limited, "retried_after_429": self.retried,
                "gave_up_after_429": self.gave_up,
                "waited_s": round(self.waited_s, 1), "protocol_errors": self.protocol_errors,
                "transport_errors": self.transport_errors}


def send(oai: Any, item: sets.Item, body: dict[str, Any], counters: Counters,
         progress: Callable[[str], None], *, sleep: Callable[[float], None] = time.sleep) -> Exchange:
    """POST one item (worker thread). A 429 is waited for and retried at most RETRIES_429 times."""
    return send_with_retries(oai, PATHS[item.api], body, counters, progress, label=item.id, sleep=sleep)


def send_with_retries(oai: Any, path: str, body: dict[str, Any], counters: Counters,
                      progress: Callable[[str], None], *, label: str,
                      sleep: Callable[[float], None] = time.sleep, **raw: Any) -> Exchange:
    """POST one evaluation request (any thread). Evaluation traffic only: a 429 is counted, waited
    for (Retry-After, at most MAX_WAIT_S) and retried at most RETRIES_429 times, each wait printed;
    the last answer, whatever it is, is returned to be judged. Conformance requests never come
    here: they are judged as answered (a 429 is an HTTP-STATUS-001 failure)."""
    for attempt in range(RETRIES_429 + 1):
        with counters.lock:
            counters.requests += 1
        ex = oai.raw("POST", path, json_body=body, **raw)
        if ex.status != 429:
            return ex
        wait = min(MAX_WAIT_S, retry_after_seconds(ex.header("retry-after")))
        with counters.lock:
            counters.rate_limited += 1
        if attempt == RETRIES_429:
            with counters.lock:
                counters.gave_up += 1
            progress(f"{label}: 429 again after {RETRIES_429} retries: judged as an error status")
            return ex
        progress(f"{label}: 429 Too Many Requests, Retry-After {ex.header('retry-after') or '(none)'}: "
                 f"waiting {wait:.1f} s (retry {attempt + 1}/{RETRIES_429})")
        with counters.lock:
            counters.retried += 1
            counters.waited_s += wait
        sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


# --- judging one answer --------------------------------------------------------------------------------

@dataclass(slots=True)
class Record:
    """One asked item: the gate's :class:`ItemResult` plus what the report shows."""

    result: g.ItemResult
    item: sets.Item
    status: int | None = None
    finish_reason: Any = None
    exchange: int | None = None
    protocol: str | None = None   # the protocol problem that stopped scoring, if any

    def as_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "template": self.item.template, "task": self.item.task,
                "prompt": self.item.prompt_text, "expected": self.item.check.get("answer"),
                "status": self.status, "finish_reason": self.finish_reason, "exchange": self.exchange,
                **({"protocol": self.protocol} if self.protocol else {})}


def _usage_tokens(parsed: Any) -> dict[str, int] | None:
    usage = parsed.get("usage") if isinstance(parsed, dict) else None
    if not isinstance(usage, dict):
        return None
    out = {name: usage[key] for name, key in (("prompt", "prompt_tokens"), ("completion", "completion_tokens"))
           if isinstance(usage.get(key), int)}
    return out or None


def judge(oai: Any, item: sets.Item, ex: Exchange, *, item_id: str, cluster: str | None) -> Record:
    """Passive checks on the answer (violations go to the running test), then the score."""
    passive = oai.passive
    try:
        parsed = oai.json_exchange(ex)   # status (fatal), content type, JSON
    except ConformanceFailure as exc:
        why = str(exc).splitlines()[0][:200]
        return Record(g.ItemResult(item_id, cluster, None, None, f"protocol: {why}", None, ex.total_s), item,
                      ex.status, None, ex.seq, why)
    if item.api == "chat":
        passive.run(oai_checks.chat_completion_schema, parsed, schemas=oai.schemas)
    else:
        passive.run(cmpl_checks.text_completion_schema, parsed, schemas=oai.schemas)
    choices = parsed.get("choices") if isinstance(parsed, dict) else None
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") if item.api == "chat" else None
    if isinstance(message, dict):
        if passive.profile.has("reasoning"):
            passive.run(reasoning_checks.no_think_leak, message)
        if item.tools:
            try:
                passive.run(tool_checks.tool_calls_valid, message, tools=[dict(t) for t in item.tools],
                            tool_choice=item.tool_choice or "auto")
            except NotApplicable:
                pass  # prose under tool_choice auto: the model chose not to call
    correct, reason, answer = sets.score(item, parsed if isinstance(parsed, dict) else {})
    return Record(g.ItemResult(item_id, cluster, correct, answer, reason, _usage_tokens(parsed), ex.total_s), item,
                  ex.status, choice.get("finish_reason"), ex.seq)


# --- one pass over a set -------------------------------------------------------------------------------

@dataclass(slots=True)
class Pass:
    records: list[Record]
    wall_s: float
    complete: bool
    error: str | None = None


def _jobs(items: Sequence[sets.Item], k: int) -> list[tuple[sets.Item, str, str | None]]:
    if k == 1:
        return [(item, item.id, item.template) for item in items]
    return [(item, f"{item.id}#{j}", item.id) for item in items for j in range(1, k + 1)]


def run_pass(oai: Any, eval_set: sets.EvalSet, options: EvalOptions, counters: Counters, *,
             progress: Callable[[str], None], label: str = "", sleep: Callable[[float], None] = time.sleep) -> Pass:
    """Ask every item (k times each) with ``options.concurrency`` workers; judge in this thread."""
    jobs = _jobs(eval_set.items, options.k)
    bodies = [request_body(oai, item, options.sampling) for item, _, _ in jobs]
    records: list[Record | None] = [None] * len(jobs)
    started = time.monotonic()
    errors = 0
    error: str | None = None
    step = max(1, len(jobs) // 10)
    done = correct = 0
    with cf.ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="llmconf-eval") as pool:
        futures = {pool.submit(send, oai, item, body, counters, progress, sleep=sleep): i
                   for i, ((item, _, _), body) in enumerate(zip(jobs, bodies, strict=True))}
        try:
            for future in cf.as_completed(futures):
                i = futures[future]
                item, item_id, cluster = jobs[i]
                try:
                    ex = future.result()
                except HarnessError as exc:  # transport failure or timeout: no answer to judge
                    why = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                    with counters.lock:
                        counters.transport_errors += 1
                    records[i] = Record(g.ItemResult(item_id, cluster, None, None, f"transport: {why}"), item,
                                        protocol=why)
                    errors += 1
                else:
                    records[i] = rec = judge(oai, item, ex, item_id=item_id, cluster=cluster)
                    if rec.protocol is not None:
                        with counters.lock:
                            counters.protocol_errors += 1
                        errors += 1
                    correct += rec.result.correct is True
                done += 1
                if errors >= MAX_ERRORS:
                    error = (f"stopped after {errors} items whose request failed or answered an error status "
                             f"(last: {records[i].result.reason})")
                    progress(f"{eval_set.name}{label}: {error}")
                    for f in futures:
                        f.cancel()
                    break
                if done % step == 0 or done == len(jobs):
                    progress(f"{eval_set.name}{label} {done}/{len(jobs)}: {correct} correct so far, "
                             f"{time.monotonic() - started:.0f} s")
        finally:
            for f in futures:
                f.cancel()
    kept = [r for r in records if r is not None]
    return Pass(kept, time.monotonic() - started, complete=len(kept) == len(jobs) and error is None, error=error)


# --- a whole set: passes, flip rate, gate, baseline ----------------------------------------------------

@dataclass(slots=True)
class SetOutcome:
    name: str
    eval_set: sets.EvalSet
    run: g.EvalRun
    records: list[Record]
    gate: g.SetGate | None
    flip: g.FlipRate | None
    counters: Counters
    wall_s: float
    passes: list[float]           # wall time of each pass
    complete: bool
    error: str | None = None
    baseline_file: str | None = None
    saved_baseline: str | None = None
    options: EvalOptions | None = None
    exchanges: list[tuple[Exchange, str]] = field(default_factory=list)

    @property
    def state(self) -> str:
        return self.gate.state if self.gate is not None else "INCONCLUSIVE"


def run_set(oai: Any, name: str, options: EvalOptions, *, selected: Sequence[str] = (),
            progress: Callable[[str], None] = lambda line: None, server: str | None = None,
            sleep: Callable[[float], None] = time.sleep) -> SetOutcome:
    """Run set ``name`` ``options.passes`` times, measure the flip rate, gate against the baseline
    or floor, and save a baseline when asked. A baseline that cannot be read or does not match is
    a usage error (raised before any request is sent)."""
    eval_set = sets.load(name)
    selected = tuple(selected) or (name,)
    baseline = None
    baseline_file = None
    if options.baseline is not None:
        baseline_file = baseline_path(options.baseline, name, selected)
        baseline = g.load_baseline(baseline_file)
        if baseline.dataset != name:
            raise g.BaselineMismatch(f"{baseline_file} is a baseline of {baseline.dataset}, not {name}")
    save_file = baseline_path(options.save_baseline, name, selected) if options.save_baseline else None
    counters = Counters()
    first_item = eval_set.items[0]
    params = request_params(request_body(oai, first_item, options.sampling), first_item)
    if options.k > 1:
        params["repeats_per_item"] = options.k
    progress(f"{name} {eval_set.version}: {eval_set.count} items × {options.k} on {PATHS[eval_set.api]}, "
             f"{options.passes} pass(es), {options.concurrency} concurrent; params "
             + json.dumps({k: v for k, v in params.items() if k != 'path'}, sort_keys=True))
    started = time.monotonic()
    passes: list[Pass] = []
    for p in range(options.passes):
        label = f" (pass {p + 1}/{options.passes})" if options.passes > 1 else ""
        passes.append(run_pass(oai, eval_set, options, counters, progress=progress, label=label, sleep=sleep))
        if not passes[-1].complete:
            break
    first = passes[0]
    run = g.EvalRun(dataset=name, dataset_version=eval_set.version, model=str(oai.model), server=server,
                    request_params=params, items=[r.result for r in first.records], suite_version=__version__)
    flip = None
    if len(passes) >= 2 and passes[1].complete:
        flip = g.flip_rate([r.result for r in first.records], [r.result for r in passes[1].records])
        run.flip = flip
    complete = all(p.complete for p in passes)
    error = next((p.error for p in passes if p.error), None)
    gate_result = None
    saved = None
    if complete:
        gate_result = g.gate(run, baseline=baseline, floor=options.floor, flip=flip)
        if save_file is not None:
            saved = str(g.save_baseline(save_file, run))
            progress(f"{name}: baseline saved to {saved}" + (f" (flip rate {flip.flips}/{flip.n})" if flip else ""))
    return SetOutcome(name=name, eval_set=eval_set, run=run, records=first.records, gate=gate_result, flip=flip,
                      counters=counters, wall_s=time.monotonic() - started, passes=[p.wall_s for p in passes],
                      complete=complete, error=error, baseline_file=str(baseline_file) if baseline_file else None,
                      saved_baseline=saved, options=options)


# --- reports -------------------------------------------------------------------------------------------

def _task_accuracy(records: Sequence[Record]) -> dict[str, Any]:
    tasks: dict[str, list[Record]] = {}
    for r in records:
        tasks.setdefault(r.item.task, []).append(r)
    return {task: g.clustered_accuracy((r.result.cluster, r.result.correct) for r in rs).as_dict()
            for task, rs in tasks.items()}


def document(outcome: SetOutcome, *, endpoint: str = "") -> dict[str, Any]:
    """``reports/evals/<set>.json``: the summary, the gate and every item record."""
    acc = outcome.run.accuracy()
    latencies = sorted(r.result.latency_s for r in outcome.records if r.result.latency_s is not None)
    return {
        "set": outcome.name, "version": outcome.eval_set.version, "api": outcome.eval_set.api,
        "model": outcome.run.model, "server": outcome.run.server, "endpoint": endpoint,
        "suite_version": __version__, "created_at": outcome.run.created_at,
        "request_params": outcome.run.request_params, "request_params_hash": outcome.run.params_hash,
        "repeats_per_item": outcome.options.k if outcome.options else 1,
        "passes": len(outcome.passes), "complete": outcome.complete, "error": outcome.error,
        "wall_s": round(outcome.wall_s, 1), "pass_wall_s": [round(s, 1) for s in outcome.passes],
        "latency_s": {"median": latencies[len(latencies) // 2] if latencies else None,
                      "max": latencies[-1] if latencies else None},
        "counters": outcome.counters.as_dict(),
        "accuracy": acc.as_dict(),
        "no_answer_rate": round(acc.no_answer / acc.n, 4) if acc.n else None,
        "tasks": _task_accuracy(outcome.records),
        "flip": outcome.flip.as_dict() if outcome.flip else None,
        "gate": outcome.gate.as_dict() if outcome.gate else None,
        "baseline": outcome.baseline_file, "saved_baseline": outcome.saved_baseline,
        "items": [r.as_dict() for r in outcome.records],
    }


def summary_line(doc: Mapping[str, Any]) -> str:
    a = doc["accuracy"]
    acc = "n/a" if a["accuracy"] is None else f"{a['accuracy']:.3f}"
    gate = doc.get("gate") or {}
    flip = doc.get("flip")
    c = doc.get("counters") or {}
    return (f"{doc['set']} {doc['version']}: {a['correct']}/{a['n']} = {acc} [{a['wilson95'][0]:.3f}, "
            f"{a['wilson95'][1]:.3f}], no answer {a['no_answer']}"
            + (f", flip rate {flip['flips']}/{flip['n']}" if flip else "")
            + (f", rate-limited: {c['rate_limited']} × 429 ({c.get('retried_after_429', 0)} retried, "
               f"{c.get('gave_up_after_429', 0)} gave up, waited {c.get('waited_s', 0)} s)"
               if c.get("rate_limited") else "")
            + f"; gate {gate.get('state', 'not reached')} ({doc['wall_s']} s; reports/evals/{doc['set']}.json)")


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def markdown(docs: Sequence[Mapping[str, Any]]) -> str:
    """``reports/evals/accuracy.md``: one row per set, then each set's verdict line and power note."""
    lines = ["# Accuracy evals", "",
             "Accuracy = correct / items sent (a no-answer counts as wrong and is counted apart); 95 % Wilson "
             "interval on the effective n (clustered by template where a set has ≥ 10 templates). Gate: "
             "paired exact McNemar against the baseline (FAIL if p < 0.01 and net loss ≥ 3 points) and the "
             "three-state floor verdict; REPORTED = no baseline/floor, or the set is too small to gate at "
             "its noise floor. Method: docs/eval-statistics.md.", "",
             "| set | items | accuracy | Wilson 95 % | no answer | flip rate | gate | wall s |",
             "|---|---|---|---|---|---|---|---|"]
    for d in docs:
        a = d["accuracy"]
        flip = d.get("flip")
        base_flip = (d.get("gate") or {}).get("flip")
        fr = (f"{flip['flips']}/{flip['n']} ({100 * flip['flip_rate']:.1f} %)" if flip else
              f"baseline's {base_flip['flips']}/{base_flip['n']}" if base_flip else "not measured")
        gate = (d.get("gate") or {}).get("state", "not reached")
        lines.append(f"| {d['set']} {d['version']} | {a['n']} | {_pct(a['accuracy'])} | "
                     f"[{a['wilson95'][0]:.3f}, {a['wilson95'][1]:.3f}] | {a['no_answer']} | {fr} | {gate} | "
                     f"{d['wall_s']} |")
    for d in docs:
        lines += ["", f"## {d['set']}", ""]
        gate = d.get("gate")
        lines.append(f"- verdict: {gate['line'] if gate else (d.get('error') or 'not reached')}")
        if gate and gate.get("power"):
            lines.append(f"- power: {gate['power'].get('line', '')}")
        elif gate and not gate.get("regression"):
            lines.append("- power: no baseline given: the paired gate was not applied (save one with "
                         "--eval-save-baseline, compare with --eval-baseline)")
        if len(d.get("tasks") or {}) > 1:
            lines.append("- tasks: " + "; ".join(
                f"{t} {x['correct']}/{x['n']} = {_pct(x['accuracy'])}" for t, x in d["tasks"].items()))
        c = d["counters"]
        lines.append(f"- requests {c['requests']}, 429 answers {c['rate_limited']} (retried "
                     f"{c.get('retried_after_429', 0)}, gave up {c.get('gave_up_after_429', 0)}, waited "
                     f"{c['waited_s']} s), "
                     f"protocol errors {c['protocol_errors']}, transport errors {c['transport_errors']}; "
                     f"params `{json.dumps({k: v for k, v in d['request_params'].items() if k != 'path'}, sort_keys=True)}`"
                     f" on {d['request_params'].get('path')}")
        if d.get("baseline"):
            lines.append(f"- baseline: {d['baseline']}")
        if d.get("saved_baseline"):
            lines.append(f"- baseline saved: {d['saved_baseline']}")
    return "\n".join(lines) + "\n"


def write(directory: Path, doc: Mapping[str, Any], all_docs: Sequence[Mapping[str, Any]]) -> dict[str, Path]:
    """Write ``<set>.json`` and (re)write ``accuracy.md`` over every set of this run."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": directory / f"{doc['set']}.json", "md": directory / "accuracy.md"}
    paths["json"].write_text(redact(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n", encoding="utf-8")
    paths["md"].write_text(redact(markdown(all_docs)), encoding="utf-8")
    return paths


def attach(paths: Mapping[str, Path]) -> None:
    """Attach a set's report files to the running Allure test."""
    import allure  # noqa: PLC0415 - only inside a pytest run

    allure.attach.file(str(paths["json"]), name=paths["json"].name, attachment_type=allure.attachment_type.JSON)
    allure.attach.file(str(paths["md"]), name="accuracy.md", attachment_type=allure.attachment_type.TEXT)
