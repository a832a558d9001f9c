"""An override etcd keeps but does not apply: the API and `/metrics` name the same source.

With etcd an override whose backend left the YAML stays in the store
(another replica may already read files that fit it) and applies again when
the backend comes back. While it does not apply, the weights served are the
YAML's, and both the weights API and `breakwater_route_backend_weight` must
say `yaml`; once it applies again, both say `override`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from breakwater.client import http
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.prometheus import metric, metrics_text
from breakwater.devtools.waiting import wait_until
from tests.etcd.etcd_server import EtcdServer
from tests.support.admin import weights_url
from tests.support.policies import PolicyDir


def _sources(admin_url: str) -> dict[str, tuple[str, float]]:
    """Backend → (source label, weight) of the route's rule 0, as `/metrics` has them."""
    text = metrics_text(admin_url)
    found: dict[str, tuple[str, float]] = {}
    for backend in ("stable", "canary"):
        for source in ("yaml", "override"):
            labels = {"route": "payments", "rule": "0", "backend": backend, "source": source}
            value = metric(text, "breakwater_route_backend_weight", **labels)
            if value is not None:
                assert backend not in found, f"{backend} is listed with two sources"
                found[backend] = (source, value)
    return found


def _status(admin_url: str) -> Any:
    reply = http("GET", f"{admin_url}/v1/status")
    assert reply.status == 200, reply.text
    return reply.body


def test_api_and_metrics_agree_on_the_source_of_a_kept_override(
    tmp_path: Path, etcd: EtcdServer
) -> None:
    policies = PolicyDir.create(tmp_path / "policies")
    with ControlPlaneThread(
        policies.path, tmp_path / "state", store_url=etcd.url("dropped")
    ) as plane:
        url = plane.admin_url
        written = http("PUT", weights_url(url), {"weights": {"stable": 70, "canary": 30}})
        assert written.status == 200, written.text
        assert _sources(url) == {"stable": ("override", 70), "canary": ("override", 30)}

        policies.write_weights({"stable": 100})
        wait_until(lambda: _status(url)["dropped_overrides"], 10, "status to list the drop")
        served = http("GET", weights_url(url) + "?rule=0").body
        assert (served["weights"], served["source"]) == ({"stable": 100}, "yaml")
        assert _sources(url) == {"stable": ("yaml", 100)}
        # Kept in etcd: no new revision removed it.
        assert _status(url)["state_revision"] == written.body["revision"]

        policies.write()  # the canary is back: the kept override fits again
        wait_until(lambda: not _status(url)["dropped_overrides"], 10, "the drop to clear")
        again = http("GET", weights_url(url)).body
        assert (again["weights"], again["source"]) == ({"stable": 70, "canary": 30}, "override")
        assert _sources(url) == {"stable": ("override", 70), "canary": ("override", 30)}
