"""Errors raised by the framework SDK.

::

    MesospyError
    ├── CallRejected          the master refused a call (its message says why)
    │   ├── InvalidCall       INVALID_ARGUMENT: the call or a task in it is malformed
    │   ├── NotFound          NOT_FOUND: an unknown framework, offer, agent or task
    │   └── PreconditionFailed  FAILED_PRECONDITION: not allowed in the current state
    ├── MasterUnavailable     no leading master answered (or one named another leader)
    ├── FrameworkRemoved      the master dropped the framework (ERROR event, teardown)
    └── DriverStopped         the driver stopped before the call could be sent

gRPC errors are translated here, at the edge, so framework code never sees
``grpc.RpcError``.
"""

from __future__ import annotations

import re

import grpc

__all__ = [
    "CallRejected",
    "DriverStopped",
    "FrameworkRemoved",
    "InvalidCall",
    "MasterUnavailable",
    "MesospyError",
    "NotFound",
    "PreconditionFailed",
    "from_rpc_error",
]

_LEADER_HINT = re.compile(r"leader=([^\s;,]+)")


class MesospyError(Exception):
    """Base class of every error the SDK raises."""


class CallRejected(MesospyError):
    """The master refused a call; ``code`` is the gRPC status it answered with."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code


class InvalidCall(CallRejected):
    """The call (or a task in it) is malformed: fix the call, retrying will not help."""


class NotFound(CallRejected):
    """The call names a framework, offer, agent or task the master does not know."""


class PreconditionFailed(CallRejected):
    """The call is not allowed in the current state (e.g. not subscribed yet)."""


class MasterUnavailable(MesospyError):
    """No leading master could be reached; ``leader`` is set when one was named."""

    def __init__(self, message: str, leader: str | None = None) -> None:
        super().__init__(message)
        self.leader = leader


class FrameworkRemoved(MesospyError):
    """The master removed the framework (torn down, or its failover timeout expired)."""


class DriverStopped(MesospyError):
    """The driver stopped (or aborted) before the call was sent."""


_REJECTIONS: dict[grpc.StatusCode, type[CallRejected]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidCall,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: PreconditionFailed,
}

# Codes meaning "the master is not there (or not the leader)": worth reconnecting.
_UNAVAILABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
}


def leader_hint(details: str) -> str | None:
    """The leader named in a non-leader's answer (``"...; leader=host:port"``), if any."""
    match = _LEADER_HINT.search(details)
    return match.group(1) if match else None


def from_rpc_error(exc: grpc.RpcError) -> MesospyError:
    """Translate a gRPC error into the SDK's own; the caller raises it ``from exc``."""
    # Both grpc.Call (sync) and grpc.aio.AioRpcError carry code() and details().
    code_of = getattr(exc, "code", None)
    details_of = getattr(exc, "details", None)
    code: grpc.StatusCode | None = code_of() if callable(code_of) else None
    details: str = (details_of() if callable(details_of) else None) or str(exc)
    if code in _UNAVAILABLE or code is None:
        return MasterUnavailable(details, leader=leader_hint(details))
    rejection = _REJECTIONS.get(code, CallRejected)
    return rejection(f"{code.name}: {details}", code)
