"""Framework life cycle: subscribe, fail over, disconnect, time out, tear down."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING

from mesospy.master.errors import FailedPrecondition, InvalidArgument, NotFound
from mesospy.master.ownership import check_owner, claim_principal
from mesospy.master.state import FrameworkRecord
from mesospy.master.streams import FrameworkStream
from mesospy.master.validation import framework_info_problems
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import scheduler_pb2 as spb

if TYPE_CHECKING:
    from mesospy.master.master import Master

log = logging.getLogger(__name__)


class FrameworkHandler:
    """Handles framework subscriptions and removal for the master."""

    def __init__(self, master: Master) -> None:
        self.m = master
        self._next_id = 0

    # ---------------------------------------------------------------- recovery

    def recover(self, recovered: list[tuple[pb.FrameworkInfo, float | None]]) -> None:
        """Re-create frameworks from the registry; each must re-subscribe in time."""
        now = self.m.now()
        for info, disconnected_time in recovered:
            record = FrameworkRecord(info=info, registered_time=now)
            if self.m.config.authenticate_frameworks and info.principal:
                record.owner = info.principal  # it authenticated when it subscribed
            # A framework connected to the old master lost its connection when that
            # master went away; its failover clock starts then, not now (MESOS-4659).
            record.disconnected_time = disconnected_time or self.m.start_time
            self.m.state.frameworks[info.id] = record
            self.m.allocator.add_framework(info.id, record.roles, active=False)
            self._start_failover_timer(record)

    # ---------------------------------------------------------------- subscribe

    def _new_id(self) -> str:
        self._next_id += 1
        return f"{self.m.id}-{self._next_id:04d}"

    async def subscribe(self, call: spb.Call) -> FrameworkRecord:
        """SUBSCRIBE: register a new framework or fail over an existing one."""
        info = pb.FrameworkInfo()
        info.CopyFrom(call.subscribe.framework_info)
        if problems := framework_info_problems(info):
            raise InvalidArgument("; ".join(problems))
        if call.framework_id and info.id and call.framework_id != info.id:
            raise InvalidArgument(
                f"framework_id {call.framework_id!r} differs from framework_info.id {info.id!r}"
            )
        info.id = info.id or call.framework_id
        principal = claim_principal(info)
        if info.id in self.m.state.removed_frameworks:
            raise FailedPrecondition(
                f"framework {info.id!r} was removed (torn down, or away longer than its "
                "failover_timeout); subscribe without an id to register anew"
            )
        record = self.m.state.frameworks.get(info.id) if info.id else None
        added = record is None
        if record is None:
            info.id = info.id or self._new_id()
            record = FrameworkRecord(info=info, registered_time=self.m.now())
            self.m.state.frameworks[info.id] = record
            self.m.allocator.add_framework(info.id, record.roles, active=False)
        else:
            check_owner("framework", record.id, record.owner)
            self._fail_over(record, info)
        record.owner = principal if principal is not None else record.owner
        await self.m.registry.add_framework(info)
        record.stream = FrameworkStream(self.m.config.framework_heartbeat_interval)
        record.stream_id = uuid.uuid4().hex
        record.disconnected_time = None
        self.m.allocator.activate_framework(info.id)
        if call.subscribe.suppressed_roles:
            self.m.allocator.suppress(info.id, list(call.subscribe.suppressed_roles))
        event = spb.Event(type=spb.Event.SUBSCRIBED)
        event.subscribed.framework_id = info.id
        event.subscribed.heartbeat_interval_seconds = self.m.config.framework_heartbeat_interval
        event.subscribed.master_info.CopyFrom(self.m.info)
        event.subscribed.stream_id = record.stream_id
        record.stream.send(event)
        if added:
            self.m.events.framework_added(record)
        else:
            self.m.events.framework_updated(record)
        self.m.tasks.resend_unacknowledged(record)
        self.m.request_allocation()
        log.info("framework %s (%s) subscribed", info.id, info.name)
        return record

    def _fail_over(self, record: FrameworkRecord, info: pb.FrameworkInfo) -> None:
        """A framework re-subscribes: the new connection replaces the old one."""
        if record.failover_timer is not None:
            record.failover_timer.cancel()
            record.failover_timer = None
        if record.stream is not None:
            error = spb.Event(type=spb.Event.ERROR)
            error.error.message = "framework failed over: a newer subscription replaced this one"
            record.stream.close(error)
            record.stream = None
        for offer in self.m.offers.of_framework(record.id):
            self.m.rescind(offer, notify=False)
        if list(info.roles) != list(record.info.roles):
            self.m.allocator.update_framework_roles(info.id, list(info.roles) or ["*"])
        record.info = info

    async def update(self, record: FrameworkRecord, call: spb.Call) -> None:
        """UPDATE_FRAMEWORK: new roles, capabilities, failover_timeout (and labels, web UI,
        hostname, endpoint) without subscribing again; name, user, principal and
        checkpoint stay. A bad update changes nothing."""
        info = pb.FrameworkInfo()
        info.CopyFrom(call.update_framework.framework_info)
        if problems := framework_info_problems(info):
            raise InvalidArgument("; ".join(problems))
        if info.id != record.id:
            raise InvalidArgument(
                f"update_framework.framework_info.id {info.id!r} is not the calling "
                f"framework's id {record.id!r}"
            )
        for name in ("name", "user", "principal", "checkpoint"):
            if getattr(info, name) != getattr(record.info, name):
                raise InvalidArgument(
                    f"framework_info.{name} cannot change with UPDATE_FRAMEWORK "
                    f"({getattr(record.info, name)!r} -> {getattr(info, name)!r})"
                )
        roles = list(info.roles) or ["*"]
        suppressed = list(call.update_framework.suppressed_roles)
        if unknown := sorted(set(suppressed) - set(roles)):
            raise InvalidArgument(f"suppressed_roles {unknown} are not among the roles {roles}")
        await self.m.registry.add_framework(info)
        old_roles = record.roles
        record.info = info
        if roles != old_roles:
            for offer in self.m.offers.of_framework(record.id):
                self.m.rescind(offer)
            self.m.allocator.update_framework_roles(info.id, roles)
        if suppressed:
            self.m.allocator.suppress(info.id, suppressed)
        if record.failover_timer is not None:  # (not while connected; kept for symmetry)
            record.failover_timer.cancel()
            self._start_failover_timer(record)
        self.m.events.framework_updated(record)
        self.m.request_allocation()
        log.info("framework %s updated (roles %s)", info.id, roles)

    def require_connected(self, call: spb.Call) -> FrameworkRecord:
        """The framework a call comes from, if it is subscribed on this stream."""
        if not call.framework_id:
            raise InvalidArgument("call has no framework_id; SUBSCRIBE first")
        record = self.m.state.frameworks.get(call.framework_id)
        if record is None:
            raise NotFound(f"framework {call.framework_id!r} is not subscribed; SUBSCRIBE first")
        check_owner("framework", record.id, record.owner)
        if record.stream is None:
            raise FailedPrecondition(
                f"framework {call.framework_id!r} is disconnected; SUBSCRIBE again with its id"
            )
        if call.stream_id != record.stream_id:
            raise FailedPrecondition(
                f"stream_id {call.stream_id!r} is not framework {call.framework_id!r}'s current "
                "subscription (another instance may have subscribed since)"
            )
        return record

    # ---------------------------------------------------------------- disconnect

    def disconnected(self, record: FrameworkRecord, stream: FrameworkStream) -> None:
        """The framework's event stream ended; keep it for its failover_timeout."""
        if record.stream is not stream or self.m.state.frameworks.get(record.id) is not record:
            return  # already replaced by a newer subscription, or removed
        stream.close()
        record.stream = None
        record.disconnected_time = self.m.now()
        self.m.allocator.deactivate_framework(record.id)
        for offer in self.m.offers.of_framework(record.id):
            self.m.rescind(offer, notify=False)
        log.info("framework %s disconnected", record.id)
        self.m.spawn(
            self.m.registry.mark_framework_disconnected(record.id, record.disconnected_time)
        )
        self._start_failover_timer(record)
        self.m.events.framework_updated(record)

    def _start_failover_timer(self, record: FrameworkRecord) -> None:
        away = self.m.now() - (record.disconnected_time or self.m.now())
        delay = max(0.0, record.info.failover_timeout - away)
        loop = asyncio.get_running_loop()
        record.failover_timer = loop.call_later(delay, self._failover_timed_out, record)

    def _failover_timed_out(self, record: FrameworkRecord) -> None:
        record.failover_timer = None
        if record.stream is None and self.m.state.frameworks.get(record.id) is record:
            log.info("framework %s did not come back within its failover_timeout", record.id)
            self.m.spawn(self.remove(record, "failover timeout passed"))

    # ---------------------------------------------------------------- removal

    async def remove(self, record: FrameworkRecord, why: str) -> None:
        """Tear a framework down: kill its tasks, drop its offers, forget it."""
        if self.m.state.frameworks.pop(record.id, None) is None:
            return
        self.m.events.framework_removed(record.id, why)
        self.m.state.removed_frameworks.add(record.id)
        if record.failover_timer is not None:
            record.failover_timer.cancel()
        for offer in self.m.offers.of_framework(record.id):
            self.m.offers.remove(offer.id)
        agents = set()
        for task in [*record.tasks.values(), *record.unreachable_tasks.values()]:
            status = self.m.master_status(
                task.task_id,
                task.agent_id,
                record.id,
                pb.TASK_KILLED,
                pb.TaskStatus.REASON_FRAMEWORK_REMOVED,
                f"framework removed: {why}",
            )
            self.m.tasks.finish(task, status, notify=False)
            agents.add(task.agent_id)
        self.m.allocator.remove_framework(record.id)
        if record.stream is not None:
            error = spb.Event(type=spb.Event.ERROR)
            error.error.message = f"framework {record.id} removed: {why}"
            record.stream.close(error)
            record.stream = None
        for agent_id in agents:
            if agent := self.m.state.agents.get(agent_id):
                await agent.link.shutdown_framework(record.id)
        await self.m.registry.remove_framework(record.id)
        self.m.request_allocation()
        log.info("framework %s removed: %s", record.id, why)

    async def teardown(self, record: FrameworkRecord) -> None:
        await self.remove(record, "torn down by the framework")
