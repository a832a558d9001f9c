"""The pieces every Gateway API model shares: names, namespaces, hostnames, durations, references.

They are checked, and their errors worded, as the Gateway API's CRDs define
them, so a document Kubernetes would refuse is refused here with a sentence.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, TypeAdapter

from breakwater.translators.model_parts import Model, Port, Regex
from breakwater.translators.names import NAMESPACE_SEPARATOR

GROUP = "gateway.networking.k8s.io"
V1 = f"{GROUP}/v1"
V1BETA1 = f"{GROUP}/v1beta1"
CORE_GROUP = ""
"""Kubernetes' core API group, where `Service` lives."""
BREAKWATER_GROUP = "breakwater.dev"
SERVICE_SUBSET = "ServiceSubset"
"""The backendRef kind (group breakwater.dev) that names one subset: `name: <service>.<subset>`."""
DEFAULT_NAMESPACE = "default"

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_LABEL = re.compile(f"^{_LABEL}$")
_DNS_SUBDOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_HOSTNAME = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*$")
_DURATION = re.compile(r"^([0-9]{1,5}(ms|h|m|s)){1,4}$")
_DURATION_PART = re.compile(r"([0-9]{1,5})(ms|h|m|s)")
_UNIT_MS = {"h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}


def service_name(namespace: str, name: str) -> str:
    """The Breakwater Service a Kubernetes Service `namespace/name` is: its name in `default`
    (as in policy files, which know no namespaces), `<namespace>.<name>` elsewhere. A
    Kubernetes Service name has no dot, so the two never meet."""
    return name if namespace == DEFAULT_NAMESPACE else f"{namespace}{NAMESPACE_SEPARATOR}{name}"


REGEX: TypeAdapter[str] = TypeAdapter(Regex)
"""The one check of a regular expression (RE2 as Envoy reads it), shared with Breakwater's kinds."""


def _object_name(value: str) -> str:
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise ValueError(
            f"{value!r} is not a Kubernetes object name: use lowercase letters, digits, '-' and "
            "'.', starting and ending with a letter or digit, at most 253 characters"
        )
    return value


def _namespace(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a namespace: use lowercase letters, digits and '-', starting and "
            "ending with a letter or digit, at most 63 characters"
        )
    return value


def _hostname(value: str) -> str:
    if len(value) > 253 or not _HOSTNAME.match(value):
        raise ValueError(
            f"{value!r} is not a hostname: give a lowercase name such as example.com, or a "
            "wildcard such as *.example.com, without a port or an IP address"
        )
    return value


def _duration(value: Any) -> timedelta:
    """The Gateway API's duration (GEP-2257): 1 to 4 parts of h, m, s or ms, e.g. `1m30s`, `500ms`."""
    if not isinstance(value, str) or not _DURATION.match(value):
        raise ValueError(
            f"{value!r} is not a Gateway API duration: give 1 to 4 parts of a number and h, m, s "
            "or ms, such as 500ms, 10s or 1m30s"
        )
    millis = sum(int(n) * _UNIT_MS[unit] for n, unit in _DURATION_PART.findall(value))
    return timedelta(milliseconds=millis)


ObjectName = Annotated[str, AfterValidator(_object_name)]
Namespace = Annotated[str, AfterValidator(_namespace)]
SectionName = Annotated[str, AfterValidator(_namespace)]
Hostname = Annotated[str, AfterValidator(_hostname)]
GwDuration = Annotated[timedelta, BeforeValidator(_duration)]


class ObjectMeta(Model):
    name: ObjectName
    namespace: Namespace = DEFAULT_NAMESPACE
    """Kubernetes' rule: a document without one is in `default`."""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: datetime | None = None
    """Older routes win ties of match precedence, as in the Gateway API."""


# --- references ------------------------------------------------------------------------------


class ParentReference(Model):
    group: str = GROUP
    kind: str = "Gateway"
    namespace: Namespace | None = None
    name: ObjectName
    section_name: SectionName | None = None
    port: Port | None = None


class BackendObjectReference(Model):
    group: str = CORE_GROUP
    kind: str = "Service"
    name: ObjectName
    namespace: Namespace | None = None
    port: Port | None = None
    """Accepted and not used: a Breakwater Service carries its endpoints' ports."""
