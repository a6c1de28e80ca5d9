"""The hosted reasoning tests (OAI-REASON-009, -011, -012, -013) end to end: the real plugin runs
``conformance.openai.test_chat_completions_reasoning`` with ``--profile hosted`` against a canned
upstream answering the way the seed documents (aimlapi ``nvidia/nemotron-3-ultra-550b-a55b``,
``/work/shared/seeds/002_f80c5e411c313f68.txt``: ``reasoning`` + ``reasoning_details`` +
``meta.usage``), once honouring the reasoning object (every test passes) and once ignoring or
misreporting it (every test fails under its own requirement)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fake_upstream import JSONHandler, serve
from tests.plugin_runs import INI

REASONING = "17 is odd, not divisible by 3 (1+7=8), and 5*5 > 17, so it has no divisor but 1 and itself.\n"
PIECES = ["17 is odd, not divisible", " by 3 (1+7=8), and 5*5 > 17,", " so it has no divisor but 1 and itself.\n"]
assert "".join(PIECES) == REASONING
CONTENT = "Yes, 17 is prime."
REQUIREMENTS = ("OAI-REASON-009", "OAI-REASON-011", "OAI-REASON-012", "OAI-REASON-013")
TESTS = {  # test id → requirement
    "test_hosted_reasoning_exclude_removes_reasoning": "OAI-REASON-009",
    "test_hosted_reasoning_effort_is_honoured[blocking]": "OAI-REASON-011",
    "test_hosted_reasoning_effort_is_honoured[streaming]": "OAI-REASON-011",
    "test_hosted_reasoning_max_tokens_bounds_reasoning_tokens": "OAI-REASON-012",
    "test_hosted_reasoning_details_and_meta_usage_agree[blocking]": "OAI-REASON-013",
    "test_hosted_reasoning_details_and_meta_usage_agree[streaming]": "OAI-REASON-013",
}


def _usage(reasoning_tokens: int | None) -> dict[str, Any]:
    """usage as the seed shows it (reasoning_tokens left out when None)"""
    completion = (reasoning_tokens or 24) + 6
    details: dict[str, Any] = {"image_tokens": 0, "audio_tokens": 0}
    if reasoning_tokens is not None:
        details["reasoning_tokens"] = reasoning_tokens
    return {"prompt_tokens": 21, "completion_tokens": completion, "total_tokens": 21 + completion,
            "completion_tokens_details": details}


class Hosted(JSONHandler):
    """Honours the hosted reasoning object: off ({enabled: false}) or exclude → no reasoning;
    effort → reasoning with matching reasoning_details; max_tokens B → at most B reasoning tokens."""

    honest = True
    requests: list[dict[str, Any]] = []

    def answer(self, reasoning: dict[str, Any]) -> tuple[str | None, list[str] | None, int | None]:
        """(reasoning text, reasoning_details texts, reasoning_tokens) for the request's reasoning object."""
        if reasoning.get("enabled") is False or reasoning.get("exclude"):
            return None, None, 0
        if "max_tokens" in reasoning:
            return REASONING, [REASONING], min(int(reasoning["max_tokens"]), 14)
        return REASONING, [REASONING], 24

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        type(self).requests.append(body)
        text, details, spent = self.answer(body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {})
        meta = {"usage": {"credits_used": 40, "usd_spent": 0.000026}}
        head = {"id": "gen-1749730923-aB3cD4eF5gH6iJ7kL8mN", "created": 1749730923, "model": "m",
                "system_fingerprint": None}
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": CONTENT, "refusal": None, "reasoning": text}
            if details is not None:
                message["reasoning_details"] = [{"type": "reasoning.text", "text": t, "format": "unknown", "index": 0}
                                                for t in details]
            self._json(200, {**head, "object": "chat.completion", "choices": [
                {"index": 0, "logprobs": None, "finish_reason": "stop", "native_finish_reason": "stop",
                 "message": message}], "usage": _usage(spent), "meta": meta})
            return
        chunk = {**head, "object": "chat.completion.chunk"}
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        if text is not None:
            for i, piece in enumerate(PIECES):  # text is REASONING; details: the whole text or one per piece
                shown = piece if details == [REASONING] else details[i]
                deltas.append({"content": "", "reasoning": piece, "reasoning_details": [
                    {"type": "reasoning.text", "text": shown, "format": "unknown", "index": 0}]})
        deltas.append({"content": CONTENT})
        events = [{**chunk, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
        events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop",
                                             "native_finish_reason": "stop"}]})
        events.append({**chunk, "choices": [], "usage": _usage(spent), "meta": meta})
        data = "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode() + b"data: [DONE]\n\n"
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Dishonest(Hosted):
    """Ignores or misreports the reasoning object: exclude ignored (reasons anyway), max_tokens
    ignored (62 reasoning tokens), effort answered with reasoning whose reasoning_details drift
    from the reasoning text and whose usage omits reasoning_tokens."""

    honest = False
    requests: list[dict[str, Any]] = []

    def answer(self, reasoning: dict[str, Any]) -> tuple[str | None, list[str] | None, int | None]:
        if reasoning.get("enabled") is False:
            return None, None, 0
        if "max_tokens" in reasoning:  # budget ignored
            return REASONING, [REASONING], 62
        if "effort" in reasoning:  # details drift, reasoning_tokens not reported
            return REASONING, ["17 is odd.\n", "It is prime.\n", ""], None
        return REASONING, [REASONING], 24  # enabled, and exclude ignored


@pytest.fixture(scope="module")
def honest():
    yield from serve(Hosted)


@pytest.fixture(scope="module")
def dishonest():
    yield from serve(Dishonest)


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, endpoint: str, *extra: str):
    monkeypatch.setenv("HOSTED_UNIT_KEY", "sk-unit-hosted")
    pytester.makeini(INI)
    reports = pytester.path / "reports"
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-p", "no:randomly", "--pyargs", "conformance.openai.test_chat_completions_reasoning",
        "--endpoint", endpoint, "--profile", "hosted", "--api-key-env", "HOSTED_UNIT_KEY", "--model", "m",
        f"--reports-dir={reports}", "--requirement", ",".join(REQUIREMENTS), "-rA", *extra)
    doc = json.loads((reports / "conformance.json").read_text())
    return result, doc


def _verdicts(doc: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    """test name (with parameters) → (outcome, the requirements of the violations it recorded)"""
    out = {}
    for req, entry in doc["requirements"].items():
        for nodeid, outcome in entry["test_outcomes"].items():
            name = nodeid.split("::")[-1]
            cited = sorted({v.get("requirement", req) for v in entry["violations"] if name in json.dumps(v)})
            out[name] = (outcome, cited)
    return out


def test_hosted_reasoning_tests_pass_on_an_endpoint_honouring_the_reasoning_object(pytester, monkeypatch, honest):
    Hosted.requests.clear()
    result, doc = _run(pytester, monkeypatch, honest)
    result.assert_outcomes(passed=len(TESTS))
    assert _verdicts(doc) == {name: ("passed", []) for name in TESTS}
    sent = [r.get("reasoning") for r in Hosted.requests if r.get("messages")]
    # the seed's documented objects, each alone; the exclude control switches thinking on
    assert {"effort": "low"} in sent and {"max_tokens": 16} in sent
    assert {"enabled": True} in sent and {"enabled": True, "exclude": True} in sent
    # OAI-REASON-013 reuses the OAI-REASON-011 exchanges: one blocking and one streamed effort request
    effort = [r for r in Hosted.requests if r.get("reasoning") == {"effort": "low"}]
    assert len(effort) == 2 and [r.get("stream_options") for r in effort if r.get("stream")] == [
        {"include_usage": True}]


def test_hosted_reasoning_tests_fail_on_an_endpoint_ignoring_the_reasoning_object(pytester, monkeypatch, dishonest):
    result, doc = _run(pytester, monkeypatch, dishonest)
    result.assert_outcomes(failed=len(TESTS))
    assert _verdicts(doc) == {name: ("failed", [requirement]) for name, requirement in TESTS.items()}
