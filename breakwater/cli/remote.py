"""`weights`, `endpoints`, `status` and `policies`: the commands that ask a running server.

They share the admin API client, the sentence its refusals become, and one
way of showing an answer: the server's JSON as it came (`--output json`), or
the table drawn from it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from breakwater.cli.common import CommandFailed, parse_pairs


def client_call(
    args: argparse.Namespace,
    operation: str,
    params: dict[str, object] | None = None,
    body: dict[str, Any] | None = None,
) -> Any:
    """One operation of the admin API (by its name in the operations table), or a sentence."""
    from breakwater.client import ApiError, call

    try:
        return call(args.server, operation, params, body, token=args.token, ca_file=args.ca)
    except ApiError as exc:
        raise CommandFailed(str(exc)) from None


def show(args: argparse.Namespace, result: Any, formatter: Any) -> int:
    from breakwater.client import ApiError

    try:
        print(json.dumps(result, indent=2) if args.output == "json" else formatter(result))
    except ApiError as exc:
        raise CommandFailed(str(exc)) from None
    return 0


def rule_of(text: str | None) -> int | str | None:
    """`--rule`: an index when it is a whole number, else a rule's name."""
    return int(text) if text is not None and text.isdigit() else text


def cmd_weights_get(args: argparse.Namespace) -> int:
    from breakwater.cli.tables import format_weights

    result = client_call(args, "get_weights", {"route": args.route, "rule": rule_of(args.rule)})
    return show(args, result, format_weights)


def _parse_weights(pairs: Sequence[str]) -> dict[str, int]:
    weights: dict[str, int] = {}
    for label, value in parse_pairs(pairs, "weight").items():
        try:
            weights[label] = int(value)
        except ValueError:
            raise CommandFailed(f"weight {label}={value!r} is not a whole number") from None
    return weights


def _check_percentages(weights: dict[str, int]) -> None:
    """Weights that do not add up to 100 are most often a typo; `--relative` says they are not."""
    total = sum(weights.values())
    if total == 100 or total <= 0:
        return  # a total of 0 is the server's to refuse, in its own words
    shares = ", ".join(f"{label} {weight / total * 100:.1f} %" for label, weight in weights.items())
    raise CommandFailed(
        f"the weights add up to {total}, not 100: give weights that add up to 100, or pass "
        f"--relative to send them as they are ({shares})"
    )


def cmd_weights_set(args: argparse.Namespace) -> int:
    from breakwater.cli.tables import format_weights

    weights = _parse_weights(args.weights)
    if not args.relative:
        _check_percentages(weights)
    body: dict[str, Any] = {"weights": weights}
    if args.rule is not None:
        body["rule"] = rule_of(args.rule)
    if args.expected_revision is not None:
        body["expectedRevision"] = args.expected_revision
    result = client_call(args, "set_weights", {"route": args.route}, body)
    return show(args, result, format_weights)


def cmd_weights_reset(args: argparse.Namespace) -> int:
    from breakwater.cli.tables import format_weights

    params = {
        "route": args.route,
        "rule": rule_of(args.rule),
        "expectedRevision": args.expected_revision,
    }
    return show(args, client_call(args, "reset_weights", params), format_weights)


def cmd_endpoints(args: argparse.Namespace) -> int:
    from breakwater.cli.tables import format_endpoint

    service = {"service": args.service}
    _refuse_registration_options(args)
    if args.action == "list":
        return _list_endpoints(args)
    if args.endpoint is None:
        raise CommandFailed(f"`endpoints {args.action}` needs the endpoint: ADDRESS:PORT")
    if args.action == "drain":
        body = (
            {} if args.expected_revision is None else {"expectedRevision": args.expected_revision}
        )
        params = {**service, "endpoint": args.endpoint}
        return show(args, client_call(args, "drain", params, body), format_endpoint)
    params = {**service, "endpoint": args.endpoint, "expectedRevision": args.expected_revision}
    return show(args, client_call(args, "undrain", params), format_endpoint)


def _refuse_registration_options(args: argparse.Namespace) -> None:
    given = [
        name
        for name, value in (
            ("--label", args.label),
            ("--zone", args.zone),
            ("--weight", args.weight),
            ("--ttl", args.ttl),
            ("--keepalive", args.keepalive),
        )
        if value
    ]
    if given:
        raise CommandFailed(
            f"{', '.join(given)} only go with `endpoints register`, not `endpoints {args.action}`"
        )


def _list_endpoints(args: argparse.Namespace) -> int:
    """The Service's endpoints and drains, and its registered instances when it takes them."""
    from breakwater.cli.tables import format_endpoints, format_instances

    service = {"service": args.service}
    endpoints = client_call(args, "endpoints", service)
    try:
        instances = client_call(args, "list_instances", service)
    except CommandFailed as exc:
        if ": 409:" not in str(exc):  # 409: the Service takes no registrations
            raise
        instances = None
    if args.output == "json":
        both = endpoints if instances is None else {**endpoints, "registration": instances}
        print(json.dumps(both, indent=2))
        return 0
    print(format_endpoints(endpoints))
    if instances is not None:
        print()
        print(format_instances(instances))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from breakwater.cli.tables import format_status

    return show(args, client_call(args, "status"), format_status)


def cmd_policies(args: argparse.Namespace) -> int:
    from breakwater.cli.tables import format_policies, format_policy

    if args.name:
        return show(args, client_call(args, "policy", {"name": args.name}), format_policy)
    return show(args, client_call(args, "policies"), format_policies)
