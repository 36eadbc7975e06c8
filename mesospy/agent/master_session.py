"""The agent's session with the leading master: one ``Connect`` stream.

The first message registers (or re-registers with what the agent runs) and is answered
with the registration; then heartbeats and status updates go up and acknowledgements come
down. A message on an open stream costs the master a fraction of a unary call, which is
what lets one master carry thousands of agents. The session is lost when the stream ends
(the master died, failed over or refused a message), when a write fails, or when the master
answers a heartbeat asking the agent to re-register.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from mesospy.v1 import agent_pb2, agent_pb2_grpc

_EOF: Any = grpc.aio.EOF  # type: ignore[attr-defined]
# The agent's channel to the master: the stream is long-lived, so a dead connection (a
# partition, a master host gone) must be noticed by pings rather than by a call timing out.
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


class SessionClosed(Exception):
    """The master ended the session without a status to say why (EOF)."""


class MasterSession:
    """One open ``Connect`` stream; writes go one at a time (gRPC allows one outstanding
    write per call)."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self._lock = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        stub: agent_pb2_grpc.AgentRegistryStub,
        first: agent_pb2.AgentMessage,
        timeout: float,
    ) -> tuple[MasterSession, agent_pb2.RegisterAgentResponse]:
        """Open a session with its registration message; the master's answer. Raises
        ``grpc.aio.AioRpcError`` when the master refuses, ``SessionClosed`` or
        ``TimeoutError`` when it does not answer."""
        session = cls(stub.Connect())
        try:
            await session.send(first)
            answer = await asyncio.wait_for(session.receive(), timeout)
            if answer.WhichOneof("body") != "registered":
                raise SessionClosed(
                    f"the master answered a registration with {answer.WhichOneof('body')}"
                )
        except BaseException:
            session.close()
            raise
        return session, answer.registered

    async def send(self, message: agent_pb2.AgentMessage) -> None:
        async with self._lock:
            await self._call.write(message)

    async def receive(self) -> agent_pb2.MasterMessage:
        """The master's next message; ``AioRpcError`` or ``SessionClosed`` at the end."""
        message = await self._call.read()
        if message is _EOF:
            raise SessionClosed("the master closed the session")
        assert isinstance(message, agent_pb2.MasterMessage)
        return message

    def close(self) -> None:
        self._call.cancel()
