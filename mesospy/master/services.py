"""The master's gRPC services for frameworks and agents (the operator's is in
``operator_api.py``): they translate between the wire and the handlers.

Handlers raise ``CallError`` subclasses; here they become gRPC statuses with the
handler's message, so bad input never reaches a client as a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from mesospy.master.agent_link import AgentSession, SessionLost
from mesospy.master.agents import Reregistration
from mesospy.master.errors import CallError, FailedPrecondition, InvalidArgument
from mesospy.master.master import Master
from mesospy.v1 import agent_pb2 as apb
from mesospy.v1 import agent_pb2_grpc as apb_grpc
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import scheduler_pb2 as spb
from mesospy.v1 import scheduler_pb2_grpc as spb_grpc

log = logging.getLogger(__name__)
T = TypeVar("T")
Context = grpc.aio.ServicerContext[Any, Any]
Call = spb.Call
# How long a resumed standby session waits for its master to know that it leads.
RESUME_WAIT = 30.0


async def _answer(master: Master, context: Context, work: Awaitable[T]) -> T:
    try:
        master.require_leader()
    except CallError as exc:
        if inspect.iscoroutine(work):
            work.close()  # never started
        await context.abort(exc.code, exc.message)
        raise
    try:
        return await work
    except CallError as exc:
        await context.abort(exc.code, exc.message)
        raise  # unreachable: abort raises


_TASK_STATES = frozenset(pb.TaskState.values())


def _update_problem(master: Master, agent_id: str, update: apb.StatusUpdate) -> str | None:
    """What is wrong with a status update from an agent: a state this version does not
    know, or a task that runs on another agent."""
    status = update.status
    for name, state in (("state", status.state), ("latest_state", update.latest_state)):
        if state not in _TASK_STATES or (name == "state" and state == 0):
            return f"update for task {status.task_id!r} has an unknown {name} {state}"
    framework = master.state.frameworks.get(update.framework_id)
    task = framework.tasks.get(status.task_id) if framework is not None else None
    if task is not None and task.agent_id != agent_id:
        return f"task {status.task_id!r} runs on agent {task.agent_id!r}, not on {agent_id!r}"
    return None


class SchedulerService(spb_grpc.SchedulerServicer):
    """The scheduler API: SUBSCRIBE as a stream, every other call through Send."""

    def __init__(self, master: Master) -> None:
        self.m = master
        self._calls: dict[int, Callable[[Call], Awaitable[None]]] = {
            Call.TEARDOWN: self._teardown,
            Call.ACCEPT: self._accept,
            Call.DECLINE: self._decline,
            Call.REVIVE: self._revive,
            Call.SUPPRESS: self._suppress,
            Call.KILL: self._kill,
            Call.ACKNOWLEDGE: self._acknowledge,
            Call.RECONCILE: self._reconcile,
            Call.MESSAGE: self._message,
            Call.SHUTDOWN: self._shutdown,
            Call.UPDATE_FRAMEWORK: self._update_framework,
            Call.REQUEST: self._request,
        }

    async def Subscribe(self, request: Call, context: Context) -> AsyncIterator[spb.Events]:
        if request.type != Call.SUBSCRIBE:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Subscribe takes a SUBSCRIBE call, not {Call.Type.Name(request.type)}",
            )
        record = await _answer(self.m, context, self.m.frameworks.subscribe(request))
        stream = record.stream
        assert stream is not None
        try:
            async for batch in stream.batches():
                yield batch
        finally:
            self.m.frameworks.disconnected(record, stream)

    async def Send(self, request: Call, context: Context) -> spb.Response:
        handler = self._calls.get(request.type)
        if handler is None:
            name = (
                Call.Type.Name(request.type) if request.type in Call.Type.values() else request.type
            )
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"call type {name} cannot be sent with Send"
                + ("; use Subscribe" if request.type == Call.SUBSCRIBE else ""),
            )
        await _answer(self.m, context, handler(request))
        return spb.Response()

    async def _teardown(self, call: Call) -> None:
        await self.m.frameworks.teardown(self.m.frameworks.require_connected(call))

    async def _accept(self, call: Call) -> None:
        self.m.tasks.accept(self.m.frameworks.require_connected(call), call.accept)

    async def _decline(self, call: Call) -> None:
        self.m.tasks.decline(self.m.frameworks.require_connected(call), call.decline)

    def _roles(self, framework_roles: list[str], roles: list[str]) -> list[str]:
        unknown = sorted(set(roles) - set(framework_roles))
        if unknown:
            raise InvalidArgument(
                f"roles {unknown} are not among the framework's roles {framework_roles}"
            )
        return roles

    async def _revive(self, call: Call) -> None:
        framework = self.m.frameworks.require_connected(call)
        roles = self._roles(framework.roles, list(call.revive.roles))
        self.m.allocator.revive(framework.id, roles)
        self.m.request_allocation()

    async def _suppress(self, call: Call) -> None:
        framework = self.m.frameworks.require_connected(call)
        roles = self._roles(framework.roles, list(call.suppress.roles))
        self.m.allocator.suppress(framework.id, roles)

    async def _kill(self, call: Call) -> None:
        self.m.tasks.kill(self.m.frameworks.require_connected(call), call.kill)

    async def _acknowledge(self, call: Call) -> None:
        framework = self.m.frameworks.require_connected(call)
        if not call.acknowledges:
            raise InvalidArgument("ACKNOWLEDGE needs at least one entry in 'acknowledges'")
        self.m.tasks.acknowledge(framework, list(call.acknowledges))

    async def _reconcile(self, call: Call) -> None:
        self.m.tasks.reconcile(self.m.frameworks.require_connected(call), call.reconcile)

    async def _message(self, call: Call) -> None:
        self.m.executors.message(self.m.frameworks.require_connected(call), call)

    async def _shutdown(self, call: Call) -> None:
        self.m.executors.shutdown(self.m.frameworks.require_connected(call), call)

    async def _update_framework(self, call: Call) -> None:
        await self.m.frameworks.update(self.m.frameworks.require_connected(call), call)

    async def _request(self, call: Call) -> None:
        self.m.frameworks.require_connected(call)  # accepted and ignored, as in Mesos


class AgentRegistryService(apb_grpc.AgentRegistryServicer):
    """What agents call on the master."""

    def __init__(self, master: Master) -> None:
        self.m = master

    async def RegisterAgent(
        self, request: apb.RegisterAgentRequest, context: Context
    ) -> apb.RegisterAgentResponse:
        return await _answer(self.m, context, self.m.agents.register(request))

    async def ReregisterAgent(
        self, request: apb.ReregisterAgentRequest, context: Context
    ) -> apb.RegisterAgentResponse:
        return await _answer(self.m, context, self.m.agents.reregister(request))

    async def Heartbeat(
        self, request: apb.HeartbeatRequest, context: Context
    ) -> apb.HeartbeatResponse:
        async def work() -> apb.HeartbeatResponse:
            return self.m.agents.heartbeat(request)

        return await _answer(self.m, context, work())

    async def UpdateStatus(
        self, request: apb.StatusUpdates, context: Context
    ) -> apb.UpdateStatusResponse:
        async def work() -> apb.UpdateStatusResponse:
            self._take_updates(request)
            return apb.UpdateStatusResponse()

        return await _answer(self.m, context, work())

    def _take_updates(self, request: apb.StatusUpdates) -> None:
        agent = self.m.agents.require_registered(request.agent_id)
        for update in request.updates:
            if problem := self._update_problem(agent.id, update):
                raise InvalidArgument(problem)
        self.m.tasks.update(agent, request)

    def _update_problem(self, agent_id: str, update: apb.StatusUpdate) -> str | None:
        status = update.status
        if status.agent_id and status.agent_id != agent_id:
            return (
                f"update for task {status.task_id!r} names agent {status.agent_id!r} "
                f"but comes from {agent_id!r}"
            )
        if not status.uuid:
            return f"update for task {status.task_id!r} has no uuid"
        return _update_problem(self.m, agent_id, update)

    async def Connect(self, requests: AsyncIterator[apb.AgentMessage], context: Context) -> None:
        """An agent's session: registration first, then heartbeats and updates up, and
        acknowledgements and commands down; or a standby session, kept until this master
        leads (see agent.proto). A message the master cannot take ends it with a status; a
        bad status update is only set aside (see ``_take_session_updates``)."""
        session = AgentSession(context)
        agent_id = ""
        held: Reregistration | None = None  # a standby session's newest re-registration
        try:
            async for message in requests:
                body = message.WhichOneof("body")
                try:
                    if not agent_id:
                        kept, response = await self._begin(message, body, held)
                        was_kept, is_kept = held is not None, kept is not None
                        if was_kept != is_kept:  # a standby session opened, or taken over
                            self.m.agents.standing_by += 1 if is_kept else -1
                        held = kept
                        if is_kept and not was_kept:
                            await session.send(apb.MasterMessage(standing_by=self._standby()))
                        if response is None:
                            continue
                        # Known before the answer goes out: if it cannot, the session
                        # still ends as the agent's.
                        agent_id = response.agent_id
                        self.m.agents.session_started(agent_id, session)
                        if body != "resume":  # a resumed session goes on unanswered
                            await session.send(apb.MasterMessage(registered=response))
                        continue
                    self.m.require_leader()
                    if body == "heartbeat":
                        self._same_agent(agent_id, message.heartbeat.agent_id)
                        answer = self.m.agents.heartbeat(message.heartbeat)
                        if answer.reregister:
                            await session.send(apb.MasterMessage(heartbeat=answer))
                    elif body == "updates":
                        self._same_agent(agent_id, message.updates.agent_id)
                        self._take_session_updates(message.updates)
                    elif body == "executor_messages":
                        agent = self.m.agents.require_registered(agent_id)
                        self.m.executors.from_executors(agent, message.executor_messages)
                    elif body == "executor_exited":
                        agent = self.m.agents.require_registered(agent_id)
                        self.m.executors.exited(agent, message.executor_exited)
                    else:
                        raise InvalidArgument(
                            f"an agent's session takes heartbeat or updates after registering, "
                            f"not {body or 'an empty message'}"
                        )
                except CallError as exc:
                    await context.abort(exc.code, exc.message)
        except SessionLost:
            pass  # the stream is gone: nobody to answer
        finally:
            if held is not None:
                self.m.agents.standing_by -= 1
            if agent_id:
                self.m.agents.session_ended(agent_id, session)

    async def _begin(
        self, message: apb.AgentMessage, body: str | None, held: Reregistration | None
    ) -> tuple[Reregistration | None, apb.RegisterAgentResponse | None]:
        """A message of a session whose agent is not the master's yet: (the re-registration
        to keep while standing by, the agent's registration once it is the master's)."""
        if body == "resume":
            if held is None:
                raise FailedPrecondition(
                    "nothing to resume: resume follows a reregister on a standby session; "
                    "re-register instead"
                )
            self._same_agent(held.info.id, message.resume.agent_id)
            await self._leadership()
            response = await self.m.agents.readmit(held)
            self.m.agents.resumed += 1
            return None, response
        if body == "reregister" and (held is not None or message.standby):
            # Kept, unanswered, until ``resume``, even once this master leads: the agent
            # sends both at once when ZooKeeper names this master, which may be before
            # this master knows that it leads (or after it led for a while: the agent's
            # view of ZooKeeper may lag).
            prepared = self.m.agents.prepare(message.reregister)
            if held is not None:
                self._same_agent(held.info.id, prepared.info.id)
            return prepared, None
        if held is not None:
            raise FailedPrecondition(
                f"this session stands by: it takes reregister, then resume once this master "
                f"leads, not {body or 'an empty message'}"
            )
        if self.m.starting():
            # Elected, still recovering: agents come at once after a failover (those
            # without a standby session here), and a refusal would send each into its
            # backoff for seconds; they wait for the recovery instead.
            await self._leadership()
        else:
            self.m.require_leader()
        return None, await self._open(message, body)

    async def _leadership(self) -> None:
        """Wait (a little) for this master to lead: an agent may see ZooKeeper name it
        before it knows it leads itself."""
        if not self.m.leading:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.m.led.wait(), RESUME_WAIT)
        self.m.require_leader()

    def _standby(self) -> apb.StandingBy:
        return apb.StandingBy(
            master_info=self.m.info,
            heartbeat_interval_seconds=self.m.config.agent_ping_timeout,
        )

    async def _open(self, message: apb.AgentMessage, body: str | None) -> apb.RegisterAgentResponse:
        """Register (or re-register) the agent of a new session."""
        if body == "register":
            return await self.m.agents.register(message.register)
        if body == "reregister":
            return await self.m.agents.reregister(message.reregister)
        raise InvalidArgument(
            f"an agent's session starts with register or reregister, "
            f"not {body or 'an empty message'}"
        )

    def _take_session_updates(self, request: apb.StatusUpdates) -> None:
        """The updates of a session message. Unlike an UpdateStatus call, which is refused
        whole, a bad update is logged and left out: ending the session over it would only
        bring the agent back with the same update, again and again. The agent resends it
        until acknowledged, so it is never lost either."""
        agent = self.m.agents.require_registered(request.agent_id)
        problems = [self._update_problem(agent.id, update) for update in request.updates]
        if any(problems):
            for problem in filter(None, problems):
                log.warning("agent %s: status update left out: %s", agent.id, problem)
            good = [u for u, p in zip(request.updates, problems, strict=True) if p is None]
            if not good:
                return
            request = apb.StatusUpdates(agent_id=request.agent_id, updates=good)
        self.m.tasks.update(agent, request)

    @staticmethod
    def _same_agent(session_agent: str, named: str) -> None:
        if named and named != session_agent:
            raise InvalidArgument(
                f"this session belongs to agent {session_agent!r}, not {named!r}; "
                "each agent opens a session of its own"
            )
