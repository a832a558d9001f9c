"""Gateway API references across documents: parents, backends, namespaces and ReferenceGrants.

Kubernetes' rules, as the Gateway API states them:

- a document without `metadata.namespace` is in `default`; a reference
  without a namespace means the referring document's own;
- a route whose `parentRef` is a Service (`group: ""`, `kind: Service`: the
  mesh profile, GAMMA) steers that Service's callers, when they are proxyless
  gRPC clients;
- a route attaches to a Gateway listener that its `parentRef` names (by
  `sectionName` and `port` when given) and whose `allowedRoutes` admits the
  route's namespace (`Same` by default, or `All`) and kind, and whose
  hostname intersects the route's;
- a backendRef (or a mirror's) into another namespace needs a
  ReferenceGrant in that namespace that lets the route's kind and
  namespace refer to that kind (and name);
- Breakwater's own Services are in `default`.

A reference that fails is not a mistake that refuses the policy set: like
any Gateway API implementation, Breakwater keeps the route, serves what
resolved, and says in the route's status (Accepted, ResolvedRefs) what did
not and why. Two Gateway API objects with one kind, namespace and name are
a located error, as in any policy set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from breakwater.translators.documents import RawDocument
from breakwater.translators.errors import PolicyError
from breakwater.translators.gateway_api.common import service_name
from breakwater.translators.gateway_api.convert import (
    RouteResolution,
    convert_gateway,
    convert_route,
)
from breakwater.translators.gateway_api.model import (
    BREAKWATER_GROUP,
    CORE_GROUP,
    DEFAULT_NAMESPACE,
    GROUP,
    SERVICE_SUBSET,
    BackendObjectReference,
    GatewayApiDocument,
    GatewayDocument,
    GRPCRouteDocument,
    GRPCRouteRule,
    HTTPRouteDocument,
    HTTPRouteRule,
    Listener,
    ParentReference,
    ReferenceGrantDocument,
    RouteDocument,
)
from breakwater.translators.gateway_api.status import (
    ACCEPTED,
    BACKEND_NOT_FOUND,
    INVALID_KIND,
    NO_MATCHING_LISTENER_HOSTNAME,
    NO_MATCHING_PARENT,
    NOT_ALLOWED_BY_LISTENERS,
    REF_NOT_PERMITTED,
    RESOLVED_REFS,
    UNSUPPORTED_VALUE,
    Condition,
    GatewayApiState,
    ParentStatus,
    RouteStatus,
)
from breakwater.translators.model import Document, Service
from breakwater.translators.names import Target

_NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass
class _Index:
    gateways: dict[tuple[str, str], GatewayDocument] = field(default_factory=dict)
    grants: dict[str, list[ReferenceGrantDocument]] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)

    def permits(self, route: RouteDocument, group: str, kind: str, name: str, ns: str) -> bool:
        """Whether a ReferenceGrant in `ns` lets this route refer to `group/kind name` there."""
        for grant in self.grants.get(ns, []):
            sources = any(
                f.group == GROUP and f.kind == route.kind and f.namespace == route.namespace
                for f in grant.spec.from_
            )
            targets = any(
                t.group == group and t.kind == kind and t.name in (None, name)
                for t in grant.spec.to
            )
            if sources and targets:
                return True
        return False


ConversionMemo = dict[int, tuple[object, object, object, object]]
"""id(document) → (document, raw, resolution, what it converted to), as of the last read."""


def resolve_gateway_api(
    documents: Sequence[tuple[GatewayApiDocument, RawDocument]],
    native: Sequence[tuple[Document, RawDocument]],
    memo: ConversionMemo | None = None,
) -> tuple[list[tuple[Document, RawDocument]], GatewayApiState, list[PolicyError]]:
    """The Gateway API documents as Breakwater documents, their routes' status, and mistakes.

    `native` are Breakwater's own documents, whose Services the routes send to. With a
    `memo` kept from the last read, a document read again (the same object) whose
    resolution did not change converts to the very same document as then, so the
    translators' caches, keyed by identity, find it: an edit of one route among a
    thousand converts one. The memo is left holding this read's conversions.
    """
    last = memo if memo is not None else {}
    kept: ConversionMemo = {}

    def remembered(doc: Any, raw: RawDocument, resolution: object, convert: Any) -> Any:
        entry = last.get(id(doc))
        if entry is not None and entry[0] is doc and entry[1] is raw and entry[2] == resolution:
            result = entry[3]
        else:
            result = convert()
        kept[id(doc)] = (doc, raw, resolution, result)
        return result

    errors: list[PolicyError] = []
    index = _Index(services={d.name: d for d, _ in native if isinstance(d, Service)})
    converted: list[tuple[Document, RawDocument]] = []
    routes: list[tuple[RouteDocument, RawDocument]] = []
    seen: dict[tuple[str, str], RawDocument] = {}
    for doc, raw in documents:
        family = "route" if doc.kind in ("HTTPRoute", "GRPCRoute") else doc.kind
        first = seen.setdefault((family, doc.name), raw)
        if first is not raw:
            errors.append(
                PolicyError(
                    raw.file,
                    raw.line_of(("metadata", "name")),
                    f"{doc.kind} {doc.metadata.name!r} in namespace {doc.namespace!r} is already "
                    f"declared at {first.file}:{first.line}; names must be unique per namespace "
                    "(an HTTPRoute and a GRPCRoute too: both are routes in Envoy)",
                    kind=doc.kind,
                    name=doc.name,
                    field="metadata.name",
                )
            )
            continue
        if isinstance(doc, GatewayDocument):
            index.gateways[(doc.namespace, doc.metadata.name)] = doc
            gateway, gateway_raw, gateway_errors = remembered(
                doc, raw, None, lambda doc=doc, raw=raw: convert_gateway(doc, raw)
            )
            errors.extend(gateway_errors)
            if gateway is not None:
                converted.append((gateway, gateway_raw))
        elif isinstance(doc, ReferenceGrantDocument):
            index.grants.setdefault(doc.namespace, []).append(doc)
        elif isinstance(doc, HTTPRouteDocument | GRPCRouteDocument):
            routes.append((doc, raw))
    statuses: dict[str, RouteStatus] = {}
    for route, raw in routes:
        resolution, status = _resolve_route(index, route)
        statuses[f"{route.kind}/{route.name}"] = status
        if not resolution.gateways and not resolution.services:
            continue
        internal, internal_raw, route_errors = remembered(
            route,
            raw,
            resolution,
            lambda route=route, raw=raw, resolution=resolution: convert_route(
                route, raw, resolution
            ),
        )
        errors.extend(route_errors)
        if internal is not None:
            converted.append((internal, internal_raw))
    ranked = sorted(
        routes,
        key=lambda pair: (
            pair[0].metadata.creation_timestamp or _NEVER,
            pair[0].namespace,
            pair[0].metadata.name,
        ),
    )
    if memo is not None:
        memo.clear()
        memo.update(kept)
    state = GatewayApiState(
        gateways=frozenset(d.name for d in index.gateways.values()),
        route_rank={route.name: rank for rank, (route, _) in enumerate(ranked)},
        routes=statuses,
    )
    return converted, state, errors


# --- parents -------------------------------------------------------------------------------------


def _resolve_route(index: _Index, route: RouteDocument) -> tuple[RouteResolution, RouteStatus]:
    gateways: list[str] = []
    services: list[str] = []
    hostnames: list[str] = []
    parents: list[tuple[ParentReference, Condition, tuple[str, ...]]] = []
    for ref in route.spec.parent_refs:
        if (ref.group, ref.kind) == (CORE_GROUP, "Service"):
            accepted = _attach_service(index, route, ref)
            parents.append((ref, accepted, ()))
            internal = service_name(ref.namespace or route.namespace, ref.name)
            if accepted.status and internal not in services:
                services.append(internal)
            continue
        accepted, found = _attach(index, route, ref)
        gateway, names, listeners = found
        parents.append((ref, accepted, listeners))
        if accepted.status:
            if gateway not in gateways:
                gateways.append(gateway)
            hostnames.extend(h for h in names if h not in hostnames)
    backends, mirrors, resolved = _resolve_backends(index, route)
    status = RouteStatus(
        kind=route.kind,
        namespace=route.namespace,
        name=route.metadata.name,
        parents=tuple(
            ParentStatus(
                namespace=ref.namespace or route.namespace,
                name=ref.name,
                section_name=ref.section_name,
                port=ref.port,
                conditions=(accepted, resolved),
                listeners=listeners,
            )
            for ref, accepted, listeners in parents
        ),
    )
    resolution = RouteResolution(
        gateways=tuple(sorted(gateways)),
        hostnames=tuple(hostnames) or ("*",),
        backends=backends,
        mirrors=mirrors,
        services=tuple(services),
    )
    return resolution, status


def _attach_service(index: _Index, route: RouteDocument, ref: ParentReference) -> Condition:
    """A mesh route (GAMMA): attached to a Service, it steers that Service's callers, which
    Breakwater serves when they are proxyless gRPC clients."""
    namespace = ref.namespace or route.namespace
    service = index.services.get(service_name(namespace, ref.name))
    if service is None:
        return Condition(
            "Accepted",
            False,
            NO_MATCHING_PARENT,
            f"there is no Service {ref.name!r} in namespace {namespace!r}",
        )
    if not service.spec.served_proxyless:
        return Condition(
            "Accepted",
            False,
            NOT_ALLOWED_BY_LISTENERS,
            f"Service {ref.name!r} is not served to proxyless gRPC clients (it needs "
            "`protocol: grpc` and `endpoints`), so no caller would take this route",
        )
    return Condition("Accepted", True, ACCEPTED, "attached to the Service's callers")


_Attached = tuple[str, list[str], tuple[str, ...]]
"""The Gateway's internal name, the hostnames the route serves on it, and the listeners."""


def _refused(reason: str, message: str) -> tuple[Condition, _Attached]:
    return Condition("Accepted", False, reason, message), ("", [], ())


def _attach(
    index: _Index, route: RouteDocument, ref: ParentReference
) -> tuple[Condition, _Attached]:
    """Accepted, or why not; with the Gateway's internal name, the hostnames it serves, and
    the listeners it attached to."""
    namespace = ref.namespace or route.namespace
    if ref.group != GROUP or ref.kind != "Gateway":
        return _refused(
            UNSUPPORTED_VALUE,
            f"parentRef {ref.group}/{ref.kind} is neither a Gateway nor a Service; Breakwater "
            f'attaches routes to {GROUP} Gateways and to Services (group "")',
        )
    gateway = index.gateways.get((namespace, ref.name))
    if gateway is None:
        return _refused(
            NO_MATCHING_PARENT,
            f"there is no Gateway {ref.name!r} in namespace {namespace!r}",
        )
    listeners = [
        listener
        for listener in gateway.spec.listeners
        if ref.section_name in (None, listener.name) and ref.port in (None, listener.port)
    ]
    if not listeners:
        wanted = " and ".join(
            part
            for part in (
                f"sectionName {ref.section_name!r}" if ref.section_name else "",
                f"port {ref.port}" if ref.port else "",
            )
            if part
        )
        return _refused(NO_MATCHING_PARENT, f"Gateway {ref.name!r} has no listener with {wanted}")
    allowed = [listener for listener in listeners if _allows(listener, gateway, route)]
    if not allowed:
        return _refused(
            NOT_ALLOWED_BY_LISTENERS,
            f"no listener of Gateway {ref.name!r} allows {route.kind}s from namespace "
            f"{route.namespace!r}; set the listener's allowedRoutes (namespaces.from: All, or "
            "kinds)",
        )
    names: list[str] = []
    attached: list[str] = []
    for listener in allowed:
        for name in _intersect(listener.hostname, route.spec.hostnames):
            if listener.name not in attached:
                attached.append(listener.name)
            if name not in names:
                names.append(name)
    if not names:
        return _refused(
            NO_MATCHING_LISTENER_HOSTNAME,
            f"none of the route's hostnames falls under the hostname of a listener of Gateway "
            f"{ref.name!r} ({', '.join(sorted({str(li.hostname) for li in allowed}))})",
        )
    return Condition("Accepted", True, ACCEPTED, "attached"), (gateway.name, names, tuple(attached))


def _allows(listener: Listener, gateway: GatewayDocument, route: RouteDocument) -> bool:
    allowed = listener.allowed_routes
    if allowed.namespaces.from_ == "Same" and route.namespace != gateway.namespace:
        return False
    if allowed.kinds is None:
        return True
    return any(k.group == GROUP and k.kind == route.kind for k in allowed.kinds)


def _under(wildcard: str, name: str) -> bool:
    """`*.example.com` covers `a.example.com` and `a.b.example.com`, not `example.com`."""
    return name.endswith(wildcard[1:]) and len(name) > len(wildcard) - 1


def _intersect(listener: str | None, hostnames: Sequence[str]) -> list[str]:
    """The hostnames a route serves on a listener: the more specific of each matching pair."""
    if listener is None:
        return list(hostnames) or ["*"]
    if not hostnames:
        return [listener]
    out: list[str] = []
    for name in hostnames:
        if name == listener or (listener.startswith("*.") and _under(listener, name)):
            out.append(name)
        elif name.startswith("*.") and _under(name, listener):
            out.append(listener)
    return out


# --- backends --------------------------------------------------------------------------------------


def _resolve_backends(
    index: _Index, route: RouteDocument
) -> tuple[dict[tuple[int, int], Target], dict[tuple[int, int], Target], Condition]:
    backends: dict[tuple[int, int], Target] = {}
    mirrors: dict[tuple[int, int], Target] = {}
    failures: list[tuple[str, str]] = []
    rules: Sequence[HTTPRouteRule | GRPCRouteRule] = route.spec.rules
    for r_index, rule in enumerate(rules):
        refs: list[tuple[dict[tuple[int, int], Target], int, BackendObjectReference]] = [
            (backends, b_index, ref) for b_index, ref in enumerate(rule.backend_refs)
        ]
        refs += [
            (mirrors, f_index, item.request_mirror.backend_ref)
            for f_index, item in enumerate(rule.filters)
            if item.request_mirror is not None
        ]
        for table, at, ref in refs:
            target, failure = _backend(index, route, ref)
            if target is not None:
                table[(r_index, at)] = target
            else:
                assert failure is not None
                failures.append(failure)
    if not failures:
        return backends, mirrors, Condition("ResolvedRefs", True, RESOLVED_REFS, "resolved")
    reason = failures[0][0]
    message = "; ".join(dict.fromkeys(text for _, text in failures))
    return backends, mirrors, Condition("ResolvedRefs", False, reason, message)


def _backend(
    index: _Index, route: RouteDocument, ref: BackendObjectReference
) -> tuple[Target | None, tuple[str, str] | None]:
    """The Service (and subset) a backendRef names, or the reason it names none."""
    namespace = ref.namespace or route.namespace
    if (ref.group, ref.kind) == (CORE_GROUP, "Service"):
        target: Target = (ref.name, None)
    elif (ref.group, ref.kind) == (BREAKWATER_GROUP, SERVICE_SUBSET):
        service, _, subset = ref.name.partition(".")
        if not subset:
            return None, (
                BACKEND_NOT_FOUND,
                f"a ServiceSubset is named <service>.<subset>; {ref.name!r} names no subset",
            )
        target = (service, subset)
    else:
        group = ref.group or "core"
        return None, (
            INVALID_KIND,
            f"backendRef {group}/{ref.kind} {ref.name!r} is not a kind Breakwater sends to; "
            f'use a Service (group "") or a {BREAKWATER_GROUP} {SERVICE_SUBSET}',
        )
    if namespace != route.namespace and not index.permits(
        route, ref.group, ref.kind, ref.name, namespace
    ):
        return None, (
            REF_NOT_PERMITTED,
            f"{ref.kind} {ref.name!r} is in namespace {namespace!r}, and no ReferenceGrant there "
            f"lets {route.kind}s from {route.namespace!r} refer to it",
        )
    target = (service_name(namespace, target[0]), target[1])
    service_doc = index.services.get(target[0])
    if service_doc is None:
        where = "" if namespace == DEFAULT_NAMESPACE else f" in namespace {namespace!r}"
        return None, (
            BACKEND_NOT_FOUND,
            f"Service {ref.name.partition('.')[0]!r} is not declared{where}",
        )
    if target[1] is not None and service_doc.spec.subset(target[1]) is None:
        return None, (
            BACKEND_NOT_FOUND,
            f"Service {target[0]!r} has no subset {target[1]!r}",
        )
    return target, None


__all__ = ["resolve_gateway_api"]
