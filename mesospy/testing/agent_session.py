"""A bare agent session for tests of the master's side of ``AgentRegistry.Connect``: the
messages an agent would send, written by hand, and the status the master ends it with."""

from __future__ import annotations

from typing import Any

import grpc

from mesospy.v1 import agent_pb2 as apb
from mesospy.v1 import agent_pb2_grpc as apb_grpc


async def open_session(address: str, *messages: apb.AgentMessage) -> tuple[Any, grpc.aio.Channel]:
    """A ``Connect`` stream to the master at ``address`` with ``messages`` written on it;
    the call and its channel (the caller closes the channel)."""
    channel = grpc.aio.insecure_channel(address, options=[("grpc.enable_http_proxy", 0)])
    call = apb_grpc.AgentRegistryStub(channel).Connect()  # type: ignore[no-untyped-call]
    for message in messages:
        await call.write(message)
    return call, channel


async def expect_refusal(call: Any, code: grpc.StatusCode, *words: str) -> None:
    """The session ends with ``code`` and a message holding each of ``words``."""
    try:
        answer = await call.read()
    except grpc.aio.AioRpcError as error:
        details = error.details() or ""
        if error.code() != code:
            raise AssertionError(
                f"expected {code.name}, got {error.code().name}: {details}"
            ) from error
        for word in words:
            if word not in details:
                raise AssertionError(f"{word!r} not in {details!r}") from error
        return
    raise AssertionError(f"the session went on ({answer!r}); expected {code.name}")
