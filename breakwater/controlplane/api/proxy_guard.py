"""Proxy credentials at the gRPC level: who may fetch config, and who may report, for whom.

Once proxy credentials are configured:

* An ADS stream (SotW or Delta) is admitted when its first request names its
  node: the call must carry a credential (`UNAUTHENTICATED` otherwise) that
  may claim the node's cluster (`PERMISSION_DENIED` otherwise). This runs
  from the xDS server's identify step (`XdsServer(admit=...)`), before the
  stream counts as a proxy anywhere: a refused client is never served, never
  listed, and never holds up a rollout. The server knows only that a hook may
  end the call; what a credential allows is decided here.
* A report (OTLP `Export`, LRS) counts only for a node that holds a live ADS
  stream admitted with the same credential: the `x-breakwater-node` header
  and LRS's node are claims, and the stream is the proof. The receivers are
  wrapped by a server interceptor, so the fleet code does not change.

A credential is a token (its digest) or a client certificate (the digest of
its PEM): two proxies sharing a token may report for each other, two with
certificates of their own may not. The per-call cost is a scan of the call's
metadata, one SHA-256 and two dictionary lookups (and gRPC's auth context
for a certificate); `bench/auth.py` measures it.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from breakwater.controlplane.api.credentials import (
    ANY_CLUSTER,
    SPIFFE_PREFIX,
    ProxyTokens,
    clusters_of_uris,
    token_digest,
)
from breakwater.controlplane.fleet.contract import NODE_HEADER
from breakwater.controlplane.fleet.receivers import OTLP_METRICS_SERVICE
from breakwater.controlplane.xds.status import StreamStatus, XdsObserver

Context = Any  # grpc.aio.ServicerContext

EXPORT_METHOD = f"/{OTLP_METRICS_SERVICE}/Export"
LRS_METHOD = "/envoy.service.load_stats.v3.LoadReportingService/StreamLoadStats"

HOW_TO_AUTHENTICATE = (
    "send `authorization: Bearer <token>` with a token of the server's --proxy-token-file "
    "(`breakwater bootstrap --proxy-token-file FILE` puts it in the proxy's initial_metadata; "
    "for a proxyless gRPC client, `breakwater bootstrap --grpc --tls-ca CA --proxy-token-file "
    "FILE` with its token alone in FILE, and GRPC_EXPERIMENTAL_XDS_BOOTSTRAP_CALL_CREDS=true in "
    "its environment), "
    f"or connect with a client certificate whose URI SAN is {SPIFFE_PREFIX}<node cluster>"
)


@dataclass(frozen=True, slots=True)
class Credential:
    """What a call proved: its key (`t`/`c` + a digest) and the node clusters it may claim."""

    key: bytes
    clusters: frozenset[str]
    kind: str
    """`token` or `certificate`, for messages."""

    def may_claim(self, cluster: str) -> bool:
        return cluster in self.clusters or ANY_CLUSTER in self.clusters


class Refusal(Exception):
    """A call this guard refuses; the code and the sentence it ends with."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class ProxyGuard(XdsObserver):
    """Checks proxy credentials and remembers which credential holds each node's streams."""

    def __init__(self, tokens: ProxyTokens | None, *, certificates: bool) -> None:
        self._tokens = tokens
        self._certificates = certificates
        self._streams: dict[int, tuple[str, bytes]] = {}
        """ADS stream id → (node id, credential key) of every admitted stream."""
        self._live: dict[str, dict[bytes, int]] = {}
        """Node id → credential key → how many of its admitted streams are open."""

    # credentials -------------------------------------------------------------

    def credential(self, context: Context) -> Credential:
        """The call's credential: its bearer token if it sent one, else its certificate."""
        authorization = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                authorization = value
                break
        return self._credential(context, authorization)

    def _credential(self, context: Context, authorization: str | None) -> Credential:
        if authorization is not None and self._tokens is not None:
            if not authorization.startswith("Bearer "):
                raise Refusal(
                    grpc.StatusCode.UNAUTHENTICATED,
                    f"the authorization metadata is not `Bearer <token>`; {HOW_TO_AUTHENTICATE}",
                )
            digest = token_digest(authorization[7:].strip())
            clusters = self._tokens.clusters_of_digest(digest)
            if clusters is None:
                raise Refusal(
                    grpc.StatusCode.UNAUTHENTICATED,
                    "the proxy token sent is not in the server's --proxy-token-file; give the "
                    "proxy a token of that file (or add its token to the file and restart)",
                )
            return Credential(b"t" + digest, clusters, "token")
        if self._certificates:
            auth = context.auth_context()
            pem = auth.get("x509_pem_cert")
            if pem:
                uris = (uri.decode("utf-8", "replace") for uri in auth.get("peer_uri", ()))
                clusters = clusters_of_uris(uris)
                if not clusters:
                    raise Refusal(
                        grpc.StatusCode.UNAUTHENTICATED,
                        "the client certificate names no node cluster: issue it with the URI "
                        f"SAN {SPIFFE_PREFIX}<node cluster>, or send a proxy token",
                    )
                return Credential(b"c" + hashlib.sha256(pem[0]).digest(), clusters, "certificate")
        raise Refusal(
            grpc.StatusCode.UNAUTHENTICATED, f"this proxy sent no credential; {HOW_TO_AUTHENTICATE}"
        )

    @staticmethod
    def _claim(credential: Credential, cluster: str) -> None:
        if not credential.may_claim(cluster):
            allowed = ", ".join(sorted(credential.clusters))
            raise Refusal(
                grpc.StatusCode.PERMISSION_DENIED,
                f"this {credential.kind} may claim node cluster {allowed}, not {cluster!r}; give "
                f"the proxy the {credential.kind} issued for {cluster!r}, or set its node "
                f"cluster to {allowed}",
            )

    # ADS ---------------------------------------------------------------------

    async def admit(self, stream_id: int, node: Any, context: Context) -> None:
        """`XdsServer(admit=...)`: end the call unless its credential may claim `node`."""
        try:
            credential = self.credential(context)
            self._claim(credential, str(node.cluster))
        except Refusal as refusal:
            await context.abort(refusal.code, str(refusal))
            raise  # abort raises; this line is for the type checker
        self.admitted(stream_id, str(node.id), credential.key)

    def credential_of(self, stream_id: int) -> bytes | None:
        """The key of the credential an open ADS stream was admitted with (a worker tells the
        parent, whose report checks need it)."""
        admitted = self._streams.get(stream_id)
        return None if admitted is None else admitted[1]

    def admitted(self, stream_id: int, node_id: str, key: bytes) -> None:
        """A stream admitted elsewhere (by an xDS worker) with the credential `key`: reports
        for its node are taken with that credential while it is open."""
        self._streams[stream_id] = (node_id, key)
        held = self._live.setdefault(node_id, {})
        held[key] = held.get(key, 0) + 1

    def on_disconnect(self, stream: StreamStatus) -> None:
        admitted = self._streams.pop(stream.stream_id, None)
        if admitted is None:
            return
        node_id, key = admitted
        held = self._live.get(node_id, {})
        held[key] = held.get(key, 1) - 1
        if held[key] <= 0:
            del held[key]
        if not held:
            self._live.pop(node_id, None)

    def holds_stream(self, node_id: str, credential: Credential) -> bool:
        return credential.key in self._live.get(node_id, {})

    # reports -----------------------------------------------------------------

    def _reporter(self, node_id: str | None, credential: Credential) -> None:
        if not node_id or not self.holds_stream(node_id, credential):
            raise Refusal(
                grpc.StatusCode.PERMISSION_DENIED,
                f"reports for node {node_id!r} are taken only with the credential that holds "
                "its xDS stream; connect that proxy over ADS first, with the same "
                f"{credential.kind} as its reports",
            )

    async def _export_allowed(self, context: Context) -> None:
        authorization = node = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                authorization = value
            elif key == NODE_HEADER:
                node = value
        self._reporter(node, self._credential(context, authorization))

    def interceptor(self) -> grpc.aio.ServerInterceptor:  # type: ignore[type-arg]
        """Wraps the report receivers (OTLP `Export`, LRS) in these checks."""
        return _ReportGuard(self)

    def guard_export(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:  # type: ignore[type-arg]
        inner: Callable[[Any, Context], Awaitable[Any]] = handler.unary_unary  # type: ignore[assignment]

        async def export(request: Any, context: Context) -> Any:
            try:
                await self._export_allowed(context)
            except Refusal as refusal:
                await context.abort(refusal.code, str(refusal))
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            export,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def guard_load_reports(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:  # type: ignore[type-arg]
        inner: Callable[[Any, Context], AsyncIterator[Any]] = handler.stream_stream  # type: ignore[assignment]

        async def checked(
            requests: AsyncIterator[Any], context: Context, credential: Credential
        ) -> AsyncIterator[Any]:
            node_id: str | None = None
            async for request in requests:
                try:
                    if node_id is None:
                        node_id = str(request.node.id)
                        self._claim(credential, str(request.node.cluster))
                    if request.cluster_stats:
                        self._reporter(node_id, credential)
                except Refusal as refusal:
                    await context.abort(refusal.code, str(refusal))
                yield request

        async def stream(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
            try:
                credential = self.credential(context)
            except Refusal as refusal:
                await context.abort(refusal.code, str(refusal))
                raise
            async for response in inner(checked(requests, context, credential), context):
                yield response

        return grpc.stream_stream_rpc_method_handler(
            stream,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class _ReportGuard(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Puts the guard in front of the report methods; every other method passes untouched.

    A wrapped handler is kept per method for as long as the server hands out the same
    handler, so a report costs no new closures.
    """

    def __init__(self, guard: ProxyGuard) -> None:
        self._wrappers = {EXPORT_METHOD: guard.guard_export, LRS_METHOD: guard.guard_load_reports}
        self._wrapped: dict[str, tuple[Any, Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],  # type: ignore[type-arg]
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:  # type: ignore[type-arg]
        handler = await continuation(handler_call_details)
        method = handler_call_details.method  # type: ignore[attr-defined]
        wrap = self._wrappers.get(method)
        if wrap is None or handler is None:
            return handler
        cached = self._wrapped.get(method)
        if cached is None or cached[0] is not handler:
            cached = self._wrapped[method] = (handler, wrap(handler))
        return cached[1]  # type: ignore[no-any-return]


__all__ = ["Credential", "ProxyGuard", "Refusal"]
