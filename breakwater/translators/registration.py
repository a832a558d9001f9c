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

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from operator import attrgetter

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


_Built = tuple[
    int,
    tuple[RegisteredEndpoint, ...],
    Service,
    dict[str, tuple[RegisteredEndpoint, Endpoint]],
]
"""What was built for one Service: its document's id, its instances in order, the served
Service, and each instance's Endpoint (made once: a change among thousands costs what it
changes, not a new model per instance)."""


_KEY = attrgetter("key")


class RegisteredServices:
    """Builds the served Services: the YAML's, with their registered instances appended."""

    def __init__(self) -> None:
        self._built: dict[str, _Built] = {}
        self._base: PolicySet | None = None
        """The `base` of the last call, and what it gave: a call on the same base with no
        Service changed gives the very same PolicySet."""
        self._served: PolicySet | None = None
        self._mapping: tuple[Mapping[str, Service], dict[str, Service], Mapping[str, Service]]
        self._mapping = ({}, {}, {})
        """The last base's Services, the served Services built over them, and the mapping
        made of both: the same mapping again while none of them changed, so that an edit of
        routes alone is still recognised as one (`route_edits.changed_routes` compares the
        other documents by identity)."""

    def apply(
        self,
        base: PolicySet,
        instances: Iterable[RegisteredEndpoint],
        changed: Collection[str] | None = None,
    ) -> PolicySet:
        """`base` with every instance of a Service that takes registrations laid over it.

        An instance of a Service the YAML no longer has, or that no longer opts in, is left
        out (it is kept in the store until it expires or is deregistered); so is one at the
        address of a static endpoint. With `changed` (the Services whose instances changed
        since the last call, on the same `base`), only those are built again: a registration
        among 10 000 instances of one Service costs that Service, not every instance.
        """
        if changed is None or base is not self._base:
            return self._apply_all(base, instances)
        if not changed and self._served is not None:
            return self._served
        members: dict[str, list[RegisteredEndpoint]] = {name: [] for name in changed}
        for instance in instances:
            if instance.service in members:
                members[instance.service].append(instance)
        for name, listed in members.items():
            self._build(base, name, listed)
        return self._finish(base)

    def _apply_all(self, base: PolicySet, instances: Iterable[RegisteredEndpoint]) -> PolicySet:
        by_service: dict[str, list[RegisteredEndpoint]] = {}
        for instance in instances:
            by_service.setdefault(instance.service, []).append(instance)
        old = self._built
        self._built = {}
        for name in sorted(by_service):
            self._build(base, name, by_service[name], old.get(name))
        return self._finish(base)

    def _build(
        self,
        base: PolicySet,
        name: str,
        members: list[RegisteredEndpoint],
        found: _Built | None = None,
    ) -> None:
        """Lay one Service's instances over its YAML document (or drop what was built for it)."""
        found = found if found is not None else self._built.get(name)
        self._built.pop(name, None)
        document = base.services.get(name)
        if document is None or document.spec.registration is None:
            return
        static = {endpoint_key(e.address, e.port) for e in document.spec.endpoints}
        if static:
            members = [m for m in members if m.key not in static]
        # In `ADDRESS:PORT` order, whatever order they registered in, so that EDS does not
        # change when the store lists them otherwise.
        kept = tuple(sorted(members, key=_KEY))
        if not kept:
            return
        endpoints = found[3] if found is not None else {}
        made: dict[str, tuple[RegisteredEndpoint, Endpoint]] = {}
        for m in kept:
            known = endpoints.get(m.key)
            # The same instance hands in the very same object while it does not change.
            made[m.key] = known if known is not None and known[0] is m else (m, m.endpoint())
        if found is not None and found[0] == id(document) and found[1] == kept:
            served = found[2]
        else:
            listed = [*document.spec.endpoints, *(made[m.key][1] for m in kept)]
            spec = document.spec.model_copy(update={"endpoints": listed})
            served = document.model_copy(update={"spec": spec})
        self._built[name] = (id(document), kept, served, made)

    def _finish(self, base: PolicySet) -> PolicySet:
        self._base = base
        if not self._built:
            self._served = base
            return base
        served = {name: built[2] for name, built in self._built.items()}
        last_base, last_served, last_mapping = self._mapping
        if (
            last_base is base.services
            and served.keys() == last_served.keys()
            and all(service is last_served[name] for name, service in served.items())
        ):
            services = last_mapping
        else:
            services = {**base.services, **served}
            self._mapping = (base.services, served, services)
        self._served = base.with_services(services)
        return self._served


def draining_instances(instances: Iterable[RegisteredEndpoint]) -> list[tuple[str, str]]:
    """(service, ADDRESS:PORT) of the instances that drain before they leave: drained as an API
    drain is (`drains.applied_drains` keeps those the served Services list)."""
    return sorted((i.service, i.key) for i in instances if i.draining)
