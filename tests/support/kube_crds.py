"""CRDs installed as an operator installs them, and waited for until the server serves them.

A CRD is usable only some time after it is created: the API server first checks its names
(`NamesAccepted`), then marks it `Established`, and starts serving it a moment later
(about 2 s). Creating every CRD first and waiting for them all afterwards pays that
delay once, so a session installs Breakwater's CRDs and the Gateway API's together.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from lightkube import ApiError, Client, codecs
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition

from breakwater.devtools.kube_apiserver import gateway_crds_dir
from breakwater.devtools.kubernetes import KUBERNETES_DIR

BREAKWATER_CRDS = KUBERNETES_DIR / "crds.yaml"
"""Breakwater's own: Service, ResiliencePolicy, Gateway, HTTPRoute, Rollout, Telemetry."""


def session_manifests() -> list[Path]:
    """Breakwater's CRDs, then the Gateway API's standard channel (with its admission policy)."""
    return [BREAKWATER_CRDS, *sorted(gateway_crds_dir().glob("*.yaml"))]


def install(client: Client, manifests: Iterable[Path], timeout: float = 30.0) -> list[str]:
    """Create every object of the manifests, then wait until each CRD's versions are served.

    Returns the CRDs' names. Each served version gets a lightkube generic resource, so
    tests can create its objects from YAML with `lightkube.codecs`.
    """
    crds: list[CustomResourceDefinition] = []
    for manifest in manifests:
        for obj in codecs.load_all_yaml(manifest.read_text(), create_resources_for_crds=True):
            client.create(obj)
            if isinstance(obj, CustomResourceDefinition):
                crds.append(obj)
    deadline = time.monotonic() + timeout
    for crd in crds:
        _wait_served(client, crd, deadline)
    return [crd.metadata.name for crd in crds if crd.metadata and crd.metadata.name]


def _established(client: Client, name: str) -> bool:
    status = client.get(CustomResourceDefinition, name).status
    conditions: Sequence[object] = (status.conditions or []) if status else []
    return any(
        getattr(c, "type", None) == "Established" and getattr(c, "status", None) == "True"
        for c in conditions
    )


def _wait_served(client: Client, crd: CustomResourceDefinition, deadline: float) -> None:
    """Established, then a list of each served version answers (not 404)."""
    assert crd.metadata is not None and crd.metadata.name is not None
    name = crd.metadata.name
    spec = crd.spec
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if _established(client, name):
                for version in spec.versions:
                    if version.served:
                        create = (
                            create_namespaced_resource
                            if spec.scope == "Namespaced"
                            else create_global_resource
                        )
                        resource = create(
                            spec.group, version.name, spec.names.kind, spec.names.plural
                        )
                        list(client.list(resource, chunk_size=1))  # type: ignore[call-overload]
                return
        except ApiError as error:
            last = error
        time.sleep(0.1)
    raise TimeoutError(f"CRD {name} is not served yet (last answer: {last})")


__all__ = ["BREAKWATER_CRDS", "install", "session_manifests"]
