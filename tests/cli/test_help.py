"""Every command's `--help` says what the command is for and shows how to run it."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator

import pytest

from breakwater.cli.parser import build_parser
from tests.api.cli import run_cli


def _commands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:  # argparse keeps its subparsers nowhere public
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield from _commands(child)


COMMANDS = list(_commands(build_parser()))


def _examples(parser: argparse.ArgumentParser) -> list[str]:
    lines = (parser.epilog or "").splitlines()
    return [line.strip()[2:] for line in lines if line.strip().startswith("$ breakwater")]


@pytest.mark.parametrize("command", COMMANDS, ids=[c.prog for c in COMMANDS])
def test_every_command_has_a_description_and_an_example(command: argparse.ArgumentParser) -> None:
    assert command.description, f"`{command.prog} --help` says nothing of what it is for"
    assert _examples(command), f"`{command.prog} --help` shows no example"
    assert command.formatter_class is argparse.RawDescriptionHelpFormatter


@pytest.mark.parametrize("command", COMMANDS, ids=[c.prog for c in COMMANDS])
def test_every_example_is_a_command_line_the_parser_takes(command: argparse.ArgumentParser) -> None:
    for example in _examples(command):
        command_line = example.split(" | ")[0].split(" > ")[0]  # without the shell's part
        words = shlex.split(command_line)[1:]  # nor `breakwater`
        if "--help" in words or "--version" in words:
            continue
        try:
            build_parser().parse_args(words)
        except SystemExit:
            pytest.fail(f"the example `{example}` of `{command.prog}` is refused by the parser")


def test_help_shows_the_description_and_the_examples() -> None:
    done = run_cli("validate", "--help")
    assert done.returncode == 0, done.stderr
    assert "examples:" in done.stdout
    assert "$ breakwater validate deploy/examples" in done.stdout
