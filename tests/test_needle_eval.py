"""The needle eval offline (issue 9 §4): generation, sizing, scoring, intervals, the report and
the heat map, and a whole run through the real facade against mock endpoints (a perfect
retriever, a model that always answers the same number, one that answers only in its reasoning,
one that answers 500)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest

from conformance.harness import profiles
from conformance.harness.checks import evals as eval_checks
from conformance.harness.client import Client, Timeouts
from conformance.harness.evals import needle as nd
from conformance.harness.evals import needle_run
from conformance.harness.evals import report
from conformance.harness.evals.stats import wilson
from conformance.harness.facades import OpenAI, Passive
from conformance.harness.failures import ConformanceFailure, UsageError
from conformance.harness.requirements import load_catalog
from conformance.harness.schemas import SchemaSet


def words(text: str) -> int:
    """A fake tokenizer: one token per whitespace-separated word."""
    return len(text.split())


# --- statistics ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("k", "n", "low", "high"), [
    (45, 50, 0.786, 0.957),  # published Wilson tables
    (90, 100, 0.826, 0.945),
    (20, 20, 0.839, 1.0),
    (0, 20, 0.0, 0.161),
    (0, 0, 0.0, 1.0),
])
def test_wilson_interval_matches_known_values(k, n, low, high):
    p = wilson(k, n)
    assert (round(p.low, 3), round(p.high, 3)) == (low, high)


def test_wilson_rejects_impossible_counts():
    for k, n in ((3, 2), (-1, 5), (0, -1)):
        with pytest.raises(ValueError):
            wilson(k, n)


def test_wilson_interval_narrows_with_more_items():
    assert wilson(9, 10).high - wilson(9, 10).low > wilson(90, 100).high - wilson(90, 100).low


# --- generation ----------------------------------------------------------------------------------

def test_haystack_is_deterministic_varied_and_digit_free():
    a, b = nd.take_sentences(0, 400), nd.take_sentences(0, 400)
    assert a == b
    assert a != nd.take_sentences(1, 400)
    assert len(set(a)) > 300, "the haystack is not one repeated sentence"
    assert all(x != y for x, y in zip(a, a[1:], strict=False))
    assert not any(re.search(r"\d", s) for s in a)
    assert all(s.endswith(".") and s[0].isupper() for s in a)


def test_needles_have_distinct_word_keys_and_seven_digit_values():
    import random

    needles = nd.make_needles(random.Random(3), 40)
    assert len({n.key for n in needles}) == 40 and len({n.value for n in needles}) == 40
    assert all(re.fullmatch(r"[a-z]+-[a-z]+", n.key) and re.fullmatch(r"[1-9]\d{6}", n.value) for n in needles)
    more = nd.make_needles(random.Random(3), 5, exclude=needles[:30])
    assert not {n.key for n in more} & {n.key for n in needles[:30]}
    assert not {n.value for n in more} & {n.value for n in needles[:30]}
    assert needles[0].sentence == f"One of the special magic numbers for {needles[0].key} is: {needles[0].value}."


@pytest.mark.parametrize(("depth", "before"), [(0, 0), (50, 5), (100, 10), (25, 2)])
def test_needle_goes_in_at_a_sentence_boundary_at_its_depth(depth, before):
    sentences = [f"Sentence number {w}." for w in "abcdefghij"]
    needle = nd.Needle("amber-lantern", "1234567")
    index = nd.insertion_index(depth, len(sentences))
    assert index == before
    context = nd.render_context(sentences, [(index, needle)])
    assert context.split(needle.sentence)[0].count("Sentence number") == before
    # whole sentences, one space apart: the needle neither splits a sentence nor glues to one
    assert context.split(" ") == " ".join([*sentences[:before], needle.sentence, *sentences[before:]]).split(" ")
    assert "  " not in context and context.count(".") == len(sentences) + 1


def test_depth_outside_0_100_is_a_usage_error():
    with pytest.raises(UsageError):
        nd.insertion_index(101, 10)


def test_prompts_put_the_question_after_the_haystack():
    chat = nd.render_prompt("chat", "HAYSTACK.", "amber-lantern")
    cmpl = nd.render_prompt("completions", "HAYSTACK.", "amber-lantern")
    for prompt in (chat, cmpl):
        assert prompt.index("HAYSTACK.") < prompt.index("What is the special magic number for amber-lantern")
    assert cmpl.endswith("The special magic number for amber-lantern mentioned in the provided text is")
    assert chat.endswith("Answer with the number only.")


def test_fit_sentences_finds_the_largest_haystack_within_the_target():
    for target in (60, 200, 777):
        k = nd.fit_sentences(words, overhead=7, target=target, seed=0, variant="niah_single", api="chat")
        cost = lambda n: 7 + words(nd.build_prompt(0, "niah_single", "chat", target, 50, 0,  # noqa: E731
                                                   nd.take_sentences(0, n))[2])
        assert cost(k) <= target < cost(k + 1)
    assert nd.fit_sentences(words, overhead=7, target=10, seed=0, variant="niah_single", api="chat") == 0


def test_default_lengths_are_doubling_and_leave_room_for_the_answer():
    lengths = nd.default_lengths(2048, cap=32768, answer_room=32)
    assert lengths == (247, 494, 988, 1976)
    assert nd.default_lengths(2048, cap=1000, answer_room=32)[-1] == 1000 - 32 - 40
    assert nd.default_lengths(262_144, answer_room=16)[-1] == 262_144 - 16 - 5242
    assert all(n >= 128 for n in nd.default_lengths(400, answer_room=32))


def _plan(variants=nd.VARIANTS, api="chat", items=2, seed=0) -> nd.Plan:
    grid = nd.Grid(lengths=(120, 400), depths=(0, 50, 100), variants=variants, items=items, api=api, seed=seed)
    return nd.plan(grid, count=words, overhead=9)


def test_plan_covers_the_grid_in_prefix_sharing_order_and_is_deterministic():
    plan = _plan()
    assert len(plan.items) == plan.grid.requests == 2 * 2 * 3 * 2
    assert len({i.id for i in plan.items}) == len(plan.items)
    assert [i.id for i in plan.items] == [i.id for i in _plan().items]
    assert [i.prompt for i in plan.items] == [i.prompt for i in _plan().items]
    assert [i.prompt for i in plan.items] != [i.prompt for i in _plan(seed=1).items]
    first = [i for i in plan.items if i.variant == "niah_single" and i.length == 400]
    assert [i.depth for i in first] == [100, 100, 50, 50, 0, 0]  # deepest first
    for item in plan.items:
        assert item.tokens <= item.length and item.tokens > item.length - 25
        assert item.tokens == 9 + words(item.prompt)
        assert item.prompt.count(item.query.value) == 1
        assert item.prompt.rstrip().endswith(nd.CHAT_ANSWER_HINT)
    # the haystack before the shallower needle is shared by consecutive items of one length
    a, b = first[1].prompt, first[2].prompt
    shared = len(nd.INSTRUCTION) + 1
    assert a[:shared] == b[:shared] and a.index(first[1].query.sentence) > a.index(nd.INSTRUCTION)


def test_multikey_items_carry_distractor_needles_with_other_keys():
    plan = _plan(variants=("niah_multikey",))
    for item in plan.items:
        assert len(item.distractors) == nd.MULTIKEY_DISTRACTORS
        keys = {item.query.key, *(d.key for d in item.distractors)}
        values = {item.query.value, *(d.value for d in item.distractors)}
        assert len(keys) == len(values) == nd.MULTIKEY_DISTRACTORS + 1
        for d in item.distractors:
            assert d.sentence in item.prompt
        assert item.prompt.endswith(f"What is the special magic number for {item.query.key} mentioned in the "
                                    f"provided text? {nd.CHAT_ANSWER_HINT}")
    same_length = [i for i in plan.items if i.length == 400]
    assert len({i.distractors for i in same_length}) == 1  # shared per length (prefix caching)


def test_grid_rejects_bad_settings():
    with pytest.raises(UsageError):
        nd.Grid(lengths=())
    with pytest.raises(UsageError):
        nd.Grid(lengths=(100,), depths=(120,))
    with pytest.raises(UsageError):
        nd.Grid(lengths=(100,), variants=("niah_other",))
    with pytest.raises(UsageError):
        nd.Grid(lengths=(100,), api="responses")


# --- scoring -----------------------------------------------------------------------------------

def _item(variant: str = "niah_multikey") -> nd.Item:
    return _plan(variants=(variant,), items=1).items[0]


def test_score_is_exact_containment_of_the_value():
    item = _item()
    value = item.query.value
    assert nd.score(item, f": {value}.").correct
    assert nd.score(item, f"The number is {value}").as_dict() == {"score": 1.0, "correct": True, "no_answer": False,
                                                                   "distractor": False}
    wrong = nd.score(item, f": {item.distractors[0].value}.")
    assert not wrong.correct and wrong.distractor and not wrong.no_answer
    assert nd.score(item, "I do not know").no_answer
    assert not nd.score(item, value[:6]).correct
    assert nd.string_match_all("Alpha and BETA", ["alpha", "beta", "gamma"]) == pytest.approx(2 / 3)


# --- settings ----------------------------------------------------------------------------------

def test_needle_settings_from_a_profile():
    s = needle_run.NeedleSettings.from_settings({})
    assert (s.api, s.floor, s.items, s.depths, s.lengths) == ("chat", None, 1, nd.DEFAULT_DEPTHS, None)
    s = needle_run.NeedleSettings.from_settings({"needle_api": "completions", "needle_floor": 0.85, "needle_items": 3,
                                                 "needle_depths": [0, 25, 50, 75, 100], "needle_lengths": [500, 1000],
                                                 "needle_variants": ["niah_single"], "needle_seed": 7})
    grid = s.grid(2048, 32768)
    assert (grid.api, grid.items, grid.lengths, grid.variants, grid.seed) == (
        "completions", 3, (500, 1000), ("niah_single",), 7)
    assert needle_run.NeedleSettings.from_settings({}).grid(2048, 32768).lengths == (247, 494, 988, 1976)
    assert profiles.load("reference").setting("needle_api") == "completions"
    needle_run.NeedleSettings.from_settings(profiles.load("reference").settings)


@pytest.mark.parametrize("bad", [
    {"needle_api": "responses"}, {"needle_floor": 1.5}, {"needle_floor": True}, {"needle_items": 0},
    {"needle_depths": "0,50"}, {"needle_lengths": [1.5]}, {"needle_variants": ["x"]}, {"needle_seed": "a"},
])
def test_needle_settings_reject_bad_values(bad):
    with pytest.raises(UsageError):
        needle_run.NeedleSettings.from_settings(bad)


def test_an_estimated_token_count_keeps_a_wider_margin():
    exact = needle_run.NeedleSettings().grid(2048, 32768).lengths
    estimated = needle_run.NeedleSettings().grid(2048, 32768, exact_count=False).lengths
    assert exact[-1] == 2048 - 32 - 40 and estimated[-1] == 2048 - 32 - 204


def test_lengths_beyond_the_window_or_cap_are_rejected():
    s = needle_run.NeedleSettings.from_settings({"needle_lengths": [2040]})
    with pytest.raises(UsageError):
        s.grid(2048, 32768)
    with pytest.raises(UsageError):
        needle_run.NeedleSettings.from_settings({"needle_lengths": [1500]}).grid(2048, 1024)


# --- a whole run through the facade against mock endpoints -----------------------------------------

class FakeWindow:
    tokens = 600
    cap = 32768

    def __init__(self) -> None:
        self.lines: list[str] = []

    def count_text(self, text: str) -> int:
        return words(text)

    def overhead(self, api: str) -> int:
        return 11

    def timeouts(self, prompt_tokens: int) -> Timeouts:
        return Timeouts(total_s=30 + prompt_tokens / 1000)

    def prefill_seconds(self, prompt_tokens: int) -> float:
        return prompt_tokens / 100

    def progress(self, message: str) -> None:
        self.lines.append(message)


def perfect(prompt: str) -> str:
    key = re.findall(r"special magic number for ([a-z]+-[a-z]+) mentioned", prompt)[-1]
    return ": " + re.search(rf"numbers for {key} is: (\d{{7}})", prompt).group(1) + "."


def _endpoint(answer, *, where: str = "content", status: int = 200):
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        if status != 200:
            return httpx.Response(status, json={"error": {"message": "boom", "type": "server_error", "code": status}})
        chat = request.url.path.endswith("/chat/completions")
        prompt = body["messages"][-1]["content"] if chat else body["prompt"]
        text = answer(prompt)
        usage = {"prompt_tokens": 11 + words(prompt), "completion_tokens": 3, "total_tokens": 14 + words(prompt)}
        base = {"id": "x-1", "created": 1, "model": "m"}
        if chat:
            delta = {"role": "assistant", "content": text} if where == "content" else {
                "role": "assistant", "content": "", "reasoning_content": text}
            message = {"role": "assistant", "content": delta["content"], **(
                {"reasoning_content": text} if where != "content" else {})}
            whole = {**base, "object": "chat.completion", "usage": usage,
                     "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}]}
            chunks = [{**base, "object": "chat.completion.chunk",
                       "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
                      {**base, "object": "chat.completion.chunk",
                       "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
        else:
            whole = {**base, "object": "text_completion", "usage": usage,
                     "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}]}
            chunks = [{**base, "object": "text_completion",
                       "choices": [{"index": 0, "text": text, "finish_reason": None, "logprobs": None}]},
                      {**base, "object": "text_completion",
                       "choices": [{"index": 0, "text": "", "finish_reason": "stop", "logprobs": None}]}]
        if not body.get("stream"):
            return httpx.Response(200, json=whole)
        if body.get("stream_options", {}).get("include_usage"):
            chunks.append({**base, "object": chunks[0]["object"], "choices": [], "usage": usage})
        sse = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return httpx.Response(200, content=sse.encode(), headers={"content-type": "text/event-stream"})

    client = Client("http://endpoint.test", transport=httpx.MockTransport(handler))
    violations: list[ConformanceFailure] = []
    passive = Passive(profile=profiles.load("generic"), catalog=load_catalog(),
                      sink=lambda exc, kind: violations.append(exc))
    oai = OpenAI(client=client, schemas=SchemaSet(flavors=("compat",)), passive=passive, model="m")
    return oai, seen, violations


SMALL = needle_run.NeedleSettings(depths=(0, 50, 100), lengths=(150, 300), items=2)


@pytest.mark.parametrize("api", ["chat", "completions"])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "blocking"])
def test_a_perfect_retriever_scores_one_and_the_report_says_so(api, stream, tmp_path):
    oai, seen, violations = _endpoint(perfect)
    cw = FakeWindow()
    settings = needle_run.NeedleSettings(api=api, depths=SMALL.depths, lengths=SMALL.lengths, items=2)
    run = needle_run.run(oai, cw, settings, streaming=stream, stream_usage=True)
    assert not violations, violations
    assert len(run.results) == len(seen) == 2 * 2 * 3 * 2
    assert all(r.score.correct for r in run.results)
    for body in seen:
        assert body["temperature"] == 0 and body["max_tokens"] == needle_run.MAX_TOKENS[api] <= 32
        assert body.get("stream", False) is stream
    assert run.request_params["temperature"] == 0 and "messages" not in run.request_params
    assert cw.lines[0].startswith("needle: sized") and any(line.startswith("needle eval plan: 24 requests")
                                                           for line in cw.lines)
    assert sum(1 for line in cw.lines if re.match(r"needle \d+/24 ", line)) == 24
    rows = [r.as_dict() for r in run.results]
    assert all(r["prompt_tokens_billed"] == r["prompt_tokens_expected"] for r in rows)
    if stream:
        assert all(r["ttft_s"] is not None and r["prefill_tokens_per_s"] for r in rows)
    doc = report.document(grid=run.plan.grid, items=rows, planned=len(run.plan.items), model="m", endpoint="e",
                          window={"tokens": 600, "source": "test"}, request=run.request_params, wall_s=run.wall_s,
                          floor=None, complete=True)
    for variant in nd.VARIANTS:
        v = doc["variants"][variant]
        assert v["overall"]["accuracy"] == 1.0 and v["overall"]["n"] == 12
        assert len(v["cells"]) == 6 and all(c["n"] == 2 and c["correct"] == 2 for c in v["cells"])
    eval_checks.needle_floor_met(doc["variants"], floor=0.7)
    paths = report.write(tmp_path, doc)
    assert json.loads(paths["json"].read_text())["variants"]["niah_single"]["overall"]["correct"] == 12
    assert "| niah_single | 1.000 |" in paths["md"].read_text()


def test_a_model_that_always_answers_one_number_scores_zero_and_misses_the_floor():
    oai, _, violations = _endpoint(lambda prompt: ": 1234567.")
    run = needle_run.run(oai, FakeWindow(), SMALL, streaming=True, stream_usage=False)
    assert not violations
    assert not any(r.score.correct for r in run.results)
    assert not any(r.score.no_answer for r in run.results)
    assert all(r.prompt_tokens is None for r in run.results)  # no usage chunk was asked for
    rows = [r.as_dict() for r in run.results]
    variants = report.aggregate(run.plan.grid, rows)
    with pytest.raises(ConformanceFailure, match="OAI-EVAL-002"):
        eval_checks.needle_floor_met(variants, floor=0.5)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "blocking"])
def test_an_answer_given_only_in_reasoning_is_not_scored(stream):
    oai, _, violations = _endpoint(perfect, where="reasoning")
    run = needle_run.run(oai, FakeWindow(), SMALL, streaming=stream, stream_usage=True)
    assert not violations
    assert not any(r.score.correct for r in run.results)
    assert all(r.score.no_answer for r in run.results)


def test_a_server_error_stops_the_eval_as_a_protocol_failure():
    oai, seen, violations = _endpoint(perfect, status=500)
    with pytest.raises(ConformanceFailure) as info:
        needle_run.run(oai, FakeWindow(), SMALL, streaming=True, stream_usage=True)
    assert len(seen) == 1 and violations and violations[0].requirement == "HTTP-STATUS-001"
    assert "HTTP-STATUS-001" in str(info.value)


# --- report and heat map -----------------------------------------------------------------------------

def _doc(complete: bool = True) -> dict[str, Any]:
    plan = _plan(items=1)
    rows = []
    for i, item in enumerate(plan.items):
        s = nd.score(item, f": {item.query.value}." if i % 3 else "no idea")
        rows.append({"id": item.id, "variant": item.variant, "length": item.length, "depth": item.depth,
                     "prompt_tokens_expected": item.tokens, "prompt_tokens_billed": item.tokens, "ttft_s": 0.5,
                     "prefill_tokens_per_s": 100.0, **s.as_dict()})
    return report.document(grid=plan.grid, items=rows, planned=len(plan.items), model="m<&>", endpoint="e",
                           window={"tokens": 600, "source": "test"}, request={}, wall_s=1.0, floor=None,
                           complete=complete, error=None if complete else "HarnessError: x")


def test_report_cells_and_intervals_add_up():
    doc = _doc()
    total = sum(v["overall"]["n"] for v in doc["variants"].values())
    assert total == doc["timings"]["requests"] == 12
    for v in doc["variants"].values():
        assert sum(c["correct"] for c in v["cells"]) == v["overall"]["correct"]
        assert sum(c["n"] for c in v["by_length"]) == sum(c["n"] for c in v["by_depth"]) == v["overall"]["n"]
        lo, hi = v["overall"]["wilson95"]
        assert lo <= v["overall"]["accuracy"] <= hi
    md = report.markdown(doc)
    assert "| length \\ depth | 0 % | 50 % | 100 % | all depths |" in md
    assert report.summary_line(doc).startswith("needle retrieval (chat API, 12 requests, seed 0): niah_single ")
    assert "INCOMPLETE" in report.markdown(_doc(complete=False))


def test_heat_map_is_well_formed_svg_with_one_cell_per_length_and_depth():
    doc = _doc()
    root = ET.fromstring(report.svg(doc))
    ns = "{http://www.w3.org/2000/svg}"
    cells = [r for r in root.iter(f"{ns}rect") if r.find(f"{ns}title") is not None]
    assert len(cells) == 2 * 2 * 3  # variants × lengths × depths
    fills = {c.get("fill") for c in cells}
    assert fills <= {report.colour(0.0), report.colour(1.0), report.colour(0.5)}
    assert "m&lt;&amp;&gt;" in report.svg(doc)  # text is escaped


def test_colour_scale_runs_red_to_green():
    assert report.colour(0.0) == "#f0496e" and report.colour(1.0) == "#0cd79f" and report.colour(0.5) == "#ebb839"
    assert report.colour(None) == report.EMPTY and report.colour(2) == report.colour(1.0)


# --- dataset card ----------------------------------------------------------------------------------

def test_dataset_card_states_what_the_code_does():
    import yaml

    from conformance.harness.datasets import datasets_root

    card = yaml.safe_load((datasets_root() / "evals" / "needle" / "card.yaml").read_text(encoding="utf-8"))
    for key in ("source", "licence", "size", "metric", "threshold", "seed_policy"):
        assert isinstance(card.get(key), str) and card[key].strip(), key
    catalog = load_catalog()
    assert all(rid in catalog for rid in card["requirements"])
    depths = ", ".join(map(str, nd.DEFAULT_DEPTHS))
    assert f"{len(nd.DEFAULT_DEPTHS)} depths ({depths} %)" in " ".join(card["size"].split())
    assert f"max_tokens {needle_run.MAX_TOKENS['chat']} (chat) or {needle_run.MAX_TOKENS['completions']}" in card[
        "request"]
    assert "249, 498, 996, 1992" in card["size"]
    assert nd.default_lengths(2048, cap=32768, answer_room=needle_run.MAX_TOKENS["completions"]) == (249, 498, 996,
                                                                                                  1992)
