"""How long a weight written through the API takes to steer a proxyless gRPC client.

``python -m bench.proxyless [--writes N]``: a control plane, two gRPC servers and
grpcio's own xDS client dialing ``xds:///payments`` (in a subprocess); each
write flips a 0/100 split through ``PUT /v1/routes/.../weights``, and the
client calls in batches of 5 until every call of a batch lands on the side
the write chose. Prints one JSON object: seconds from the API's answer to
that batch (median, p90, max over the writes), and the machine it ran on.
The time includes the debounce (50 ms quiet, as the tests run it) and one
batch of calls, so it is an upper bound of what the client needed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.proxyless import GrpcBackend, XdsClient

POLICIES = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {{name: payments}}
spec:
  protocol: grpc
  endpoints:
    - {{address: 127.0.0.1, port: {a}, labels: {{side: a}}}}
    - {{address: 127.0.0.1, port: {b}, labels: {{side: b}}}}
  subsets:
    - {{name: a, labels: {{side: a}}}}
    - {{name: b, labels: {{side: b}}}}
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {{name: payments-split}}
spec:
  services: [payments]
  rules:
    - backends:
        - {{service: payments, subset: a, weight: 100}}
        - {{service: payments, subset: b, weight: 0}}
"""


def _put(url: str, body: object) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        reply.read()


def measure(writes: int) -> dict[str, object]:
    servers = {"a": GrpcBackend("a"), "b": GrpcBackend("b")}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "policies").mkdir()
        (root / "state").mkdir()
        text = POLICIES.format(a=servers["a"].port, b=servers["b"].port)
        (root / "policies" / "payments.yaml").write_text(text)
        plane = ControlPlaneThread(root / "policies", root / "state").start()
        client = XdsClient(plane.xds_port, "bench-1", "payments")
        try:
            client.calls(1, timeout=20)
            url = plane.admin_url + "/v1/routes/payments-split/weights"
            took: list[float] = []
            for index in range(writes):
                side = "b" if index % 2 == 0 else "a"
                other = "a" if side == "b" else "b"
                _put(url, {"weights": {side: 100, other: 0}, "rule": 0})
                written = time.monotonic()
                while client.calls(5)["by"] != {side: 5}:
                    if time.monotonic() - written > 30:
                        raise RuntimeError("a weight write did not reach the client in 30 s")
                took.append(time.monotonic() - written)
        finally:
            client.stop()
            plane.stop()
            for server in servers.values():
                server.stop()
    took.sort()
    return {
        "writes": writes,
        "median_s": round(statistics.median(took), 3),
        "p90_s": round(took[int(0.9 * (len(took) - 1))], 3),
        "max_s": round(took[-1], 3),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=20)
    print(json.dumps(measure(parser.parse_args().writes)))


if __name__ == "__main__":
    main()
