"""`python -m breakwater.devtools.proxyless_client TARGET`: a proxyless gRPC client driven over stdin.

Each stdin line is a JSON batch (`calls`, `metadata`, `timeout`); each stdout
line answers it with the instances that answered OK and the statuses of the
calls that failed. The bootstrap comes from `GRPC_XDS_BOOTSTRAP_CONFIG`
(`breakwater.devtools.proxyless.XdsClient` sets it). One channel serves every batch,
so the xDS client keeps its subscriptions and follows the control plane's
changes between batches.
"""

from __future__ import annotations

import json
import sys
from collections import Counter

import grpc

from breakwater.devtools.proxyless import METHOD


def main(target: str) -> None:
    channel = grpc.insecure_channel(f"xds:///{target}")
    call = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)
    for line in sys.stdin:
        command = json.loads(line)
        by: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        detail = ""
        metadata = tuple(command["metadata"].items())
        for _ in range(command["calls"]):
            try:
                answer = call(b"", metadata=metadata, timeout=command["timeout"])
                by[answer.decode()] += 1
            except grpc.RpcError as exc:
                errors[exc.code().name] += 1
                detail = detail or str(exc.details())
        print(json.dumps({"by": by, "errors": errors, "detail": detail}), flush=True)
    channel.close()


if __name__ == "__main__":
    main(sys.argv[1])
