"""The master's connection to one agent's ``Agent`` service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import grpc

from mesospy.security.channels import AGENT_TOKEN_KEY, ClientSecurity, aio_channel
from mesospy.v1 import agent_pb2 as apb
from mesospy.v1 import agent_pb2_grpc as apb_grpc
from mesospy.v1 import common_pb2 as pb

log = logging.getLogger(__name__)

# Traffic goes only to the address given: no proxy, whatever the environment says.
CHANNEL_OPTIONS = [
    ("grpc.enable_http_proxy", 0),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    # A restarted agent is usually back within seconds: retry connecting at most every 2 s
    # (gRPC's default backoff grows to 120 s, and calls fail at once meanwhile).
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]
CALL_TIMEOUT = 10.0


def could_not_connect(error: grpc.aio.AioRpcError) -> bool:
    """Whether a call failed because no connection to the agent could be made (its
    process is gone or its port closed), as opposed to an answer from the agent."""
    details = (error.details() or "").lower()
    return error.code() == grpc.StatusCode.UNAVAILABLE and (
        "failed to connect" in details or "connection refused" in details
    )


class AgentSession:
    """An agent's open ``Connect`` stream, as the master writes to it: one message at a
    time (gRPC takes one outstanding write per call)."""

    def __init__(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self._context = context
        self._lock = asyncio.Lock()
        self._broken = ""

    async def send(self, message: apb.MasterMessage) -> None:
        """Write ``message``; ``SessionLost`` if the stream has ended, or if a write did
        not go out within CALL_TIMEOUT (an agent that stopped reading, or a connection
        gone silent): then nothing more is written on this session."""
        async with self._lock:
            if self._broken:
                raise SessionLost(self, self._broken)
            try:
                async with asyncio.timeout(CALL_TIMEOUT):
                    await self._context.write(message)
            except TimeoutError:
                self._broken = f"a write took over {CALL_TIMEOUT:g} s"
                raise SessionLost(self, self._broken) from None
            except Exception as exc:
                raise SessionLost(self, f"the agent's session ended: {exc!r}") from exc


class SessionLost(ConnectionError):
    """A message could not be written on an agent's session (``session``)."""

    def __init__(self, session: AgentSession, why: str) -> None:
        super().__init__(why)
        self.session = session


class AgentLink:
    """Sends the master's commands to an agent; acknowledgements go out in batches, on the
    agent's session when it has one open."""

    def __init__(self, agent_id: str, address: str, security: ClientSecurity | None = None) -> None:
        self.agent_id = agent_id
        self.address = address
        self._security = security or ClientSecurity()
        # Made on the first call: after a failover 10,000 agents re-register at once, and
        # a channel each (~0.1 ms) would hold up every registration behind it.
        self._channel: grpc.aio.Channel | None = None
        self._agent_stub: apb_grpc.AgentStub | None = None
        self._closed = False
        # Counts reconnect(): a call's failure says something about the link only if no
        # new channel was started since the call began.
        self.generation = 0
        self._metadata: tuple[tuple[str, str], ...] = ()
        self._acks: list[apb.AcknowledgeUpdatesRequest.Ack] = []
        self._ack_flush: asyncio.Task[None] | None = None
        self.session: AgentSession | None = None

    @property
    def _stub(self) -> apb_grpc.AgentStub:
        if self._agent_stub is None:
            if self._closed:
                raise grpc.aio.UsageError(f"the link to agent {self.agent_id} is closed")
            self._channel = aio_channel(self.address, CHANNEL_OPTIONS, self._security)
            self._agent_stub = apb_grpc.AgentStub(self._channel)  # type: ignore[no-untyped-call]
        return self._agent_stub

    def reconnect(self) -> Coroutine[Any, Any, None]:
        """Go on with a new channel (made on the next call): the old one may sit out a
        reconnect backoff after the agent was down, failing every call although the agent
        is back. Returns the closing of the old channel, to await or run in the
        background."""
        old, self._channel, self._agent_stub = self._channel, None, None
        self.generation += 1
        # Calls still under way on the old channel may finish (closing cancels them).
        return _close(old, grace=CALL_TIMEOUT)

    def use_token(self, token: str) -> None:
        """Present the agent's call token (from its registration) on every call."""
        self._metadata = ((AGENT_TOKEN_KEY, token),) if token else ()

    async def run_tasks(
        self, framework_info: pb.FrameworkInfo, tasks: list[pb.TaskInfo], group: bool = False
    ) -> None:
        """On the agent's session if it has one (``SessionLost`` if that ended), else by a
        call (``grpc.aio.AioRpcError`` if it failed). ``group``: the tasks are one task
        group."""
        request = apb.RunTasksRequest(framework_info=framework_info, tasks=tasks, group=group)
        if self.session is not None:
            await self.session.send(apb.MasterMessage(run_tasks=request))
            return
        await self._stub.RunTasks(request, timeout=CALL_TIMEOUT, metadata=self._metadata)

    async def kill_task(
        self, framework_id: str, task_id: str, kill_policy: pb.KillPolicy | None
    ) -> None:
        request = apb.KillTaskRequest(framework_id=framework_id, task_id=task_id)
        if kill_policy is not None:
            request.kill_policy.CopyFrom(kill_policy)
        if self.session is not None:
            await self._on_session(apb.MasterMessage(kill_task=request), "KillTask")
            return
        await self._call(
            self._stub.KillTask(request, timeout=CALL_TIMEOUT, metadata=self._metadata), "KillTask"
        )

    async def shutdown_framework(self, framework_id: str) -> None:
        request = apb.ShutdownFrameworkRequest(framework_id=framework_id)
        if self.session is not None:
            await self._on_session(
                apb.MasterMessage(shutdown_framework=request), "ShutdownFramework"
            )
            return
        await self._call(
            self._stub.ShutdownFramework(request, timeout=CALL_TIMEOUT, metadata=self._metadata),
            "ShutdownFramework",
        )

    async def checkpoint_resources(self, resources: list[pb.Resource]) -> None:
        """The agent's dynamic reservations and volumes, all of them, for it to checkpoint
        (on its session, in order with the commands around it). Not retried: an agent
        that missed it reports its old ones when it re-registers, and gets them again."""
        request = apb.CheckpointResourcesRequest(resources=resources)
        if self.session is not None:
            await self._on_session(
                apb.MasterMessage(checkpoint_resources=request), "CheckpointResources"
            )
            return
        await self._call(
            self._stub.CheckpointResources(request, timeout=CALL_TIMEOUT, metadata=self._metadata),
            "CheckpointResources",
        )

    async def framework_messages(self, messages: list[apb.ExecutorMessage]) -> None:
        """Messages for executors on this agent: on its session only (best effort)."""
        batch = apb.ExecutorMessages(messages=messages)
        if self.session is None:
            log.info(
                "agent %s: %d framework message(s) dropped: no session",
                self.agent_id,
                len(messages),
            )
            return
        await self._on_session(apb.MasterMessage(framework_messages=batch), "framework messages")

    async def shutdown_executor(self, framework_id: str, executor_id: str) -> None:
        request = apb.ShutdownExecutorRequest(framework_id=framework_id, executor_id=executor_id)
        if self.session is None:
            log.warning(
                "agent %s: SHUTDOWN of executor %r not sent: no session", self.agent_id, executor_id
            )
            return
        await self._on_session(apb.MasterMessage(shutdown_executor=request), "ShutdownExecutor")

    async def read_file(self, request: apb.ReadFileRequest) -> apb.ReadFileResponse:
        response: apb.ReadFileResponse = await self._stub.ReadFile(
            request, timeout=CALL_TIMEOUT, metadata=self._metadata
        )
        return response

    async def list_files(self, request: apb.ListFilesRequest) -> apb.ListFilesResponse:
        response: apb.ListFilesResponse = await self._stub.ListFiles(
            request, timeout=CALL_TIMEOUT, metadata=self._metadata
        )
        return response

    def acknowledge(self, framework_id: str, task_id: str, uuid: bytes) -> None:
        """Queue an acknowledgement; all queued ones go in the next batch."""
        self._acks.append(
            apb.AcknowledgeUpdatesRequest.Ack(framework_id=framework_id, task_id=task_id, uuid=uuid)
        )
        if self._ack_flush is None or self._ack_flush.done():
            self._ack_flush = asyncio.get_running_loop().create_task(self._flush_acks())

    async def _flush_acks(self) -> None:
        while self._acks:
            acks, self._acks = self._acks, []
            # A lost acknowledgement is harmless: the agent resends the update and the
            # framework acknowledges it again.
            if self.session is not None:
                await self._on_session(
                    apb.MasterMessage(acknowledgements=apb.AcknowledgeUpdatesRequest(acks=acks)),
                    "AcknowledgeUpdates",
                )
                continue
            await self._call(
                self._stub.AcknowledgeUpdates(
                    apb.AcknowledgeUpdatesRequest(acks=acks),
                    timeout=CALL_TIMEOUT,
                    metadata=self._metadata,
                ),
                "AcknowledgeUpdates",
            )

    async def _on_session(self, message: apb.MasterMessage, name: str) -> None:
        session = self.session
        assert session is not None
        try:
            await session.send(message)
        except SessionLost as exc:
            log.info("agent %s: %s not sent: %s", self.agent_id, name, exc)

    async def _call(self, call: object, name: str) -> None:
        try:
            await call  # type: ignore[misc]
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "agent %s at %s: %s failed: %s",
                self.agent_id,
                self.address,
                name,
                exc.details() or exc.code().name,
            )

    async def close(self) -> None:
        self._closed = True
        await _close(self._channel)


async def _close(channel: grpc.aio.Channel | None, grace: float | None = None) -> None:
    if channel is not None:
        await channel.close(grace)
