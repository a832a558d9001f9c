"""The `breakwater` command: validate, render and explain policies, print bootstraps, serve.

Every command exits 0 on success and 1 with sentences on stderr otherwise
(`diff` says more: 1 when something would change, 2 when it cannot compare);
a traceback is a bug.

The modules: `parser` (every command's arguments), `policies` (`validate`,
`render`, `explain`), `serving` (`serve`, `bootstrap`), `remote` (the
commands that ask a running server), `formats` (`import`, `schema`), `diff`
(a candidate directory against what a server serves) and `common` (what they
share).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from breakwater.cli.common import CommandFailed
from breakwater.cli.parser import build_parser
from breakwater.cli.policies import cmd_explain, cmd_render, cmd_validate
from breakwater.cli.remote import (
    cmd_policies,
    cmd_status,
    cmd_weights_get,
    cmd_weights_reset,
    cmd_weights_set,
)
from breakwater.cli.serving import cmd_bootstrap, cmd_serve


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except CommandFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0
    return result


__all__ = [
    "build_parser",
    "cmd_bootstrap",
    "cmd_explain",
    "cmd_policies",
    "cmd_render",
    "cmd_serve",
    "cmd_status",
    "cmd_validate",
    "cmd_weights_get",
    "cmd_weights_reset",
    "cmd_weights_set",
    "main",
]
