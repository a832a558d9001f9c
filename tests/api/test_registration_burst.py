"""A burst of registrations (a fleet starting) against the real control plane and its SQLite file.

Registrations that arrive together are saved in one transaction with their
history entries: each caller is answered only once that transaction is
durable, so every instance answered 200 is there after a restart, each with
its history entry; the instance limit still holds inside one transaction.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from breakwater.client import http
from breakwater.devtools.controlplane import ControlPlaneThread

BURST = 60
LIMIT = 50

POLICIES = f"""\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {{name: payments}}
spec:
  registration: {{ttl: 60s, maxInstances: {LIMIT}}}
"""


def _register(admin_url: str, index: int) -> tuple[int, dict[str, object]]:
    url = f"{admin_url}/v1/services/payments/instances/10.0.0.{index + 1}:8080"
    answer = http("PUT", url, {"zone": "eu-1a"})
    return answer.status, answer.body


def test_a_burst_is_saved_together_durable_and_within_the_limit(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "mesh.yaml").write_text(POLICIES)
    with ControlPlaneThread(tmp_path / "policies", tmp_path / "state") as plane:
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(lambda i: _register(plane.admin_url, i), range(BURST)))
        accepted = [body for status, body in answers if status == 200]
        refused = [body for status, body in answers if status != 200]
        assert len(accepted) == LIMIT, answers
        assert all("maxInstances" in str(body) for body in refused), refused
        revisions = {body["revision"] for body in accepted}
        print(f"{LIMIT} registrations saved in {len(revisions)} transactions")
        assert len(revisions) < LIMIT  # some arrived together and shared a transaction
    with ControlPlaneThread(tmp_path / "policies", tmp_path / "state") as plane:
        listed = http("GET", f"{plane.admin_url}/v1/services/payments/instances").body
        assert sorted(i["endpoint"] for i in listed["instances"]) == sorted(
            str(body["endpoint"]) for body in accepted
        )
        events = http("GET", f"{plane.admin_url}/v1/events").body["events"]
        registered = [e for e in events if e["what"].endswith("of payments registered")]
        assert len(registered) == LIMIT, [e["what"] for e in events]
