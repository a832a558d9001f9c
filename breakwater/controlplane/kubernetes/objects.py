"""Kubernetes objects → policy documents: pure functions, no I/O, no asyncio.

- Gateway API objects and Breakwater's own kinds are documents as written: each
  becomes one YAML text named `namespace/Kind/name` (the name errors show), read by
  the same reader as a policy file. A Gateway is read only when its GatewayClass
  names Breakwater's controller (`breakwater.dev/gateway-controller`); other
  classes belong to other controllers.
- A core Service becomes a Breakwater `Service` named as `service_name` says (its
  name in `default`, `<namespace>.<name>` elsewhere). Its endpoints are the
  EndpointSlices labelled with its name: an endpoint that is ready is served; one
  that is serving and terminating is served DRAINING (requests in flight finish,
  new ones go elsewhere); any other is left out. The slice's port of the same name
  as the Service's port gives each endpoint's port. Each endpoint carries its pod's
  labels (through its `targetRef`), so label subsets select pods as Istio's
  DestinationRule subsets do, and its `zone`, which becomes its Envoy locality.
- A `breakwater.dev` Service with the name of a core Service in its namespace adds
  what Kubernetes cannot say: `protocol` and label `subsets`. It may not list
  endpoints of its own there (they come from the slices). Without a core Service of
  its name, it is a Service as in a policy file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from breakwater.controlplane.kubernetes import kinds
from breakwater.controlplane.kubernetes.kinds import Kind
from breakwater.controlplane.kubernetes.watch import Key
from breakwater.translators.documents import SourceText
from breakwater.translators.errors import PolicyError
from breakwater.translators.gateway_api.common import DEFAULT_NAMESPACE, service_name
from breakwater.translators.gateway_api.model import GROUP
from breakwater.translators.model import API_VERSION, ENDPOINTS_FROM
from breakwater.translators.names import endpoint_key

CONTROLLER_NAME = "breakwater.dev/gateway-controller"
"""The GatewayClass `controllerName` whose Gateways Breakwater serves."""
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
"""What ties an EndpointSlice to its Service."""
ENDPOINTS_FROM_SLICES = "EndpointSlices"

Objects = Mapping[Kind, Mapping[Key, dict[str, Any]]]
"""Every object read, by kind and (namespace, name)."""

_PROTOCOLS = {
    "grpc": "grpc",
    "kubernetes.io/h2c": "http2",
    "h2c": "http2",
    "http2": "http2",
    "http": "http",
}
"""A Service port's `appProtocol` (or name, or name prefix before `-`) → Breakwater's protocol."""


def object_path(kind: str, namespace: str, name: str) -> str:
    """How errors name an object: `namespace/Kind/name` (`Kind/name` when cluster-scoped)."""
    return f"{namespace}/{kind}/{name}" if namespace else f"{kind}/{name}"


@dataclass(frozen=True)
class ServiceEndpoints:
    """A Service document made from a core Service, its slices and its pods."""

    path: str
    data: dict[str, Any]
    drained: frozenset[str]
    """`ADDRESS:PORT` of the endpoints that are terminating but still serving."""
    sources: tuple[str, ...]
    """The paths of the objects it was made from (Service, breakwater.dev Service)."""


@dataclass(frozen=True)
class Converted:
    texts: dict[str, SourceText] = field(default_factory=dict)
    """Path → the YAML of an object read as written."""
    services: dict[str, ServiceEndpoints] = field(default_factory=dict)
    """Breakwater service name → the Service made for it."""
    errors: list[PolicyError] = field(default_factory=list)
    """Objects that cannot become a document (not a mistake of the pipeline's to find)."""
    ignored: list[str] = field(default_factory=list)
    """Paths of objects read but not Breakwater's (a Gateway of another controller's class)."""


def _document(obj: dict[str, Any], api_version: str, kind: str) -> dict[str, Any]:
    """The object as a policy document: what the user wrote, less what the server added."""
    metadata = obj.get("metadata") or {}
    written: dict[str, Any] = {"name": metadata.get("name")}
    # Breakwater's own kinds have no namespace in their model: their names are one space
    # (two objects of one kind and name in two namespaces are a located error).
    if metadata.get("namespace") and api_version != API_VERSION:
        written["namespace"] = metadata["namespace"]
    if api_version != API_VERSION:
        for item in ("labels", "annotations", "creationTimestamp"):
            if metadata.get(item):
                written[item] = metadata[item]
    elif metadata.get("labels"):
        written["labels"] = metadata["labels"]
    spec = obj.get("spec")
    if api_version == API_VERSION and isinstance(spec, dict):
        spec = in_namespace(kind, spec, str(metadata.get("namespace") or DEFAULT_NAMESPACE))
    return {"apiVersion": api_version, "kind": kind, "metadata": written, "spec": spec}


_ROUTE_REFS = {"Rollout": ("routeRef", "HTTPRoute"), "Telemetry": ("targetRef", None)}
"""The references of Breakwater's kinds to Gateway API objects (field, default kind): on
Kubernetes every route and Gateway is one, so a reference without a group names the Gateway
API's."""


def in_namespace(kind: str, spec: dict[str, Any], namespace: str) -> dict[str, Any]:
    """A Breakwater kind's spec with its references made explicit in its own namespace, as
    Kubernetes reads a reference without one: a ResiliencePolicy in `shop` targeting `payments`
    means the Service `shop/payments` (Breakwater's `shop.payments`), a Rollout's `routeRef`
    the HTTPRoute `shop/<name>`. A reference that names its namespace keeps it."""
    if kind == "ResiliencePolicy":
        field = "targetRef"
        ref = spec.get(field)
        if not isinstance(ref, dict) or "namespace" in ref:
            return spec
        return {**spec, field: {**ref, "namespace": namespace}}
    field, default_kind = _ROUTE_REFS.get(kind, ("", None))
    ref = spec.get(field)
    if not isinstance(ref, dict) or ref.get("namespace") is not None:
        return spec
    if ref.get("group") not in (None, GROUP) or "." in str(ref.get("name", "")):
        return spec
    explicit = {"kind": default_kind} if default_kind else {}
    return {**spec, field: {**explicit, **ref, "group": GROUP, "namespace": namespace}}


def _ours(gateway: dict[str, Any], classes: Mapping[Key, dict[str, Any]]) -> bool:
    name = (gateway.get("spec") or {}).get("gatewayClassName")
    found = classes.get(("", str(name)))
    return found is not None and (found.get("spec") or {}).get("controllerName") == CONTROLLER_NAME


TextCache = dict[int, tuple[dict[str, Any], str]]
"""id(object) → (the object, its YAML): an unchanged object is the very same dict from one
read to the next (a watch replaces an object, never edits it), so it is dumped once."""


def as_written(
    objects: Objects, cache: TextCache | None = None
) -> tuple[dict[str, SourceText], list[str]]:
    """The Gateway API objects and Breakwater's kinds as YAML texts; the Gateways not ours.

    With a `cache`, it is left holding exactly the objects of this read."""
    texts: dict[str, SourceText] = {}
    ignored: list[str] = []
    kept: TextCache = {}
    classes = objects.get(kinds.GATEWAY_CLASS, {})
    for kind in (*kinds.GATEWAY_API_KINDS, *kinds.BREAKWATER_KINDS):
        for (namespace, name), obj in sorted(objects.get(kind, {}).items()):
            path = object_path(kind.kind, namespace, name)
            if kind is kinds.GATEWAY and not _ours(obj, classes):
                ignored.append(path)
                continue
            cached = (cache or {}).get(id(obj))
            if cached is not None and cached[0] is obj:
                text = cached[1]
            else:
                text = yaml.safe_dump(_document(obj, kind.api_version, kind.kind), sort_keys=False)
            kept[id(obj)] = (obj, text)
            texts[path] = SourceText(path, text)
    if cache is not None:
        cache.clear()
        cache.update(kept)
    return texts, ignored


def _service_port(service: dict[str, Any], wanted: int | None) -> dict[str, Any] | None:
    """The port Envoy sends to: the one the routes name (`backendRef.port`), else the first
    whose appProtocol or name says HTTP or gRPC, else the first."""
    ports = (service.get("spec") or {}).get("ports") or []
    for port in ports:
        if wanted is not None and port.get("port") == wanted:
            return dict(port)
    for port in ports:
        if _protocol_of(port) is not None:
            return dict(port)
    return dict(ports[0]) if ports else None


def referenced_ports(objects: Objects) -> dict[Key, int]:
    """(namespace, Service) → the port the routes' backendRefs name (the lowest, if several):
    a Breakwater Service is one cluster on one port."""
    found: dict[Key, int] = {}
    for kind in (kinds.HTTP_ROUTE, kinds.GRPC_ROUTE):
        for (namespace, _), route in objects.get(kind, {}).items():
            for rule in (route.get("spec") or {}).get("rules") or []:
                for ref in rule.get("backendRefs") or []:
                    if ref.get("group", "") != "" or ref.get("kind", "Service") != "Service":
                        continue
                    port = ref.get("port")
                    if isinstance(port, int):
                        key = (str(ref.get("namespace") or namespace), str(ref.get("name")))
                        found[key] = min(port, found.get(key, port))
    return found


def _protocol_of(port: Mapping[str, Any]) -> str | None:
    app = str(port.get("appProtocol") or "").lower()
    if app in _PROTOCOLS:
        return _PROTOCOLS[app]
    name = str(port.get("name") or "").lower()
    return _PROTOCOLS.get(name) or _PROTOCOLS.get(name.partition("-")[0])


def _slice_port(slice_: dict[str, Any], port_name: str) -> int | None:
    for port in slice_.get("ports") or []:
        if str(port.get("name") or "") == port_name and port.get("port") is not None:
            return int(port["port"])
    return None


def _endpoints(
    slices: Iterable[dict[str, Any]],
    port_name: str,
    pods: Mapping[Key, dict[str, Any]],
    namespace: str,
) -> tuple[list[dict[str, Any]], set[str]]:
    endpoints: dict[str, dict[str, Any]] = {}
    drained: set[str] = set()
    for slice_ in slices:
        number = _slice_port(slice_, port_name)
        if number is None or slice_.get("addressType") not in ("IPv4", "IPv6"):
            continue
        for endpoint in slice_.get("endpoints") or []:
            conditions = endpoint.get("conditions") or {}
            ready = conditions.get("ready") is not False  # unknown counts as ready (API docs)
            serving = conditions.get("serving", ready) is not False
            terminating = conditions.get("terminating") is True
            if not ready and not (serving and terminating):
                continue
            addresses = endpoint.get("addresses") or []
            if not addresses:
                continue
            key = endpoint_key(addresses[0], number)
            if key in endpoints and key not in drained:
                continue  # one endpoint in two slices (a slice being replaced): ready wins
            target = endpoint.get("targetRef") or {}
            labels: dict[str, str] = {}
            if target.get("kind") == "Pod":
                pod = pods.get((str(target.get("namespace") or namespace), str(target.get("name"))))
                labels = dict(((pod or {}).get("metadata") or {}).get("labels") or {})
            endpoints[key] = {"address": addresses[0], "port": number, "labels": labels}
            if endpoint.get("zone"):
                endpoints[key]["zone"] = str(endpoint["zone"])
            if ready:
                drained.discard(key)
            else:
                drained.add(key)
    return [endpoints[k] for k in sorted(endpoints)], drained


ServiceCache = dict[str, tuple[tuple[object, ...], ServiceEndpoints | None, list[PolicyError]]]
"""Breakwater name → (the objects a Service was made from, what it became, its errors): made
again only when one of those objects is another (a watch replaces an object on each change)."""


def _pods_of(
    slices: Iterable[dict[str, Any]], pods: Mapping[Key, dict[str, Any]], namespace: str
) -> list[object]:
    found: list[object] = []
    for slice_ in slices:
        for endpoint in slice_.get("endpoints") or []:
            target = endpoint.get("targetRef") or {}
            if target.get("kind") == "Pod":
                key = (str(target.get("namespace") or namespace), str(target.get("name")))
                found.append(pods.get(key))
    return found


def _service(
    namespace: str,
    name: str,
    service: dict[str, Any],
    declared: dict[str, Any] | None,
    slices: list[dict[str, Any]],
    pods: Mapping[Key, dict[str, Any]],
    wanted: int | None,
) -> tuple[ServiceEndpoints | None, list[PolicyError]]:
    path = object_path("Service", namespace, name)
    port = _service_port(service, wanted)
    spec_type = (service.get("spec") or {}).get("type")
    if port is None or spec_type == "ExternalName":
        return None, []  # nothing Envoy can send to through slices
    errors: list[PolicyError] = []
    sources: tuple[str, ...] = (path,)
    spec: dict[str, Any] = {"protocol": _protocol_of(port) or "http"}
    if declared is not None:
        extra_path = object_path("Service", namespace, name) + " (breakwater.dev)"
        sources = (path, extra_path)
        written = declared.get("spec") or {}
        own = [f for f in ("endpoints", "dns") if written.get(f)]
        if own:
            errors.append(
                PolicyError(
                    extra_path,
                    1,
                    f"lists `{own[0]}`, but Service {namespace}/{name} is a Kubernetes "
                    "Service whose endpoints come from its EndpointSlices: keep only "
                    "`protocol` and `subsets` here",
                    kind="Service",
                    name=service_name(namespace, name),
                    field=f"spec.{own[0]}",
                )
            )
        for item in ("protocol", "subsets"):
            if item in written:
                spec[item] = written[item]
    endpoints, drained = _endpoints(slices, str(port.get("name") or ""), pods, namespace)
    spec["endpoints"] = endpoints
    internal = service_name(namespace, name)
    data = {
        "apiVersion": API_VERSION,
        "kind": "Service",
        "metadata": {"name": internal, "annotations": {ENDPOINTS_FROM: ENDPOINTS_FROM_SLICES}},
        "spec": spec,
    }
    return ServiceEndpoints(path, data, frozenset(drained), sources), errors


def services(
    objects: Objects, cache: ServiceCache | None = None
) -> tuple[dict[str, ServiceEndpoints], list[PolicyError]]:
    """Each core Service as a Breakwater Service, with what its breakwater.dev Service adds.

    With a `cache` of the last call, a Service whose objects (the Service, its
    breakwater.dev Service, its slices, their pods) are the same is not made again; the
    cache is left holding this call's."""
    core = objects.get(kinds.SERVICE, {})
    extra = objects.get(kinds.BREAKWATER_SERVICE, {})
    pods = objects.get(kinds.POD, {})
    slices_of: dict[Key, list[dict[str, Any]]] = {}
    for (namespace, _), slice_ in sorted(objects.get(kinds.ENDPOINT_SLICE, {}).items()):
        owner = ((slice_.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL)
        if owner:
            slices_of.setdefault((namespace, str(owner)), []).append(slice_)
    last = cache if cache is not None else {}
    ports = referenced_ports(objects)
    kept: ServiceCache = {}
    made: dict[str, ServiceEndpoints] = {}
    errors: list[PolicyError] = []
    for (namespace, name), service in sorted(core.items()):
        internal = service_name(namespace, name)
        declared = extra.get((namespace, name))
        slices = slices_of.get((namespace, name), [])
        wanted = ports.get((namespace, name))
        key = (wanted, service, declared, *slices, *_pods_of(slices, pods, namespace))
        before = last.get(internal)
        if (
            before is not None
            and len(before[0]) == len(key)
            and before[0][0] == wanted
            and all(a is b for a, b in zip(before[0][1:], key[1:], strict=True))
        ):
            entry = before
        else:
            made_now = _service(namespace, name, service, declared, slices, pods, wanted)
            entry = (key, *made_now)
        kept[internal] = entry
        if entry[1] is not None:
            made[internal] = entry[1]
        errors.extend(entry[2])
    for (namespace, name), declared in sorted(extra.items()):
        internal = service_name(namespace, name)
        if internal in made:
            continue
        path = object_path("Service", namespace, name) + " (breakwater.dev)"
        data = _document(declared, API_VERSION, "Service")
        data["metadata"] = {"name": internal}
        made[internal] = ServiceEndpoints(path, data, frozenset(), (path,))
    if cache is not None:
        cache.clear()
        cache.update(kept)
    return made, errors


def convert(
    objects: Objects,
    texts_cache: TextCache | None = None,
    services_cache: ServiceCache | None = None,
) -> Converted:
    """Every object read, as texts and Services; the caches are those of the last call."""
    texts, ignored = as_written(objects, texts_cache)
    made, errors = services(objects, services_cache)
    return Converted(texts, made, errors, ignored)


__all__ = [
    "CONTROLLER_NAME",
    "Converted",
    "Objects",
    "ServiceCache",
    "ServiceEndpoints",
    "TextCache",
    "as_written",
    "convert",
    "in_namespace",
    "object_path",
    "services",
]
