"""`validate`, `render` and `explain`: what a policy directory means, read offline.

All three read the directory exactly as `serve` would (the same sources,
the same pipeline), so a directory they accept is one the server accepts;
the translators are imported only when one of them runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from breakwater.cli.common import dump, parse_pairs

if TYPE_CHECKING:  # imported where used: client commands should not pay for the policy models
    from breakwater.translators.errors import PolicyError
    from breakwater.translators.policyset import PolicySet


def _load_or_report(directory: str) -> PolicySet | None:
    """The policies as `serve` would take them: the same sources, the same pipeline."""
    from breakwater.controlplane.state.sources import load_policy_files

    _, loaded = load_policy_files(Path(directory))
    if loaded.policyset is None:
        print_errors(loaded.errors)
    return loaded.policyset


def print_errors(errors: list[PolicyError], outcome: str = "nothing was applied") -> None:
    """Every located error, one a line, then what happened and what to do next."""
    for error in errors:
        print(error, file=sys.stderr)
    noun = "error" if len(errors) == 1 else "errors"
    print(f"{len(errors)} {noun}; {outcome}. Fix them and run again.", file=sys.stderr)


def cmd_validate(args: argparse.Namespace) -> int:
    policyset = _load_or_report(args.directory)
    if policyset is None:
        return 1
    print(
        f"{args.directory}: valid: {len(policyset.services)} services, {len(policyset.policies)} "
        f"resilience policies, {len(policyset.gateways)} gateways, {len(policyset.routes)} routes, "
        f"{len(policyset.telemetry)} telemetry documents"
    )
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from breakwater.translators.snapshot import node_group, to_config_dump, translate

    policyset = _load_or_report(args.directory)
    if policyset is None:
        return 1
    metadata = parse_pairs(args.node_metadata, "--node-metadata")
    group = node_group(policyset, args.node_cluster, metadata)
    if not group:
        print(
            f"no gateway selects node cluster {args.node_cluster!r} with metadata {metadata}; "
            "the proxy would get no listeners. Check the gateways' nodeSelector.",
            file=sys.stderr,
        )
    print(dump(to_config_dump(translate(policyset, group)), args.format), end="")
    return 0


def cmd_ratelimit_config(args: argparse.Namespace) -> int:
    import yaml

    from breakwater.translators.envoy.global_ratelimit import service_config

    policyset = _load_or_report(args.directory)
    if policyset is None:
        return 1
    config = service_config(policyset)
    if not config["descriptors"]:
        print(
            "no rateLimit.global in these policies: the service has nothing to count",
            file=sys.stderr,
        )
    print(yaml.safe_dump(config, sort_keys=False), end="")
    return 0


GATEWAY_PREFIX = "gateway/"
SERVICE_PREFIX = "service/"


def cmd_explain(args: argparse.Namespace) -> int:
    from breakwater.translators.explain.gateway import explain_gateway
    from breakwater.translators.explain.service import explain_service

    policyset = _load_or_report(args.directory)
    if policyset is None:
        return 1
    name: str = args.name
    if name.startswith(GATEWAY_PREFIX):
        gateway = name.removeprefix(GATEWAY_PREFIX)
        if gateway not in policyset.gateways:
            known = ", ".join(sorted(policyset.gateways)) or "none"
            print(
                f"gateway {gateway!r} is not declared; declared gateways: {known}",
                file=sys.stderr,
            )
            return 1
        sections = explain_gateway(policyset, gateway)
    else:
        service = name.removeprefix(SERVICE_PREFIX)
        if service not in policyset.services:
            known = ", ".join(sorted(policyset.services)) or "none"
            print(
                f"service {service!r} is not declared; declared services: {known} "
                f"(for a gateway's telemetry and response flags, give {GATEWAY_PREFIX}NAME)",
                file=sys.stderr,
            )
            return 1
        sections = explain_service(policyset, service)
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
