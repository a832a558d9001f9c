"""A Gateway API HTTPS listener through a real Envoy: TLS ends at the proxy.

A test CA issues the gateway's certificate; the Gateway names the files in
its listener's `tls.options`, and Envoy reads them from its own disk. A
client that trusts only that CA reaches the upstream over HTTPS (HTTP/2 or
HTTP/1.1 by ALPN), and plain HTTP on the same port gets no answer.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from pathlib import Path

import pytest
import trustme

from breakwater.devtools.ports import LOOPBACK
from tests.e2e.mesh import Mesh, service

HOST = "pay.shop.example"

GATEWAY = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: shop
  annotations: {breakwater.dev/node-cluster: edge}
spec:
  gatewayClassName: breakwater
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
    - name: https
      port: $gateway_port
      protocol: HTTPS
      hostname: "*.shop.example"
      tls:
        certificateRefs: [{name: shop-cert}]
        options:
          breakwater.dev/certificate-chain: %(chain)s
          breakwater.dev/private-key: %(key)s
"""

ROUTE = """\
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: checkout}
spec:
  parentRefs: [{name: shop}]
  hostnames: [pay.shop.example]
  rules:
    - backendRefs: [{name: payments}]
"""


def test_https_reaches_the_upstream_and_plain_http_does_not(mesh: Mesh, tmp_path: Path) -> None:
    ca = trustme.CA()
    issued = ca.issue_cert(HOST)
    chain, key, trusted = tmp_path / "shop.pem", tmp_path / "shop.key", tmp_path / "ca.pem"
    chain.write_bytes(b"".join(pem.bytes() for pem in issued.cert_chain_pems))
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(trusted))

    mesh.upstream("only", service="payments")
    mesh.start(
        service("payments", "only") + ROUTE,
        gateway_document=GATEWAY % {"chain": chain, "key": key},
        listener="default.shop",
    )

    context = ssl.create_default_context(cafile=str(trusted))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection((LOOPBACK, mesh.gateway_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=HOST) as tls,
    ):
        assert tls.selected_alpn_protocol() == "h2"
        peer = tls.getpeercert()
        assert peer is not None
        assert peer["subjectAltName"] == (("DNS", HOST),)

    context.set_alpn_protocols(["http/1.1"])
    connection = http.client.HTTPConnection(LOOPBACK, mesh.gateway_port, timeout=5)
    try:
        # Verified against the test CA for the route's host name, not the address dialled.
        raw = socket.create_connection((LOOPBACK, mesh.gateway_port), timeout=5)
        connection.sock = context.wrap_socket(raw, server_hostname=HOST)
        connection.request("GET", "/orders", headers={"Host": HOST})
        response = connection.getresponse()
        response.read()
        assert response.status == 200
    finally:
        connection.close()
    assert [r.path for r in mesh.upstreams["only"].seen()] == ["/orders"]

    plain = http.client.HTTPConnection(LOOPBACK, mesh.gateway_port, timeout=5)
    try:
        with pytest.raises((http.client.HTTPException, OSError)):
            plain.request("GET", "/orders", headers={"Host": HOST})
            plain.getresponse().read()
    finally:
        plain.close()
    assert len(mesh.upstreams["only"].seen()) == 1
