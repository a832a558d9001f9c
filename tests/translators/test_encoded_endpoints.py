"""Endpoint assignments written field by field are the bytes their messages serialize to."""

from __future__ import annotations

import pytest

from breakwater.translators.envoy.endpoints import encoded_load_assignment, load_assignment_of
from breakwater.translators.ir.nodes import Host

LONG = "a-cluster-name-long-enough-that-its-length-takes-two-varint-bytes|" + "x" * 80

CASES: list[tuple[str, list[Host], dict[str, int] | None]] = [
    ("payments", [], None),
    ("payments", [Host("10.0.0.1", 8080, False)], None),
    ("payments|canary", [Host("10.0.0.1", 8080, True), Host("10.0.0.2", 0, False)], None),
    ("payments", [Host("", 8080, False, None, 0), Host("10.0.0.3", 65535, False, None, 300)], None),
    (
        LONG,
        [
            Host("10.0.0.1", 8080, False, "eu-1", 2),
            Host("10.0.0.2", 8080, True, "eu-2"),
            Host("10.0.0.3", 8081, False, None, 7),
            Host("10.0.0.4", 8082, False, "eu-1"),
        ],
        None,
    ),
    (
        "zoned",
        [
            Host("10.0.0.1", 1, False, "eu-1"),
            Host("10.0.0.2", 2, False, "eu-2"),
            Host("h", 3, False),
        ],
        {"eu-1": 0, "eu-2": 1, "": 2},
    ),
    ("zoned", [Host("10.0.0.1", 1, False, "eu-2")], {"eu-1": 0, "eu-2": 1}),
    ("many", [Host(f"10.0.{i // 250}.{i % 250}", 9000 + i, i % 3 == 0) for i in range(600)], None),
]


@pytest.mark.parametrize(("name", "hosts", "priorities"), CASES)
def test_written_assignment_is_the_serialized_message(
    name: str, hosts: list[Host], priorities: dict[str, int] | None
) -> None:
    message = load_assignment_of(name, hosts, priorities)
    assert encoded_load_assignment(name, hosts, priorities) == message.SerializeToString(
        deterministic=True
    )
