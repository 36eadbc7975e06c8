"""A stand-in master for the agent's component tests, plus helpers.

``FakeMaster`` serves the agent's session (``AgentRegistry.Connect``) and records what the
agent sends; with ``auto_ack`` it acknowledges every update like a framework would. It is
a test double of the peer only: end-to-end tests against the real master live with the
master.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

from mesospy.agent import Agent, AgentConfig
from mesospy.v1 import agent_pb2, agent_pb2_grpc, common_pb2


class FakeMaster(agent_pb2_grpc.AgentRegistryServicer):
    """Records registrations and status updates; acks updates when ``auto_ack``."""

    def __init__(self, *, auto_ack: bool = True, heartbeat: float = 0.3) -> None:
        self.auto_ack = auto_ack
        self.heartbeat = heartbeat
        self.registrations: list[Any] = []
        self.heartbeats = 0
        self.updates: list[agent_pb2.StatusUpdate] = []
        self.batches = 0
        self.ask_reregister = False
        self.unavailable = False
        self._acks: set[asyncio.Task[None]] = set()
        self.send: Callable[[agent_pb2.MasterMessage], Awaitable[None]] | None = None

    async def Connect(self, requests: AsyncIterator[Any], context: Any) -> None:
        """The agent's session: registration first, then heartbeats and updates; updates
        are acknowledged on the session, as the real master does."""
        lock = asyncio.Lock()

        async def send(message: agent_pb2.MasterMessage) -> None:
            async with lock:
                await context.write(message)

        self.send = send  # the newest session's: for tests that command the agent on it

        async for message in requests:
            if self.unavailable:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "not the leader")
            body = message.WhichOneof("body")
            if body in ("register", "reregister"):
                request = getattr(message, body)
                self.registrations.append(request)
                response = agent_pb2.RegisterAgentResponse(
                    agent_id=request.agent_info.id or "agent-1",
                    heartbeat_interval_seconds=self.heartbeat,
                )
                await send(agent_pb2.MasterMessage(registered=response))
            elif body == "heartbeat":
                self.heartbeats += 1
                if self.ask_reregister:
                    self.ask_reregister = False
                    answer = agent_pb2.HeartbeatResponse(reregister=True)
                    await send(agent_pb2.MasterMessage(heartbeat=answer))
            elif body == "updates":
                self.batches += 1
                self.updates.extend(message.updates.updates)
                if self.auto_ack:
                    task = asyncio.ensure_future(self._ack(list(message.updates.updates), send))
                    self._acks.add(task)
                    task.add_done_callback(self._acks.discard)

    async def _ack(
        self,
        updates: list[agent_pb2.StatusUpdate],
        send: Callable[[agent_pb2.MasterMessage], Awaitable[None]],
    ) -> None:
        acks = [
            agent_pb2.AcknowledgeUpdatesRequest.Ack(
                framework_id=u.framework_id, task_id=u.status.task_id, uuid=u.status.uuid
            )
            for u in updates
        ]
        with contextlib.suppress(Exception):  # the session may have ended meanwhile
            await send(
                agent_pb2.MasterMessage(
                    acknowledgements=agent_pb2.AcknowledgeUpdatesRequest(acks=acks)
                )
            )

    # -------------------------------------------------------------- queries

    def statuses(self, task_id: str) -> list[common_pb2.TaskStatus]:
        return [u.status for u in self.updates if u.status.task_id == task_id]

    def states(self, task_id: str) -> list[str]:
        """The task's states in order, each update once: an update is resent (same uuid)
        until acknowledged, so a slow acknowledgement can bring it twice."""
        unique = {s.uuid: s.state for s in self.statuses(task_id)}
        return [common_pb2.TaskState.Name(state) for state in unique.values()]

    def last(self, task_id: str) -> common_pb2.TaskStatus:
        return self.statuses(task_id)[-1]

    def terminal(self, task_id: str) -> common_pb2.TaskStatus | None:
        for status in self.statuses(task_id):
            if status.state in TERMINAL:
                return status
        return None


TERMINAL = {
    common_pb2.TASK_FINISHED,
    common_pb2.TASK_FAILED,
    common_pb2.TASK_KILLED,
    common_pb2.TASK_ERROR,
    common_pb2.TASK_DROPPED,
}


async def wait_for(
    condition: Callable[[], object], timeout: float = 30.0, what: str = "condition"
) -> None:
    """Poll an observable condition until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


class Cluster:
    """A FakeMaster, an Agent registered with it, and a stub to call the agent."""

    def __init__(self, master: FakeMaster, agent: Agent, stub: agent_pb2_grpc.AgentStub) -> None:
        self.master = master
        self.agent = agent
        self.stub = stub

    async def run(
        self,
        *tasks: common_pb2.TaskInfo,
        framework: common_pb2.FrameworkInfo | None = None,
    ) -> None:
        await self.stub.RunTasks(
            agent_pb2.RunTasksRequest(framework_info=framework or FRAMEWORK, tasks=list(tasks))
        )

    async def terminal(self, task_id: str, timeout: float = 30.0) -> common_pb2.TaskStatus:
        await wait_for(
            lambda: self.master.terminal(task_id), timeout, f"a terminal update of {task_id}"
        )
        status = self.master.terminal(task_id)
        assert status is not None
        return status


FRAMEWORK = common_pb2.FrameworkInfo(id="fw-1", name="test")


def task(
    task_id: str,
    shell: str = "",
    *,
    argv: list[str] | None = None,
    resources: str = "",
    **fields: Any,
) -> common_pb2.TaskInfo:
    from mesospy.resources import Resources

    info = common_pb2.TaskInfo(
        task_id=task_id,
        name=task_id,
        command=common_pb2.CommandInfo(shell=shell, argv=argv or []),
        **fields,
    )
    if resources:
        info.resources.extend(Resources.parse(resources).to_proto())
    return info


@contextlib.asynccontextmanager
async def cluster(
    work_dir: Path, master: FakeMaster | None = None, **config: Any
) -> AsyncIterator[Cluster]:
    """Start a FakeMaster and an Agent (registered) on free ports; tear both down after."""
    master = master or FakeMaster()
    server = grpc.aio.server()
    agent_pb2_grpc.add_AgentRegistryServicer_to_server(master, server)
    master_port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    config.setdefault("isolation", "posix")
    config.setdefault("resources", "cpus:2;mem:1024;disk:1024;ports:[31000-31100]")
    config.setdefault("registration_backoff_factor", 0.05)
    config.setdefault("kill_tasks_on_exit", True)
    config.setdefault("allow_root_tasks", True)
    try:
        agent = Agent(
            AgentConfig(master=f"127.0.0.1:{master_port}", port=0, work_dir=str(work_dir), **config)
        )
        await agent.start()
        try:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{agent.port}")
            stub = agent_pb2_grpc.AgentStub(channel)
            await asyncio.wait_for(agent.registered.wait(), 30)
            yield Cluster(master, agent, stub)
        finally:
            await agent.stop()
            await channel.close()
    finally:
        await server.stop(0)
