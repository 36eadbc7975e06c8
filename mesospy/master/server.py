"""Run a master: the gRPC server around the ``Master`` core."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable

import grpc

from mesospy.master.config import MasterConfig
from mesospy.master.guard import GuardConfigError, build_guard
from mesospy.master.http_api.app import HttpPortError, serve_http
from mesospy.master.leadership import lead_when_elected
from mesospy.master.master import Master
from mesospy.master.metrics import MetricsPortError, serve_metrics
from mesospy.master.operator_api import OperatorService
from mesospy.master.registry import LocalRegistry
from mesospy.master.services import AgentRegistryService, SchedulerService
from mesospy.security.guard import GuardInterceptor
from mesospy.standard_services import ServerHealth, add_standard_services
from mesospy.v1 import agent_pb2, operator_pb2, scheduler_pb2
from mesospy.v1 import agent_pb2_grpc as apb_grpc
from mesospy.v1 import operator_pb2_grpc as opb_grpc
from mesospy.v1 import scheduler_pb2_grpc as spb_grpc
from mesospy.webui.server import WebUIPortError, serve_webui

log = logging.getLogger(__name__)

SERVER_OPTIONS = [
    # Without this, gRPC binds with SO_REUSEPORT and a second master on the same port
    # would silently share the traffic instead of failing.
    ("grpc.so_reuseport", 0),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    # Frameworks and agents keep long streams open; let their keepalive pings through.
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.http2.max_pings_without_data", 0),
    # Calls that have arrived but wait for the loop to take them. Past 1,000 (gRPC's
    # default) gRPC cancels new ones at random, answering a bare CANCELLED: a launch wave
    # of 100 frameworks and thousands of agents' updates exceeded that, and cancelled
    # ACCEPTs left their offers held. Unbounded, an overloaded master queues for tens of
    # seconds and every caller's retries pile on (agents resend unacknowledged updates).
    # 5,000 waiting calls are ~2-3 s of work: the queue absorbs bursts and sheds overload.
    ("grpc.server.max_pending_requests", 5_000),
    ("grpc.server.max_pending_requests_hard_limit", 10_000),
]


# What the master serves; health reports them SERVING only while this master leads.
SERVICES = (
    scheduler_pb2.DESCRIPTOR.services_by_name["Scheduler"].full_name,
    agent_pb2.DESCRIPTOR.services_by_name["AgentRegistry"].full_name,
    operator_pb2.DESCRIPTOR.services_by_name["Operator"].full_name,
)


# The master holds hundreds of thousands of long-lived objects (agents, tasks, offers).
# With CPython's default thresholds (700, 10, 10) the burst of allocations of a failover
# (10,000 agents re-registering with 100,000 tasks) runs dozens of full collections over
# all of them: measured at 3,000 agents / 30,000 tasks, 3.4 s of a master's CPU went to
# generation-2 passes. The master makes few reference cycles (reference counting frees the
# rest at once), so it collects far less often.
GC_THRESHOLDS = (50_000, 20, 100)


class MasterStartError(RuntimeError):
    """The master could not start (e.g. its port is taken)."""


async def run_master(
    config: MasterConfig, on_ready: Callable[[Master], None] | None = None
) -> None:
    """Serve a master until cancelled."""
    gc.set_threshold(*GC_THRESHOLDS)
    # With ZooKeeper the registry is chosen once elected (it is fenced by the election).
    master = Master(config, LocalRegistry(config.work_dir))
    try:
        guard = build_guard(config, master)
    except GuardConfigError as exc:
        raise MasterStartError(str(exc)) from exc
    size = [
        ("grpc.max_receive_message_length", config.max_message_size),
    ]
    server = grpc.aio.server(
        options=[*SERVER_OPTIONS, *size],
        interceptors=[master.metrics.calls, GuardInterceptor(guard)],
    )
    scheduler, operator = SchedulerService(master), OperatorService(master)
    spb_grpc.add_SchedulerServicer_to_server(scheduler, server)  # type: ignore[no-untyped-call]
    apb_grpc.add_AgentRegistryServicer_to_server(AgentRegistryService(master), server)  # type: ignore[no-untyped-call]
    opb_grpc.add_OperatorServicer_to_server(operator, server)  # type: ignore[no-untyped-call]
    health = await add_standard_services(server, SERVICES, serving=False)
    address = f"{config.ip}:{config.port}"
    try:
        if config.tls is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, config.tls.server_credentials())
    except RuntimeError as exc:
        raise MasterStartError(f"cannot listen on {address}: {exc}") from exc
    if port == 0:
        raise MasterStartError(f"cannot listen on {address}: the port is in use or not allowed")
    master.bind(config.ip, port)
    try:
        metrics_server = serve_metrics(master, config.ip, config.metrics_port)
    except MetricsPortError as exc:
        raise MasterStartError(str(exc)) from exc
    http_server = None
    if config.http_port:  # Mesos's v1 HTTP APIs: the same servicers behind another door
        try:
            http_server = await serve_http(
                master,
                guard,
                operator,
                scheduler,
                config.ip,
                config.http_port,
                config.max_message_size,
                config.tls,
            )
        except HttpPortError as exc:
            if metrics_server is not None:
                metrics_server.shutdown()
            raise MasterStartError(str(exc)) from exc
    webui = None
    if config.webui_port:
        try:
            webui = await serve_webui(master, operator, guard, config.ip, config.webui_port)
        except WebUIPortError as exc:
            if http_server is not None:
                await http_server.stop()
            if metrics_server is not None:
                metrics_server.shutdown()
            raise MasterStartError(str(exc)) from exc
        log.info("dashboard at %s", master.info.webui_url)
    await server.start()
    log.info("master %s listening on %s:%d", master.id, config.ip, port)
    serving = asyncio.get_running_loop().create_task(_serve_while_leading(master, health))
    try:
        if config.zk is None:
            await master.start()
            if on_ready is not None:
                on_ready(master)
            await server.wait_for_termination()
        else:
            await lead_when_elected(master, config, on_ready)
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await health.shutdown()
        if http_server is not None:
            await http_server.stop()
        if webui is not None:
            await webui.stop()
        await server.stop(grace=1.0)
        if metrics_server is not None:
            metrics_server.shutdown()
        await master.stop()


async def _serve_while_leading(master: Master, health: ServerHealth) -> None:
    """Health says SERVING once this master leads (it exits when deposed)."""
    await master.led.wait()
    await health.set_serving(True)
