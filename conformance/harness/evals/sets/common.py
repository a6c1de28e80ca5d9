"""What every eval item set shares: the item and set records, the file format, the answer
extraction and the pure scoring entry point.

File format (``datasets/evals/<set>/cases.jsonl``, validated by
``datasets/evals/eval-set.schema.json``): line 1 is the set header (``name``, ``version``,
``seed``, ``count``, ``generator``, ``api``, and for ``tools`` the tool catalogue), every further
line one item. Files are written with sorted keys, compact separators and ``\\n`` line ends, so a
regeneration is byte-identical.

An item: ``id`` (``set/template/seed``), ``template`` (the cluster for clustered standard errors),
``task`` (the unit a gate reports on: the set itself, or a sub-task such as a tool-call category),
``api`` (``chat`` or ``completions``), ``messages`` or ``prompt``, ``max_tokens``, optional
``tools`` (names into the header's catalogue) and ``check`` (the deterministic checker spec the
set's module interprets).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The verdict of one item: ``True`` correct, ``False`` wrong, ``None`` no extractable answer.
Verdict = bool | None

ANSWER_LINE = re.compile(r"(?i)answer\s*:\s*(.+)")

#: Common English words, authored here: the words of ``caps`` and the keys of ``lookup``.
WORDS = (
    "apple", "river", "stone", "cloud", "maple", "tiger", "lemon", "piano", "rocket", "candle", "forest",
    "silver", "garden", "window", "pepper", "violet", "castle", "ocean", "bridge", "falcon", "harbor",
    "meadow", "copper", "lantern", "pillow", "basket", "orange", "mirror", "thunder", "velvet", "pencil",
    "island", "rabbit", "carpet", "marble", "ladder", "pocket", "summer", "winter", "button",
)


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    set: str
    template: str
    task: str
    api: str
    max_tokens: int
    check: Mapping[str, Any]
    messages: tuple[Mapping[str, Any], ...] = ()
    prompt: str | None = None
    tools: tuple[Mapping[str, Any], ...] = ()
    tool_choice: str | None = None

    def __hash__(self) -> int:  # the mapping fields are not hashable; an item is identified by its id
        return hash((self.set, self.id))

    def request_body(self) -> dict[str, Any]:
        """The request for this item without ``model`` and without sampling parameters (the runner
        adds the model, ``temperature``/``top_p``/``seed`` and the profile's request defaults)."""
        body: dict[str, Any]
        if self.api == "completions":
            body = {"prompt": self.prompt}
        else:
            body = {"messages": [dict(m) for m in self.messages]}
        body["max_tokens"] = self.max_tokens
        if self.tools:
            body["tools"] = [json.loads(json.dumps(t)) for t in self.tools]
            body["tool_choice"] = self.tool_choice or "auto"
        return body

    @property
    def prompt_text(self) -> str:
        """The text the model is asked (for reports)."""
        if self.api == "completions":
            return self.prompt or ""
        return "\n".join(str(m.get("content", "")) for m in self.messages)


@dataclass(frozen=True, slots=True)
class EvalSet:
    name: str
    version: str
    seed: int
    api: str
    items: tuple[Item, ...]
    header: Mapping[str, Any] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i.task for i in self.items))

    def by_id(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)


# --- file format ---------------------------------------------------------------------------------

def dumps_line(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def render(header: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> str:
    """The committed file text for a header and item records (deterministic)."""
    head = dict(header)
    head["count"] = len(items)
    return "".join(dumps_line(x) + "\n" for x in [head, *items])


def parse(text: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError("empty eval set file")
    return lines[0], lines[1:]


def build(header: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> EvalSet:
    catalogue = {t["function"]["name"]: t for t in header.get("tools", [])}
    items = []
    for r in records:
        items.append(Item(
            id=r["id"], set=header["name"], template=r["template"], task=r["task"], api=r["api"],
            max_tokens=r["max_tokens"], check=r["check"], messages=tuple(r.get("messages", ())),
            prompt=r.get("prompt"), tools=tuple(catalogue[n] for n in r.get("tools", ())),
            tool_choice=r.get("tool_choice")))
    return EvalSet(name=header["name"], version=header["version"], seed=header["seed"], api=header["api"],
                   items=tuple(items), header=header)


def set_header(name: str, version: str, seed: int, api: str, description: str, **extra: Any) -> dict[str, Any]:
    """The header a set's ``generate()`` returns (``count`` is added by :func:`render`); the
    generator is ``conformance/harness/evals/sets/<name>.py``, ``extra`` adds set-specific fields."""
    return {"name": name, "version": version, "seed": seed, "api": api,
            "generator": f"conformance/harness/evals/sets/{name}.py", "description": description, **extra}


def read(path: Path) -> EvalSet:
    header, records = parse(path.read_text(encoding="utf-8"))
    if header.get("count") != len(records):
        raise ValueError(f"{path}: header count {header.get('count')} != {len(records)} items")
    return build(header, records)


# --- answers ---------------------------------------------------------------------------------------

def content_of(item: Item, response: Mapping[str, Any]) -> str | None:
    """The scored text: chat ``choices[0].message.content`` (never ``reasoning_content`` /
    ``reasoning``), completions ``choices[0].text``. ``None`` when the response has no choice."""
    choices = response.get("choices") if isinstance(response, Mapping) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        return None
    choice = choices[0]
    if item.api == "completions":
        text = choice.get("text")
    else:
        message = choice.get("message")
        text = message.get("content") if isinstance(message, Mapping) else None
    if isinstance(text, list):  # content parts: join the text ones
        text = "".join(p.get("text", "") for p in text if isinstance(p, Mapping))
    return text if isinstance(text, str) else ("" if text is None else str(text))


def final_answer(text: str) -> str | None:
    """The last ``Answer: X`` in ``text`` (simple-evals' tolerant regex), stripped."""
    matches = ANSWER_LINE.findall(text)
    if not matches:
        return None
    value = matches[-1].strip()
    return value or None


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def parse_number(value: str) -> float | None:
    """A number from an answer after stripping ``,``, ``$``, ``*`` and a trailing ``.``; the first
    number when units or words follow (``12 apples`` → 12), the part after the last ``=`` when the
    answer is an equation."""
    if "=" in value:  # "3 x 8 - 9 = 15": the result, not the first operand
        value = value.rsplit("=", 1)[1]
    cleaned = value.replace(",", "").replace("$", "").replace("*", "").strip().rstrip(".").strip()
    match = _NUMBER.search(cleaned)
    return float(match.group()) if match else None


def score_first_line(item: Item, response: Mapping[str, Any], *, clean: Callable[[str], str],
                     holds: str) -> tuple[Verdict, str, str | None]:
    """Score a ``first_line`` check: the first line of the stripped completion, stripped and then
    ``clean``-ed, must equal ``check["answer"]`` (``holds`` is the reason when it does). No answer
    when the response has no choice or that line is empty."""
    text = content_of(item, response)
    if text is None:
        return None, "no choice in the response", None
    line = text.strip().split("\n", 1)[0].strip() if text.strip() else ""
    if not line:
        return None, f"empty first line (completion {short(text)})", None
    answer = clean(line)
    expected = item.check["answer"]
    if answer == expected:
        return True, holds, answer
    return False, f"expected {expected!r}, got {short(answer)!r}", answer


def short(text: str | None, limit: int = 80) -> str:
    if text is None:
        return "None"
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"
