"""Profiles load and cite real requirements; datasets follow their schema and style rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from conformance.harness import profiles
from conformance.harness.capabilities import CAPABILITIES
from conformance.harness.datasets import datasets_root, load
from conformance.harness.failures import UsageError
from conformance.harness.requirements import load_catalog
from conformance.harness.schemas import available_flavors

CATALOG = load_catalog()
SHIPPED = profiles.available()


def test_required_profiles_are_shipped():
    assert {"reference", "nim", "vllm", "hosted", "nim-omni", "reference-multimodal"} <= set(SHIPPED)


def test_nim_omni_declares_what_the_seed_documents():
    """Nemotron 3 Nano Omni on NIM for VLMs (seed 003): chat only, NIM's media part shapes, the
    media controls, reasoning on by default with the documented off switch."""
    prof = profiles.load("nim-omni")
    assert {"chat", "streaming", "vision", "audio", "video", "media_io_kwargs", "audio_in_video", "reasoning",
            "thinking_toggle", "reasoning_budget"} <= prof.capabilities
    assert not {"completions", "responses", "messages", "count_tokens"} & prof.capabilities  # not documented
    assert prof.reasoning_field == "reasoning" and prof.setting("api_key_env") == "NGC_API_KEY"
    assert prof.setting("media_shapes") == {"image": ["image_url"], "audio": ["audio_url"], "video": ["video_url"]}
    assert prof.setting("input_modalities") == ["text", "image", "audio", "video"]
    assert prof.setting("media_formats") == {"image": ["gif", "jpeg", "png"], "audio": ["wav", "mp3", "flac"],
                                             "video": ["mp4"]}  # the page's format table: no WebP
    assert prof.setting("reasoning_default") == "on" and prof.setting("reasoning_token_allowance") >= 4096
    assert prof.setting("reasoning_off") == {"chat": {"chat_template_kwargs": {"enable_thinking": False}}}
    assert profiles.load("nim").setting("input_modalities") == ["text"]  # Nemotron 3 Ultra: "text-only"


@pytest.mark.parametrize("name", SHIPPED)
def test_profile_loads_and_cites_known_requirements(name):
    prof = profiles.load(name)
    assert prof.capabilities <= CAPABILITIES.keys()
    assert set(prof.schema_flavors) <= set(available_flavors())
    for dev in prof.deviations:
        assert dev.requirement in CATALOG, f"{name}: deviation for unknown {dev.requirement}"
        assert CATALOG[dev.requirement].status != "retired"
        assert len(dev.evidence) >= 20, f"{name}: {dev.requirement} evidence too thin"


def test_profile_rejects_unknown_capability(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('name="x"\ndescription="d"\nserver="s"\ncapabilities=["telepathy"]\n')
    with pytest.raises(UsageError, match="unknown capabilities"):
        profiles.load(str(path))


def test_profile_rejects_deviation_without_evidence(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('name="x"\ndescription="d"\nserver="s"\n[[deviations]]\nrequirement="OAI-CHAT-001"\nreason="r"\n')
    with pytest.raises(UsageError, match="evidence"):
        profiles.load(str(path))


def test_deviation_case_filter():
    dev = profiles.Deviation("OAI-ERR-001", "r", "e" * 20, cases=("empty-messages",))
    assert dev.applies_to("empty-messages") and not dev.applies_to("malformed-json") and not dev.applies_to(None)


DATASET_SCHEMA = json.loads((datasets_root() / "dataset.schema.json").read_text())
FILES = sorted(p.relative_to(datasets_root()).as_posix() for p in datasets_root().rglob("*.json")
               if not p.name.endswith(".schema.json"))  # eval-set.schema.json: tests/test_eval_sets.py


@pytest.mark.parametrize("rel", FILES)
def test_dataset_is_schema_valid(rel):
    jsonschema.Draft202012Validator(DATASET_SCHEMA).validate(json.loads((datasets_root() / rel).read_text()))


@pytest.mark.parametrize("rel", FILES)
def test_dataset_ids_unique_and_descriptions_declarative(rel):
    cases = load(rel)
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids))
    for c in cases:
        assert not re.search(r"\b(should|test that)\b", c.description, re.I), c.description
        assert set(c.requires) <= CAPABILITIES.keys()
