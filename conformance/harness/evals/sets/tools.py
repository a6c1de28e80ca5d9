"""``tools``: tool selection and arguments, BFCL-style (ShishirPatil/gorilla's categories and AST
checker idea; no BFCL data or code is used): a catalogue of 14 fake but realistic functions
authored here, and items generated from per-tool request phrasings with seeded slot values, so the
ground truth is known by construction.

Tasks (categories, 50 items each):

* ``tools-simple``: one tool offered, exactly one call expected;
* ``tools-multiple``: 3-4 tools offered, exactly one call of the right one expected;
* ``tools-parallel``: one tool offered, 2-4 calls expected (order-free);
* ``tools-irrelevance``: 1-2 tools offered for a request none of them serves; no call expected.

Templates (clusters) are ``<category>-<tool>``. The checker reads only the structured
``choices[0].message.tool_calls`` (``function.arguments`` parsed with ``json.loads``) and matches
each call like BFCL's AST checker: same function name; every required argument present; no
argument outside the expected set; each value of the schema's type (an integer is accepted for a
number) and within the allowed values (strings compared after BFCL-style normalisation: lowercase,
without spaces and ``,./-_*^``); ``""`` in an allowed list means the argument may be omitted.
Parallel calls match as a multiset (any order); irrelevance is correct iff there is no call.

No answer: neither a tool call nor any content. A tool call written into ``content`` instead of
``tool_calls`` is a wrong answer whose reason says ``leaked into content`` (a parser failure, which
the conformance layer also judges).
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from conformance.harness.evals.sets.common import Item, Verdict, content_of, set_header, short

NAME = "tools"
VERSION = "1.0.0"
SEED = 11
API = "chat"
MAX_TOKENS = 256
PER_CATEGORY = 50
CATEGORIES = ("simple", "multiple", "parallel", "irrelevance")
#: In a reason, marks a tool call written into ``content`` (a parser failure: also a conformance matter).
LEAKED = "leaked into content"


def _fn(name: str, description: str, props: dict[str, Any], required: Sequence[str]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": props, "required": list(required), "additionalProperties": False}}}


_UNITS = ["kilometers", "miles", "meters", "feet", "kilograms", "pounds"]
_ROOMS = ["living room", "bedroom", "kitchen", "office"]

CATALOGUE: tuple[dict[str, Any], ...] = (
    _fn("get_weather", "Get the current weather for a city.",
        {"city": {"type": "string", "description": "City name, e.g. Paris"},
         "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"}},
        ["city"]),
    _fn("convert_currency", "Convert an amount of money from one currency to another.",
        {"amount": {"type": "number", "description": "Amount to convert"},
         "from_currency": {"type": "string", "description": "ISO 4217 code of the source currency, e.g. USD"},
         "to_currency": {"type": "string", "description": "ISO 4217 code of the target currency, e.g. EUR"}},
        ["amount", "from_currency", "to_currency"]),
    _fn("convert_units", "Convert a length or weight between units.",
        {"value": {"type": "number"}, "from_unit": {"type": "string", "enum": _UNITS},
         "to_unit": {"type": "string", "enum": _UNITS}},
        ["value", "from_unit", "to_unit"]),
    _fn("create_calendar_event", "Create an event in the user's calendar.",
        {"title": {"type": "string"}, "date": {"type": "string", "description": "Date as YYYY-MM-DD"},
         "duration_minutes": {"type": "integer", "description": "Length of the event in minutes"}},
        ["title", "date"]),
    _fn("get_stock_price", "Get the latest price of a stock by its ticker symbol.",
        {"ticker": {"type": "string", "description": "Ticker symbol, e.g. AAPL"}}, ["ticker"]),
    _fn("search_books", "Search the library catalogue for books.",
        {"query": {"type": "string", "description": "Search terms"},
         "max_results": {"type": "integer", "description": "Maximum number of results"}},
        ["query"]),
    _fn("get_order_status", "Look up the status of a customer order.",
        {"order_id": {"type": "string", "description": "Order identifier, e.g. A-1234"}}, ["order_id"]),
    _fn("set_timer", "Start a countdown timer.",
        {"minutes": {"type": "integer"}, "label": {"type": "string", "description": "Optional name for the timer"}},
        ["minutes"]),
    _fn("translate_text", "Translate text into another language.",
        {"text": {"type": "string"},
         "target_language": {"type": "string", "description": "Language name, e.g. German"}},
        ["text", "target_language"]),
    _fn("calculate_tip", "Calculate the tip for a restaurant bill.",
        {"bill_amount": {"type": "number"}, "tip_percent": {"type": "number"}}, ["bill_amount", "tip_percent"]),
    _fn("find_restaurants", "Find restaurants in a city, optionally by cuisine.",
        {"city": {"type": "string"}, "cuisine": {"type": "string", "description": "e.g. Italian"}}, ["city"]),
    _fn("send_email", "Send a short email.",
        {"to": {"type": "string", "description": "Recipient email address"}, "subject": {"type": "string"}},
        ["to", "subject"]),
    _fn("get_flight_status", "Get the status of a flight by its flight number.",
        {"flight_number": {"type": "string", "description": "e.g. LH123"}}, ["flight_number"]),
    _fn("set_thermostat", "Set the target temperature of a room, in degrees Celsius.",
        {"temperature": {"type": "integer"}, "room": {"type": "string", "enum": _ROOMS}}, ["temperature", "room"]),
)
BY_NAME = {t["function"]["name"]: t for t in CATALOGUE}

_CITIES = ("Paris", "Tokyo", "Lima", "Oslo", "Cairo", "Toronto", "Madrid", "Seoul", "Dublin", "Nairobi", "Sydney",
           "Vienna", "Austin", "Hanoi", "Zurich")
_CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "SEK")
_TICKERS = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "TSLA", "IBM", "ORCL", "INTC", "NFLX")
_TOPICS = ("volcanoes", "medieval castles", "bird migration", "jazz history", "sourdough baking", "deep sea fish",
           "chess openings", "Roman roads")
_LANGS = ("German", "French", "Spanish", "Italian", "Japanese", "Portuguese")
_PHRASES = ("good morning", "where is the station", "thank you very much", "the museum opens at nine",
            "I would like a coffee")
_CUISINES = ("Italian", "Thai", "Mexican", "Indian", "Japanese", "Greek")
_PEOPLE = ("anna", "ben", "chen", "dora", "emil", "fatima", "george", "hana")
_SUBJECTS = ("Lunch on Friday", "Project update", "Meeting notes", "Holiday plans", "Invoice question")
_EVENTS = ("Dentist appointment", "Team meeting", "Yoga class", "Call with Sam", "Piano lesson")
_AIRLINES = ("LH", "BA", "AF", "UA", "KL", "QF")
_TIMER_LABELS = ("pasta", "tea", "laundry", "break", "oven")

# A slot sampler returns (phrase fragments for the request, expected args as allowed-value lists).
Instance = tuple[dict[str, str], dict[str, list[Any]]]


def _weather(r: random.Random) -> Instance:
    city = r.choice(_CITIES)
    if r.random() < 0.4:
        unit = r.choice(("celsius", "fahrenheit"))
        return {"q": f"What's the weather like in {city} right now, in {unit}?", "p": city}, \
            {"city": [city], "unit": [unit]}
    return {"q": f"What is the current weather in {city}?", "p": city}, {"city": [city], "unit": ["", "celsius",
                                                                                                      "fahrenheit"]}


def _currency(r: random.Random) -> Instance:
    a, b = r.sample(_CURRENCIES, 2)
    amount = r.choice((20, 50, 75, 100, 250, 1200, 99.5))
    return {"q": f"How much is {amount} {a} in {b}?", "p": f"{amount} {a} to {b}"}, \
        {"amount": [amount], "from_currency": [a], "to_currency": [b]}


def _units(r: random.Random) -> Instance:
    pair = r.choice((("kilometers", "miles"), ("miles", "kilometers"), ("meters", "feet"), ("feet", "meters"),
                     ("kilograms", "pounds"), ("pounds", "kilograms")))
    value = r.randint(2, 500)
    return {"q": f"Convert {value} {pair[0]} to {pair[1]}.", "p": f"{value} {pair[0]}"}, \
        {"value": [value], "from_unit": [pair[0]], "to_unit": [pair[1]]}


def _calendar(r: random.Random) -> Instance:
    title = r.choice(_EVENTS)
    date = f"2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"
    if r.random() < 0.5:
        minutes = r.choice((30, 45, 60, 90))
        return {"q": f"Add '{title}' to my calendar on {date} for {minutes} minutes."}, \
            {"title": [title], "date": [date], "duration_minutes": [minutes]}
    return {"q": f"Put '{title}' in my calendar for {date}."}, \
        {"title": [title], "date": [date], "duration_minutes": [""]}


def _stock(r: random.Random) -> Instance:
    t = r.choice(_TICKERS)
    return {"q": f"What is the latest stock price of {t}?", "p": t}, {"ticker": [t]}


def _books(r: random.Random) -> Instance:
    topic = r.choice(_TOPICS)
    if r.random() < 0.5:
        n = r.randint(3, 10)
        return {"q": f"Find me up to {n} books about {topic} in the library."}, \
            {"query": [topic], "max_results": [n]}
    return {"q": f"Search the library catalogue for books about {topic}."}, {"query": [topic], "max_results": [""]}


def _order(r: random.Random) -> Instance:
    oid = f"{r.choice('ABCDEFGH')}-{r.randint(1000, 9999)}"
    return {"q": f"Where is my order {oid}?", "p": oid}, {"order_id": [oid]}


def _timer(r: random.Random) -> Instance:
    m = r.randint(2, 45)
    if r.random() < 0.5:
        label = r.choice(_TIMER_LABELS)
        return {"q": f"Set a {m}-minute timer called {label}.", "p": f"{m} minutes"}, \
            {"minutes": [m], "label": [label]}
    return {"q": f"Start a timer for {m} minutes.", "p": f"{m} minutes"}, {"minutes": [m], "label": [""]}


def _translate(r: random.Random) -> Instance:
    phrase, lang = r.choice(_PHRASES), r.choice(_LANGS)
    return {"q": f"Translate \"{phrase}\" into {lang}."}, {"text": [phrase], "target_language": [lang]}


def _tip(r: random.Random) -> Instance:
    bill, pct = r.choice((24, 38.5, 52, 80, 115, 64.2)), r.choice((10, 15, 18, 20))
    return {"q": f"Our bill is {bill} dollars. How much is a {pct} percent tip?"}, \
        {"bill_amount": [bill], "tip_percent": [pct]}


def _restaurants(r: random.Random) -> Instance:
    city = r.choice(_CITIES)
    if r.random() < 0.5:
        cuisine = r.choice(_CUISINES)
        return {"q": f"Find {cuisine} restaurants in {city}.", "p": city}, {"city": [city], "cuisine": [cuisine]}
    return {"q": f"Can you find some restaurants in {city}?", "p": city}, {"city": [city], "cuisine": [""]}


def _email(r: random.Random) -> Instance:
    to, subject = f"{r.choice(_PEOPLE)}@example.com", r.choice(_SUBJECTS)
    return {"q": f"Send an email to {to} with the subject \"{subject}\"."}, {"to": [to], "subject": [subject]}


def _flight(r: random.Random) -> Instance:
    f = f"{r.choice(_AIRLINES)}{r.randint(100, 999)}"
    return {"q": f"Is flight {f} on time?", "p": f}, {"flight_number": [f]}


def _thermostat(r: random.Random) -> Instance:
    t, room = r.randint(17, 25), r.choice(_ROOMS)
    return {"q": f"Set the {room} to {t} degrees Celsius.", "p": f"the {room} to {t} degrees", "k": room}, \
        {"temperature": [t], "room": [room]}


SAMPLERS: dict[str, Callable[[random.Random], Instance]] = {
    "get_weather": _weather, "convert_currency": _currency, "convert_units": _units,
    "create_calendar_event": _calendar, "get_stock_price": _stock, "search_books": _books,
    "get_order_status": _order, "set_timer": _timer, "translate_text": _translate, "calculate_tip": _tip,
    "find_restaurants": _restaurants, "send_email": _email, "get_flight_status": _flight,
    "set_thermostat": _thermostat,
}
#: Parallel requests: tool → how a list of phrase fragments becomes one request.
PARALLEL: dict[str, Callable[[list[str]], str]] = {
    "get_weather": lambda ps: f"What is the weather right now in {_join(ps)}?",
    "get_stock_price": lambda ps: f"Give me the latest stock prices of {_join(ps)}.",
    "get_order_status": lambda ps: f"Check the status of my orders {_join(ps)}.",
    "get_flight_status": lambda ps: f"Are these flights on time: {_join(ps)}?",
    "convert_currency": lambda ps: f"Convert these amounts: {_join(ps)}.",
    "set_timer": lambda ps: f"Set separate timers: {_join(ps)}.",
    "find_restaurants": lambda ps: f"Find restaurants in each of these cities: {_join(ps)}.",
    "set_thermostat": lambda ps: f"Please set {_join(ps)} Celsius.",
}
_IRRELEVANT = (
    "Tell me a short joke about penguins.", "What is the capital of Australia?", "Write a haiku about autumn leaves.",
    "How many legs does a spider have?", "Explain in one sentence what photosynthesis is.",
    "Who wrote the play Romeo and Juliet?", "What is 17 plus 25?", "Suggest a name for a pet goldfish.",
    "What colour do you get by mixing blue and yellow?", "Give me a synonym for 'happy'.",
    "Why is the sky blue? Answer briefly.", "What is the boiling point of water at sea level in Celsius?",
    "Recommend a board game for four players.", "Spell the word 'necessary' backwards.",
    "What is the largest planet in the solar system?", "Name three primary colours.",
)


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _record(category: str, tool: str, seed: int, question: str, offered: Sequence[str],
            calls: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": f"{NAME}/{category}-{tool}/{seed}", "template": f"{category}-{tool}", "task": f"{NAME}-{category}",
            "api": API, "messages": [{"role": "user", "content": question}],
            "tools": list(offered), "tool_choice": "auto", "max_tokens": MAX_TOKENS,
            "check": {"kind": "tool_calls", "calls": calls}}


def make_item(category: str, tool: str, seed: int) -> dict[str, Any]:
    rng = random.Random(f"{NAME}/{category}-{tool}/{seed}/{SEED}")
    names = [t["function"]["name"] for t in CATALOGUE]
    if category in ("simple", "multiple"):
        slots, args = SAMPLERS[tool](rng)
        offered = [tool]
        if category == "multiple":
            offered += rng.sample([n for n in names if n != tool], rng.randint(2, 3))
            rng.shuffle(offered)
        return _record(category, tool, seed, slots["q"], offered, [{"name": tool, "args": args}])
    if category == "parallel":
        n = rng.randint(2, 4)
        instances: list[Instance] = []
        while len(instances) < n:
            slots, args = SAMPLERS[tool](rng)
            if all(slots.get("k", slots["p"]) != s.get("k", s["p"]) for s, _ in instances):
                instances.append((slots, args))
        question = PARALLEL[tool]([s["p"] for s, _ in instances])
        # a parallel request names no optional argument: each may be omitted or take any valid value
        calls = [{"name": tool, "args": _parallel_args(tool, a)} for _, a in instances]
        return _record(category, tool, seed, question, [tool], calls)
    # irrelevance
    offered = [tool] + rng.sample([n for n in names if n != tool], rng.randint(0, 1))
    rng.shuffle(offered)
    return _record(category, tool, seed, rng.choice(_IRRELEVANT), offered, [])


def _parallel_args(tool: str, args: dict[str, list[Any]]) -> dict[str, list[Any]]:
    props = BY_NAME[tool]["function"]["parameters"]["properties"]
    required = BY_NAME[tool]["function"]["parameters"]["required"]
    out = {k: v for k, v in args.items() if k in required}
    for k in props:
        if k not in required:
            out[k] = ["", *props[k].get("enum", ())] if "enum" in props[k] else [""]
    return out


def _plan() -> list[tuple[str, str, int]]:
    names = [t["function"]["name"] for t in CATALOGUE]
    plan = []
    for category in CATEGORIES:
        pool = list(PARALLEL) if category == "parallel" else names
        for i in range(PER_CATEGORY):
            plan.append((category, pool[i % len(pool)], i // len(pool)))
    return plan


def generate() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    records = [make_item(c, t, s) for c, t, s in _plan()]
    header = set_header(NAME, VERSION, SEED, API,
                        "BFCL-style tool selection and arguments (simple/multiple/parallel/irrelevance)",
                        tools=list(CATALOGUE))
    return header, records


# --- AST-style matcher -----------------------------------------------------------------------------

_STD = re.compile(r"[\s,./\-_*^]")


def standardize(value: str) -> str:
    """BFCL-style string normalisation: lowercase, without spaces and ``,./-_*^``, ``'`` → ``\"``."""
    return _STD.sub("", value.lower()).replace("'", '"')


def _type_ok(value: Any, spec: Mapping[str, Any]) -> bool:
    t = spec.get("type")
    if t == "string":
        return isinstance(value, str)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "boolean":
        return isinstance(value, bool)
    return True


def _value_ok(value: Any, allowed: Sequence[Any]) -> bool:
    for a in allowed:
        if a == "":
            continue
        if isinstance(a, str) and isinstance(value, str) and standardize(a) == standardize(value):
            return True
        if isinstance(a, (int, float)) and isinstance(value, (int, float)) and not isinstance(value, bool) \
                and abs(float(a) - float(value)) <= 1e-9:
            return True
    return False


def match_call(call: Mapping[str, Any], expected: Mapping[str, Any], tools: Mapping[str, Any]) -> str | None:
    """``None`` when the parsed ``call`` (``name``, ``args``) matches ``expected``, else why not."""
    if call["name"] != expected["name"]:
        return f"called {call['name']!r}, expected {expected['name']!r}"
    args = call["args"]
    if not isinstance(args, dict):
        return f"{call['name']}: arguments are not an object"
    schema = tools[expected["name"]]["function"]["parameters"]
    allowed = expected["args"]
    for key, value in args.items():
        if key not in allowed:
            return f"{call['name']}: unexpected argument {key!r}"
        spec = schema["properties"].get(key, {})
        if not _type_ok(value, spec):
            return f"{call['name']}: {key}={value!r} is not of type {spec.get('type')}"
        if "enum" in spec and value not in spec["enum"]:
            return f"{call['name']}: {key}={value!r} not in the enum"
        if not _value_ok(value, allowed[key]):
            return f"{call['name']}: {key}={short(repr(value), 40)} (want one of {allowed[key]})"
    for key, values in allowed.items():
        if key not in args and "" not in values:
            return f"{call['name']}: missing argument {key!r}"
    return None


def parse_calls(message: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The structured tool calls of a chat message as ``[{name, args}]``, or why they are malformed."""
    raw = message.get("tool_calls") or []
    if not isinstance(raw, list):
        return [], "tool_calls is not a list"
    calls = []
    for i, c in enumerate(raw):
        fn = c.get("function") if isinstance(c, Mapping) else None
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            return [], f"tool_calls[{i}] has no function name"
        arguments = fn.get("arguments")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                return [], f"tool_calls[{i}].function.arguments is not valid JSON: {short(arguments, 60)}"
        calls.append({"name": fn["name"], "args": arguments})
    return calls, None


def match_calls(calls: Sequence[Mapping[str, Any]], expected: Sequence[Mapping[str, Any]],
                tools: Mapping[str, Any]) -> str | None:
    """Order-free multiset match of ``calls`` against ``expected``; ``None`` on success."""
    if len(calls) != len(expected):
        return f"{len(calls)} call(s), expected {len(expected)}"
    first_reason = None
    for perm in itertools.permutations(range(len(calls))):
        reasons = [match_call(calls[p], e, tools) for p, e in zip(perm, expected)]
        bad = [r for r in reasons if r]
        if not bad:
            return None
        if first_reason is None:
            first_reason = bad[0]
    return first_reason


_LEAK = re.compile(r"<tool_call>|<function|\"name\"\s*:\s*\"|\[TOOL_CALLS\]|\bfunctions?\.\w+\(")


def score(item: Item, response: Mapping[str, Any]) -> tuple[Verdict, str, str | None]:
    choices = response.get("choices") if isinstance(response, Mapping) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        return None, "no choice in the response", None
    message = choices[0].get("message") if isinstance(choices[0].get("message"), Mapping) else {}
    text = content_of(item, response) or ""
    calls, malformed = parse_calls(message)
    tools = {t["function"]["name"]: t for t in item.tools}
    expected = item.check["calls"]
    answer = json.dumps(calls, sort_keys=True) if calls else (short(text, 200) if text else None)
    if malformed:
        return False, f"malformed tool call: {malformed}", answer
    if not expected:
        if calls:
            return False, f"irrelevance: made {len(calls)} call(s) ({calls[0]['name']})", answer
        if _LEAK.search(text) and any(name in text for name in tools):
            return False, f"irrelevance: a tool call {LEAKED}", answer
        return True, "no tool call", answer
    if not calls:
        if not text.strip():
            return None, "no tool call and no content", None
        if _LEAK.search(text) or any(name in text for name in tools):
            return False, f"no structured tool call; tool call {LEAKED} ({short(text)})", answer
        return False, f"no tool call (content {short(text)})", answer
    why = match_calls(calls, expected, tools)
    if why is None:
        return True, f"{len(calls)} call(s) match", answer
    return False, why, answer
