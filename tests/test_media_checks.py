"""Offline tests of the acceptance-and-counting layer of issue 10 (the checks' good/bad fixtures are
in tests/fixtures/checks/ and run by tests/test_checks.py): how billed prompt tokens are read per
API, and the case matrix of conformance/multimodal/test_media_inputs.py (ids unique and stable,
shapes and media that exist, the expensive media only in the full tier)."""

from __future__ import annotations

import pytest

from conformance.harness import media
from conformance.harness.checks import media as checks
from conformance.harness.failures import ConformanceFailure
from conformance.harness.modalities import SHAPES
from conformance.multimodal import test_media_inputs as mod


def test_billed_prompt_per_api():
    assert checks.billed_prompt({"prompt_tokens": 71, "completion_tokens": 8}, "chat") == 71
    assert checks.billed_prompt({"usage": {"input_tokens": 71, "output_tokens": 16}}, "responses") == 71
    # Messages: the prefix cache splits the prompt; all three fields count
    usage = {"input_tokens": 55, "cache_read_input_tokens": 15, "cache_creation_input_tokens": 3}
    assert checks.billed_prompt(usage, "messages") == 73
    assert checks.billed_prompt({"input_tokens": 52, "cache_read_input_tokens": None}, "messages") == 52


def test_billed_prompt_does_not_mix_field_names():
    with pytest.raises(ConformanceFailure, match="usage.input_tokens is not an integer"):
        checks.billed_prompt({"prompt_tokens": 71}, "responses")
    with pytest.raises(ConformanceFailure, match="no usage reported"):
        checks.billed_prompt(None, "chat")
    with pytest.raises(ValueError, match="unknown api"):
        checks.billed_prompt({"prompt_tokens": 1}, "embeddings")


def test_reported_details_only_lists_modality_fields():
    usage = {"prompt_tokens": 71, "prompt_tokens_details": {"cached_tokens": 15, "image_tokens": 19,
                                                            "audio_tokens": None}}
    assert checks.reported_details(usage) == {"image_tokens": 19}
    assert checks.reported_details({"prompt_tokens": 71}) == {}
    assert checks.reported_details(None) == {}


def test_case_ids_are_unique_and_name_shape_and_medium():
    ids = [c.id for c in mod.ACCEPTED]
    assert len(ids) == len(set(ids))
    for case in mod.ACCEPTED:
        assert case.id.startswith(f"{case.shape}-{case.key}")
    pair_ids = [c.blocking().id for c in mod.PAIRS]
    assert len(pair_ids) == len(set(pair_ids))


@pytest.mark.parametrize("case", [pytest.param(c, id=f"{kind}-{c.id}")
                                  for kind, cases in (("accepted", mod.ACCEPTED), ("pair", mod.PAIRS)) for c in cases])
def test_cases_use_known_shapes_and_media(case):
    assert case.key in media.CATALOG
    assert case.shape in SHAPES[case.modality]
    assert case.api in ("chat", "responses", "messages")


def test_expensive_media_only_in_the_full_tier():
    """Audio costs seconds of prefill per clip: only WAV in the basic tier; FLAC, MP3, the large
    image and the MP4 with an audio track are opt-in."""
    basic = {c.key for c in mod.ACCEPTED if c.tier == "basic"}
    assert basic.isdisjoint({"flac-1s", "mp3-1s", "png-large", "mp4-1s-audio", "wav-3s"})
    assert {c.key for c in mod.ACCEPTED if c.tier == "full"} >= {"flac-1s", "mp3-1s", "png-large"}
    assert mod.ITEMS["two-vs-one"][3] == "basic"
    assert {k for k, v in mod.ITEMS.items() if v[3] == "full"} == {"six-vs-two", "large-vs-small"}


def test_items_compare_distinct_media():
    for more, fewer, _, _ in mod.ITEMS.values():
        assert len(set(more)) == len(more) and len(set(fewer)) == len(fewer)
        assert all(media.CATALOG[k].kind == "image" for k in (*more, *fewer))
