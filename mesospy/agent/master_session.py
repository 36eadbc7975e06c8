"""The agent's session with the leading master: one ``Connect`` stream.

The first message registers (or re-registers with what the agent runs) and is answered
with the registration; then heartbeats and status updates go up and acknowledgements come
down. A message on an open stream costs the master a fraction of a unary call, which is
what lets one master carry thousands of agents. The session is lost when the stream ends
(the master died, failed over or refused a message), when a write fails, or when the master
answers a heartbeat asking the agent to re-register.

A standby session (see ``mesospy.agent.standby``) is the same stream, opened with a master
that does not lead yet: its first answer is ``standing_by`` instead of ``registered``, and
it changes hands (from the standby keeper to the registration loop) while a read is
pending. So a ``receive()`` whose waiter is cancelled does not cancel the read (in gRPC's
asyncio API that would cancel the whole call): the next ``receive()`` gets its message.
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
        self._reading: asyncio.Future[Any] | None = None

    @classmethod
    async def open(
        cls,
        stub: agent_pb2_grpc.AgentRegistryStub,
        first: agent_pb2.AgentMessage,
        timeout: float,
    ) -> tuple[MasterSession, agent_pb2.MasterMessage]:
        """Open a session with its (re-)registration message; the master's first answer
        (``registered``, or ``standing_by`` from a standby master). Raises
        ``grpc.aio.AioRpcError`` when the master refuses, ``SessionClosed`` or
        ``TimeoutError`` when it does not answer."""
        session = cls(stub.Connect())
        try:
            await session.send(first)
            answer = await asyncio.wait_for(session.receive(), timeout)
        except BaseException:
            session.close()
            raise
        return session, answer

    async def send(self, message: agent_pb2.AgentMessage) -> None:
        async with self._lock:
            await self._call.write(message)

    async def receive(self) -> agent_pb2.MasterMessage:
        """The master's next message; ``AioRpcError`` or ``SessionClosed`` at the end.
        Cancelling the waiter leaves the read pending for the next call."""
        reading = self._reading
        if reading is None:
            reading = self._reading = asyncio.ensure_future(self._call.read())
            reading.add_done_callback(_retrieve)
        message = await asyncio.shield(reading)
        self._reading = None
        if message is _EOF:
            raise SessionClosed("the master closed the session")
        assert isinstance(message, agent_pb2.MasterMessage)
        return message

    def close(self) -> None:
        self._call.cancel()
        if self._reading is not None:
            self._reading.cancel()


def _retrieve(reading: asyncio.Future[Any]) -> None:
    """Mark a read's error as seen: a read left pending when its session was closed ends
    with one that nobody awaits."""
    if not reading.cancelled():
        reading.exception()
