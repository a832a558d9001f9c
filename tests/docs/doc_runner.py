"""Runs the fenced `sh` blocks of a Markdown page as written, and checks the answers it shows.

The page's conventions, which read naturally on the page:

- every `sh` block runs, in order, in one working directory, each block in
  `bash -e`; servers the page starts with `&` keep running until the end;
- a `text` block right after an `sh` block is the answer the page promises:
  each of its lines must appear in what the block printed (spaces aside).
  Such a block is run again, for up to `ANSWER_WAIT` seconds, until it
  does, since a server takes a moment to act on what the page just did;
- an `sh` block right after `<!-- doc-test: skip ... -->` is not run (the
  install steps, and stopping the servers, which the runner does itself).

`python -m tests.docs.doc_runner PAGE [SECTION] WORKDIR`: run by
`test_quickstarts.py` inside a network namespace of its own, so that the
page's fixed ports are always free. It prints what it ran and exits 1 on
the first broken promise, with the servers' logs.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ANSWER_WAIT = 30.0
"""Seconds a block with a promised answer is retried."""
STEP_TIMEOUT = 60.0
SKIP = "<!-- doc-test: skip"

_FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass
class Step:
    script: str
    answer: list[str]
    line: int


def section_of(text: str, heading: str | None) -> str:
    """The text under `heading` (a `## ` line) up to the next heading of that level, or all."""
    if heading is None:
        return text
    lines = text.splitlines()
    start = lines.index(heading) + 1
    level = heading.split(" ", 1)[0]
    end = next(
        (i for i in range(start, len(lines)) if lines[i].split(" ", 1)[0] in {level, "#"}),
        len(lines),
    )
    return "\n".join(lines[start:end])


def steps_of(text: str) -> list[Step]:
    """The page's runnable `sh` blocks, each with the answer that follows it, if any."""
    lines = text.splitlines()
    blocks: list[tuple[str, int, list[str], bool, int]] = []  # lang, start, body, skip, end
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match and match.group(1):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            previous = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
            blocks.append((match.group(1), i, lines[i + 1 : end], previous.startswith(SKIP), end))
            i = end + 1
            continue
        i += 1
    steps: list[Step] = []
    for index, (lang, start, body, skip, end) in enumerate(blocks):
        if lang != "sh" or skip:
            continue
        answer: list[str] = []
        if index + 1 < len(blocks):
            next_lang, next_start, next_body, _, _ = blocks[index + 1]
            between = lines[end + 1 : next_start]
            if next_lang == "text" and not any(line.strip() for line in between):
                answer = [line for line in next_body if line.strip()]
        steps.append(Step("\n".join(body), answer, start + 1))
    return steps


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def missing(answer: list[str], output: str) -> list[str]:
    flat = _squeeze(output)
    return [line for line in answer if _squeeze(line) not in flat]


class Runner:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.groups: list[int] = []
        self.count = 0

    def run(self, step: Step) -> tuple[int, str]:
        self.count += 1
        log = self.workdir / f".doc-step-{self.count}.out"
        with log.open("wb") as out:
            process = subprocess.Popen(
                ["bash", "-e", "-c", step.script],
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        # Its own process group: what the block left running with `&` is stopped with it.
        self.groups.append(process.pid)
        try:
            code = process.wait(timeout=STEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            code = -1
        return code, log.read_text(errors="replace")

    def stop(self) -> None:
        for group in self.groups:
            try:
                os.killpg(group, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + 5
        for group in self.groups:
            while time.monotonic() < deadline:
                try:
                    os.killpg(group, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(group, signal.SIGKILL)


def run_page(steps: list[Step], workdir: Path) -> list[str]:
    """Every broken promise, empty when the page holds; stops what it started."""
    runner = Runner(workdir)
    try:
        for step in steps:
            print(f"$ (line {step.line}) {step.script}", flush=True)
            deadline = time.monotonic() + ANSWER_WAIT
            while True:
                code, output = runner.run(step)
                gone = missing(step.answer, output)
                if not gone and (code == 0 or step.answer):
                    break
                if not step.answer or time.monotonic() > deadline:
                    return [
                        f"the block at line {step.line} exited {code}"
                        + (f" without printing {gone}" if gone else ""),
                        output,
                    ]
                time.sleep(0.5)
            print(output, flush=True)
        return []
    finally:
        runner.stop()


def server_logs(workdir: Path) -> str:
    """The tail of each `*.log` the page's servers wrote in `workdir`."""
    return "\n".join(
        f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
        for path in sorted(workdir.glob("*.log"))
    )


def main(argv: list[str]) -> int:
    page, *rest = argv
    heading, workdir = (rest[0], rest[1]) if len(rest) == 2 else (None, rest[0])
    steps = steps_of(section_of(Path(page).read_text(), heading))
    if not steps:
        print(f"no sh block to run in {page} {heading or ''}", file=sys.stderr)
        return 1
    problems = run_page(steps, Path(workdir))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(server_logs(Path(workdir)), file=sys.stderr)
        return 1
    print(f"{page}: {len(steps)} blocks ran as written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
