"""The API server's address and credentials: a kubeconfig file, or the pod's service account.

lightkube reads both forms (`KubeConfig.from_file`, `from_service_account`) and
makes an authenticated httpx client of them; the watches use that client
directly, because they read objects as plain JSON (no model per object: 10 000
endpoints are kept as the server sent them) and ask for bookmarks, which
lightkube's own watch does not.
"""

from __future__ import annotations

from pathlib import Path

import httpx2 as httpx
from lightkube import KubeConfig
from lightkube.config.client_adapter import AsyncClient, ConnectionParams
from lightkube.config.kubeconfig import SERVICE_ACCOUNT, SingleConfig
from lightkube.core.exceptions import ConfigError

from breakwater.controlplane.kubernetes.options import KubernetesOptions

REQUEST_TIMEOUT = 10.0
"""Seconds for a list or a connection; a watch's reads wait without limit (the server ends
each watch itself after some minutes, and a dead connection fails with an error)."""


class KubernetesConfigError(Exception):
    """No usable kubeconfig or service account; the message says what to give instead."""


def load_config(options: KubernetesOptions) -> SingleConfig:
    """The kubeconfig's current context, or the pod's service account when none is given."""
    try:
        if options.kubeconfig is not None:
            if not options.kubeconfig.is_file():
                raise KubernetesConfigError(
                    f"--kubeconfig {options.kubeconfig}: no such file; give the kubeconfig "
                    "`kubectl` uses (~/.kube/config), or run in a pod without --kubeconfig"
                )
            config = KubeConfig.from_file(options.kubeconfig).get()
        else:
            if not Path(SERVICE_ACCOUNT).is_dir():
                raise KubernetesConfigError(
                    f"not in a pod ({SERVICE_ACCOUNT} does not exist): give --kubeconfig FILE "
                    "to reach a Kubernetes API server from outside the cluster"
                )
            config = KubeConfig.from_service_account().get()
    except ConfigError as exc:
        raise KubernetesConfigError(f"cannot read the Kubernetes configuration: {exc}") from None
    if config is None:
        raise KubernetesConfigError(
            f"the kubeconfig {options.kubeconfig} has no current context; "
            "set one with `kubectl config use-context NAME`"
        )
    return config


def http_client(config: SingleConfig) -> httpx.AsyncClient:
    """An httpx client with the API server as base URL, its CA, and the user's credentials."""
    timeout = httpx.Timeout(REQUEST_TIMEOUT)
    return AsyncClient(config, ConnectionParams(timeout=timeout, trust_env=False))


__all__ = ["KubernetesConfigError", "http_client", "load_config"]
