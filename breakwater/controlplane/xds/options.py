"""Settings of the xDS port, apart from the server so that reading them needs no gRPC."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class XdsServerOptions:
    """gRPC server settings; times in seconds, sizes in bytes."""

    max_receive_message_length: int = 4 * 1024 * 1024
    max_send_message_length: int = 64 * 1024 * 1024
    max_concurrent_streams: int | None = None
    keepalive_time: float = 30.0
    keepalive_timeout: float = 10.0
    min_ping_interval: float = 10.0
    max_connection_age: float | None = None
    """Rebalances proxies across replicas by closing connections this old."""
    ordering_timeout: float = 5.0
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


__all__ = ["XdsServerOptions"]
