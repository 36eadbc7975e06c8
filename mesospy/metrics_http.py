"""Serving a Prometheus ``CollectorRegistry`` over HTTP: shared by master and agent.

Each daemon has its own registry (not prometheus-client's global one), so several of them
in one process (tests) do not clash; this serves one at ``http://IP:PORT/metrics`` from a
thread.
"""

from __future__ import annotations

import logging
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

log = logging.getLogger(__name__)


class MetricsPortError(RuntimeError):
    """The metrics port cannot be listened on."""


def serve_registry(registry: CollectorRegistry, ip: str, port: int) -> WSGIServer | None:
    """Serve ``registry`` over HTTP on ``ip:port`` in a thread (port 0: don't).

    Stop it with ``server.shutdown()``.
    """
    if not port:
        return None
    try:
        server, _thread = start_http_server(port, addr=ip, registry=registry)
    except OSError as exc:
        raise MetricsPortError(f"cannot serve metrics on {ip}:{port}: {exc.strerror}") from exc
    log.info("metrics at http://%s:%d/metrics", ip, port)
    return server
