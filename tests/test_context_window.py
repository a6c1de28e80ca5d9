"""conformance.harness.context offline: window sources, the choice among them, prompt sizing with an
exact and a calibrated counter, scaled timeouts, the stream budget and the tier order."""

from __future__ import annotations

import pytest

from conformance.harness import context as ctx
from conformance.harness.client import Timeouts
from conformance.harness.exchange import Exchange
from conformance.harness.failures import HarnessError
from conformance.harness.sse import SSEParser

LLAMA_MODELS = {"object": "list", "data": [{"id": "gemma", "object": "model", "meta": {"n_ctx": 2048,
                                                                                     "n_ctx_train": 32768}}]}
LLAMA_PROPS = {"default_generation_settings": {"n_ctx": 2048}, "total_slots": 2}
VLLM_MODELS = {"object": "list", "data": [{"id": "other", "max_model_len": 8192},
                                          {"id": "nvidia/nemotron", "max_model_len": 262144}]}


def test_llama_cpp_sources_and_training_context():
    sources = ctx.window_sources(LLAMA_MODELS, LLAMA_PROPS, None, model="gemma")
    assert [(s.name, s.value, s.served) for s in sources] == [
        ("/v1/models meta.n_ctx", 2048, True),
        ("/v1/models meta.n_ctx_train (training context)", 32768, False),
        ("llama.cpp /props default_generation_settings.n_ctx (per slot)", 2048, True),
    ]
    chosen, disagreements, notes = ctx.choose(sources)
    assert chosen.value == 2048 and disagreements == [] and notes == []


def test_vllm_source_of_the_requested_model():
    sources = ctx.window_sources(VLLM_MODELS, None, {"count": 1, "max_model_len": 262144}, model="nvidia/nemotron")
    assert [(s.name, s.value) for s in sources] == [("/v1/models max_model_len", 262144),
                                                    ("/tokenize max_model_len", 262144)]


def test_endpoint_statement_wins_and_a_declared_difference_is_a_disagreement():
    sources = ctx.window_sources(VLLM_MODELS, None, None, model="nvidia/nemotron", option_value=131072,
                                 profile_value=262144, profile_name="nim")
    chosen, disagreements, _ = ctx.choose(sources)
    assert chosen.name == "/v1/models max_model_len"
    assert disagreements == ["--context-length says 131072 tokens, /v1/models max_model_len says 262144"]


def test_declared_window_used_when_the_endpoint_states_none():
    sources = ctx.window_sources({"data": [{"id": "m"}]}, None, None, model="m", option_value=128000)
    chosen, disagreements, _ = ctx.choose(sources)
    assert (chosen.name, chosen.value, disagreements) == ("--context-length", 128000, [])
    assert ctx.choose([])[0] is None


def test_served_window_beyond_training_context_is_noted():
    body = {"data": [{"id": "m", "meta": {"n_ctx": 65536, "n_ctx_train": 32768}}]}
    _, disagreements, notes = ctx.choose(ctx.window_sources(body, None, None, model="m"))
    assert disagreements == [] and notes and "exceeds" in notes[0]


def _window(counter: ctx.TokenCounter, overhead: int = 10) -> ctx.ContextWindow:
    return ctx.ContextWindow(tokens=2048, source="test", sources=[], disagreements=[], notes=[], tier="boundary",
                             cap=32768, counter=counter, base_timeouts=Timeouts(read_s=100, stream_idle_s=50,
                                                                                 total_s=100),
                             prefill_tps=100.0, billed=lambda api, text: counter.count(text) + overhead)


def _words(text: str) -> int:  # a fake exact tokenizer: one token per word, two for long words
    return sum(2 if len(w) > 6 else 1 for w in text.split())


@pytest.mark.parametrize("n", [50, 333, 2000])
def test_exact_prompt_bills_the_requested_size_within_one_word(n):
    cw = _window(ctx.TokenCounter(method="fake", exact=_words))
    p = cw.prompt("chat", n)
    assert p.tokens == _words(p.text) + 10
    assert n - 2 <= p.tokens <= n  # a two-token word may not fit
    assert p.tolerance == 2 and "exact" in p.method
    assert cw.prompt("chat", n) is p  # cached


def test_calibrated_prompt_and_calibration():
    counter = ctx.calibrate(lambda text: len(text) // 4 + 7)
    assert counter.tokens_per_char == pytest.approx(0.25, rel=0.02) and not counter.is_exact
    cw = _window(counter)
    p = cw.prompt("chat", 1000)
    assert abs(p.tokens - 1000) <= p.tolerance and p.tolerance >= 8


def test_calibration_refuses_a_count_that_does_not_grow():
    with pytest.raises(HarnessError, match="cannot calibrate"):
        ctx.calibrate(lambda text: 5)


def test_prompt_smaller_than_the_template_is_refused():
    with pytest.raises(HarnessError, match="template alone"):
        _window(ctx.TokenCounter(method="fake", exact=_words), overhead=50).prompt("chat", 20)


def test_timeouts_scale_with_the_prompt():
    t = _window(ctx.TokenCounter(method="fake", exact=_words)).timeouts(2000)
    assert (t.read_s, t.stream_idle_s, t.total_s) == (120.0, 70.0, 120.0)


def test_stop_after_tokens_counts_events():
    rule = ctx.ContextWindow.stop_after_tokens(4)
    ex = Exchange.begin("POST", "http://x/v1/chat/completions", {}, b"{}", stream=True)
    ex.sse = SSEParser()
    ex.sse.feed(b"data: {}\n\n" * 20)
    assert rule(ex) is None
    ex.sse.feed(b"data: {}\n\n" * 1)
    assert "client budget" in rule(ex)


def test_tiers():
    assert ctx.tier_allows("full", "boundary") and ctx.tier_allows("boundary", "boundary")
    assert not ctx.tier_allows("boundary", "full") and not ctx.tier_allows("off", "boundary")


@pytest.mark.parametrize(("api", "body", "expected"), [
    ("chat", {"usage": {"prompt_tokens": 12}}, 12),
    ("responses", {"usage": {"input_tokens": 12}}, 12),
    ("messages", {"usage": {"input_tokens": 5, "cache_read_input_tokens": 40}}, 45),
    ("messages", {"usage": {"output_tokens": 5}}, None),
    ("count_tokens", {"input_tokens": 45}, 45),
    ("chat", {"choices": []}, None),
])
def test_billed_tokens(api, body, expected):
    assert ctx.billed_tokens(api, body) == expected


def _resolve(**cli):
    from conformance.harness import config as cfg

    values = {f"llmconf_{k}": v for k, v in cli.items()}
    return cfg.resolve(lambda dest: values.get(dest), lambda name: None, env={})


def test_long_context_options():
    from conformance.harness.failures import UsageError

    s = _resolve()
    assert (s.long_context, s.max_prompt_tokens, s.context_length) == ("boundary", 32768, None)
    s = _resolve(long_context="FULL", max_prompt_tokens="1048576", context_length="262144")
    assert (s.long_context, s.max_prompt_tokens, s.context_length) == ("full", 1048576, 262144)
    assert s.redacted()["long_context"]["tier"] == "full"
    for bad in ({"long_context": "huge"}, {"max_prompt_tokens": "0"}, {"context_length": "-5"}):
        with pytest.raises(UsageError):
            _resolve(**bad)


def test_count_tokens_is_the_last_resort_tokenizer():
    import httpx

    from conformance.harness.client import Client

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": "not found"})

    client = Client("http://endpoint.test", transport=httpx.MockTransport(handler))
    try:
        assert ctx._tokenizer(client, "m") is None  # noqa: SLF001
        found = ctx._tokenizer(client, "m", lambda text: 40 + len(text.split()))  # noqa: SLF001
    finally:
        client.close()
    assert found is not None and "count_tokens" in found[0]
    assert found[1]("one two three") == 3


def test_prompt_body_is_the_one_shape_per_api():
    assert ctx.prompt_body("chat", "hi", 1) == {"messages": [{"role": "user", "content": "hi"}], "temperature": 0,
                                               "max_tokens": 1}
    assert ctx.prompt_body("completions", "hi") == {"prompt": "hi", "temperature": 0}
    assert ctx.prompt_body("responses", "hi", 16) == {"input": "hi", "temperature": 0, "max_output_tokens": 16}
    with pytest.raises(HarnessError):
        ctx.prompt_body("embeddings", "hi")


# --- exact sizing in few counts (issue 13: requests earn their tokens) ----------------------------


def _piece_ends(text: str) -> list[int]:  # the fake tokenizer's pieces: a long word is two tokens
    ends, pos = [], 0
    for i, w in enumerate(text.split(" ")):
        start = pos + (1 if i else 0)  # " word" pieces, the first without a space
        if len(w) > 6:
            ends.append(start + 3)
        ends.append(start + len(w))
        pos = start + len(w)
    return ends


def _largest_k(seed: int, target: int, count) -> int:  # the definition, word by word (the fake is additive)
    k, total, words = 0, 0, ctx.filler_words(seed, 4 * target + 10)
    while total + count(words[k]) <= target:
        total += count(words[k])
        k += 1
    assert count(ctx._text(words[:k])) <= target < count(ctx._text(words[:k + 1]))  # noqa: SLF001
    return k


class _Counting:
    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, text: str):
        self.calls += 1
        return self.fn(text)


@pytest.mark.parametrize("n", [50, 333, 2000])
def test_pieces_size_a_prompt_in_about_two_counts(n):
    exact, ends = _Counting(_words), _Counting(_piece_ends)
    assert _piece_ends("The river crosses") == [3, 9, 13, 17] and _words("The river crosses") == 4
    cw = _window(ctx.TokenCounter(method="fake", exact=exact, token_ends=ends))
    cw.overhead("chat")
    exact.calls = 0
    p = cw.prompt("chat", n)
    assert p.tokens == _words(p.text) + 10 and n - 2 <= p.tokens <= n
    assert len(p.text.split()) == _largest_k(0, n - 10, _words)
    assert (ends.calls, exact.calls) == (1, 2)  # one tokenization, the cut and one word more counted
    q = cw.prompt("chat", n + 3)  # another size of the same filler: no new tokenization
    assert len(q.text.split()) == _largest_k(0, n - 7, _words) and ends.calls == 1 and exact.calls <= 4


def test_wrong_pieces_cost_counts_never_a_wrong_size():
    exact = _Counting(_words)
    liar = lambda text: [e + 7 for e in _piece_ends(text)][:-1] + [len(text)]  # noqa: E731  # shifted
    cw = _window(ctx.TokenCounter(method="fake", exact=exact, token_ends=liar))
    for n in (50, 333, 2000):
        p = cw.prompt("chat", n)
        assert p.tokens == _words(p.text) + 10
        assert len(p.text.split()) == _largest_k(0, n - 10, _words)


def test_pieces_that_do_not_spell_the_text_fall_back_to_counting():
    exact = _Counting(_words)
    cw = _window(ctx.TokenCounter(method="fake", exact=exact, token_ends=lambda text: [1, 2, 3]))
    p = cw.prompt("chat", 500)
    assert len(p.text.split()) == _largest_k(0, 490, _words) and cw.counter.token_ends is None


@pytest.mark.parametrize("n", [50, 333, 2000, 7000])
def test_counting_alone_sizes_a_prompt_in_a_few_counts(n):
    exact = _Counting(_words)
    cw = _window(ctx.TokenCounter(method="fake", exact=exact))
    cw.overhead("chat")
    exact.calls = 0
    p = cw.prompt("chat", n)
    assert p.tokens == _words(p.text) + 10 and len(p.text.split()) == _largest_k(0, n - 10, _words)
    assert exact.calls <= 8  # the old bisection took 12-17


def test_llama_with_pieces_gives_token_ends():
    import json as _json

    import httpx

    from conformance.harness.client import Client

    replies = {
        "The river": {"tokens": [{"id": 1, "piece": "The"}, {"id": 2, "piece": " river"}]},
        "A bird": {"tokens": [{"id": 1, "piece": " A"}, {"id": 2, "piece": " bird"}]},  # SentencePiece prefix
        "bytes": {"tokens": [{"id": 1, "piece": [98, 121]}, {"id": 2, "piece": "tes"}]},
        "ids only": {"tokens": [1, 2]},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        body = _json.loads(request.content)
        assert body["with_pieces"] is True and body["add_special"] is False
        return httpx.Response(200, json=replies[body["content"]])

    client = Client("http://endpoint.test", transport=httpx.MockTransport(handler))
    try:
        ends = ctx._llama_token_ends(client)  # noqa: SLF001
        assert ends("The river") == [3, 9]
        assert ends("A bird") == [1, 6]
        assert ends("bytes") is None and ends("ids only") is None
    finally:
        client.close()


def test_every_api_is_sized_from_one_tokenization():
    exact, ends = _Counting(_words), _Counting(_piece_ends)
    counter = ctx.TokenCounter(method="fake", exact=exact, token_ends=ends)
    template = {"chat": 44, "completions": 1, "responses": 40, "messages": 30}
    cw = _window(counter)
    cw.billed = lambda api, text: _words(text) + template[api]
    for api, extra in template.items():
        for n in (1500, 2058):
            p = cw.prompt(api, n)
            assert p.tokens == _words(p.text) + extra and n - 2 <= p.tokens <= n
            assert len(p.text.split()) == _largest_k(0, n - extra, _words)
    assert ends.calls <= 2  # a second, longer tokenization when the first did not reach the larger size


def test_a_failing_pieces_request_falls_back_to_counting():
    def broken(text: str) -> list[int]:
        raise HarnessError("connection reset")

    cw = _window(ctx.TokenCounter(method="fake", exact=_words, token_ends=broken))
    p = cw.prompt("chat", 800)
    assert len(p.text.split()) == _largest_k(0, 790, _words) and cw.counter.token_ends is None
