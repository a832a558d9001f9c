"""`serve` and `bootstrap`: running the control plane, and pointing an Envoy at it.

They sit together because they are two ends of one connection: the
addresses, TLS files and fleet reporting that `serve` listens with are what
`bootstrap` writes into the proxy's configuration.
"""

from __future__ import annotations

import argparse
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakwater import defaults
from breakwater.cli.common import CommandFailed, dump, parse_pairs
from breakwater.controlplane.fleet.contract import FleetOptions

if TYPE_CHECKING:
    from breakwater.controlplane.api.security import SecurityConfig


def _bootstrap_tls(args: argparse.Namespace) -> Any:
    from breakwater.controlplane.bootstrap import XdsTls

    if not (args.tls_ca or args.tls_cert or args.tls_key):
        return None
    if not args.tls_ca:
        raise CommandFailed("--tls-ca is needed to verify the server once TLS is on")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise CommandFailed("give both --tls-cert and --tls-key (the proxy's client certificate)")
    return XdsTls(
        ca_file=str(Path(args.tls_ca).resolve()),
        cert_file=str(Path(args.tls_cert).resolve()) if args.tls_cert else None,
        key_file=str(Path(args.tls_key).resolve()) if args.tls_key else None,
        server_name=args.tls_server_name,
    )


def _proxy_token(args: argparse.Namespace) -> str | None:
    from breakwater.controlplane.api.credentials import token_for_cluster
    from breakwater.controlplane.api.token_files import SecurityError

    if not args.proxy_token_file:
        return None
    try:
        return token_for_cluster(Path(args.proxy_token_file), args.node_cluster)
    except SecurityError as exc:
        raise CommandFailed(str(exc)) from None


def _grpc_bootstrap(args: argparse.Namespace, addresses: list[tuple[str, int]]) -> int:
    """`--grpc`: the bootstrap of a proxyless gRPC client, always JSON (what gRPC reads)."""
    import json

    from breakwater.controlplane.bootstrap import render_grpc_bootstrap

    envoy_only = [
        flag
        for flag, given in (
            ("--delta", args.delta),
            ("--node-metadata", bool(args.node_metadata)),
            ("--no-fleet-reports", args.no_fleet_reports),
            ("--format yaml", args.format == "yaml"),
        )
        if given
    ]
    if envoy_only:
        raise CommandFailed(
            f"{', '.join(envoy_only)} shape an Envoy bootstrap; a gRPC client's bootstrap has "
            "no such setting: leave them out with --grpc"
        )
    token_file = args.proxy_token_file
    if token_file is not None and not (args.tls_ca or args.tls_cert):
        raise CommandFailed(
            "gRPC sends call credentials only over TLS: give --tls-ca (the CA of the xDS "
            "server's certificate) with --proxy-token-file"
        )
    bootstrap = render_grpc_bootstrap(
        args.node_id,
        args.node_cluster or "",
        addresses,
        tls=_bootstrap_tls(args),
        proxy_token_file=str(Path(token_file).resolve()) if token_file else None,
    )
    _emit(args.output, json.dumps(bootstrap, indent=2) + "\n")
    return 0


def _emit(output: str | None, text: str) -> None:
    """Print the bootstrap, or write it to `output` created owner-only (0600), as
    `serve` demands of token files: with a proxy token in it, it is a secret too."""
    if output is None:
        print(text, end="")
        return
    import os

    path = Path(output)
    try:
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(text)
    except OSError as exc:
        raise CommandFailed(
            f"cannot write the bootstrap to {output}: {exc.strerror}; give --output a path "
            "in a directory this user may write (an emptyDir volume in a pod)"
        ) from None


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from breakwater.controlplane.bootstrap import render_bootstrap

    addresses = args.xds_address or [(defaults.HOST, defaults.XDS_PORT)]
    if args.grpc:
        return _grpc_bootstrap(args, addresses)
    if not args.node_cluster:
        raise CommandFailed(
            "--node-cluster is needed for an Envoy bootstrap: Gateways select their proxies "
            "by it (a gRPC client's bootstrap, --grpc, may leave it out)"
        )
    bootstrap = render_bootstrap(
        node_id=args.node_id,
        node_cluster=args.node_cluster,
        xds_addresses=addresses,
        admin_port=args.admin_port,
        delta=args.delta,
        node_metadata=parse_pairs(args.node_metadata, "--node-metadata"),
        tls=_bootstrap_tls(args),
        fleet_reports=not args.no_fleet_reports,
        stats_flush_interval=args.stats_flush_interval,
        proxy_token=_proxy_token(args),
        max_heap_bytes=args.max_heap,
        max_downstream_connections=args.max_connections,
        zone=args.zone,
    )
    _emit(args.output, dump(bootstrap, args.format or "yaml"))
    return 0


def default_state_dir() -> str:
    from platformdirs import user_data_dir

    return user_data_dir("breakwater")


def _workers(asked: int | None, security: SecurityConfig) -> int:
    """`--workers`, or its default; refused where the proxies' reports could not be checked."""
    from breakwater.controlplane.workers import default_workers

    certificates = security.proxy_credentials and security.tls_client_ca is not None
    if asked is None:
        return 0 if certificates else default_workers()
    if asked < 0:
        raise CommandFailed(f"--workers {asked}: give 0 or more worker processes")
    if asked and certificates:
        raise CommandFailed(
            "--workers cannot check proxies' reports by client certificate yet (a worker "
            "relays them to this process without the certificate); run with --workers 0, or "
            "give the proxies tokens (--proxy-token-file) instead of certificates"
        )
    return asked


def run_event_loop(main: Coroutine[Any, Any, None], name: str) -> None:
    """Run `main` to the end on the event loop called `name` (`uvloop` or `asyncio`)."""
    if name == "uvloop":
        try:
            import uvloop
        except ImportError:
            raise CommandFailed(
                "uvloop is not installed here; install it or run with --event-loop asyncio"
            ) from None
        uvloop.run(main)
        return
    import asyncio

    asyncio.run(main)


def _kubernetes(args: argparse.Namespace) -> Any:
    """KubernetesOptions with --kubernetes, None for a policy directory; checks they fit."""
    from breakwater.controlplane.kubernetes.options import KubernetesOptions

    if not args.kubernetes:
        if args.kubeconfig or args.namespace or args.control_namespace:
            raise CommandFailed(
                "--kubeconfig, --namespace and --control-namespace go with --kubernetes"
            )
        if not args.config:
            raise CommandFailed("give the policy directory with -c DIR, or --kubernetes")
        return None
    if args.config:
        raise CommandFailed("give either -c DIR or --kubernetes: the policies come from one source")
    if args.lease_duration < 1:
        raise CommandFailed(
            f"--lease-duration {args.lease_duration:g}: give at least 1 second (the Lease "
            "counts whole seconds)"
        )
    return KubernetesOptions(
        kubeconfig=Path(args.kubeconfig) if args.kubeconfig else None,
        namespaces=tuple(dict.fromkeys(args.namespace or ())),
        control_namespace=args.control_namespace,
        lease_duration=args.lease_duration,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from breakwater.controlplane.api.credentials import load_proxy_tokens
    from breakwater.controlplane.api.security import SecurityConfig
    from breakwater.controlplane.api.token_files import SecurityError, load_token
    from breakwater.controlplane.app import ServeConfig, run
    from breakwater.controlplane.kubernetes.connection import KubernetesConfigError
    from breakwater.controlplane.listen import CannotListen
    from breakwater.controlplane.logs import configure_logging
    from breakwater.controlplane.state.store import StoreError
    from breakwater.controlplane.xds.options import XdsServerOptions

    configure_logging(args.log_level, args.log_format)
    xds_host, xds_port = args.xds_address
    admin_host, admin_port = args.admin_address
    try:
        security = SecurityConfig(
            token=load_token(Path(args.token_file)) if args.token_file else None,
            protect_reads=args.protect_reads,
            insecure_allow_writes=args.insecure_allow_writes,
            tls_cert=Path(args.tls_cert) if args.tls_cert else None,
            tls_key=Path(args.tls_key) if args.tls_key else None,
            tls_client_ca=Path(args.tls_client_ca) if args.tls_client_ca else None,
            admin_hosts=tuple(args.admin_host),
            proxy_tokens=load_proxy_tokens(Path(args.proxy_token_file))
            if args.proxy_token_file
            else None,
            insecure_anonymous_proxies=args.insecure_anonymous_proxies,
        )
        security.check_startup(xds_host, admin_host)
    except SecurityError as exc:
        raise CommandFailed(str(exc)) from None
    store_url: str | None = None
    etcd_access = None
    etcd_files = [args.etcd_ca, args.etcd_cert, args.etcd_key, args.etcd_password_file]
    if args.state.startswith("etcd://"):
        from breakwater.controlplane.state.etcd import EtcdAccess, parse_etcd_url

        try:
            store_url = str(parse_etcd_url(args.state))
            ca, cert, key, password_file = (Path(f) if f else None for f in etcd_files)
            etcd_access = EtcdAccess(ca, cert, key, args.etcd_user, password_file)
        except (ValueError, StoreError) as exc:
            raise CommandFailed(str(exc)) from None
    elif any(etcd_files) or args.etcd_user:
        raise CommandFailed("the --etcd-* options need --state etcd://HOST:PORT/PREFIX")
    config = ServeConfig(
        workers=_workers(args.workers, security),
        security=security,
        policy_dir=Path(args.config or "."),
        kubernetes=_kubernetes(args),
        state_dir=Path(default_state_dir() if store_url else args.state),
        store_url=store_url,
        etcd_access=etcd_access,
        xds_host=xds_host,
        xds_port=args.xds_port if args.xds_port is not None else xds_port,
        admin_host=admin_host,
        admin_port=args.admin_port if args.admin_port is not None else admin_port,
        debounce_quiet=args.debounce_quiet,
        debounce_cap=args.debounce_cap,
        xds_options=XdsServerOptions(
            max_receive_message_length=args.xds_max_message_bytes,
            max_concurrent_streams=args.xds_max_streams,
        ),
        fleet=FleetOptions(load_report_interval=args.load_report_interval),
        per_proxy_metrics=args.per_proxy_metrics,
        webhook_allow=tuple(args.webhook_allow or ()),
        ratelimit_config=None if args.ratelimit_config is None else Path(args.ratelimit_config),
    )
    if config.kubernetes is None and not config.policy_dir.is_dir():
        raise CommandFailed(f"policy directory {config.policy_dir} does not exist; give -c DIR")

    async def main_loop() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(config, stop)

    try:
        run_event_loop(main_loop(), args.event_loop)
    except (StoreError, SecurityError) as exc:
        raise CommandFailed(str(exc)) from None
    except (CannotListen, KubernetesConfigError) as exc:
        raise CommandFailed(str(exc)) from None
    return 0
