"""Settings of the xDS port, and the defaults that the CLI and the app show and use.

This module imports nothing heavy (no gRPC, no protobuf), so the CLI can
read the defaults for its help text without paying for the server.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_RECEIVE_MESSAGE_LENGTH = 4 * 1024 * 1024
"""Largest request a proxy may send, in bytes (gRPC's own default); larger ones end the stream."""

ORDERING_TIMEOUT = 5.0
"""Seconds a route or listener update waits for the clusters it uses (make-before-break)."""


@dataclass(frozen=True, slots=True)
class XdsServerOptions:
    """gRPC server settings; times in seconds, sizes in bytes."""

    max_receive_message_length: int = MAX_RECEIVE_MESSAGE_LENGTH
    max_send_message_length: int = 64 * 1024 * 1024
    max_concurrent_streams: int | None = None
    keepalive_time: float = 30.0
    keepalive_timeout: float = 10.0
    min_ping_interval: float = 10.0
    max_connection_age: float | None = None
    """Rebalances proxies across replicas by closing connections this old."""
    ordering_timeout: float = ORDERING_TIMEOUT
    """How long a route or listener update waits for the clusters it uses."""
    extra: tuple[tuple[str, int | str], ...] = ()

    def grpc_options(self) -> list[tuple[str, int | str]]:
        options: list[tuple[str, int | str]] = [
            ("grpc.max_receive_message_length", self.max_receive_message_length),
            ("grpc.max_send_message_length", self.max_send_message_length),
            ("grpc.keepalive_time_ms", int(self.keepalive_time * 1000)),
            ("grpc.keepalive_timeout_ms", int(self.keepalive_timeout * 1000)),
            ("grpc.http2.min_ping_interval_without_data_ms", int(self.min_ping_interval * 1000)),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.so_reuseport", 0),
        ]
        if self.max_concurrent_streams is not None:
            options.append(("grpc.max_concurrent_streams", self.max_concurrent_streams))
        if self.max_connection_age is not None:
            options.append(("grpc.max_connection_age_ms", int(self.max_connection_age * 1000)))
        options.extend(self.extra)
        return options


__all__ = ["MAX_RECEIVE_MESSAGE_LENGTH", "ORDERING_TIMEOUT", "XdsServerOptions"]
