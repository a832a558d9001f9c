"""`breakwater diff DIR`: what loading a candidate policy directory would change on a server.

The directory is read as `serve` reads it (the same sources, the same
pipeline, the same translation); for every node group the server serves,
the candidate's resources for that group's proxies (its gateways picked
again by the candidate's nodeSelectors) are compared with the resources
served, as JSON: added, removed, and for a changed resource every field
that differs.

What the server lays over its YAML at run time (weight overrides, drains,
rollout steps) is part of what it serves but not of a directory, so a diff
finds those too; each is marked with its cause (`diff_causes`), and a last
line counts them, since loading the directory keeps them.

Exit status: 0 nothing would change, 1 something would, 2 the directory is
invalid (every error located, as `validate` prints them) or the server
could not be asked.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakwater.cli.common import CommandFailed
from breakwater.cli.diff_causes import SUMMARY

if TYPE_CHECKING:
    from breakwater.cli.diff_causes import ServerOwn
    from breakwater.controlplane.api.policy_models import ServedGroup
    from breakwater.translators.policyset import PolicySet

NO_CHANGE, CHANGES, CANNOT_COMPARE = 0, 1, 2
_MISSING = "(absent)"


@dataclass(frozen=True)
class FieldChange:
    """One leaf that differs: its path in the resource's JSON, before and after."""

    path: str
    before: Any
    after: Any
    cause: str | None = None
    """What on the server the served value comes from, when it is the server's own."""


@dataclass(frozen=True)
class ResourceChange:
    type: str
    name: str
    change: str
    """added, removed or changed."""
    fields: tuple[FieldChange, ...] = ()

    @property
    def cause(self) -> str | None:
        """The server's own cause of every changed field, when they all share one."""
        causes = {item.cause for item in self.fields}
        return causes.pop() if len(causes) == 1 else None


@dataclass(frozen=True)
class GroupDiff:
    node_cluster: str
    node_metadata: Mapping[str, str]
    gateways_before: tuple[str, ...]
    gateways_after: tuple[str, ...]
    changes: tuple[ResourceChange, ...] = field(default=())
    node_zone: str | None = None


def field_changes(before: Any, after: Any, path: str = "") -> list[FieldChange]:
    """Every leaf where two JSON values differ.

    Lists of named entries are matched by name (``virtual_hosts[orders]``), other
    lists position by position (``routes[0]``).
    """
    if isinstance(before, dict) and isinstance(after, dict):
        found: list[FieldChange] = []
        for key in sorted(set(before) | set(after)):
            inner = (
                f"{path}{key}"
                if str(key).startswith("[")
                else f"{path}.{key}"
                if path
                else str(key)
            )
            found += field_changes(before.get(key, _MISSING), after.get(key, _MISSING), inner)
        return found
    if isinstance(before, list) and isinstance(after, list):
        by_name_before, by_name_after = _named(before), _named(after)
        if by_name_before is not None and by_name_after is not None:
            return field_changes(by_name_before, by_name_after, path)
        found = []
        for index in range(max(len(before), len(after))):
            found += field_changes(
                before[index] if index < len(before) else _MISSING,
                after[index] if index < len(after) else _MISSING,
                f"{path}[{index}]",
            )
        return found
    return [] if before == after else [FieldChange(path, before, after)]


def _named(items: list[Any]) -> dict[str, Any] | None:
    """A list of named entries (virtual hosts, clusters, filters) keyed by name, so that an
    entry added in the middle is one addition, not a change of every entry after it."""
    if not items or not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        return None
    keyed = {f"[{item['name']}]": item for item in items}
    return keyed if len(keyed) == len(items) else None


def diff_group(
    served: ServedGroup, policyset: PolicySet, own: ServerOwn | None = None
) -> GroupDiff:
    """The candidate's resources for one served group against what the group is served;
    `own`: what the server lays over its YAML, to mark the changes that come from it."""
    from breakwater.cli.diff_causes import ServerOwn
    from breakwater.controlplane.api.served import served_resources
    from breakwater.controlplane.xds.resources import Snapshot
    from breakwater.translators.names import LOCAL_CLUSTER
    from breakwater.translators.snapshot import node_group, translate

    gateways = node_group(policyset, served.node_cluster, served.node_metadata)
    translated = translate(policyset, gateways, served.node_zone)
    candidate = served_resources(Snapshot.from_messages(translated))
    old = {(r.type, r.name): r for r in served.resources}
    new = {(r.type, r.name): r for r in candidate}
    local = ("eds", LOCAL_CLUSTER)
    if local in old:  # the proxies by zone: the fleet's, not the candidate's to change
        new[local] = old[local]
    order = {t: i for i, t in enumerate(("cds", "eds", "lds", "rds"))}
    changes: list[ResourceChange] = []
    for key in sorted(set(old) | set(new), key=lambda k: (order.get(k[0], 4), k)):
        before, after = old.get(key), new.get(key)
        if before is None:
            changes.append(ResourceChange(*key, "added"))
        elif after is None:
            changes.append(ResourceChange(*key, "removed"))
        elif before.version != after.version:
            fields = tuple(
                replace(item, cause=(own or ServerOwn()).cause(key[0], key[1], item.path))
                for item in field_changes(before.config, after.config)
            )
            changes.append(ResourceChange(*key, "changed", fields))
    return GroupDiff(
        served.node_cluster,
        served.node_metadata,
        tuple(served.gateways),
        tuple(sorted(gateways)),
        tuple(changes),
        served.node_zone,
    )


def _value(value: Any) -> str:
    return value if value is _MISSING else json.dumps(value)


def format_diff(diffs: Sequence[GroupDiff]) -> str:
    lines: list[str] = []
    for diff in diffs:
        metadata = ", ".join(f"{k}={v}" for k, v in sorted(diff.node_metadata.items()))
        if diff.node_zone:
            metadata = ", ".join(p for p in (metadata, f"zone {diff.node_zone}") if p)
        title = f"node cluster {diff.node_cluster!r}" + (f" ({metadata})" if metadata else "")
        if not diff.changes and diff.gateways_before == diff.gateways_after:
            lines.append(f"{title}: no change")
            continue
        lines.append(f"{title}:")
        if diff.gateways_before != diff.gateways_after:
            lines.append(
                f"  gateways: {', '.join(diff.gateways_before) or '-'} -> "
                f"{', '.join(diff.gateways_after) or '-'}"
            )
        sign = {"added": "+", "removed": "-", "changed": "~"}
        for change in diff.changes:
            why = f": {change.cause}" if change.cause else ""
            lines.append(
                f"  {sign[change.change]} {change.type} {change.name} ({change.change}{why})"
            )
            for item in change.fields:
                # a cause the resource's line already gives is not repeated on each field
                shown = item.cause if item.cause != change.cause else None
                because = f" ({shown})" if shown else ""
                lines.append(
                    f"      {item.path}: {_value(item.before)} -> {_value(item.after)}{because}"
                )
    if not diffs:
        lines.append("the server serves no node group yet: no proxy has connected")
    own, total = _counts(diffs)
    if own:
        lines.append(SUMMARY.format(own=own, total=total))
    return "\n".join(lines)


def _counts(diffs: Sequence[GroupDiff]) -> tuple[int, int]:
    """How many changes (changed fields, added or removed resources) are the server's own, and
    how many there are."""
    own = total = 0
    for diff in diffs:
        for change in diff.changes:
            total += len(change.fields) or 1
            own += sum(1 for item in change.fields if item.cause)
    return own, total


def to_json(diffs: Sequence[GroupDiff]) -> list[dict[str, Any]]:
    def plain(value: Any) -> Any:
        return None if value is _MISSING else value

    return [
        {
            "node_cluster": d.node_cluster,
            "node_metadata": dict(d.node_metadata),
            "node_zone": d.node_zone,
            "gateways_before": list(d.gateways_before),
            "gateways_after": list(d.gateways_after),
            "changes": [
                {
                    "type": c.type,
                    "name": c.name,
                    "change": c.change,
                    "cause": c.cause,
                    "fields": [
                        {
                            "path": f.path,
                            "before": plain(f.before),
                            "after": plain(f.after),
                            "before_absent": f.before is _MISSING,
                            "after_absent": f.after is _MISSING,
                            "cause": f.cause,
                        }
                        for f in c.fields
                    ],
                }
                for c in d.changes
            ],
        }
        for d in diffs
    ]


def cmd_diff(args: argparse.Namespace) -> int:
    from breakwater.cli.diff_causes import server_own
    from breakwater.cli.policies import print_errors
    from breakwater.cli.remote import client_call
    from breakwater.controlplane.api.config_models import RoutesResponse
    from breakwater.controlplane.api.models import StatusResponse
    from breakwater.controlplane.api.policy_models import SnapshotsResponse
    from breakwater.controlplane.state.sources import load_policy_files

    _, loaded = load_policy_files(Path(args.directory))
    if loaded.policyset is None:
        print_errors(loaded.errors, "nothing was compared")
        return CANNOT_COMPARE
    try:
        served = SnapshotsResponse.model_validate(client_call(args, "snapshots"))
        own = server_own(
            RoutesResponse.model_validate(client_call(args, "routes")),
            StatusResponse.model_validate(client_call(args, "status")),
        )
    except CommandFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return CANNOT_COMPARE
    diffs = [diff_group(group, loaded.policyset, own) for group in served.groups]
    if args.output == "json":
        print(json.dumps(to_json(diffs), indent=2))
    else:
        print(format_diff(diffs))
    changed = any(d.changes or d.gateways_before != d.gateways_after for d in diffs)
    return CHANGES if changed else NO_CHANGE


__all__ = ["cmd_diff", "diff_group", "field_changes", "format_diff"]
