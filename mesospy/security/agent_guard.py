"""An agent accepts calls only from its master.

The agent makes up a random call token when it starts and gives it to the master when it
registers (over TLS on a secured cluster); the master presents it on every call. A
secured agent (one started with TLS or credentials) refuses any call without it, so a
framework or a user on the network cannot launch tasks on the agent directly. Only the
standard health service answers without it (reflection does not).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc

from mesospy.security.auth import HEALTH_METHODS
from mesospy.security.channels import AGENT_TOKEN_KEY

if TYPE_CHECKING:
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    _ServerInterceptor = grpc.aio.ServerInterceptor


def _refuse(message: str) -> Any:
    async def abort(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return grpc.unary_unary_rpc_method_handler(abort)


class MasterOnly(_ServerInterceptor):
    """Refuses calls that do not carry the agent's call token."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        if details.method in HEALTH_METHODS:  # probes carry no token (and learn little)
            return await continuation(details)
        presented = b""
        for key, value in details.invocation_metadata or ():
            if key == AGENT_TOKEN_KEY and isinstance(value, str):
                presented = value.encode()
        if not hmac.compare_digest(presented, self._token):
            return _refuse(
                "this agent takes calls only from the master it registered with "
                "(no or wrong call token)"
            )
        return await continuation(details)
