import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TypeState(_message.Message):
    __slots__ = ("type_url", "sent_version", "sent_nonce", "acked_version", "state", "nack_version", "nack_message", "subscribed")
    TYPE_URL_FIELD_NUMBER: _ClassVar[int]
    SENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SENT_NONCE_FIELD_NUMBER: _ClassVar[int]
    ACKED_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    NACK_VERSION_FIELD_NUMBER: _ClassVar[int]
    NACK_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBED_FIELD_NUMBER: _ClassVar[int]
    type_url: str
    sent_version: str
    sent_nonce: str
    acked_version: str
    state: str
    nack_version: str
    nack_message: str
    subscribed: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, type_url: _Optional[str] = ..., sent_version: _Optional[str] = ..., sent_nonce: _Optional[str] = ..., acked_version: _Optional[str] = ..., state: _Optional[str] = ..., nack_version: _Optional[str] = ..., nack_message: _Optional[str] = ..., subscribed: _Optional[_Iterable[str]] = ...) -> None: ...

class ProxyStatus(_message.Message):
    __slots__ = ("node_id", "node_cluster", "protocol", "group", "connected_at", "types", "user_agent", "proxyless")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_AT_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    PROXYLESS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    node_cluster: str
    protocol: str
    group: str
    connected_at: _timestamp_pb2.Timestamp
    types: _containers.RepeatedCompositeFieldContainer[TypeState]
    user_agent: str
    proxyless: bool
    def __init__(self, node_id: _Optional[str] = ..., node_cluster: _Optional[str] = ..., protocol: _Optional[str] = ..., group: _Optional[str] = ..., connected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., types: _Optional[_Iterable[_Union[TypeState, _Mapping]]] = ..., user_agent: _Optional[str] = ..., proxyless: _Optional[bool] = ...) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("proxies", "config_version", "state_revision", "load_errors", "dropped_overrides", "services", "drained_endpoints", "writes_need_token")
    PROXIES_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_REVISION_FIELD_NUMBER: _ClassVar[int]
    LOAD_ERRORS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    DRAINED_ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    WRITES_NEED_TOKEN_FIELD_NUMBER: _ClassVar[int]
    proxies: _containers.RepeatedCompositeFieldContainer[ProxyStatus]
    config_version: str
    state_revision: int
    load_errors: _containers.RepeatedScalarFieldContainer[str]
    dropped_overrides: _containers.RepeatedCompositeFieldContainer[DroppedOverride]
    services: _containers.RepeatedCompositeFieldContainer[ServiceHealth]
    drained_endpoints: _containers.RepeatedCompositeFieldContainer[ServiceEndpoint]
    writes_need_token: bool
    def __init__(self, proxies: _Optional[_Iterable[_Union[ProxyStatus, _Mapping]]] = ..., config_version: _Optional[str] = ..., state_revision: _Optional[int] = ..., load_errors: _Optional[_Iterable[str]] = ..., dropped_overrides: _Optional[_Iterable[_Union[DroppedOverride, _Mapping]]] = ..., services: _Optional[_Iterable[_Union[ServiceHealth, _Mapping]]] = ..., drained_endpoints: _Optional[_Iterable[_Union[ServiceEndpoint, _Mapping]]] = ..., writes_need_token: _Optional[bool] = ...) -> None: ...

class ServiceHealth(_message.Message):
    __slots__ = ("service", "subset", "hosts", "hosts_healthy", "hosts_ejected", "requests_per_second", "error_percent", "p99_ms")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    SUBSET_FIELD_NUMBER: _ClassVar[int]
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    HOSTS_HEALTHY_FIELD_NUMBER: _ClassVar[int]
    HOSTS_EJECTED_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    ERROR_PERCENT_FIELD_NUMBER: _ClassVar[int]
    P99_MS_FIELD_NUMBER: _ClassVar[int]
    service: str
    subset: str
    hosts: int
    hosts_healthy: int
    hosts_ejected: int
    requests_per_second: float
    error_percent: float
    p99_ms: float
    def __init__(self, service: _Optional[str] = ..., subset: _Optional[str] = ..., hosts: _Optional[int] = ..., hosts_healthy: _Optional[int] = ..., hosts_ejected: _Optional[int] = ..., requests_per_second: _Optional[float] = ..., error_percent: _Optional[float] = ..., p99_ms: _Optional[float] = ...) -> None: ...

class DroppedOverride(_message.Message):
    __slots__ = ("route", "rule", "weights", "reason")
    class WeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    route: str
    rule: int
    weights: _containers.ScalarMap[str, int]
    reason: str
    def __init__(self, route: _Optional[str] = ..., rule: _Optional[int] = ..., weights: _Optional[_Mapping[str, int]] = ..., reason: _Optional[str] = ...) -> None: ...

class ListSnapshotsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServedResource(_message.Message):
    __slots__ = ("type", "name", "version", "config")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    type: str
    name: str
    version: str
    config: _struct_pb2.Struct
    def __init__(self, type: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[str] = ..., config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ServedGroup(_message.Message):
    __slots__ = ("node_cluster", "node_metadata", "gateways", "version", "resources", "node_zone")
    class NodeMetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NODE_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    NODE_METADATA_FIELD_NUMBER: _ClassVar[int]
    GATEWAYS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    NODE_ZONE_FIELD_NUMBER: _ClassVar[int]
    node_cluster: str
    node_metadata: _containers.ScalarMap[str, str]
    gateways: _containers.RepeatedScalarFieldContainer[str]
    version: str
    resources: _containers.RepeatedCompositeFieldContainer[ServedResource]
    node_zone: str
    def __init__(self, node_cluster: _Optional[str] = ..., node_metadata: _Optional[_Mapping[str, str]] = ..., gateways: _Optional[_Iterable[str]] = ..., version: _Optional[str] = ..., resources: _Optional[_Iterable[_Union[ServedResource, _Mapping]]] = ..., node_zone: _Optional[str] = ...) -> None: ...

class SnapshotsResponse(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[ServedGroup]
    def __init__(self, groups: _Optional[_Iterable[_Union[ServedGroup, _Mapping]]] = ...) -> None: ...

class ListPoliciesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PolicyDocument(_message.Message):
    __slots__ = ("kind", "name", "file", "line", "valid", "errors", "services", "proxies", "status")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    VALID_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    PROXIES_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    file: str
    line: int
    valid: bool
    errors: _containers.RepeatedScalarFieldContainer[str]
    services: _containers.RepeatedScalarFieldContainer[str]
    proxies: _containers.RepeatedScalarFieldContainer[str]
    status: PolicyStatus
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., file: _Optional[str] = ..., line: _Optional[int] = ..., valid: _Optional[bool] = ..., errors: _Optional[_Iterable[str]] = ..., services: _Optional[_Iterable[str]] = ..., proxies: _Optional[_Iterable[str]] = ..., status: _Optional[_Union[PolicyStatus, _Mapping]] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class PolicyStatus(_message.Message):
    __slots__ = ("name", "target", "clusters", "route_configs", "proxies", "rejections", "per_proxy", "effect", "not_applied")
    class ProxiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    ROUTE_CONFIGS_FIELD_NUMBER: _ClassVar[int]
    PROXIES_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    PER_PROXY_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    NOT_APPLIED_FIELD_NUMBER: _ClassVar[int]
    name: str
    target: str
    clusters: _containers.RepeatedScalarFieldContainer[str]
    route_configs: _containers.RepeatedScalarFieldContainer[str]
    proxies: _containers.ScalarMap[str, int]
    rejections: _containers.RepeatedCompositeFieldContainer[ProxyPolicy]
    per_proxy: _containers.RepeatedCompositeFieldContainer[ProxyPolicy]
    effect: _containers.RepeatedCompositeFieldContainer[LiveEffect]
    not_applied: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., target: _Optional[str] = ..., clusters: _Optional[_Iterable[str]] = ..., route_configs: _Optional[_Iterable[str]] = ..., proxies: _Optional[_Mapping[str, int]] = ..., rejections: _Optional[_Iterable[_Union[ProxyPolicy, _Mapping]]] = ..., per_proxy: _Optional[_Iterable[_Union[ProxyPolicy, _Mapping]]] = ..., effect: _Optional[_Iterable[_Union[LiveEffect, _Mapping]]] = ..., not_applied: _Optional[_Iterable[str]] = ...) -> None: ...

class ProxyPolicy(_message.Message):
    __slots__ = ("node_id", "group", "state", "message")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    group: str
    state: str
    message: str
    def __init__(self, node_id: _Optional[str] = ..., group: _Optional[str] = ..., state: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class LiveEffect(_message.Message):
    __slots__ = ("service", "subset", "cluster", "hosts", "hosts_healthy", "hosts_ejected", "proxies_reporting", "proxies_ejecting", "requests_active", "requests_pending", "busiest_proxy_active", "concurrency_limit", "ejections_total", "retries_total", "bulkhead_rejections_total", "timeouts_total", "requests_total", "window_seconds", "requests_per_second", "retries_per_second", "error_percent", "p50_ms", "p95_ms", "p99_ms", "endpoints", "ejections_by_detector", "failing_hosts")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    SUBSET_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    HOSTS_HEALTHY_FIELD_NUMBER: _ClassVar[int]
    HOSTS_EJECTED_FIELD_NUMBER: _ClassVar[int]
    PROXIES_REPORTING_FIELD_NUMBER: _ClassVar[int]
    PROXIES_EJECTING_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PENDING_FIELD_NUMBER: _ClassVar[int]
    BUSIEST_PROXY_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    EJECTIONS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    RETRIES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    BULKHEAD_REJECTIONS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    TIMEOUTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    RETRIES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    ERROR_PERCENT_FIELD_NUMBER: _ClassVar[int]
    P50_MS_FIELD_NUMBER: _ClassVar[int]
    P95_MS_FIELD_NUMBER: _ClassVar[int]
    P99_MS_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    EJECTIONS_BY_DETECTOR_FIELD_NUMBER: _ClassVar[int]
    FAILING_HOSTS_FIELD_NUMBER: _ClassVar[int]
    service: str
    subset: str
    cluster: str
    hosts: int
    hosts_healthy: int
    hosts_ejected: int
    proxies_reporting: int
    proxies_ejecting: int
    requests_active: int
    requests_pending: int
    busiest_proxy_active: int
    concurrency_limit: int
    ejections_total: int
    retries_total: int
    bulkhead_rejections_total: int
    timeouts_total: int
    requests_total: int
    window_seconds: float
    requests_per_second: float
    retries_per_second: float
    error_percent: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    endpoints: _containers.RepeatedCompositeFieldContainer[EndpointLoad]
    ejections_by_detector: _containers.RepeatedCompositeFieldContainer[DetectorEjections]
    failing_hosts: _containers.RepeatedCompositeFieldContainer[FailingHost]
    def __init__(self, service: _Optional[str] = ..., subset: _Optional[str] = ..., cluster: _Optional[str] = ..., hosts: _Optional[int] = ..., hosts_healthy: _Optional[int] = ..., hosts_ejected: _Optional[int] = ..., proxies_reporting: _Optional[int] = ..., proxies_ejecting: _Optional[int] = ..., requests_active: _Optional[int] = ..., requests_pending: _Optional[int] = ..., busiest_proxy_active: _Optional[int] = ..., concurrency_limit: _Optional[int] = ..., ejections_total: _Optional[int] = ..., retries_total: _Optional[int] = ..., bulkhead_rejections_total: _Optional[int] = ..., timeouts_total: _Optional[int] = ..., requests_total: _Optional[int] = ..., window_seconds: _Optional[float] = ..., requests_per_second: _Optional[float] = ..., retries_per_second: _Optional[float] = ..., error_percent: _Optional[float] = ..., p50_ms: _Optional[float] = ..., p95_ms: _Optional[float] = ..., p99_ms: _Optional[float] = ..., endpoints: _Optional[_Iterable[_Union[EndpointLoad, _Mapping]]] = ..., ejections_by_detector: _Optional[_Iterable[_Union[DetectorEjections, _Mapping]]] = ..., failing_hosts: _Optional[_Iterable[_Union[FailingHost, _Mapping]]] = ...) -> None: ...

class DetectorEjections(_message.Message):
    __slots__ = ("detector", "total", "recent", "proxies")
    DETECTOR_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    RECENT_FIELD_NUMBER: _ClassVar[int]
    PROXIES_FIELD_NUMBER: _ClassVar[int]
    detector: str
    total: int
    recent: int
    proxies: int
    def __init__(self, detector: _Optional[str] = ..., total: _Optional[int] = ..., recent: _Optional[int] = ..., proxies: _Optional[int] = ...) -> None: ...

class FailingHost(_message.Message):
    __slots__ = ("address", "failed", "requests", "proxies_failing", "proxies_reporting", "ejected_on", "last_failed_at")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    PROXIES_FAILING_FIELD_NUMBER: _ClassVar[int]
    PROXIES_REPORTING_FIELD_NUMBER: _ClassVar[int]
    EJECTED_ON_FIELD_NUMBER: _ClassVar[int]
    LAST_FAILED_AT_FIELD_NUMBER: _ClassVar[int]
    address: str
    failed: int
    requests: int
    proxies_failing: int
    proxies_reporting: int
    ejected_on: int
    last_failed_at: float
    def __init__(self, address: _Optional[str] = ..., failed: _Optional[int] = ..., requests: _Optional[int] = ..., proxies_failing: _Optional[int] = ..., proxies_reporting: _Optional[int] = ..., ejected_on: _Optional[int] = ..., last_failed_at: _Optional[float] = ...) -> None: ...

class EndpointLoad(_message.Message):
    __slots__ = ("address", "succeeded", "failed", "in_flight")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    address: str
    succeeded: int
    failed: int
    in_flight: int
    def __init__(self, address: _Optional[str] = ..., succeeded: _Optional[int] = ..., failed: _Optional[int] = ..., in_flight: _Optional[int] = ...) -> None: ...

class ListPoliciesResponse(_message.Message):
    __slots__ = ("policies",)
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    policies: _containers.RepeatedCompositeFieldContainer[PolicyDocument]
    def __init__(self, policies: _Optional[_Iterable[_Union[PolicyDocument, _Mapping]]] = ...) -> None: ...

class GetWeightsRequest(_message.Message):
    __slots__ = ("route", "rule", "rule_name")
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    RULE_NAME_FIELD_NUMBER: _ClassVar[int]
    route: str
    rule: int
    rule_name: str
    def __init__(self, route: _Optional[str] = ..., rule: _Optional[int] = ..., rule_name: _Optional[str] = ...) -> None: ...

class Weights(_message.Message):
    __slots__ = ("route", "rule", "weights", "source", "revision", "rule_name")
    class WeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    RULE_NAME_FIELD_NUMBER: _ClassVar[int]
    route: str
    rule: int
    weights: _containers.ScalarMap[str, int]
    source: str
    revision: int
    rule_name: str
    def __init__(self, route: _Optional[str] = ..., rule: _Optional[int] = ..., weights: _Optional[_Mapping[str, int]] = ..., source: _Optional[str] = ..., revision: _Optional[int] = ..., rule_name: _Optional[str] = ...) -> None: ...

class SetWeightsRequest(_message.Message):
    __slots__ = ("route", "rule", "weights", "expected_revision", "rule_name")
    class WeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    RULE_NAME_FIELD_NUMBER: _ClassVar[int]
    route: str
    rule: int
    weights: _containers.ScalarMap[str, int]
    expected_revision: int
    rule_name: str
    def __init__(self, route: _Optional[str] = ..., rule: _Optional[int] = ..., weights: _Optional[_Mapping[str, int]] = ..., expected_revision: _Optional[int] = ..., rule_name: _Optional[str] = ...) -> None: ...

class ResetWeightsRequest(_message.Message):
    __slots__ = ("route", "rule", "expected_revision", "rule_name")
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    RULE_NAME_FIELD_NUMBER: _ClassVar[int]
    route: str
    rule: int
    expected_revision: int
    rule_name: str
    def __init__(self, route: _Optional[str] = ..., rule: _Optional[int] = ..., expected_revision: _Optional[int] = ..., rule_name: _Optional[str] = ...) -> None: ...

class ListEndpointsRequest(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: str
    def __init__(self, service: _Optional[str] = ...) -> None: ...

class ServiceEndpoint(_message.Message):
    __slots__ = ("service", "endpoint", "in_service", "drained", "drained_by", "drained_at", "revision")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    IN_SERVICE_FIELD_NUMBER: _ClassVar[int]
    DRAINED_FIELD_NUMBER: _ClassVar[int]
    DRAINED_BY_FIELD_NUMBER: _ClassVar[int]
    DRAINED_AT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    service: str
    endpoint: str
    in_service: bool
    drained: bool
    drained_by: str
    drained_at: _timestamp_pb2.Timestamp
    revision: int
    def __init__(self, service: _Optional[str] = ..., endpoint: _Optional[str] = ..., in_service: _Optional[bool] = ..., drained: _Optional[bool] = ..., drained_by: _Optional[str] = ..., drained_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class EndpointsResponse(_message.Message):
    __slots__ = ("service", "endpoints")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    service: str
    endpoints: _containers.RepeatedCompositeFieldContainer[ServiceEndpoint]
    def __init__(self, service: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[ServiceEndpoint, _Mapping]]] = ...) -> None: ...

class DrainEndpointRequest(_message.Message):
    __slots__ = ("service", "endpoint", "expected_revision")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    service: str
    endpoint: str
    expected_revision: int
    def __init__(self, service: _Optional[str] = ..., endpoint: _Optional[str] = ..., expected_revision: _Optional[int] = ...) -> None: ...

class ListRolloutsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRolloutRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RolloutCommandRequest(_message.Message):
    __slots__ = ("name", "command", "expected_phase", "expected_step")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_PHASE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_STEP_FIELD_NUMBER: _ClassVar[int]
    name: str
    command: str
    expected_phase: str
    expected_step: int
    def __init__(self, name: _Optional[str] = ..., command: _Optional[str] = ..., expected_phase: _Optional[str] = ..., expected_step: _Optional[int] = ...) -> None: ...

class RolloutStatus(_message.Message):
    __slots__ = ("name", "route", "rule", "stable", "canary", "phase", "step", "steps", "canary_weight", "header_route", "awaiting_ack", "failed_intervals", "message", "last_analysis", "history", "analyses")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    STABLE_FIELD_NUMBER: _ClassVar[int]
    CANARY_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    CANARY_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    HEADER_ROUTE_FIELD_NUMBER: _ClassVar[int]
    AWAITING_ACK_FIELD_NUMBER: _ClassVar[int]
    FAILED_INTERVALS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LAST_ANALYSIS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    ANALYSES_FIELD_NUMBER: _ClassVar[int]
    name: str
    route: str
    rule: int
    stable: str
    canary: str
    phase: str
    step: int
    steps: int
    canary_weight: int
    header_route: bool
    awaiting_ack: bool
    failed_intervals: int
    message: str
    last_analysis: RolloutAnalysis
    history: _containers.RepeatedCompositeFieldContainer[RolloutEvent]
    analyses: _containers.RepeatedCompositeFieldContainer[RolloutAnalysis]
    def __init__(self, name: _Optional[str] = ..., route: _Optional[str] = ..., rule: _Optional[int] = ..., stable: _Optional[str] = ..., canary: _Optional[str] = ..., phase: _Optional[str] = ..., step: _Optional[int] = ..., steps: _Optional[int] = ..., canary_weight: _Optional[int] = ..., header_route: _Optional[bool] = ..., awaiting_ack: _Optional[bool] = ..., failed_intervals: _Optional[int] = ..., message: _Optional[str] = ..., last_analysis: _Optional[_Union[RolloutAnalysis, _Mapping]] = ..., history: _Optional[_Iterable[_Union[RolloutEvent, _Mapping]]] = ..., analyses: _Optional[_Iterable[_Union[RolloutAnalysis, _Mapping]]] = ...) -> None: ...

class RolloutAnalysis(_message.Message):
    __slots__ = ("at", "verdict", "reason", "canary_requests", "canary_error_percent", "canary_latency_ms", "stable_error_percent")
    AT_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CANARY_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    CANARY_ERROR_PERCENT_FIELD_NUMBER: _ClassVar[int]
    CANARY_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    STABLE_ERROR_PERCENT_FIELD_NUMBER: _ClassVar[int]
    at: float
    verdict: str
    reason: str
    canary_requests: int
    canary_error_percent: float
    canary_latency_ms: float
    stable_error_percent: float
    def __init__(self, at: _Optional[float] = ..., verdict: _Optional[str] = ..., reason: _Optional[str] = ..., canary_requests: _Optional[int] = ..., canary_error_percent: _Optional[float] = ..., canary_latency_ms: _Optional[float] = ..., stable_error_percent: _Optional[float] = ...) -> None: ...

class RolloutEvent(_message.Message):
    __slots__ = ("at", "phase", "step", "canary_weight", "message")
    AT_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    CANARY_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    at: float
    phase: str
    step: int
    canary_weight: int
    message: str
    def __init__(self, at: _Optional[float] = ..., phase: _Optional[str] = ..., step: _Optional[int] = ..., canary_weight: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class RolloutsResponse(_message.Message):
    __slots__ = ("rollouts",)
    ROLLOUTS_FIELD_NUMBER: _ClassVar[int]
    rollouts: _containers.RepeatedCompositeFieldContainer[RolloutStatus]
    def __init__(self, rollouts: _Optional[_Iterable[_Union[RolloutStatus, _Mapping]]] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("route", "limit")
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    route: str
    limit: int
    def __init__(self, route: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ChangeEntry(_message.Message):
    __slots__ = ("at", "who", "what", "before", "after", "route", "rule")
    AT_FIELD_NUMBER: _ClassVar[int]
    WHO_FIELD_NUMBER: _ClassVar[int]
    WHAT_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    at: float
    who: str
    what: str
    before: str
    after: str
    route: str
    rule: int
    def __init__(self, at: _Optional[float] = ..., who: _Optional[str] = ..., what: _Optional[str] = ..., before: _Optional[str] = ..., after: _Optional[str] = ..., route: _Optional[str] = ..., rule: _Optional[int] = ...) -> None: ...

class ChangesResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[ChangeEntry]
    def __init__(self, events: _Optional[_Iterable[_Union[ChangeEntry, _Mapping]]] = ...) -> None: ...

class ListRoutesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RoutesResponse(_message.Message):
    __slots__ = ("routes",)
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    routes: _containers.RepeatedCompositeFieldContainer[RouteStatus]
    def __init__(self, routes: _Optional[_Iterable[_Union[RouteStatus, _Mapping]]] = ...) -> None: ...

class RouteStatus(_message.Message):
    __slots__ = ("name", "gateways", "hostnames", "rules")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GATEWAYS_FIELD_NUMBER: _ClassVar[int]
    HOSTNAMES_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    name: str
    gateways: _containers.RepeatedScalarFieldContainer[str]
    hostnames: _containers.RepeatedScalarFieldContainer[str]
    rules: _containers.RepeatedCompositeFieldContainer[RouteRuleStatus]
    def __init__(self, name: _Optional[str] = ..., gateways: _Optional[_Iterable[str]] = ..., hostnames: _Optional[_Iterable[str]] = ..., rules: _Optional[_Iterable[_Union[RouteRuleStatus, _Mapping]]] = ...) -> None: ...

class RouteRuleStatus(_message.Message):
    __slots__ = ("index", "name", "backends", "source", "revision", "rollout")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    index: int
    name: str
    backends: _containers.RepeatedCompositeFieldContainer[RuleBackend]
    source: str
    revision: int
    rollout: str
    def __init__(self, index: _Optional[int] = ..., name: _Optional[str] = ..., backends: _Optional[_Iterable[_Union[RuleBackend, _Mapping]]] = ..., source: _Optional[str] = ..., revision: _Optional[int] = ..., rollout: _Optional[str] = ...) -> None: ...

class RuleBackend(_message.Message):
    __slots__ = ("label", "service", "subset", "weight")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    SUBSET_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    label: str
    service: str
    subset: str
    weight: int
    def __init__(self, label: _Optional[str] = ..., service: _Optional[str] = ..., subset: _Optional[str] = ..., weight: _Optional[int] = ...) -> None: ...

class ExplainServiceRequest(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: str
    def __init__(self, service: _Optional[str] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("service", "sections")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    SECTIONS_FIELD_NUMBER: _ClassVar[int]
    service: str
    sections: _containers.RepeatedCompositeFieldContainer[ExplainSectionStatus]
    def __init__(self, service: _Optional[str] = ..., sections: _Optional[_Iterable[_Union[ExplainSectionStatus, _Mapping]]] = ...) -> None: ...

class ExplainSectionStatus(_message.Message):
    __slots__ = ("title", "settings")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    title: str
    settings: _containers.RepeatedCompositeFieldContainer[ExplainedSettingStatus]
    def __init__(self, title: _Optional[str] = ..., settings: _Optional[_Iterable[_Union[ExplainedSettingStatus, _Mapping]]] = ...) -> None: ...

class ExplainedSettingStatus(_message.Message):
    __slots__ = ("path", "value", "set_by", "envoy", "differs")
    PATH_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SET_BY_FIELD_NUMBER: _ClassVar[int]
    ENVOY_FIELD_NUMBER: _ClassVar[int]
    DIFFERS_FIELD_NUMBER: _ClassVar[int]
    path: str
    value: _struct_pb2.Value
    set_by: str
    envoy: str
    differs: str
    def __init__(self, path: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., set_by: _Optional[str] = ..., envoy: _Optional[str] = ..., differs: _Optional[str] = ...) -> None: ...

class RegisterInstanceRequest(_message.Message):
    __slots__ = ("service", "instance", "labels", "zone", "weight", "ttl")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    service: str
    instance: str
    labels: _containers.ScalarMap[str, str]
    zone: str
    weight: int
    ttl: str
    def __init__(self, service: _Optional[str] = ..., instance: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., zone: _Optional[str] = ..., weight: _Optional[int] = ..., ttl: _Optional[str] = ...) -> None: ...

class DeregisterInstanceRequest(_message.Message):
    __slots__ = ("service", "instance")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    service: str
    instance: str
    def __init__(self, service: _Optional[str] = ..., instance: _Optional[str] = ...) -> None: ...

class ListInstancesRequest(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: str
    def __init__(self, service: _Optional[str] = ...) -> None: ...

class RegisteredInstance(_message.Message):
    __slots__ = ("service", "endpoint", "labels", "zone", "weight", "ttl_seconds", "state", "registered_at", "renewed_at", "expires_at", "registered_by", "revision", "warnings")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AT_FIELD_NUMBER: _ClassVar[int]
    RENEWED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_BY_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    service: str
    endpoint: str
    labels: _containers.ScalarMap[str, str]
    zone: str
    weight: int
    ttl_seconds: float
    state: str
    registered_at: _timestamp_pb2.Timestamp
    renewed_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    registered_by: str
    revision: int
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, service: _Optional[str] = ..., endpoint: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., zone: _Optional[str] = ..., weight: _Optional[int] = ..., ttl_seconds: _Optional[float] = ..., state: _Optional[str] = ..., registered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., renewed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., registered_by: _Optional[str] = ..., revision: _Optional[int] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class InstancesResponse(_message.Message):
    __slots__ = ("service", "ttl_seconds", "max_instances", "drain_seconds", "instances")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_INSTANCES_FIELD_NUMBER: _ClassVar[int]
    DRAIN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    service: str
    ttl_seconds: float
    max_instances: int
    drain_seconds: float
    instances: _containers.RepeatedCompositeFieldContainer[RegisteredInstance]
    def __init__(self, service: _Optional[str] = ..., ttl_seconds: _Optional[float] = ..., max_instances: _Optional[int] = ..., drain_seconds: _Optional[float] = ..., instances: _Optional[_Iterable[_Union[RegisteredInstance, _Mapping]]] = ...) -> None: ...
