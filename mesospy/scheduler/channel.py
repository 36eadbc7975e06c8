"""The gRPC channel the driver talks to the master over."""

from __future__ import annotations

import grpc

from mesospy.security.channels import ClientSecurity, aio_channel

__all__ = ["CHANNEL_OPTIONS", "open_channel"]

CHANNEL_OPTIONS: list[tuple[str, int]] = [
    # Talk only to the address given: an HTTP proxy from the environment must not
    # intercept cluster traffic.
    ("grpc.enable_http_proxy", 0),
    # Ping a quiet connection so a master that vanished without closing it (host down,
    # cable cut) is noticed. 30 s stays above the server's default ping-abuse threshold
    # because the master's heartbeats put data on the stream between pings.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    # Offer batches from a big cluster can be large.
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    # Reconnection pacing is the driver's job (jittered backoff); keep gRPC's own short.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


def open_channel(address: str, security: ClientSecurity | None = None) -> grpc.aio.Channel:
    """A channel to the master at ``host:port``: TLS and credentials as ``security`` says
    (default: the MESOSPY_TLS_* and MESOSPY_PRINCIPAL/SECRET environment variables)."""
    return aio_channel(address, CHANNEL_OPTIONS, security)
