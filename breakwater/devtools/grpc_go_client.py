"""grpc-go's own xDS client as a test program, built once per machine for the proxyless tests.

The proxyless tests prove that what Breakwater sends follows the gRFCs, not one client's
tolerance, by steering a second, independent xDS client beside grpcio's C-core:
`tests/proxyless/goclient` is a small Go program on `google.golang.org/grpc` (its `go.mod`
pins the version) that speaks the same stdin/stdout protocol as
`breakwater.devtools.proxyless_client`. `make grpc-go-client` (a prerequisite of `make
test`) builds it into the same cache outside the clone as kube-apiserver
(`kube_apiserver.cache_root`), with the same guards: a lock, a temporary directory renamed
into place, the Go caches deleted afterwards. The directory is named after a digest of the
program's source, so an edit builds anew and an unchanged program is found and left alone.

`python -m breakwater.devtools.grpc_go_client [--go GO]` builds it when missing;
`--print-binary` prints where it goes.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from breakwater.devtools.go_programs import GoProgram, first_line
from breakwater.devtools.kube_apiserver import GoRun, cache_root

SOURCE = Path(__file__).resolve().parents[2] / "tests" / "proxyless" / "goclient"
"""The program's source in the clone: main.go, go.mod, go.sum."""
SOURCE_FILES = ("main.go", "go.mod", "go.sum")

BUILD_COMMAND = "make grpc-go-client"
"""What a user runs to get what this module builds; the tests' errors name it."""

BUILD_COST = "1 to 5 minutes on 2 cores and 0.4 GB of Go caches while it builds"
"""Measured on a 2-core machine shared with other work (load average 11): 3 min 37 s, of which
1 min 8 s of CPU; a 27 MB binary."""


def source_digest() -> str:
    digest = hashlib.sha256()
    for name in SOURCE_FILES:
        digest.update(name.encode() + b"\0" + (SOURCE / name).read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def client_dir() -> Path:
    return cache_root() / f"grpc-go-client-{source_digest()}"


def _build(go: GoRun, staged: Path) -> None:
    with tempfile.TemporaryDirectory(dir=go.caches) as module_dir:
        module = Path(module_dir)
        for name in SOURCE_FILES:
            shutil.copy(SOURCE / name, module / name)
        go(
            "build",
            "-trimpath",
            "-ldflags",
            "-s -w",
            "-o",
            str(staged / "goclient"),
            ".",
            cwd=module,
        )


CLIENT = GoProgram(
    title="grpc-go's xDS client (tests/proxyless/goclient)",
    directory=client_dir,
    binary_name="goclient",
    caches=lambda: cache_root() / f"go-caches-grpc-go-client-{source_digest()}",
    cost=BUILD_COST,
    command=BUILD_COMMAND,
    build=_build,
)


def client_binary() -> Path:
    return CLIENT.binary()


def main(argv: list[str] | None = None) -> int:
    return CLIENT.main(argv, first_line(__doc__))


if __name__ == "__main__":
    raise SystemExit(main())
