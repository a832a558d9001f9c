"""Where `make ratelimit` puts Envoy's rate-limit service, and what the tests say when it, or
Redis, is missing. The build itself takes minutes and runs once per machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from breakwater.devtools.kube_apiserver import cache_root
from breakwater.devtools.ratelimit_service import (
    BUILD_COMMAND,
    RATELIMIT_VERSION,
    main,
    service_binary,
)
from tests.support.ratelimit import find_rate_limit_service, find_redis_server


def test_the_service_is_cached_outside_the_clone_by_its_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    assert service_binary().is_relative_to(cache_root())
    assert cache_root().is_relative_to(tmp_path)
    assert RATELIMIT_VERSION in str(service_binary())
    assert main(["--print-binary"]) == 0
    assert capsys.readouterr().out == f"{service_binary()}\n"


def test_a_missing_service_fails_the_tests_with_the_command_that_builds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    with pytest.raises(pytest.fail.Exception) as failed:
        find_rate_limit_service()

    assert f"run `{BUILD_COMMAND}` once" in str(failed.value)


def test_a_missing_redis_fails_the_tests_with_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(pytest.fail.Exception) as failed:
        find_redis_server()

    assert "apt-get install redis-server" in str(failed.value)
