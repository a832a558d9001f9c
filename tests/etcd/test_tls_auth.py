"""Replicas on an etcd that demands TLS client certificates and a password, as production etcd does.

A real etcd with `--client-cert-auth` and auth enabled (a user whose role may
read and write the replicas' prefix, nothing more); real `breakwater serve`
processes given `--etcd-ca/--etcd-cert/--etcd-key/--etcd-user/--etcd-password-file`.
Each wrong credential stops a replica from starting with a sentence that names the
flag to fix, and a password changed under a running replica shows in `/v1/status`.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from breakwater.client import http
from breakwater.devtools.serve import ServeProcess
from breakwater.devtools.waiting import wait_until
from tests.etcd.etcd_server import EtcdServer
from tests.support.admin import put_weights, weights_url
from tests.support.certificates import Authority, KeyPair
from tests.support.etcd_users import EtcdUsers
from tests.support.policies import PolicyDir

PREFIX = "/fleet"
USER = "breakwater"
PASSWORD = "correct horse battery staple"


@dataclass
class SecuredEtcd:
    etcd: EtcdServer
    users: EtcdUsers
    authority: Authority
    client: KeyPair
    password_file: Path
    policies: PolicyDir
    workdir: Path

    def flags(
        self,
        *,
        ca: Path | None = None,
        client: KeyPair | None = None,
        password_file: Path | None = None,
    ) -> list[str]:
        client = client or self.client
        return [
            "--etcd-ca",
            str(ca or self.authority.ca_file),
            "--etcd-cert",
            str(client.cert),
            "--etcd-key",
            str(client.key),
            "--etcd-user",
            USER,
            "--etcd-password-file",
            str(password_file or self.password_file),
        ]

    def replica(self, name: str, flags: list[str] | None = None) -> ServeProcess:
        return ServeProcess(
            self.policies.path,
            self.etcd.url(PREFIX),
            self.workdir / f"replica-{name}.log",
            extra_args=self.flags() if flags is None else flags,
            name=f"replica {name}",
        )

    def serve_once(self, flags: list[str]) -> subprocess.CompletedProcess[str]:
        """`breakwater serve` that is expected to refuse to start: its exit and its words."""
        command = [
            sys.executable,
            "-m",
            "breakwater.cli",
            "serve",
            "-c",
            str(self.policies.path),
            "--state",
            self.etcd.url(PREFIX),
            "--xds-address",
            "127.0.0.1:0",
            "--admin-address",
            "127.0.0.1:0",
            *flags,
        ]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )


def write_secret(path: Path, text: str) -> Path:
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[SecuredEtcd]:
    authority = Authority(tmp_path / "pki", "etcd")
    server = authority.issue("server", "127.0.0.1")
    client = authority.issue("client", USER)
    with EtcdServer(
        tmp_path / "etcd", tls=server, client_ca=authority.ca_file, client=client
    ) as etcd:
        etcd.start()
        users = EtcdUsers(etcd.binary, etcd.client_url, authority.ca_file, client)
        users.add_user(USER, PASSWORD, PREFIX + "/")
        users.enable_auth("root-password-for-tests")
        yield SecuredEtcd(
            etcd,
            users,
            authority,
            client,
            write_secret(tmp_path / "etcd-password", PASSWORD),
            PolicyDir.create(tmp_path / "policies"),
            tmp_path,
        )


def test_replicas_share_weights_over_tls_with_a_password(secured: SecuredEtcd) -> None:
    with secured.replica("a") as a, secured.replica("b") as b, secured.replica("c") as c:
        written = put_weights(a.admin_url, {"stable": 30, "canary": 70})
        assert written.status == 200, written.text
        for other in (b, c):
            wait_until(
                lambda other=other: (  # type: ignore[misc]
                    http("GET", weights_url(other.admin_url)).body["weights"]
                    == {"stable": 30, "canary": 70}
                ),
                2.0,
                f"{other.name} to serve the weights written on replica a",
            )
        wait_until(
            lambda: len(http("GET", f"{b.admin_url}/v1/status").body["replicas"]) == 3,
            5.0,
            "every replica to be registered",
        )
        assert http("GET", f"{c.admin_url}/v1/status").body["store"]["available"] is True


@pytest.mark.parametrize(
    ("wrong", "words"),
    [
        ("password", ["etcd refused user 'breakwater'", "--etcd-password-file"]),
        ("ca", ["--etcd-ca", "certificate"]),
        ("no client certificate", ["--etcd-cert", "--etcd-key"]),
        ("no password", ["--etcd-user", "--etcd-password-file", "common name"]),
    ],
)
def test_a_wrong_credential_stops_the_start_with_a_sentence(
    secured: SecuredEtcd, wrong: str, words: list[str]
) -> None:
    flags = secured.flags()
    if wrong == "password":
        bad = write_secret(secured.workdir / "wrong-password", "not the password")
        flags = secured.flags(password_file=bad)
    elif wrong == "ca":
        other = Authority(secured.workdir / "other-pki", "other")
        flags = secured.flags(ca=other.ca_file)
    elif wrong == "no client certificate":
        flags = flags[:2] + flags[6:]  # --etcd-ca, --etcd-user and the password file only
    elif wrong == "no password":
        # TLS only: etcd takes the user from the certificate's name, and has no such user.
        stranger = secured.authority.issue("stranger", "stranger")
        flags = secured.flags(client=stranger)[:6]
    done = secured.serve_once(flags)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def test_a_password_changed_under_a_running_replica_shows_in_status(
    secured: SecuredEtcd,
) -> None:
    with secured.replica("a") as a:
        secured.users.change_password(USER, "a new password nobody told breakwater")
        refused = put_weights(a.admin_url, {"stable": 1, "canary": 1})
        assert refused.status == 503, refused.text

        def said() -> str:
            store = http("GET", f"{a.admin_url}/v1/status").body["store"]
            return "" if store["available"] else str(store["error"])

        wait_until(lambda: "--etcd-password-file" in said(), 10.0, "status to name the password")
        assert "etcd refused user 'breakwater'" in said()


def test_a_password_file_others_can_read_is_refused(secured: SecuredEtcd) -> None:
    shared = secured.workdir / "shared-password"
    shared.write_text(PASSWORD)
    shared.chmod(0o644)
    done = secured.serve_once(secured.flags(password_file=shared))
    assert done.returncode == 1
    assert "chmod 600" in done.stderr and str(shared) in done.stderr, done.stderr
