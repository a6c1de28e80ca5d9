"""Requests and tokens per requirement, by API (issue 13 §4: "requests earn their tokens").

Every exchange the suite's client records is **attributed** to the test running when it was sent:
its setup, call and teardown phases, including session fixtures first set up inside that test
(model discovery, capability discovery, context-window discovery). Exchanges outside any test, and
those of tests that cite no requirement, are **unattributed** (``(session)``). A test's traffic goes
to the requirement it cites.

Per exchange: the API (the route family of :func:`conformance.harness.metrics.classify_api`: chat,
completions, responses, messages, count_tokens, models, health, other), one request, the prompt and
output tokens the endpoint reported in ``usage`` (0 when it reported none; Messages input counts
``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``; a stream's final usage),
and one *generation* when it asked the model to generate and was answered 2xx (a ``POST`` to chat,
completions, responses or messages). The token figures are read from the per-exchange metrics
(:class:`~conformance.harness.metrics.ExchangeMetrics`), so nothing is parsed twice.

Reports: ``TestRecord.traffic`` (per test: api -> counts), the ``traffic`` block of
``conformance.json`` (:func:`traffic_block`) and the "Requests and tokens" section of summary.md
(:func:`summary_lines`).

The **request budget** (``conformance/budgets/reference.json``) records the figures of a serial
full reference run (``pytest``); ``python tools/request_budget.py check reports/conformance.json``
(or ``python -m conformance.harness.traffic check …``) fails when a run's total requests exceed the
recorded figure by more than the tolerance (10 %), naming the requirements that grew most, and says
so (without failing) when they fell, so the figure gets updated (``… record reports/conformance.json``).
Request counts, never times: the check does not depend on machine speed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

from conformance.harness.metrics import APIS, classify_api

__all__ = [
    "BUDGET_PATH",
    "COUNTS",
    "GENERATING_APIS",
    "SESSION",
    "BudgetError",
    "Recorder",
    "check",
    "counts_of",
    "load_budget",
    "main",
    "merge",
    "record_budget",
    "summary_lines",
    "traffic_block",
]

#: The counters kept per API, in report order.
COUNTS = ("requests", "generations", "prompt_tokens", "output_tokens")
#: APIs whose POST asks the model to generate.
GENERATING_APIS = ("chat", "completions", "responses", "messages")
#: The bucket of exchanges sent outside any test.
SESSION = "(session)"
#: The recorded figure of the reference run, checked in CI.
BUDGET_PATH = Path(__file__).resolve().parents[1] / "budgets" / "reference.json"
DEFAULT_TOLERANCE = 0.10

DEFINITIONS: dict[str, str] = {
    "requests": "HTTP requests the suite's client sent (every exchange recorded, whatever its status)",
    "generations": "requests that asked the model to generate and were answered 2xx (POST chat/completions/"
                   "responses/messages)",
    "prompt_tokens": "server-reported prompt tokens: usage.prompt_tokens (chat, completions), usage.input_tokens "
                     "(Responses; Messages plus cache_read_input_tokens and cache_creation_input_tokens); 0 when "
                     "the endpoint reported none",
    "output_tokens": "server-reported output tokens (usage.completion_tokens / usage.output_tokens, reasoning "
                     "included); 0 when the endpoint reported none (never estimated)",
    "attribution": "every exchange belongs to the test running when it was sent (setup, call, teardown, "
                   "session fixtures first set up inside it); a test's traffic goes to the requirement it cites; "
                   "exchanges outside any test or of tests citing none are 'unattributed'",
}


class BudgetError(ValueError):
    """A budget file or a conformance.json that cannot be used (exit 2 of the check)."""


def _zero() -> dict[str, int]:
    return {k: 0 for k in COUNTS}


def _api_order(api: str) -> int:
    return APIS.index(api) if api in APIS else len(APIS)


def counts_of(ex: Any, m: Any = None) -> tuple[str, dict[str, int]]:
    """(api, counts) of one exchange; ``m`` is its :class:`ExchangeMetrics` (``None`` when the
    metrics could not be computed: then the request counts, with no tokens)."""
    api = m.api if m is not None else classify_api(getattr(ex, "path", "/"))
    c = _zero()
    c["requests"] = 1
    status = getattr(ex, "status", None)
    if (api in GENERATING_APIS and str(getattr(ex, "method", "")).upper() == "POST"
            and status is not None and 200 <= status < 300 and not getattr(ex, "error", None)):
        c["generations"] = 1
    if m is not None:
        c["prompt_tokens"] = int(m.input_tokens or 0)
        if getattr(m, "output_tokens_source", None) == "usage":  # an events estimate is not a reported figure
            c["output_tokens"] = int(m.output_tokens or 0)
    return api, c


def merge(into: dict[str, dict[str, int]], more: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """Add ``more`` (api -> counts) into ``into`` (in place; returned)."""
    for api, counts in more.items():
        bucket = into.setdefault(api, _zero())
        for k in COUNTS:
            bucket[k] = bucket.get(k, 0) + int(counts.get(k, 0) or 0)
    return into


def _sorted_apis(by_api: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    return {api: {k: int(by_api[api].get(k, 0)) for k in COUNTS} for api in sorted(by_api, key=_api_order)}


def _total(by_api: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    out = _zero()
    for counts in by_api.values():
        for k in COUNTS:
            out[k] += int(counts.get(k, 0) or 0)
    return out


class Recorder:
    """Traffic per test during a run. :meth:`record` runs in the client's ``on_exchange`` hook (on
    the client's event-loop thread): it never raises. The plugin sets :attr:`nodeid` around each
    test (``None`` outside tests)."""

    def __init__(self) -> None:
        self.nodeid: str | None = None
        self._by_test: dict[str, dict[str, dict[str, int]]] = {}
        self._lock = threading.Lock()
        self.failures: list[str] = []

    def record(self, ex: Any, m: Any = None, *, nodeid: str | None = None) -> None:
        try:
            api, counts = counts_of(ex, m)
            key = nodeid if nodeid is not None else (self.nodeid or SESSION)
            with self._lock:
                merge(self._by_test.setdefault(key, {}), {api: counts})
        except Exception as exc:  # noqa: BLE001 - a traffic bug must not break an exchange
            self.failures.append(f"exchange {getattr(ex, 'seq', '?')}: {type(exc).__name__}: {exc}")

    def of(self, nodeid: str) -> dict[str, dict[str, int]]:
        """A copy of one test's traffic so far (api -> counts)."""
        with self._lock:
            return _sorted_apis(self._by_test.get(nodeid, {}))

    def unattributed(self, attributed: Iterable[str]) -> dict[str, dict[str, int]]:
        """Traffic of the session and of every test not in ``attributed`` (the node ids that have a
        TestRecord), api -> counts: what ``conformance.json`` lists as ``unattributed``. With
        pytest-xdist each worker's result is merged into the controller's (:meth:`add_unattributed`)."""
        keep = set(attributed)
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for key, by_api in self._by_test.items():
                if key not in keep:
                    merge(out, by_api)
        return _sorted_apis(out)

    def add_unattributed(self, by_api: Mapping[str, Mapping[str, int]]) -> None:
        """Merge unattributed traffic from elsewhere (a pytest-xdist worker) into the session bucket."""
        with self._lock:
            merge(self._by_test.setdefault(SESSION, {}), by_api)


# -- the conformance.json block ------------------------------------------------------------------


def traffic_block(records: Iterable[Any], unattributed: Mapping[str, Mapping[str, int]] | None = None
                  ) -> dict[str, Any]:
    """The ``traffic`` block of conformance.json from the run's TestRecords (each with ``traffic``)
    and the unattributed traffic: totals, by API, by requirement (each with its own ``by_api`` and
    the number of tests citing it), unattributed, and per test (tests that sent nothing are left
    out). Totals include the unattributed traffic."""
    by_req: dict[str, dict[str, dict[str, int]]] = {}
    tests: dict[str, int] = {}
    by_test: dict[str, dict[str, int]] = {}
    for rec in records:
        traffic = getattr(rec, "traffic", None) or {}
        rid = rec.requirement
        tests[rid] = tests.get(rid, 0) + 1
        merge(by_req.setdefault(rid, {}), traffic)
        if traffic:
            by_test[rec.nodeid] = _total(traffic)
    un = _sorted_apis(unattributed or {})
    by_api: dict[str, dict[str, int]] = {}
    for per in by_req.values():
        merge(by_api, per)
    merge(by_api, un)
    requirements = {}
    for rid in sorted(by_req):
        per = _sorted_apis(by_req[rid])
        requirements[rid] = {**_total(per), "tests": tests[rid], "by_api": per}
    return {
        "definitions": dict(DEFINITIONS),
        "totals": _total(by_api),
        "by_api": _sorted_apis(by_api),
        "by_requirement": requirements,
        "unattributed": {**_total(un), "by_api": un},
        # per test (only tests that sent something): where to look when a requirement costs too much
        "by_test": dict(sorted(by_test.items())),
    }


# -- summary.md ------------------------------------------------------------------------------------


def summary_lines(block: Mapping[str, Any] | None, *, top: int = 10) -> list[str]:
    """The "Requests and tokens" section of summary.md (nothing without a traffic block)."""
    if not block or not block.get("totals"):
        return []
    totals = block["totals"]
    lines = ["## Requests and tokens", "",
             f"{totals.get('requests', 0)} requests ({totals.get('generations', 0)} generations), "
             f"{totals.get('prompt_tokens', 0)} prompt tokens, {totals.get('output_tokens', 0)} output tokens "
             "(server-reported `usage`; definitions in conformance.json `traffic.definitions`).", "",
             "| api | requests | generations | prompt tokens | output tokens |", "|---|---|---|---|---|"]
    for api, c in (block.get("by_api") or {}).items():
        lines.append(f"| {api} | {c['requests']} | {c['generations']} | {c['prompt_tokens']} | {c['output_tokens']} |")
    lines.append(f"| **total** | {totals['requests']} | {totals['generations']} | {totals['prompt_tokens']} | "
                 f"{totals['output_tokens']} |")
    lines.append("")
    reqs = block.get("by_requirement") or {}
    if reqs:
        per = [e["requests"] for e in reqs.values()]
        lines.append(f"Requests per requirement: mean {statistics.fmean(per):.1f}, median "
                     f"{statistics.median(per):g}, max {max(per)} over {len(per)} requirements; unattributed "
                     f"(outside any test): {(block.get('unattributed') or {}).get('requests', 0)}.")
        lines += ["", f"Top {min(top, len(reqs))} requirements by requests:", "",
                  "| requirement | tests | requests | generations | prompt tokens | output tokens | by api |",
                  "|---|---|---|---|---|---|---|"]
        ranked = sorted(reqs.items(), key=lambda kv: (-kv[1]["requests"], -kv[1]["prompt_tokens"], kv[0]))
        for rid, e in ranked[:top]:
            apis = ", ".join(f"{api} {c['requests']}" for api, c in e.get("by_api", {}).items())
            lines.append(f"| {rid} | {e.get('tests', 0)} | {e['requests']} | {e['generations']} | "
                         f"{e['prompt_tokens']} | {e['output_tokens']} | {apis} |")
        lines.append("")
    return lines


# -- the recorded figure and the budget check ------------------------------------------------------


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BudgetError(f"{what} {path}: not found") from None
    except (OSError, ValueError) as exc:
        raise BudgetError(f"{what} {path}: not readable JSON: {exc}") from None


def _nonneg_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def load_traffic(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(conformance.json document, its ``traffic`` block); :class:`BudgetError` when unusable."""
    doc = _read_json(path, "conformance.json")
    block = doc.get("traffic") if isinstance(doc, dict) else None
    if not isinstance(block, dict) or not isinstance(block.get("totals"), dict) \
            or not _nonneg_int(block["totals"].get("requests")):
        raise BudgetError(f"{path}: no usable 'traffic' block (written by suite runs since issue 13)")
    return doc, block


def load_budget(path: Path | str = BUDGET_PATH) -> dict[str, Any]:
    """The recorded request budget (``conformance/budgets/reference.json``), validated:
    ``requests``, ``prompt_tokens``, ``output_tokens`` (non-negative integers), ``by_api`` and
    ``by_requirement`` (``{RID: {"requests": n, "prompt_tokens": p, "output_tokens": o, ...}}``).
    Raises :class:`BudgetError` when the file is missing or malformed."""
    doc = _read_json(Path(path), "budget")
    if not isinstance(doc, dict):
        raise BudgetError(f"budget {path}: not a JSON object")
    for key in ("requests", "prompt_tokens", "output_tokens"):
        if not _nonneg_int(doc.get(key)):
            raise BudgetError(f"budget {path}: {key!r} must be a non-negative integer, got {doc.get(key)!r}")
    if doc["requests"] == 0:
        raise BudgetError(f"budget {path}: 'requests' is 0 (record it from a full run)")
    for key in ("by_api", "by_requirement"):
        table = doc.get(key, {})
        if not isinstance(table, dict) or not all(
                isinstance(v, dict) and _nonneg_int(v.get("requests")) for v in table.values()):
            raise BudgetError(f"budget {path}: {key!r} must map names to objects with integer 'requests'")
    return doc


def record_budget(conformance_json: Path, out: Path = BUDGET_PATH, *, command: str = "pytest") -> dict[str, Any]:
    """Write the recorded figure from a run's conformance.json (a serial full reference run)."""
    doc, block = load_traffic(conformance_json)
    totals = block["totals"]
    budget = {
        "$comment": ("Request budget of the reference run (issue 13 §4). Recorded from a serial full run "
                     f"('{command}', profile {doc.get('profile')!r}) by "
                     "'python tools/request_budget.py record reports/conformance.json'; CI runs "
                     "'python tools/request_budget.py check reports/conformance.json' after the README run and "
                     "fails when the run's requests exceed 'requests' by more than 10 %. A change that adds "
                     "requests on purpose re-records this file in the same commit."),
        "profile": doc.get("profile"),
        "command": command,
        "suite_version": doc.get("suite_version"),
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tests": (doc.get("totals") or {}).get("tests"),
        "requests": totals["requests"],
        "generations": totals.get("generations", 0),
        "prompt_tokens": totals.get("prompt_tokens", 0),
        "output_tokens": totals.get("output_tokens", 0),
        "by_api": block.get("by_api", {}),
        "unattributed": {k: v for k, v in (block.get("unattributed") or {}).items() if k != "by_api"},
        "by_requirement": {rid: {k: e.get(k, 0) for k in (*COUNTS, "tests")}
                           for rid, e in (block.get("by_requirement") or {}).items()},
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_budget_text(budget), encoding="utf-8")
    return budget


def _budget_text(budget: Mapping[str, Any]) -> str:
    """JSON with one line per API and per requirement (so a re-recorded figure diffs readably)."""
    def table(rows: Mapping[str, Any]) -> str:
        if not rows:
            return "{}"
        body = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in rows.items())
        return "{\n" + body + "\n  }"

    parts = [f"  {json.dumps(k)}: " + (table(v) if k in ("by_api", "by_requirement") else json.dumps(v, ensure_ascii=False))
             for k, v in budget.items()]
    return "{\n" + ",\n".join(parts) + "\n}\n"


def _growth(run: Mapping[str, Any], budget: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    """(requirement, recorded, now) for every requirement whose requests changed, largest growth first."""
    now = {rid: int(e.get("requests", 0)) for rid, e in (run.get("by_requirement") or {}).items()}
    was = {rid: int(e.get("requests", 0)) for rid, e in (budget.get("by_requirement") or {}).items()}
    rows = [(rid, was.get(rid, 0), now.get(rid, 0)) for rid in set(now) | set(was)
            if was.get(rid, 0) != now.get(rid, 0)]
    return sorted(rows, key=lambda r: (-(r[2] - r[1]), r[0]))


def check(conformance_json: Path, budget_path: Path = BUDGET_PATH, *, tolerance: float = DEFAULT_TOLERANCE,
          out: Any = None) -> int:
    """The CI budget check: 1 when the run's requests exceed the recorded figure by more than
    ``tolerance`` (naming the requirements whose requests grew most), 0 otherwise (a decrease is
    reported, not failed), 2 on unusable input."""
    out = out or sys.stdout
    say = lambda s="": print(s, file=out)  # noqa: E731
    try:
        if not 0 <= tolerance < 10:
            raise BudgetError(f"--tolerance {tolerance}: must be a fraction such as 0.10")
        budget = load_budget(budget_path)
        doc, block = load_traffic(conformance_json)
    except BudgetError as exc:
        say(f"request budget: UNUSABLE: {exc}")
        return 2
    if budget.get("profile") and doc.get("profile") != budget["profile"]:
        say(f"request budget: UNUSABLE: the run used profile {doc.get('profile')!r}, the budget was recorded with "
            f"{budget['profile']!r}")
        return 2
    totals = block["totals"]
    now, was = int(totals["requests"]), int(budget["requests"])
    limit = was * (1 + Fraction(str(tolerance)))
    ratio = now / was
    pct = f"{tolerance * 100:g} %"
    head = (f"{now} requests vs {was} recorded (ratio {ratio:.3f}, limit {float(limit):.1f} = "
            f"+{pct}); prompt tokens {totals.get('prompt_tokens', 0)} vs {budget['prompt_tokens']}, output tokens "
            f"{totals.get('output_tokens', 0)} vs {budget['output_tokens']}")
    growth = _growth(block, budget)
    if now > limit:
        say(f"request budget: FAIL: {head}")
        say(f"  the run makes more than {pct} more requests than {budget_path} records. Trim the new requests, "
            "or, if they earn their tokens, re-record the figure in the same change:")
        say(f"  python tools/request_budget.py record {conformance_json}")
        grew = [r for r in growth if r[2] > r[1]]
        if grew:
            say("  requirements whose requests grew most:")
            for rid, a, b in grew[:10]:
                say(f"    {rid}: {a} -> {b} (+{b - a})" + (" (new)" if a == 0 else ""))
        return 1
    say(f"request budget: ok: {head}")
    if now < was:
        say(f"  the run makes {was - now} fewer requests than recorded ({(1 - ratio) * 100:.1f} % less): update the "
            f"figure so the budget stays tight: python tools/request_budget.py record {conformance_json}")
        fell = [r for r in reversed(growth) if r[2] < r[1]]
        for rid, a, b in fell[:10]:
            say(f"    {rid}: {a} -> {b} ({b - a})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="request_budget",
        description="Record or check the reference run's request budget (issue 13 §4).")
    sub = parser.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record", help="write the budget from a serial full reference run's conformance.json")
    rec.add_argument("conformance_json", type=Path)
    rec.add_argument("--budget", type=Path, default=BUDGET_PATH, help="where to write (default: %(default)s)")
    rec.add_argument("--command", default="pytest", help="the command the run was made with (default: pytest)")
    chk = sub.add_parser("check", help="exit 1 when the run's requests exceed the budget by more than --tolerance")
    chk.add_argument("conformance_json", type=Path)
    chk.add_argument("--budget", type=Path, default=BUDGET_PATH, help="the recorded figure (default: %(default)s)")
    chk.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, help="allowed increase (default 0.10)")
    args = parser.parse_args(argv)
    if args.cmd == "record":
        try:
            budget = record_budget(args.conformance_json, args.budget, command=args.command)
        except BudgetError as exc:
            print(f"request budget: UNUSABLE: {exc}")
            return 2
        print(f"request budget recorded in {args.budget}: {budget['requests']} requests, "
              f"{budget['prompt_tokens']} prompt tokens, {budget['output_tokens']} output tokens")
        return 0
    return check(args.conformance_json, args.budget, tolerance=args.tolerance)


if __name__ == "__main__":
    raise SystemExit(main())
