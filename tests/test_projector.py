"""The random-weight projector for the multimodal reference is written deterministically with the
keys and tensor shapes llama.cpp's clip loader needs (shared/reference/multimodal.md section 3).
Loading it into llama-server is measured by hand (docs/multimodal-reference.md), not here."""

from __future__ import annotations

import pytest

from conformance.reference import projector

gguf = pytest.importorskip("gguf", reason="the PyPI package 'gguf' is not installed (pip install -e '.[reference]')")


@pytest.fixture(scope="module", params=projector.AUDIO_PROJECTORS)
def written(request, tmp_path_factory):
    path = projector.write_projector(
        tmp_path_factory.mktemp("mmproj") / projector.PROJECTOR_FILENAME, audio=request.param
    )
    return path, gguf.GGUFReader(str(path))


def _audio_type(reader) -> str:
    return reader.fields["clip.audio.projector_type"].contents()


def test_is_deterministic_and_small(written, tmp_path):
    path, reader = written
    audio = _audio_type(reader)
    again = projector.write_projector(tmp_path / "again.gguf", audio=audio)
    assert projector.digest(again) == projector.digest(path)
    other = projector.write_projector(tmp_path / "seed1.gguf", seed=1, audio=audio)
    assert projector.digest(other) != projector.digest(path)
    assert 1_000_000 < path.stat().st_size < 2_000_000
    assert not path.with_name(path.name + ".tmp").exists()


def test_metadata_declares_both_modalities(written):
    _, reader = written
    fields = {name: field.contents() for name, field in reader.fields.items()}
    assert fields["general.architecture"] == "clip"
    assert fields["clip.has_vision_encoder"] is True and fields["clip.has_audio_encoder"] is True
    assert fields["clip.vision.projector_type"] == "gemma3"
    assert fields["clip.audio.projector_type"] in projector.AUDIO_PROJECTORS
    if fields["clip.audio.projector_type"] == "ultravox":
        # the stack factor must divide the 1500 encoder positions (else this server aborts)
        assert 1500 % fields["clip.audio.projector.stack_factor"] == 0
    assert "clip.projector_type" not in fields  # it would override both per-modality types
    assert len(fields["clip.vision.image_mean"]) >= 3 and len(fields["clip.vision.image_std"]) >= 3
    assert 1 <= fields["clip.audio.num_mel_bins"] <= 256
    for m in ("vision", "audio"):
        for key in ("embedding_length", "attention.head_count", "feed_forward_length", "block_count",
                    "projection_dim", "attention.layer_norm_epsilon"):
            assert f"clip.{m}.{key}" in fields, (m, key)
    assert fields["clip.vision.feed_forward_length"] != fields["clip.vision.embedding_length"]


def test_tensors_have_the_shapes_the_loader_expects(written):
    _, reader = written
    shapes = {t.name: tuple(int(d) for d in reversed(t.shape)) for t in reader.tensors}  # numpy order
    types = {t.name: t.tensor_type for t in reader.tensors}
    embd = projector.GEMMA3_270M_EMBD
    # the text model's embedding width: the only check llama.cpp makes against the text model
    assert shapes["mm.input_projection.weight"] == (projector.WIDTH, embd)
    if _audio_type(reader) == "qwen2a":
        assert shapes["mm.a.fc.weight"] == (embd, projector.WIDTH)
        assert "mm.a.mlp.1.weight" not in shapes
    else:
        stacked = projector.WIDTH * projector.STACK_FACTOR
        assert shapes["mm.a.norm_pre.weight"] == (stacked,)
        assert shapes["mm.a.mlp.1.weight"] == (2 * projector.ULTRAVOX_HIDDEN, stacked)  # SwiGLU halves it
        assert shapes["mm.a.norm_mid.weight"] == (projector.ULTRAVOX_HIDDEN,)
        assert shapes["mm.a.mlp.2.weight"] == (embd, projector.ULTRAVOX_HIDDEN)
        assert "mm.a.fc.weight" not in shapes
    assert shapes["v.patch_embd.weight"] == (projector.WIDTH, 3, projector.PATCH_SIZE, projector.PATCH_SIZE)
    assert shapes["v.position_embd.weight"][0] == (projector.IMAGE_SIZE // projector.PATCH_SIZE) ** 2
    assert shapes["a.position_embd.weight"][0] >= 1500
    assert shapes["a.conv1d.1.weight"] == (projector.WIDTH, projector.MEL_BINS, 3)
    assert types["a.conv1d.1.weight"] == gguf.GGMLQuantizationType.F16
    assert types["v.blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.F32
    for prefix in ("v.blk.0", "a.blk.0"):
        for name in ("attn_q", "attn_k", "attn_v", "attn_out", "ffn_up", "ffn_down"):
            assert f"{prefix}.{name}.weight" in shapes
    assert "v.blk.0.attn_k.bias" in shapes
    assert "a.blk.0.attn_k.bias" not in shapes  # whisper-enc asserts k has no bias
    assert {"a.blk.0.attn_q.bias", "a.blk.0.attn_v.bias", "mm.soft_emb_norm.weight"} <= set(shapes)


def test_rejects_unknown_audio_projector(tmp_path):
    with pytest.raises(ValueError, match="audio projector"):
        projector.write_projector(tmp_path / "x.gguf", audio="whisper")


def test_multimodal_reference_configuration_uses_the_cached_projector(tmp_path, monkeypatch):
    from conformance.reference.configs import DEFAULT_CONFIG, REFERENCE_CONFIGS
    from conformance.reference.server import ReferenceServer

    monkeypatch.setenv("LLMCONF_CACHE_DIR", str(tmp_path))
    assert REFERENCE_CONFIGS["multimodal"].multimodal and not REFERENCE_CONFIGS[DEFAULT_CONFIG].multimodal
    assert ReferenceServer("nemotron", log_path=tmp_path / "x.log", progress=lambda m: None)._mmproj_args() == []
    args = ReferenceServer("multimodal", log_path=tmp_path / "y.log", progress=lambda m: None)._mmproj_args()
    path = tmp_path / "models" / projector.PROJECTOR_FILENAME
    assert args == ["--mmproj", str(path)] and path.stat().st_size > 0
    before = path.stat().st_mtime_ns
    assert projector.ensure_projector() == path and path.stat().st_mtime_ns == before  # cached, not rewritten
