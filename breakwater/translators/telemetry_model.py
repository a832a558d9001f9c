"""The `Telemetry` kind: tracing and access logs of gateways, and the sampling and tags of routes.

A Telemetry without `targetRef` applies to every gateway; one that targets a
Gateway overrides it there, and one that targets an HTTPRoute overrides the
sampling and tags of that route's spans. They merge field by field like
ResiliencePolicies (maps merge, lists replace), with one exception: tracing
`tags` merge by tag name, because Envoy adds a route's tags to its connection
manager's the same way, and a route that adds one tag should not have to
repeat the others.

Fields that can come from a less specific Telemetry are optional here (a
gateway may set only `serviceName`, and take the collector from the fleet's);
what the merged result must hold is checked across documents.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from breakwater.translators.gateway_api.refs import gateway_api_ref
from breakwater.translators.model import Document
from breakwater.translators.model_parts import Model, Name, Part, Percent, RefName

ROUTE_NAME_TAG = "route_name"
"""The span tag Breakwater sets to the Envoy route's name (`payments/0/0`), as the access log's field."""

SINK_HELP = "stdout, stderr, {file: /absolute/path}, or {openTelemetry: {service: NAME}}"


class TelemetryTargetRef(Model):
    group: Literal["breakwater.dev", "gateway.networking.k8s.io"] | None = None
    """`gateway.networking.k8s.io` for a Gateway API object (read into `name`)."""
    kind: Literal["Gateway", "HTTPRoute", "GRPCRoute"]
    """A GRPCRoute is read as the HTTPRoute it is inside Breakwater."""
    namespace: str | None = None
    """A Gateway API object's namespace (read into `name`; `default` when left out)."""
    name: RefName
    """A Gateway API object's is `<namespace>.<name>` (or give `group` and `namespace`)."""

    @model_validator(mode="before")
    @classmethod
    def _gateway_api(cls, data: Any) -> Any:
        kinds = {"Gateway": "Gateway", "HTTPRoute": "HTTPRoute", "GRPCRoute": "HTTPRoute"}
        return gateway_api_ref(data, kinds)


class TracingCollector(Part):
    """Where spans go: an OTLP/gRPC collector declared as a Service with `protocol: grpc`."""

    service: Name | None = None
    service_name: str | None = Field(default=None, min_length=1)
    """The spans' `service.name`; the gateway's name when unset."""


class TracingTag(Part):
    """A tag on every span: a fixed value, a request header's value, or an environment variable of the proxy."""

    name: str = Field(min_length=1)
    literal: str | None = None
    header: str | None = Field(default=None, min_length=1)
    environment: str | None = Field(default=None, min_length=1)
    default: str | None = None
    """The value when the header or variable is missing (the tag is left out otherwise)."""

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == ROUTE_NAME_TAG:
            raise ValueError(
                f"{ROUTE_NAME_TAG!r} is the tag Breakwater sets to the route's name; "
                "give this tag another name"
            )
        return value

    @model_validator(mode="after")
    def _one_source(self) -> TracingTag:
        given = [
            to_camel(k)
            for k in ("literal", "header", "environment")
            if getattr(self, k) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                f"tag {self.name!r} needs exactly one of literal, header or environment"
                + (f"; it has {' and '.join(given)}" if given else "")
            )
        if self.literal is not None and self.default is not None:
            raise ValueError(
                f"tag {self.name!r} is a literal; a `default` is only for header or environment"
            )
        return self


class Tracing(Part):
    disabled: bool | None = None
    """`true` turns tracing off where this Telemetry applies (a gateway, or every gateway)."""
    open_telemetry: TracingCollector | None = None
    sampling_percent: Percent | None = None
    """Requests traced at random (Envoy's default: 100)."""
    client_sampling_percent: Percent | None = None
    """Requests with `x-client-trace-id` that are traced (Envoy's default: 100)."""
    overall_sampling_percent: Percent | None = None
    """A cap applied after every other decision, incoming `traceparent` aside (Envoy's default: 100)."""
    tags: list[TracingTag] = Field(default_factory=list)

    @model_validator(mode="after")
    def _tags_once(self) -> Tracing:
        seen: set[str] = set()
        for tag in self.tags:
            if tag.name in seen:
                raise ValueError(f"tag {tag.name!r} is declared twice; give each tag once")
            seen.add(tag.name)
        return self


class Collector(Part):
    service: Name


class Sink(Part):
    """Where access log lines go: exactly one field; `stdout` and `stderr` may be written bare."""

    stdout: bool | None = None
    stderr: bool | None = None
    file: str | None = None
    open_telemetry: Collector | None = None

    @field_validator("file")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"{value!r} is not an absolute path; start it with '/'")
        return value

    @model_validator(mode="before")
    @classmethod
    def _bare_stream(cls, data: Any) -> Any:
        if isinstance(data, str):
            if data in ("stdout", "stderr"):
                return {data: True}
            raise ValueError(f"{data!r} is not a sink; use {SINK_HELP}")
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> Sink:
        given = [name for name, value in self if value is not None and value is not False]
        if len(given) != 1:
            raise ValueError(f"a sink is exactly one of {SINK_HELP}")
        return self


class AccessLogFilter(Part):
    """Which requests are logged; both fields together log a share of the failed ones."""

    errors: bool | None = None
    """Only requests that failed: a 5xx, or any Envoy response flag (Envoy answered or cut it short)."""
    sample_percent: Percent | None = None
    """Only this share of requests, drawn by request id (the same draw as trace sampling)."""


class AccessLog(Part):
    disabled: bool | None = None
    format: Literal["json"] = "json"
    fields: dict[str, str | None] = Field(default_factory=dict)
    """Envoy format strings by field name, laid over the default fields; `null` leaves a default field out."""
    to: list[Sink] | None = Field(default=None, min_length=1)
    """Sinks; stdout when unset."""
    filter: AccessLogFilter | None = None


class TelemetrySpec(Model):
    target_ref: TelemetryTargetRef | None = None
    tracing: Tracing | None = None
    access_log: AccessLog | None = None

    def merge_patch(self) -> dict[str, Any]:
        """The fields this document sets, for `merge_patches`; tags keyed by name, each one whole."""
        patch = self.model_dump(exclude_unset=True, exclude={"target_ref"})
        tracing = patch.get("tracing")
        if tracing is not None and "tags" in tracing and self.tracing is not None:
            tracing["tags"] = {tag.name: tag for tag in self.tracing.tags}
        return patch

    @classmethod
    def from_merged(cls, merged: dict[str, Any]) -> TelemetrySpec:
        """The effective spec of merged patches (tags back into a list, in the order first declared)."""
        tracing = merged.get("tracing")
        if isinstance(tracing, dict) and isinstance(tracing.get("tags"), dict):
            merged = {**merged, "tracing": {**tracing, "tags": list(tracing["tags"].values())}}
        return cls.model_validate(merged)


class Telemetry(Document):
    kind: Literal["Telemetry"]
    spec: TelemetrySpec
