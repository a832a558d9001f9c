"""Registered instances, laid over the Services of the YAML: the registration front end.

Instances that register themselves through the API (`spec.registration`)
become endpoints of their Service exactly as if the YAML listed them, after
the static ones; subsets select them by label, drains and EDS treat them as
any other endpoint, and nothing downstream knows where an endpoint came
from. A draining instance (deregistered, finishing what it serves) is
drained the way an API drain drains an endpoint.

Pure: the state store and the clock belong to the control plane, which
hands in what is registered now. `RegisteredServices` remembers the Service
it built for each set of instances, so a renewal, which changes nothing a
proxy sees, hands the translators the very same document (and so the same
cached Envoy resources).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from breakwater.translators.model import Endpoint, Service
from breakwater.translators.names import endpoint_key
from breakwater.translators.policyset import PolicySet


@dataclass(frozen=True)
class RegisteredEndpoint:
    """What the translators need of one registered instance."""

    service: str
    address: str
    port: int
    labels: tuple[tuple[str, str], ...]
    zone: str | None
    weight: int
    draining: bool
    key: str = ""
    """`ADDRESS:PORT` as `names.endpoint_key` spells it; worked out when not given."""

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", endpoint_key(self.address, self.port))

    def endpoint(self) -> Endpoint:
        return Endpoint.model_construct(
            address=self.address,
            port=self.port,
            labels=dict(self.labels),
            zone=self.zone,
            weight=None if self.weight == 1 else self.weight,
        )


def unmatched_subsets(service: Service, labels: Mapping[str, str]) -> list[str] | None:
    """The Service's subsets, when labels select none of them (None: one selects it, or the
    Service has no subsets). Such an instance is served only by the Service's own cluster."""
    subsets = service.spec.subsets
    if not subsets:
        return None
    if any(s.selects(labels) for s in subsets):
        return None
    return [f"{s.name} ({_selector(s.labels or {})})" for s in subsets]


def _selector(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))


class RegisteredServices:
    """Builds the served Services: the YAML's, with their registered instances appended."""

    def __init__(self) -> None:
        self._built: dict[str, tuple[int, tuple[RegisteredEndpoint, ...], Service]] = {}
        self._endpoints: dict[RegisteredEndpoint, Endpoint] = {}
        """Each instance's Endpoint, made once: a registration among thousands costs what it
        changes, not a new model per instance."""
        self._served: tuple[Mapping[str, Service], dict[str, Service]] | None = None
        """The last base's Services and the served Services made from them: the same mapping
        again while neither changed, so that an edit of routes alone is still recognised as
        one (`route_edits.changed_routes` compares the other documents by identity)."""

    def apply(self, base: PolicySet, instances: Iterable[RegisteredEndpoint]) -> PolicySet:
        """`base` with every instance of a Service that takes registrations laid over it.

        An instance of a Service the YAML no longer has, or that no longer opts in, is left
        out (it is kept in the store until it expires or is deregistered); so is one at the
        address of a static endpoint.
        """
        by_service: dict[str, list[RegisteredEndpoint]] = {}
        for instance in instances:
            by_service.setdefault(instance.service, []).append(instance)
        services = dict(base.services)
        built: dict[str, tuple[int, tuple[RegisteredEndpoint, ...], Service]] = {}
        endpoints: dict[RegisteredEndpoint, Endpoint] = {}
        for name, members in sorted(by_service.items()):
            document = services.get(name)
            if document is None or document.spec.registration is None:
                continue
            static = {endpoint_key(e.address, e.port) for e in document.spec.endpoints}
            kept = tuple(sorted((m for m in members if m.key not in static), key=_order))
            if not kept:
                continue
            for member in kept:
                made = self._endpoints.get(member)
                endpoints[member] = made if made is not None else member.endpoint()
            found = self._built.get(name)
            if found is not None and found[0] == id(document) and found[1] == kept:
                served = found[2]
            else:
                listed = [*document.spec.endpoints, *(endpoints[m] for m in kept)]
                spec = document.spec.model_copy(update={"endpoints": listed})
                served = document.model_copy(update={"spec": spec})
            built[name] = (id(document), kept, served)
            services[name] = served
        last = self._served
        if (
            last is not None
            and last[0] is base.services
            and built.keys() == self._built.keys()
            and all(built[n][2] is self._built[n][2] for n in built)
        ):
            services = last[1]
        self._built, self._endpoints = built, endpoints
        if not built:
            self._served = None
            return base
        self._served = (base.services, services)
        return base.with_services(services)


def draining_instances(instances: Iterable[RegisteredEndpoint]) -> list[tuple[str, str]]:
    """(service, ADDRESS:PORT) of the instances that drain before they leave: drained as an API
    drain is (`drains.applied_drains` keeps those the served Services list)."""
    return sorted((i.service, i.key) for i in instances if i.draining)


def _order(instance: RegisteredEndpoint) -> str:
    """Instances in a stable order whatever order they registered in (by `ADDRESS:PORT`), so
    that EDS does not change when the store lists them otherwise."""
    return instance.key
