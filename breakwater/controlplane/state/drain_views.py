"""The endpoints of a service as the API lists them: the YAML's, each drained or not, and the
drains the YAML no longer fits.

Apart from the controller because the listing is a pure function of what the controller holds
(the last good YAML and the drains read from the store), and the controller is large enough.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from breakwater.controlplane.state.store import Drain
from breakwater.translators.drains import resolve_service, service_endpoints
from breakwater.translators.policyset import PolicySet


@dataclass(frozen=True)
class EndpointView:
    """One endpoint of a service as it is served: listed by the YAML or not, drained or not."""

    service: str
    endpoint: str
    in_service: bool
    """Whether the YAML lists it; a drain of an endpoint the files dropped is kept, not applied."""
    drain: Drain | None

    @property
    def revision(self) -> int:
        """What a compare-and-set drain or undrain names: the drain's revision, 0 without one."""
        return self.drain.revision if self.drain is not None else 0


def endpoint_views(
    base: PolicySet, drains: Mapping[tuple[str, str], Drain], service: str
) -> list[EndpointView]:
    """The YAML's endpoints of a service in its order, then drains of endpoints it lost."""
    listed = service_endpoints(resolve_service(base, service))
    views = [EndpointView(service, key, True, drains.get((service, key))) for key in listed]
    views += [
        EndpointView(service, key, False, drain)
        for (name, key), drain in sorted(drains.items())
        if name == service and key not in listed
    ]
    return views
