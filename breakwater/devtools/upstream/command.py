"""`python -m breakwater.devtools.upstream`: the upstream as a process.

A backend that can be killed and started again like a real one: the
behaviour comes from flags, the first line printed names the address, and
it serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from breakwater.devtools.ports import LOOPBACK
from breakwater.devtools.upstream.behavior import Behavior
from breakwater.devtools.upstream.server import Upstream


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m breakwater.devtools.upstream",
        description="An HTTP upstream that names itself in every response and fails on request.",
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
    parser.add_argument("--reset-fraction", type=float, default=0.0)
    parser.add_argument("--reset-every", type=int, default=0)
    parser.add_argument("--unhealthy", action="store_true", help="/health answers 503")
    parser.add_argument("--seed", type=int, default=None)
    return parser.parse_args(argv)


async def _serve_until_signalled(upstream: Upstream) -> None:
    await upstream.start()
    # Whoever started the process reads this line to learn the port it asked 0 for.
    print(f"upstream {upstream.instance} listening on {upstream.url}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        await upstream.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        behavior = Behavior(
            fail_fraction=args.fail_fraction,
            fail_every=args.fail_every,
            fail_status=args.fail_status,
            latency=args.latency,
            reset_fraction=args.reset_fraction,
            reset_every=args.reset_every,
            healthy=not args.unhealthy,
            seed=args.seed,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    upstream = Upstream(
        service=args.service,
        subset=args.subset,
        instance=args.instance,
        host=args.host,
        port=args.port,
        behavior=behavior,
    )
    asyncio.run(_serve_until_signalled(upstream))
    return 0
