"""`loadBalancer` → the cluster's `lb_policy` and slow start, and the routes' hash policy.

Ring-hash and maglev pick a host from a hash that the *route* computes
(`hash_policy`), not the cluster: a cluster set to hash gets its key from
every route rule that sends to it, next to the rule's `sticky` header when it
has one. Slow start exists in Envoy for round-robin and least-request only.
Zone-aware routing is the cluster's `common_lb_config.zone_aware_lb_config`.
"""

from __future__ import annotations

from collections.abc import Iterable

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2
from envoy.type.v3 import percent_pb2

from breakwater.translators.envoy.wellknown import set_duration
from breakwater.translators.explain.meanings import FieldMeaning, Meanings
from breakwater.translators.model import HashOn, LoadBalancer, SlowStart, ZoneAware

_Hash = route_components_pb2.RouteAction.HashPolicy

LB_POLICIES = {
    "round-robin": cluster_pb2.Cluster.LbPolicy.ROUND_ROBIN,
    "least-request": cluster_pb2.Cluster.LbPolicy.LEAST_REQUEST,
    "random": cluster_pb2.Cluster.LbPolicy.RANDOM,
    "ring-hash": cluster_pb2.Cluster.LbPolicy.RING_HASH,
    "maglev": cluster_pb2.Cluster.LbPolicy.MAGLEV,
}

SLOW_START_MIN_WEIGHT_PERCENT = 10.0
"""Envoy's own default, written out so a golden file shows what a new host starts at."""

EXPLAIN: Meanings = {
    ("load_balancer", "policy"): FieldMeaning(
        "cluster.lb_policy (ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV)",
        "each proxy balances on its own view: least-request counts the requests *this* proxy "
        "has on a host (of two hosts picked at random, possibly the same one twice, the one with "
        "fewer: with two hosts a slow one still gets about a quarter), not its load from other "
        "proxies; round-robin is weighted and per proxy",
    ),
    ("load_balancer", "hash_on", "header"): FieldMeaning(
        "route.hash_policy.header.header_name (on every rule that sends to the cluster)",
        "a request without the header gets a random host; with a `sticky` header on the rule "
        "the two are hashed together",
    ),
    ("load_balancer", "hash_on", "cookie"): FieldMeaning(
        "route.hash_policy.cookie.name (on every rule that sends to the cluster)",
        "the cookie is read, never set (no ttl): a client without it gets a random host",
    ),
    ("load_balancer", "hash_on", "source_ip"): FieldMeaning(
        "route.hash_policy.connection_properties.source_ip (on every rule that sends to it)",
        "the address of the connection to Envoy: behind another proxy or a NAT every client "
        "looks the same",
    ),
    ("load_balancer", "slow_start", "window"): FieldMeaning(
        "cluster.{round_robin,least_request}_lb_config.slow_start_config.slow_start_window",
        "a new host's weight grows from 10 % (min_weight_percent) to full over the window; a "
        "host is new when it joins the cluster, or when it passes its active health check "
        "again after failing it",
    ),
    ("load_balancer", "slow_start", "aggression"): FieldMeaning(
        "cluster.{round_robin,least_request}_lb_config.slow_start_config.aggression",
        "the weight is scaled by (time in window / window) ^ (1 / aggression): 1 is linear, "
        "higher ramps faster at first (Envoy default 1)",
    ),
    ("load_balancer", "zone_aware"): FieldMeaning(
        "cluster.common_lb_config.zone_aware_lb_config",
        "zone-aware routing runs only with a local cluster: the proxy's zone and the zones of "
        "the other proxies of its node cluster (`breakwater bootstrap --zone`, which names "
        "`breakwater:local` as cluster_manager.local_cluster_name); without it Envoy spreads "
        "over every zone. A proxy keeps all its traffic in its zone only while its zone's share "
        "of the upstream's healthy hosts is at least its zone's share of the proxies; below "
        "that it sends the difference to the other zones. Each zone's healthy hosts count, not "
        "their weights. In panic mode (under 50 % healthy hosts) Envoy spreads over every "
        "zone and every host",
    ),
    ("load_balancer", "zone_aware", "min_cluster_size"): FieldMeaning(
        "cluster.common_lb_config.zone_aware_lb_config.min_cluster_size",
        "below this many hosts in the upstream cluster zone-aware routing is off (Envoy "
        "default 6: with fewer hosts, `zoneAware: {}` does nothing)",
    ),
    ("load_balancer", "zone_aware", "routing_percent"): FieldMeaning(
        "cluster.common_lb_config.zone_aware_lb_config.routing_enabled",
        "the share of requests routed zone-aware at all (Envoy default 100); the others are "
        "spread over every zone",
    ),
}
"""What `breakwater explain` says about the fields translated here."""


def _slow_start(slow: SlowStart, cluster_name: str) -> cluster_pb2.Cluster.SlowStartConfig:
    config = cluster_pb2.Cluster.SlowStartConfig(
        min_weight_percent=percent_pb2.Percent(value=SLOW_START_MIN_WEIGHT_PERCENT)
    )
    set_duration(config.slow_start_window, slow.window)
    if slow.aggression is not None:
        # Envoy requires a runtime key beside the value; nothing sets it, so the value holds.
        config.aggression.CopyFrom(
            base_pb2.RuntimeDouble(
                default_value=slow.aggression,
                runtime_key=f"breakwater.slow_start.{cluster_name}.aggression",
            )
        )
    return config


def _zone_aware(cluster: cluster_pb2.Cluster, zone_aware: ZoneAware) -> None:
    """Written even when empty: the block itself turns zone-aware routing on."""
    config = cluster.common_lb_config.zone_aware_lb_config
    config.SetInParent()
    if zone_aware.min_cluster_size is not None:
        config.min_cluster_size.value = zone_aware.min_cluster_size
    if zone_aware.routing_percent is not None:
        config.routing_enabled.value = zone_aware.routing_percent


def apply_load_balancer(cluster: cluster_pb2.Cluster, balancer: LoadBalancer | None) -> None:
    """Set the cluster's policy and slow start; nothing is written without `loadBalancer`."""
    if balancer is None:
        return
    cluster.lb_policy = LB_POLICIES[balancer.policy]
    if balancer.zone_aware is not None:
        _zone_aware(cluster, balancer.zone_aware)
    if balancer.slow_start is None:
        return
    slow = _slow_start(balancer.slow_start, cluster.name)
    if balancer.policy == "least-request":
        cluster.least_request_lb_config.slow_start_config.CopyFrom(slow)
    else:
        cluster.round_robin_lb_config.slow_start_config.CopyFrom(slow)


def _hash_policy(key: HashOn) -> route_components_pb2.RouteAction.HashPolicy:
    if key.header is not None:
        return _Hash(header=_Hash.Header(header_name=key.header))
    if key.cookie is not None:
        return _Hash(cookie=_Hash.Cookie(name=key.cookie))
    return _Hash(connection_properties=_Hash.ConnectionProperties(source_ip=True))


def hash_policies(
    balancers: Iterable[LoadBalancer | None],
) -> list[route_components_pb2.RouteAction.HashPolicy]:
    """The hash keys the clusters of a rule's backends need, each once, in backend order."""
    out: list[route_components_pb2.RouteAction.HashPolicy] = []
    for balancer in balancers:
        if balancer is None or balancer.hash_on is None:
            continue
        policy = _hash_policy(balancer.hash_on)
        if policy not in out:
            out.append(policy)
    return out
