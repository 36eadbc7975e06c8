"""``mesospy service serve``: the scheduler, its gRPC API and the VIPs in one process.

The API address goes into ``FrameworkInfo.endpoint`` so clients find it through the
master. The framework id is stored and reused, with a week of failover timeout: a
restarted ``serve`` re-subscribes as the same framework and adopts the running instances.
Stopping (SIGTERM, Ctrl-C) only disconnects; the apps keep running.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import shlex
import sys

from frameworks.service import FRAMEWORK_NAME
from frameworks.service.api import AppService
from frameworks.service.marathon_api import LIMITS, MarathonApi, marathon_error
from frameworks.service.metrics import service_registry
from frameworks.service.scheduler import ServiceScheduler
from frameworks.service.store import Store
from frameworks.service.v1 import service_pb2, service_pb2_grpc
from frameworks.service.vip import VipManager
from mesospy.http import HttpServer, tls_context
from mesospy.metrics_http import serve_registry
from mesospy.scheduler import SchedulerDriver
from mesospy.security.serving import ApiSecurity, ApiSecurityError, add_port, api_server
from mesospy.security.tls import TLSError
from mesospy.standard_services import add_standard_services
from mesospy.v1 import common_pb2 as pb

log = logging.getLogger("frameworks.service")


FAILOVER_TIMEOUT = 7 * 24 * 3600.0
VIP_SYNC_SECONDS = 0.5


async def serve(
    master: str,
    state: str,
    port: int,
    host: str = "127.0.0.1",
    role: str = "*",
    vips_here: bool = True,
    drain_seconds: float = 0.0,
    security: ApiSecurity | None = None,
    vip_tasks: bool = False,
    metrics_port: int = 0,
    marathon_api_port: int | None = None,
) -> None:
    """Run until cancelled (VIP proxies in this process unless ``vips_here`` is False;
    with ``vip_tasks``, as a task on every agent host instead: see ``vip_proxy_command``).

    ``security``: TLS and authentication of the API (default: plain and open).
    ``metrics_port``: serve Prometheus metrics on ``host`` there (0: not at all).
    ``marathon_api_port``: serve Marathon's v2 REST API on ``host`` there (0: a free port;
    None: not at all), behind the same authentication as the gRPC API."""
    security = security or ApiSecurity()
    # No SO_REUSEPORT (gRPC's default): a second server on a taken port must fail, not
    # silently take half of its connections.
    server = api_server(security, "the service framework's API", [("grpc.so_reuseport", 0)])
    store = await asyncio.to_thread(Store.open, state, master)
    scheduler = ServiceScheduler(store, master)
    scheduler.role = role
    vips = VipManager(
        lambda app_id: [(i.hostname, i.ports[0]) for i in scheduler.endpoints(app_id)]
    )
    scheduler.connections = vips.connections
    scheduler.min_drain = drain_seconds
    if vip_tasks:
        vips_here = False
        scheduler.vip_proxy_command = vip_proxy_command(master)
    registry = service_registry(scheduler, vips if vips_here else None)
    metrics = serve_registry(registry, host, metrics_port)
    service_pb2_grpc.add_AppServiceServicer_to_server(AppService(scheduler), server)  # type: ignore[no-untyped-call]
    service_name = service_pb2.DESCRIPTOR.services_by_name["AppService"].full_name
    health = await add_standard_services(server, [service_name], serving=True)
    bound = add_port(server, f"{host}:{port}", security)
    await server.start()
    info = pb.FrameworkInfo(
        id=store.framework_id(),
        name=FRAMEWORK_NAME,
        user=getpass.getuser(),
        roles=[role],
        failover_timeout=FAILOVER_TIMEOUT,
        checkpoint=True,
        capabilities=[pb.FrameworkInfo.PARTITION_AWARE, pb.FrameworkInfo.TASK_KILLING_STATE],
        endpoint=f"{host}:{bound}",
    )
    log.info("service framework API on %s:%d (state in %s)", host, bound, state)
    marathon = await _marathon_api(scheduler, security, host, marathon_api_port)
    driver = SchedulerDriver(scheduler, info, master)
    scheduler.driver = driver
    background = [
        asyncio.ensure_future(scheduler.run()),
    ]
    if vips_here:
        background.append(asyncio.ensure_future(_sync_vips(scheduler, vips)))
    try:
        await driver.run_async()
    finally:
        driver.stop(failover=True)
        for job in background:
            job.cancel()
        for job in background:
            with contextlib.suppress(asyncio.CancelledError):
                await job
        await vips.close()
        if marathon is not None:
            await marathon.stop()
        await health.shutdown()
        await server.stop(1.0)
        if metrics is not None:
            metrics.shutdown()
            metrics.server_close()
        await asyncio.to_thread(scheduler.close)
        await asyncio.to_thread(store.close)


async def _marathon_api(
    scheduler: ServiceScheduler, security: ApiSecurity, host: str, port: int | None
) -> HttpServer | None:
    if port is None:
        return None
    authenticator = security.authenticator("the service framework's Marathon API")
    try:
        # The gRPC API's certificate; client certificates only when it requires them.
        tls = tls_context(security.tls, verify_offered_certs=False)
    except TLSError as exc:
        raise ApiSecurityError(f"cannot serve the Marathon API with TLS: {exc}") from exc
    address: list[str] = []
    api = MarathonApi(scheduler, authenticator, lambda: address[0])
    server = HttpServer(api.handle, LIMITS, tls, error=marathon_error)
    bound = await server.start(host, port)
    address.append(f"{host}:{bound}")
    scheme = "https" if tls is not None else "http"
    log.info("Marathon API on %s://%s:%d", scheme, host, bound)
    return server


def vip_proxy_command(master: str) -> str:
    """The VIP proxy task: ``python -m frameworks.service.vip`` with this Python (the agent
    hosts have mesospy installed where this host has it). It finds the framework's API
    through the master at every poll, so the command (and the running proxies) stay the
    same when the framework restarts on another address."""
    python = shlex.quote(sys.executable)
    return f"exec {python} -m frameworks.service.vip --master {shlex.quote(master)}"


async def _sync_vips(scheduler: ServiceScheduler, vips: VipManager) -> None:
    while True:
        wanted = {
            app.id: app.spec.vip
            for app in scheduler.apps.values()
            if app.spec.vip is not None and not app.deleting
        }
        await vips.sync(wanted)
        for app_id, message in vips.errors.items():
            notes = scheduler.notes.get(app_id, ())
            if message not in notes:
                scheduler.notes[app_id] = (*notes, f"vip: {message}")
        await asyncio.sleep(VIP_SYNC_SECONDS)
