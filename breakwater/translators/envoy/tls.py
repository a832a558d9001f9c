"""Gateway `tls` → the listener's transport socket: Envoy terminates TLS itself.

The certificate and key are files on the Envoy host, named by path
(`DataSource.filename`): Envoy reads them when it builds the listener, so no
key material passes through the control plane. ALPN offers HTTP/2 first, then
HTTP/1.1; the connection manager speaks whichever the client chose.
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2

from breakwater.translators.envoy.clusters import pack_any
from breakwater.translators.explain.meanings import FieldMeaning, Meanings
from breakwater.translators.model import GatewayTls

TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls"
ALPN = ("h2", "http/1.1")
"""What the listener offers in the TLS handshake, in order of preference."""

EXPLAIN: Meanings = {
    ("tls", "certificate_chain"): FieldMeaning(
        "listener filter_chains[0].transport_socket envoy.transport_sockets.tls "
        "(DownstreamTlsContext) common_tls_context.tls_certificates[0].certificate_chain.filename; "
        "alpn_protocols h2, http/1.1",
        "Envoy reads the file on its own host, not the control plane: a path that does not exist "
        "there makes Envoy reject the listener (the control plane's config is still valid); Envoy "
        "reads it when it builds the listener; the listener then speaks TLS only, so a "
        "plain-HTTP request to its port fails",
    ),
    ("tls", "private_key"): FieldMeaning(
        "DownstreamTlsContext common_tls_context.tls_certificates[0].private_key.filename",
        "read by Envoy on its own host, never by Breakwater: the key stays on the proxy",
    ),
}
"""What `breakwater explain` says about a gateway's `tls` (paths under GatewaySpec)."""


def transport_socket(tls: GatewayTls) -> base_pb2.TransportSocket:
    """The listener's TLS: one certificate, from files on the Envoy host."""
    context = tls_pb2.DownstreamTlsContext(
        common_tls_context=tls_pb2.CommonTlsContext(
            tls_certificates=[
                common_pb2.TlsCertificate(
                    certificate_chain=base_pb2.DataSource(filename=tls.certificate_chain),
                    private_key=base_pb2.DataSource(filename=tls.private_key),
                )
            ],
            alpn_protocols=list(ALPN),
        )
    )
    return base_pb2.TransportSocket(name=TLS_TRANSPORT_SOCKET, typed_config=pack_any(context))
