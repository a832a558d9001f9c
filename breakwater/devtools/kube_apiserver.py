"""A real kube-apiserver and the Gateway API CRDs, built once per machine for the tests.

kube-apiserver is on neither PyPI nor Debian, so `make kube-apiserver` (a prerequisite of
`make test`) builds it from the Go module proxy into a cache outside the clone, where every
clone on the machine (CI's fresh ones included) finds it: `k8s.io/kubernetes` is not meant
to be required as a module, so a throw-away module requires it and replaces each of its
staging modules (`./staging/src/k8s.io/X` in its go.mod) by the published release of the
same Kubernetes version. The Go caches live under the cache directory while building and
are deleted afterwards (3.5 GB), keeping the binary. A second run finds the result and
does nothing. Each result is built in a temporary directory and renamed into place, so a
build cut short leaves nothing that looks finished; a lock keeps two clones from building
at once.

`python -m breakwater.devtools.kube_apiserver [--go GO]` builds what is missing;
`--print-binary` prints where the binary goes.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

KUBERNETES_VERSION = "v1.37.2"
"""The kube-apiserver the tests run; its staging modules are published as v0.MINOR.PATCH."""

GATEWAY_API_VERSION = "v1.6.3"
"""The Gateway API whose standard-channel CRDs the tests install."""

KUBERNETES_MODULE = "k8s.io/kubernetes"
GATEWAY_API_MODULE = "sigs.k8s.io/gateway-api"
APISERVER_PACKAGE = f"{KUBERNETES_MODULE}/cmd/kube-apiserver"
GATEWAY_CRDS_IN_MODULE = Path("config/crd/standard")
CONFORMANCE_MODULE = f"{GATEWAY_API_MODULE}/conformance"
"""The conformance suite is a module of its own, released with the same version."""

BUILD_COMMAND = "make kube-apiserver"
"""What a user runs to get what this module builds; the tests' errors name it."""

BUILD_COST = "6 to 9 minutes on 2 cores, 2.4 GB of memory and 3.5 GB of disk while it builds"
"""Measured on a 2-core machine (9 minutes while other work shared it); said before a build."""

_GO_LINES = re.compile(r"^(?:go|godebug) .*$", re.MULTILINE)
_STAGING_REPLACE = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/src/\1\s*$", re.MULTILINE)


def cache_root() -> Path:
    """Breakwater's cache, outside any clone: `${XDG_CACHE_HOME:-~/.cache}/breakwater`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "breakwater"


def apiserver_dir() -> Path:
    return cache_root() / f"kube-apiserver-{KUBERNETES_VERSION}"


def apiserver_binary() -> Path:
    return apiserver_dir() / "kube-apiserver"


def gateway_crds_dir() -> Path:
    """The standard channel's CRD files, one per kind, as the release has them."""
    return cache_root() / f"gateway-api-{GATEWAY_API_VERSION}" / "crds"


def gateway_conformance_dir() -> Path:
    """The conformance suite's manifests, as its module has them: `base/manifests.yaml` (the
    namespaces, backends and Gateways every test assumes) and `tests/httproute-*.yaml`."""
    return cache_root() / f"gateway-api-{GATEWAY_API_VERSION}" / "conformance"


def staging_version(kubernetes_version: str = KUBERNETES_VERSION) -> str:
    """`v1.37.2` → `v0.37.2`: the version Kubernetes publishes its staging modules under."""
    major, rest = kubernetes_version.removeprefix("v").split(".", 1)
    if major != "1":
        raise ValueError(f"no staging version is known for Kubernetes {kubernetes_version}")
    return f"v0.{rest}"


def staging_modules(kubernetes_go_mod: str) -> list[str]:
    """The modules Kubernetes' go.mod replaces by its own `./staging/src/` copies."""
    return _STAGING_REPLACE.findall(kubernetes_go_mod)


def build_go_mod(kubernetes_go_mod: str) -> str:
    """The throw-away module that requires kube-apiserver with published staging modules.

    It keeps Kubernetes' own `go` and `godebug` lines, which only the main module's count,
    so the binary runs with the defaults Kubernetes was released with.
    """
    modules = staging_modules(kubernetes_go_mod)
    if not modules:
        raise RuntimeError(f"{KUBERNETES_MODULE}'s go.mod replaces no staging module")
    kept = "\n".join(_GO_LINES.findall(kubernetes_go_mod))
    replaced = "\n".join(f"\t{m} => {m} {staging_version()}" for m in modules)
    return (
        "module breakwater.test/kube-apiserver\n\n"
        f"{kept}\n\n"
        f"require {KUBERNETES_MODULE} {KUBERNETES_VERSION}\n\n"
        f"replace (\n{replaced}\n)\n"
    )


def find_go(explicit: str | None) -> str:
    for candidate in (explicit, shutil.which("go"), "/usr/local/go/bin/go"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit(
        "building kube-apiserver needs a Go toolchain: install Go "
        "(https://go.dev/dl/) or name it with GO=/path/to/go"
    )


class GoRun:
    """Runs `go` with its module and build caches under `caches`, which the build deletes."""

    def __init__(self, go: str, caches: Path) -> None:
        self.go = go
        self.caches = caches
        caches.mkdir(parents=True, exist_ok=True)
        self.env: Mapping[str, str] = {
            **os.environ,
            "GOMODCACHE": str(caches / "mod"),
            "GOCACHE": str(caches / "build"),
            "GOPATH": str(caches / "path"),
            "GOTOOLCHAIN": "local",
            "GOFLAGS": "-mod=mod -buildvcs=false",
            "CGO_ENABLED": "0",
        }

    def __call__(self, *args: str, cwd: Path | None = None) -> str:
        result = subprocess.run(
            [self.go, *args], cwd=cwd, env=self.env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"go {' '.join(args)} failed:\n{result.stderr[-4000:]}")
        return result.stdout

    def download(self, module: str, version: str) -> Path:
        """The module's extracted source, from the Go module proxy."""
        info = json.loads(self("mod", "download", "-json", f"{module}@{version}"))
        return Path(info["Dir"])

    def clean(self) -> None:
        """Delete the caches; the module cache's files are read-only, so Go removes it."""
        with contextlib.suppress(RuntimeError):
            self("clean", "-modcache")
        shutil.rmtree(self.caches, ignore_errors=True)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One build per machine at a time; a second waits, then finds the result."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def _staging() -> Iterator[Path]:
    """A temporary directory beside the results, removed unless it was renamed into place."""
    staged = Path(tempfile.mkdtemp(prefix=".staged-", dir=cache_root()))
    try:
        yield staged
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _install(staged: Path, target: Path) -> None:
    """Rename a finished directory into place (atomic: `target` did not exist)."""
    staged.chmod(0o755)  # a temporary directory is its owner's alone
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    staged.rename(target)


def fetch_gateway_crds(go: GoRun) -> None:
    source = go.download(GATEWAY_API_MODULE, GATEWAY_API_VERSION) / GATEWAY_CRDS_IN_MODULE
    files = sorted(source.glob("*.yaml"))
    if not files:
        raise RuntimeError(f"{GATEWAY_API_MODULE}@{GATEWAY_API_VERSION} has no {source}")
    with _staging() as staged:
        for file in files:
            shutil.copyfile(file, staged / file.name)
        _install(staged, gateway_crds_dir())
    print(f"Gateway API {GATEWAY_API_VERSION} CRDs ({len(files)} files) in {gateway_crds_dir()}")


def fetch_gateway_conformance(go: GoRun) -> None:
    source = go.download(CONFORMANCE_MODULE, GATEWAY_API_VERSION)
    files = [
        source / "base" / "manifests.yaml",
        *sorted((source / "tests").glob("httproute-*.yaml")),
    ]
    with _staging() as staged:
        (staged / "tests").mkdir()
        (staged / "base").mkdir()
        for file in files:
            shutil.copyfile(file, staged / file.relative_to(source).parent.name / file.name)
        _install(staged, gateway_conformance_dir())
    print(f"Gateway API {GATEWAY_API_VERSION} conformance manifests in {gateway_conformance_dir()}")


def build_apiserver(go: GoRun) -> None:
    kubernetes = go.download(KUBERNETES_MODULE, KUBERNETES_VERSION)
    version_flag = f"-X k8s.io/component-base/version.gitVersion={KUBERNETES_VERSION}"
    with _staging() as staged, tempfile.TemporaryDirectory(dir=go.caches) as module_dir:
        module = Path(module_dir)
        (module / "go.mod").write_text(build_go_mod((kubernetes / "go.mod").read_text()))
        go("get", "-tool", f"{APISERVER_PACKAGE}@{KUBERNETES_VERSION}", cwd=module)
        go(
            "build",
            "-trimpath",
            "-ldflags",
            f"-s -w {version_flag}",
            "-o",
            str(staged / "kube-apiserver"),
            APISERVER_PACKAGE,
            cwd=module,
        )
        _install(staged, apiserver_dir())


def _size(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_symlink())


def _gigabytes(size: float) -> str:
    return f"{size / 1e9:.1f} GB"


def _report(started: float, caches: int) -> None:
    """What the build cost, for the README and for whoever waited."""
    minutes, seconds = divmod(round(time.monotonic() - started), 60)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(
        f"kube-apiserver {KUBERNETES_VERSION} built in {minutes} min {seconds} s "
        f"(largest process {_gigabytes(peak)}; Go caches {_gigabytes(caches)}, now deleted): "
        f"{apiserver_binary()} ({apiserver_binary().stat().st_size / 1e6:.0f} MB)"
    )


def ensure(go_path: str | None) -> None:
    """Build or fetch whatever is missing from the cache, saying what the first time cost."""

    def built() -> bool:
        return all(
            (
                apiserver_binary().exists(),
                gateway_crds_dir().is_dir(),
                gateway_conformance_dir().is_dir(),
            )
        )

    if built():
        return
    with _locked(cache_root()):
        if built():
            return
        go = GoRun(find_go(go_path), cache_root() / f"go-caches-{KUBERNETES_VERSION}")
        for stale in cache_root().glob(".staged-*"):  # left by a build that was killed
            shutil.rmtree(stale, ignore_errors=True)
        if not gateway_crds_dir().is_dir():
            fetch_gateway_crds(go)
        if not gateway_conformance_dir().is_dir():
            fetch_gateway_conformance(go)
        if not apiserver_binary().exists():
            print(
                f"Building kube-apiserver {KUBERNETES_VERSION} into {apiserver_dir()}, once per "
                f"machine: {BUILD_COST} (the Go caches are deleted afterwards)...",
                flush=True,
            )
            started = time.monotonic()
            build_apiserver(go)
            _report(started, _size(go.caches))
        go.clean()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--go", help="the go command (default: go on PATH, /usr/local/go/bin/go)")
    parser.add_argument("--print-binary", action="store_true", help="print the binary's path")
    args = parser.parse_args(argv)
    if args.print_binary:
        print(apiserver_binary())
        return 0
    try:
        ensure(args.go)
    except RuntimeError as error:
        print(
            f"{error}\nNothing was installed; run `{BUILD_COMMAND}` again (what Go downloaded "
            f"is kept in {cache_root()} until a build succeeds).",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
