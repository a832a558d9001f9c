"""`serve --kubernetes`'s options: one policy source at a time, and a sentence for a missing
kubeconfig (before any port is opened)."""

from __future__ import annotations

from pathlib import Path

import pytest

from breakwater.cli import main

ONLY_WITH = "--kubeconfig, --namespace and --control-namespace go with --kubernetes"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--kubernetes", "-c", "."], "give either -c DIR or --kubernetes"),
        (["-c", ".", "--kubeconfig", "k"], ONLY_WITH),
        (["-c", ".", "--namespace", "shop"], ONLY_WITH),
        (["-c", ".", "--control-namespace", "breakwater"], ONLY_WITH),
        (
            ["--kubernetes", "--lease-duration", "0.5"],
            "--lease-duration 0.5: give at least 1 second",
        ),
        ([], "give the policy directory with -c DIR, or --kubernetes"),
    ],
)
def test_one_policy_source_at_a_time(
    args: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", *args]) == 1
    assert said in capsys.readouterr().err


def test_a_missing_kubeconfig_is_a_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.kubeconfig"
    args = ["serve", "--kubernetes", "--kubeconfig", str(missing), "--state", str(tmp_path)]
    args += ["--xds-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0"]

    assert main(args) == 1

    err = capsys.readouterr().err
    assert f"--kubeconfig {missing}: no such file; give the kubeconfig `kubectl` uses" in err
