"""Who may change traffic, and who may fetch config: tokens for writes, TLS and mTLS for the ports.

The rules, in one place:
- With a token file, every write (weights set/reset) needs `Authorization:
  Bearer <token>`, over HTTP and as gRPC metadata, from loopback too. Reads
  need it as well when `protect_reads` is on (`/healthz` and `/readyz` stay
  open for probes).
- Without a token file, writes are accepted only while both ports listen on
  loopback; listening elsewhere without a token refuses to start unless the
  operator says `--insecure-allow-writes`.
- TLS on the xDS and admin ports with a certificate and key; with a client
  CA, the xDS port demands a client certificate from that CA (mTLS), so only
  proxies holding one can fetch config.
- Proxy credentials (a proxy token file, or client certificates naming a node
  cluster) decide which node cluster a proxy may claim; see
  `credentials` and `proxy_guard`. Listening beyond loopback without them
  refuses to start unless the operator says `--insecure-anonymous-proxies`.
- Files holding secrets (tokens, the TLS key) that group or others may read
  are refused, as ssh refuses such keys: a token anyone on the host can read
  is nobody's.
"""

from __future__ import annotations

import hmac
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc

from breakwater.controlplane.api.token_files import SecurityError, read_secret

if TYPE_CHECKING:
    from breakwater.controlplane.api.credentials import ProxyTokens
    from breakwater.controlplane.api.proxy_guard import ProxyGuard


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SecurityError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class SecurityConfig:
    token: str | None = None
    protect_reads: bool = False
    insecure_allow_writes: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    admin_hosts: tuple[str, ...] = ()
    """Host names the admin port answers to besides its own addresses (`--admin-host`)."""
    proxy_tokens: ProxyTokens | None = None
    insecure_anonymous_proxies: bool = False

    @property
    def proxy_credentials(self) -> bool:
        """Whether proxies must prove which node cluster they are (a token or a certificate)."""
        return self.proxy_tokens is not None or self.tls_client_ca is not None

    def proxy_guard(self) -> ProxyGuard | None:
        """What checks each proxy's credential on the xDS port; None when none is asked."""
        from breakwater.controlplane.api.proxy_guard import ProxyGuard

        if not self.proxy_credentials:
            return None
        return ProxyGuard(self.proxy_tokens, certificates=self.tls_client_ca is not None)

    def check_startup(self, xds_host: str, admin_host: str) -> list[str]:
        """Refuse settings that would expose writes; return warnings worth logging."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SecurityError("give both --tls-cert and --tls-key, or neither")
        if self.tls_key is not None:
            read_secret(self.tls_key, "TLS key")  # refused when others on the host may read it
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise SecurityError(
                "--tls-client-ca needs --tls-cert and --tls-key: mTLS runs over TLS"
            )
        if self.protect_reads and self.token is None:
            raise SecurityError(
                "--protect-reads needs --token-file: reads would need a token nobody has"
            )
        exposed = [h for h in (xds_host, admin_host) if not is_loopback(h)]
        warnings: list[str] = []
        if exposed and self.token is None:
            if not self.insecure_allow_writes:
                raise SecurityError(
                    f"listening on {', '.join(exposed)} without --token-file would let anyone who "
                    "reaches the port change traffic; give --token-file FILE, or listen on "
                    "127.0.0.1, or accept the risk with --insecure-allow-writes"
                )
            warnings.append(
                f"--insecure-allow-writes: anyone who reaches {', '.join(exposed)} can change traffic"
            )
        if not is_loopback(xds_host) and not self.proxy_credentials:
            if not self.insecure_anonymous_proxies:
                raise SecurityError(
                    f"listening on {xds_host} without proxy credentials would let anyone who "
                    "reaches the xDS port fetch config and report as any proxy, and so steer "
                    "rollouts; give --proxy-token-file FILE or --tls-client-ca CA.pem, or "
                    "listen on 127.0.0.1, or accept the risk with --insecure-anonymous-proxies"
                )
            warnings.append(
                f"--insecure-anonymous-proxies: anyone who reaches {xds_host} can fetch config "
                "and report as any proxy"
            )
        if exposed and self.tls_cert is None:
            warnings.append(
                f"listening on {', '.join(exposed)} without TLS: config and tokens travel in clear text"
            )
        return warnings

    def authorize(self, authorization: str | None, write: bool) -> None:
        """Raise `Unauthorized` unless a request with this Authorization value may go ahead."""
        if self.token is None:
            return  # startup already refused exposed ports without a token
        if not write and not self.protect_reads:
            return
        sent = authorization[7:].strip() if authorization else ""
        if not sent or not authorization or not authorization.startswith("Bearer "):
            raise Unauthorized
        if not hmac.compare_digest(sent.encode(), self.token.encode()):
            raise Unauthorized(refused=True)

    def grpc_credentials(self) -> grpc.ServerCredentials | None:
        if self.tls_cert is None or self.tls_key is None:
            return None
        pair = (read_secret(self.tls_key, "TLS key"), _read(self.tls_cert, "TLS certificate"))
        if self.tls_client_ca is None:
            return grpc.ssl_server_credentials([pair])
        return grpc.ssl_server_credentials(
            [pair],
            root_certificates=_read(self.tls_client_ca, "client CA"),
            require_client_auth=True,
        )

    def admin_ssl_context(self) -> ssl.SSLContext | None:
        if self.tls_cert is None or self.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.tls_cert, self.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise SecurityError(
                f"cannot use {self.tls_cert} / {self.tls_key} as a TLS certificate and key: {exc}"
            ) from None
        return context


UNAUTHORIZED = (
    "this call needs a token: send `Authorization: Bearer <token>` (the CLI's --token or "
    "BREAKWATER_TOKEN) with the token from the server's --token-file"
)
TOKEN_REFUSED = (
    "the token sent was refused: it is not the one in the server's --token-file; send that "
    "file's token (the CLI's --token or BREAKWATER_TOKEN), and check that BREAKWATER_TOKEN is "
    "not one of another server or from before the file changed"
)


class Unauthorized(Exception):
    """A call without the token it needs, or with another token; HTTP and gRPC answer it from
    the error table."""

    def __init__(self, refused: bool = False) -> None:
        super().__init__(TOKEN_REFUSED if refused else UNAUTHORIZED)
