"""`python -m breakwater.devtools.upstream`: the upstream as a process.

A backend that can be killed and started again like a real one: the
behaviour comes from flags, the first line printed names the address, and
it serves until SIGINT or SIGTERM. `--policies DIR` starts every HTTP
upstream a policy directory names instead, each on its own port, and an
OTLP sink (`breakwater.devtools.otlp`) for each collector its Telemetries
export to, which prints what it receives.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from breakwater.devtools.otlp import OtlpReceiver
from breakwater.devtools.ports import LOOPBACK
from breakwater.devtools.upstream.behavior import Behavior
from breakwater.devtools.upstream.policies import Endpoint, endpoints_of
from breakwater.devtools.upstream.server import Upstream


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m breakwater.devtools.upstream",
        description="An HTTP upstream that names itself in every response and fails on request.",
    )
    parser.add_argument(
        "--policies",
        metavar="DIR",
        type=Path,
        help="start one upstream for each endpoint of every HTTP Service in this policy "
        "directory, on its address and port, and an OTLP sink for each collector its "
        "Telemetries export to (--host, --port, --service, --subset and --instance are then "
        "taken from the directory)",
    )
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, default=0, help="0 lets the kernel choose")
    parser.add_argument("--service", default="upstream")
    parser.add_argument("--subset", default="default")
    parser.add_argument("--instance", default=None, help="default: SERVICE-SUBSET-PORT")
    parser.add_argument("--fail-fraction", type=float, default=0.0)
    parser.add_argument("--fail-every", type=int, default=0)
    parser.add_argument("--fail-status", type=int, default=503)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each request")
    parser.add_argument(
        "--capacity",
        type=int,
        default=0,
        help="requests served at full speed at once; past it latency grows with concurrency",
    )
    parser.add_argument("--reset-fraction", type=float, default=0.0)
    parser.add_argument("--reset-every", type=int, default=0)
    parser.add_argument("--unhealthy", action="store_true", help="/health answers 503")
    parser.add_argument("--seed", type=int, default=None)
    return parser.parse_args(argv)


def _sink(endpoint: Endpoint) -> OtlpReceiver:
    def heard(what: str, count: int) -> None:
        print(f"otlp {endpoint.instance} received {what}: {count}", flush=True)

    return OtlpReceiver(endpoint.address, endpoint.port, heard, keep=False)


async def _serve_until_signalled(
    upstreams: list[Upstream], sinks: list[tuple[str, OtlpReceiver]]
) -> None:
    started: list[Upstream] = []
    listening: list[OtlpReceiver] = []
    try:
        for name, sink in sinks:
            listening.append(sink.start())
            print(f"otlp {name} listening on {sink.host}:{sink.port}", flush=True)
        for upstream in upstreams:
            await upstream.start()
            started.append(upstream)
            # Whoever started the process reads this line to learn the port it asked 0 for.
            print(f"upstream {upstream.instance} listening on {upstream.url}", flush=True)
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopped.set)
        await stopped.wait()
    finally:
        for upstream in started:
            await upstream.stop()
        for sink in listening:
            sink.stop()


def _from_policies(
    directory: Path, behavior: Behavior
) -> tuple[list[Upstream], list[tuple[str, OtlpReceiver]]]:
    endpoints, skipped = endpoints_of(directory)
    for service in skipped:
        print(f"left out {service.service}: {service.reason}", flush=True)
    sinks = [(endpoint.instance, _sink(endpoint)) for endpoint in endpoints if endpoint.otlp]
    upstreams = [
        Upstream(
            service=endpoint.service,
            subset=endpoint.subset,
            instance=endpoint.instance,
            host=endpoint.address,
            port=endpoint.port,
            behavior=behavior,
        )
        for endpoint in endpoints
        if not endpoint.otlp
    ]
    return upstreams, sinks


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        behavior = Behavior(
            fail_fraction=args.fail_fraction,
            fail_every=args.fail_every,
            fail_status=args.fail_status,
            latency=args.latency,
            capacity=args.capacity,
            reset_fraction=args.reset_fraction,
            reset_every=args.reset_every,
            healthy=not args.unhealthy,
            seed=args.seed,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.policies is not None:
        if not args.policies.is_dir():
            print(f"error: {args.policies} is not a directory", file=sys.stderr)
            return 2
        upstreams, sinks = _from_policies(args.policies, behavior)
        if not upstreams:
            print(f"error: {args.policies} has no HTTP Service with endpoints", file=sys.stderr)
            return 2
    else:
        sinks = []
        upstreams = [
            Upstream(
                service=args.service,
                subset=args.subset,
                instance=args.instance,
                host=args.host,
                port=args.port,
                behavior=behavior,
            )
        ]
    try:
        asyncio.run(_serve_until_signalled(upstreams, sinks))
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
