"""What every command shares: the failure that becomes exit 1, KEY=VALUE pairs, output.

A command that cannot go on raises `CommandFailed` with a sentence, and
`main` prints it; no command prints its own "error:" line or picks an exit
status, so every command fails the same way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def parse_pairs(pairs: Sequence[str], what: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: {what} {pair!r} is not KEY=VALUE")
        result[key] = value
    return result


def dump(data: Any, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(data, indent=2, sort_keys=False)
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


class CommandFailed(Exception):
    """The command cannot do what was asked; the message says why, in a sentence."""
