"""SSE decode + validate benchmark (issue 13 §1–§2): how close is the suite's stream path to a bare
orjson parse of the same bytes?

Three recorded-like streams, authored here and deterministic (no endpoint, no download): a chat
completions stream of 400 content chunks (plus role, finish and usage chunks and ``data: [DONE]``),
a Responses stream of 400 ``response.output_text.delta`` events between its lifecycle events, and
an Anthropic Messages stream of 400 ``content_block_delta`` events. Each is fed the way the client
feeds a live stream: one network chunk per SSE event, with arrival times.

Contenders, timed in the same run, interleaved round by round (so that drift of a shared machine
hits all of them alike), each ratio the median over rounds of the two round times' ratio:

* ``floor`` (the anchor): split the body on ``b"\\n\\n"``, take the ``data: `` line, ``orjson.loads``
  it; no framing rules, no diagnostics, no validation. Nothing that decodes these streams can be
  faster in Python.
* ``suite_strict``: the suite's path before issue 13 — the byte-level parser
  (``SSEParser(strict=True)``), the stream layer (``ChunkStream`` / ``ResponsesStream`` /
  ``MessagesStream.from_exchange``) decoding every payload with the standard library's ``json``,
  and the schema check the suite runs on every such stream (``OAI-STREAM-005`` /
  ``OAI-RESP-002`` / ``ANT-STREAM-002``, compiled ``jsonschema-rs``).
* ``suite``: the same path as the suite runs it now: the parser's fast path for well-formed input
  and the layer's orjson decode (with the standard library's semantics where they differ).
* ``sdk``: the official SDK's ``Stream`` (openai for chat and Responses, anthropic for Messages),
  decoding the same chunks from an ``httpx.MockTransport`` (request building and typed models
  included: it is what a user of the SDK pays per stream).

Every figure is printed as a ratio against the floor of the same run (events/s are printed too,
but only the ratios are comparable across machines). The target of issue 13 §2 is
``suite / floor >= 0.5`` for every API.

Run: ``python -m benchmarks`` (all benchmarks) or ``python -m benchmarks.sse_decode [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAME = "sse-decode"
SCHEMA_VERSION = 1
TARGET_RATIO = 0.5
DELTAS = 400

_WORDS = ("The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ",", " and",
          " then", " it", " rests", " under", " a", " tree", ".", " Ça", " va", " très", " bien", " —",
          " \"quoted\"", " line\\n", " 42", " €", " 東京", " naïve", " café")


def _token(i: int) -> str:
    return _WORDS[i % len(_WORDS)]


def _sse(data: Any, event: str | None = None) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    head = f"event: {event}\n" if event is not None else ""
    return f"{head}data: {text}\n\n".encode()


# -- the streams (each a list of network chunks, one SSE event each) --------------------------------

def chat_stream(n: int = DELTAS) -> list[bytes]:
    """A chat completions stream as OpenAI sends it with ``stream_options.include_usage``."""
    base = {"id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion.chunk",
            "created": 1741570283, "model": "gpt-4o-2024-08-06", "service_tier": "default",
            "system_fingerprint": "fp_eb9dce56a8"}

    def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None,
              choices: bool = True) -> bytes:
        body = dict(base)
        body["choices"] = ([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
                           if choices else [])
        body["usage"] = usage
        return _sse(body)

    out = [chunk({"role": "assistant", "content": "", "refusal": None})]
    out += [chunk({"content": _token(i)}) for i in range(n)]
    out.append(chunk({}, finish="stop"))
    out.append(chunk({}, usage={"prompt_tokens": 19, "completion_tokens": n, "total_tokens": 19 + n,
                                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                              "accepted_prediction_tokens": 0,
                                                              "rejected_prediction_tokens": 0}},
                     choices=False))
    out.append(_sse("[DONE]"))
    return out


def responses_stream(n: int = DELTAS) -> list[bytes]:
    """A Responses stream (``event:`` + ``data:``), one output message of ``n`` text deltas."""
    rid, mid = "resp_0f5e1c2d8a7b4e9f", "msg_7c1d2e3f4a5b6c7d"
    text = "".join(_token(i) for i in range(n))
    seq = iter(range(10 ** 6))

    def response(status: str, output: list[Any], completed_at: int | None) -> dict[str, Any]:
        out = {"id": rid, "object": "response", "created_at": 1767225600, "status": status,
               "completed_at": completed_at, "error": None, "incomplete_details": None,
               "instructions": None, "model": "nvidia/nemotron-3-nano", "output": output,
               "parallel_tool_calls": True, "metadata": {}, "tool_choice": "auto", "tools": [],
               "temperature": 0.0, "top_p": 1.0, "max_output_tokens": None, "previous_response_id": None,
               "truncation": "disabled", "text": {"format": {"type": "text"}}}
        if status == "completed":
            out["usage"] = {"input_tokens": 19, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                            "output_tokens": n, "output_tokens_details": {"reasoning_tokens": 0},
                            "total_tokens": 19 + n}
        return out

    def ev(etype: str, **fields: Any) -> bytes:
        return _sse({"type": etype, **fields, "sequence_number": next(seq)}, event=etype)

    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    item = {"id": mid, "type": "message", "status": "completed", "role": "assistant", "content": [part]}
    out = [ev("response.created", response=response("in_progress", [], None)),
           ev("response.in_progress", response=response("in_progress", [], None)),
           ev("response.output_item.added", output_index=0,
              item={"id": mid, "type": "message", "status": "in_progress", "role": "assistant", "content": []}),
           ev("response.content_part.added", item_id=mid, output_index=0, content_index=0,
              part={"type": "output_text", "text": "", "annotations": [], "logprobs": []})]
    out += [ev("response.output_text.delta", item_id=mid, output_index=0, content_index=0, delta=_token(i),
               logprobs=[]) for i in range(n)]
    out += [ev("response.output_text.done", item_id=mid, output_index=0, content_index=0, text=text, logprobs=[]),
            ev("response.content_part.done", item_id=mid, output_index=0, content_index=0, part=part),
            ev("response.output_item.done", output_index=0, item=item),
            ev("response.completed", response=response("completed", [item], 1767225601))]
    return out


def anthropic_stream(n: int = DELTAS) -> list[bytes]:
    """An Anthropic Messages stream: ``event: <type>`` + ``data: <JSON>``, one text block."""
    out = [_sse({"type": "message_start", "message": {
                "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant", "content": [],
                "model": "claude-sonnet-4-5-20250929", "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": 25, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                          "output_tokens": 1}}}, "message_start"),
           _sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start"),
           _sse({"type": "ping"}, "ping")]
    out += [_sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": _token(i)}},
                 "content_block_delta") for i in range(n)]
    out += [_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            _sse({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                  "usage": {"output_tokens": n}}, "message_delta"),
            _sse({"type": "message_stop"}, "message_stop")]
    return out


STREAMS: dict[str, Callable[[int], list[bytes]]] = {
    "chat": chat_stream, "responses": responses_stream, "anthropic": anthropic_stream}


# -- the contenders (each decodes one stream and returns the number of events it decoded) ----------

def floor(chunks: list[bytes]) -> int:
    """The orjson floor: split on blank lines, strip ``data: ``, ``orjson.loads``."""
    import orjson

    loads = orjson.loads
    body = b"".join(chunks)
    n = 0
    for block in body.split(b"\n\n"):
        i = block.find(b"data: ")
        if i < 0:
            continue
        payload = block[i + 6:]
        if payload != b"[DONE]":
            loads(payload)
        n += 1
    return n


def _exchange(api: str, parser: Any) -> Any:
    from conformance.harness.exchange import Exchange

    path = {"chat": "/v1/chat/completions", "responses": "/v1/responses", "anthropic": "/v1/messages"}[api]
    return Exchange(seq=0, method="POST", url=f"http://bench.invalid{path}", request_headers=[],
                    request_body=None, stream=True, started_at=0.0, status=200,
                    response_headers=[("content-type", "text/event-stream")], sse=parser)


def _stdlib_decode_all(texts: list[str]) -> list[Any]:
    """The stream layers' decode before issue 13: ``json.loads`` per payload."""
    out: list[Any] = []
    for text in texts:
        try:
            out.append(json.loads(text))
        except ValueError:
            out.append(None)
    return out


SCHEMA_PREFIX = {"chat": None, "responses": "openai/responses/", "anthropic": "anthropic/stream/"}
CHAT_CHUNK = "openai/chat.completion.chunk"


class SuitePath:
    """Decode + validate as the suite does it: the strict SSE parser's events, each ``data:``
    payload but ``[DONE]`` decoded as the stream layers decode it, and every object checked
    against its compiled schema (the chunk schema; the schema of its ``type`` for Responses and
    Anthropic events), as ``OAI-STREAM-005`` / ``OAI-RESP-002`` / ``ANT-STREAM-002`` check it.

    ``strict=True`` is the path before issue 13: the byte-level parser, the standard library's
    ``json.loads``, one compiled ``is_valid`` call per object. ``strict=False`` is the path now:
    the parser's fast path, the payloads picked and decoded as the stream layers do it
    (:func:`conformance.harness.streams.base.decode_payloads`: orjson with ``json``'s semantics,
    reading the bytes the parser decoded each payload from) and
    :meth:`~conformance.harness.schemas.SchemaSet.invalid_indices` /
    :meth:`~conformance.harness.schemas.SchemaSet.invalid_indices_by_type` (one compiled call per
    stream, or per run of one event type, against the batch schemas; the written schemas one by one
    only where that finds an invalid object)."""

    def __init__(self, api: str, *, strict: bool, schemas: Any = None) -> None:
        from conformance.harness.schemas import SchemaSet, schema_id
        from conformance.harness.streams import base

        self.api, self.strict = api, strict
        self.schemas = schemas or SchemaSet()
        self.decode_payloads = base.decode_payloads
        self.prefix = SCHEMA_PREFIX[api]
        self._schema_id = schema_id

    def __call__(self, chunks: list[bytes]) -> int:
        from conformance.harness.sse import SSEParser

        parser = SSEParser(strict=self.strict)
        feed = parser.feed
        for i, chunk in enumerate(chunks):
            feed(chunk, t=i * 0.01)
        parser.close()
        events = parser.events
        if self.strict:
            objects = _stdlib_decode_all([e.data for e in events if e.data != "[DONE]"])
        else:  # as the stream layers do it (EventStream._scan)
            objects = self.decode_payloads(parser)
        if self.strict:  # one compiled is_valid call per object, by type
            groups: dict[str, list[Any]] = {}
            for obj in objects:
                groups.setdefault(CHAT_CHUNK if self.prefix is None else self.prefix + obj["type"], []).append(obj)
            bad = [o for name, objs in groups.items()
                   for o in objs if not self.schemas._compiled(self._schema_id(name)).is_valid(o)]
        elif self.prefix is None:
            bad = self.schemas.invalid_indices(objects, CHAT_CHUNK)
        else:
            bad = self.schemas.invalid_indices_by_type(objects, self.prefix, self.schemas.names_under(self.prefix))
        if bad:
            raise RuntimeError(f"{self.api}: {len(bad)} invalid objects in an authored stream")
        return len(parser.events)


class LayersPath:
    """Everything a protocol facade does with a finished stream: the parser, the stream layer
    (``ChunkStream`` / ``ResponsesStream`` / ``MessagesStream.from_exchange``, which also builds
    chunks, events, text parts and blocks) and the schema check. Informational: more than decode +
    validate."""

    def __init__(self, api: str, *, schemas: Any = None) -> None:
        from conformance.harness.checks.anthropic import message_events_match_schemas
        from conformance.harness.checks.openai import chunks_match_schema
        from conformance.harness.checks.responses import events_match_schemas
        from conformance.harness.schemas import SchemaSet
        from conformance.harness.streams.anthropic import MessagesStream
        from conformance.harness.streams.openai import ChunkStream
        from conformance.harness.streams.responses import ResponsesStream

        self.api = api
        self.schemas = schemas or SchemaSet()
        self.layer, self.check = {
            "chat": (ChunkStream, chunks_match_schema),
            "responses": (ResponsesStream, events_match_schemas),
            "anthropic": (MessagesStream, message_events_match_schemas),
        }[api]

    def __call__(self, chunks: list[bytes]) -> int:
        from conformance.harness.sse import SSEParser

        parser = SSEParser()
        feed = parser.feed
        for i, chunk in enumerate(chunks):
            feed(chunk, t=i * 0.01)
        parser.close()
        stream = self.layer.from_exchange(_exchange(self.api, parser))
        self.check(stream, schemas=self.schemas)  # raises on an invalid event: the streams are valid
        return len(parser.events)


class SDKPath:
    """The official SDK's streaming decode of the same chunks (offline, ``httpx.MockTransport``)."""

    def __init__(self, api: str) -> None:
        self.api = api
        self._chunks: list[bytes] = []
        if api == "anthropic":
            import anthropic

            client = anthropic.Anthropic(api_key="bench", base_url="http://bench.invalid",
                                         http_client=self._http(anthropic), max_retries=0)
            self._open = lambda: client.messages.create(model="m", max_tokens=DELTAS + 10, stream=True,
                                                        messages=[{"role": "user", "content": "hi"}])
        else:
            import openai

            oai = openai.OpenAI(api_key="bench", base_url="http://bench.invalid/v1",
                                http_client=self._http(openai), max_retries=0)
            if api == "chat":
                self._open = lambda: oai.chat.completions.create(model="m", stream=True,
                                                                 messages=[{"role": "user", "content": "hi"}])
            else:
                self._open = lambda: oai.responses.create(model="m", input="hi", stream=True)

    def _http(self, sdk: Any) -> Any:
        """A client of the HTTP package the SDK is built on (``httpx``, or ``httpx2`` for recent
        anthropic releases) whose transport answers every request with the stream's chunks."""
        import importlib

        base = importlib.import_module(f"{sdk.__name__}._base_client")
        httpx = getattr(base, "httpx2", None) or importlib.import_module("httpx")

        def handler(request: Any) -> Any:  # noqa: ARG001
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=iter(self._chunks))

        return httpx.Client(transport=httpx.MockTransport(handler))

    def __call__(self, chunks: list[bytes]) -> int:
        self._chunks = chunks
        n = sum(1 for _ in self._open())
        # Consumed without being yielded: data: [DONE] (openai), the ping event (anthropic).
        return n + (0 if self.api == "responses" else 1)


def sdk_available(api: str) -> str | None:
    """None when the SDK for ``api`` imports, else why not."""
    module = "anthropic" if api == "anthropic" else "openai"
    try:
        __import__(module)
    except ImportError:
        return f"{module} is not installed (pip install -e '.[sdk]')"
    return None


# -- timing ----------------------------------------------------------------------------------------

@dataclass
class Figure:
    api: str
    contender: str
    events: int  # events per decode
    seconds: list[float]  # per round, for `reps` decodes

    def median(self) -> float:
        return statistics.median(self.seconds)

    def rate(self, reps: int) -> float:
        return self.events * reps / self.median()

    def spread_pct(self) -> float:
        """(max - min) / median of the round times, in %: the noise this figure saw."""
        m = self.median()
        return 100.0 * (max(self.seconds) - min(self.seconds)) / m if m else 0.0


CHUNKINGS = {
    "recorded": "the whole body in one chunk (a recorded stream replayed; what the floor reads)",
    "live": "one network chunk per SSE event (as a token-by-token server sends them)",
}


def measure(api: str, *, chunking: str = "recorded", rounds: int, reps: int,
            include_sdk: bool = True) -> dict[str, Figure]:
    chunks = STREAMS[api](DELTAS)
    if chunking == "recorded":
        chunks = [b"".join(chunks)]
    from conformance.harness.schemas import SchemaSet

    schemas = SchemaSet()
    contenders: dict[str, Callable[[list[bytes]], int]] = {
        "floor": floor,
        "suite_strict": SuitePath(api, strict=True, schemas=schemas),
        "suite": SuitePath(api, strict=False, schemas=schemas),
        "suite_layers": LayersPath(api, schemas=schemas),
    }
    if include_sdk and sdk_available(api) is None:
        contenders["sdk"] = SDKPath(api)
    counts = {name: fn(chunks) for name, fn in contenders.items()}  # warm-up; every one decodes all
    expected = counts["floor"]
    for name, count in counts.items():
        if count != expected:
            raise RuntimeError(f"{api}: {name} decoded {count} events, the floor {expected}")
    figures = {name: Figure(api, name, expected, []) for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            for _ in range(reps):
                fn(chunks)
            figures[name].seconds.append(time.perf_counter() - t0)
    return figures


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "implementation": platform.python_implementation()}
    from importlib.metadata import PackageNotFoundError, version

    for module, dist in (("orjson", "orjson"), ("jsonschema_rs", "jsonschema-rs"), ("openai", "openai"),
                         ("anthropic", "anthropic"), ("httpx", "httpx")):
        try:
            out[module] = version(dist)
        except PackageNotFoundError:
            out[module] = "not installed"
    return out


def paired_ratio(anchor: Figure, fig: Figure) -> float:
    """How many times faster ``fig`` decodes than ``anchor``: the median over rounds of the two
    round times' ratio. Each round times every contender back to back, so a drift of a shared
    machine (another process, a frequency change) hits both times of a round alike and cancels in
    its ratio; the ratio of the two medians would mix rounds taken at different moments."""
    return statistics.median(a / b for a, b in zip(anchor.seconds, fig.seconds, strict=True))


def measure_all(*, rounds: int, reps: int, include_sdk: bool) -> dict[str, dict[str, Figure]]:
    """:func:`measure` of every API and chunking, keyed ``api/chunking``."""
    return {f"{api}/{chunking}": measure(api, chunking=chunking, rounds=rounds, reps=reps, include_sdk=include_sdk)
            for api, chunking in [(a, c) for c in CHUNKINGS for a in STREAMS]}


def measure_in_processes(processes: int, *, rounds: int, reps: int,
                         include_sdk: bool) -> dict[str, dict[str, Figure]]:
    """:func:`measure_all` in ``processes`` fresh interpreters, one after the other (never at the
    same time: they would time each other), their rounds pooled. A process's memory layout and
    hash seeds shift every contender's speed a little, and not alike: on this project's 2-core VM
    one process's paired ratio differed from the next one's by up to ±10 %, which one process's
    rounds cannot average out (pyperf spawns worker processes for the same reason)."""
    pooled: dict[str, dict[str, Figure]] = {}
    cmd = [sys.executable, "-m", "benchmarks.sse_decode", "--worker", "--rounds", str(rounds), "--reps", str(reps)]
    if not include_sdk:
        cmd.append("--no-sdk")
    for _ in range(processes):
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600,
                              cwd=Path(__file__).resolve().parents[1])
        if done.returncode != 0:
            raise RuntimeError(f"a benchmark process failed (exit {done.returncode}): {done.stderr[-2000:]}")
        for key, contenders in json.loads(done.stdout).items():
            for name, (api, events, seconds) in contenders.items():
                fig = pooled.setdefault(key, {}).setdefault(name, Figure(api, name, events, []))
                fig.seconds.extend(seconds)
    return pooled


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


#: Above this 1-minute load average (on top of the benchmark's own process) the figures are marked.
BUSY_LOAD = 1.5


def run(*, quick: bool = False, rounds: int | None = None, reps: int | None = None,
        include_sdk: bool = True, processes: int | None = None) -> dict[str, Any]:
    """Measure every API; return the JSON-able result (figures, ratios against the floor, verdicts
    against the target). ``processes`` > 1: the rounds are taken in that many fresh interpreters
    (:func:`measure_in_processes`), ``rounds`` in each."""
    processes = processes or (1 if quick else 5)
    rounds = rounds or (3 if quick else 5)
    reps = reps or (2 if quick else 10)
    result: dict[str, Any] = {
        "benchmark": NAME, "schema_version": SCHEMA_VERSION, "anchor": "floor",
        "target": {"contender": "suite", "min_ratio_vs_floor": TARGET_RATIO},
        "deltas_per_stream": DELTAS, "processes": processes, "rounds": rounds * processes,
        "reps_per_round": reps, "chunkings": CHUNKINGS, "versions": versions(), "streams": {},
    }
    load_before = _load_average()
    measured = (measure_in_processes(processes, rounds=rounds, reps=reps, include_sdk=include_sdk)
                if processes > 1 else measure_all(rounds=rounds, reps=reps, include_sdk=include_sdk))
    result["load_average_1min"] = {"before": load_before, "after": _load_average()}
    for key, figures in measured.items():
        api, chunking = key.split("/")
        floor_rate = figures["floor"].rate(reps)
        entry: dict[str, Any] = {"api": api, "chunking": chunking, "events_per_stream": figures["floor"].events,
                                 "contenders": {}}
        for name, fig in figures.items():
            entry["contenders"][name] = {
                "events_per_s": round(fig.rate(reps)),
                "ratio_vs_floor": round(paired_ratio(figures["floor"], fig), 4),
                "ratio_of_medians": round(fig.rate(reps) / floor_rate, 4),
                "median_round_s": round(fig.median(), 6),
                "spread_pct": round(fig.spread_pct(), 1),
            }
        suite = entry["contenders"]["suite"]
        entry["speedup_vs_strict"] = round(paired_ratio(figures["suite_strict"], figures["suite"]), 3)
        if "sdk" in figures:
            entry["suite_vs_sdk"] = round(paired_ratio(figures["sdk"], figures["suite"]), 2)
        entry["meets_target"] = suite["ratio_vs_floor"] >= TARGET_RATIO
        result["streams"][key] = entry
    return result


def render(result: dict[str, Any]) -> str:
    lines = [f"## {NAME}: decode + validate, ratio against the orjson floor of the same run "
             f"(target: suite ≥ {TARGET_RATIO}×)", "",
             "| API | contender | events/s | × floor | spread |", "|---|---|---:|---:|---:|"]
    for api, entry in result["streams"].items():
        for name, c in entry["contenders"].items():
            lines.append(f"| {api} | {name} | {c['events_per_s']:,} | {c['ratio_vs_floor']:.3f} | "
                         f"{c['spread_pct']:.0f} % |")
    lines.append("")
    for api, entry in result["streams"].items():
        sdk = f", {entry['suite_vs_sdk']}× the SDK" if "suite_vs_sdk" in entry else ""
        verdict = "meets" if entry["meets_target"] else "misses"
        lines.append(f"- {api}: suite {entry['contenders']['suite']['ratio_vs_floor']:.3f}× floor "
                     f"({verdict} the target), {entry['speedup_vs_strict']}× the strict path{sdk}")
    v = result["versions"]
    lines.append(f"- python {v['python']}, orjson {v['orjson']}, jsonschema-rs {v['jsonschema_rs']}; "
                 f"{result['rounds']} rounds ({result.get('processes', 1)} processes) × {result['reps_per_round']} "
                 "decodes; × floor is the median over rounds of the round's floor time ÷ its suite time")
    for name, what in result["chunkings"].items():
        lines.append(f"- {name}: {what}")
    load = result.get("load_average_1min") or {}
    if load.get("after") is not None:
        busy = max(x for x in (load.get("before"), load["after"]) if x is not None) > BUSY_LOAD
        lines.append(f"- load average (1 min) {load.get('before')} before, {load['after']} after"
                     + (": a busy machine. Other processes slow the floor and the suite unevenly (an SMT sibling "
                        "or shared caches; measured on the project's 2-vCPU VM: one busy loop took the suite "
                        "from ~0.55× to ~0.41× the floor); take the figures on a quiet machine" if busy else ""))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sse_decode", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 rounds × 2 decodes (a smoke run)")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--reps", type=int)
    ap.add_argument("--no-sdk", action="store_true", help="leave out the SDK anchor")
    ap.add_argument("--processes", type=int, help="fresh interpreters the rounds are taken in (default 5; quick 1)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one process of --processes
    ap.add_argument("--out", type=Path, default=Path("reports/benchmarks"))
    args = ap.parse_args(argv)
    if args.worker:
        measured = measure_all(rounds=args.rounds, reps=args.reps, include_sdk=not args.no_sdk)
        sys.stdout.write(json.dumps({key: {name: (f.api, f.events, f.seconds) for name, f in figures.items()}
                                     for key, figures in measured.items()}))
        return 0
    result = run(quick=args.quick, rounds=args.rounds, reps=args.reps, include_sdk=not args.no_sdk,
                 processes=args.processes)
    text = render(result)
    sys.stdout.write(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{NAME}.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (args.out / f"{NAME}.md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
