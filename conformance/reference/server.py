"""Run the reference endpoint: a ``llama-server`` child process on a loopback port.

::

    with ReferenceServer("qwen3") as url:      # "http://127.0.0.1:PORT"
        ...

The process is never left behind: :meth:`ReferenceServer.stop` (SIGTERM, then SIGKILL after 10 s)
runs on ``__exit__``, at interpreter exit (``atexit``) and, when started from the main thread on
Linux, the kernel sends the server SIGTERM if the Python process dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import IO

from conformance.harness.redaction import redact

from conformance.reference._common import (
    Progress,
    ReferenceSetupError,
    print_to_stderr,
    tail,
)
from conformance.reference.configs import DEFAULT_CONFIG, ReferenceConfig, get_config, with_slots

DEFAULT_LOG_PATH = Path("reports/reference-server.log")
START_TIMEOUT_S = 120.0
STOP_GRACE_S = 10.0

_RUNNING: weakref.WeakSet[ReferenceServer] = weakref.WeakSet()


def _stop_all_at_exit() -> None:
    for server in list(_RUNNING):
        with contextlib.suppress(Exception):  # best effort at exit
            server.stop()


atexit.register(_stop_all_at_exit)


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on ``host`` (the OS picks it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _pdeathsig_preexec() -> None:  # pragma: no cover - runs in the child
    """Ask the kernel to SIGTERM the child when its parent (thread) dies (Linux only)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except Exception:  # noqa: BLE001
        pass


def _child_env() -> dict[str, str]:
    # llama-server reads LLAMA_ARG_* (and a few other) variables as flag defaults: drop them so a
    # developer's shell cannot silently change the reference configuration.
    return {k: v for k, v in os.environ.items() if not k.startswith(("LLAMA_ARG_", "LLAMA_API_KEY"))}


class ReferenceServer:
    """One ``llama-server`` serving the reference model under a named configuration."""

    def __init__(
        self,
        config_name: str = DEFAULT_CONFIG,
        log_path: Path | str = DEFAULT_LOG_PATH,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        api_key: str | None = None,
        binary: Path | None = None,
        model: Path | None = None,
        start_timeout: float = START_TIMEOUT_S,
        extra_args: tuple[str, ...] = (),
        progress: Progress = print_to_stderr,
        slots: int | None = None,
    ) -> None:
        #: ``slots``: serve that many requests at once (more than the configuration's own only)
        self.config: ReferenceConfig = with_slots(get_config(config_name), slots)
        self.log_path = Path(log_path)
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.api_key = api_key
        self.binary = binary
        self.model = model
        self.start_timeout = start_timeout
        self.extra_args = tuple(extra_args)
        self.progress = progress
        self.command: list[str] = []
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_offset = 0
        self._lock = threading.Lock()

    # -- info ---------------------------------------------------------------------------------

    @property
    def model_id(self) -> str:
        return self.config.model_id

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise ReferenceSetupError("the reference server is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines, start=self._log_offset)

    # -- lifecycle ----------------------------------------------------------------------------

    def _mmproj_args(self) -> list[str]:
        if not self.config.multimodal:
            return []
        from conformance.reference.projector import ensure_projector  # noqa: PLC0415

        return ["--mmproj", str(ensure_projector(progress=self.progress))]

    def build_command(self, port: int) -> list[str]:
        from conformance.reference.build import ensure_llama_server, supports_flag, templates_dir
        from conformance.reference.model import ensure_model

        binary = self.binary or ensure_llama_server(progress=self.progress)
        model = self.model or ensure_model(progress=self.progress)
        template = templates_dir(binary) / self.config.template
        if not template.is_file():
            raise ReferenceSetupError(f"chat template {template} not found")
        cmd = [
            str(binary),
            "--model", str(model),
            *self.config.server_args(),
            "--chat-template-file", str(template),
            *self._mmproj_args(),
            "--host", self.host,
            "--port", str(port),
        ]
        for flag in ("--no-webui", "--offline"):
            if supports_flag(binary, flag):
                cmd.append(flag)
        # The API key never goes on the command line (visible in `ps` and in the log header): it is
        # passed in the LLAMA_API_KEY environment variable, which llama-server reads for --api-key.
        cmd += list(self.extra_args)
        return cmd

    def start(self) -> str:
        """Launch the server and wait until ``GET /health`` answers 200; return the base URL."""
        with self._lock:
            if self.is_running():
                return self.base_url
            attempts = 1 if self.requested_port is not None else 3
            for attempt in range(1, attempts + 1):
                port = self.requested_port or free_port(self.host)
                try:
                    self._launch(port)
                    return self.base_url
                except _PortInUse:
                    if attempt == attempts:
                        raise ReferenceSetupError(
                            f"llama-server could not bind {self.host}:{port}\n{self.log_tail()}"
                        ) from None
            raise AssertionError("unreachable")  # pragma: no cover

    def _env(self) -> dict[str, str]:
        env = _child_env()
        if self.api_key:
            env["LLAMA_API_KEY"] = self.api_key
        return env

    def _launch(self, port: int) -> None:
        cmd = self.build_command(port)
        self.command = cmd
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._close_log()
        self._log = self.log_path.open("ab")
        self._log_offset = self._log.tell()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        auth = " (API key in $LLAMA_API_KEY)" if self.api_key else ""
        header = f"=== llmconf reference server: config={self.config.name} at {stamp}{auth}\n$ {redact(' '.join(cmd))}\n"
        self._log.write(header.encode())
        self._log.flush()
        main_thread = threading.current_thread() is threading.main_thread()
        started = time.monotonic()
        try:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=self._env(),
                start_new_session=True,  # a terminal's Ctrl-C reaches us, and we stop the server
                preexec_fn=_pdeathsig_preexec if (main_thread and sys.platform.startswith("linux")) else None,
            )
        except OSError as exc:
            self._close_log()
            raise ReferenceSetupError(f"could not start {cmd[0]}: {exc}") from exc
        self.port = port
        _RUNNING.add(self)
        try:
            self._wait_healthy(started)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = round(time.monotonic() - started, 2)

    def _wait_healthy(self, started: float) -> None:
        assert self._proc is not None and self.port is not None
        deadline = started + self.start_timeout
        while True:
            rc = self._proc.poll()
            if rc is not None:
                text = self.log_tail()
                self.port = None
                if "couldn't bind" in text or "Address already in use" in text:
                    raise _PortInUse()
                raise ReferenceSetupError(
                    f"llama-server exited with code {rc} during startup (log: {self.log_path}):\n{text}"
                )
            if _health_status(self.host, self.port) == 200:
                return
            if time.monotonic() > deadline:
                raise ReferenceSetupError(
                    f"llama-server did not become healthy within {self.start_timeout:.0f} s "
                    f"(log: {self.log_path}):\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def stop(self) -> int | None:
        """Terminate the server (SIGTERM, SIGKILL after 10 s). Returns its exit code, if any."""
        proc, self._proc = self._proc, None
        rc: int | None = None
        if proc is not None:
            if proc.poll() is None:
                try:
                    with contextlib.suppress(ProcessLookupError):
                        proc.terminate()
                    try:
                        rc = proc.wait(timeout=STOP_GRACE_S)
                    except subprocess.TimeoutExpired:
                        with contextlib.suppress(ProcessLookupError):
                            proc.kill()
                        rc = proc.wait()
                except BaseException:
                    # Interrupted while waiting (e.g. a second Ctrl-C): never leave it behind.
                    with contextlib.suppress(OSError):
                        proc.kill()
                    proc.wait()
                    raise
            else:
                rc = proc.returncode
        _RUNNING.discard(self)
        self.port = None
        self._close_log()
        return rc

    def _close_log(self) -> None:
        if self._log is not None:
            try:
                self._log.close()
            finally:
                self._log = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:  # pragma: no cover - safety net
        try:
            if self._proc is not None and self._proc.poll() is None:
                self.stop()
        except Exception:  # noqa: BLE001
            pass

    def __repr__(self) -> str:
        state = f"running at {self.base_url}" if self.is_running() else "stopped"
        return f"<ReferenceServer config={self.config.name!r} model={self.model_id!r} {state}>"


class _PortInUse(Exception):
    pass


def _health_status(host: str, port: int) -> int | None:
    """``GET /health`` status, or ``None`` if not reachable (no proxies involved)."""
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
