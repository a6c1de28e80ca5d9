"""``jsonx``: extract fields from a short generated text into JSON that matches a given schema.

A record (person, order, event or book) is drawn from typed generators (word lists authored here,
seeded RNG), rendered as prose in one of five phrasings, and the model is asked for a JSON object
matching the record's JSON Schema. Templates (clusters) are ``<kind>-<phrasing>``.

The schemas are in the set file's header (``schemas``); an item's check names one.

Checker: parse ``message.content`` as JSON (a ```json fence is stripped; failing that, the span
from the first ``{`` to the last ``}``), validate it with ``jsonschema`` (Draft 2020-12) and
compare every field with the record (strings case- and space-insensitive, a leading "the" ignored, numbers exactly,
booleans exactly). No answer: no JSON object can be parsed from the content.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Mapping
from typing import Any

import jsonschema

from conformance.harness.evals.sets.common import Item, Verdict, content_of, set_header, short

NAME = "jsonx"
VERSION = "1.0.0"
SEED = 11
API = "chat"
MAX_TOKENS = 256
PER_TEMPLATE = 5

_FIRST = ("Alice", "Bruno", "Carmen", "Dmitri", "Esther", "Felix", "Gloria", "Hassan", "Ingrid", "Jamal", "Keiko",
          "Luca", "Mirela", "Nikolai", "Olga", "Pablo", "Rania", "Stefan", "Talia", "Viktor")
_LAST = ("Okafor", "Lindqvist", "Moreau", "Tanaka", "Alvarez", "Novak", "Brennan", "Haddad", "Kowalski", "Ferreira",
         "Nakamura", "Olsen", "Petrov", "Quintero", "Rossi", "Schmidt")
_CITIES = ("Lisbon", "Osaka", "Denver", "Nairobi", "Krakow", "Montreal", "Valparaiso", "Tallinn", "Perth", "Bergen")
_JOBS = ("pharmacist", "architect", "electrician", "librarian", "pilot", "chef", "geologist", "translator")
_PRODUCTS = ("desk lamp", "water bottle", "backpack", "keyboard", "rain jacket", "frying pan", "tea kettle",
             "bike helmet")
_EVENTS = ("jazz concert", "chess tournament", "pottery workshop", "film screening", "charity run", "book fair")
_VENUES = ("the town hall", "Riverside Park", "the Grand Theatre", "the community centre", "Harbour Pavilion")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_GENRES_B = ("mystery", "fantasy", "biography", "poetry", "history", "science fiction")
_TITLE_A = ("Silent", "Hidden", "Last", "Golden", "Broken", "Distant", "Secret", "Winter")
_TITLE_B = ("Harbor", "Garden", "Signal", "Orchard", "Lantern", "Kingdom", "Voyage", "Archive")


def _person(r: random.Random) -> dict[str, Any]:
    return {"name": f"{r.choice(_FIRST)} {r.choice(_LAST)}", "age": r.randint(19, 78), "city": r.choice(_CITIES),
            "occupation": r.choice(_JOBS), "has_pet": r.random() < 0.5}


def _order(r: random.Random) -> dict[str, Any]:
    return {"order_id": f"ORD-{r.randint(10000, 99999)}", "product": r.choice(_PRODUCTS),
            "quantity": r.randint(1, 12), "unit_price": r.randint(5, 250), "express": r.random() < 0.5}


def _event(r: random.Random) -> dict[str, Any]:
    return {"event": r.choice(_EVENTS), "venue": r.choice(_VENUES), "month": r.choice(_MONTHS),
            "day": r.randint(1, 28), "tickets_left": r.randint(0, 400)}


def _book(r: random.Random) -> dict[str, Any]:
    return {"title": f"The {r.choice(_TITLE_A)} {r.choice(_TITLE_B)}",
            "author": f"{r.choice(_FIRST)} {r.choice(_LAST)}", "year": r.randint(1950, 2024),
            "pages": r.randint(120, 900), "genre": r.choice(_GENRES_B)}


def _schema(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


SCHEMAS = {
    "person": _schema({"name": {"type": "string"}, "age": {"type": "integer"}, "city": {"type": "string"},
                       "occupation": {"type": "string"}, "has_pet": {"type": "boolean"}}),
    "order": _schema({"order_id": {"type": "string"}, "product": {"type": "string"},
                      "quantity": {"type": "integer"}, "unit_price": {"type": "integer"},
                      "express": {"type": "boolean"}}),
    "event": _schema({"event": {"type": "string"}, "venue": {"type": "string"},
                      "month": {"type": "string", "enum": list(_MONTHS)}, "day": {"type": "integer"},
                      "tickets_left": {"type": "integer"}}),
    "book": _schema({"title": {"type": "string"}, "author": {"type": "string"}, "year": {"type": "integer"},
                     "pages": {"type": "integer"}, "genre": {"type": "string", "enum": list(_GENRES_B)}}),
}


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _pet(d):
    return "has a dog" if d["has_pet"] else "has no pets"


def _express(d):
    return "with express shipping" if d["express"] else "with standard (not express) shipping"


PHRASINGS: dict[str, tuple[Callable[[dict[str, Any]], str], ...]] = {
    "person": (
        lambda d: f"{d['name']} is a {d['age']}-year-old {d['occupation']} who lives in {d['city']} and {_pet(d)}.",
        lambda d: f"Meet {d['name']}. Born {d['age']} years ago, this {d['occupation']} now calls {d['city']} home "
                  f"and {_pet(d)}.",
        lambda d: f"Profile: works as a {d['occupation']}; based in {d['city']}; age {d['age']}; {_pet(d)}. "
                  f"Name: {d['name']}.",
        lambda d: f"Our new neighbour in {d['city']}, {d['name']}, told us she is {d['age']}, works as a "
                  f"{d['occupation']} and {_pet(d)}.",
        lambda d: f"In {d['city']} there is a {d['occupation']} named {d['name']}, aged {d['age']}, who {_pet(d)}.",
    ),
    "order": (
        lambda d: f"Order {d['order_id']}: {d['quantity']} x {d['product']} at {d['unit_price']} dollars each, "
                  f"{_express(d)}.",
        lambda d: f"The customer bought {d['quantity']} units of the {d['product']} (unit price {d['unit_price']} "
                  f"dollars) under order number {d['order_id']}, {_express(d)}.",
        lambda d: f"Shipping note for {d['order_id']} - item: {d['product']}; count: {d['quantity']}; price per "
                  f"item: {d['unit_price']} dollars; sent {_express(d)}.",
        lambda d: f"We received order {d['order_id']} for {d['quantity']} of our {d['product']} model, charged at "
                  f"{d['unit_price']} dollars apiece and sent {_express(d)}.",
        lambda d: f"{d['quantity']} {d['product']} units, {d['unit_price']} dollars per unit, reference "
                  f"{d['order_id']}, {_express(d)}.",
    ),
    "event": (
        lambda d: f"The {d['event']} takes place at {d['venue']} on {d['month']} {d['day']}; "
                  f"{d['tickets_left']} tickets are still available.",
        lambda d: f"Join us for a {d['event']} on the {_ordinal(d['day'])} of {d['month']} at {d['venue']}. Only "
                  f"{d['tickets_left']} tickets left!",
        lambda d: f"Venue: {d['venue']}. Date: {d['month']} {d['day']}. Event: {d['event']}. Remaining tickets: "
                  f"{d['tickets_left']}.",
        lambda d: f"{d['venue']} hosts a {d['event']} this year on {d['month']} {d['day']}, and the box office "
                  f"says {d['tickets_left']} seats remain unsold.",
        lambda d: f"Save the date: {d['month']} {d['day']}, {d['event']} at {d['venue']} "
                  f"({d['tickets_left']} tickets remaining).",
    ),
    "book": (
        lambda d: f"\"{d['title']}\" is a {d['genre']} book by {d['author']}, published in {d['year']}, "
                  f"{d['pages']} pages long.",
        lambda d: f"{d['author']} wrote {d['title']} in {d['year']}; the {d['genre']} title runs to "
                  f"{d['pages']} pages.",
        lambda d: f"Catalogue entry - {d['title']} ({d['year']}), {d['author']}. Genre: {d['genre']}. "
                  f"Length: {d['pages']} pages.",
        lambda d: f"Published in {d['year']}, the {d['pages']}-page {d['genre']} novel {d['title']} made "
                  f"{d['author']} famous.",
        lambda d: f"Reading list: {d['title']} by {d['author']} - {d['genre']}, {d['pages']} pages, "
                  f"first printed {d['year']}.",
    ),
}
_GENERATORS = {"person": _person, "order": _order, "event": _event, "book": _book}

INSTRUCTION = ("Extract the information from the text below into a JSON object that matches this JSON schema. "
               "Reply with the JSON object only.")


def make_item(template: str, seed: int) -> dict[str, Any]:
    kind, phrasing = template.rsplit("-", 1)
    rng = random.Random(f"{NAME}/{template}/{seed}/{SEED}")
    record = _GENERATORS[kind](rng)
    text = PHRASINGS[kind][int(phrasing)](record)
    schema = SCHEMAS[kind]
    content = f"{INSTRUCTION}\n\nSchema:\n{json.dumps(schema, separators=(',', ':'))}\n\nText:\n{text}"
    return {"id": f"{NAME}/{template}/{seed}", "template": template, "task": NAME, "api": API,
            "messages": [{"role": "user", "content": content}], "max_tokens": MAX_TOKENS,
            "check": {"kind": "json", "schema": kind, "expected": record}}


TEMPLATES = tuple(f"{k}-{i}" for k in PHRASINGS for i in range(len(PHRASINGS[k])))


def generate() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    records = [make_item(t, s) for t in TEMPLATES for s in range(PER_TEMPLATE)]
    header = set_header(NAME, VERSION, SEED, API, "extract fields from a short text into JSON matching a schema",
                        schemas=SCHEMAS)
    return header, records


_FENCE = re.compile(r"```(?:json)?\s*\n?(.*?)```", re.S | re.I)


def extract_json(text: str) -> Any:
    """The JSON value in ``text``: the whole text, a fenced block, or the outermost ``{...}``
    span. Raises ``ValueError`` when none parses."""
    candidates = [text.strip()]
    m = _FENCE.search(text)
    if m:
        candidates.append(m.group(1).strip())
    if "{" in text and "}" in text:
        candidates.append(text[text.index("{"): text.rindex("}") + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise ValueError("no JSON value")


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        text = " ".join(value.casefold().replace("\u00a0", " ").split()).strip(" .\"'")
        return text[4:] if text.startswith("the ") else text
    return value


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return got is want
    if isinstance(want, (int, float)):
        return isinstance(got, (int, float)) and got == want
    return isinstance(got, str) and _norm(got) == _norm(want)


def score(item: Item, response: Mapping[str, Any]) -> tuple[Verdict, str, str | None]:
    text = content_of(item, response)
    if text is None:
        return None, "no choice in the response", None
    try:
        value = extract_json(text)
    except ValueError:
        return None, f"no JSON in the content ({short(text)})", None
    answer = json.dumps(value, sort_keys=True)
    errors = sorted(jsonschema.Draft202012Validator(SCHEMAS[item.check["schema"]]).iter_errors(value), key=str)
    if errors:
        return False, f"schema: {short(errors[0].message, 120)}", short(answer, 200)
    expected = item.check["expected"]
    wrong = [k for k, v in expected.items() if not _same(value.get(k), v)]
    if wrong:
        details = ", ".join(f"{k}={value.get(k)!r} (want {expected[k]!r})" for k in wrong)
        return False, f"wrong fields: {short(details, 160)}", short(answer, 200)
    return True, f"{len(expected)} fields match", short(answer, 200)
