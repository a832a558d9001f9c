"""The operations table is what the HTTP routes, the OpenAPI document, the gRPC service and the
client are made of: each of them has every operation, and nothing the table lacks."""

from __future__ import annotations

import pytest

from breakwater.client import path_of
from breakwater.controlplane.api.http import AdminApp
from breakwater.controlplane.api.openapi import openapi_document
from breakwater.controlplane.api.table import OPERATIONS
from breakwater.v1 import breakwater_pb2


def test_every_operation_has_a_handler_a_document_entry_and_at_most_one_grpc_method() -> None:
    document = openapi_document()
    for op in OPERATIONS:
        assert callable(getattr(AdminApp, op.name, None)), op.name
        assert op.method in document["paths"][op.path], op.name
    documented = {(m, p) for p, methods in document["paths"].items() for m in methods}
    assert documented == {(op.method, op.path) for op in OPERATIONS}
    service = breakwater_pb2.DESCRIPTOR.services_by_name["Breakwater"]
    assert {m.name for m in service.methods} == {op.grpc for op in OPERATIONS if op.grpc}


def test_the_client_builds_paths_and_queries_from_the_table() -> None:
    assert path_of("reset_weights", {"route": "a/b", "rule": 1, "expectedRevision": None}) == (
        "DELETE",
        "/v1/routes/a%2Fb/weights?rule=1",
    )
    assert path_of("changes", {"limit": 5, "route": None}) == ("GET", "/v1/events?limit=5")
    with pytest.raises(TypeError, match="needs its parameter route"):
        path_of("get_weights")
    with pytest.raises(TypeError, match="takes no parameter color"):
        path_of("status", {"color": "red"})
