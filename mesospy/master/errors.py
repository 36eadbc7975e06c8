"""Errors the master's handlers raise; the gRPC services translate them into statuses.

CallError                   a call cannot be carried out; nothing changed
 ├── InvalidArgument        the request itself is malformed
 ├── NotFound               it names something the master does not know
 ├── FailedPrecondition     it is well-formed but not allowed in the current state
 ├── PermissionDenied       the caller's principal may not do it
 └── NotLeader              this master is not the leader
"""

from __future__ import annotations

import grpc


class CallError(Exception):
    """A call the master refuses; ``code`` is the gRPC status to answer with."""

    code = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(CallError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(CallError):
    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(CallError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class PermissionDenied(CallError):
    code = grpc.StatusCode.PERMISSION_DENIED


class NotLeader(CallError):
    code = grpc.StatusCode.UNAVAILABLE
