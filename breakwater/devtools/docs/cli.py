"""The command line reference: `breakwater --help` and every command's help, as argparse prints it.

Taken from `build_parser()`, so a new flag or a changed default shows here
the moment it is in the code. The width is fixed so the page does not
depend on the terminal that generated it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator

from breakwater.cli.parser import build_parser
from breakwater.devtools.docs.markdown import page

WIDTH = 100


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps its subparsers nowhere public
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield child
                yield from _subcommands(child)


def _help(parser: argparse.ArgumentParser) -> str:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)
    try:
        return parser.format_help()
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def _neutral(text: str) -> str:
    """Machine-dependent defaults (the user data directory) stated as what they are."""
    from breakwater.cli.serving import default_state_dir

    return text.replace(str(default_state_dir()), "the user data directory")


def cli_page() -> str:
    parser = build_parser()
    body: list[str] = ["```text", _neutral(_help(parser)).rstrip(), "```", ""]
    for command in _subcommands(parser):
        body += [
            f"## `{command.prog}`",
            "",
            "```text",
            _neutral(_help(command)).rstrip(),
            "```",
            "",
        ]
    return page(
        "Command line",
        "Every command's `--help`, as `breakwater` prints it. Commands that ask a running server "
        "take `--server URL` (or `$BREAKWATER_SERVER`) and `--token` (or `$BREAKWATER_TOKEN`).",
        body,
    )
