"""Serve the dashboard on the master's loop (``--webui-port``)."""

from __future__ import annotations

import os

from mesospy.http import HttpServer, Limits, tls_context
from mesospy.master.master import Master
from mesospy.master.operator_api import OperatorService
from mesospy.security.guard import Guard
from mesospy.security.tls import TLSError
from mesospy.webui.app import HEADERS, Dashboard, json_error
from mesospy.webui.operator import OperatorDoor
from mesospy.webui.sessions import Sessions

# Browsers send small forms and JSON: the dashboard takes no more.
LIMITS = Limits(max_head=16 * 1024, max_body=64 * 1024, idle_timeout=60.0)


class WebUIPortError(RuntimeError):
    """The dashboard's port cannot be listened on."""


class DashboardServer:
    """The dashboard's HTTP server and the chart samples taken for it."""

    def __init__(self, http: HttpServer, dashboard: Dashboard) -> None:
        self.http = http
        self.dashboard = dashboard

    async def stop(self) -> None:
        await self.dashboard.history.stop()
        await self.http.stop()
        await self.dashboard.frameworks.close()


async def serve_webui(
    master: Master, service: OperatorService, guard: Guard, ip: str, port: int
) -> DashboardServer:
    """Start the dashboard's HTTP server; its URL goes into the master's MasterInfo, so
    standby masters can send browsers to the leader's."""
    try:
        # HTTPS with the master's own certificate when it has one. As on the gRPC port,
        # only a required client certificate (of the CA) names the caller, so a browser
        # with one needs no login.
        context = tls_context(master.config.tls, verify_offered_certs=False)
    except TLSError as exc:
        raise WebUIPortError(f"cannot serve the dashboard: {exc}") from exc
    dashboard = Dashboard(master, OperatorDoor(service, guard), Sessions(context is not None))
    server = HttpServer(dashboard.handle, LIMITS, context, headers=HEADERS, error=json_error)
    try:
        bound = await server.start(ip, port)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)  # "Address already in use"
        raise WebUIPortError(f"cannot serve the dashboard on {ip}:{port}: {reason}") from exc
    host = master.info.hostname if ip in ("0.0.0.0", "::", "") else ip
    scheme = "https" if context is not None else "http"
    master.info.webui_url = f"{scheme}://{host}:{bound}"
    dashboard.history.start()
    return DashboardServer(server, dashboard)
