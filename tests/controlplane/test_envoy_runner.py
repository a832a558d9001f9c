"""The Envoy subprocess runner, with a static config (no control plane needed)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from breakwater.devtools.envoy import EnvoyError, EnvoyProcess, find_envoy, free_port, next_base_id
from tests.controlplane.harness import get

try:
    find_envoy()
except Exception as error:  # pragma: no cover - depends on the environment
    pytest.skip(f"no Envoy binary: {error}", allow_module_level=True)


def static_bootstrap(listener_port: int) -> dict[str, Any]:
    """A listener answering 200 "pong" by itself."""
    return {
        "node": {"id": "static", "cluster": "test"},
        "static_resources": {
            "listeners": [
                {
                    "name": "direct",
                    "address": {
                        "socket_address": {"address": "127.0.0.1", "port_value": listener_port}
                    },
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": {
                                        "@type": "type.googleapis.com/envoy.extensions.filters."
                                        "network.http_connection_manager.v3.HttpConnectionManager",
                                        "stat_prefix": "direct",
                                        "route_config": {
                                            "virtual_hosts": [
                                                {
                                                    "name": "all",
                                                    "domains": ["*"],
                                                    "routes": [
                                                        {
                                                            "match": {"prefix": "/"},
                                                            "direct_response": {
                                                                "status": 200,
                                                                "body": {"inline_string": "pong"},
                                                            },
                                                        }
                                                    ],
                                                }
                                            ]
                                        },
                                        "http_filters": [
                                            {
                                                "name": "envoy.filters.http.router",
                                                "typed_config": {
                                                    "@type": "type.googleapis.com/envoy.extensions."
                                                    "filters.http.router.v3.Router"
                                                },
                                            }
                                        ],
                                    },
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": "spare",
                    "type": "STATIC",
                    "load_assignment": {
                        "cluster_name": "spare",
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {
                                        "endpoint": {
                                            "address": {
                                                "socket_address": {
                                                    "address": "127.0.0.1",
                                                    "port_value": 9,
                                                }
                                            }
                                        }
                                    }
                                ]
                            }
                        ],
                    },
                }
            ],
        },
    }


def test_start_query_and_stop():
    port = free_port()
    with EnvoyProcess(static_bootstrap(port)) as envoy:
        assert envoy.running and envoy.ready_state() == "LIVE"
        assert get(port) == (200, "pong")
        stats = envoy.stats()
        assert stats["http.direct.downstream_rq_total"] >= 1
        assert all(isinstance(v, int) for v in stats.values())
        (listeners,) = [
            c for c in envoy.config_dump()["configs"] if c["@type"].endswith("ListenersConfigDump")
        ]
        assert [entry["listener"]["name"] for entry in listeners["static_listeners"]] == ["direct"]
        assert [c["name"] for c in envoy.clusters()["cluster_statuses"]] == ["spare"]
        assert (
            envoy.log_path.exists() and "starting main dispatch loop" in envoy.log_path.read_text()
        )
        pid = envoy.pid
        workdir = envoy.workdir
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not workdir.exists()


def test_kill_is_abrupt_and_stop_after_it_is_harmless():
    envoy = EnvoyProcess(static_bootstrap(free_port())).start()
    try:
        envoy.kill()
        assert not envoy.running and envoy.process is not None
        assert envoy.process.returncode == -9
        assert envoy.stop() == -9
    finally:
        envoy.cleanup()


def test_a_bad_bootstrap_fails_start_with_the_log():
    bootstrap = static_bootstrap(free_port())
    bootstrap["static_resources"]["listeners"][0]["address"]["socket_address"]["address"] = "nope"
    envoy = EnvoyProcess(bootstrap)
    try:
        with pytest.raises(EnvoyError, match="malformed IP address"):
            envoy.start()
        assert not envoy.running
    finally:
        envoy.cleanup()


def test_wait_for_times_out_with_what_it_waited_for():
    with EnvoyProcess(static_bootstrap(free_port())) as envoy:
        with pytest.raises(EnvoyError, match="waiting for the impossible"):
            envoy.wait_for(lambda: False, 0.1, "the impossible")
        assert envoy.wait_for(lambda: 42, 0.1) == 42


def test_base_ids_are_distinct():
    assert len({next_base_id() for _ in range(50)}) == 50
