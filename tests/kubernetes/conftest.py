"""A real kube-apiserver (and its etcd) for the session, with Breakwater's and the Gateway API's
CRDs installed, clients for its admin and its restricted user, and an upstream in a pod network.

Starting the server and serving the CRDs takes seconds, so it happens once per session
(once per xdist worker that runs a test needing it); each test works in namespaces of
its own, so tests never see each other's objects.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from lightkube import AsyncClient, Client, KubeConfig

from tests.etcd.etcd_server import EtcdServer
from tests.support.kube_apiserver import KubeApiServer
from tests.support.kube_crds import install, session_manifests
from tests.support.kube_objects import namespace
from tests.support.netns import pod_network
from tests.support.pods import PodUpstream


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeApiServer]:
    """The API server, ready, its CRDs served; stopped (and its etcd) after the session."""
    workdir = tmp_path_factory.mktemp("kube")
    with (
        EtcdServer(workdir / "etcd") as etcd,
        KubeApiServer(workdir / "apiserver", etcd.client_url) as apiserver,
    ):
        with Client(KubeConfig.from_file(apiserver.admin.kubeconfig)) as admin:
            install(admin, session_manifests())
        yield apiserver


@pytest.fixture(scope="session")
def kube_admin(kube: KubeApiServer) -> Iterator[Client]:
    """A synchronous client of the admin (`system:masters`), for setting up."""
    with Client(KubeConfig.from_file(kube.admin.kubeconfig)) as client:
        yield client


@pytest.fixture
async def kube_client(kube: KubeApiServer) -> AsyncIterator[AsyncClient]:
    """The admin's asyncio client, as the product will use one."""
    async with AsyncClient(KubeConfig.from_file(kube.admin.kubeconfig)) as client:
        yield client


@pytest.fixture
def kube_namespace(kube_admin: Client) -> Iterator[str]:
    """A namespace of the test's own, deleted afterwards."""
    with namespace(kube_admin) as name:
        yield name


@pytest.fixture
def pod_upstream(tmp_path: Path) -> Iterator[PodUpstream]:
    """A real upstream (`payments`, instance `pod-1`) in a pod network of its own, at a
    10.213.N.2 address an EndpointSlice accepts; the process, the namespace and the veth
    pair are gone after the test, whether it passed or not."""
    with pod_network() as network, PodUpstream(network, tmp_path, "pod-1", "payments") as pod:
        yield pod
