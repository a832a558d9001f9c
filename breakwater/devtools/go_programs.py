"""A Go program the tests need, built once per machine into the cache outside the clone.

Envoy's rate-limit service and grpc-go's xDS test client are built the same way as
kube-apiserver (`kube_apiserver`): under the cache's lock, into a temporary directory
renamed into place, with Go caches of their own deleted afterwards, saying once what the
first build cost. A second run finds the binary and does nothing. Each program says how it
is built (`build`) and where it goes; this module does the rest, and the `main` of each
program's module.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from breakwater.devtools.kube_apiserver import GoRun, _install, _locked, _size, _staging, find_go


@dataclass(frozen=True)
class GoProgram:
    """One program: what it is called, where it goes, and how it is built."""

    title: str
    """For the messages: `Envoy's rate-limit service`."""
    directory: Callable[[], Path]
    """Where it is installed (in `kube_apiserver.cache_root`, named by its version)."""
    binary_name: str
    caches: Callable[[], Path]
    """The Go caches of its build, deleted afterwards."""
    cost: str
    """What the first build costs, as measured."""
    command: str
    """What a user runs to build it (`make ...`); the tests' errors name it too."""
    build: Callable[[GoRun, Path], None]
    """Builds the binary into the staging directory it is given."""

    def binary(self) -> Path:
        return self.directory() / self.binary_name

    def ensure(self, go_path: str | None) -> None:
        """Build the program when it is missing, saying what the first time cost."""
        if self.binary().exists():
            return
        with _locked(self.directory().parent):
            if self.binary().exists():
                return
            go = GoRun(find_go(go_path), self.caches())
            print(
                f"Building {self.title} into {self.directory()}, once per machine: {self.cost} "
                "(the Go caches are deleted afterwards)...",
                flush=True,
            )
            started = time.monotonic()
            with _staging() as staged:
                self.build(go, staged)
                _install(staged, self.directory())
            caches = _size(go.caches)
            go.clean()
            minutes, seconds = divmod(round(time.monotonic() - started), 60)
            print(
                f"{self.title} built in {minutes} min {seconds} s (Go caches "
                f"{caches / 1e9:.1f} GB, now deleted): {self.binary()} "
                f"({self.binary().stat().st_size / 1e6:.0f} MB)"
            )

    def main(self, argv: list[str] | None, description: str | None) -> int:
        """`python -m <module> [--go GO] [--print-binary]`."""
        parser = argparse.ArgumentParser(description=description)
        parser.add_argument(
            "--go", help="the go command (default: go on PATH, /usr/local/go/bin/go)"
        )
        parser.add_argument("--print-binary", action="store_true", help="print the binary's path")
        args = parser.parse_args(argv)
        if args.print_binary:
            print(self.binary())
            return 0
        try:
            self.ensure(args.go)
        except RuntimeError as error:
            print(f"{error}\nNothing was installed; run `{self.command}` again.", file=sys.stderr)
            return 1
        return 0


def first_line(doc: str | None) -> str | None:
    return doc.splitlines()[0] if doc else None


__all__ = ["GoProgram", "first_line"]
