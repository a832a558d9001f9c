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

import argparse
import sys
import tempfile
import time
from pathlib import Path

from breakwater.devtools.kube_apiserver import (
    GoRun,
    _install,
    _locked,
    _size,
    _staging,
    cache_root,
    find_go,
)

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


def service_binary() -> Path:
    return service_dir() / "ratelimit"


def build_service(go: GoRun) -> None:
    with _staging() as staged, tempfile.TemporaryDirectory(dir=go.caches) as module_dir:
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
        _install(staged, service_dir())


def ensure(go_path: str | None) -> None:
    """Build the service when it is missing, saying what the first time cost."""
    if service_binary().exists():
        return
    with _locked(cache_root()):
        if service_binary().exists():
            return
        go = GoRun(find_go(go_path), cache_root() / f"go-caches-ratelimit-{RATELIMIT_VERSION}")
        print(
            f"Building Envoy's rate-limit service into {service_dir()}, once per machine: "
            f"{BUILD_COST} (the Go caches are deleted afterwards)...",
            flush=True,
        )
        started = time.monotonic()
        build_service(go)
        caches = _size(go.caches)
        go.clean()
        minutes, seconds = divmod(round(time.monotonic() - started), 60)
        print(
            f"ratelimit {RATELIMIT_VERSION} built in {minutes} min {seconds} s (Go caches "
            f"{caches / 1e9:.1f} GB, now deleted): {service_binary()} "
            f"({service_binary().stat().st_size / 1e6:.0f} MB)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--go", help="the go command (default: go on PATH, /usr/local/go/bin/go)")
    parser.add_argument("--print-binary", action="store_true", help="print the binary's path")
    args = parser.parse_args(argv)
    if args.print_binary:
        print(service_binary())
        return 0
    try:
        ensure(args.go)
    except RuntimeError as error:
        print(f"{error}\nNothing was installed; run `{BUILD_COMMAND}` again.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
