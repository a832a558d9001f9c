"""The command line itself: every command, its arguments, their defaults and help.

Kept in one place so that `breakwater --help` and each command's help read
as one document; the defaults come from `breakwater.defaults` and the
modules that own them, so the help never disagrees with what runs.
"""

from __future__ import annotations

import argparse
import os

from breakwater import __version__, defaults
from breakwater.cli.diff import cmd_diff
from breakwater.cli.formats import add_format_commands
from breakwater.cli.helptext import add_command, command_text
from breakwater.cli.policies import cmd_explain, cmd_ratelimit_config, cmd_render, cmd_validate
from breakwater.cli.registration import cmd_endpoints_or_instances
from breakwater.cli.remote import (
    cmd_policies,
    cmd_status,
    cmd_weights_get,
    cmd_weights_reset,
    cmd_weights_set,
)
from breakwater.cli.rollouts import cmd_history, cmd_rollout
from breakwater.cli.serving import cmd_bootstrap, cmd_serve, default_state_dir
from breakwater.controlplane.fleet.contract import DEFAULT_STATS_FLUSH_INTERVAL, FleetOptions
from breakwater.controlplane.logs import LOG_FORMATS
from breakwater.controlplane.xds.options import MAX_RECEIVE_MESSAGE_LENGTH


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return int(text)


def _flush_interval(text: str) -> str:
    from breakwater.controlplane.bootstrap import stats_flush_interval

    try:
        return stats_flush_interval(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _size(text: str) -> int:
    from breakwater.controlplane.overload import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _zone(text: str) -> str:
    from pydantic import TypeAdapter, ValidationError

    from breakwater.translators.model_parts import ZONE_HELP, Zone

    try:
        return str(TypeAdapter(Zone).validate_python(text))
    except ValidationError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a zone: use {ZONE_HELP}") from None


def _client_options(parser: argparse.ArgumentParser) -> None:
    from breakwater.client import DEFAULT_SERVER, SERVER_ENV

    parser.add_argument(
        "--server",
        default=os.environ.get(SERVER_ENV, DEFAULT_SERVER),
        help=f"admin API URL (default: ${SERVER_ENV}, else {DEFAULT_SERVER})",
    )
    parser.add_argument("--output", choices=["table", "json"], default="table")
    parser.add_argument(
        "--token", help="bearer token for a server started with --token-file (or BREAKWATER_TOKEN)"
    )
    parser.add_argument("--ca", help="PEM CA to verify an https admin API")


def _add_rule(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rule",
        metavar="NAME|INDEX",
        help="the rule's name or index (default: the first rule with more than one backend)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breakwater", **command_text(""))
    parser.add_argument("--version", action="version", version=f"breakwater {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    validate = add_command(sub, "validate", help="check a policy directory and list every mistake")
    validate.add_argument("directory")
    validate.set_defaults(func=cmd_validate)

    render = add_command(sub, "render", help="print the Envoy resources a proxy would receive")
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

    limits = add_command(
        sub, "ratelimit-config", help="print the rate-limit service's configuration"
    )
    limits.add_argument("directory")
    limits.set_defaults(func=cmd_ratelimit_config)

    explain = add_command(
        sub,
        "explain",
        help="show each effective setting of a service, or of a gateway's telemetry, and why",
    )
    explain.add_argument("directory")
    explain.add_argument(
        "name",
        metavar="SERVICE|gateway/NAME",
        help="a service: its policies; gateway/NAME: its tracing and access log, and which "
        "policy each response flag in that log points at",
    )
    explain.add_argument("--output", choices=["table", "json"], default="table")
    explain.set_defaults(func=cmd_explain)

    diff = add_command(
        sub,
        "diff",
        help="what a candidate policy directory would change, per node group, on a server",
    )
    diff.add_argument("directory")
    _client_options(diff)
    diff.set_defaults(func=cmd_diff)

    bootstrap = add_command(
        sub, "bootstrap", help="print an Envoy bootstrap that points at the server"
    )
    bootstrap.add_argument("--node-id", required=True)
    bootstrap.add_argument(
        "--node-cluster", help="the node's cluster (needed for Envoy; optional with --grpc)"
    )
    bootstrap.add_argument(
        "--grpc",
        action="store_true",
        help="print the xDS bootstrap of a proxyless gRPC client (JSON, for GRPC_XDS_BOOTSTRAP) "
        "instead of an Envoy bootstrap",
    )
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
    bootstrap.add_argument(
        "--zone",
        type=_zone,
        help="the zone the proxy runs in (its locality): zone-aware routing and zone failover "
        "start from it; adds the local cluster they need",
    )
    bootstrap.add_argument("--tls-ca", help="PEM CA that signed the xDS server's certificate")
    bootstrap.add_argument("--tls-cert", help="the proxy's client certificate (PEM), for mTLS")
    bootstrap.add_argument("--tls-key", help="the proxy's client key (PEM), for mTLS")
    bootstrap.add_argument("--tls-server-name", help="SNI and name to verify (default: none)")
    bootstrap.add_argument(
        "--proxy-token-file",
        metavar="FILE",
        help="the server's proxy token file: the token of --node-cluster (or of a `*` line) "
        "goes on every call to the control plane; with --grpc, a file holding this client's "
        "token alone, which the client reads itself",
    )
    bootstrap.add_argument(
        "--no-fleet-reports",
        action="store_true",
        help="do not send the proxy's stats and load reports to the control plane",
    )
    bootstrap.add_argument(
        "--stats-flush-interval",
        default=DEFAULT_STATS_FLUSH_INTERVAL,
        type=_flush_interval,
        metavar="DURATION",
        help=f"how often the proxy reports its stats (default {DEFAULT_STATS_FLUSH_INTERVAL})",
    )
    bootstrap.add_argument(
        "--max-heap",
        type=_size,
        metavar="SIZE",
        help="the proxy's heap budget (512Mi, 1Gi): at 90 %% of it Envoy stops keeping "
        "connections alive, at 98 %% it answers new requests 503 (default: no heap limit)",
    )
    bootstrap.add_argument(
        "--max-connections",
        type=_positive_int,
        metavar="N",
        help="downstream connections of all listeners together; more are closed as they "
        "arrive (default: no cap)",
    )
    bootstrap.add_argument("--format", choices=["json", "yaml"])
    bootstrap.add_argument(
        "--output",
        metavar="FILE",
        help="write the bootstrap to FILE, readable by its owner only (it holds the proxy "
        "token), instead of printing it; what an init container does for an Envoy pod",
    )
    bootstrap.set_defaults(func=cmd_bootstrap)

    serve = add_command(sub, "serve", help="run the xDS server and the admin API")
    serve.add_argument("-c", "--config", help="policy directory (watched); not with --kubernetes")
    serve.add_argument(
        "--kubernetes",
        action="store_true",
        help="read the policies from the Kubernetes API server instead of a directory: "
        "Gateway API objects, Services and their EndpointSlices, and Breakwater's CRDs "
        "(in a pod: its service account; elsewhere: --kubeconfig)",
    )
    serve.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="with --kubernetes: the kubeconfig to reach the API server with (its current context)",
    )
    serve.add_argument(
        "--namespace",
        action="append",
        metavar="NS",
        help="with --kubernetes: read only this namespace; repeat it for several (default: all)",
    )
    serve.add_argument(
        "--control-namespace",
        metavar="NS",
        help="with --kubernetes: where the replicas' Lease and the state ConfigMaps live "
        "(default: the pod's own namespace, or the kubeconfig context's)",
    )
    serve.add_argument(
        "--lease-duration",
        type=float,
        default=defaults.LEASE_DURATION,
        metavar="SECONDS",
        help="with --kubernetes: how long the leader's Lease lasts without a renewal; another "
        "replica takes over within it after the leader dies "
        f"(default: {defaults.LEASE_DURATION:g})",
    )
    serve.add_argument(
        "--state",
        default=default_state_dir(),
        metavar="DIR|etcd://HOST:PORT[,HOST:PORT...]/PREFIX",
        help="where API writes are kept: a directory (embedded SQLite; default: the user data "
        "directory), or an etcd cluster shared by several replicas; with --kubernetes the API "
        "server keeps them (ConfigMaps in --control-namespace) unless this is an etcd URL",
    )
    serve.add_argument("--etcd-ca", metavar="FILE", help="PEM CA that signed etcd's certificate")
    serve.add_argument(
        "--etcd-cert", metavar="FILE", help="PEM client certificate for etcd's --client-cert-auth"
    )
    serve.add_argument("--etcd-key", metavar="FILE", help="PEM private key of --etcd-cert")
    serve.add_argument("--etcd-user", metavar="USER", help="etcd user to authenticate as")
    serve.add_argument(
        "--etcd-password-file",
        metavar="FILE",
        help="file holding --etcd-user's password, readable by its owner only (chmod 600)",
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
        "--admin-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host name the admin API answers to besides its own addresses (a load "
        "balancer's or ingress's); repeat it for several. Other names are refused, against "
        "DNS rebinding",
    )
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
        "--workers",
        type=int,
        metavar="N",
        help="worker processes serving the xDS streams, sharing the xDS port; 0 serves them "
        "in this process, as the translation does (default: one per core, 0 on one core)",
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
        "--ratelimit-config",
        metavar="FILE",
        help="keep Envoy's rate-limit service's configuration in FILE (in the directory the "
        "service watches), rewritten whenever the policies change their global rate limits",
    )
    serve.add_argument(
        "--webhook-allow",
        action="append",
        metavar="HOST",
        help="a host Rollout webhooks may call; repeat it for several. When given, hooks to "
        "other hosts are not called (default: any host)",
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
        "--proxy-token-file",
        metavar="FILE",
        help="`TOKEN NODE_CLUSTER` lines (`*`: any cluster): proxies must send one of these "
        "tokens, and may claim only its node cluster",
    )
    serve.add_argument(
        "--insecure-anonymous-proxies",
        action="store_true",
        help="let proxies without a credential fetch config and report on a non-loopback "
        "xDS address",
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
    serve.add_argument(
        "--log-format",
        default="text",
        choices=LOG_FORMATS,
        help="json: one object a line, with the field names of the proxies' access logs "
        "(start_time, method, path, response_code, ...) (default %(default)s)",
    )
    serve.add_argument(
        "--event-loop",
        choices=defaults.EVENT_LOOPS,
        default=defaults.EVENT_LOOP,
        help=f"the event loop to run on (default {defaults.EVENT_LOOP})",
    )
    serve.set_defaults(func=cmd_serve)

    rollout = add_command(
        sub,
        "rollout",
        help="follow and steer Rollouts: status, promote, pause, resume, abort, retry",
    )
    rollout.add_argument(
        "action", choices=["status", "promote", "pause", "resume", "abort", "retry"]
    )
    rollout.add_argument("name", nargs="?", help="the Rollout (status without it lists them all)")
    _client_options(rollout)
    rollout.set_defaults(func=cmd_rollout)

    history = add_command(
        sub,
        "history",
        help="what changed traffic, newest first: weight writes, rollout steps, policy reloads",
    )
    history.add_argument("--route", help="only the changes of this HTTPRoute")
    history.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    _client_options(history)
    history.set_defaults(func=cmd_history)

    weights = add_command(sub, "weights", help="read and shift an HTTPRoute rule's weights")
    weights_sub = weights.add_subparsers(dest="weights_command", required=True)
    w_get = add_command(weights_sub, "weights get", help="show a rule's effective weights")
    w_get.add_argument("route")
    _add_rule(w_get)
    _client_options(w_get)
    w_get.set_defaults(func=cmd_weights_get)
    w_set = add_command(
        weights_sub, "weights set", help="override a rule's weights: stable=75 canary=25"
    )
    w_set.add_argument("route")
    w_set.add_argument("weights", nargs="+", metavar="BACKEND=WEIGHT")
    _add_rule(w_set)
    w_set.add_argument(
        "--expected-revision", type=int, help="refuse the write if someone changed it since"
    )
    w_set.add_argument(
        "--relative",
        action="store_true",
        help="weights are shares of their sum (Envoy's meaning), not percentages adding up to 100",
    )
    _client_options(w_set)
    w_set.set_defaults(func=cmd_weights_set)
    w_reset = add_command(
        weights_sub, "weights reset", help="drop the override: the YAML weights apply"
    )
    w_reset.add_argument("route")
    _add_rule(w_reset)
    w_reset.add_argument("--expected-revision", type=int)
    _client_options(w_reset)
    w_reset.set_defaults(func=cmd_weights_reset)

    endpoints = add_command(
        sub,
        "endpoints",
        help="list a service's endpoints, drain one (no new requests, those in flight finish) "
        "or undrain it; register an instance with a Service that takes registrations (and "
        "keep it registered), or deregister it",
    )
    endpoints.add_argument("action", choices=["list", "drain", "undrain", "register", "deregister"])
    endpoints.add_argument("service")
    endpoints.add_argument("endpoint", nargs="?", metavar="ADDRESS:PORT")
    endpoints.add_argument(
        "--label",
        action="append",
        metavar="K=V",
        help="register: a label the Service's subsets select by (repeat for more)",
    )
    endpoints.add_argument("--zone", help="register: the zone the instance runs in")
    endpoints.add_argument("--weight", type=int, help="register: its share (default 1)")
    endpoints.add_argument(
        "--ttl",
        help=f"register: how long it lives without a renewal, e.g. 30s (default: the Service's "
        f"registration.ttl, else {defaults.REGISTRATION_TTL:g}s)",
    )
    endpoints.add_argument(
        "--keepalive",
        action="store_true",
        help="register: stay in the foreground renewing every TTL/3; on SIGTERM deregister, "
        "wait for the drain, then exit",
    )
    endpoints.add_argument(
        "--expected-revision",
        type=int,
        help="refuse the write if the endpoint's drain changed since (0: not drained)",
    )
    _client_options(endpoints)
    endpoints.set_defaults(func=cmd_endpoints_or_instances)

    status = add_command(sub, "status", help="which proxy has which version, ACK/NACK per type")
    _client_options(status)
    status.set_defaults(func=cmd_status)

    policies = add_command(
        sub,
        "policies",
        help="every policy document, whether it is valid, and what each ResiliencePolicy is "
        "doing; with NAME, one policy in detail",
    )
    policies.add_argument("name", nargs="?", help="a ResiliencePolicy to show in detail")
    _client_options(policies)
    policies.set_defaults(func=cmd_policies)

    add_format_commands(sub)
    return parser
