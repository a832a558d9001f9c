"""deploy/kubernetes on a real API server, and its RBAC rules enough for `serve --kubernetes`.

Every object of the manifests (the CRDs are the session's already) is applied with
server-side apply, as `kubectl apply -k` would, and the server must accept each. Then a
replica runs as a user that holds exactly the rules of rbac.yaml and nothing else: it
must take the Lease, keep its state and write a route's status without one refusal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightkube import Client, codecs
from lightkube.models.rbac_v1 import PolicyRule
from lightkube.resources.coordination_v1 import Lease

from breakwater.controlplane.kubernetes.lease import LEASE_NAME
from breakwater.devtools.ports import free_port
from breakwater.devtools.serve import ServeProcess
from breakwater.devtools.waiting import wait_until
from tests.deploy.kubernetes import KUBERNETES_DIR, NOT_KUBERNETES_OBJECTS
from tests.support.kube_access import granted
from tests.support.kube_apiserver import KubeApiServer
from tests.support.kube_objects import HTTPRoute, apply, gateway, http_route

APPLIED_BY_THE_SESSION = {"crds.yaml"}


def manifest_objects() -> list[Any]:
    objects = []
    for path in sorted(KUBERNETES_DIR.glob("*.yaml")):
        if path.name in NOT_KUBERNETES_OBJECTS | APPLIED_BY_THE_SESSION:
            continue
        objects.extend(codecs.load_all_yaml(path.read_text()))
    return sorted(objects, key=lambda obj: obj.kind != "Namespace")  # as kustomize orders them


def rbac_rules() -> list[PolicyRule]:
    """The ClusterRole's and the Role's rules of rbac.yaml."""
    rules: list[PolicyRule] = []
    for obj in codecs.load_all_yaml((KUBERNETES_DIR / "rbac.yaml").read_text()):
        if obj.kind in ("ClusterRole", "Role"):
            rules.extend(obj.rules)
    return rules


def test_the_manifests_apply_and_their_rbac_is_enough(
    kube: KubeApiServer, kube_admin: Client, kube_namespace: str, tmp_path: Path
) -> None:
    objects = manifest_objects()
    kinds = {obj.kind for obj in objects}
    assert {"Deployment", "ClusterRole", "Role", "Gateway", "GatewayClass"} <= kinds
    for obj in objects:
        kube_admin.apply(obj, field_manager="breakwater-tests", force=True)

    rules = rbac_rules()
    # The Role's rules, bound cluster-wide here, hold in the test's namespace too.
    with granted(kube_admin, kube.restricted.name, rules):
        replica = ServeProcess(
            None,
            tmp_path / "state",
            tmp_path / "serve.log",
            extra_args=[
                "--kubernetes",
                "--kubeconfig", str(kube.restricted.kubeconfig),
                "--namespace", kube_namespace,
                "--control-namespace", kube_namespace,
                "--lease-duration", "3",
            ],
        )  # fmt: skip
        replica.start(timeout=40.0)
        try:
            apply(kube_admin, gateway(kube_namespace, "edge", free_port()))
            apply(kube_admin, http_route(kube_namespace, "shop", _route()))

            def written() -> dict[str, Any] | None:
                status = kube_admin.get(HTTPRoute, "shop", namespace=kube_namespace).status
                return status if isinstance(status, dict) and status.get("parents") else None

            wait_until(written, 30.0, "the route's status, written as the restricted user")
            lease = kube_admin.get(Lease, LEASE_NAME, namespace=kube_namespace)
            assert lease.spec is not None
            assert (lease.spec.holderIdentity or "").endswith(f"-{replica.xds_port}")
            log = replica.log_tail(200)
            assert "refused" not in log, log
        finally:
            replica.stop()


def _route() -> dict[str, Any]:
    return {
        "parentRefs": [{"name": "edge"}],
        "rules": [{"backendRefs": [{"name": "x", "port": 80}]}],
    }
