"""The Services and Gateways the imported routes and policies need, which Istio's YAML does not hold.

Istio learns a host's endpoints from Kubernetes; its YAML has none. So the
endpoints come from Breakwater Services the user already has (`--services
DIR`), into which the DestinationRules' subsets are merged. A host with no
such Service and no subsets becomes a DNS Service (Envoy resolves the host
itself, as in a cluster it would resolve the Kubernetes service); a host
that needs subsets cannot, since a DNS Service has no labels to select, and
the import stops with a sentence saying which Service to give. A Gateway the
routes name and `--services` does not hold is written as a skeleton to edit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from breakwater.importers.istio.ledger import Note
from breakwater.importers.istio.virtualservice import ResolvedDestination
from breakwater.translators.model import API_VERSION

DNS_PORT = 80
"""The port of a DNS Service when Istio's destination names none (a Kubernetes service's usual)."""

SKELETON_GATEWAY_PORT = 8080
"""The listener port of a Gateway written as a skeleton; the note says to change it."""


@dataclass
class Needed:
    """What the imported documents need of one Service."""

    hosts: set[str] = field(default_factory=set)
    ports: set[int] = field(default_factory=set)
    subsets_used: set[str] = field(default_factory=set)
    subsets_declared: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Assembled:
    services: list[dict[str, Any]] = field(default_factory=list)
    gateways: list[dict[str, Any]] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def needs(
    targets: Iterable[ResolvedDestination], subsets: Mapping[str, list[dict[str, Any]]]
) -> dict[str, Needed]:
    out: dict[str, Needed] = {}
    for target in targets:
        need = out.setdefault(target.service, Needed())
        need.hosts.add(target.host)
        if target.port is not None:
            need.ports.add(target.port)
        if target.subset is not None:
            need.subsets_used.add(target.subset)
    for service, declared in subsets.items():
        out.setdefault(service, Needed()).subsets_declared.extend(declared)
    return out


def _merged(
    existing: dict[str, Any], declared: list[dict[str, Any]], notes: list[Note]
) -> dict[str, Any]:
    name = existing["metadata"]["name"]
    by_name = {s["name"]: s for s in existing.get("spec", {}).get("subsets", [])}
    for subset in declared:
        old = by_name.get(subset["name"])
        if old is not None and old.get("labels") != subset["labels"]:
            notes.append(
                Note(
                    f"Service/{name}",
                    f"subset {subset['name']!r} now selects {subset['labels']} (the "
                    f"DestinationRule's), not {old.get('labels')}",
                )
            )
        by_name[subset["name"]] = subset
    spec = {**existing.get("spec", {})}
    if by_name:
        spec["subsets"] = list(by_name.values())
    return {**existing, "spec": spec}


def _dns_service(name: str, need: Needed, notes: list[Note]) -> dict[str, Any]:
    host = sorted(need.hosts)[0] if need.hosts else name
    port = sorted(need.ports)[0] if need.ports else DNS_PORT
    said = "" if need.ports else f" (port {DNS_PORT}: Istio's destination named none)"
    notes.append(
        Note(
            f"Service/{name}",
            f"written as a DNS Service: Envoy resolves {host}:{port} itself{said}; give it "
            "`endpoints` instead, or pass --services, for endpoint discovery and subsets",
        )
    )
    return {
        "apiVersion": API_VERSION,
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"dns": {"name": host, "port": port}},
    }


def assemble(
    needed: Mapping[str, Needed],
    gateways: Iterable[str],
    existing_services: Mapping[str, dict[str, Any]],
    existing_gateways: Mapping[str, dict[str, Any]],
) -> Assembled:
    out = Assembled()
    for name in sorted(needed):
        need = needed[name]
        have = existing_services.get(name)
        if have is not None:
            out.services.append(_merged(have, need.subsets_declared, out.notes))
            if need.ports:
                ports = ", ".join(str(p) for p in sorted(need.ports))
                out.notes.append(
                    Note(
                        f"Service/{name}",
                        f"Istio's destination port {ports} was not used: the endpoints of the "
                        "Service given with --services carry their own ports",
                    )
                )
            continue
        wanted = need.subsets_used | {s["name"] for s in need.subsets_declared}
        if wanted:
            out.errors.append(
                f"Service {name!r} needs endpoints for its subsets ({', '.join(sorted(wanted))}), "
                "and Istio's YAML has none: write a Breakwater Service "
                f"{name!r} with its endpoints and their labels in a directory, and import again "
                "with --services DIR"
            )
            continue
        out.services.append(_dns_service(name, need, out.notes))
    for name in dict.fromkeys(gateways):
        have = existing_gateways.get(name)
        if have is not None:
            out.gateways.append(have)
            continue
        out.notes.append(
            Note(
                f"Gateway/{name}",
                f"written as a skeleton: port {SKELETON_GATEWAY_PORT}, for proxies of node "
                f"cluster {name!r}; change both to your edge proxies' (or pass --services with "
                "the Gateway)",
            )
        )
        out.gateways.append(
            {
                "apiVersion": API_VERSION,
                "kind": "Gateway",
                "metadata": {"name": name},
                "spec": {"port": SKELETON_GATEWAY_PORT, "nodeSelector": {"cluster": name}},
            }
        )
    return out


__all__ = ["Assembled", "assemble", "needs"]
