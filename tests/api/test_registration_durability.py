"""Registrations survive `kill -9` of `breakwater serve`, and still expire on time after it."""

from __future__ import annotations

import time
from pathlib import Path

from breakwater.client import http
from breakwater.devtools.serve import ServeProcess
from breakwater.devtools.waiting import wait_until

POLICIES = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: payments}
spec:
  registration: {ttl: 6s}
"""

DOWN = 4.0
"""Seconds the server stays down after the kill: an expiry counted from the restart would be
at least this late."""


def test_registrations_outlive_kill_9_and_still_expire_on_time(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "payments.yaml").write_text(POLICIES)
    serve = ServeProcess(tmp_path / "policies", tmp_path / "state", tmp_path / "serve.log")
    url = f"{serve.admin_url}/v1/services/payments/instances"
    try:
        serve.start()
        kept = http("PUT", f"{url}/10.0.0.7:8080", {"ttl": "1m", "zone": "eu-1a"})
        assert kept.status == 200, kept.text
        expiring = http("PUT", f"{url}/10.0.0.8:8080", {})
        assert expiring.status == 200, expiring.text
        # Nothing runs between the answers and the kill: no flush, no shutdown hook.
        assert serve.kill9() == -9
        time.sleep(DOWN)
        serve.start()
        listed = {i["endpoint"]: i for i in http("GET", url).body["instances"]}
        assert set(listed) <= {"10.0.0.7:8080", "10.0.0.8:8080"}
        assert listed["10.0.0.7:8080"]["zone"] == "eu-1a"
        assert listed["10.0.0.7:8080"]["registered_at"] == kept.body["registered_at"]
        due = expiring.body["expires_at"]
        wait_until(
            lambda: (
                "10.0.0.8:8080" not in [i["endpoint"] for i in http("GET", url).body["instances"]]
            ),
            10.0,
            "the instance nobody renews to expire",
        )
        late = time.time() - due
        print(f"expired {late:.2f}s after its deadline, across a kill -9 and a restart")
        # On its own deadline (give or take a loaded machine's sweep), not a TTL after the
        # restart, which would be at least DOWN seconds late.
        assert -0.1 <= late < DOWN - 0.5
        assert [i["endpoint"] for i in http("GET", url).body["instances"]] == ["10.0.0.7:8080"]
    finally:
        serve.stop()
