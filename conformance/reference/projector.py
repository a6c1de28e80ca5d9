"""A random-weight multimodal projector for the embedded reference (issue 10 groundwork).

llama-server accepts images and audio when started with ``--mmproj FILE``: a "clip" GGUF holding
an encoder and a projection into the text model's embedding space. Conformance needs the server's
real media pipeline (decoding, preprocessing, encoding, token accounting, errors), not meaningful
answers, so an encoder with **random weights** serves: this module writes one with the PyPI
``gguf`` package (the ``reference`` extra), deterministically from a seed, in well under a second.
Nothing is downloaded. Facts and source citations: ``shared/reference/multimodal.md`` section 3;
measurements against the reference: ``docs/multimodal-reference.md``.

The file carries both modalities:

* vision: projector type ``gemma3`` (a 1-block SigLIP-style ViT, width 64, 224 px images in 14 px
  patches -> 16x16 patches, averaged to 4x4 = **16 image embeddings** per image);
* audio: a 1-block Whisper-style encoder (128 mel bins; every clip of up to 30 s becomes 3000 mel
  frames -> 1500 encoder positions) with projector type ``ultravox`` (default: positions stacked by
  10 -> **150 audio embeddings** per clip) or ``qwen2a`` (``audio="qwen2a"``: pooled -> 750).

Both project to :data:`GEMMA3_270M_EMBD` (640), the only thing llama.cpp checks against the text
model (``tools/mtmd/mtmd.cpp``: projector output size == ``llama_model_n_embd_inp``).

``prepare`` writes it into the cache (:func:`ensure_projector`); the reference configuration
``multimodal`` starts llama-server with ``--mmproj`` pointing at it. The text-only configurations stay
the default.
Usage: ``python -m conformance.reference.projector OUT.gguf``.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

#: Gemma 3 270M's ``embedding_length``: the projector's output width must equal it.
GEMMA3_270M_EMBD = 640
#: Bump when the file's contents change, so a cached projector is rewritten.
PROJECTOR_VERSION = 1
PROJECTOR_FILENAME = f"mmproj-random-v{PROJECTOR_VERSION}.gguf"

WIDTH = 64  # encoder width (both modalities)
FF = 128  # feed-forward width (must differ from WIDTH: clip.cpp guesses up/down from shapes)
HEADS = 2
BLOCKS = 1
IMAGE_SIZE = 224
PATCH_SIZE = 14
MEL_BINS = 128
AUDIO_POSITIONS = 1500  # whisper-enc needs >= 1500 rows
#: Audio projector types this module writes: ``qwen2a`` (one linear layer; 750 embeddings per
#: clip of up to 30 s) or ``ultravox`` (frames stacked by STACK_FACTOR first: 1500/10 = 150).
AUDIO_PROJECTORS = ("qwen2a", "ultravox")
DEFAULT_AUDIO = "ultravox"  # 4x fewer audio tokens than qwen2a: 1 s clip ~3.9 s vs ~10 s (measured)
#: Must divide the encoder's 1500 positions: with 8 this llama-server build counts 187 output
#: tokens but the graph pads to 188, and the server aborts ("clip_encode: expected output 187
#: tokens, got 188"; measured). 10 -> 150 audio embeddings per clip.
STACK_FACTOR = 10
ULTRAVOX_HIDDEN = 64


def _check_audio(audio: str) -> None:
    if audio not in AUDIO_PROJECTORS:
        raise ValueError(f"audio projector must be one of {AUDIO_PROJECTORS}, got {audio!r}")


def _gguf() -> Any:
    try:
        import gguf
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "the PyPI package 'gguf' is needed to write the projector: pip install -e '.[reference]'"
        ) from exc
    return gguf


def _block(prefix: str, rng: Any, np: Any, *, k_bias: bool) -> dict[str, Any]:
    """One transformer block's tensors (numpy shapes, i.e. reversed ggml ``ne``)."""
    t: dict[str, Any] = {}
    for ln in ("ln1", "ln2"):
        t[f"{prefix}.{ln}.weight"] = np.ones(WIDTH, dtype=np.float32)
        t[f"{prefix}.{ln}.bias"] = np.zeros(WIDTH, dtype=np.float32)
    for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
        t[f"{prefix}.{name}.weight"] = _rand(rng, np, (WIDTH, WIDTH))
        if name != "attn_k" or k_bias:
            t[f"{prefix}.{name}.bias"] = _rand(rng, np, (WIDTH,))
    t[f"{prefix}.ffn_up.weight"] = _rand(rng, np, (FF, WIDTH))
    t[f"{prefix}.ffn_up.bias"] = _rand(rng, np, (FF,))
    t[f"{prefix}.ffn_down.weight"] = _rand(rng, np, (WIDTH, FF))
    t[f"{prefix}.ffn_down.bias"] = _rand(rng, np, (WIDTH,))
    return t


def _rand(rng: Any, np: Any, shape: tuple[int, ...], scale: float = 0.02, dtype: Any = None) -> Any:
    return (rng.standard_normal(shape) * scale).astype(dtype or np.float32)


def tensors(seed: int = 0, *, n_embd: int = GEMMA3_270M_EMBD, audio: str = DEFAULT_AUDIO) -> dict[str, Any]:
    """Every tensor of the projector, by GGUF name, as numpy arrays (deterministic for a seed)."""
    import numpy as np

    _check_audio(audio)

    rng = np.random.default_rng(seed)
    t: dict[str, Any] = {}
    # ---- vision (gemma3)
    n_patches = (IMAGE_SIZE // PATCH_SIZE) ** 2
    t["v.patch_embd.weight"] = _rand(rng, np, (WIDTH, 3, PATCH_SIZE, PATCH_SIZE))
    t["v.patch_embd.bias"] = _rand(rng, np, (WIDTH,))
    t["v.position_embd.weight"] = _rand(rng, np, (n_patches, WIDTH))
    for b in range(BLOCKS):
        t.update(_block(f"v.blk.{b}", rng, np, k_bias=True))
    t["v.post_ln.weight"] = np.ones(WIDTH, dtype=np.float32)
    t["v.post_ln.bias"] = np.zeros(WIDTH, dtype=np.float32)
    t["mm.soft_emb_norm.weight"] = np.ones(WIDTH, dtype=np.float32)
    t["mm.input_projection.weight"] = _rand(rng, np, (WIDTH, n_embd))
    # ---- audio (whisper encoder; then the qwen2a or ultravox projection)
    t["a.conv1d.1.weight"] = _rand(rng, np, (WIDTH, MEL_BINS, 3), dtype=np.float16)
    t["a.conv1d.1.bias"] = _rand(rng, np, (WIDTH, 1))
    t["a.conv1d.2.weight"] = _rand(rng, np, (WIDTH, WIDTH, 3), dtype=np.float16)
    t["a.conv1d.2.bias"] = _rand(rng, np, (WIDTH, 1))
    t["a.position_embd.weight"] = _rand(rng, np, (AUDIO_POSITIONS, WIDTH))
    for b in range(BLOCKS):
        t.update(_block(f"a.blk.{b}", rng, np, k_bias=False))  # whisper-enc: no attn_k bias
    t["a.post_ln.weight"] = np.ones(WIDTH, dtype=np.float32)
    t["a.post_ln.bias"] = np.zeros(WIDTH, dtype=np.float32)
    if audio == "qwen2a":
        t["mm.a.fc.weight"] = _rand(rng, np, (n_embd, WIDTH))
        t["mm.a.fc.bias"] = _rand(rng, np, (n_embd,))
    else:  # ultravox: stack STACK_FACTOR frames, RMS-norm, SwiGLU MLP, RMS-norm, project
        stacked = WIDTH * STACK_FACTOR
        t["mm.a.norm_pre.weight"] = np.ones(stacked, dtype=np.float32)
        t["mm.a.mlp.1.weight"] = _rand(rng, np, (2 * ULTRAVOX_HIDDEN, stacked))
        t["mm.a.norm_mid.weight"] = np.ones(ULTRAVOX_HIDDEN, dtype=np.float32)
        t["mm.a.mlp.2.weight"] = _rand(rng, np, (n_embd, ULTRAVOX_HIDDEN))
    return t


def metadata(*, n_embd: int = GEMMA3_270M_EMBD, audio: str = DEFAULT_AUDIO) -> dict[str, Any]:
    """The key/value metadata (beyond ``general.architecture``), by key."""
    _check_audio(audio)
    kv: dict[str, Any] = {
        "general.name": f"llmconf random-weight projector (gemma3 vision + {audio} audio)",
        "general.description": "random weights for conformance testing; answers are meaningless",
        "clip.has_vision_encoder": True,
        "clip.has_audio_encoder": True,
        "clip.use_gelu": True,
        # one file, two modalities: only the per-modality projector types (the plain
        # clip.projector_type would win for both)
        "clip.vision.projector_type": "gemma3",
        "clip.audio.projector_type": audio,
        "clip.vision.image_size": IMAGE_SIZE,
        "clip.vision.patch_size": PATCH_SIZE,
        "clip.vision.image_mean": [0.5, 0.5, 0.5],
        "clip.vision.image_std": [0.5, 0.5, 0.5],
        "clip.vision.projector.scale_factor": 4,
        "clip.audio.num_mel_bins": MEL_BINS,
    }
    if audio == "ultravox":
        kv["clip.audio.projector.stack_factor"] = STACK_FACTOR
    for m in ("vision", "audio"):
        kv[f"clip.{m}.embedding_length"] = WIDTH
        kv[f"clip.{m}.attention.head_count"] = HEADS
        kv[f"clip.{m}.feed_forward_length"] = FF
        kv[f"clip.{m}.block_count"] = BLOCKS
        kv[f"clip.{m}.projection_dim"] = n_embd
        kv[f"clip.{m}.attention.layer_norm_epsilon"] = 1e-6
    return kv


def write_projector(
    path: Path, *, seed: int = 0, n_embd: int = GEMMA3_270M_EMBD, audio: str = DEFAULT_AUDIO
) -> Path:
    """Write the projector GGUF to ``path`` (atomically: a temporary file renamed into place)."""
    gguf = _gguf()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), arch="clip")
    for key, value in metadata(n_embd=n_embd, audio=audio).items():
        if isinstance(value, bool):
            writer.add_bool(key, value)
        elif isinstance(value, int):
            writer.add_uint32(key, value)
        elif isinstance(value, float):
            writer.add_float32(key, value)
        elif isinstance(value, str):
            writer.add_string(key, value)
        elif isinstance(value, list):
            writer.add_array(key, value)
        else:  # pragma: no cover - metadata() only has the types above
            raise TypeError(f"{key}: unsupported metadata type {type(value).__name__}")
    for name, array in tensors(seed, n_embd=n_embd, audio=audio).items():
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(path)
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def projector_path() -> Path:
    """Where ``prepare`` keeps the projector: next to the model in the suite's cache."""
    from conformance.reference._common import cache_dir  # noqa: PLC0415

    return cache_dir() / "models" / PROJECTOR_FILENAME


def ensure_projector(progress: Any = None) -> Path:
    """The cached projector, written (deterministically, < 1 s) when absent. The file name carries
    :data:`PROJECTOR_VERSION`, so a changed layout is written anew rather than reused."""
    path = projector_path()
    if path.is_file() and path.stat().st_size > 0:
        return path
    if progress is not None:
        progress(f"writing the random-weight multimodal projector to {path}")
    return write_projector(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.reference.projector", description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="where to write the GGUF")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--audio", choices=AUDIO_PROJECTORS, default=DEFAULT_AUDIO)
    args = parser.parse_args(argv)
    out = write_projector(args.output, seed=args.seed, audio=args.audio)
    print(f"{out} {out.stat().st_size} bytes sha256={digest(out)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
