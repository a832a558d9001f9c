"""`breakwater endpoints register` and `deregister`: an instance announcing itself.

Without `--keepalive` it registers once (or renews) and exits: something else
renews. With it, it stays in the foreground beside the instance, as a
systemd companion unit or a sidecar container: it renews every third of the
TTL (so two renewals may be lost before the instance expires), and on
SIGTERM or Ctrl-C it deregisters, which drains the instance (no new
requests, those in flight finish), waits until the server has removed it,
and only then exits, so the instance can be stopped after it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import Any

from breakwater.cli.common import CommandFailed, parse_pairs
from breakwater.cli.remote import client_call, cmd_endpoints, show

RETRY_SECONDS = 1.0
"""How soon a renewal that failed (server unreachable, store unavailable) is tried again."""


def cmd_endpoints_or_instances(args: argparse.Namespace) -> int:
    """`endpoints register` and `deregister` here, the other actions in `remote`."""
    if args.action == "register":
        return cmd_register(args)
    if args.action == "deregister":
        return cmd_deregister(args)
    return cmd_endpoints(args)


def _body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"labels": parse_pairs(args.label or [], "label")}
    if args.zone is not None:
        body["zone"] = args.zone
    if args.weight is not None:
        body["weight"] = args.weight
    if args.ttl is not None:
        body["ttl"] = args.ttl
    return body


def _params(args: argparse.Namespace) -> dict[str, object]:
    return {"service": args.service, "instance": args.endpoint}


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cmd_register(args: argparse.Namespace) -> int:
    from breakwater.cli.tables import format_instance

    if args.endpoint is None:
        raise CommandFailed("`endpoints register` needs the instance: ADDRESS:PORT")
    body = _body(args)
    answer = client_call(args, "register_instance", _params(args), body)
    for warning in answer.get("warnings") or []:
        _say(f"warning: {warning}")
    if not args.keepalive:
        return show(args, answer, format_instance)
    return _keep_alive(args, body, answer)


def _keep_alive(args: argparse.Namespace, body: dict[str, Any], answer: dict[str, Any]) -> int:
    stop = threading.Event()

    def asked_to_stop(signum: int, _: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, asked_to_stop)
    signal.signal(signal.SIGINT, asked_to_stop)
    ttl = float(answer["ttl_seconds"])
    _say(
        f"registered {args.endpoint} with {args.service} (TTL {ttl:g}s); renewing every "
        f"{ttl / 3:g}s until SIGTERM, then draining and deregistering"
    )
    wait = ttl / 3
    while not stop.wait(wait):
        try:
            client_call(args, "register_instance", _params(args), body)
            wait = ttl / 3
        except CommandFailed as exc:
            _say(f"renewal failed, trying again in {RETRY_SECONDS:g}s: {exc}")
            wait = min(RETRY_SECONDS, ttl / 3)
    return _leave(args)


def _leave(args: argparse.Namespace) -> int:
    """Deregister (the server drains the instance), then wait until it is gone."""
    try:
        answer = client_call(args, "deregister_instance", _params(args))
    except CommandFailed as exc:
        if ": 404:" in str(exc):
            _say(f"{args.endpoint} was no longer registered")
            return 0
        raise
    drain = max(0.0, float(answer["expires_at"]) - time.time())
    _say(f"deregistered {args.endpoint}: draining for {drain:.1f}s")
    deadline = time.monotonic() + drain + 10.0
    while time.monotonic() < deadline:
        listed = client_call(args, "list_instances", {"service": args.service})
        if not any(i["endpoint"] == answer["endpoint"] for i in listed["instances"]):
            _say(f"{args.endpoint} drained and removed")
            return 0
        time.sleep(min(0.2, drain / 5 or 0.2))
    raise CommandFailed(
        f"{args.endpoint} is still registered {drain + 10:.0f}s after it was deregistered; "
        "`breakwater endpoints list` shows it, and the server's log says why"
    )


def cmd_deregister(args: argparse.Namespace) -> int:
    from breakwater.cli.tables import format_instance

    if args.endpoint is None:
        raise CommandFailed("`endpoints deregister` needs the instance: ADDRESS:PORT")
    return show(args, client_call(args, "deregister_instance", _params(args)), format_instance)
