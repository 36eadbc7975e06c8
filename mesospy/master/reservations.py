"""Dynamic reservations and persistent volumes through the master.

Frameworks RESERVE, UNRESERVE, CREATE and DESTROY with ACCEPT (on what they were offered);
operators with the operator API (on what no task uses). Either way the conversion itself is
the pure ``mesospy.operations``; this module checks who may do what (the reservation's
role must be one of the framework's roles or below one, its principal the framework's or
the operator's), and carries a new agent total everywhere it lives: the master's record,
the allocator, the registry (so it outlives a failover) and the agent, which checkpoints it
(so it outlives a restart) and makes or deletes the volumes' directories.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from mesospy.allocator.roles import in_subtree
from mesospy.master.errors import CallError, FailedPrecondition, InvalidArgument
from mesospy.master.ownership import caller_principal
from mesospy.master.state import AgentRecord, FrameworkRecord
from mesospy.operations import (
    Kind,
    OperationError,
    ResourceOperation,
    accept_operation,
    apply_operation,
    checkpointed,
    with_checkpointed,
)
from mesospy.resources import ResourceError, Resources
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import scheduler_pb2 as spb

if TYPE_CHECKING:
    from mesospy.master.master import Master

log = logging.getLogger(__name__)
Op = spb.Call.Operation
RESOURCE_OPERATIONS = (Op.RESERVE, Op.UNRESERVE, Op.CREATE, Op.DESTROY)


def in_role_tree(role: str, roles: Sequence[str]) -> bool:
    """Whether ``role`` is one of ``roles`` or below one (``eng/dev`` is below ``eng``)."""
    return any(in_subtree(role, r) for r in roles if r != "*")


def parse_operation(
    kind: Kind, items: Sequence[pb.Resource], roles: Sequence[str] | None, principal: str | None
) -> ResourceOperation:
    """Check an operation's resources and who makes it: the reservation's role must be
    in ``roles`` (None: any), and a reservation made or a volume created must name
    ``principal`` (None: anyone, an unauthenticated operator). InvalidArgument if not."""
    try:
        resources = Resources.from_proto(items)
    except ResourceError as exc:
        raise InvalidArgument(f"{kind}: {exc}") from None
    op = ResourceOperation(kind, resources)
    what = f"{kind} of {resources}"
    for identity, _ in resources.parts():
        r, volume = identity.reservation, identity.volume
        if r is not None and roles is not None and not in_role_tree(r.role, roles):
            raise InvalidArgument(
                f"{what}: role {r.role!r} is not one the framework is subscribed to "
                f"({', '.join(roles)}) or below one"
            )
        if kind == "RESERVE" and r is not None and principal not in (None, r.principal):
            raise InvalidArgument(
                f"{what}: the reservation's principal is {r.principal!r}; it must be "
                f"{principal!r}, the principal making it"
            )
        if kind == "CREATE" and volume is not None and principal not in (None, volume.principal):
            raise InvalidArgument(
                f"{what}: the volume's principal is {volume.principal!r}; it must be "
                f"{principal!r}, the principal creating it"
            )
    return op


def _refusal(exc: OperationError, where: str, total: Resources, op: ResourceOperation) -> CallError:
    """The call error for an operation that failed on ``where``; it names resources in
    use when the agent has them but they are not free."""
    if not exc.precondition:
        return InvalidArgument(str(exc))
    try:
        apply_operation(total, op)
    except OperationError:
        return FailedPrecondition(f"{exc}, in {where}")
    return FailedPrecondition(
        f"{op.kind} of {op.resources}: the agent has them but a task (or another "
        f"framework's offer) uses them; only resources no task uses can be changed"
    )


class ReservationHandler:
    """Applies resource operations and keeps every copy of an agent's total in step."""

    def __init__(self, master: Master) -> None:
        self.m = master

    # ---------------------------------------------------------------- ACCEPT

    def framework_operation(
        self, framework: FrameworkRecord, op: spb.Call.Operation
    ) -> ResourceOperation:
        named = accept_operation(op)
        assert named is not None, "only resource operations are parsed here"
        kind, items = named
        return parse_operation(kind, items, framework.roles, framework.info.principal)

    def check(self, offered: Resources, total: Resources, ops: Sequence[ResourceOperation]) -> None:
        """Raise the call error of the first operation that cannot apply to the offers
        (in order), so that a bad ACCEPT changes nothing."""
        for op in ops:
            try:
                new_offered = apply_operation(offered, op)
                total = apply_operation(total, op)
            except OperationError as exc:
                raise _refusal(exc, "the offers", total, op) from None
            offered = new_offered

    def converted_offer(
        self,
        framework: FrameworkRecord,
        agent: AgentRecord,
        role: str,
        offered: Resources,
        converted: Resources,
        total: Resources,
    ) -> None:
        """An ACCEPT's operations turned the offered resources into ``converted`` and the
        agent's total into ``total``: the framework holds the converted ones now."""
        allocator = self.m.allocator
        allocator.recover_resources(
            framework.id, agent.id, role, offered, refuse_seconds=None, now=0.0
        )
        allocator.update_agent_total(agent.id, total)
        allocator.add_used(framework.id, agent.id, role, converted)
        self.m.spawn(self._changed(agent, total))

    # ---------------------------------------------------------------- operator API

    async def operate(self, agent_id: str, kind: Kind, items: Sequence[pb.Resource]) -> Resources:
        """An operator's operation on an agent's unused resources; the new total, once
        it is in the registry."""
        op = parse_operation(kind, items, None, caller_principal())
        agent = self.m.state.agents.get(agent_id)
        if agent is None:
            raise FailedPrecondition(
                f"agent {agent_id!r} is not registered; see `mesospy agents` for the agents"
            )
        for offer in self.m.offers.of_agent(agent_id):
            self.m.rescind(offer)  # an offer holds resources the operation may need
        free = self.m.allocator.agent_free(agent_id)
        try:
            apply_operation(free, op)
        except OperationError as exc:
            raise _refusal(
                exc, f"the unused resources of agent {agent_id!r}", agent.total, op
            ) from None
        total = apply_operation(agent.total, op)
        self.m.allocator.update_agent_total(agent_id, total)
        await self._changed(agent, total)
        self.m.request_allocation()
        return total

    # ---------------------------------------------------------------- re-registration

    def readmitted_total(
        self, info: pb.AgentInfo, reported: Resources, static: Resources
    ) -> tuple[Resources, bool]:
        """A re-registering agent's total for a master that did not know it: what the
        registry keeps of its reservations and volumes wins (an operator was told they
        were made), else what the agent reports. Also whether the agent must be sent
        them (its own differ)."""
        kept_proto = self.m.registry.agent_resources().get(info.id)
        reported_kept = checkpointed(reported)
        if kept_proto is None:
            return reported, False
        try:
            kept = Resources.from_proto(kept_proto)
            total = with_checkpointed(static, kept)
        except ResourceError as exc:
            log.warning(
                "agent %s: the registry's reservations and volumes do not fit it (%s); "
                "taking what it reports",
                info.id,
                exc,
            )
            return reported, False
        return total, kept != reported_kept

    def reregistered(self, agent: AgentRecord, reported: Resources, resend: bool) -> None:
        """After a re-registration: the agent gets the master's view if its own differs,
        and the registry the agent's if it has none yet."""
        kept = checkpointed(agent.total)
        if resend or kept != checkpointed(reported):
            self.m.spawn(agent.link.checkpoint_resources(kept.to_proto()))
        if kept and agent.id not in self.m.registry.agent_resources():
            self.m.spawn(self.m.registry.update_agent_resources(agent.id, kept.to_proto()))

    # ---------------------------------------------------------------- shared

    def _changed(self, agent: AgentRecord, total: Resources) -> Coroutine[Any, Any, None]:
        """Take ``total`` as the agent's: it is sent to the agent at once (so it arrives
        before the launches that follow), and the registry write is returned, to await
        or spawn."""
        agent.total = total
        kept = checkpointed(total).to_proto()
        self.m.spawn(agent.link.checkpoint_resources(kept))
        self.m.events.agent_updated(agent)
        return self.m.registry.update_agent_resources(agent.id, kept)
