"""`RegisteredServices.apply` with the Services that changed: only theirs are built again,
and the result is what building every one gives."""

from __future__ import annotations

from breakwater.translators.policyset import PolicySet
from breakwater.translators.registration import RegisteredEndpoint, RegisteredServices
from tests.translators.support import policyset_from_text

POLICIES = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: payments}
spec:
  registration: {ttl: 30s}
---
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: orders}
spec:
  registration: {ttl: 30s}
"""


def _instance(service: str, index: int) -> RegisteredEndpoint:
    return RegisteredEndpoint(service, f"10.0.0.{index}", 8080, (), None, 1, False)


def _addresses(policyset: PolicySet, service: str) -> list[str]:
    return [e.address for e in policyset.services[service].spec.endpoints]


def test_only_the_changed_service_is_built_again_and_the_result_matches_a_full_build() -> None:
    base = policyset_from_text(POLICIES)
    instances = [_instance("payments", i) for i in range(1, 4)]
    instances += [_instance("orders", i) for i in range(1, 3)]
    registered = RegisteredServices()
    first = registered.apply(base, instances, None)
    assert registered.apply(base, instances, set()) is first  # a renewal: the same PolicySet

    instances.append(_instance("payments", 9))
    second = registered.apply(base, instances, {"payments"})
    assert second.services["orders"] is first.services["orders"]  # not built again
    assert _addresses(second, "payments") == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.9"]

    full = RegisteredServices().apply(base, instances, None)
    for name in ("payments", "orders"):
        assert second.services[name] == full.services[name]

    gone = [i for i in instances if i.service != "orders"]
    third = registered.apply(base, gone, {"orders"})
    assert third.services["orders"] is base.services["orders"]  # its instances all left
