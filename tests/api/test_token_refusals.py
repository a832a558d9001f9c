"""A call without a token and a call with the wrong one are refused with different sentences,
over HTTP, over gRPC and in the CLI: the first needs a token, the second a different one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from breakwater.client import http
from breakwater.controlplane.api.security import SecurityConfig
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.ports import LOOPBACK
from breakwater.v1 import breakwater_pb2 as pb
from breakwater.v1 import breakwater_pb2_grpc as pb_grpc
from tests.api.cli import run_cli
from tests.support.admin import weights_url
from tests.support.policies import PolicyDir

TOKEN = "a-token-of-twenty-characters"
MISSING = "this call needs a token: "
REFUSED = "the token sent was refused: it is not the one in the server's --token-file; "


@pytest.fixture
def guarded(policies: PolicyDir, tmp_path: Path) -> Iterator[ControlPlaneThread]:
    security = SecurityConfig(token=TOKEN)
    with ControlPlaneThread(policies.path, tmp_path / "state", security=security) as plane:
        yield plane


BODY = {"weights": {"stable": 50, "canary": 50}}


def test_http_tells_a_missing_token_from_a_wrong_one(guarded: ControlPlaneThread) -> None:
    url = weights_url(guarded.admin_url)
    missing = http("PUT", url, BODY)
    assert missing.status == 401
    assert missing.body["error"].startswith(MISSING), missing.body
    wrong = http("PUT", url, BODY, headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status == 401
    assert wrong.body["error"].startswith(REFUSED), wrong.body
    assert http("PUT", url, BODY, headers={"Authorization": f"Bearer {TOKEN}"}).status == 200


def test_grpc_tells_a_missing_token_from_a_wrong_one(guarded: ControlPlaneThread) -> None:
    request = pb.SetWeightsRequest(route="payments", weights=BODY["weights"])
    with grpc.insecure_channel(f"{LOOPBACK}:{guarded.xds_port}") as channel:
        stub: Any = pb_grpc.BreakwaterStub(channel)
        for metadata, sentence in (((), MISSING), ((("authorization", "Bearer nope"),), REFUSED)):
            with pytest.raises(grpc.RpcError) as raised:
                stub.SetWeights(request, metadata=metadata, timeout=10)
            error: Any = raised.value
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
            assert error.details().startswith(sentence), error.details()


def test_the_cli_says_which(guarded: ControlPlaneThread) -> None:
    args = ("weights", "set", "payments", "stable=50", "canary=50", "--server", guarded.admin_url)
    missing = run_cli(*args, env={"BREAKWATER_TOKEN": ""})
    assert missing.returncode == 1
    assert MISSING in missing.stderr
    wrong = run_cli(*args, "--token", "not-the-token")
    assert wrong.returncode == 1
    assert REFUSED in wrong.stderr
