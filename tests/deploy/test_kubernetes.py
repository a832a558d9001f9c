"""deploy/kubernetes meets Kubernetes' own schemas offline, and its parts fit together.

kubernetes-validate carries the schemas of each Kubernetes release, so no
cluster and no network is needed. Beyond the schemas: the Breakwater
container's arguments are ones `breakwater serve` accepts (`--kubernetes`, no
etcd, no policies ConfigMap), its RBAC grants exactly what the code uses, and
the Envoys' bootstrap, written at pod start by an init container, points at the xDS
Service and at the edge Gateway and carries a token `serve` accepts.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from breakwater.cli.parser import build_parser
from breakwater.controlplane.kubernetes import kinds
from breakwater.controlplane.kubernetes.lease import LEASE_NAME
from breakwater.controlplane.kubernetes.objects import CONTROLLER_NAME
from breakwater.controlplane.kubernetes.status_writer import STATUS_KINDS
from breakwater.controlplane.state.kubernetes.store import HISTORY_NAME, STATE_NAME
from breakwater.controlplane.state.sources import fingerprint, load_policy_files
from breakwater.translators.gateway_api.convert import NODE_CLUSTER_ANNOTATION
from tests.deploy.kubernetes import KUBERNETES_DIR, KUBERNETES_VERSION, manifests

GATEWAY_API = "gateway.networking.k8s.io"

MANIFESTS = manifests()


def _find(kind: str, name: str) -> dict[str, Any]:
    found = [m for _, m in MANIFESTS if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


BUILT_IN = [(w, m) for w, m in MANIFESTS if not m["apiVersion"].startswith(GATEWAY_API + "/")]
"""Kubernetes' own kinds; the Gateway API's are custom resources, which kubernetes-validate
has no schema for: tests/kubernetes/test_deploy.py applies them to a real API server."""


@pytest.mark.parametrize(("where", "manifest"), BUILT_IN, ids=[w for w, _ in BUILT_IN])
def test_every_manifest_meets_the_kubernetes_schema(where: str, manifest: dict[str, Any]) -> None:
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_the_offline_validator_refuses_a_broken_manifest() -> None:
    deployment = _find("Deployment", "breakwater")
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "three"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    typo = {**deployment, "spec": {**deployment["spec"], "replica": 3}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest_file() -> None:
    kustomization = yaml.safe_load((KUBERNETES_DIR / "kustomization.yaml").read_text())
    files = {p.name for p in KUBERNETES_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_breakwater_runs_three_replicas_reading_the_api_server() -> None:
    deployment = _find("Deployment", "breakwater")
    assert deployment["spec"]["replicas"] == 3
    container = _container(deployment)
    args = build_parser().parse_args(container["args"])
    assert args.func.__name__ == "cmd_serve"
    assert args.kubernetes and args.config is None
    assert not [m for _, m in MANIFESTS if m["kind"] == "StatefulSet"], "no etcd beside it"
    configmaps = {m["metadata"]["name"] for _, m in MANIFESTS if m["kind"] == "ConfigMap"}
    assert configmaps == set(), "no policies ConfigMap, no bootstrap ConfigMap (it holds a token)"
    # Probes on the admin port, the one --admin-address binds.
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert args.admin_address == ("0.0.0.0", ports["admin"])
    assert args.xds_address == ("0.0.0.0", ports["xds"])
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "breakwater"
    assert _find("ServiceAccount", "breakwater")["automountServiceAccountToken"] is True
    _find("PodDisruptionBudget", "breakwater")
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    token_file = Path(args.token_file)
    assert volumes[mounts[str(token_file.parent)]]["secret"]["secretName"] == "breakwater-token"
    assert not args.insecure_anonymous_proxies, "proxies present a token"
    assert _secret_of(deployment, container, args.proxy_token_file) == PROXY_TOKENS


PROXY_TOKENS = "breakwater-proxy-tokens"


def _secret_of(workload: dict[str, Any], container: dict[str, Any], path: str) -> str:
    """The Secret mounted where `path` is (its directory), in that container."""
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
    secret: str = volumes[mounts[str(Path(path).parent)]]["secret"]["secretName"]
    return secret


def _rules(role: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """(group, resource, verb, resource name or "") of every rule, one per combination."""
    return {
        (group, resource, verb, name)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        for name in rule.get("resourceNames") or [""]
    }


def test_rbac_grants_exactly_what_the_code_uses() -> None:
    """Read from the kinds the source watches and the kinds the status writer writes: a kind
    added there without its rule here (or a rule left behind) fails this test."""
    cluster = _rules(_find("ClusterRole", "breakwater"))
    expected = {
        (kind.group, kind.plural, verb, "")
        for kind in kinds.WATCHED
        for verb in ("get", "list", "watch")
    }
    expected |= {(k.group, f"{k.plural}/status", "patch", "") for k in STATUS_KINDS}
    expected |= {("events.k8s.io", "events", verb, "") for verb in ("create", "list")}
    assert cluster == expected
    local = _rules(_find("Role", "breakwater"))
    assert local == {
        ("coordination.k8s.io", "leases", "create", ""),
        *(("coordination.k8s.io", "leases", v, LEASE_NAME) for v in ("get", "update")),
        *(("", "configmaps", verb, "") for verb in ("create", "list", "patch", "delete")),
        *(
            ("", "configmaps", verb, name)
            for verb in ("get", "update", "watch")
            for name in (STATE_NAME, HISTORY_NAME)
        ),
    }
    for binding in (_find("ClusterRoleBinding", "breakwater"), _find("RoleBinding", "breakwater")):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "breakwater", "namespace": "breakwater"}
        ]


def test_the_envoy_bootstrap_is_written_at_pod_start_with_the_edges_token(
    tmp_path: Path,
) -> None:
    """The init container's own arguments, run here against a token file of the Secret's
    format: the bootstrap it writes points at the xDS Service and the edge Gateway and
    sends the edge's token, owner-readable, where Envoy reads its config."""
    workload = _find("Deployment", "envoy-edge")
    pod = workload["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    envoy = _container(workload)
    args = build_parser().parse_args(init["args"])
    assert args.func.__name__ == "cmd_bootstrap"
    assert args.node_id == "$(POD_NAME)", "each pod its own node id"
    assert {e["name"] for e in init["env"]} == {"POD_NAME"}
    assert _secret_of(workload, init, args.proxy_token_file) == PROXY_TOKENS
    bootstrap_volume = {m["mountPath"]: m["name"] for m in init["volumeMounts"]}[
        str(Path(args.output).parent)
    ]
    assert "emptyDir" in {v["name"]: v for v in pod["volumes"]}[bootstrap_volume]
    assert f"--config-path={args.output}" in envoy["args"]
    assert {m["name"]: m["mountPath"] for m in envoy["volumeMounts"]}[bootstrap_volume] == str(
        Path(args.output).parent
    )
    assert pod["securityContext"]["runAsUser"] == 101  # the writer is Envoy's user

    token = "t0ken-of-the-edge-0123456789"
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{token} {args.node_cluster}\n")
    tokens.chmod(0o600)
    written = tmp_path / "bootstrap.yaml"
    here = [
        a.replace(args.proxy_token_file, str(tokens)).replace(args.output, str(written))
        for a in init["args"]
    ]
    ran = build_parser().parse_args(here)
    assert ran.func(ran) == 0
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    bootstrap = yaml.safe_load(written.read_text())
    assert bootstrap["node"]["cluster"] == args.node_cluster
    ads = bootstrap["dynamic_resources"]["ads_config"]["grpc_services"][0]
    assert {"key": "authorization", "value": f"Bearer {token}"} in ads["initial_metadata"]
    (xds_cluster,) = bootstrap["static_resources"]["clusters"]
    address = xds_cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    socket = address["address"]["socket_address"]
    service_name, namespace = socket["address"].split(".")[:2]
    xds_service = _find("Service", service_name)
    assert xds_service["metadata"]["namespace"] == namespace
    assert xds_service["spec"]["clusterIP"] == "None"  # every replica's address, for failover
    assert socket["port_value"] in {p["port"] for p in xds_service["spec"]["ports"]}
    gateway = _find("Gateway", "edge")
    assert gateway["metadata"]["annotations"][NODE_CLUSTER_ANNOTATION] == args.node_cluster
    klass = _find("GatewayClass", gateway["spec"]["gatewayClassName"])
    assert klass["spec"]["controllerName"] == CONTROLLER_NAME
    listener_ports = {listener["port"] for listener in gateway["spec"]["listeners"]}
    assert {p["containerPort"] for p in envoy["ports"]} <= listener_ports


POLICIES = {
    "gateways.yaml": """\
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {name: edge}
spec: {address: 0.0.0.0, port: 10000}
""",
    "services.yaml": """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: payments}
spec:
  dns: {name: payments.default.svc.cluster.local, port: 8080}
""",
}
"""Policy files as a ConfigMap mounted for `serve -c` would hold them (outside --kubernetes)."""


def test_a_configmap_volume_is_read_once_per_file(tmp_path: Path) -> None:
    """The kubelet's layout: a timestamped directory, `..data` linking to it, a link per file."""
    policies = POLICIES
    mount = tmp_path / "policies"
    stamped = mount / "..2026_12_01_00_00_00.000000000"
    stamped.mkdir(parents=True)
    for name, text in policies.items():
        (stamped / name).write_text(text)
    os.symlink(stamped.name, mount / "..data")
    for name in policies:
        os.symlink(f"..data/{name}", mount / name)
    files, loaded = load_policy_files(mount)
    assert loaded.errors == []
    assert sorted(files.texts) == sorted(policies)
    # An update: the kubelet writes a new timestamped directory and swaps `..data` to it.
    before = fingerprint(mount)
    updated = mount / "..2026_12_01_00_01_00.000000000"
    updated.mkdir()
    for name, text in policies.items():
        (updated / name).write_text(text.replace("port: 10000", "port: 10001"))
    os.symlink(updated.name, mount / "..data_tmp")
    os.replace(mount / "..data_tmp", mount / "..data")
    assert fingerprint(mount) != before  # the watcher sees the change through the links
    files, loaded = load_policy_files(mount)
    assert loaded.policyset is not None
    assert loaded.policyset.gateways["edge"].spec.port == 10001
