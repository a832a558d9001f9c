"""The kube-apiserver recipe's pure parts, and what the tests say when the binary is missing.

The build itself takes minutes and runs once per machine (`make kube-apiserver`); what it
writes is decided here, where a mistake shows at once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from breakwater.devtools.kube_apiserver import (
    BUILD_COMMAND,
    KUBERNETES_VERSION,
    apiserver_binary,
    build_go_mod,
    gateway_crds_dir,
    staging_modules,
    staging_version,
)
from tests.support.kube_apiserver import find_kube_apiserver

KUBERNETES_GO_MOD = """\
module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
	k8s.io/api v0.0.0
	k8s.io/klog/v2 v2.140.0
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/apiextensions-apiserver => ./staging/src/k8s.io/apiextensions-apiserver
)
"""


def test_staging_modules_take_the_published_version_of_the_same_release() -> None:
    assert staging_version("v1.37.2") == "v0.37.2"
    assert staging_modules(KUBERNETES_GO_MOD) == ["k8s.io/api", "k8s.io/apiextensions-apiserver"]

    go_mod = build_go_mod(KUBERNETES_GO_MOD)

    assert f"require k8s.io/kubernetes {KUBERNETES_VERSION}\n" in go_mod
    assert f"\tk8s.io/api => k8s.io/api {staging_version()}\n" in go_mod
    assert "go 1.26.0\ngodebug default=go1.26\n" in go_mod
    assert "./staging" not in go_mod


def test_a_go_mod_without_staging_modules_is_refused() -> None:
    with pytest.raises(RuntimeError, match="replaces no staging module"):
        build_go_mod("module k8s.io/kubernetes\n\ngo 1.26.0\n")


def test_the_cache_lives_outside_the_clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    assert apiserver_binary().is_relative_to(tmp_path / "breakwater")
    assert gateway_crds_dir().is_relative_to(tmp_path / "breakwater")


def test_a_missing_binary_fails_the_tests_with_the_command_that_builds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    with pytest.raises(pytest.fail.Exception) as failed:
        find_kube_apiserver()

    assert f"run `{BUILD_COMMAND}` once" in str(failed.value)
