"""What each command is for and how to run it: the description and the examples of its `--help`.

Kept apart from the arguments (`parser`) so that the words read as one
document; `add_command` makes a command's parser with its text from here,
and every example is a command line the parser takes (the tests parse them).
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

WIDTH = 78


@dataclass(frozen=True)
class CommandHelp:
    description: str
    examples: tuple[tuple[str, str], ...]
    """(what it does, the command line), the command line starting with `breakwater`."""

    def epilog(self) -> str:
        lines = ["examples:"]
        for what, line in self.examples:
            lines += [f"  {what}:", f"    $ {line}"]
        return "\n".join(lines)


COMMANDS: Mapping[str, CommandHelp] = {
    "": CommandHelp(
        "An xDS control plane for Envoy driven by resilience policies: YAML policies in a "
        "directory become the config of every proxy, pushed over ADS. Check a directory with "
        "`validate`, run it with `serve`, point Envoy at it with `bootstrap`, and see what the "
        "proxies hold with `status`. `breakwater COMMAND --help` says more of each command.",
        (
            ("check a policy directory", "breakwater validate deploy/examples"),
            ("serve it", "breakwater serve -c deploy/examples"),
            (
                "an Envoy bootstrap for the proxies of node cluster edge",
                "breakwater bootstrap --node-id edge-1 --node-cluster edge",
            ),
            ("which proxy holds which config", "breakwater status"),
        ),
    ),
    "validate": CommandHelp(
        "Read a policy directory as `serve` reads it and list every mistake, each with its "
        "file, line and what to write instead. Exit 0: the directory is valid; 1: it is not. "
        "Nothing is sent anywhere.",
        (
            ("check the example policies", "breakwater validate deploy/examples"),
            ("check a directory before a commit", "breakwater validate policies/"),
        ),
    ),
    "render": CommandHelp(
        "Print the Envoy resources (listeners, routes, clusters, endpoints) that a proxy of "
        "the given node cluster would receive from this directory, without a server.",
        (
            (
                "what the edge proxies get, as YAML",
                "breakwater render deploy/examples --node-cluster edge --format yaml",
            ),
            (
                "with node metadata that gateways select on",
                "breakwater render deploy/examples --node-cluster edge --node-metadata zone=a",
            ),
        ),
    ),
    "explain": CommandHelp(
        "Show each effective setting of a service (timeouts, retries, circuit breakers, "
        "outlier detection) with the policy that set it and the Envoy field it becomes, or, "
        "for gateway/NAME, its tracing and access log.",
        (
            ("why payments behaves as it does", "breakwater explain deploy/examples payments"),
            ("the edge gateway's telemetry", "breakwater explain deploy/examples gateway/edge"),
        ),
    ),
    "ratelimit-config": CommandHelp(
        "Print the configuration of Envoy's rate-limit service for every rateLimit.global in "
        "DIR (domain breakwater, one descriptor per limit). Write it where the service reads "
        "its configuration (RUNTIME_ROOT/RUNTIME_SUBDIRECTORY/config/) whenever the policies "
        "change; the service picks up a changed file by itself.",
        (
            (
                "the service's configuration file",
                "breakwater ratelimit-config deploy/examples > /srv/ratelimit/config/breakwater.yaml",
            ),
        ),
    ),
    "diff": CommandHelp(
        "Compare the resources DIR would give each node group with what the server at "
        "--server serves now; changes that come from the server's own weight overrides, "
        "drains and rollout steps are marked as such. Exit 0: no change; 1: changes; 2: DIR "
        "is invalid or the server cannot be asked.",
        (
            ("before loading a change", "breakwater diff deploy/examples"),
            (
                "as JSON, against another server",
                "breakwater diff deploy/examples --server http://cp.internal:18001 --output json",
            ),
        ),
    ),
    "bootstrap": CommandHelp(
        "Print an Envoy bootstrap that points a proxy at the control plane: its node id and "
        "cluster (which gateways it gets), the xDS addresses, TLS and the proxy token when "
        "the server asks for them. Start Envoy with it: envoy -c bootstrap.yaml. With --grpc, "
        "the xDS bootstrap of a proxyless gRPC client instead (GRPC_XDS_BOOTSTRAP).",
        (
            (
                "a proxy of node cluster edge",
                "breakwater bootstrap --node-id edge-1 --node-cluster edge > bootstrap.yaml",
            ),
            (
                "two control plane replicas, incremental xDS",
                "breakwater bootstrap --node-id edge-1 --node-cluster edge --delta "
                "--xds-address cp-a:18000 --xds-address cp-b:18000",
            ),
            (
                "a gRPC client that dials xds:///payments",
                "breakwater bootstrap --grpc --node-id checkout-1 --node-cluster checkout "
                "> xds-bootstrap.json",
            ),
        ),
    ),
    "serve": CommandHelp(
        "Run the control plane: the xDS server proxies connect to, the gRPC API beside it, "
        "and the HTTP admin API with its console. The policy directory is watched: a valid "
        "change is pushed, an invalid one is logged and the last valid set stays served.",
        (
            ("on this machine, with the examples", "breakwater serve -c deploy/examples"),
            (
                "reachable by other hosts, writes needing a token",
                "breakwater serve -c policies/ --xds-address 0.0.0.0:18000 "
                "--admin-address 0.0.0.0:18001 --token-file token --proxy-token-file proxies",
            ),
        ),
    ),
    "rollout": CommandHelp(
        "Follow a Rollout's progress (status) and steer it: promote finishes the current "
        "step, pause and resume hold and release it, abort sends all traffic back to stable, "
        "retry starts an aborted or rolled back rollout again.",
        (
            ("every Rollout and its phase", "breakwater rollout status"),
            ("move payments to its next step", "breakwater rollout promote payments"),
        ),
    ),
    "history": CommandHelp(
        "What changed traffic, newest first: weight writes, rollout steps and decisions, "
        "policy reloads, each with when, who, and before and after.",
        (
            ("the last 50 changes", "breakwater history"),
            ("the last 10 changes of one route", "breakwater history --route payments --limit 10"),
        ),
    ),
    "weights": CommandHelp(
        "Read and shift the weights of an HTTPRoute rule's backends. A write is an override "
        "laid over the YAML until it is reset; `--rule` names the rule by its name or index "
        "(default: the first rule with more than one backend).",
        (
            ("the split rule's weights", "breakwater weights get payments --rule split"),
            ("send a quarter to canary", "breakwater weights set payments stable=75 canary=25"),
        ),
    ),
    "weights get": CommandHelp(
        "Show a rule's effective weights, whether they come from the YAML or an override, and "
        "the revision a write must name to be sure nobody changed them since.",
        (
            ("the first split rule of payments", "breakwater weights get payments"),
            ("a rule by its name", "breakwater weights get payments --rule split"),
        ),
    ),
    "weights set": CommandHelp(
        "Override a rule's weights (percentages adding up to 100, or shares with "
        "--relative). The override is durable and stays until `weights reset`; a rule a "
        "Rollout drives is refused.",
        (
            (
                "a quarter to canary",
                "breakwater weights set payments stable=75 canary=25 --rule split",
            ),
            (
                "only if nobody wrote since revision 3",
                "breakwater weights set payments stable=50 canary=50 --expected-revision 3",
            ),
        ),
    ),
    "weights reset": CommandHelp(
        "Drop a rule's override so that the YAML weights apply again.",
        (
            ("back to the YAML's weights", "breakwater weights reset payments --rule split"),
            ("by index", "breakwater weights reset payments --rule 1"),
        ),
    ),
    "endpoints": CommandHelp(
        "List a service's endpoints and which are drained, drain one (Envoy sends it no new "
        "requests, those in flight finish) or put it back in rotation. An instance of a Service "
        "with `registration` registers itself, and with --keepalive stays registered until "
        "SIGTERM, when it drains and leaves.",
        (
            ("the endpoints of payments", "breakwater endpoints list payments"),
            ("take one out for maintenance", "breakwater endpoints drain payments 10.0.0.7:8080"),
            ("put it back", "breakwater endpoints undrain payments 10.0.0.7:8080"),
            (
                "register this instance until stopped",
                "breakwater endpoints register payments 10.0.0.7:8080 --label track=canary "
                "--zone eu-1a --ttl 30s --keepalive",
            ),
        ),
    ),
    "status": CommandHelp(
        "Which proxy is connected, which config version it holds and whether it accepted "
        "(ACK) or refused (NACK) each xDS type, with the reason of a refusal.",
        (
            ("the local server", "breakwater status"),
            ("as JSON", "breakwater status --server http://cp.internal:18001 --output json"),
        ),
    ),
    "policies": CommandHelp(
        "Every policy document the server read, whether it is valid and its mistakes, and "
        "what each ResiliencePolicy is doing now; with NAME, one policy in detail: its scope, "
        "the proxies holding it, its breakers and retries at work.",
        (
            ("every document", "breakwater policies"),
            ("one policy", "breakwater policies payments-canary"),
        ),
    ),
    "import": CommandHelp(
        "Convert another project's traffic policies into Breakwater documents, listing every "
        "field that could not be carried over.",
        (("Istio resources", "breakwater import istio virtualservices.yaml -o policies/"),),
    ),
    "import istio": CommandHelp(
        "Convert Istio VirtualServices and DestinationRules (networking.istio.io v1alpha3, "
        "v1beta1, v1) into Services, Gateways, HTTPRoutes and ResiliencePolicies; what has no "
        "Breakwater counterpart is listed on stderr.",
        (
            ("print the documents", "breakwater import istio istio/*.yaml"),
            (
                "into a directory, onto existing Services",
                "breakwater import istio istio/*.yaml --services policies/ -o imported/",
            ),
        ),
    ),
    "schema": CommandHelp(
        "Print the JSON Schema of every Breakwater kind, for editors' completion and checks, "
        "or with --crds the Kubernetes CustomResourceDefinitions.",
        (
            ("for an editor", "breakwater schema -o breakwater.schema.json"),
            ("the CRDs", "breakwater schema --crds | kubectl apply -f -"),
        ),
    ),
}


def command_text(key: str) -> dict[str, Any]:
    """The description and epilog arguments of one command's parser (`key`: "weights get")."""
    text = COMMANDS[key]
    return {
        "description": textwrap.fill(text.description, WIDTH),
        "epilog": text.epilog(),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }


def add_command(sub: Any, key: str, help: str) -> argparse.ArgumentParser:
    """A command's parser, with the help line of its parent's list and its text from here."""
    parser: argparse.ArgumentParser = sub.add_parser(
        key.rsplit(" ", 1)[-1], help=help, **command_text(key)
    )
    return parser


__all__ = ["COMMANDS", "add_command", "command_text"]
