"""Envoy's reference rate-limit service, built once per machine for the tests and the demo.

`github.com/envoyproxy/ratelimit` is on neither PyPI nor Debian and has no release tags:
the Go module proxy serves it as a pseudo-version of one commit, pinned here. `make
ratelimit` (a prerequisite of `make test`) builds its `src/service_cmd` into the same cache
outside the clone as kube-apiserver (`kube_apiserver.cache_root`), with the same guards:
a lock, a temporary directory renamed into place, the Go caches deleted afterwards. A
second run finds the binary and does nothing. It runs on Redis (Debian's `redis-server`).

`python -m breakwater.devtools.ratelimit_service [--go GO]` builds it when missing;
`--print-binary` prints where it goes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from breakwater.devtools.go_programs import GoProgram, first_line
from breakwater.devtools.kube_apiserver import GoRun, cache_root

RATELIMIT_MODULE = "github.com/envoyproxy/ratelimit"
RATELIMIT_VERSION = "v1.4.1-0.20260122083618-3fb702589d36"
"""The module proxy's `latest` of the module (commit 3fb702589d36, January 2026)."""
RATELIMIT_PACKAGE = f"{RATELIMIT_MODULE}/src/service_cmd"

BUILD_COMMAND = "make ratelimit"
"""What a user runs to get what this module builds; the tests' errors name it."""

BUILD_COST = "2 to 5 minutes on 2 cores, 0.35 GB of memory and 0.5 GB of Go caches while it builds"
"""Measured on a 2-core machine shared with other work: 1 min 54 s, and 4 min 34 s during a package
install."""


def service_dir() -> Path:
    return cache_root() / f"ratelimit-{RATELIMIT_VERSION}"


def _build(go: GoRun, staged: Path) -> None:
    with tempfile.TemporaryDirectory(dir=go.caches) as module_dir:
        module = Path(module_dir)
        (module / "go.mod").write_text("module breakwater.test/ratelimit\n\ngo 1.25.6\n")
        go("get", "-tool", f"{RATELIMIT_PACKAGE}@{RATELIMIT_VERSION}", cwd=module)
        go(
            "build",
            "-trimpath",
            "-ldflags",
            "-s -w",
            "-o",
            str(staged / "ratelimit"),
            RATELIMIT_PACKAGE,
            cwd=module,
        )


SERVICE = GoProgram(
    title=f"Envoy's rate-limit service {RATELIMIT_VERSION}",
    directory=service_dir,
    binary_name="ratelimit",
    caches=lambda: cache_root() / f"go-caches-ratelimit-{RATELIMIT_VERSION}",
    cost=BUILD_COST,
    command=BUILD_COMMAND,
    build=_build,
)


def service_binary() -> Path:
    return SERVICE.binary()


def main(argv: list[str] | None = None) -> int:
    return SERVICE.main(argv, first_line(__doc__))


if __name__ == "__main__":
    raise SystemExit(main())
