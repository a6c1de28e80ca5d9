"""``python -m conformance.faults --upstream URL [--listen HOST:PORT] [--fault NAME[,NAME…]]…``
and ``python -m conformance.faults --list``.

Starts the fault-injecting proxy, prints ``FAULT_PROXY_URL=http://HOST:PORT`` on its own line
(stdout) when it accepts connections, logs one redacted line per exchange on stderr, and serves
until Ctrl-C / SIGTERM. Exit codes: 0 after a normal stop, 2 for usage errors (an unknown fault,
a malformed ``--listen``), 1 when the address cannot be bound.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from conformance.faults.proxy import FaultProxy
from conformance.faults.model import Fault
from conformance.faults.table import FAULTS, UnknownFault, resolve
from conformance.harness.client import Timeouts
from conformance.harness.failures import UsageError
from conformance.harness.redaction import redact_url


_DEFAULTS = Timeouts()


def _stderr(line: str) -> None:
    print(f"fault-proxy: {line}", file=sys.stderr, flush=True)


def format_table(faults: list[Fault] | None = None) -> str:
    """NAME, KIND (fault / neutral), REQUIREMENTS, DESCRIPTION — one row per fault."""
    rows = [("NAME", "KIND", "REQUIREMENTS", "DESCRIPTION")]
    for fault in faults if faults is not None else list(FAULTS.values()):
        rows.append((fault.name, "neutral" if fault.neutral else "fault",
                     ",".join(fault.requirements) or "-", fault.description))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(
        f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip() for r in rows)


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise UsageError(f"--listen expects HOST:PORT, got {value!r}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        number = int(port)
    except ValueError:
        raise UsageError(f"--listen port is not a number: {port!r}") from None
    if not 0 <= number <= 65535:
        raise UsageError(f"--listen port out of range: {number}")
    return host, number


class _Terminated(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.faults",
        description="Fault-injecting reverse proxy for OpenAI/Anthropic-compatible endpoints.")
    parser.add_argument("--upstream", metavar="URL", help="the endpoint to forward to, e.g. http://127.0.0.1:8080")
    parser.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT",
                        help="address to listen on (default 127.0.0.1:0, a free port)")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME[,NAME…]",
                        help="fault(s) to apply; repeatable; none = plain pass-through")
    parser.add_argument("--list", action="store_true", help="list the faults and exit")
    parser.add_argument("--seed", type=int, default=0, help="seed for the faults' random choices (default 0)")
    parser.add_argument("--timeout", type=float, default=_DEFAULTS.total_s, metavar="S",
                        help=f"total time per upstream exchange (default {_DEFAULTS.total_s:g})")
    parser.add_argument("--read-timeout", type=float, default=_DEFAULTS.read_s, metavar="S",
                        help=f"time to the upstream response headers (default {_DEFAULTS.read_s:g})")
    parser.add_argument("--stream-idle-timeout", type=float, default=_DEFAULTS.stream_idle_s, metavar="S",
                        help=f"maximum silence inside an upstream stream (default {_DEFAULTS.stream_idle_s:g})")
    parser.add_argument("--write-pause-ms", type=float, default=1.0, metavar="MS",
                        help="pause between the writes of one event (split-bytes; default 1)")
    parser.add_argument("--latency-ms", type=float, default=0.0, metavar="MS",
                        help="hold every request this long before forwarding it (a remote endpoint's latency; "
                             "neutral: changes no verdict)")
    parser.add_argument("--quiet", action="store_true", help="no per-exchange log lines")
    args = parser.parse_args(argv)

    if args.list:
        print(format_table())
        return 0
    if not args.upstream:
        parser.print_usage(sys.stderr)
        print("error: --upstream URL is required (or --list)", file=sys.stderr)
        return 2
    try:
        host, port = _listen(args.listen)
        faults = resolve(args.fault)
        proxy = FaultProxy(
            args.upstream, [f.name for f in faults], host, port,
            timeouts=Timeouts(read_s=args.read_timeout, stream_idle_s=args.stream_idle_timeout, total_s=args.timeout),
            seed=args.seed, write_pause_s=max(args.write_pause_ms, 0.0) / 1000.0,
            latency_s=max(args.latency_ms, 0.0) / 1000.0,
            log=None if args.quiet else _stderr)
    except UnknownFault as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        raise _Terminated()

    signal.signal(signal.SIGTERM, on_signal)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_signal)
    try:
        url = proxy.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.listen}: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"FAULT_PROXY_URL={url}", flush=True)
        kinds = ", ".join(f"{f.name}" + (" (neutral)" if f.neutral else "") for f in faults) or "none"
        _stderr(f"forwarding {url} → {redact_url(proxy.upstream)}; faults: {kinds}; Ctrl-C to stop")
        while not stop.wait(0.5):
            pass
    except (KeyboardInterrupt, _Terminated):
        _stderr("stopping")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the shutdown
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        proxy.stop()
        if proxy.hook_errors:
            _stderr("fault hooks raised: " + ", ".join(f"{n} {c}×" for n, c in sorted(proxy.hook_errors.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
