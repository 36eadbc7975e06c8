"""Serve the dashboard on the master's loop (``--webui-port``)."""

from __future__ import annotations

import os
import ssl

from mesospy.master.master import Master
from mesospy.master.operator_api import OperatorService
from mesospy.security.guard import Guard
from mesospy.security.tls import TLSConfig
from mesospy.webui.app import Dashboard
from mesospy.webui.http import HTTPServer
from mesospy.webui.operator import OperatorDoor
from mesospy.webui.sessions import Sessions


class WebUIPortError(RuntimeError):
    """The dashboard's port cannot be listened on."""


def _ssl_context(tls: TLSConfig | None) -> ssl.SSLContext | None:
    """HTTPS with the master's own certificate when it has one."""
    if tls is None or tls.cert is None or tls.key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls.cert), str(tls.key))
    if tls.require_client_cert and tls.ca is not None:
        # As on the gRPC port: only a certificate of the CA gets in, and it names the
        # caller (so a browser with one needs no login).
        context.load_verify_locations(str(tls.ca))
        context.verify_mode = ssl.CERT_REQUIRED
    return context


async def serve_webui(
    master: Master, service: OperatorService, guard: Guard, ip: str, port: int
) -> HTTPServer:
    """Start the dashboard's HTTP server; its URL goes into the master's MasterInfo, so
    standby masters can send browsers to the leader's."""
    context = _ssl_context(master.config.tls)
    dashboard = Dashboard(master, OperatorDoor(service, guard), Sessions(context is not None))
    server = HTTPServer(dashboard.handle, context)
    try:
        bound = await server.start(ip, port)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)  # "Address already in use"
        raise WebUIPortError(f"cannot serve the dashboard on {ip}:{port}: {reason}") from exc
    host = master.info.hostname if ip in ("0.0.0.0", "::", "") else ip
    scheme = "https" if context is not None else "http"
    master.info.webui_url = f"{scheme}://{host}:{bound}"
    return server
