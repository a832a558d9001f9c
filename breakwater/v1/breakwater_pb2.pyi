import datetime

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
    __slots__ = ("type_url", "sent_version", "sent_nonce", "acked_version", "state", "nack_version", "nack_message")
    TYPE_URL_FIELD_NUMBER: _ClassVar[int]
    SENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SENT_NONCE_FIELD_NUMBER: _ClassVar[int]
    ACKED_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    NACK_VERSION_FIELD_NUMBER: _ClassVar[int]
    NACK_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    type_url: str
    sent_version: str
    sent_nonce: str
    acked_version: str
    state: str
    nack_version: str
    nack_message: str
    def __init__(self, type_url: _Optional[str] = ..., sent_version: _Optional[str] = ..., sent_nonce: _Optional[str] = ..., acked_version: _Optional[str] = ..., state: _Optional[str] = ..., nack_version: _Optional[str] = ..., nack_message: _Optional[str] = ...) -> None: ...

class ProxyStatus(_message.Message):
    __slots__ = ("node_id", "node_cluster", "protocol", "group", "connected_at", "types")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_AT_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    node_cluster: str
    protocol: str
    group: str
    connected_at: _timestamp_pb2.Timestamp
    types: _containers.RepeatedCompositeFieldContainer[TypeState]
    def __init__(self, node_id: _Optional[str] = ..., node_cluster: _Optional[str] = ..., protocol: _Optional[str] = ..., group: _Optional[str] = ..., connected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., types: _Optional[_Iterable[_Union[TypeState, _Mapping]]] = ...) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("proxies", "config_version", "state_revision", "load_errors", "dropped_overrides")
    PROXIES_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_REVISION_FIELD_NUMBER: _ClassVar[int]
    LOAD_ERRORS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    proxies: _containers.RepeatedCompositeFieldContainer[ProxyStatus]
    config_version: str
    state_revision: int
    load_errors: _containers.RepeatedScalarFieldContainer[str]
    dropped_overrides: _containers.RepeatedCompositeFieldContainer[DroppedOverride]
    def __init__(self, proxies: _Optional[_Iterable[_Union[ProxyStatus, _Mapping]]] = ..., config_version: _Optional[str] = ..., state_revision: _Optional[int] = ..., load_errors: _Optional[_Iterable[str]] = ..., dropped_overrides: _Optional[_Iterable[_Union[DroppedOverride, _Mapping]]] = ...) -> None: ...

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

class ListPoliciesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PolicyDocument(_message.Message):
    __slots__ = ("kind", "name", "file", "line", "valid", "errors", "services", "proxies")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    VALID_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    PROXIES_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    file: str
    line: int
    valid: bool
    errors: _containers.RepeatedScalarFieldContainer[str]
    services: _containers.RepeatedScalarFieldContainer[str]
    proxies: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., file: _Optional[str] = ..., line: _Optional[int] = ..., valid: _Optional[bool] = ..., errors: _Optional[_Iterable[str]] = ..., services: _Optional[_Iterable[str]] = ..., proxies: _Optional[_Iterable[str]] = ...) -> None: ...

class ListPoliciesResponse(_message.Message):
    __slots__ = ("policies",)
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    policies: _containers.RepeatedCompositeFieldContainer[PolicyDocument]
    def __init__(self, policies: _Optional[_Iterable[_Union[PolicyDocument, _Mapping]]] = ...) -> None: ...

class GetWeightsRequest(_message.Message):
    __slots__ = ("route", "rule")
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    route: str
    rule: int
    def __init__(self, route: _Optional[str] = ..., rule: _Optional[int] = ...) -> None: ...

class Weights(_message.Message):
    __slots__ = ("route", "rule", "weights", "source", "revision")
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
    route: str
    rule: int
    weights: _containers.ScalarMap[str, int]
    source: str
    revision: int
    def __init__(self, route: _Optional[str] = ..., rule: _Optional[int] = ..., weights: _Optional[_Mapping[str, int]] = ..., source: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class SetWeightsRequest(_message.Message):
    __slots__ = ("route", "rule", "weights", "expected_revision")
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
    route: str
    rule: int
    weights: _containers.ScalarMap[str, int]
    expected_revision: int
    def __init__(self, route: _Optional[str] = ..., rule: _Optional[int] = ..., weights: _Optional[_Mapping[str, int]] = ..., expected_revision: _Optional[int] = ...) -> None: ...

class ResetWeightsRequest(_message.Message):
    __slots__ = ("route", "rule", "expected_revision")
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    route: str
    rule: int
    expected_revision: int
    def __init__(self, route: _Optional[str] = ..., rule: _Optional[int] = ..., expected_revision: _Optional[int] = ...) -> None: ...
