"""A real kube-apiserver on a free loopback port, backed by a real etcd, as envtest starts one.

controller-runtime's envtest runs the API server alone, with no controllers, no kubelet
and no scheduler, and so does this: what the server holds is exactly what the test wrote.
It serves TLS with a certificate of the test's own CA, knows its users from a static token
file (an admin in `system:masters`, and one user with no rights until a test binds a
ClusterRole to it), authorizes with RBAC, and signs service-account tokens with a key
made here. The binary is the one `make kube-apiserver` builds into the cache; without it
the tests fail (not skip) with that command, because `make test` builds it first.
"""

from __future__ import annotations

import secrets
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from breakwater.devtools.kube_apiserver import (
    BUILD_COMMAND,
    BUILD_COST,
    KUBERNETES_VERSION,
    apiserver_binary,
)
from breakwater.devtools.kube_run import apiserver_command
from breakwater.devtools.ports import LOOPBACK, free_port
from breakwater.devtools.process import LoggedProcess
from tests.support.certificates import Authority

ADMIN_USER = "breakwater-test-admin"
RESTRICTED_USER = "breakwater-test-restricted"
"""Has only what the test binds to it (tests/support/kube_access.py)."""

START_TIMEOUT = 60.0


def find_kube_apiserver() -> Path:
    """The cached binary, or fail with the command that builds it."""
    binary = apiserver_binary()
    if binary.exists():
        return binary
    pytest.fail(
        f"these tests need a real kube-apiserver {KUBERNETES_VERSION}, which is not built yet: "
        f"run `{BUILD_COMMAND}` once (`make test` does it first): it builds it into "
        f"{binary.parent}, which takes {BUILD_COST}",
        pytrace=False,
    )


@dataclass(frozen=True)
class KubeUser:
    """One user of the API server: its name, its bearer token, and a kubeconfig naming both."""

    name: str
    token: str
    kubeconfig: Path


class KubeApiServer(LoggedProcess):
    """One kube-apiserver; its files (certificates, keys, tokens, kubeconfigs) in `workdir`."""

    def __init__(self, workdir: Path, etcd_url: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(workdir / "kube-apiserver.log")
        self.binary = find_kube_apiserver()
        self.workdir = workdir
        self.etcd_url = etcd_url
        self.port = free_port()
        self.authority = Authority(workdir / "pki", "kube")
        self.serving = self.authority.issue("apiserver", LOOPBACK, "localhost")
        self.admin = self._user(ADMIN_USER)
        self.restricted = self._user(RESTRICTED_USER)
        self.started_in: float | None = None
        """Seconds from the process's start to its first ready `/readyz`."""

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.port}"

    def _user(self, name: str) -> KubeUser:
        return KubeUser(name, secrets.token_urlsafe(24), self.workdir / f"{name}.kubeconfig")

    def _write_files(self) -> tuple[Path, Path]:
        """The token file and the service-account signing key."""
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(
            f'{self.admin.token},{self.admin.name},{self.admin.name},"system:masters"\n'
            f"{self.restricted.token},{self.restricted.name},{self.restricted.name}\n"
        )
        tokens.chmod(0o600)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        signing_key = self.workdir / "pki" / "service-account.key"
        signing_key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        signing_key.chmod(0o600)
        for user in (self.admin, self.restricted):
            user.kubeconfig.write_text(yaml.safe_dump(self._kubeconfig(user)))
        return tokens, signing_key

    def _kubeconfig(self, user: KubeUser) -> dict[str, object]:
        """What `kubectl config` would write for this user: one cluster, one context."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "test",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority": str(self.authority.ca_file),
                    },
                }
            ],
            "users": [{"name": user.name, "user": {"token": user.token}}],
            "contexts": [
                {
                    "name": user.name,
                    "context": {"cluster": "test", "user": user.name, "namespace": "default"},
                }
            ],
            "current-context": user.name,
        }

    def command(self, tokens: Path, signing_key: Path) -> list[str]:
        return apiserver_command(
            self.binary,
            etcd_url=self.etcd_url,
            port=self.port,
            cert_dir=self.workdir / "pki",
            tokens=tokens,
            signing_key=signing_key,
            serving=(self.serving.cert, self.serving.key),
        )

    def start(self, timeout: float = START_TIMEOUT) -> Self:
        tokens, signing_key = self._write_files()
        started = time.monotonic()
        process = self.spawn(self.command(tokens, signing_key))
        deadline = started + timeout
        while not self.ready():
            if process.poll() is not None:
                raise RuntimeError(
                    f"kube-apiserver exited with {process.returncode}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(
                    f"kube-apiserver not ready within {timeout} s:\n{self.log_tail()}"
                )
            time.sleep(0.1)
        self.started_in = time.monotonic() - started
        return self

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.authority.ca_file))

    def ready(self) -> bool:
        """`/readyz` answers ok: every post-start hook (RBAC's bootstrap roles too) is done."""
        request = urllib.request.Request(
            self.url + "/readyz", headers={"Authorization": f"Bearer {self.admin.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=2.0, context=self.ssl_context()) as r:
                return bool(r.status == 200 and r.read() == b"ok")
        except (urllib.error.URLError, OSError):
            return False


__all__ = ["ADMIN_USER", "RESTRICTED_USER", "KubeApiServer", "KubeUser", "find_kube_apiserver"]
