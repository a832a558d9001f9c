"""References from Breakwater's kinds to Gateway API objects, written the Gateway API's way.

`targetRef: {group: gateway.networking.k8s.io, kind: HTTPRoute, name: shop, namespace: web}`
means the route Breakwater calls `web.shop`; these before-validators turn
such a reference into the internal form (`kind`, `name`), so the rest of
Breakwater reads one form only. The models declare `group` and `namespace`
(so the JSON Schema and the CRDs list them), and the validators consume them:
once read they are None, and validating a dumped reference again changes
nothing. A Service reference with a `namespace` means that namespace's Service
(`shop.payments`, as `common.service_name` names it; in files only `default` has
Services), and a Service can be named as the core group's `Service` or as a `breakwater.dev`
`ServiceSubset` (`<service>.<subset>`), as in a backendRef.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from breakwater.translators.gateway_api.common import service_name
from breakwater.translators.gateway_api.model import (
    BREAKWATER_GROUP,
    CORE_GROUP,
    DEFAULT_NAMESPACE,
    GROUP,
    SERVICE_SUBSET,
)

_REFERENCE_FIELDS = ("group", "namespace")


def gateway_api_ref(data: Any, kinds: Mapping[str, str]) -> Any:
    """A reference with `group: gateway.networking.k8s.io` → `{kind, name: <ns>.<name>}`.

    `kinds` maps each Gateway API kind the reference may name to the internal
    kind it becomes (a GRPCRoute is an HTTPRoute inside). Other references pass
    through; `group: breakwater.dev` is the default and is dropped.
    """
    if not isinstance(data, dict):
        return data
    group = data.get("group")
    if group in (None, BREAKWATER_GROUP) and data.get("namespace") is None:
        out = {k: v for k, v in data.items() if k not in _REFERENCE_FIELDS}
        kind = out.get("kind")
        if isinstance(kind, str) and kind in kinds:
            out["kind"] = kinds[kind]
        return out
    if group != GROUP:
        return data
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in kinds:
        raise ValueError(
            f"a reference to the Gateway API names kind {', '.join(kinds)}, not {kind!r}"
        )
    namespace = data.get("namespace") or DEFAULT_NAMESPACE
    out = {k: v for k, v in data.items() if k not in _REFERENCE_FIELDS}
    out["kind"] = kinds[kind]
    out["name"] = f"{namespace}.{data.get('name')}"
    return out


def service_ref(data: Any) -> Any:
    """A Service named the Kubernetes way (`group: ""`, `namespace: default`) or as a
    `breakwater.dev` ServiceSubset → `{kind: Service, name, subset}`."""
    if not isinstance(data, dict) or (data.get("group") is None and "namespace" not in data):
        return data
    group, kind = data.get("group"), data.get("kind", "Service")
    namespace = str(data.get("namespace") or DEFAULT_NAMESPACE)
    out = {k: v for k, v in data.items() if k not in _REFERENCE_FIELDS}
    if group in (BREAKWATER_GROUP, None) and kind == SERVICE_SUBSET:
        service, _, subset = str(data.get("name", "")).partition(".")
        if not subset:
            raise ValueError("a ServiceSubset is named `<service>.<subset>`")
        return {
            **out,
            "kind": "Service",
            "name": service_name(namespace, service),
            "subset": subset,
        }
    if (group, kind) in ((CORE_GROUP, "Service"), (BREAKWATER_GROUP, "Service"), (None, "Service")):
        return {**out, "name": service_name(namespace, str(data.get("name", "")))}
    raise ValueError(
        f'a ResiliencePolicy targets Services: group "" kind Service, or group '
        f"{BREAKWATER_GROUP} kind {SERVICE_SUBSET}, not {group}/{kind}; a route's retries and "
        "timeouts are set on its rules"
    )
