"""The change history: every weight write and reset, with who and before -> after, kept in the
store across restarts and bounded; readable over HTTP, gRPC and the CLI."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from breakwater.client import http
from breakwater.controlplane.state.store import SqliteStore
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.ports import LOOPBACK
from breakwater.v1 import breakwater_pb2 as pb
from breakwater.v1 import breakwater_pb2_grpc as pb_grpc
from tests.api.cli import run_cli
from tests.support.admin import weights_url
from tests.support.policies import PolicyDir


def test_weight_writes_and_resets_are_recorded_with_who_and_before_and_after(
    policies: PolicyDir, state_dir: Path
) -> None:
    with ControlPlaneThread(policies.path, state_dir) as plane:
        url = weights_url(plane.admin_url)
        assert http("PUT", url, {"weights": {"stable": 70, "canary": 30}}).status == 200
        assert http("DELETE", url).status == 200
        events = http("GET", f"{plane.admin_url}/v1/events?route=payments").body["events"]
        reset, written = events[0], events[1]
        assert written["what"] == "weights of payments rule 0 set"
        assert (written["before"], written["after"]) == (
            "stable=90 canary=10",
            "stable=70 canary=30",
        )
        assert written["who"].startswith("127.0.0.1"), written
        assert (reset["before"], reset["after"]) == ("stable=70 canary=30", "stable=90 canary=10")
        assert reset["at"] >= written["at"]
        everything = http("GET", f"{plane.admin_url}/v1/events").body["events"]
        assert any(e["who"] == "policy files" for e in everything), "the first load is a change too"

        async def over_grpc() -> list[str]:
            async with grpc.aio.insecure_channel(f"{LOOPBACK}:{plane.xds_port}") as channel:
                stub = pb_grpc.BreakwaterStub(channel)
                answer = await stub.ListEvents(pb.ListEventsRequest(route="payments", limit=1))
                return [e.what for e in answer.events]

        assert asyncio.run(over_grpc()) == ["weights of payments rule 0 reset to the YAML"]
        cli = run_cli("history", "--route", "payments", "--server", plane.admin_url)
        assert cli.returncode == 0, cli.stderr
        assert "stable=70 canary=30 -> stable=90 canary=10" in cli.stdout

    with ControlPlaneThread(policies.path, state_dir) as again:
        kept = http("GET", f"{again.admin_url}/v1/events?route=payments").body["events"]
        assert [e["what"] for e in kept[:2]] == [reset["what"], written["what"]]


def test_a_bad_limit_is_refused_with_the_range(plane: ControlPlaneThread) -> None:
    reply = http("GET", f"{plane.admin_url}/v1/events?limit=0")
    assert reply.status == 400
    assert "between 1 and 1000" in reply.body["error"]


def test_the_store_keeps_only_the_newest_entries(tmp_path: Path) -> None:
    async def scenario() -> list[int]:
        store = SqliteStore(tmp_path)
        try:
            for index in range(10):
                await store.append_change({"index": index}, 4)
            return [entry["index"] for entry in await store.changes(100)]
        finally:
            await store.close()

    assert asyncio.run(scenario()) == [6, 7, 8, 9]


def test_resetting_a_rule_without_an_override_changes_nothing_and_succeeds(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, int]:
        store = SqliteStore(tmp_path)
        try:
            before = (await store.load()).revision
            return before, await store.delete_weights("payments", 0)
        finally:
            await store.close()

    before, after = asyncio.run(scenario())
    assert after == before
