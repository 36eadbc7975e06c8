"""The gRPC ecosystem's standard services, on every mesospy server.

``add_standard_services`` puts server reflection (``grpc.reflection.v1alpha``, what
``grpcurl list/describe`` uses) and the standard health service (``grpc.health.v1``, what
load balancers and ``grpc_health_probe`` use) on a server; the master, the agent and the
frameworks' API servers all call it, each saying which of its services health reports on.

Health answers for these service names:

- ``""`` (the whole server) and each of the server's own services (``mesospy.v1.Operator``
  ...): SERVING while the server does its work (a master: while it leads), else
  NOT_SERVING;
- ``mesospy.alive``: SERVING while the process runs, whatever its role, so a probe can tell
  a live standby master from a dead one.

Once the server stops, every name is NOT_SERVING for good.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from grpc_reflection.v1alpha import reflection

__all__ = ["ALIVE", "HEALTH_SERVICE", "REFLECTION_SERVICE", "ServerHealth", "add_standard_services"]

ALIVE = "mesospy.alive"
HEALTH_SERVICE: str = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
REFLECTION_SERVICE: str = reflection.SERVICE_NAME

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class ServerHealth:
    """The health statuses of one server: its own services follow ``set_serving``,
    ``mesospy.alive`` stays SERVING until ``shutdown``."""

    def __init__(self, servicer: Any, services: Iterable[str]) -> None:
        self._servicer = servicer
        self.services = ("", *services)
        self.serving = False

    async def set_serving(self, serving: bool) -> None:
        """SERVING (or NOT_SERVING) for the whole server and each of its services."""
        self.serving = serving
        for name in self.services:
            await self._servicer.set(name, _SERVING if serving else _NOT_SERVING)

    async def shutdown(self) -> None:
        """NOT_SERVING for every name, ``mesospy.alive`` too, for good (the server stops)."""
        self.serving = False
        await self._servicer.enter_graceful_shutdown()


async def add_standard_services(
    server: grpc.aio.Server, services: Iterable[str], serving: bool
) -> ServerHealth:
    """Add reflection (listing ``services`` and the two standard ones) and health to
    ``server``; its services start SERVING or not as ``serving`` says."""
    services = tuple(services)
    servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    reflection.enable_server_reflection([*services, HEALTH_SERVICE, REFLECTION_SERVICE], server)
    statuses = ServerHealth(servicer, services)
    await servicer.set(ALIVE, _SERVING)
    await statuses.set_serving(serving)
    return statuses
