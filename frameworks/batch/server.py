"""``mesospy batch serve``: the batch framework's process (scheduler + gRPC API)."""

from __future__ import annotations

import asyncio
import getpass
import logging
import signal
from collections.abc import Sequence
from functools import partial

from frameworks.batch.api import BatchService
from frameworks.batch.metrics import batch_registry
from frameworks.batch.quota_waits import RoleQuota
from frameworks.batch.scheduler import RECONCILE_SECONDS, BatchScheduler
from frameworks.batch.v1 import batch_pb2, batch_pb2_grpc
from mesospy.client import OperatorClient, OperatorError
from mesospy.metrics_http import serve_registry
from mesospy.resources import Resources
from mesospy.scheduler import FrameworkRemoved, SchedulerDriver, open_store
from mesospy.security.serving import ApiSecurity, add_port, api_server
from mesospy.standard_services import add_standard_services
from mesospy.stopping import ExitDeadline
from mesospy.v1 import common_pb2

__all__ = ["FRAMEWORK_NAME", "framework_info", "serve"]

log = logging.getLogger("mesospy.batch")

FRAMEWORK_NAME = "mesospy-batch"
FAILOVER_TIMEOUT = 7 * 24 * 3600.0  # a week: tasks outlive a framework that is down that long
TICK_SECONDS = 0.25
QUOTA_POLL_SECONDS = 2.0  # how often roles' quota is read, for the waiting reasons


def framework_info(
    framework_id: str, endpoint: str, roles: Sequence[str] = ("*",)
) -> common_pb2.FrameworkInfo:
    """What the batch framework subscribes with."""
    Capability = common_pb2.FrameworkInfo.Capability
    return common_pb2.FrameworkInfo(
        id=framework_id,
        name=FRAMEWORK_NAME,
        roles=list(roles),
        user=getpass.getuser(),
        failover_timeout=FAILOVER_TIMEOUT,
        checkpoint=True,
        capabilities=[Capability.PARTITION_AWARE, Capability.TASK_KILLING_STATE],
        endpoint=endpoint,
    )


async def _tick(scheduler: BatchScheduler) -> None:
    while True:
        try:
            scheduler.tick()
            await scheduler.commit()
        except Exception:  # one bad tick must not stop the schedules
            log.exception("tick failed")
        await asyncio.sleep(TICK_SECONDS)


class _RoleReader:
    """Reads the roles' quota through the operator API (blocking: run it in a thread).
    The client is made again after a failed call, so a zk:// master is looked up again
    once the leader changes."""

    def __init__(self, master: str) -> None:
        self.master = master
        self.client: OperatorClient | None = None

    def read(self) -> dict[str, RoleQuota] | None:
        try:
            if self.client is None:
                self.client = OperatorClient(self.master, timeout=5.0)
            roles = self.client.get_roles().roles
        except OperatorError as exc:  # e.g. a failover under way: next time
            log.debug("quota not read: %s", exc)
            self.close()
            return None
        return {
            r.name: (dict(r.quota.limits), dict(Resources.from_proto(r.consumed).scalar_items()))
            for r in roles
            if r.quota.limits
        }

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


async def _watch_quota(master: str, scheduler: BatchScheduler) -> None:
    """Read the roles' quota limits now and then, for the reasons runs wait."""
    reader = _RoleReader(master)
    try:
        while True:
            quotas = await asyncio.to_thread(reader.read)
            if quotas is not None:
                scheduler.note_quota(quotas)
            await asyncio.sleep(QUOTA_POLL_SECONDS)
    finally:
        await asyncio.to_thread(reader.close)


async def serve(
    master: str,
    state: str,
    host: str,
    port: int,
    security: ApiSecurity | None = None,
    reconcile_seconds: float = RECONCILE_SECONDS,
    metrics_port: int = 0,
    roles: Sequence[str] = ("*",),
) -> int:
    """Run until SIGINT/SIGTERM (then disconnect, keeping tasks: failover).

    ``security``: TLS and authentication of the API (default: plain and open); raises
    ``ApiSecurityError`` when its files cannot be used. ``reconcile_seconds``: how often
    the running tasks are reconciled with the master (0: only on subscribing).
    ``metrics_port``: serve Prometheus metrics on ``host`` there (0: not at all); raises
    ``MetricsPortError`` when it cannot be listened on. ``roles``: the roles it subscribes
    with; each job runs in one of them (its ``role``, default ``*``)."""
    security = security or ApiSecurity()
    server = api_server(security, "the batch framework's API", [("grpc.so_reuseport", 0)])
    store = await asyncio.to_thread(open_store, state, master)
    scheduler = await asyncio.to_thread(
        partial(BatchScheduler, store, reconcile_interval=reconcile_seconds, roles=roles)
    )
    metrics = serve_registry(batch_registry(scheduler), host, metrics_port)
    # No SO_REUSEPORT (gRPC's default, see api_server above): a second server on a taken
    # port must fail, not silently take half of its connections.
    batch_pb2_grpc.add_BatchServicer_to_server(BatchService(scheduler), server)  # type: ignore[no-untyped-call]
    service_name = batch_pb2.DESCRIPTOR.services_by_name["Batch"].full_name
    health = await add_standard_services(server, [service_name], serving=True)
    bound = add_port(server, f"{host}:{port}", security)
    await server.start()
    endpoint = f"{host}:{bound}"
    log.info("batch API at %s; state in %s", endpoint, state)
    driver = SchedulerDriver(
        scheduler,
        framework_info(scheduler.framework_id, endpoint, scheduler.roles),
        master,
        implicit_acknowledgements=False,  # acknowledged once stored (BatchScheduler.flush)
    )
    scheduler.driver = driver
    loop = asyncio.get_running_loop()

    deadline = ExitDeadline()

    def stop() -> None:
        deadline.arm(f"did not stop within {deadline.seconds:g} s of a signal; exiting now")
        driver.stop(failover=True)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    ticker = asyncio.create_task(_tick(scheduler))
    quota_watch = asyncio.create_task(_watch_quota(master, scheduler))
    try:
        return await driver.run_async()
    except FrameworkRemoved as exc:
        # The master forgot us (torn down, or down longer than the failover timeout):
        # the next start subscribes afresh and relaunches what is still to run.
        store.forget_framework_id()
        log.error("the master removed the framework (%s); exiting", exc)
        return 1
    finally:
        ticker.cancel()
        quota_watch.cancel()
        await health.shutdown()
        await server.stop(1.0)
        if metrics is not None:
            metrics.shutdown()
            metrics.server_close()
        store.close()
