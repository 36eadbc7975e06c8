"""The master's HTTP API server: routes onto the operator and scheduler adapters."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from mesospy.http import HttpServer, Limits, Request, Response, tls_context
from mesospy.master.http_api.calls import CallFailed, Gate
from mesospy.master.http_api.endpoints import Endpoints
from mesospy.master.http_api.operator import OperatorHttp
from mesospy.master.http_api.scheduler import SchedulerHttp
from mesospy.master.master import Master
from mesospy.master.operator_api import OperatorService
from mesospy.master.services import SchedulerService
from mesospy.security.guard import Guard
from mesospy.security.tls import TLSConfig, TLSError

log = logging.getLogger(__name__)


class HttpPortError(RuntimeError):
    """The HTTP API's port cannot be listened on."""


class MasterHttp:
    """Routes requests to the adapters; every path is served by the gRPC servicers."""

    def __init__(
        self, master: Master, guard: Guard, operator: OperatorService, scheduler: SchedulerService
    ) -> None:
        gate = Gate(master, guard)
        self.gate = gate
        self.operator = OperatorHttp(gate, operator)
        self.scheduler = SchedulerHttp(gate, scheduler)
        endpoints = Endpoints(gate, operator)
        self.routes: dict[str, Callable[[Request], Awaitable[Response]]] = {
            "/api/v1": self.operator.handle,
            "/api/v1/": self.operator.handle,
            "/api/v1/scheduler": self.scheduler.handle,
            "/master/state": endpoints.state,
            "/master/state.json": endpoints.state,
            "/state": endpoints.state,
            "/state.json": endpoints.state,
            "/master/redirect": endpoints.redirect,
            "/redirect": endpoints.redirect,
            "/metrics/snapshot": endpoints.metrics,
            "/files/read": endpoints.read,
            "/files/read.json": endpoints.read,
            "/files/browse": endpoints.browse,
            "/files/browse.json": endpoints.browse,
            "/health": self._health,
            "/master/health": self._health,
        }

    async def _health(self, request: Request) -> Response:
        return Response(200, b"")

    async def handle(self, request: Request) -> Response:
        route = self.routes.get(request.path)
        if route is None:
            return Response.text(
                404,
                f"no such endpoint {request.path!r}; the APIs are /api/v1 and /api/v1/scheduler",
            )
        try:
            return await route(request)
        except CallFailed as exc:
            return self.gate.failure(exc, request)


async def serve_http(
    master: Master,
    guard: Guard,
    operator: OperatorService,
    scheduler: SchedulerService,
    ip: str,
    port: int,
    max_body: int,
    tls: TLSConfig | None = None,
) -> HttpServer:
    """Start the HTTP API on ``ip:port`` (port 0: a free one; see ``master.info.http_port``),
    with the master's TLS when it has one (then HTTPS, client certificates as on gRPC)."""
    app = MasterHttp(master, guard, operator, scheduler)
    try:
        context = tls_context(tls, verify_offered_certs=True)
    except TLSError as exc:
        raise HttpPortError(f"cannot serve the HTTP API: {exc}") from exc
    server = HttpServer(app.handle, Limits(max_body=max_body), context)
    try:
        bound = await server.start(ip, port)
    except OSError as exc:
        raise HttpPortError(f"cannot serve the HTTP API on {ip}:{port}: {exc.strerror}") from exc
    master.info.http_port = bound
    scheme = "http" if server.tls is None else "https"
    log.info("Mesos v1 HTTP API at %s://%s:%d/api/v1", scheme, ip, bound)
    return server
