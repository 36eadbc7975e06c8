"""A Python client of the master's operator API: see and steer the whole cluster.

    from mesospy.client import OperatorClient

    with OperatorClient("127.0.0.1:5050") as client:
        for agent in client.get_agents().agents:
            print(agent.agent_info.id, agent.agent_info.hostname)
        client.drain_agent(agent_id, max_grace_period=30)

``AsyncOperatorClient`` has the same methods as coroutines. Every failure comes out as
``OperatorError`` with the gRPC status in ``.code`` (None when the master could not be
found at all) and a message a person can act on; grpc's own errors never leak out.

OperatorError        a call failed; .code is a grpc.StatusCode or None
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from mesospy.detector import MasterDetector, MasterSpecError, parse_host_port
from mesospy.resources import Resources
from mesospy.security.channels import ClientSecurity, aio_channel, sync_channel
from mesospy.security.tls import TLSError
from mesospy.v1 import agent_pb2 as apb
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import operator_pb2 as opb
from mesospy.v1 import operator_pb2_grpc as opb_grpc

__all__ = ["AsyncOperatorClient", "OperatorClient", "OperatorError"]

# Traffic goes only to the address given: no proxy, whatever the environment says.
CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0), ("grpc.max_receive_message_length", 64 << 20)]
M = TypeVar("M", bound=Message)


class OperatorError(Exception):
    """A call to the master failed; ``code`` is the gRPC status (None if no master found)."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code


def _translate(exc: grpc.RpcError, master: str) -> OperatorError:
    code: grpc.StatusCode = exc.code()
    details: str = exc.details() or code.name
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        if "not the leader" in details:
            return OperatorError(f"master at {master}: {details}", code)
        return OperatorError(
            f"cannot reach the master at {master}: {details}{_tls_hint(details)}", code
        )
    return OperatorError(details, code)


def _tls_hint(details: str) -> str:
    """What to check when the connection died the way TLS mismatches make it die."""
    if not any(s in details.lower() for s in ("socket closed", "handshake", "ssl", "reset")):
        return ""
    return (
        " (if the master serves TLS: --tls-ca must name the CA of its certificate, and a "
        "master requiring client certificates needs --tls-cert/--tls-key)"
    )


def _resolve(spec: str) -> str:
    """The leading master's ``host:port`` for ``host:port`` or ``zk://...``."""
    try:
        if not spec.startswith("zk://"):
            return str(parse_host_port(spec, default_port=5050))
        detector = MasterDetector(spec)
        # Detection is a coroutine; run it on a loop of its own so this works whether or
        # not the caller is inside an event loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, detector.detect()).result()
    except MasterSpecError as exc:
        raise OperatorError(str(exc)) from exc
    except Exception as exc:  # a detector's own failure (ZooKeeper down...)
        raise OperatorError(f"cannot find the leading master through {spec}: {exc}") from exc


def _tasks_request(
    framework_id: str,
    agent_id: str,
    states: Iterable[int],
    task_id: str,
    include_completed: bool,
    limit: int,
    page_token: str,
) -> opb.GetTasksRequest:
    return opb.GetTasksRequest(
        framework_id=framework_id,
        agent_id=agent_id,
        states=list(states),  # type: ignore[arg-type]
        task_id=task_id,
        include_completed=include_completed,
        limit=limit,
        page_token=page_token,
    )


def _drain_request(agent_id: str, max_grace_period: float | None) -> opb.DrainAgentRequest:
    request = opb.DrainAgentRequest(agent_id=agent_id)
    if max_grace_period is not None:
        request.max_grace_period_seconds = max_grace_period
    return request


def _one_task(tasks: list[pb.Task], task_id: str, framework_id: str) -> pb.Task:
    if not tasks:
        where = f" of framework {framework_id!r}" if framework_id else ""
        raise OperatorError(
            f"task {task_id!r}{where} is unknown to the master", grpc.StatusCode.NOT_FOUND
        )
    frameworks = sorted({t.framework_id for t in tasks})
    if len(frameworks) > 1:
        raise OperatorError(
            f"task id {task_id!r} is used by several frameworks ({', '.join(frameworks)}); "
            "name the framework too",
            grpc.StatusCode.FAILED_PRECONDITION,
        )
    return tasks[0]  # the active one comes before completed ones


class OperatorClient:
    """Blocking operator client: ``OperatorClient("127.0.0.1:5050").get_state()``.

    ``master`` is ``host:port`` or ``zk://host:port,.../path``; ``timeout`` bounds each call.
    ``security`` gives TLS settings and a principal with its secret (default: the CLI's
    flags, else $MESOSPY_TLS_* and $MESOSPY_PRINCIPAL/$MESOSPY_SECRET).
    """

    def __init__(
        self, master: str, timeout: float = 10.0, security: ClientSecurity | None = None
    ) -> None:
        self.master = _resolve(master)
        self._timeout = timeout
        try:
            self._channel = sync_channel(self.master, CHANNEL_OPTIONS, security)
        except TLSError as exc:
            raise OperatorError(str(exc)) from exc
        self._stub = opb_grpc.OperatorStub(self._channel)  # type: ignore[no-untyped-call]

    def _call(self, rpc: str, request: Message, response_type: type[M]) -> M:
        try:
            response = getattr(self._stub, rpc)(request, timeout=self._timeout)
        except grpc.RpcError as exc:
            raise _translate(exc, self.master) from exc
        assert isinstance(response, response_type)
        return response

    # ---------------------------------------------------------------- the master

    def get_health(self) -> opb.GetHealthResponse:
        return self._call("GetHealth", opb.GetHealthRequest(), opb.GetHealthResponse)

    def get_version(self) -> opb.GetVersionResponse:
        return self._call("GetVersion", opb.GetVersionRequest(), opb.GetVersionResponse)

    def get_flags(self) -> dict[str, str]:
        return dict(self._call("GetFlags", opb.GetFlagsRequest(), opb.GetFlagsResponse).flags)

    def get_master(self) -> opb.GetMasterResponse:
        """The answering master, whether it leads, and the masters contending."""
        return self._call("GetMaster", opb.GetMasterRequest(), opb.GetMasterResponse)

    def get_metrics(self) -> dict[str, float]:
        """Metric samples as ``name{label="value"}`` -> value."""
        response = self._call("GetMetrics", opb.GetMetricsRequest(), opb.GetMetricsResponse)
        return dict(response.metrics)

    # ---------------------------------------------------------------- state

    def get_state(self) -> opb.GetStateResponse:
        return self._call("GetState", opb.GetStateRequest(), opb.GetStateResponse)

    def get_agents(self) -> opb.GetAgentsResponse:
        return self._call("GetAgents", opb.GetAgentsRequest(), opb.GetAgentsResponse)

    def get_frameworks(self) -> opb.GetFrameworksResponse:
        return self._call("GetFrameworks", opb.GetFrameworksRequest(), opb.GetFrameworksResponse)

    def get_tasks(
        self,
        framework_id: str = "",
        agent_id: str = "",
        states: Iterable[int] = (),
        task_id: str = "",
        include_completed: bool = False,
        limit: int = 0,
        page_token: str = "",
    ) -> opb.GetTasksResponse:
        """One page of tasks matching every filter given (empty filters match all)."""
        request = _tasks_request(
            framework_id, agent_id, states, task_id, include_completed, limit, page_token
        )
        return self._call("GetTasks", request, opb.GetTasksResponse)

    def iter_tasks(self, **filters: Any) -> Iterator[pb.Task]:
        """Every task matching the filters of ``get_tasks``, page after page."""
        token = ""
        while True:
            page = self.get_tasks(**filters, page_token=token)
            yield from page.tasks
            token = page.next_page_token
            if not token:
                return

    def find_task(self, task_id: str, framework_id: str = "") -> pb.Task:
        """The task with this id (active or recently completed); NOT_FOUND if none."""
        found = list(
            self.iter_tasks(task_id=task_id, framework_id=framework_id, include_completed=True)
        )
        return _one_task(found, task_id, framework_id)

    def framework_endpoint(self, name: str) -> str | None:
        """The API address that the active framework named ``name`` publishes in its
        FrameworkInfo.endpoint (the bundled batch and service frameworks do), or None."""
        for framework in self.get_frameworks().frameworks:
            info = framework.framework_info
            if info.name == name and framework.active and info.endpoint:
                return info.endpoint
        return None

    def get_roles(self) -> opb.GetRolesResponse:
        return self._call("GetRoles", opb.GetRolesRequest(), opb.GetRolesResponse)

    def get_weights(self) -> dict[str, float]:
        return dict(
            self._call("GetWeights", opb.GetWeightsRequest(), opb.GetWeightsResponse).weights
        )

    def update_weights(self, weights: Mapping[str, float]) -> dict[str, float]:
        """Set role weights (kept across master failovers); returns all weights."""
        request = opb.UpdateWeightsRequest(weights=dict(weights))
        return dict(self._call("UpdateWeights", request, opb.UpdateWeightsResponse).weights)

    def get_quota(self) -> list[opb.QuotaConfig]:
        """Every role's quota (guarantees and limits)."""
        return list(self._call("GetQuota", opb.GetQuotaRequest(), opb.GetQuotaResponse).configs)

    def update_quota(
        self, configs: Sequence[opb.QuotaConfig], force: bool = False
    ) -> list[opb.QuotaConfig]:
        """Set the quota of roles, all or none (a config with neither guarantees nor
        limits removes the role's); `force` skips the cluster capacity check. Returns
        every role's quota after the update."""
        request = opb.UpdateQuotaRequest(configs=list(configs), force=force)
        return list(self._call("UpdateQuota", request, opb.UpdateQuotaResponse).configs)

    # ---------------------------------------------------------------- reservations

    def reserve_resources(self, agent_id: str, resources: Resources) -> Resources:
        """Reserve unused resources of an agent (each with a DYNAMIC reservation); the
        agent's resources after it."""
        request = opb.ReserveResourcesRequest(agent_id=agent_id, resources=resources.to_proto())
        return self._operated("ReserveResources", request)

    def unreserve_resources(self, agent_id: str, resources: Resources) -> Resources:
        request = opb.UnreserveResourcesRequest(agent_id=agent_id, resources=resources.to_proto())
        return self._operated("UnreserveResources", request)

    def create_volumes(self, agent_id: str, volumes: Resources) -> Resources:
        request = opb.CreateVolumesRequest(agent_id=agent_id, volumes=volumes.to_proto())
        return self._operated("CreateVolumes", request)

    def destroy_volumes(self, agent_id: str, volumes: Resources) -> Resources:
        """Destroy unused persistent volumes of an agent (their data is deleted)."""
        request = opb.DestroyVolumesRequest(agent_id=agent_id, volumes=volumes.to_proto())
        return self._operated("DestroyVolumes", request)

    def _operated(self, rpc: str, request: Message) -> Resources:
        response = self._call(rpc, request, opb.ResourceOperationResponse)
        return Resources.from_proto(response.total)

    # ---------------------------------------------------------------- files

    def read_file(
        self, framework_id: str, task_id: str, path: str, offset: int = 0, length: int = 0
    ) -> apb.ReadFileResponse:
        """Read part of a file in a task's sandbox (through the master)."""
        request = apb.ReadFileRequest(
            framework_id=framework_id, task_id=task_id, path=path, offset=offset, length=length
        )
        return self._call("ReadFile", request, apb.ReadFileResponse)

    def list_files(self, framework_id: str, task_id: str, path: str = "") -> apb.ListFilesResponse:
        request = apb.ListFilesRequest(framework_id=framework_id, task_id=task_id, path=path)
        return self._call("ListFiles", request, apb.ListFilesResponse)

    def tail_file(
        self,
        framework_id: str,
        task_id: str,
        path: str,
        offset: int = 0,
        follow: bool = False,
        poll_interval: float = 0.5,
    ) -> Iterator[bytes]:
        """The file's bytes from ``offset``; with ``follow``, keep polling for more until
        the task has ended and the file is drained."""
        while True:
            chunk = self.read_file(framework_id, task_id, path, offset)
            if chunk.data:
                offset += len(chunk.data)
                yield chunk.data
                continue
            if not follow or chunk.task_terminal:
                return
            time.sleep(poll_interval)

    # ---------------------------------------------------------------- events

    def subscribe(self, heartbeat_interval: float = 0.0) -> Iterator[opb.OperatorEvent]:
        """Events as they happen, after a SUBSCRIBED event with the whole state.

        The stream has no deadline; stop iterating (or close the client) to end it.
        """
        request = opb.SubscribeRequest(heartbeat_interval_seconds=heartbeat_interval)
        stream = self._stub.Subscribe(request)
        try:
            yield from stream
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                raise _translate(exc, self.master) from exc
        finally:
            stream.cancel()

    # ---------------------------------------------------------------- maintenance

    def drain_agent(self, agent_id: str, max_grace_period: float | None = None) -> opb.AgentState:
        """Stop offering the agent and kill its tasks (with at most this grace period)."""
        request = _drain_request(agent_id, max_grace_period)
        return self._call("DrainAgent", request, opb.AgentState)

    def deactivate_agent(self, agent_id: str) -> opb.AgentState:
        return self._call("DeactivateAgent", opb.AgentRequest(agent_id=agent_id), opb.AgentState)

    def reactivate_agent(self, agent_id: str) -> opb.AgentState:
        return self._call("ReactivateAgent", opb.AgentRequest(agent_id=agent_id), opb.AgentState)

    def mark_agent_gone(self, agent_id: str) -> None:
        """The agent is gone for good; its tasks are GONE_BY_OPERATOR (LOST for frameworks
        that are not partition-aware)."""
        request = opb.AgentRequest(agent_id=agent_id)
        self._call("MarkAgentGone", request, opb.MarkAgentGoneResponse)

    def teardown_framework(self, framework_id: str) -> None:
        request = opb.TeardownFrameworkRequest(framework_id=framework_id)
        self._call("TeardownFramework", request, opb.TeardownFrameworkResponse)

    # ---------------------------------------------------------------- life cycle

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> OperatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncOperatorClient:
    """The same client for asyncio code: every method is a coroutine."""

    def __init__(
        self, master: str, timeout: float = 10.0, security: ClientSecurity | None = None
    ) -> None:
        self.master = _resolve(master)
        self._timeout = timeout
        try:
            self._channel = aio_channel(self.master, CHANNEL_OPTIONS, security)
        except TLSError as exc:
            raise OperatorError(str(exc)) from exc
        self._stub = opb_grpc.OperatorStub(self._channel)  # type: ignore[no-untyped-call]

    async def _call(self, rpc: str, request: Message, response_type: type[M]) -> M:
        try:
            response = await getattr(self._stub, rpc)(request, timeout=self._timeout)
        except grpc.RpcError as exc:
            raise _translate(exc, self.master) from exc
        assert isinstance(response, response_type)
        return response

    async def get_health(self) -> opb.GetHealthResponse:
        return await self._call("GetHealth", opb.GetHealthRequest(), opb.GetHealthResponse)

    async def get_version(self) -> opb.GetVersionResponse:
        return await self._call("GetVersion", opb.GetVersionRequest(), opb.GetVersionResponse)

    async def get_flags(self) -> dict[str, str]:
        response = await self._call("GetFlags", opb.GetFlagsRequest(), opb.GetFlagsResponse)
        return dict(response.flags)

    async def get_master(self) -> opb.GetMasterResponse:
        return await self._call("GetMaster", opb.GetMasterRequest(), opb.GetMasterResponse)

    async def get_metrics(self) -> dict[str, float]:
        response = await self._call("GetMetrics", opb.GetMetricsRequest(), opb.GetMetricsResponse)
        return dict(response.metrics)

    async def get_state(self) -> opb.GetStateResponse:
        return await self._call("GetState", opb.GetStateRequest(), opb.GetStateResponse)

    async def get_agents(self) -> opb.GetAgentsResponse:
        return await self._call("GetAgents", opb.GetAgentsRequest(), opb.GetAgentsResponse)

    async def get_frameworks(self) -> opb.GetFrameworksResponse:
        return await self._call(
            "GetFrameworks", opb.GetFrameworksRequest(), opb.GetFrameworksResponse
        )

    async def get_tasks(
        self,
        framework_id: str = "",
        agent_id: str = "",
        states: Iterable[int] = (),
        task_id: str = "",
        include_completed: bool = False,
        limit: int = 0,
        page_token: str = "",
    ) -> opb.GetTasksResponse:
        request = _tasks_request(
            framework_id, agent_id, states, task_id, include_completed, limit, page_token
        )
        return await self._call("GetTasks", request, opb.GetTasksResponse)

    async def find_task(self, task_id: str, framework_id: str = "") -> pb.Task:
        found: list[pb.Task] = []
        token = ""
        while True:
            page = await self.get_tasks(
                task_id=task_id, framework_id=framework_id, include_completed=True, page_token=token
            )
            found.extend(page.tasks)
            token = page.next_page_token
            if not token:
                return _one_task(found, task_id, framework_id)

    async def get_roles(self) -> opb.GetRolesResponse:
        return await self._call("GetRoles", opb.GetRolesRequest(), opb.GetRolesResponse)

    async def get_weights(self) -> dict[str, float]:
        response = await self._call("GetWeights", opb.GetWeightsRequest(), opb.GetWeightsResponse)
        return dict(response.weights)

    async def update_weights(self, weights: Mapping[str, float]) -> dict[str, float]:
        request = opb.UpdateWeightsRequest(weights=dict(weights))
        response = await self._call("UpdateWeights", request, opb.UpdateWeightsResponse)
        return dict(response.weights)

    async def get_quota(self) -> list[opb.QuotaConfig]:
        response = await self._call("GetQuota", opb.GetQuotaRequest(), opb.GetQuotaResponse)
        return list(response.configs)

    async def update_quota(
        self, configs: Sequence[opb.QuotaConfig], force: bool = False
    ) -> list[opb.QuotaConfig]:
        request = opb.UpdateQuotaRequest(configs=list(configs), force=force)
        response = await self._call("UpdateQuota", request, opb.UpdateQuotaResponse)
        return list(response.configs)

    async def read_file(
        self, framework_id: str, task_id: str, path: str, offset: int = 0, length: int = 0
    ) -> apb.ReadFileResponse:
        """Read part of a file in a task's sandbox (through the master)."""
        request = apb.ReadFileRequest(
            framework_id=framework_id, task_id=task_id, path=path, offset=offset, length=length
        )
        return await self._call("ReadFile", request, apb.ReadFileResponse)

    async def list_files(
        self, framework_id: str, task_id: str, path: str = ""
    ) -> apb.ListFilesResponse:
        request = apb.ListFilesRequest(framework_id=framework_id, task_id=task_id, path=path)
        return await self._call("ListFiles", request, apb.ListFilesResponse)

    async def subscribe(self, heartbeat_interval: float = 0.0) -> AsyncIterator[opb.OperatorEvent]:
        """Events as they happen, after a SUBSCRIBED event with the whole state."""
        request = opb.SubscribeRequest(heartbeat_interval_seconds=heartbeat_interval)
        stream = self._stub.Subscribe(request)
        try:
            async for event in stream:
                yield event
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                raise _translate(exc, self.master) from exc
        finally:
            stream.cancel()

    async def drain_agent(
        self, agent_id: str, max_grace_period: float | None = None
    ) -> opb.AgentState:
        request = _drain_request(agent_id, max_grace_period)
        return await self._call("DrainAgent", request, opb.AgentState)

    async def deactivate_agent(self, agent_id: str) -> opb.AgentState:
        request = opb.AgentRequest(agent_id=agent_id)
        return await self._call("DeactivateAgent", request, opb.AgentState)

    async def reactivate_agent(self, agent_id: str) -> opb.AgentState:
        request = opb.AgentRequest(agent_id=agent_id)
        return await self._call("ReactivateAgent", request, opb.AgentState)

    async def mark_agent_gone(self, agent_id: str) -> None:
        request = opb.AgentRequest(agent_id=agent_id)
        await self._call("MarkAgentGone", request, opb.MarkAgentGoneResponse)

    async def teardown_framework(self, framework_id: str) -> None:
        request = opb.TeardownFrameworkRequest(framework_id=framework_id)
        await self._call("TeardownFramework", request, opb.TeardownFrameworkResponse)

    async def close(self) -> None:
        await self._channel.close(None)

    async def __aenter__(self) -> AsyncOperatorClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
