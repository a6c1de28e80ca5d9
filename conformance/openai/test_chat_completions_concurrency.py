"""chat.completions · concurrency: N concurrent streams (``--concurrency``, default 8), each well
formed and isolated, with no cross-talk between them.

One exchange set feeds both requirements: N blocking requests sent one at a time (the calibration:
each prompt's own prompt_tokens and answer, alone), then the same N requests streamed at once.
Every prompt is distinct: its own marker word (a few-shot "write the word twenty times" that a base
model imitates and an instruct model obeys), a prompt length of its own (padding grows by four
words per stream) and its own max_tokens. 2N requests in all, none longer than 6 + N tokens.
"""

import asyncio

import allure
import pytest

from conformance.harness.checks import openai as checks
from conformance.harness.requirements import requirement

pytestmark = [pytest.mark.requires("streaming", "stream_usage"),
              pytest.mark.alone("concurrency: it owns the endpoint's slots while its streams run")]

# Distinctive words, none part of another, none in the shared few-shot examples ("pencil",
# "garden"). Beyond the list, two words are joined ("applefalcon"): still whole words apart.
MARKERS = ("apple", "violet", "harbor", "copper", "meadow", "falcon", "lantern", "quartz", "saddle", "tundra",
           "walnut", "zephyr", "orchid", "pepper", "silver", "timber", "badger", "cobalt", "dahlia", "ember",
           "glacier", "hazel", "indigo", "juniper")
ASK = "Write the word twenty times:"


def marker(i: int) -> str:
    n = len(MARKERS)
    return MARKERS[i] if i < n else MARKERS[i % n] + MARKERS[(i // n - 1) % n]


def messages(i: int) -> list[dict[str, str]]:
    """Stream ``i``'s prompt: two worked examples, then its own marker. The first example carries
    4·i padding words, so the prompts' lengths are distinct whatever the markers' token counts."""
    pad = " ".join(["one"] * (4 * i))
    return [{"role": "user", "content": f"{ASK} pencil {pad}".strip()},
            {"role": "assistant", "content": " ".join(["pencil"] * 20)},
            {"role": "user", "content": f"{ASK} garden"},
            {"role": "assistant", "content": " ".join(["garden"] * 20)},
            {"role": "user", "content": f"{ASK} {marker(i)}"}]


def chat_request(i: int) -> dict:
    # Each stream's max_tokens is its own too: a stream cut by max_tokens must report exactly it.
    return {"messages": messages(i), "max_tokens": 6 + i, "temperature": 0}


class Run:
    """The concurrent streams' exchanges, shared by the module's tests (the calibration answers
    are in the facade's reuse cache)."""

    def __init__(self, n: int, stream_exchanges: list) -> None:
        self.n = n
        self.stream_exchanges = stream_exchanges

    def replay(self, oai, client) -> tuple[list[dict], list]:
        """The calibration answers and the streams, for the test running now: attached to it, their
        passive checks run (again) in it. The fixture's own sends were made before the test's log
        was opened, so every test lists them as reused, as the facade does for a cache hit."""
        serial = []
        for i in range(self.n):
            answer = oai.chat(chat_request(i))  # the answer alone (a cache hit: no new request)
            usage = answer.usage if isinstance(answer.usage, dict) else {}
            serial.append({"prompt_tokens": usage.get("prompt_tokens"), "text": answer.text})
        for ex in self.stream_exchanges:
            client.log.append((ex, f"reused exchange #{ex.seq}"))
        return serial, [oai.stream_exchange(ex) for ex in self.stream_exchanges]  # each stream well formed


@pytest.fixture(scope="module")
async def concurrent_run(oai, client, settings):
    n = settings.concurrency
    if n < 2:
        pytest.skip(f"--concurrency {n}: at least 2 streams are needed to see cross-talk")
    for i in range(n):  # calibration: one at a time, each alone, blocking
        oai.chat(chat_request(i))
    bodies = [oai.with_model({**chat_request(i), "stream": True, "stream_options": {"include_usage": True}})
              for i in range(n)]
    streams = await asyncio.gather(*(client.arequest("POST", "/v1/chat/completions", json=body, stream=True)
                                     for body in bodies))
    return Run(n, list(streams))


@requirement("OAI-CONC-001")
async def test_concurrent_streams_are_well_formed_and_isolated(oai, client, concurrent_run):
    _, streams = concurrent_run.replay(oai, client)
    checks.concurrent_streams_isolated(streams, max_tokens=[chat_request(i)["max_tokens"]
                                                            for i in range(concurrent_run.n)])


@requirement("OAI-CONC-002")
async def test_concurrent_streams_do_not_cross_talk(oai, client, concurrent_run, settings):
    serial, streams = concurrent_run.replay(oai, client)
    markers = [marker(i) for i in range(concurrent_run.n)]
    text, restricted = judgement(streams, serial, markers, settings)
    allure.attach(text, name="cross-talk judgement", attachment_type=allure.attachment_type.TEXT)
    if restricted:  # said in the report: what this endpoint lets the test see
        oai.passive.observe("OAI-CONC-002", text)
    checks.concurrent_streams_no_cross_talk(streams, serial=serial, markers=markers)


def judgement(streams, serial, markers, settings) -> tuple[str, bool]:
    """What the judgement could see, and whether it was restricted: which streams echo their marker
    alone (the model's ability, measured here, never assumed), whether the prompt lengths are
    distinct, whether all streams could be in flight at once; and (a measurement, never judged)
    how many concurrent answers equal their answer alone: batching may change a greedy answer,
    which is no cross-talk."""
    n = len(markers)
    echo = [i for i in range(n) if checks.marker_in(markers[i], serial[i]["text"])]
    kept = [i for i in echo if checks.marker_in(markers[i], streams[i].text(0))]
    same = sum(streams[i].text(0) == serial[i]["text"] for i in range(n))
    counts = [s["prompt_tokens"] for s in serial]
    distinct = len(set(counts)) == n
    capped = settings.max_concurrency < n
    parts = [f"{n} concurrent streams (--concurrency {n}; the client's --max-concurrency cap is "
             f"{settings.max_concurrency}{': not all were in flight at once' if capped else ''})"]
    if len(echo) == n:
        parts.append(f"every stream echoes its marker when sent alone: a swapped or mixed output shows as a foreign "
                     f"marker; {len(kept)}/{n} echoed it again under concurrency")
    elif echo:
        parts.append(f"only streams {echo} echo their marker when sent alone: content cross-talk is visible only "
                     f"from them; the others are judged on usage.prompt_tokens (and ids, OAI-CONC-001)")
    else:
        parts.append("the model echoes no marker when asked alone: content cross-talk cannot be seen; judged on "
                     "usage.prompt_tokens (and ids, OAI-CONC-001) only")
    parts.append(f"prompt_tokens alone {counts}" + ("" if distinct else " (not all distinct: a swap between equal "
                                                                       "counts is invisible in usage)"))
    parts.append(f"{same}/{n} concurrent answers identical to their answer alone (measured, not judged)")
    return "; ".join(parts), (len(echo) < n or not distinct or capped)
