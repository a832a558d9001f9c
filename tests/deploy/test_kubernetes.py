"""deploy/kubernetes meets Kubernetes' own schemas offline, and its parts fit together.

kubernetes-validate carries the schemas of each Kubernetes release, so no
cluster and no network is needed. Beyond the schemas: the Breakwater
container's arguments are ones `breakwater serve` accepts, its policies are
mounted where `-c` reads them and validate, its etcd URL names the
StatefulSet's members, and the Envoys' bootstrap points at the xDS Service
and at a Gateway of the policies.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from breakwater.cli.parser import build_parser
from breakwater.controlplane.state.sources import fingerprint, load_policy_files
from breakwater.devtools.kubernetes import BOOTSTRAP_ARGS
from breakwater.translators.documents import SourceText
from breakwater.translators.pipeline import policyset_from_texts
from tests.deploy.kubernetes import KUBERNETES_DIR, KUBERNETES_VERSION, manifests

MANIFESTS = manifests()


def _find(kind: str, name: str) -> dict[str, Any]:
    found = [m for _, m in MANIFESTS if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


@pytest.mark.parametrize(("where", "manifest"), MANIFESTS, ids=[w for w, _ in MANIFESTS])
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


def test_breakwater_runs_three_replicas_on_the_etcd_statefulset() -> None:
    deployment = _find("Deployment", "breakwater")
    etcd = _find("StatefulSet", "etcd")
    assert deployment["spec"]["replicas"] == 3
    assert etcd["spec"]["replicas"] == 3
    container = _container(deployment)
    args = build_parser().parse_args(container["args"])
    assert args.func.__name__ == "cmd_serve"
    members = [f"etcd-{i}.{etcd['spec']['serviceName']}:2379" for i in range(3)]
    assert args.state == f"etcd://{','.join(members)}/breakwater"
    _find("Service", etcd["spec"]["serviceName"])
    # Probes on the admin port, the one --admin-address binds.
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert args.admin_address == ("0.0.0.0", ports["admin"])
    assert args.xds_address == ("0.0.0.0", ports["xds"])
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "breakwater"
    _find("ServiceAccount", "breakwater")
    _find("PodDisruptionBudget", "breakwater")


def test_the_policies_configmap_is_mounted_where_serve_reads_it_and_validates() -> None:
    deployment = _find("Deployment", "breakwater")
    container = _container(deployment)
    args = build_parser().parse_args(container["args"])
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    configmap_name = volumes[mounts[args.config]]["configMap"]["name"]
    configmap = _find("ConfigMap", configmap_name)
    texts = {name: SourceText(name, text) for name, text in configmap["data"].items()}
    loaded = policyset_from_texts(texts)
    assert loaded.errors == []
    assert loaded.policyset is not None
    token_file = Path(args.token_file)
    assert volumes[mounts[str(token_file.parent)]]["secret"]["secretName"] == "breakwater-token"


def test_the_envoy_bootstrap_points_at_the_xds_service_and_a_gateway_of_the_policies() -> None:
    configmap = _find("ConfigMap", "envoy-bootstrap")
    bootstrap = yaml.safe_load(configmap["data"]["bootstrap.yaml"])
    args = build_parser().parse_args(["bootstrap", *BOOTSTRAP_ARGS])
    assert bootstrap["node"]["cluster"] == args.node_cluster
    (xds_cluster,) = bootstrap["static_resources"]["clusters"]
    address = xds_cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    socket = address["address"]["socket_address"]
    service_name, namespace = socket["address"].split(".")[:2]
    xds_service = _find("Service", service_name)
    assert xds_service["metadata"]["namespace"] == namespace
    assert xds_service["spec"]["clusterIP"] == "None"  # every replica's address, for failover
    assert socket["port_value"] in {p["port"] for p in xds_service["spec"]["ports"]}
    policies = _find("ConfigMap", "breakwater-policies")["data"]
    loaded = policyset_from_texts({n: SourceText(n, t) for n, t in policies.items()})
    assert loaded.policyset is not None
    selectors = [g.spec.node_selector for g in loaded.policyset.gateways.values()]
    assert any(s is not None and s.cluster == args.node_cluster for s in selectors)
    envoy = _container(_find("Deployment", "envoy-edge"))
    assert "--service-node=$(POD_NAME)" in envoy["args"]  # each pod its own node id
    gateway_ports = {g.spec.port for g in loaded.policyset.gateways.values()}
    assert {p["containerPort"] for p in envoy["ports"]} <= gateway_ports


def test_a_configmap_volume_is_read_once_per_file(tmp_path: Path) -> None:
    """The kubelet's layout: a timestamped directory, `..data` linking to it, a link per file."""
    policies = _find("ConfigMap", "breakwater-policies")["data"]
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
