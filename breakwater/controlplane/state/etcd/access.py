"""How a replica proves itself to etcd: TLS (with a client certificate) and a user's password.

`serve --etcd-ca --etcd-cert --etcd-key` put the connection on TLS, verifying
etcd's certificate against the CA and presenting the client certificate
etcd's `--client-cert-auth` asks for; `--etcd-user` and
`--etcd-password-file` authenticate as an etcd user (etcd's `auth enable`),
whose role should grant `readwrite` on the prefix only. The password is read
from a file, never the command line (where `ps` shows it), and the file must
not be readable by group or others, the rule `.pgpass` and SSH keys follow.

aetcd 1.0 dials plaintext only; `_TlsClient` is its client on a TLS channel,
authenticating as aetcd does. And etcd's refusals of these credentials come
back as bare gRPC errors: `explain` turns each into a sentence naming the
flag to fix, for the log, the start and `/v1/status` alike.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aetcd  # type: ignore[import-untyped]
import grpc
from aetcd import rpc  # type: ignore[import-untyped]

from breakwater.controlplane.secret_files import SecretFileError, read_secret
from breakwater.controlplane.state.store import StoreError


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None


def read_password(path: Path) -> str:
    """The password in `path`, a secret file (see `secret_files`)."""
    try:
        raw = read_secret(path, "etcd password file")
    except SecretFileError as exc:
        raise StoreError(str(exc)) from None
    password = raw.decode("utf-8", errors="replace").strip("\r\n")
    if not password:
        raise StoreError(f"the etcd password file {path} is empty; write the user's password in it")
    return password


@dataclass(frozen=True)
class EtcdAccess:
    """The credentials of the connection to etcd; none given is plaintext without a user."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    user: str | None = None
    password_file: Path | None = None

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise StoreError(
                "give both --etcd-cert and --etcd-key (the client certificate), or neither"
            )
        if (self.user is None) != (self.password_file is None):
            raise StoreError("give both --etcd-user and --etcd-password-file, or neither")

    @property
    def tls(self) -> bool:
        return self.ca is not None or self.cert is not None

    def credentials(self) -> grpc.ChannelCredentials:
        """TLS credentials from the files, read now (a renewed certificate is read at the next
        dial); without --etcd-ca, etcd's certificate is checked against the system's CAs."""
        return grpc.ssl_channel_credentials(
            root_certificates=None if self.ca is None else _read(self.ca, "etcd CA"),
            private_key=None if self.key is None else _read(self.key, "etcd client key"),
            certificate_chain=None
            if self.cert is None
            else _read(self.cert, "etcd client certificate"),
        )

    def client(self, host: str, port: int, timeout: float, options: dict[str, Any]) -> Any:
        """An aetcd client for one endpoint with these credentials."""
        password = None if self.password_file is None else read_password(self.password_file)
        if not self.tls:
            return aetcd.Client(
                host=host,
                port=port,
                username=self.user,
                password=password,
                timeout=timeout,
                options=options,
            )
        return _TlsClient(
            self.credentials(),
            host=host,
            port=port,
            username=self.user,
            password=password,
            timeout=timeout,
            options=options,
        )

    def explain(self, endpoint: str, exc: BaseException) -> str | None:
        """What a refusal of these credentials means, or None for any other failure."""
        text = str(exc).lower()
        if "authentication failed" in text or (
            self.user is not None and "invalid auth token" in text
        ):
            return (
                f"etcd refused user {self.user!r}: the password in {self.password_file} is not "
                "its password, or etcd has no such user; fix --etcd-user or "
                "--etcd-password-file"
            )
        if "user name is empty" in text or "authentication is not enabled" in text:
            if "not enabled" in text:
                return (
                    f"etcd at {endpoint} has authentication off, so --etcd-user cannot log in; "
                    "leave out --etcd-user and --etcd-password-file, or run `etcdctl auth enable`"
                )
            return f"etcd at {endpoint} requires a user: give --etcd-user and --etcd-password-file"
        if "permission denied" in text:
            who = (
                f"user {self.user!r}"
                if self.user is not None
                else "the user named by the client certificate's common name (no --etcd-user)"
            )
            return (
                f"etcd at {endpoint} does not let {who} read or write Breakwater's keys; give "
                "--etcd-user and --etcd-password-file of a user whose role may, or grant it: "
                "etcdctl role grant-permission ROLE --prefix=true readwrite PREFIX/ (the prefix "
                "of --state)"
            )
        if not isinstance(exc, aetcd.ConnectionFailedError):
            return None
        if "certificate_verify_failed" in text or "certificate verify failed" in text:
            return (
                f"etcd at {endpoint} presented a certificate that --etcd-ca "
                f"({self.ca or 'the system CAs'}) did not sign, or that does not name that host; "
                "give the CA that signed etcd's certificate"
            )
        if self.tls and ("handshake" in text or "ssl" in text or "socket closed" in text):
            hint = (
                "give --etcd-cert and --etcd-key, a client certificate signed by etcd's "
                "--trusted-ca-file"
                if self.cert is None
                else "check that --etcd-cert was signed by etcd's --trusted-ca-file"
            )
            return f"etcd at {endpoint} refused the TLS connection; {hint}"
        return None


class _TlsClient(aetcd.Client):  # type: ignore[misc]
    """aetcd's client on a TLS channel: `connect` as aetcd 1.0 has it, with a secure channel."""

    def __init__(self, credentials: grpc.ChannelCredentials, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._credentials = credentials
        self._is_connecting: bool = False

    async def connect(self) -> None:
        if self._connected.is_set():
            return
        if self._is_connecting:
            await asyncio.wait_for(self._connected.wait(), self._connect_wait_timeout)
            return
        try:
            self._is_connecting = True
            target = f"{self._host}:{self._port}"
            self.channel = rpc.secure_channel(
                target, self._credentials, options=list(self._options.items())
            )
            if self._username is not None and self._password is not None:
                self.auth_stub = rpc.AuthStub(self.channel)
                request = rpc.AuthenticateRequest(name=self._username, password=self._password)
                try:
                    answer = await self.auth_stub.Authenticate(request, timeout=self._timeout)
                except rpc.AioRpcError as exc:
                    aetcd.exceptions._handle_exception(exc)  # aetcd's own error classes
                self.metadata = (("token", answer.token),)
            self.kvstub = rpc.KVStub(self.channel)
            self.clusterstub = rpc.ClusterStub(self.channel)
            self.leasestub = rpc.LeaseStub(self.channel)
            self.maintenancestub = rpc.MaintenanceStub(self.channel)
            self._watcher = aetcd.watcher.Watcher(
                rpc.WatchStub(self.channel), timeout=self._timeout, metadata=self.metadata
            )
            self._connected.set()
        finally:
            self._is_connecting = False
