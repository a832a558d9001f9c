"""Proxy token files: their format and errors, their permissions, the startup rule for
proxies beyond loopback, and the bootstrap that carries a proxy's token."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from breakwater import cli
from breakwater.controlplane.api.credentials import load_proxy_tokens
from breakwater.controlplane.api.security import SecurityConfig
from breakwater.controlplane.api.token_files import SecurityError, load_token
from breakwater.devtools.ports import free_port
from tests.support.certificates import Authority
from tests.support.credentials import token_file, write_secret
from tests.support.policies import PolicyDir

EDGE_A = "edge-a-token-0123456789"
EDGE_B = "edge-b-token-0123456789"
ANY = "any-cluster-token-0123456789"


def test_a_token_file_maps_tokens_to_node_clusters(tmp_path: Path) -> None:
    path = write_secret(
        tmp_path / "proxies",
        f"# edge proxies\n\n{EDGE_A} edge-a\n   {EDGE_B}   edge-b   # the b side\n{ANY} *\n",
    )
    tokens = load_proxy_tokens(path)
    assert tokens.clusters_of(EDGE_A) == frozenset({"edge-a"})
    assert tokens.clusters_of(EDGE_B) == frozenset({"edge-b"})
    assert tokens.allows(ANY, "anything")
    assert not tokens.allows(EDGE_A, "edge-b")
    assert tokens.clusters_of("not-a-token-of-the-file") is None


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (f"{EDGE_A}\n", 1, "TOKEN NODE_CLUSTER"),
        (f"# fine\n{EDGE_A} edge-a extra\n", 2, "TOKEN NODE_CLUSTER"),
        ("\nshort edge-a\n", 2, "at least 16"),
        (f"{EDGE_A} edge-a\n{EDGE_A} edge-a\n", 2, "twice"),
    ],
)
def test_token_file_errors_name_the_file_and_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    path = write_secret(tmp_path / "proxies", text)
    with pytest.raises(SecurityError) as error:
        load_proxy_tokens(path)
    message = str(error.value)
    assert f"{path}:{line}" in message and words in message, message


def test_a_token_file_without_tokens_is_refused(tmp_path: Path) -> None:
    path = write_secret(tmp_path / "proxies", "# nothing yet\n\n")
    with pytest.raises(SecurityError, match="no token"):
        load_proxy_tokens(path)


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o606, 0o664])
def test_token_files_others_can_read_are_refused_as_ssh_refuses_keys(
    tmp_path: Path, mode: int
) -> None:
    proxies = token_file(tmp_path / "proxies", {EDGE_A: "edge-a"})
    admin = write_secret(tmp_path / "admin-token", "admin-token-0123456789\n")
    for path in (proxies, admin):
        path.chmod(mode)
    with pytest.raises(SecurityError) as proxy_error:
        load_proxy_tokens(proxies)
    with pytest.raises(SecurityError) as admin_error:
        load_token(admin)
    for path, error in ((proxies, proxy_error), (admin, admin_error)):
        assert f"chmod 600 {path}" in str(error.value), error.value
        assert oct(mode)[2:] in str(error.value)
    proxies.chmod(0o600)
    admin.chmod(0o400)
    assert load_proxy_tokens(proxies).allows(EDGE_A, "edge-a")
    assert load_token(admin) == "admin-token-0123456789"


def test_a_token_file_may_be_shared_with_its_group_only_when_root_owns_it(
    tmp_path: Path,
) -> None:
    """PostgreSQL's rule for its key, and what Kubernetes gives a pod's `fsGroup`:
    root:GROUP 0440. Owned by anyone else, group access is refused too."""
    proxies = token_file(tmp_path / "proxies", {EDGE_A: "edge-a"})
    proxies.chmod(0o440)
    if os.getuid() == 0:
        assert load_proxy_tokens(proxies).allows(EDGE_A, "edge-a")
        os.chown(proxies, 12345, -1)
    with pytest.raises(SecurityError, match=f"chmod 600 {proxies}"):
        load_proxy_tokens(proxies)


def test_proxies_beyond_loopback_need_credentials(tmp_path: Path) -> None:
    tokens = load_proxy_tokens(token_file(tmp_path / "proxies", {EDGE_A: "edge-a"}))
    admin = "admin-token-0123456789"
    with pytest.raises(SecurityError) as refused:
        SecurityConfig(token=admin).check_startup("0.0.0.0", "127.0.0.1")
    message = str(refused.value)
    assert "--proxy-token-file" in message and "--insecure-anonymous-proxies" in message
    warnings = SecurityConfig(token=admin, insecure_anonymous_proxies=True).check_startup(
        "0.0.0.0", "127.0.0.1"
    )
    assert any("--insecure-anonymous-proxies" in w for w in warnings), warnings
    assert not any(
        "anonymous" in w
        for w in SecurityConfig(token=admin, proxy_tokens=tokens).check_startup(
            "0.0.0.0", "127.0.0.1"
        )
    )
    # On loopback nothing is asked: the proxies there are the operator's own.
    assert SecurityConfig().check_startup("127.0.0.1", "127.0.0.1") == []


def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    policies = PolicyDir.create(tmp_path / "policies")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "breakwater.cli",
            "serve",
            "-c",
            str(policies.path),
            "--state",
            str(tmp_path / "state"),
            "--admin-port",
            str(free_port()),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_serve_refuses_anonymous_proxies_beyond_loopback_and_open_token_files(
    tmp_path: Path,
) -> None:
    admin = write_secret(tmp_path / "admin-token", "admin-token-0123456789\n")
    exposed = ["--xds-address", f"0.0.0.0:{free_port()}", "--token-file", str(admin)]
    result = _serve(tmp_path, *exposed)
    assert result.returncode == 1, result.stderr
    assert "--proxy-token-file" in result.stderr and "Traceback" not in result.stderr

    proxies = token_file(tmp_path / "proxies", {EDGE_A: "edge-a"})
    proxies.chmod(0o644)
    result = _serve(tmp_path, *exposed, "--proxy-token-file", str(proxies))
    assert result.returncode == 1
    assert f"chmod 600 {proxies}" in result.stderr and "Traceback" not in result.stderr


def _bootstrap(
    capsys: pytest.CaptureFixture[str], tokens: Path, cluster: str
) -> tuple[int, str, str]:
    code = cli.main(
        [
            "bootstrap",
            "--node-id",
            "edge-1",
            "--node-cluster",
            cluster,
            "--proxy-token-file",
            str(tokens),
        ]
    )
    out, err = capsys.readouterr()
    return code, out, err


def test_bootstrap_puts_the_clusters_token_on_ads_stats_and_lrs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = token_file(tmp_path / "proxies", {EDGE_A: "edge-a", EDGE_B: "edge-b"})
    code, out, err = _bootstrap(capsys, tokens, "edge-b")
    assert code == 0, err
    bootstrap = yaml.safe_load(out)
    wanted = {"key": "authorization", "value": f"Bearer {EDGE_B}"}
    (ads,) = bootstrap["dynamic_resources"]["ads_config"]["grpc_services"]
    (lrs,) = bootstrap["cluster_manager"]["load_stats_config"]["grpc_services"]
    (sink,) = bootstrap["stats_sinks"]
    for service in (ads, lrs, sink["typed_config"]["grpc_service"]):
        assert wanted in service["initial_metadata"], service

    # No line for the cluster: a `*` line serves; without one, a sentence says what to add.
    code, _, err = _bootstrap(capsys, tokens, "edge-c")
    assert code == 1 and f"{tokens}" in err and "edge-c" in err, err
    tokens = token_file(tmp_path / "proxies", {EDGE_A: "edge-a", ANY: "*"})
    code, out, _ = _bootstrap(capsys, tokens, "edge-c")
    assert code == 0
    (ads,) = yaml.safe_load(out)["dynamic_resources"]["ads_config"]["grpc_services"]
    assert {"key": "authorization", "value": f"Bearer {ANY}"} in ads["initial_metadata"]


def test_a_tls_key_others_can_read_is_refused_at_startup(tmp_path: Path) -> None:
    """The private key of the xDS and admin ports follows the token files' rule."""
    server = Authority(tmp_path, "ports").issue("server", "127.0.0.1")
    security = SecurityConfig(tls_cert=server.cert, tls_key=server.key)
    server.key.chmod(0o644)
    with pytest.raises(SecurityError, match=f"chmod 600 {server.key}"):
        security.check_startup("127.0.0.1", "127.0.0.1")
    server.key.chmod(0o600)
    security.check_startup("127.0.0.1", "127.0.0.1")


def test_bootstrap_output_is_owner_readable_and_an_unwritable_one_is_a_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What an Envoy pod's init container does: the bootstrap with the token goes to a file
    only its owner reads (an older, wider file there is replaced, not reused)."""
    tokens = token_file(tmp_path / "proxies", {EDGE_A: "edge-a"})
    output = tmp_path / "bootstrap.yaml"
    output.write_text("old")
    output.chmod(0o644)
    args = ["bootstrap", "--node-id", "e", "--node-cluster", "edge-a"]
    code = cli.main([*args, "--proxy-token-file", str(tokens), "--output", str(output)])
    assert code == 0 and capsys.readouterr().out == ""
    assert output.stat().st_mode & 0o777 == 0o600
    assert f"Bearer {EDGE_A}" in output.read_text()

    code = cli.main([*args, "--output", str(tmp_path / "missing" / "bootstrap.yaml")])
    err = capsys.readouterr().err
    assert code == 1 and "cannot write the bootstrap to" in err and "Traceback" not in err, err
