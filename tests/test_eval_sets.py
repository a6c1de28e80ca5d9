"""The accuracy-eval item sets (issue 11 §1): committed files equal the generator's output, every
item follows datasets/evals/eval-set.schema.json, and every checker both passes a right answer and
fails a wrong one (plus "no answer" where there is none)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from conformance.harness.evals import sets
from conformance.harness.evals.sets import arith, caps, ifcheck, jsonx, lookup, tools
from conformance.harness.evals.sets.common import parse
from tools import gen_eval_sets

SIZES = {"arith": 200, "ifcheck": 150, "jsonx": 100, "tools": 200, "lookup": 200, "caps": 200}


# --- files, schema, determinism --------------------------------------------------------------------

def test_committed_files_equal_the_generator():
    assert gen_eval_sets.main(["--check"]) == 0


@pytest.mark.parametrize("name", sets.NAMES)
def test_set_file_is_schema_valid_and_consistent(name):
    text = sets.path(name).read_text(encoding="utf-8")
    assert gen_eval_sets.validate(text) == []
    header, records = parse(text)
    assert header["name"] == name and header["count"] == len(records) == SIZES[name]
    assert header["seed"] == sets.MODULES[name].SEED and header["version"] == sets.MODULES[name].VERSION
    assert len(text.encode()) < 100 * 1024, "keep set files small"
    for r in records:
        set_name, template, seed = r["id"].split("/")
        assert (set_name, template) == (name, r["template"]) and seed.isdigit()
        assert r["api"] == header["api"]


def test_schema_rejects_a_broken_item():
    text = sets.path("arith").read_text(encoding="utf-8")
    lines = text.splitlines()
    bad = json.loads(lines[1])
    bad["check"] = {"kind": "number"}  # no answer
    del bad["max_tokens"]
    broken = "\n".join([lines[0], json.dumps(bad), *lines[2:]]) + "\n"
    errors = gen_eval_sets.validate(broken)
    assert errors and any("max_tokens" in e for e in errors)
    dup = "\n".join([lines[0], lines[1], *lines[1:]]) + "\n"
    assert "duplicate item ids" in gen_eval_sets.validate(dup)


def test_check_mode_flags_a_stale_file(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "cases.jsonl"
    stale.write_text(sets.render_set("lookup").replace("lookup/colon/0", "lookup/colon/99", 1), encoding="utf-8")
    monkeypatch.setattr(sets, "path", lambda name: stale)
    assert gen_eval_sets.main(["--check", "lookup"]) == 1
    assert "differs from the generator" in capsys.readouterr().err


@pytest.mark.parametrize("name", sets.NAMES)
def test_generation_is_deterministic_and_per_item(name):
    assert sets.render_set(name) == sets.render_set(name)
    mod = sets.MODULES[name]
    records = mod.generate()[1]
    # an item depends on its (template, seed) only: regenerating one alone gives the same record
    last = records[-1]
    template, seed = last["template"], int(last["id"].rsplit("/", 1)[1])
    if name == "tools":
        category, tool = template.split("-", 1)
        assert mod.make_item(category, tool, seed) == last
    else:
        assert mod.make_item(template, seed) == last


def test_needle_is_listed_but_generated_at_run_time():
    assert "needle" in sets.ALL and "needle" not in sets.NAMES
    with pytest.raises(KeyError, match="run time"):
        sets.load("needle")


def test_load_api_and_request_bodies():
    for name in sets.NAMES:
        s = sets.load(name)
        assert (s.name, s.count, s.version) == (name, SIZES[name], sets.MODULES[name].VERSION)
        body = s.items[0].request_body()
        assert "model" not in body and "temperature" not in body
        assert body["max_tokens"] == s.items[0].max_tokens
        assert ("prompt" in body) == (s.api == "completions") and ("messages" in body) == (s.api == "chat")
    t = sets.load("tools")
    body = t.items[0].request_body()
    assert body["tool_choice"] == "auto"
    assert body["tools"][0]["function"]["name"] == t.items[0].check["calls"][0]["name"]
    assert set(t.tasks) == {"tools-simple", "tools-multiple", "tools-parallel", "tools-irrelevance"}
    assert all(sum(i.task == task for i in t.items) == 50 for task in t.tasks)
    assert len({i.template for i in sets.load("arith").items}) == 40


@pytest.mark.parametrize("name", sets.NAMES)
def test_card_matches_the_set(name):
    card = yaml.safe_load((sets.path(name).parent / "card.yaml").read_text(encoding="utf-8"))
    s = sets.load(name)
    assert card["name"] == name and card["version"] == s.version and card["seed"] == s.seed
    assert card["items"] == s.count
    for key in ("title", "source", "licence", "metric", "threshold", "seed_policy", "request"):
        assert card.get(key), key


# --- helpers to build responses ---------------------------------------------------------------------

def chat(content, **message):
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content, **message},
                         "finish_reason": "stop"}]}


def completion(text):
    return {"choices": [{"index": 0, "text": text, "finish_reason": "length"}]}


def tool_response(*calls, content=None):
    tc = [{"id": f"call_{i}", "type": "function",
           "function": {"name": n, "arguments": a if isinstance(a, str) else json.dumps(a)}}
          for i, (n, a) in enumerate(calls)]
    return chat(content, tool_calls=tc)


def oracle_calls(item):
    """A right answer built from the check: the first allowed value of each argument that must or
    may be given (optional ones left out)."""
    out = []
    for c in item.check["calls"]:
        out.append((c["name"], {k: v[0] for k, v in c["args"].items() if v[0] != ""}))
    return out


# --- every item: a right answer passes, a wrong one fails ------------------------------------------

def test_every_arith_item_scores_its_answer():
    for item in sets.load("arith").items:
        a = item.check["answer"]
        assert sets.score(item, chat(f"Some steps.\nAnswer: {a:,}"))[0] is True, item.id
        assert sets.score(item, chat(f"Answer: {a + 1}"))[0] is False, item.id


def test_every_lookup_item_scores_its_answer():
    for item in sets.load("lookup").items:
        a = item.check["answer"]
        assert sets.score(item, completion(f" {a}\nQ: x\nA: 1"))[0] is True, item.id
        assert sets.score(item, completion(f" {int(a) + 1}\n"))[0] is False, item.id


def test_every_caps_item_scores_its_answer():
    for item in sets.load("caps").items:
        a = item.check["answer"]
        assert a == a.upper() and a.lower() in item.prompt and a not in item.prompt
        good = f" {a}\"\n" if item.template == "quote" else f" {a}\n\nInput: x"
        assert sets.score(item, completion(good))[0] is True, item.id
        assert sets.score(item, completion(f" {a.lower()}\n"))[0] is False, item.id
        assert sets.score(item, completion(" \n"))[0] is None, item.id


def test_every_jsonx_item_scores_its_answer():
    for item in sets.load("jsonx").items:
        expected = dict(item.check["expected"])
        assert sets.score(item, chat("```json\n" + json.dumps(expected) + "\n```"))[0] is True, item.id
        key = next(k for k, v in expected.items() if isinstance(v, int) and not isinstance(v, bool))
        expected[key] += 1
        assert sets.score(item, chat(json.dumps(expected)))[0] is False, item.id


def test_every_tools_item_scores_its_answer():
    for item in sets.load("tools").items:
        calls = oracle_calls(item)
        if not calls:  # irrelevance
            assert sets.score(item, chat("Penguins waddle."))[0] is True, item.id
            t = item.tools[0]["function"]
            required = {k: 1 for k in t["parameters"]["required"]}
            assert sets.score(item, tool_response((t["name"], required)))[0] is False, item.id
            continue
        assert sets.score(item, tool_response(*reversed(calls)))[0] is True, item.id
        name, args = calls[0]
        wrong = {**args, next(iter(args)): "zzz-not-it"}
        assert sets.score(item, tool_response((name, wrong), *calls[1:]))[0] is False, item.id


def test_ifcheck_items_have_compatible_constraints():
    for item in sets.load("ifcheck").items:
        kinds = [c["kind"] for c in item.check["constraints"]]
        assert kinds[0] == item.template and len(set(kinds)) == len(kinds)
        for i, a in enumerate(kinds):
            for b in kinds[i + 1:]:
                assert frozenset((a, b)) not in ifcheck._CONFLICTS, item.id
        if "json" in kinds:
            assert kinds == ["json"]
        text = item.messages[0]["content"]
        assert all(ifcheck.instruction(c) in text for c in item.check["constraints"])


# --- the checkers, good and bad ---------------------------------------------------------------------

ARITH = sets.load("arith").items[0]  # answer 15 (3 × 8 − 9)


@pytest.mark.parametrize("content, verdict", [
    ("3*8=24, 24-9=15\nAnswer: 15", True),
    ("Answer: $15.", True),
    ("answer : 15 stickers", True),
    ("Answer: 14\nWait.\nAnswer: 15", True),   # the last Answer line counts
    ("Answer: 15\nActually\nAnswer: 16", False),
    ("Answer: 3 x 8 - 9 = 15", True),
    ("Answer: 3 x 8 - 9 = 16", False),
    ("The answer is 15", None),                  # no Answer: line
    ("Answer: fifteen", None),
    ("", None),
])
def test_arith_checker(content, verdict):
    assert ARITH.check["answer"] == 15
    assert sets.score(ARITH, chat(content))[0] is verdict


def test_scoring_never_reads_reasoning():
    assert sets.score(ARITH, chat("", reasoning_content="Answer: 15"))[0] is None
    assert sets.score(ARITH, chat(None, reasoning="Answer: 15"))[0] is None
    assert sets.score(ARITH, {"choices": []})[0] is None
    assert sets.score(ARITH, {"error": {"message": "x"}})[1] == "no choice in the response"


LOOKUP = sets.load("lookup").items[0]


@pytest.mark.parametrize("text, verdict", [
    (" {a}\n", True), ("{a}.", True), (" {a} and more\n", False), ("\n\n", None), ("\n{a}", True),
    (" 0000", False),
], ids=["value", "trailing-dot", "extra-words", "empty", "leading-newline", "wrong"])
def test_lookup_checker(text, verdict):
    assert sets.score(LOOKUP, completion(text.format(a=LOOKUP.check["answer"])))[0] is verdict


JSONX = next(i for i in sets.load("jsonx").items if i.template.startswith("person"))


def test_jsonx_checker():
    good = dict(JSONX.check["expected"])
    assert sets.score(JSONX, chat(json.dumps(good)))[0] is True
    assert sets.score(JSONX, chat("Here it is: " + json.dumps({**good, "name": good["name"].upper()}) + " done"))[0]
    assert sets.score(JSONX, chat(json.dumps({**good, "age": float(good["age"])})))[0] is True
    verdict, reason, _ = sets.score(JSONX, chat(json.dumps({**good, "age": str(good["age"])})))
    assert verdict is False and reason.startswith("schema")
    verdict, reason, _ = sets.score(JSONX, chat(json.dumps({**good, "extra": 1})))
    assert verdict is False and reason.startswith("schema")
    verdict, reason, _ = sets.score(JSONX, chat(json.dumps({**good, "city": "Atlantis"})))
    assert verdict is False and "city" in reason
    assert sets.score(JSONX, chat(json.dumps({**good, "has_pet": int(good["has_pet"])})))[0] is False
    assert sets.score(JSONX, chat("I cannot do that."))[0] is None


TOOLS = sets.load("tools")
SIMPLE = next(i for i in TOOLS.items if i.template == "simple-get_weather" and "unit" in oracle_calls(i)[0][1])
PARALLEL = next(i for i in TOOLS.items if i.template == "parallel-get_weather" and len(i.check["calls"]) >= 3)
IRRELEVANT = next(i for i in TOOLS.items if i.task == "tools-irrelevance")


def test_tools_checker_simple():
    (name, args), = oracle_calls(SIMPLE)
    ok = lambda *c, **kw: sets.score(SIMPLE, tool_response(*c, **kw))  # noqa: E731
    assert ok((name, args))[0] is True
    assert ok((name, {**args, "city": args["city"].upper() + " "}))[0] is True  # BFCL normalisation
    assert ok(("get_stock_price", args))[0] is False
    assert "unexpected argument" in ok((name, {**args, "country": "X"}))[1]
    assert "missing argument" in ok((name, {"city": args["city"]}))[1]   # the request named a unit
    assert "not in the enum" in ok((name, {**args, "unit": "kelvin"}))[1]
    assert "not of type" in ok((name, {**args, "city": 7}))[1]
    assert "not valid JSON" in ok((name, '{"city": '))[1]
    assert ok((name, args), (name, args))[0] is False                      # one call expected
    verdict, reason, _ = sets.score(SIMPLE, chat('<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>'))
    assert verdict is False and tools.LEAKED in reason
    assert sets.score(SIMPLE, chat("It is sunny."))[0] is False
    assert sets.score(SIMPLE, chat(None))[0] is None


def test_tools_checker_parallel_and_irrelevance():
    calls = oracle_calls(PARALLEL)
    assert sets.score(PARALLEL, tool_response(*calls))[0] is True
    assert sets.score(PARALLEL, tool_response(*calls[::-1]))[0] is True
    assert sets.score(PARALLEL, tool_response(*calls[:-1]))[0] is False
    assert sets.score(PARALLEL, tool_response(*calls[:-1], calls[0]))[0] is False   # a multiset, not a set
    number = next(i for i in TOOLS.items if i.template == "simple-convert_currency")
    (name, args), = oracle_calls(number)
    as_float = {**args, "amount": float(args["amount"])}
    assert sets.score(number, tool_response((name, as_float)))[0] is True            # int accepted for number
    assert sets.score(IRRELEVANT, chat("Here is a joke."))[0] is True
    assert sets.score(IRRELEVANT, chat(None))[0] is True
    t = IRRELEVANT.tools[0]["function"]["name"]
    assert sets.score(IRRELEVANT, tool_response((t, {})))[0] is False
    assert sets.score(IRRELEVANT, chat(f'{{"name": "{t}", "arguments": {{}}}}'))[0] is False


IFCHECK_CASES = [
    ({"kind": "words", "min": 3, "max": 5}, "one two three four", "one two"),
    ({"kind": "lowercase"}, "all quiet here.", "Not quiet."),
    ({"kind": "uppercase"}, "ALL LOUD HERE!", "ALL LOUD Here"),
    ({"kind": "keywords", "words": ["river", "window"]}, "A River by the window.", "A river alone."),
    ({"kind": "forbidden", "word": "very"}, "Everything is fine.", "It is Very fine."),
    ({"kind": "bullets", "n": 2}, "* one\n* two", "* one\n* two\n- three"),
    ({"kind": "end_phrase", "phrase": "See you soon."}, "Bye.\nSee you soon.\n", "See you soon. Really."),
    ({"kind": "no_commas"}, "No commas here.", "One, two."),
    ({"kind": "json"}, '```json\n{"a": 1}\n```', "{'a': 1}"),
    ({"kind": "title"}, "<<Rain>>\nIt rained.", "Rain\nIt rained."),
    ({"kind": "postscript"}, "Hello.\nP.S. bring snacks", "Hello. PS bring snacks"),
    ({"kind": "paragraphs", "n": 2}, "First.\n***\nSecond.", "First.\n***\nSecond.\n***\nThird."),
    ({"kind": "start_word", "word": "Today"}, "**Today** we walk.", "Yesterday we walked."),
    ({"kind": "quotes"}, '"Quoted text."', 'Quoted "text".'),
    ({"kind": "highlights", "n": 2}, "A *bold* and *brave* plan.", "A **bold** plan with *one*."),
]


def test_ifcheck_cases_cover_every_kind():
    assert {c["kind"] for c, _, _ in IFCHECK_CASES} == set(ifcheck.KINDS)


@pytest.mark.parametrize("constraint, good, bad", IFCHECK_CASES, ids=[c["kind"] for c, _, _ in IFCHECK_CASES])
def test_ifcheck_verifier(constraint, good, bad):
    assert ifcheck.verify(constraint, good)[0] is True
    assert ifcheck.verify(constraint, bad)[0] is False


def test_ifcheck_item_verdicts():
    item = next(i for i in sets.load("ifcheck").items if len(i.check["constraints"]) >= 2)
    verdict, reason, _ = sets.score(item, chat("x"))
    assert verdict is False and re.match(r"\d/\d constraints hold; ", reason)
    held, total = ifcheck.instruction_level(item, chat("x"))
    assert total == len(item.check["constraints"]) and held < total and reason.startswith(f"{held}/{total}")
    assert ifcheck.instruction_level(item, chat("")) == (0, total)
    assert sets.score(item, chat("  \n"))[0] is None
    single = next(i for i in sets.load("ifcheck").items if [c["kind"] for c in i.check["constraints"]] == ["lowercase"])
    assert sets.score(single, chat("a calm little note about rain."))[0] is True


def test_arith_templates_always_give_integral_non_negative_answers():
    for template in arith.TEMPLATES:
        for seed in range(200):
            assert arith.make_item(template, seed)["check"]["answer"] >= 0


def test_items_are_hashable_by_id():
    items = sets.load("tools").items
    assert len(set(items)) == len(items) and {items[0]: 1}[items[0]] == 1


def test_modules_agree_with_the_registry():
    assert [m.NAME for m in (arith, ifcheck, jsonx, tools, lookup, caps)] == list(sets.NAMES)
    assert {m.API for m in sets.MODULES.values()} == {"chat", "completions"}
