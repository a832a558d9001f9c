"""Names of the Envoy resources Breakwater generates.

Envoy's stats, access logs and config dumps show these names, and the xDS
server, `explain` and `status` use them to map a resource back to the policy
that made it, so the scheme is part of the contract:

| resource                               | name                        |
|----------------------------------------|-----------------------------|
| cluster of a service                   | `payments`                  |
| cluster of a service outside `default` | `shop/payments` (the Service `shop.payments`) |
| cluster of a subset                    | `payments|canary`           |
| failover (aggregate) cluster           | `payments+failover`         |
| failover cluster of a subset           | `payments|canary+failover`  |
| ClusterLoadAssignment                  | its cluster's name          |
| the proxies' local cluster (zones)     | `breakwater:local`          |
| Listener, RouteConfiguration           | the Gateway's name          |
| Listener of a service, for gRPC clients | the Service's name (what `xds:///<service>` asks for) |
| its RouteConfiguration                 | the Service's name          |
| VirtualHost                            | the HTTPRoute's name        |
| Route                                  | `<httproute>/<rule index>/<match index>` |
| rate limit stats of a gateway          | `ratelimit.gateway.<gateway>` |
| rate limit stats of an HTTPRoute       | `ratelimit.route.<httproute>` |
| rate limit stats of one rule           | `ratelimit.rule.<httproute>.<rule index>` |

A local rate limit's counters are `<prefix>.http_local_rate_limit.rate_limited`
(and `.ok`, `.enabled`, `.enforced`) in Envoy's stats.

Policy names only contain lowercase letters, digits and `-`, so `|`, `+` and
`/` never occur inside a name and every generated name parses back to exactly
one origin. (`payments|failover` would be ambiguous: it is also the cluster of
a subset called `failover`.)

A Service outside `default` is `<namespace>.<name>` to Breakwater, but a cluster's name
never holds a dot: Envoy's default stat tag extraction takes the cluster in
`cluster.<name>.upstream_rq_xx` to end at the first dot (`^cluster\\.((.*?)\\.)`), so its
stats sink would report `shop` as the cluster and the rest as the stat. The cluster spells
the namespace separator `/` instead; `cluster_name` and `parse_cluster_name` are the only
places that know.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

Target = tuple[str, str | None]
"""A (service, subset) pair: what a backend resolves to, one level of policy, one plain
cluster (named by `cluster_name`)."""

LOCAL_CLUSTER = "breakwater:local"
"""The static EDS cluster `breakwater bootstrap --zone` declares and names as Envoy's
`local_cluster_name`; the server sends its endpoints (the node cluster's proxies by zone).
No policy name holds a `:`."""

NAMESPACE_SEPARATOR = "."
"""Between a Kubernetes namespace and a Service's name in a Breakwater Service's name
(`shop.payments`). Kubernetes names of Services and namespaces hold no dot, so it is unique."""

CLUSTER_NAMESPACE_SEPARATOR = "/"
"""The same separator in an Envoy cluster's name (`shop/payments`), where a dot would end
the `envoy.cluster_name` stat tag."""

SUBSET_SEPARATOR = "|"
FAILOVER_SUFFIX = "+failover"


@dataclass(frozen=True)
class ClusterRef:
    """What a generated cluster name stands for."""

    service: str
    subset: str | None = None
    failover: bool = False


def cluster_name(service: str, subset: str | None = None) -> str:
    spelled = service.replace(NAMESPACE_SEPARATOR, CLUSTER_NAMESPACE_SEPARATOR)
    if subset is None:
        return spelled
    return f"{spelled}{SUBSET_SEPARATOR}{subset}"


def failover_cluster_name(service: str, subset: str | None = None) -> str:
    return cluster_name(service, subset) + FAILOVER_SUFFIX


def parse_cluster_name(name: str) -> ClusterRef:
    """Invert `cluster_name` / `failover_cluster_name`, for status and explain."""
    failover = name.endswith(FAILOVER_SUFFIX)
    if failover:
        name = name[: -len(FAILOVER_SUFFIX)]
    spelled, _, subset = name.partition(SUBSET_SEPARATOR)
    service = spelled.replace(CLUSTER_NAMESPACE_SEPARATOR, NAMESPACE_SEPARATOR)
    return ClusterRef(service=service, subset=subset or None, failover=failover)


def listener_name(gateway: str) -> str:
    return gateway


def route_config_name(gateway: str) -> str:
    return gateway


def mesh_listener_name(service: str) -> str:
    """What a gRPC client dialing `xds:///<service>` asks LDS for (the default template, `%s`)."""
    return service


def mesh_route_config_name(service: str) -> str:
    return service


def route_name(http_route: str, rule_index: int, match_index: int) -> str:
    """Indices, not rule names: rule names are optional, and `explain` needs the index anyway."""
    return f"{http_route}/{rule_index}/{match_index}"


def gateway_rate_limit_stat_prefix(gateway: str) -> str:
    return f"ratelimit.gateway.{gateway}"


def route_rate_limit_stat_prefix(http_route: str) -> str:
    return f"ratelimit.route.{http_route}"


def rule_rate_limit_stat_prefix(http_route: str, rule_index: int) -> str:
    return f"ratelimit.rule.{http_route}.{rule_index}"


def gateway_global_limit_key(gateway: str) -> str:
    """The rate-limit service's descriptor value of a gateway's global limit (and so on)."""
    return f"Gateway/{gateway}"


def route_global_limit_key(http_route: str) -> str:
    return f"HTTPRoute/{http_route}"


def rule_global_limit_key(http_route: str, rule_index: int) -> str:
    return f"HTTPRoute/{http_route}/{rule_index}"


def endpoint_key(address: str, port: int) -> str:
    """How an endpoint is named to operators, in the API and in the store: `ADDRESS:PORT`, the
    address as Python spells it canonically, IPv6 in brackets (`[fd00::7]:8080`)."""
    canonical = str(ipaddress.ip_address(address))
    return f"[{canonical}]:{port}" if ":" in canonical else f"{canonical}:{port}"
