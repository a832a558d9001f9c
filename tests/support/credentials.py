"""Proxy credentials for tests: token files, and a CA that issues certificates with URI SANs.

`trustme` (which the other TLS tests use) names certificates by host only; a
proxy's certificate names its node cluster in a URI SAN
(`spiffe://breakwater/cluster/NAME`), so this CA is built with `cryptography`.
Every file is written owner-only, as `serve` demands of secrets.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from breakwater.devtools.ports import LOOPBACK

SERVER_NAME = "localhost"
"""The name the server certificate carries; clients verify it (grpc's target override)."""


def write_secret(path: Path, text: str, mode: int = 0o600) -> Path:
    """Write `text` to `path` with `mode` (owner-only by default) and return the path."""
    path.write_text(text)
    path.chmod(mode)
    return path


def token_file(path: Path, lines: dict[str, str]) -> Path:
    """A `--proxy-token-file`: token → node cluster, one `TOKEN CLUSTER` line each."""
    body = "# proxy tokens\n\n" + "".join(f"{t} {c}\n" for t, c in lines.items())
    return write_secret(path, body)


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, as PEM files, and as bytes for grpc."""

    cert: Path
    key: Path

    @property
    def cert_pem(self) -> bytes:
        return self.cert.read_bytes()

    @property
    def key_pem(self) -> bytes:
        return self.key.read_bytes()


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


class TestCa:
    """A CA in `directory` that issues the server's certificate and proxies' certificates."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, directory: Path, name: str = "breakwater test CA") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._key = _key()
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self._certificate = (
            x509.CertificateBuilder()
            .subject_name(self._name)
            .issuer_name(self._name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert = directory / "ca.pem"
        self.cert.write_bytes(self._certificate.public_bytes(serialization.Encoding.PEM))

    @property
    def cert_pem(self) -> bytes:
        return self.cert.read_bytes()

    def issue(
        self,
        name: str,
        *,
        dns: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
        uris: tuple[str, ...] = (),
    ) -> Issued:
        """A leaf certificate called `name` with these SANs, in `name`.pem and `name`.key."""
        key = _key()
        now = datetime.datetime.now(datetime.UTC)
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        sans += [x509.UniformResourceIdentifier(u) for u in uris]
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        certificate = builder.sign(self._key, hashes.SHA256())
        issued = Issued(self.directory / f"{name}.pem", self.directory / f"{name}.key")
        issued.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_secret(issued.key, key_pem.decode())
        return issued

    def server(self) -> Issued:
        """The control plane's certificate, for `localhost` and 127.0.0.1."""
        return self.issue("server", dns=(SERVER_NAME,), ips=(LOOPBACK,))

    def client_context(self) -> ssl.SSLContext:
        """What a client of the admin API over TLS verifies the server with."""
        return ssl.create_default_context(cafile=str(self.cert))

    def proxy(self, name: str, cluster: str | None) -> Issued:
        """A proxy's certificate naming node cluster `cluster` (None: no URI SAN at all)."""
        uris = () if cluster is None else (f"spiffe://breakwater/cluster/{cluster}",)
        return self.issue(name, dns=(f"{name}.proxies.example",), uris=uris)


def _channel_credentials(ca: TestCa, client: Issued | None) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=ca.cert_pem,
        private_key=client.key_pem if client else None,
        certificate_chain=client.cert_pem if client else None,
    )


def secure_channel(port: int, ca: TestCa, client: Issued | None) -> grpc.Channel:
    """A blocking channel to the xDS port on loopback over TLS, with `client`'s certificate."""
    return grpc.secure_channel(
        f"{LOOPBACK}:{port}",
        _channel_credentials(ca, client),
        options=[("grpc.ssl_target_name_override", SERVER_NAME)],
    )


def secure_aio_channel(port: int, ca: TestCa, client: Issued | None) -> grpc.aio.Channel:
    """The same for coroutines (an `AdsClient` target)."""
    return grpc.aio.secure_channel(
        f"{LOOPBACK}:{port}",
        _channel_credentials(ca, client),
        options=[("grpc.ssl_target_name_override", SERVER_NAME)],
    )


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """gRPC metadata that presents a proxy token."""
    return (("authorization", f"Bearer {token}"),)
