"""A Python client of the master's operator API (``GetState``, ``ReadFile``).

The full operator API comes with its own issue; this is the part the CLI needs now.
Errors come out as ``OperatorError`` with a message a person can act on.
"""

from __future__ import annotations

import grpc

from mesospy.detector import parse_host_port
from mesospy.v1 import agent_pb2 as apb
from mesospy.v1 import operator_pb2 as opb
from mesospy.v1 import operator_pb2_grpc as opb_grpc

CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]

__all__ = ["AsyncOperatorClient", "OperatorClient", "OperatorError"]


class OperatorError(Exception):
    """A call to the master failed; ``code`` is the gRPC status (None if unreachable)."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code


def _translate(exc: grpc.RpcError, master: str) -> OperatorError:
    code = exc.code()
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return OperatorError(f"cannot reach the master at {master}: {exc.details()}", code)
    return OperatorError(exc.details() or code.name, code)


class OperatorClient:
    """Blocking operator client: ``OperatorClient("127.0.0.1:5050").get_state()``."""

    def __init__(self, master: str, timeout: float = 10.0) -> None:
        self.master = str(parse_host_port(master, default_port=5050))
        self._timeout = timeout
        self._channel = grpc.insecure_channel(self.master, options=CHANNEL_OPTIONS)
        self._stub = opb_grpc.OperatorStub(self._channel)  # type: ignore[no-untyped-call]

    def get_state(self) -> opb.GetStateResponse:
        try:
            response: opb.GetStateResponse = self._stub.GetState(
                opb.GetStateRequest(), timeout=self._timeout
            )
        except grpc.RpcError as exc:
            raise _translate(exc, self.master) from exc
        return response

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> OperatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncOperatorClient:
    """The same client for asyncio code."""

    def __init__(self, master: str, timeout: float = 10.0) -> None:
        self.master = str(parse_host_port(master, default_port=5050))
        self._timeout = timeout
        self._channel = grpc.aio.insecure_channel(self.master, options=CHANNEL_OPTIONS)
        self._stub = opb_grpc.OperatorStub(self._channel)  # type: ignore[no-untyped-call]

    async def get_state(self) -> opb.GetStateResponse:
        try:
            response: opb.GetStateResponse = await self._stub.GetState(
                opb.GetStateRequest(), timeout=self._timeout
            )
        except grpc.RpcError as exc:
            raise _translate(exc, self.master) from exc
        return response

    async def read_file(
        self, framework_id: str, task_id: str, path: str, offset: int = 0, length: int = 0
    ) -> apb.ReadFileResponse:
        """Read part of a file in a task's sandbox (through the master)."""
        request = apb.ReadFileRequest(
            framework_id=framework_id, task_id=task_id, path=path, offset=offset, length=length
        )
        try:
            response: apb.ReadFileResponse = await self._stub.ReadFile(
                request, timeout=self._timeout
            )
        except grpc.RpcError as exc:
            raise _translate(exc, self.master) from exc
        return response

    async def close(self) -> None:
        await self._channel.close(None)
