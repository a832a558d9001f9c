"""DestinationRule → Service subsets and ResiliencePolicies; what the output needs; the command."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import yaml

from breakwater.cli import main
from tests.importers.istio import SERVICE, convert, left, to_app, virtual_service
from tests.importers.test_istio_routes import GUIDE

RULE = """\
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: app-rules, namespace: shop, labels: {team: payments}}
spec:
  host: app-service.shop.svc.cluster.local
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 100, connectTimeout: 2s, tcpKeepalive: {time: 7200s}}
      http: {http1MaxPendingRequests: 10, http2MaxRequests: 50, maxRetries: 3, idleTimeout: 30s}
    outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s, minHealthPercent: 50}
    loadBalancer:
      consistentHash: {httpCookie: {name: session, ttl: 0s}}
    tls: {mode: ISTIO_MUTUAL}
  subsets:
  - name: stable
    labels: {version: stable}
  - name: canary
    labels: {version: canary}
    trafficPolicy:
      loadBalancer: {simple: LEAST_REQUEST, warmupDurationSecs: 60s}
      outlierDetection: {consecutiveGatewayErrors: 3, maxEjectionPercent: 100}
"""


def _policies(text: str) -> dict[str, dict[str, object]]:
    result = convert(GUIDE, text, with_subsets=False)
    assert result.errors == [], result.errors
    return {p["metadata"]["name"]: p["spec"] for p in result.files["resilience.yaml"]}


def test_traffic_policies_become_a_service_policy_and_a_subset_policy() -> None:
    policies = _policies(RULE)
    assert policies["app-rules"] == {
        "targetRef": {"kind": "Service", "name": "app-service"},
        "bulkhead": {
            "maxConnections": 100,
            "maxQueuedRequests": 10,
            "maxConcurrentRequests": 50,
            "maxConcurrentRetries": 3,
        },
        "timeout": {"connect": "2s"},
        "circuitBreaker": {
            "consecutiveErrors": 5,
            "interval": "10s",
            "openDuration": "30s",
            "maxEjectionPercent": 10,
            "panicThreshold": 50,
        },
        "loadBalancer": {"policy": "ring-hash", "hashOn": {"cookie": "session"}},
    }
    assert policies["app-rules-canary"] == {
        "targetRef": {"kind": "Service", "name": "app-service", "subset": "canary"},
        # Istio's subset section replaces the rule's whole, so its default 0 % is written again.
        "circuitBreaker": {
            "consecutiveGatewayErrors": 3,
            "maxEjectionPercent": 100,
            "panicThreshold": 0,
        },
    }


def test_a_subset_section_that_would_inherit_into_an_invalid_policy_is_listed() -> None:
    """Istio replaces the cookie hashing with least-request; Breakwater would keep the hash key."""
    result = convert(GUIDE, RULE, with_subsets=False)
    reason = left(result)["spec.subsets[1].trafficPolicy.loadBalancer"]
    assert "with hashOn inherited it would be invalid" in reason
    assert any("also inherits circuitBreaker" in str(note) for note in result.notes)


def test_warmup_becomes_slow_start() -> None:
    rule = RULE.replace(
        "simple: LEAST_REQUEST, warmupDurationSecs: 60s",
        "warmup: {duration: 60s, aggression: {value: 2}}",
    )
    rule = rule.replace(
        "consistentHash: {httpCookie: {name: session, ttl: 0s}}", "simple: LEAST_REQUEST"
    )
    policies = _policies(rule)
    assert policies["app-rules"]["loadBalancer"] == {"policy": "least-request"}
    assert policies["app-rules-canary"]["loadBalancer"] == {
        "slowStart": {"window": "60s", "aggression": 2},
    }


def test_destination_rule_fields_that_cannot_be_carried_are_listed() -> None:
    result = convert(GUIDE, RULE, with_subsets=False)
    reasons = left(result)
    assert "TCP keepalive" in reasons["spec.trafficPolicy.connectionPool.tcp.tcpKeepalive"]
    assert "stream's" in reasons["spec.trafficPolicy.connectionPool.http.idleTimeout"]
    assert (
        "does not set one"
        in reasons["spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.ttl"]
    )
    assert "upstream TLS" in reasons["spec.trafficPolicy.tls"]
    assert "metadata is not carried" in reasons["metadata.labels"]
    assert len(reasons) == 6, reasons


def test_istio_defaults_that_differ_from_breakwaters_are_written_out() -> None:
    result = convert(GUIDE, RULE, with_subsets=False)
    assert any("Istio's 10 %" in str(note) for note in result.notes)
    assert any("Istio's 0 % was written as panicThreshold" in str(note) for note in result.notes)


def test_subsets_merge_into_the_given_service_and_without_it_the_import_says_what_to_give() -> None:
    result = convert(GUIDE, services=False)
    assert result.files["services.yaml"] == []
    (error,) = result.errors
    assert "Service 'app-service' needs endpoints for its subsets (canary, stable)" in error
    assert "--services DIR" in error


def test_a_host_without_subsets_becomes_a_dns_service() -> None:
    text = virtual_service(
        [{"route": [{"destination": {"host": "api.example.com", "port": {"number": 443}}}]}]
    )
    result = convert(text, services=False, with_subsets=False)
    assert result.errors == []
    (service,) = result.files["services.yaml"]
    assert service["metadata"]["name"] == "api-example-com"
    assert service["spec"] == {"dns": {"name": "api.example.com", "port": 443}}
    assert any("DNS Service" in str(note) for note in result.notes)


def test_documents_that_are_not_virtual_services_or_destination_rules_are_listed_whole() -> None:
    gateway = (
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: public}\nspec: {}\n"
    )
    config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
    result = convert(GUIDE, gateway, config)
    fields = {(x.document, x.field): x.reason for x in result.leftovers}
    assert "only VirtualService and DestinationRule" in fields[("Gateway/public", "")]
    assert "not an Istio networking document" in fields[("ConfigMap/x", "")]


def test_an_invalid_istio_document_is_a_located_error() -> None:
    text = virtual_service(
        [
            {
                "route": [
                    to_app("stable", 90),
                    {"destination": {"host": "app-service"}, "weight": "lots"},
                ]
            }
        ]
    )
    result = convert(text)
    (error,) = result.errors
    line = next(
        i for i, text_line in enumerate(text.splitlines(), 1) if "weight: lots" in text_line
    )
    assert error.startswith(
        f"input-0.yaml:{line}: VirtualService/app: spec.http[0].route[1].weight:"
    )


def test_the_command_writes_a_directory_that_validates_and_lists_what_it_left(
    tmp_path: Path,
) -> None:
    services = tmp_path / "services"
    services.mkdir()
    (services / "app.yaml").write_text(yaml.safe_dump(SERVICE))
    istio = tmp_path / "istio.yaml"
    istio.write_text(GUIDE + "---\n" + RULE)
    out = tmp_path / "imported"
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        code = main(["import", "istio", str(istio), "-o", str(out), "--services", str(services)])
    assert code == 0, stderr.getvalue()
    assert sorted(p.name for p in out.iterdir()) == [
        "gateways.yaml",
        "resilience.yaml",
        "routes.yaml",
        "services.yaml",
    ]
    report = stderr.getvalue()
    assert "could not carry over (6):" in report
    assert (
        f"{istio}:{RULE_LINE + GUIDE.count(chr(10)) + 1}: DestinationRule/app-rules: spec.trafficPolicy.tls:"
        in report
    )
    stdout = io.StringIO()
    with redirect_stdout(stdout):
        assert main(["validate", str(out)]) == 0
    assert "1 routes" in stdout.getvalue()


RULE_LINE = RULE.splitlines().index("    tls: {mode: ISTIO_MUTUAL}") + 1


def test_the_command_fails_with_nothing_written_when_the_output_would_not_validate(
    tmp_path: Path,
) -> None:
    istio = tmp_path / "istio.yaml"
    istio.write_text(GUIDE)
    out = tmp_path / "imported"
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        assert main(["import", "istio", str(istio), "-o", str(out)]) == 1
    assert not out.exists()
    assert "needs endpoints for its subsets" in stderr.getvalue()
    assert "nothing was written" in stderr.getvalue()


DESTINATION_RULE_LEFTOVERS = [
    (
        "loadBalancer: {simple: PASSTHROUGH}",
        "spec.trafficPolicy.loadBalancer.simple",
        "no Breakwater policy",
    ),
    (
        "loadBalancer: {consistentHash: {httpQueryParameterName: user}}",
        "spec.trafficPolicy.loadBalancer.consistentHash",
        "a header, a cookie or the source IP only",
    ),
    (
        "loadBalancer: {simple: ROUND_ROBIN, localityLbSetting: {enabled: true}}",
        "spec.trafficPolicy.loadBalancer.localityLbSetting",
        "not locality-aware",
    ),
    (
        "outlierDetection: {consecutive5xxErrors: 5, consecutiveLocalOriginFailures: 2}",
        "spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures",
        "Envoy ignores it",
    ),
    (
        "portLevelSettings: [{port: {number: 80}}]",
        "spec.trafficPolicy.portLevelSettings",
        "not per port",
    ),
    (
        "connectionPool: {http: {maxRequestsPerConnection: 1}}",
        "spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection",
        "requests per upstream connection",
    ),
]


@pytest.mark.parametrize(
    ("policy", "field", "reason"),
    DESTINATION_RULE_LEFTOVERS,
    ids=[f for _, f, _ in DESTINATION_RULE_LEFTOVERS],
)
def test_traffic_policy_fields_that_cannot_be_carried_are_listed(
    policy: str, field: str, reason: str
) -> None:
    rule = (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r}\n"
        f"spec:\n  host: app-service\n  trafficPolicy:\n    {policy}\n"
    )
    result = convert(GUIDE, rule)
    assert result.errors == []
    assert reason in left(result)[field]


@pytest.mark.parametrize(
    ("outlier", "failures"),
    [
        ("{splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 2}", 2),
        ("{splitExternalLocalOriginErrors: true}", 5),
    ],
)
def test_split_local_origin_errors_become_local_origin_failures(
    outlier: str, failures: int
) -> None:
    rule = (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r}\n"
        f"spec:\n  host: app-service\n  trafficPolicy:\n    outlierDetection: {outlier}\n"
    )
    result = convert(GUIDE, rule)
    assert result.errors == []
    assert left(result) == {}
    (policy,) = result.files["resilience.yaml"]
    assert policy["spec"]["circuitBreaker"]["localOriginFailures"] == failures


@pytest.mark.parametrize(
    ("hashing", "expected"),
    [
        ("{httpHeaderName: x-user}", {"policy": "ring-hash", "hashOn": {"header": "x-user"}}),
        (
            "{useSourceIp: true, maglev: {tableSize: 65537}}",
            {"policy": "maglev", "hashOn": {"sourceIp": True}},
        ),
    ],
)
def test_consistent_hashing_becomes_ring_hash_or_maglev(
    hashing: str, expected: dict[str, object]
) -> None:
    rule = (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r}\n"
        f"spec:\n  host: app-service\n  trafficPolicy:\n    loadBalancer: {{consistentHash: {hashing}}}\n"
    )
    result = convert(GUIDE, rule)
    assert result.errors == []
    (policy,) = result.files["resilience.yaml"]
    assert policy["spec"]["loadBalancer"] == expected


def test_a_mirror_to_another_host_gets_its_service_and_a_given_services_port_is_noted() -> None:
    route = {
        "route": [
            {"destination": {"host": "app-service", "subset": "stable", "port": {"number": 9090}}}
        ],
        "mirror": {"host": "shadow.shop.svc.cluster.local", "port": {"number": 8080}},
    }
    result = convert(virtual_service([route]))
    assert result.errors == []
    services = {s["metadata"]["name"]: s["spec"] for s in result.files["services.yaml"]}
    assert services["shadow"] == {"dns": {"name": "shadow.shop.svc.cluster.local", "port": 80}}
    assert "endpoints carry their ports" in left(result)["spec.http[0].mirror.port"]
    assert any("port 9090 was not used" in str(note) for note in result.notes)


DESTINATION_RULE_SHAPES = [
    ("  host: '*.shop.svc.cluster.local'\n", "spec.host", "wildcards cannot"),
    ("  host: app-service\n  exportTo: ['.']\n", "spec.exportTo", "no namespaces"),
    (
        "  host: app-service\n  workloadSelector: {matchLabels: {app: a}}\n",
        "spec.workloadSelector",
        "no namespaces or workloads",
    ),
    (
        "  host: app-service\n  subsets: [{name: Canary_1, labels: {v: c}}]\n",
        "spec.subsets[0].name",
        "not a valid Breakwater name",
    ),
    ("  host: app-service\n  subsets: [{name: bare}]\n", "spec.subsets[0]", "has none"),
    (
        "  host: app-service\n  trafficPolicy: {tunnel: {protocol: CONNECT}}\n",
        "spec.trafficPolicy.tunnel",
        "does not tunnel",
    ),
    (
        "  host: app-service\n  trafficPolicy: {proxyProtocol: {version: V1}}\n",
        "spec.trafficPolicy.proxyProtocol",
        "PROXY protocol",
    ),
    (
        "  host: app-service\n  trafficPolicy: {connectionPool: {tcp: {maxConnectionDuration: 1h, idleTimeout: 1m}}}\n",
        "spec.trafficPolicy.connectionPool.tcp.maxConnectionDuration",
        "lifetimes",
    ),
    (
        "  host: app-service\n  trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}\n",
        "spec.trafficPolicy.connectionPool.http.h2UpgradePolicy",
        "`protocol`",
    ),
    (
        "  host: app-service\n  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x, minimumRingSize: 1024}}}\n",
        "spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize",
        "default ring and table sizes",
    ),
    (
        "  host: app-service\n  trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: s, path: /}}}}\n",
        "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.path",
        "does not set one",
    ),
    (
        "  host: app-service\n  trafficPolicy: {outlierDetection: {consecutive5xxErrors: 5, interval: soon}}\n",
        "spec.trafficPolicy.outlierDetection",
        "is not a duration",
    ),
]


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    DESTINATION_RULE_SHAPES,
    ids=[f for _, f, _ in DESTINATION_RULE_SHAPES],
)
def test_destination_rule_shapes_that_cannot_be_carried(spec: str, field: str, reason: str) -> None:
    text = (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r}\nspec:\n"
        + spec
    )
    result = convert(text, with_subsets=False)
    assert reason in left(result)[field], left(result)


def test_without_an_output_directory_the_documents_go_to_stdout_and_the_report_to_stderr(
    tmp_path: Path,
) -> None:
    istio = tmp_path / "istio.yaml"
    istio.write_text(virtual_service([{"route": [{"destination": {"host": "api.example.com"}}]}]))
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        assert main(["import", "istio", str(istio), "--gateway", "public"]) == 0
    kinds = [d["kind"] for d in yaml.safe_load_all(stdout.getvalue())]
    assert kinds == ["Service", "Gateway", "HTTPRoute"]
    assert "written as a DNS Service" in stderr.getvalue()
    assert "Gateway/public: written as a skeleton" in stderr.getvalue()
