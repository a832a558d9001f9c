"""The CLI's tables, character for character, from answers shaped as the server sends them.

No server here: the answers are written out so that every branch of the
tables shows (a NACK, a type never sent, an unavailable store, replicas that
disagree, load errors, a dropped override, an invalid document).
"""

from __future__ import annotations

from typing import Any

from breakwater.cli.tables import format_policies, format_status, format_weights


def _type(
    short: str, url: str, state: str, sent: str, acked: str, nack: str = ""
) -> dict[str, Any]:
    return {
        "type": short,
        "type_url": f"type.googleapis.com/{url}",
        "state": state,
        "resources": 1,
        "target_version": sent,
        "sent_version": sent,
        "sent_nonce": "3",
        "sends": 1,
        "acked_version": acked,
        "nack_version": sent if nack else "",
        "nack_message": nack,
        "nacks": 1 if nack else 0,
    }


PROXY = {
    "node_id": "edge-1",
    "node_cluster": "edge",
    "protocol": "delta",
    "group": "edge",
    "gateways": ["edge"],
    "peer": "ipv4:127.0.0.1:5000",
    "connected_at": 1796151619.25,
    "synced": False,
    "types": [
        _type("cds", "envoy.config.cluster.v3.Cluster", "synced", "c1", "c1"),
        _type("rds", "envoy.config.route.v3.RouteConfiguration", "nacked", "r2", "r1", "too big"),
        _type("lds", "envoy.config.listener.v3.Listener", "waiting", "", ""),
    ],
}


def _replica(name: str, this: bool, policy: str, revision: int, proxies: list[str]) -> Any:
    """As `/v1/status` lists them: only this replica says its config version and store."""
    replica: dict[str, Any] = {
        "id": name,
        "xds_address": f"{name}:18000",
        "admin_address": f"{name}:18001",
        "policy_version": policy,
        "state_revision": revision,
    }
    if this:
        replica["config_version"] = "cfg"
    replica.update(proxies=proxies, started_at=1796151000.5, self=this)
    if this:
        replica["store_available"] = False
    return replica


FLEET = {
    "replicas": [
        _replica("cp-1", True, "p1", 7, ["edge-1"]),
        _replica("cp-2", False, "p2", 7, []),
        _replica("cp-3", False, "p1", 6, ["edge-2", "edge-3"]),
    ],
    "store": {
        "backend": "etcd://127.0.0.1:2379/breakwater",
        "available": False,
        "error": "etcd at 127.0.0.1:2379 is unreachable",
        "unavailable_since": 1796151600.0,
        "writes": "refused until the store answers again; serving the last state read",
    },
    "proxies": [PROXY],
    "config_version": "cfg",
    "policy_version": "p1",
    "state_revision": 7,
    "store_error": None,
    "load_errors": ["/p/routes.yaml:13: HTTPRoute/payments: spec.rules[0].backends[1].weight: bad"],
    "dropped_overrides": [
        {
            "route": "payments",
            "rule": 0,
            "weights": {"stable": 70, "canary": 30},
            "reason": "HTTPRoute 'payments' rule 0 has no backend 'canary'; its backends: stable",
        }
    ],
}

ALONE = {
    "replicas": [{**_replica("vm-18000", True, "p1", 0, []), "store_available": True}],
    "store": {"backend": "sqlite:/s/breakwater.sqlite3", "available": True},
    "proxies": [],
    "config_version": "",
    "policy_version": "p1",
    "state_revision": 0,
    "store_error": None,
    "load_errors": [],
    "dropped_overrides": [],
}


def test_status_of_a_fleet_with_every_kind_of_trouble() -> None:
    assert format_status(FLEET).splitlines() == [
        "config version cfg, policy version p1, state revision 7, 1 proxies",
        "PROXY   CLUSTER  XDS    TYPE  STATE    SENT  ACKED  NACK",
        "edge-1  edge     delta  cds   synced   c1    c1",
        "edge-1  edge     delta  rds   nacked   r2    r1     too big",
        "edge-1  edge     delta  lds   waiting  -     -",
        "store etcd://127.0.0.1:2379/breakwater UNAVAILABLE: etcd at 127.0.0.1:2379 is "
        "unreachable; writes are refused, the last state read keeps serving",
        "3 control plane replicas:",
        "REPLICA      XDS         ADMIN       POLICY  REVISION  PROXIES",
        "cp-1 (this)  cp-1:18000  cp-1:18001  p1      7         edge-1",
        "cp-2         cp-2:18000  cp-2:18001  p2 *    7         -",
        "cp-3         cp-3:18000  cp-3:18001  p1      6 *       edge-2,edge-3",
        "policy error (last good config still serving): "
        "/p/routes.yaml:13: HTTPRoute/payments: spec.rules[0].backends[1].weight: bad",
        "dropped override payments rule 0: "
        "HTTPRoute 'payments' rule 0 has no backend 'canary'; its backends: stable",
    ]


def test_status_of_one_process_on_its_own_store_is_one_line() -> None:
    assert format_status(ALONE) == "config version , policy version p1, state revision 0, 0 proxies"


def test_policies_with_an_invalid_document() -> None:
    answer = {
        "policies": [
            {
                "kind": "Service",
                "name": "payments",
                "file": "/p/services.yaml",
                "line": 1,
                "valid": True,
                "errors": [],
                "services": ["payments"],
                "proxies": ["edge-1", "edge-2"],
            },
            {
                "kind": "HTTPRoute",
                "name": "payments",
                "file": "/p/routes.yaml",
                "line": 4,
                "valid": False,
                "errors": [
                    "/p/routes.yaml:13: HTTPRoute/payments: bad",
                    "/p/routes.yaml:14: worse",
                ],
                "services": [],
                "proxies": [],
            },
        ]
    }
    assert format_policies(answer).splitlines() == [
        "KIND       NAME      STATE    APPLIED  EJECTED  RETRIES/S  5XX %  P99  SERVICES  PROXIES        SOURCE",
        "Service    payments  valid    -        -        -          -      -    payments  edge-1,edge-2  /p/services.yaml:1",
        "HTTPRoute  payments  INVALID  -        -        -          -      -    -         -              /p/routes.yaml:4",
        "  /p/routes.yaml:13: HTTPRoute/payments: bad",
        "  /p/routes.yaml:14: worse",
    ]


def test_weights_with_shares_and_with_a_single_backend_at_zero() -> None:
    split = {
        "route": "payments",
        "rule": 1,
        "weights": {"stable": 2, "canary": 1},
        "source": "override",
        "revision": 4,
    }
    assert format_weights(split).splitlines() == [
        "route payments rule 1 (from override, revision 4)",
        "BACKEND  WEIGHT  SHARE",
        "stable   2       66.7%",
        "canary   1       33.3%",
    ]
    zero = {
        "route": "payments",
        "rule": 0,
        "weights": {"stable": 0},
        "source": "yaml",
        "revision": 0,
    }
    assert format_weights(zero).splitlines() == [
        "route payments rule 0 (from yaml, revision 0)",
        "BACKEND  WEIGHT  SHARE",
        "stable   0       0.0%",
    ]
