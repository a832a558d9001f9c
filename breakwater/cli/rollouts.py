"""`rollout` and `history`: following and steering Rollouts, and what changed traffic.

Commands that ask a running server, like `remote`'s, with the same client
and the same two ways of showing an answer.
"""

from __future__ import annotations

import argparse

from breakwater.cli.common import CommandFailed
from breakwater.cli.remote import client_call, show


def cmd_rollout(args: argparse.Namespace) -> int:
    from breakwater.cli.tables import format_rollout, format_rollouts

    if args.action == "status":
        if args.name is None:
            return show(args, client_call(args, "list_rollouts"), format_rollouts)
        return show(args, client_call(args, "rollout", {"name": args.name}), format_rollout)
    if args.name is None:
        raise CommandFailed(
            f"name the rollout to {args.action}: breakwater rollout {args.action} NAME"
        )
    params = {"name": args.name, "command": args.action}
    return show(args, client_call(args, "rollout_command", params), format_rollout)


def cmd_history(args: argparse.Namespace) -> int:
    from breakwater.cli.tables import format_history

    params = {"limit": args.limit, "route": args.route or None}
    return show(args, client_call(args, "changes", params), format_history)
