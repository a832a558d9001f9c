"""Writing the reference pages, and checking that they and the links are current."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from breakwater.devtools.docs.cli import cli_page
from breakwater.devtools.docs.http_api import http_api_page
from breakwater.devtools.docs.links import documentation_files, problems
from breakwater.devtools.docs.metrics import metrics_page
from breakwater.devtools.docs.policies import policies_page

ROOT = Path(__file__).resolve().parents[3]
REFERENCE_DIR = ROOT / "docs" / "reference"

GENERATORS: dict[str, Callable[[], str]] = {
    "policies.md": policies_page,
    "cli.md": cli_page,
    "http-api.md": http_api_page,
    "metrics.md": metrics_page,
}


def pages() -> dict[str, str]:
    """Each generated page's file name under docs/reference/ and its text."""
    return {name: generate() for name, generate in GENERATORS.items()}


def write(target: Path = REFERENCE_DIR) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in pages().items():
        path = target / name
        path.write_text(text)
        written.append(path)
    return written


def check(target: Path = REFERENCE_DIR) -> list[str]:
    """What is stale or missing (with a short diff), and every link that leaves the repository."""
    found: list[str] = []
    for name, text in pages().items():
        path = target / name
        current = path.read_text() if path.exists() else ""
        if current != text:
            diff = list(
                difflib.unified_diff(
                    current.splitlines(),
                    text.splitlines(),
                    str(path),
                    "generated",
                    lineterm="",
                    n=1,
                )
            )
            found.append(f"{path} is stale:\n" + "\n".join(diff[:40]))
    found.extend(problems(ROOT, documentation_files(ROOT)))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m breakwater.devtools.docs",
        description="Write docs/reference/ from the code, or check it and the documentation's links.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; fail when a reference page is stale or a link leaves the repository",
    )
    args = parser.parse_args(argv)
    if args.check:
        found = check()
        for problem in found:
            print(problem, file=sys.stderr)
        if found:
            print("run `make docs-pages` to rewrite docs/reference/", file=sys.stderr)
            return 1
        print("docs/reference/ is current and every link stays in the repository")
        return 0
    for path in write():
        print(f"wrote {path.relative_to(ROOT)}")
    return 0
