"""Builders for scheduler API calls, and how queued calls are batched for sending.

The builders return ``Call`` messages without ``framework_id``/``stream_id``; the driver
fills those in when it sends. Use them with ``await driver.call(...)``::

    await driver.call(calls.kill("task-1", agent_id="a1"))
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mesospy.resources import Resources
from mesospy.v1 import common_pb2, scheduler_pb2

__all__ = [
    "Outgoing",
    "accept",
    "acknowledge",
    "create_volumes",
    "decline",
    "destroy_volumes",
    "kill",
    "launch",
    "launch_group",
    "launch_operation",
    "message",
    "plan_flush",
    "reconcile",
    "refuse",
    "request",
    "reserve",
    "revive",
    "shutdown",
    "suppress",
    "teardown",
    "unreserve",
    "update_framework",
]

Call = scheduler_pb2.Call
# One ACKNOWLEDGE carries at most this many acks, so a flood of updates is not one
# multi-megabyte message the master must swallow at once.
MAX_ACKS_PER_CALL = 2000
# Queued messages go in one MESSAGE call up to these limits (the master takes at most
# 4 MiB per message and 16 MiB per call).
MAX_MESSAGES_PER_CALL = 2000
MAX_MESSAGE_BYTES_PER_CALL = 8 * 1024 * 1024
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def refuse(refuse_seconds: float | None) -> common_pb2.Filters:
    """Filters that keep unused resources from being offered again for ``refuse_seconds``."""
    filters = common_pb2.Filters()
    if refuse_seconds is not None:
        filters.refuse_seconds = refuse_seconds
    return filters


def accept(
    offer_ids: Iterable[str],
    operations: Iterable[Call.Operation],
    filters: common_pb2.Filters | None = None,
) -> Call:
    """ACCEPT offers (all from one agent) with operations; ``filters`` apply to the rest."""
    call = Call(type=Call.ACCEPT)
    call.accept.offer_ids.extend(offer_ids)
    call.accept.operations.extend(operations)
    if filters is not None:
        call.accept.filters.CopyFrom(filters)
    return call


def launch(
    offer_ids: Iterable[str],
    tasks: Iterable[common_pb2.TaskInfo],
    filters: common_pb2.Filters | None = None,
) -> Call:
    """ACCEPT offers with one LAUNCH operation running ``tasks``."""
    operation = Call.Operation(type=Call.Operation.LAUNCH)
    operation.launch.task_infos.extend(tasks)
    return accept(offer_ids, [operation], filters)


def _wire(resources: Resources | Iterable[common_pb2.Resource]) -> list[common_pb2.Resource]:
    return resources.to_proto() if isinstance(resources, Resources) else list(resources)


def launch_operation(tasks: Iterable[common_pb2.TaskInfo]) -> Call.Operation:
    """A LAUNCH operation, to put after RESERVE or CREATE in one ``accept``."""
    operation = Call.Operation(type=Call.Operation.LAUNCH)
    operation.launch.task_infos.extend(tasks)
    return operation


def reserve(resources: Resources | Iterable[common_pb2.Resource]) -> Call.Operation:
    """RESERVE offered unreserved resources for a role; each needs one DYNAMIC
    reservation naming the framework's principal, e.g.
    ``Resources.parse("cpus:1;disk:64").reserve(Reservation("eng", "me", kind="DYNAMIC"))``."""
    operation = Call.Operation(type=Call.Operation.RESERVE)
    operation.reserve.resources.extend(_wire(resources))
    return operation


def unreserve(resources: Resources | Iterable[common_pb2.Resource]) -> Call.Operation:
    """UNRESERVE offered dynamically reserved resources (as offered, without volumes)."""
    operation = Call.Operation(type=Call.Operation.UNRESERVE)
    operation.unreserve.resources.extend(_wire(resources))
    return operation


def create_volumes(volumes: Resources | Iterable[common_pb2.Resource]) -> Call.Operation:
    """CREATE persistent volumes on offered reserved disk, e.g.
    ``reserved_disk.with_volume(Volume("db-1", "data", principal="me"))``."""
    operation = Call.Operation(type=Call.Operation.CREATE)
    operation.create.volumes.extend(_wire(volumes))
    return operation


def destroy_volumes(volumes: Resources | Iterable[common_pb2.Resource]) -> Call.Operation:
    """DESTROY offered persistent volumes (their data is deleted); the disk stays reserved."""
    operation = Call.Operation(type=Call.Operation.DESTROY)
    operation.destroy.volumes.extend(_wire(volumes))
    return operation


def launch_group(
    offer_ids: Iterable[str],
    executor: common_pb2.ExecutorInfo,
    tasks: Iterable[common_pb2.TaskInfo],
    filters: common_pb2.Filters | None = None,
) -> Call:
    """ACCEPT offers with one LAUNCH_GROUP: ``tasks`` start together in ``executor`` (all
    or none); with ``executor.type`` DEFAULT each task's command runs, and one failing
    kills the others."""
    operation = Call.Operation(type=Call.Operation.LAUNCH_GROUP)
    operation.launch_group.executor.CopyFrom(executor)
    operation.launch_group.task_group.tasks.extend(tasks)
    return accept(offer_ids, [operation], filters)


def decline(offer_ids: Iterable[str], refuse_seconds: float | None = None) -> Call:
    """DECLINE offers; their resources are not offered again for ``refuse_seconds``."""
    call = Call(type=Call.DECLINE)
    call.decline.offer_ids.extend(offer_ids)
    call.decline.filters.CopyFrom(refuse(refuse_seconds))
    return call


def revive(roles: Iterable[str] = ()) -> Call:
    """REVIVE offers for ``roles`` (all of the framework's roles when empty)."""
    call = Call(type=Call.REVIVE)
    call.revive.roles.extend(roles)
    return call


def suppress(roles: Iterable[str] = ()) -> Call:
    """SUPPRESS offers for ``roles`` (all of the framework's roles when empty)."""
    call = Call(type=Call.SUPPRESS)
    call.suppress.roles.extend(roles)
    return call


def kill(task_id: str, agent_id: str = "", grace_period: float | None = None) -> Call:
    """KILL a task; ``grace_period`` (seconds from SIGTERM to SIGKILL) overrides the task's."""
    call = Call(type=Call.KILL)
    call.kill.task_id = task_id
    call.kill.agent_id = agent_id
    if grace_period is not None:
        call.kill.kill_policy.grace_period_seconds = grace_period
    return call


def acknowledge(statuses: Iterable[common_pb2.TaskStatus]) -> Call:
    """ACKNOWLEDGE status updates (one call for many); updates without a uuid are skipped."""
    call = Call(type=Call.ACKNOWLEDGE)
    for status in statuses:
        if status.uuid:
            call.acknowledges.add(
                agent_id=status.agent_id, task_id=status.task_id, uuid=status.uuid
            )
    return call


def reconcile(tasks: Iterable[tuple[str, str]] = ()) -> Call:
    """RECONCILE ``(task_id, agent_id)`` pairs; empty asks for every task the master knows."""
    call = Call(type=Call.RECONCILE)
    for task_id, agent_id in tasks:
        call.reconcile.tasks.add(task_id=task_id, agent_id=agent_id)
    return call


def message(executor_id: str, agent_id: str, data: bytes) -> Call:
    """MESSAGE: ``data`` (at most 4 MiB) to an executor of the framework on an agent."""
    call = Call(type=Call.MESSAGE)
    call.messages.add(executor_id=executor_id, agent_id=agent_id, data=data)
    return call


def shutdown(executor_id: str, agent_id: str = "") -> Call:
    """SHUTDOWN an executor: its agent asks it to stop, then kills it."""
    call = Call(type=Call.SHUTDOWN)
    call.shutdown.executor_id = executor_id
    call.shutdown.agent_id = agent_id
    return call


def update_framework(
    framework_info: common_pb2.FrameworkInfo, suppressed_roles: Iterable[str] = ()
) -> Call:
    """UPDATE_FRAMEWORK: new roles, capabilities, failover_timeout... without a new
    subscription (the id, name, user, principal and checkpoint must stay)."""
    call = Call(type=Call.UPDATE_FRAMEWORK)
    call.update_framework.framework_info.CopyFrom(framework_info)
    call.update_framework.suppressed_roles.extend(suppressed_roles)
    return call


def request(requests: Iterable[tuple[str, Iterable[common_pb2.Resource]]] = ()) -> Call:
    """REQUEST resources (``(agent_id, resources)`` pairs); the master accepts and
    ignores it, as Mesos does."""
    call = Call(type=Call.REQUEST)
    for agent_id, resources in requests:
        call.request.requests.add(agent_id=agent_id, resources=resources)
    return call


def teardown() -> Call:
    """TEARDOWN the framework: the master kills its tasks and forgets it."""
    return Call(type=Call.TEARDOWN)


@dataclass
class Outgoing:
    """A queued call; ``waiter`` is set when someone awaits its outcome."""

    call: Call
    waiter: asyncio.Future[None] | None = field(default=None, compare=False)


def _merge_messages(queue: Sequence[Outgoing]) -> Sequence[Outgoing]:
    if sum(1 for item in queue if item.call.type == Call.MESSAGE) < 2:
        return queue
    out: list[Outgoing] = []
    size = 0
    for item in queue:
        call = item.call
        if call.type == Call.MESSAGE and item.waiter is None:
            more = sum(len(m.data) for m in call.messages)
            last = out[-1] if out else None
            if (
                last is not None
                and last.waiter is None
                and last.call.type == Call.MESSAGE
                and len(last.call.messages) + len(call.messages) <= MAX_MESSAGES_PER_CALL
                and size + more <= MAX_MESSAGE_BYTES_PER_CALL
            ):
                last.call.messages.extend(call.messages)
                size += more
                continue
            merged = Call(type=Call.MESSAGE)
            merged.messages.extend(call.messages)
            out.append(Outgoing(merged))
            size = more
            continue
        out.append(item)
    return out


def plan_flush(queue: Sequence[Outgoing], max_acks: int = MAX_ACKS_PER_CALL) -> list[Outgoing]:
    """The calls to send for a flush of ``queue``, in order, with acknowledgements coalesced.

    Fire-and-forget ACKNOWLEDGE calls are merged (duplicates dropped) into as few calls as
    ``max_acks`` allows, placed where the first of them was: acks commute with every other
    call, and one RPC per ack would cap throughput at the RPC rate. Awaited calls keep their
    own RPC so each waiter learns its own outcome. Consecutive fire-and-forget MESSAGE
    calls go as one (their order kept), within the per-call limits.
    """
    queue = _merge_messages(queue)
    planned: list[Outgoing] = []
    acks: dict[tuple[str, bytes], Call.Acknowledge] = {}
    ack_slot: int | None = None
    for item in queue:
        if item.call.type != Call.ACKNOWLEDGE or item.waiter is not None:
            planned.append(item)
            continue
        if ack_slot is None:
            ack_slot = len(planned)
        for ack in item.call.acknowledges:
            acks.setdefault((ack.task_id, ack.uuid), ack)
    if ack_slot is None or not acks:
        return planned
    merged = list(acks.values())
    batches = [
        Outgoing(Call(type=Call.ACKNOWLEDGE, acknowledges=merged[i : i + max_acks]))
        for i in range(0, len(merged), max_acks)
    ]
    return planned[:ack_slot] + batches + planned[ack_slot:]
