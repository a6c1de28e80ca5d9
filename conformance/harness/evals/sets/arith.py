"""``arith``: multi-step arithmetic word problems (GSM-Symbolic style: authored templates with
typed slots, value ranges, constraints and an answer expression), zero-shot through chat, with
the answer protocol of evals.md §1.5: the model finishes with a final line ``Answer: <number>``.

40 templates written for this project (none copied from GSM8K or GSM-Symbolic), 2-4 operations
each, slots drawn from a seeded RNG per ``(template, seed)``; every answer is a non-negative
integer by construction (the samplers enforce divisibility and positivity).

Checker: the last ``(?i)answer\\s*:\\s*(.+)`` in ``message.content``; numeric compare after stripping
``,`` ``$`` and a trailing ``.`` (tolerance 1e-6). No answer: no ``Answer:`` line or no number in it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from conformance.harness.evals.sets.common import (Item, Verdict, content_of, final_answer, parse_number, set_header,
                                                  short)

NAME = "arith"
VERSION = "1.0.0"
SEED = 11
API = "chat"
MAX_TOKENS = 512
PER_TEMPLATE = 5

INSTRUCTION = ("Solve the problem. Think step by step if you need to, then finish with a final line of the form "
               "\"Answer: <number>\" containing only the number.")

_NAMES = ("Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Iris", "Jonas", "Kemi", "Leo", "Maya",
          "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wen", "Yusuf", "Zoe")

R = random.Random
Sampler = Callable[[R], dict[str, Any]]


def _two_names(r: R) -> tuple[str, str]:
    a, b = r.sample(_NAMES, 2)
    return a, b


def _t(text: str, sample: Sampler, answer: Callable[[dict[str, Any]], int]) -> tuple[str, Sampler, Callable]:
    return text, sample, answer


def _s01(r):
    return {"n": r.choice(_NAMES), "a": r.randint(3, 9), "b": r.randint(4, 12), "c": r.randint(2, 11)}


def _s02(r):
    b = r.randint(2, 6)
    return {"n": r.choice(_NAMES), "a": b * r.randint(5, 20), "b": b, "c": r.randint(1, 4)}


def _s03(r):
    p = r.randint(2, 9)
    return {"n": r.choice(_NAMES), "a": r.randint(3, 8), "p": p, "m": r.randint(p * 8, 100)}


def _s04(r):
    n1, n2 = _two_names(r)
    return {"n": n1, "m": n2, "a": r.randint(10, 40), "b": r.randint(2, 4), "c": r.randint(3, 9)}


def _s05(r):
    d = r.randint(2, 5)
    return {"n": r.choice(_NAMES), "w": r.randint(3, 7), "d": d, "k": d * r.randint(4, 15)}


def _s06(r):
    return {"n": r.choice(_NAMES), "a": r.randint(20, 60), "b": r.randint(5, 15), "c": r.randint(2, 6)}


def _s07(r):
    k = r.randint(3, 8)
    return {"n": r.choice(_NAMES), "rows": r.randint(4, 12), "per": r.randint(5, 12), "k": k}


def _s08(r):
    return {"n": r.choice(_NAMES), "h": r.randint(3, 8), "rate": r.randint(9, 25), "t": r.randint(5, 30)}


def _s09(r):
    g = r.randint(3, 8)
    return {"n": r.choice(_NAMES), "g": g, "per": r.randint(2, 6), "x": r.randint(1, 3)}


def _s10(r):
    return {"n": r.choice(_NAMES), "a": r.randint(12, 30), "b": r.randint(2, 5), "c": r.randint(5, 11)}


def _s11(r):
    pct = r.choice((10, 20, 25, 50))
    base = r.randint(2, 20) * 20
    return {"n": r.choice(_NAMES), "p": base, "pct": pct}


def _s12(r):
    return {"n": r.choice(_NAMES), "l": r.randint(4, 20), "w": r.randint(3, 15), "c": r.randint(2, 9)}


def _s13(r):
    return {"n": r.choice(_NAMES), "a": r.randint(2, 6), "b": r.randint(3, 9), "d": r.randint(5, 7)}


def _s14(r):
    n1, n2 = _two_names(r)
    return {"n": n1, "m": n2, "a": r.randint(5, 30), "b": r.randint(2, 10)}


def _s15(r):
    return {"n": r.choice(_NAMES), "s": r.randint(40, 90), "t": r.randint(2, 5), "b": r.randint(10, 30)}


def _s16(r):
    k = r.randint(2, 5)
    return {"n": r.choice(_NAMES), "total": k * r.randint(8, 30), "k": k, "e": r.randint(1, 7)}


def _s17(r):
    return {"n": r.choice(_NAMES), "a": r.randint(3, 12), "b": r.randint(3, 12), "c": r.randint(3, 12),
            "p": r.randint(2, 6)}


def _s18(r):
    return {"n": r.choice(_NAMES), "w": r.randint(2, 6), "d": r.randint(2, 7), "pages": r.randint(5, 25)}


def _s19(r):
    return {"n": r.choice(_NAMES), "y": r.randint(6, 15), "a": r.randint(2, 9), "b": r.randint(25, 40)}


def _s20(r):
    q = r.randint(2, 6)
    return {"n": r.choice(_NAMES), "c": r.randint(3, 9), "q": q, "per": r.randint(2, 5)}


def _s21(r):
    return {"n": r.choice(_NAMES), "a": r.randint(100, 400), "b": r.randint(20, 90), "c": r.randint(10, 60)}


def _s22(r):
    return {"n": r.choice(_NAMES), "t": r.randint(2, 6), "l": r.randint(3, 9), "x": r.randint(2, 4)}


def _s23(r):
    return {"n": r.choice(_NAMES), "m": r.randint(2, 9), "d": r.randint(3, 6), "w": r.randint(2, 4)}


def _s24(r):
    k = r.randint(2, 4)
    return {"n": r.choice(_NAMES), "a": r.randint(5, 20), "k": k, "s": r.randint(1, 5)}


def _s25(r):
    return {"n": r.choice(_NAMES), "p": r.randint(3, 9), "q": r.randint(2, 8), "x": r.randint(2, 5),
            "y": r.randint(1, 4)}


def _s26(r):
    t = r.randint(2, 5)
    return {"n": r.choice(_NAMES), "t": t, "e": t * r.randint(3, 9) + t}


def _s27(r):
    return {"n": r.choice(_NAMES), "d": r.randint(30, 80), "h": r.randint(2, 6), "r": r.randint(10, 40)}


def _s28(r):
    k = r.randint(3, 6)
    return {"n": r.choice(_NAMES), "a": k * r.randint(4, 12), "k": k, "b": r.randint(2, 9)}


def _s29(r):
    return {"n": r.choice(_NAMES), "a": r.randint(4, 9), "b": r.randint(2, 5), "w": r.randint(2, 8)}


def _s30(r):
    n1, n2 = _two_names(r)
    return {"n": n1, "m": n2, "a": r.randint(10, 50), "b": r.randint(3, 20), "c": r.randint(2, 3)}


def _s31(r):
    return {"n": r.choice(_NAMES), "c": r.randint(12, 36), "k": r.randint(2, 4), "e": r.randint(3, 11)}


def _s32(r):
    return {"n": r.choice(_NAMES), "a": r.randint(2, 5), "b": r.randint(6, 14), "c": r.randint(2, 5),
            "d": r.randint(3, 9)}


def _s33(r):
    f = r.choice((2, 3, 4))
    return {"n": r.choice(_NAMES), "a": f * r.randint(5, 20), "f": f, "b": r.randint(2, 9)}


def _s34(r):
    return {"n": r.choice(_NAMES), "w": r.randint(3, 10), "c": r.randint(2, 6), "s": r.randint(1, 5)}


def _s35(r):
    return {"n": r.choice(_NAMES), "k": r.randint(3, 7), "a": r.randint(10, 30), "b": r.randint(2, 9)}


def _s36(r):
    g = r.randint(2, 5)
    return {"n": r.choice(_NAMES), "g": g, "per": r.randint(4, 9), "left": r.randint(1, 3)}


def _s37(r):
    return {"n": r.choice(_NAMES), "a": r.randint(3, 9), "b": r.randint(3, 9), "t": r.randint(2, 6)}


def _s38(r):
    return {"n": r.choice(_NAMES), "m": r.randint(20, 80), "k": r.randint(2, 4), "d": r.randint(5, 15)}


def _s39(r):
    return {"n": r.choice(_NAMES), "v": r.randint(2, 6), "p": r.randint(5, 12), "f": r.randint(2, 9)}


def _s40(r):
    n1, n2 = _two_names(r)
    return {"n": n1, "m": n2, "a": r.randint(3, 12), "k": r.randint(2, 4), "e": r.randint(1, 6)}


TEMPLATES: dict[str, tuple[str, Sampler, Callable[[dict[str, Any]], int]]] = {
    "t01": _t("{n} buys {a} packs of stickers with {b} stickers in each pack, then gives away {c} stickers. "
              "How many stickers does {n} have left?", _s01, lambda d: d["a"] * d["b"] - d["c"]),
    "t02": _t("{n} has {a} marbles and shares them equally among {b} friends. Each friend then loses {c} marbles. "
              "How many marbles does each friend have now?", _s02, lambda d: d["a"] // d["b"] - d["c"]),
    "t03": _t("{n} buys {a} notebooks at {p} dollars each and pays with {m} dollars. How much change, in dollars, "
              "does {n} get?", _s03, lambda d: d["m"] - d["a"] * d["p"]),
    "t04": _t("{n} has {a} stamps. {m} has {b} times as many stamps as {n}, minus {c}. How many stamps do they "
              "have together?", _s04, lambda d: d["a"] + d["a"] * d["b"] - d["c"]),
    "t05": _t("{n} runs {w} kilometres every day for {d} weeks, and then {k} kilometres more in total. How many "
              "kilometres does {n} run altogether?", _s05, lambda d: d["w"] * 7 * d["d"] + d["k"]),
    "t06": _t("A bakery makes {a} loaves in the morning and {b} more in the afternoon than in the morning. It "
              "sells all but {c} of them. How many loaves does it sell?", _s06,
              lambda d: d["a"] + (d["a"] + d["b"]) - d["c"]),
    "t07": _t("{n} plants {rows} rows of tulips with {per} tulips in each row. Then {k} tulips are eaten by "
              "rabbits. How many tulips are left?", _s07, lambda d: d["rows"] * d["per"] - d["k"]),
    "t08": _t("{n} works {h} hours a day for 5 days and earns {rate} dollars per hour, then spends {t} dollars on "
              "lunch. How many dollars does {n} have left from that pay?", _s08,
              lambda d: d["h"] * 5 * d["rate"] - d["t"]),
    "t09": _t("{n} invites {g} guests and wants to give each guest {per} balloons, with {x} extra balloons in "
              "case some pop. How many balloons does {n} need?", _s09, lambda d: d["g"] * d["per"] + d["x"]),
    "t10": _t("A bus starts with {a} passengers. At the first stop {b} people get off, at the second stop "
              "{c} people get on. How many passengers are on the bus now?", _s10,
              lambda d: d["a"] - d["b"] + d["c"]),
    "t11": _t("A jacket costs {p} dollars. {n} gets a {pct} percent discount. How many dollars does {n} pay?",
              _s11, lambda d: d["p"] - d["p"] * d["pct"] // 100),
    "t12": _t("A rectangular garden is {l} metres long and {w} metres wide. {n} covers it with grass that costs "
              "{c} dollars per square metre. How many dollars does the grass cost?", _s12,
              lambda d: d["l"] * d["w"] * d["c"]),
    "t13": _t("{n} reads {a} chapters on weekdays and {b} chapters on each weekend day. How many chapters does "
              "{n} read in {d} full weeks?", _s13, lambda d: (d["a"] * 5 + d["b"] * 2) * d["d"]),
    "t14": _t("{n} is {a} years old. {m} is {b} years older than {n}. What will be the sum of their ages in "
              "3 years?", _s14, lambda d: d["a"] + d["a"] + d["b"] + 6),
    "t15": _t("A car travels at {s} kilometres per hour for {t} hours and then {b} kilometres more. How many "
              "kilometres does it travel in total?", _s15, lambda d: d["s"] * d["t"] + d["b"]),
    "t16": _t("{n} has {total} cookies and puts them into {k} equal boxes, then eats {e} cookies from one box. "
              "How many cookies are left in that box?", _s16, lambda d: d["total"] // d["k"] - d["e"]),
    "t17": _t("{n} buys {a} apples, {b} pears and {c} plums. Every fruit costs {p} dollars. How many dollars "
              "does {n} spend?", _s17, lambda d: (d["a"] + d["b"] + d["c"]) * d["p"]),
    "t18": _t("{n} writes {pages} pages a day, {d} days a week, for {w} weeks. How many pages does {n} write?",
              _s18, lambda d: d["pages"] * d["d"] * d["w"]),
    "t19": _t("A tree is {y} metres tall. It grows {a} metres a year for 4 years and then a storm breaks off "
              "the top {b} percent of a 100-metre pole standing next to it, which does not affect the tree. "
              "How tall is the tree after the 4 years, in metres?", _s19, lambda d: d["y"] + 4 * d["a"]),
    "t20": _t("{n} has {c} cats. Each cat eats {q} cans of food a day, and each can costs {per} dollars. How "
              "many dollars does {n} spend on cat food in a week?", _s20, lambda d: d["c"] * d["q"] * d["per"] * 7),
    "t21": _t("{n} has {a} dollars in a savings account, withdraws {b} dollars and then deposits {c} dollars. "
              "How many dollars are in the account now?", _s21, lambda d: d["a"] - d["b"] + d["c"]),
    "t22": _t("A shelf has {t} levels. Each level holds {l} boxes and each box holds {x} dozen eggs. How many "
              "eggs are on the shelf?", _s22, lambda d: d["t"] * d["l"] * d["x"] * 12),
    "t23": _t("{n} drinks {m} glasses of water a day, {d} days a week, and each glass is {w} hundred "
              "millilitres. How many millilitres does {n} drink in a week?", _s23,
              lambda d: d["m"] * d["d"] * d["w"] * 100),
    "t24": _t("{n} has {a} pencils. {n} buys {k} times as many more, then gives {s} to a friend. How many "
              "pencils does {n} have now?", _s24, lambda d: d["a"] + d["a"] * d["k"] - d["s"]),
    "t25": _t("A shop sells pens for {p} dollars and erasers for {q} dollars. {n} buys {x} pens and {y} erasers. "
              "How many dollars does {n} pay?", _s25, lambda d: d["p"] * d["x"] + d["q"] * d["y"]),
    "t26": _t("{n} splits {e} euros equally among {t} children after keeping 1 euro for each child's piggy "
              "bank out of the total first. How many euros does each child get in hand?", _s26,
              lambda d: (d["e"] - d["t"]) // d["t"]),
    "t27": _t("A train leaves with {d} passengers in each of its {h} carriages. At a station {r} passengers "
              "leave the train. How many passengers remain?", _s27, lambda d: d["d"] * d["h"] - d["r"]),
    "t28": _t("{n} picks {a} strawberries and divides them equally into {k} bowls, then adds {b} blueberries to "
              "each bowl. How many berries are in each bowl?", _s28, lambda d: d["a"] // d["k"] + d["b"]),
    "t29": _t("{n} knits {a} scarves a week for {w} weeks and sells all but {b} of them. How many scarves does "
              "{n} sell?", _s29, lambda d: d["a"] * d["w"] - d["b"]),
    "t30": _t("{n} scores {a} points in the first game and {b} points in the second. {m} scores {c} times "
              "{n}'s total. How many points does {m} score?", _s30, lambda d: (d["a"] + d["b"]) * d["c"]),
    "t31": _t("A box holds {c} chocolates. {n} buys {k} boxes and eats {e} chocolates. How many chocolates "
              "are left?", _s31, lambda d: d["c"] * d["k"] - d["e"]),
    "t32": _t("{n} buys {a} shirts at {b} dollars each and {c} hats at {d} dollars each. How many dollars "
              "does {n} spend?", _s32, lambda d: d["a"] * d["b"] + d["c"] * d["d"]),
    "t33": _t("A farmer has {a} sheep. 1/{f} of them are sold and then {b} lambs are born. How many sheep "
              "does the farmer have now?", _s33, lambda d: d["a"] - d["a"] // d["f"] + d["b"]),
    "t34": _t("{n} saves {w} dollars every week for {c} weeks and then spends {s} dollars on a book. How many "
              "dollars does {n} have left?", _s34, lambda d: d["w"] * d["c"] - d["s"]),
    "t35": _t("A classroom has {k} tables with {a} crayons on each. The teacher adds {b} crayons to every "
              "table. How many crayons are there in total?", _s35, lambda d: d["k"] * (d["a"] + d["b"])),
    "t36": _t("{n} bakes muffins for {g} families, {per} muffins per family, and keeps {left} for "
              "breakfast. How many muffins does {n} bake?", _s36, lambda d: d["g"] * d["per"] + d["left"]),
    "t37": _t("A hotel has {a} floors with {b} rooms on each floor. Each room has {t} towels. How many towels "
              "does the hotel have?", _s37, lambda d: d["a"] * d["b"] * d["t"]),
    "t38": _t("{n} drives {m} kilometres on Monday, {k} times that distance on Tuesday and {d} kilometres on "
              "Wednesday. How many kilometres does {n} drive over the three days?", _s38,
              lambda d: d["m"] + d["m"] * d["k"] + d["d"]),
    "t39": _t("A school has {v} vans, each carrying {p} students, and {f} students walk. How many students go "
              "on the trip?", _s39, lambda d: d["v"] * d["p"] + d["f"]),
    "t40": _t("{n} has {a} comic books. {m} has {k} times as many, and gives {e} of them to {n}. How many comic "
              "books does {n} have now?", _s40, lambda d: d["a"] + d["e"]),
}


def make_item(template: str, seed: int) -> dict[str, Any]:
    text, sample, answer = TEMPLATES[template]
    rng = random.Random(f"{NAME}/{template}/{seed}/{SEED}")
    slots = sample(rng)
    value = answer(slots)
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"{template}/{seed}: answer {value!r} is not a non-negative integer")
    question = text.format(**slots)
    return {"id": f"{NAME}/{template}/{seed}", "template": template, "task": NAME, "api": API,
            "messages": [{"role": "user", "content": f"{question}\n\n{INSTRUCTION}"}],
            "max_tokens": MAX_TOKENS, "check": {"kind": "number", "answer": value}}


def generate() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    records = [make_item(t, s) for t in TEMPLATES for s in range(PER_TEMPLATE)]
    header = set_header(NAME, VERSION, SEED, API,
                        "multi-step arithmetic word problems with a final 'Answer: <number>' line")
    return header, records


def score(item: Item, response: Mapping[str, Any]) -> tuple[Verdict, str, str | None]:
    text = content_of(item, response)
    if text is None:
        return None, "no choice in the response", None
    raw = final_answer(text)
    if raw is None:
        return None, f"no 'Answer:' line in the content ({short(text)})", None
    value = parse_number(raw)
    if value is None:
        return None, f"no number in the answer line {short(raw)!r}", raw
    expected = item.check["answer"]
    if abs(value - expected) <= 1e-6:
        return True, f"answer {raw!r} equals {expected}", raw
    return False, f"expected {expected}, got {short(raw)!r}", raw
