"""The `breakwater` command: validate, render and explain policies, print bootstraps, serve.

Every command exits 0 on success and 1 with sentences on stderr otherwise;
a traceback is a bug.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakwater import defaults
from breakwater.controlplane.fleet.contract import DEFAULT_STATS_FLUSH_INTERVAL, FleetOptions
from breakwater.controlplane.xds.options import MAX_RECEIVE_MESSAGE_LENGTH

if TYPE_CHECKING:  # imported where used: client commands should not pay for the policy models
    from breakwater.translators.errors import PolicyError
    from breakwater.translators.policyset import PolicySet


def _parse_pairs(pairs: Sequence[str], what: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: {what} {pair!r} is not KEY=VALUE")
        result[key] = value
    return result


def _load_or_report(directory: str) -> PolicySet | None:
    """The policies as `serve` would take them: the same sources, the same pipeline."""
    from breakwater.controlplane.state.sources import load_policy_files

    _, loaded = load_policy_files(Path(directory))
    if loaded.policyset is None:
        _print_errors(loaded.errors)
    return loaded.policyset


def _print_errors(errors: list[PolicyError]) -> None:
    for error in errors:
        print(error, file=sys.stderr)
    noun = "error" if len(errors) == 1 else "errors"
    print(f"{len(errors)} {noun}; nothing was applied. Fix them and run again.", file=sys.stderr)


def _dump(data: Any, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(data, indent=2, sort_keys=False)
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def cmd_validate(args: argparse.Namespace) -> int:
    policyset = _load_or_report(args.directory)
    if policyset is None:
        return 1
    print(
        f"{args.directory}: valid: {len(policyset.services)} services, {len(policyset.policies)} "
        f"resilience policies, {len(policyset.gateways)} gateways, {len(policyset.routes)} routes"
    )
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from breakwater.translators.snapshot import node_group, to_config_dump, translate

    policyset = _load_or_report(args.directory)
    if policyset is None:
        return 1
    metadata = _parse_pairs(args.node_metadata, "--node-metadata")
    group = node_group(policyset, args.node_cluster, metadata)
    if not group:
        print(
            f"no gateway selects node cluster {args.node_cluster!r} with metadata {metadata}; "
            "the proxy would get no listeners. Check the gateways' nodeSelector.",
            file=sys.stderr,
        )
    print(_dump(to_config_dump(translate(policyset, group)), args.format), end="")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from breakwater.translators.explain import explain_service

    policyset = _load_or_report(args.directory)
    if policyset is None:
        return 1
    if args.service not in policyset.services:
        known = ", ".join(sorted(policyset.services)) or "none"
        print(
            f"service {args.service!r} is not declared; declared services: {known}", file=sys.stderr
        )
        return 1
    sections = explain_service(policyset, args.service)
    if args.output == "json":
        print(
            json.dumps(
                [{"title": s.title, "settings": [vars(x) for x in s.settings]} for s in sections],
                indent=2,
            )
        )
        return 0
    for section in sections:
        print(f"== {section.title}")
        if not section.settings:
            print("   (nothing set: Envoy's defaults apply)")
        for setting in section.settings:
            print(f"   {setting.path} = {json.dumps(setting.value)}")
            print(f"      set by: {setting.set_by}")
            print(f"      envoy:  {setting.envoy}")
            if setting.differs:
                print(f"      note:   {setting.differs}")
        print()
    return 0


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return int(text)


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _bootstrap_tls(args: argparse.Namespace) -> Any:
    from breakwater.controlplane.bootstrap import XdsTls

    if not (args.tls_ca or args.tls_cert or args.tls_key):
        return None
    if not args.tls_ca:
        raise _CommandFailed("--tls-ca is needed to verify the server once TLS is on")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise _CommandFailed("give both --tls-cert and --tls-key (the proxy's client certificate)")
    return XdsTls(
        ca_file=str(Path(args.tls_ca).resolve()),
        cert_file=str(Path(args.tls_cert).resolve()) if args.tls_cert else None,
        key_file=str(Path(args.tls_key).resolve()) if args.tls_key else None,
        server_name=args.tls_server_name,
    )


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from breakwater.controlplane.bootstrap import render_bootstrap

    addresses = args.xds_address or [(defaults.HOST, defaults.XDS_PORT)]
    bootstrap = render_bootstrap(
        node_id=args.node_id,
        node_cluster=args.node_cluster,
        xds_addresses=addresses,
        admin_port=args.admin_port,
        delta=args.delta,
        node_metadata=_parse_pairs(args.node_metadata, "--node-metadata"),
        tls=_bootstrap_tls(args),
        fleet_reports=not args.no_fleet_reports,
        stats_flush_interval=args.stats_flush_interval,
    )
    print(_dump(bootstrap, args.format), end="")
    return 0


def _default_state_dir() -> str:
    from platformdirs import user_data_dir

    return user_data_dir("breakwater")


def cmd_serve(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from breakwater.controlplane.api.security import SecurityConfig, SecurityError, load_token
    from breakwater.controlplane.app import ServeConfig, run
    from breakwater.controlplane.state.store import StoreError
    from breakwater.controlplane.xds.options import XdsServerOptions

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
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
        )
        security.check_startup(xds_host, admin_host)
    except SecurityError as exc:
        raise _CommandFailed(str(exc)) from None
    store_url: str | None = None
    if args.state.startswith("etcd://"):
        from breakwater.controlplane.state.etcd import parse_etcd_url

        try:
            store_url = str(parse_etcd_url(args.state))
        except ValueError as exc:
            raise _CommandFailed(str(exc)) from None
    config = ServeConfig(
        security=security,
        policy_dir=Path(args.config),
        state_dir=Path(_default_state_dir() if store_url else args.state),
        store_url=store_url,
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
    )
    if not config.policy_dir.is_dir():
        raise _CommandFailed(f"policy directory {config.policy_dir} does not exist; give -c DIR")

    async def main_loop() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(config, stop)

    try:
        asyncio.run(main_loop())
    except (StoreError, SecurityError) as exc:
        raise _CommandFailed(str(exc)) from None
    except OSError as exc:
        raise _CommandFailed(f"cannot listen: {exc}; is another server on that port?") from None
    return 0


def _client_call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    from breakwater.client import ApiError, call

    try:
        return call(args.server, method, path, body, token=args.token, ca_file=args.ca)
    except ApiError as exc:
        raise _CommandFailed(str(exc)) from None


class _CommandFailed(Exception):
    pass


def _show(args: argparse.Namespace, result: Any, formatter: Any) -> int:
    from breakwater.client import ApiError

    try:
        print(json.dumps(result, indent=2) if args.output == "json" else formatter(result))
    except ApiError as exc:
        raise _CommandFailed(str(exc)) from None
    return 0


def cmd_weights_get(args: argparse.Namespace) -> int:
    from breakwater.client import format_weights, weights_path

    result = _client_call(args, "GET", weights_path(args.route, args.rule))
    return _show(args, result, format_weights)


def _parse_weights(pairs: Sequence[str]) -> dict[str, int]:
    weights: dict[str, int] = {}
    for label, value in _parse_pairs(pairs, "weight").items():
        try:
            weights[label] = int(value)
        except ValueError:
            raise _CommandFailed(f"weight {label}={value!r} is not a whole number") from None
    return weights


def cmd_weights_set(args: argparse.Namespace) -> int:
    from breakwater.client import format_weights, weights_path

    body: dict[str, Any] = {"weights": _parse_weights(args.weights)}
    if args.rule is not None:
        body["rule"] = args.rule
    if args.expected_revision is not None:
        body["expectedRevision"] = args.expected_revision
    result = _client_call(args, "PUT", weights_path(args.route, None), body)
    return _show(args, result, format_weights)


def cmd_weights_reset(args: argparse.Namespace) -> int:
    from breakwater.client import format_weights, weights_path

    path = weights_path(args.route, args.rule, args.expected_revision)
    return _show(args, _client_call(args, "DELETE", path), format_weights)


def cmd_rollout(args: argparse.Namespace) -> int:
    from urllib.parse import quote

    from breakwater.client import format_rollout, format_rollouts

    if args.action == "status":
        if args.name is None:
            return _show(args, _client_call(args, "GET", "/v1/rollouts"), format_rollouts)
        path = f"/v1/rollouts/{quote(args.name, safe='')}"
        return _show(args, _client_call(args, "GET", path), format_rollout)
    if args.name is None:
        raise _CommandFailed(
            f"name the rollout to {args.action}: breakwater rollout {args.action} NAME"
        )
    path = f"/v1/rollouts/{quote(args.name, safe='')}/{args.action}"
    return _show(args, _client_call(args, "POST", path), format_rollout)


def cmd_history(args: argparse.Namespace) -> int:
    from urllib.parse import urlencode

    from breakwater.client import format_history

    query = {"limit": str(args.limit), **({"route": args.route} if args.route else {})}
    return _show(args, _client_call(args, "GET", f"/v1/events?{urlencode(query)}"), format_history)


def cmd_status(args: argparse.Namespace) -> int:
    from breakwater.client import format_status

    return _show(args, _client_call(args, "GET", "/v1/status"), format_status)


def cmd_policies(args: argparse.Namespace) -> int:
    from urllib.parse import quote

    from breakwater.client import format_policies, format_policy

    if args.name:
        path = f"/v1/policies/{quote(args.name, safe='')}"
        return _show(args, _client_call(args, "GET", path), format_policy)
    return _show(args, _client_call(args, "GET", "/v1/policies"), format_policies)


def _client_options(parser: argparse.ArgumentParser) -> None:
    from breakwater.client import DEFAULT_SERVER

    parser.add_argument(
        "--server", default=DEFAULT_SERVER, help=f"admin API URL (default {DEFAULT_SERVER})"
    )
    parser.add_argument("--output", choices=["table", "json"], default="table")
    parser.add_argument(
        "--token", help="bearer token for a server started with --token-file (or BREAKWATER_TOKEN)"
    )
    parser.add_argument("--ca", help="PEM CA to verify an https admin API")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="breakwater",
        description="An xDS control plane for Envoy driven by resilience policies.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    validate = sub.add_parser("validate", help="check a policy directory and list every mistake")
    validate.add_argument("directory")
    validate.set_defaults(func=cmd_validate)

    render = sub.add_parser("render", help="print the Envoy resources a proxy would receive")
    render.add_argument("directory")
    render.add_argument("--node-cluster", required=True, help="the proxy's node.cluster")
    render.add_argument("--node-id", default="render", help="the proxy's node.id")
    render.add_argument(
        "--node-metadata",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="node.metadata entry",
    )
    render.add_argument("--format", choices=["json", "yaml"], default="json")
    render.set_defaults(func=cmd_render)

    explain = sub.add_parser("explain", help="show each effective setting of a service and why")
    explain.add_argument("directory")
    explain.add_argument("service")
    explain.add_argument("--output", choices=["table", "json"], default="table")
    explain.set_defaults(func=cmd_explain)

    bootstrap = sub.add_parser(
        "bootstrap", help="print an Envoy bootstrap that points at the server"
    )
    bootstrap.add_argument("--node-id", required=True)
    bootstrap.add_argument("--node-cluster", required=True)
    bootstrap.add_argument(
        "--xds-address",
        action="append",
        type=_address,
        metavar="HOST:PORT",
        help="an xDS server address; repeat it for several replicas "
        f"(default {defaults.HOST}:{defaults.XDS_PORT})",
    )
    bootstrap.add_argument(
        "--admin-port", type=int, default=defaults.ENVOY_ADMIN_PORT, help="(default %(default)s)"
    )
    bootstrap.add_argument("--delta", action="store_true", help="use incremental (Delta) xDS")
    bootstrap.add_argument("--node-metadata", action="append", default=[], metavar="KEY=VALUE")
    bootstrap.add_argument("--tls-ca", help="PEM CA that signed the xDS server's certificate")
    bootstrap.add_argument("--tls-cert", help="the proxy's client certificate (PEM), for mTLS")
    bootstrap.add_argument("--tls-key", help="the proxy's client key (PEM), for mTLS")
    bootstrap.add_argument("--tls-server-name", help="SNI and name to verify (default: none)")
    bootstrap.add_argument(
        "--no-fleet-reports",
        action="store_true",
        help="do not send the proxy's stats and load reports to the control plane",
    )
    bootstrap.add_argument(
        "--stats-flush-interval",
        default=DEFAULT_STATS_FLUSH_INTERVAL,
        metavar="DURATION",
        help=f"how often the proxy reports its stats (default {DEFAULT_STATS_FLUSH_INTERVAL})",
    )
    bootstrap.add_argument("--format", choices=["json", "yaml"], default="yaml")
    bootstrap.set_defaults(func=cmd_bootstrap)

    serve = sub.add_parser("serve", help="run the xDS server and the admin API")
    serve.add_argument("-c", "--config", required=True, help="policy directory (watched)")
    serve.add_argument(
        "--state",
        default=_default_state_dir(),
        metavar="DIR|etcd://HOST:PORT[,HOST:PORT...]/PREFIX",
        help="where API writes are kept: a directory (embedded SQLite; default: the user data "
        "directory), or an etcd cluster shared by several replicas",
    )
    serve.add_argument(
        "--xds-address",
        type=_address,
        default=(defaults.HOST, defaults.XDS_PORT),
        metavar="HOST:PORT",
        help=f"xDS and the gRPC API (default {defaults.HOST}:{defaults.XDS_PORT})",
    )
    serve.add_argument("--xds-port", type=int, help="shorthand for the port of --xds-address")
    serve.add_argument(
        "--admin-address",
        type=_address,
        default=(defaults.HOST, defaults.ADMIN_PORT),
        metavar="HOST:PORT",
        help=f"the HTTP admin API (default {defaults.HOST}:{defaults.ADMIN_PORT})",
    )
    serve.add_argument("--admin-port", type=int, help="shorthand for the port of --admin-address")
    serve.add_argument(
        "--debounce-quiet",
        type=float,
        default=defaults.DEBOUNCE_QUIET,
        metavar="SECONDS",
        help="push once changes were quiet this long (default %(default)s)",
    )
    serve.add_argument(
        "--debounce-cap",
        type=float,
        default=defaults.DEBOUNCE_CAP,
        metavar="SECONDS",
        help="push at most this long after a burst began (default %(default)s)",
    )
    serve.add_argument(
        "--xds-max-message-bytes",
        type=_positive_int,
        default=MAX_RECEIVE_MESSAGE_LENGTH,
        metavar="BYTES",
        help="largest request a proxy may send on the xDS port; larger ones end the stream "
        f"with RESOURCE_EXHAUSTED (default {MAX_RECEIVE_MESSAGE_LENGTH // 2**20} MiB)",
    )
    serve.add_argument(
        "--xds-max-streams",
        type=_positive_int,
        metavar="N",
        help="concurrent gRPC streams per connection on the xDS port; more wait (default: "
        "no limit)",
    )
    serve.add_argument(
        "--token-file", help="file holding the bearer token that writes (and protected reads) need"
    )
    serve.add_argument(
        "--protect-reads", action="store_true", help="reads need the token too (probes stay open)"
    )
    serve.add_argument(
        "--insecure-allow-writes",
        action="store_true",
        help="accept writes without a token on non-loopback addresses",
    )
    serve.add_argument("--tls-cert", help="PEM certificate for the xDS and admin ports")
    serve.add_argument("--tls-key", help="PEM private key for --tls-cert")
    serve.add_argument(
        "--tls-client-ca", help="PEM CA: the xDS port then demands client certificates it signed"
    )
    serve.add_argument(
        "--load-report-interval",
        type=float,
        default=FleetOptions.load_report_interval,
        metavar="SECONDS",
        help="how often proxies send load reports (LRS); their stats follow the bootstrap's "
        f"--stats-flush-interval (default {FleetOptions.load_report_interval:g})",
    )
    serve.add_argument(
        "--per-proxy-metrics",
        action="store_true",
        help="also export breakwater_proxy_sync_state for every proxy (16 series each; "
        "breakwater_proxies has the same by node group)",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(func=cmd_serve)

    rollout = sub.add_parser(
        "rollout", help="follow and steer Rollouts: status, promote, pause, resume, abort, retry"
    )
    rollout.add_argument(
        "action", choices=["status", "promote", "pause", "resume", "abort", "retry"]
    )
    rollout.add_argument("name", nargs="?", help="the Rollout (status without it lists them all)")
    _client_options(rollout)
    rollout.set_defaults(func=cmd_rollout)

    history = sub.add_parser(
        "history",
        help="what changed traffic, newest first: weight writes, rollout steps, policy reloads",
    )
    history.add_argument("--route", help="only the changes of this HTTPRoute")
    history.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    _client_options(history)
    history.set_defaults(func=cmd_history)

    weights = sub.add_parser("weights", help="read and shift an HTTPRoute rule's weights")
    weights_sub = weights.add_subparsers(dest="weights_command", required=True)
    w_get = weights_sub.add_parser("get", help="show a rule's effective weights")
    w_get.add_argument("route")
    w_get.add_argument("--rule", type=int, help="rule index (default: the first split rule)")
    _client_options(w_get)
    w_get.set_defaults(func=cmd_weights_get)
    w_set = weights_sub.add_parser("set", help="override a rule's weights: stable=75 canary=25")
    w_set.add_argument("route")
    w_set.add_argument("weights", nargs="+", metavar="BACKEND=WEIGHT")
    w_set.add_argument("--rule", type=int, help="rule index (default: the first split rule)")
    w_set.add_argument(
        "--expected-revision", type=int, help="refuse the write if someone changed it since"
    )
    _client_options(w_set)
    w_set.set_defaults(func=cmd_weights_set)
    w_reset = weights_sub.add_parser("reset", help="drop the override: the YAML weights apply")
    w_reset.add_argument("route")
    w_reset.add_argument("--rule", type=int, help="rule index (default: the first split rule)")
    w_reset.add_argument("--expected-revision", type=int)
    _client_options(w_reset)
    w_reset.set_defaults(func=cmd_weights_reset)

    status = sub.add_parser("status", help="which proxy has which version, ACK/NACK per type")
    _client_options(status)
    status.set_defaults(func=cmd_status)

    policies = sub.add_parser(
        "policies",
        help="every policy document, whether it is valid, and what each ResiliencePolicy is "
        "doing; with NAME, one policy in detail",
    )
    policies.add_argument("name", nargs="?", help="a ResiliencePolicy to show in detail")
    _client_options(policies)
    policies.set_defaults(func=cmd_policies)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except _CommandFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0
    return result


if __name__ == "__main__":
    sys.exit(main())
