"""`explain` for a service gRPC clients dial: what they are sent of its policy, and what not.

Each effective field is either sent (the gRPC field it becomes, from the
proxyless slice's `EXPLAIN`) or one of `proxyless.policy_gaps`: refused where
the service is declared for proxyless clients, not applied otherwise.
"""

from __future__ import annotations

from breakwater.translators.envoy.proxyless import EXPLAIN
from breakwater.translators.explain.settings import (
    ExplainedSetting,
    ExplainSection,
    _collect,
    _display,
    _setters,
    _value_at,
    explain_with,
)
from breakwater.translators.policyset import PolicySet
from breakwater.translators.proxyless import policy_gaps

GRPC_MEANINGS = _collect(EXPLAIN)


def explain_proxyless(policyset: PolicySet, service: str) -> ExplainSection | None:
    """The service's own level as a gRPC client dialing `xds:///<service>` gets it."""
    if not policyset.services[service].spec.served_proxyless:
        return None
    effective = policyset.effective_for_cluster(service)
    gaps = list(policy_gaps(effective.spec))
    held = {gap.field for gap in gaps}
    settings = [
        s
        for s in explain_with(GRPC_MEANINGS, effective)
        if not any(s.path == field or s.path.startswith(field + ".") for field in held)
    ]
    for gap in gaps:
        path = tuple(_snake(str(part)) for part in gap.path)
        settings.append(
            ExplainedSetting(
                path=gap.field,
                value=_display(_value_at(effective.spec, path)),
                set_by=_setters(effective.provenance, path) or "Breakwater default",
                envoy="not sent to gRPC clients",
                differs=gap.reason,
            )
        )
    return ExplainSection(f"proxyless gRPC clients of {service} (xds:///{service})", settings)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


__all__ = ["explain_proxyless"]
