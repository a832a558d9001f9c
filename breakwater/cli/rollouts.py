"""`rollout` and `history`: following and steering Rollouts, and what changed traffic.

Commands that ask a running server, like `remote`'s, with the same client
and the same two ways of showing an answer.
"""

from __future__ import annotations

import argparse
from urllib.parse import quote, urlencode

from breakwater.cli.common import CommandFailed
from breakwater.cli.remote import client_call, show


def cmd_rollout(args: argparse.Namespace) -> int:
    from breakwater.client import format_rollout, format_rollouts

    if args.action == "status":
        if args.name is None:
            return show(args, client_call(args, "GET", "/v1/rollouts"), format_rollouts)
        path = f"/v1/rollouts/{quote(args.name, safe='')}"
        return show(args, client_call(args, "GET", path), format_rollout)
    if args.name is None:
        raise CommandFailed(
            f"name the rollout to {args.action}: breakwater rollout {args.action} NAME"
        )
    path = f"/v1/rollouts/{quote(args.name, safe='')}/{args.action}"
    return show(args, client_call(args, "POST", path), format_rollout)


def cmd_history(args: argparse.Namespace) -> int:
    from breakwater.client import format_history

    query = {"limit": str(args.limit), **({"route": args.route} if args.route else {})}
    return show(args, client_call(args, "GET", f"/v1/events?{urlencode(query)}"), format_history)
