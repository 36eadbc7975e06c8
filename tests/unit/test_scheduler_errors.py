"""Translation of gRPC errors into the SDK's own."""

import grpc
import pytest
from grpc.aio import AioRpcError, Metadata

from mesospy.scheduler import (
    CallRejected,
    InvalidCall,
    MasterUnavailable,
    NotFound,
    PreconditionFailed,
)
from mesospy.scheduler.errors import from_rpc_error, leader_hint


def rpc_error(code: grpc.StatusCode, details: str) -> AioRpcError:
    return AioRpcError(code, Metadata(), Metadata(), details=details)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidCall),
        (grpc.StatusCode.NOT_FOUND, NotFound),
        (grpc.StatusCode.FAILED_PRECONDITION, PreconditionFailed),
        (grpc.StatusCode.PERMISSION_DENIED, CallRejected),
    ],
)
def test_rejections_keep_code_and_message(code: grpc.StatusCode, kind: type) -> None:
    error = from_rpc_error(rpc_error(code, "task 't1' asks for cpus=-1"))
    assert type(error) is kind
    assert isinstance(error, CallRejected)
    assert error.code == code
    assert "task 't1' asks for cpus=-1" in str(error)


def test_unavailable_names_the_leader() -> None:
    details = "not the leader; leader=10.0.0.2:5050"
    error = from_rpc_error(rpc_error(grpc.StatusCode.UNAVAILABLE, details))
    assert isinstance(error, MasterUnavailable)
    assert error.leader == "10.0.0.2:5050"


def test_deadline_is_an_unavailable_master() -> None:
    error = from_rpc_error(rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))
    assert isinstance(error, MasterUnavailable)
    assert error.leader is None


@pytest.mark.parametrize(
    ("details", "leader"),
    [
        ("not the leader; leader=h:1", "h:1"),
        ("not the leader; leader=[::1]:5050, retry", "[::1]:5050"),
        ("not the leader; no leader elected", None),
    ],
)
def test_leader_hint(details: str, leader: str | None) -> None:
    assert leader_hint(details) == leader
