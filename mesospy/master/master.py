"""The master: state, the allocator, offers, and the event paths to frameworks.

Frameworks, agents and tasks each have a handler class (``frameworks.py``, ``agents.py``,
``tasks.py``) that changes this shared core; the gRPC services only translate.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from mesospy import __version__
from mesospy.allocator import Allocator
from mesospy.master.agents import AgentHandler
from mesospy.master.config import MasterConfig
from mesospy.master.errors import NotLeader
from mesospy.master.events import EventBus
from mesospy.master.executors import ExecutorHandler
from mesospy.master.frameworks import FrameworkHandler
from mesospy.master.maintenance import MaintenanceHandler
from mesospy.master.metrics import MasterMetrics
from mesospy.master.offers import OfferBook, OfferRecord
from mesospy.master.quota import QuotaHandler
from mesospy.master.reservations import ReservationHandler
from mesospy.master.state import FrameworkRecord, MasterState
from mesospy.master.tasks import TaskHandler
from mesospy.registry_api import Registry
from mesospy.resources import Resources
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import scheduler_pb2 as spb
from mesospy.wakeup import wait_event

log = logging.getLogger(__name__)

# After a change that frees resources, wait this long for more before allocating, so a
# burst of finished tasks becomes one allocation cycle instead of hundreds.
ALLOCATION_BATCH_DELAY = 0.005


class Master:
    """The leading master's core."""

    def __init__(self, config: MasterConfig, registry: Registry) -> None:
        self.config = config
        self.registry = registry
        self.id = uuid.uuid4().hex[:12]
        self.info = pb.MasterInfo(id=self.id, version=__version__)
        self.state = MasterState()
        self.state.completed_tasks = type(self.state.completed_tasks)(
            maxlen=config.max_completed_tasks
        )
        self.allocator = Allocator()
        self.offers = OfferBook(self.id)
        self.frameworks = FrameworkHandler(self)
        self.agents = AgentHandler(self)
        self.tasks = TaskHandler(self)
        self.executors = ExecutorHandler(self)
        self.maintenance = MaintenanceHandler(self)
        self.quota = QuotaHandler(self)
        self.reservations = ReservationHandler(self)
        self.events = EventBus(self)  # operator event streams (Subscribe)
        self.metrics = MasterMetrics(self)
        self.metrics.instrument_registry(registry)
        self.start_time = time.time()
        # True once start() has recovered the registry: standalone at once, with
        # ZooKeeper once elected.
        self.leading = False
        self.led = asyncio.Event()  # set with ``leading``
        self.leader_address: Callable[[], str | None] = lambda: None
        # The leading master's MasterInfo as it wrote it (with ZooKeeper), kept current by
        # the leadership follower: for the HTTP API's and the dashboard's redirects.
        self.leader_info: pb.MasterInfo | None = None
        self._allocation_wanted = asyncio.Event()
        self._background: list[asyncio.Task[None]] = []
        self._spawned: set[asyncio.Task[None]] = set()

    # ---------------------------------------------------------------- life cycle

    def bind(self, ip: str, port: int) -> None:
        """Fill in MasterInfo once the server's port is known."""
        hostname = self.config.hostname or socket.gethostname()
        self.info.ip, self.info.port, self.info.hostname = ip, port, hostname
        self.info.address.CopyFrom(pb.Address(hostname=hostname, ip=ip, port=port))
        self.info.pid = f"master@{ip}:{port}"

    def starting(self) -> bool:
        """Elected (or standalone) but still recovering its state: about to lead."""
        if self.leading:
            return False
        leader = self.leader_address()
        return leader == f"{self.info.ip}:{self.info.port}" or (
            leader is None and self.config.zk is None
        )

    def require_leader(self) -> None:
        """Refuse work unless this master leads; name the leader so clients follow."""
        if not self.leading:
            if self.starting():
                raise NotLeader(
                    "this master is starting: it is recovering its state; retry shortly"
                )
            leader = self.leader_address()
            raise NotLeader(
                f"this master is not the leader; leader={leader}"
                if leader
                else "this master is not the leader and no leader is elected yet"
            )

    def use_registry(self, registry: Registry) -> None:
        """Switch to the registry this master may write now that it leads."""
        self.registry = registry
        self.metrics.instrument_registry(registry)

    async def start(self) -> None:
        """Become the acting master: recover the registry and start allocating.

        Calls are refused until recovery is complete: a framework subscribing in the middle
        of it would race the recovered state.
        """
        started = time.monotonic()
        await asyncio.to_thread(self.registry.load)
        loaded = time.monotonic()
        self.allocator.update_weights(self.registry.weights())
        self.quota.recover(self.registry.quota())
        self.frameworks.recover(self.registry.frameworks())
        self.agents.recover(
            self.registry.agents("admitted"),
            self.registry.agents("unreachable"),
            self.registry.agents("gone"),
        )
        self.maintenance.recover(self.registry.maintenance())
        loop = asyncio.get_running_loop()
        self._background = [
            loop.create_task(self._allocation_loop(), name="allocation"),
            loop.create_task(self.agents.health_loop(), name="agent-health"),
        ]
        self.leading = True
        self.led.set()
        log.info(
            "recovered the registry (%d agents, %d frameworks) in %.2f s, read in %.2f s",
            len(self.agents.recovering),
            len(self.state.frameworks),
            time.monotonic() - started,
            loaded - started,
        )

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
        for framework in self.state.frameworks.values():
            if framework.stream is not None:
                framework.stream.close()
        for agent in self.state.agents.values():
            await agent.link.close()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background. The loop keeps only weak references to tasks, so
        an unreferenced one can be collected before it finishes: keep them here."""
        task = asyncio.get_running_loop().create_task(work)
        self._spawned.add(task)
        task.add_done_callback(self._spawn_done)

    def _spawn_done(self, task: asyncio.Task[None]) -> None:
        self._spawned.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background work failed", exc_info=task.exception())

    @staticmethod
    def now() -> float:
        return time.time()

    # ---------------------------------------------------------------- events to frameworks

    def send_update(self, framework: FrameworkRecord, status: pb.TaskStatus) -> None:
        if framework.stream is not None:
            event = spb.Event(type=spb.Event.UPDATE)
            event.update.status.CopyFrom(status)
            framework.stream.send(event)

    def master_status(
        self,
        task_id: str,
        agent_id: str,
        framework_id: str,
        state: int,
        reason: int,
        message: str,
    ) -> pb.TaskStatus:
        """A status the master makes up itself (no uuid: it needs no acknowledgement)."""
        return pb.TaskStatus(
            task_id=task_id,
            agent_id=agent_id,
            framework_id=framework_id,
            state=state,  # type: ignore[arg-type]
            reason=reason,  # type: ignore[arg-type]
            message=message,
            source=pb.TaskStatus.SOURCE_MASTER,
            timestamp=self.now(),
        )

    # ---------------------------------------------------------------- resources and offers

    def recover(
        self,
        framework_id: str,
        agent_id: str,
        role: str,
        resources: Resources,
        refuse_seconds: float | None = None,
    ) -> None:
        """Give resources back to the allocator, optionally filtered for the framework."""
        if resources.is_empty() or agent_id not in self.state.agents:
            return
        if framework_id not in self.state.frameworks:
            return
        self.allocator.recover_resources(
            framework_id,
            agent_id,
            role,
            resources,
            refuse_seconds=refuse_seconds,
            now=time.monotonic(),
        )
        self.request_allocation()

    def rescind(self, record: OfferRecord, notify: bool = True) -> None:
        """Take an offer back and return its resources to the pool."""
        if self.offers.remove(record.id) is None:
            return
        self.recover(record.framework_id, record.agent_id, record.role, record.resources)
        framework = self.state.frameworks.get(record.framework_id)
        if notify and framework is not None and framework.stream is not None:
            event = spb.Event(type=spb.Event.RESCIND)
            event.rescind.offer_id = record.id
            framework.stream.send(event)

    def request_allocation(self) -> None:
        self._allocation_wanted.set()

    async def _allocation_loop(self) -> None:
        interval = self.config.allocation_interval
        while True:
            await wait_event(self._allocation_wanted, interval)
            self._allocation_wanted.clear()
            try:
                with self.metrics.allocation_seconds.time():
                    self.allocate()
            except Exception:  # a bug here must not stop all future allocation
                log.exception("allocation failed")
            await asyncio.sleep(ALLOCATION_BATCH_DELAY)

    def allocate(self) -> None:
        """Run one allocation cycle and send the resulting offers."""
        allocations = self.allocator.allocate(time.monotonic())
        by_framework: dict[str, list[pb.Offer]] = {}
        loop = asyncio.get_running_loop()
        for allocation in allocations:
            agent = self.state.agents[allocation.agent_id]
            offer = pb.Offer(
                id=self.offers.new_id(),
                framework_id=allocation.framework_id,
                agent_id=allocation.agent_id,
                hostname=agent.info.hostname,
                resources=allocation.resources.to_proto(),
                attributes=agent.info.attributes,
                role=allocation.role,
            )
            record = OfferRecord(offer, allocation.resources)
            if self.config.offer_timeout > 0:
                record.timer = loop.call_later(
                    self.config.offer_timeout, self._offer_expired, record
                )
            self.offers.add(record)
            by_framework.setdefault(allocation.framework_id, []).append(offer)
        for framework_id, offers in by_framework.items():
            framework = self.state.frameworks[framework_id]
            if framework.stream is None:  # raced with a disconnect
                for offer in offers:
                    if record_ := self.offers.get(offer.id):
                        self.rescind(record_, notify=False)
                continue
            event = spb.Event(type=spb.Event.OFFERS)
            event.offers.offers.extend(offers)
            framework.stream.send(event)

    def _offer_expired(self, record: OfferRecord) -> None:
        record.timer = None
        self.rescind(record)
