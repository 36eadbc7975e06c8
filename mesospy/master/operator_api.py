"""The operator API: the gRPC ``Operator`` service of the master.

It translates between the wire and the master: reads go to ``snapshot``, maintenance to
``maintenance``, events to ``events``. Handlers raise ``CallError``s, which become gRPC
statuses with the handler's message, so bad input never reaches an operator as a traceback.
"""

from __future__ import annotations

import dataclasses
import math
import platform
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any, TypeVar

import grpc

from mesospy import __version__
from mesospy.master import snapshot
from mesospy.master.agent_link import AgentLink
from mesospy.master.errors import CallError, FailedPrecondition, InvalidArgument, NotFound
from mesospy.master.events import SubscriberTooSlow
from mesospy.master.master import Master
from mesospy.master.validation import id_problem, role_problem
from mesospy.operations import Kind
from mesospy.v1 import agent_pb2 as apb
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import operator_pb2 as opb
from mesospy.v1 import operator_pb2_grpc as opb_grpc

T = TypeVar("T")
Context = grpc.aio.ServicerContext[Any, Any]
DEFAULT_HEARTBEAT = 15.0


async def _answer(context: Context, work: Awaitable[T]) -> T:
    try:
        return await work
    except CallError as exc:
        await context.abort(exc.code, exc.message)
        raise  # unreachable: abort raises


def _check_ids(*pairs: tuple[str, str]) -> None:
    for kind, value in pairs:
        if p := id_problem(kind, value):
            raise InvalidArgument(p)


class OperatorService(opb_grpc.OperatorServicer):
    """Serves the ``Operator`` service of operator.proto."""

    def __init__(self, master: Master) -> None:
        self.m = master

    async def _lead(self, context: Context) -> None:
        """Only the leader answers for the cluster; others name the leader."""
        try:
            self.m.require_leader()
        except CallError as exc:
            await context.abort(exc.code, exc.message)

    # ---------------------------------------------------------------- the master

    async def GetHealth(
        self, request: opb.GetHealthRequest, context: Context
    ) -> opb.GetHealthResponse:
        elected = self.m.leading
        return opb.GetHealthResponse(
            healthy=True,
            message="leading" if elected else "healthy, not leading",
            uptime_seconds=time.time() - self.m.start_time,
        )

    async def GetVersion(
        self, request: opb.GetVersionRequest, context: Context
    ) -> opb.GetVersionResponse:
        return opb.GetVersionResponse(
            version=__version__,
            python_version=platform.python_version(),
            grpc_version=grpc.__version__,
        )

    async def GetFlags(
        self, request: opb.GetFlagsRequest, context: Context
    ) -> opb.GetFlagsResponse:
        flags = {}
        for f in dataclasses.fields(self.m.config):
            value = getattr(self.m.config, f.name)
            flags[f.name.replace("_", "-")] = "" if value is None else str(value)
        return opb.GetFlagsResponse(flags=flags)

    async def GetMaster(
        self, request: opb.GetMasterRequest, context: Context
    ) -> opb.GetMasterResponse:
        elected = self.m.leading
        contenders = getattr(self.m, "contenders", None)
        return opb.GetMasterResponse(
            master_info=self.m.info,
            elected=elected,
            start_time=self.m.start_time,
            elected_time=float(getattr(self.m, "elected_time", self.m.start_time)),
            contenders=contenders() if callable(contenders) else [self.m.info],
        )

    # ---------------------------------------------------------------- state

    async def GetState(
        self, request: opb.GetStateRequest, context: Context
    ) -> opb.GetStateResponse:
        await self._lead(context)
        return snapshot.state_snapshot(self.m)

    async def GetAgents(
        self, request: opb.GetAgentsRequest, context: Context
    ) -> opb.GetAgentsResponse:
        await self._lead(context)
        return snapshot.agents_view(self.m)

    async def GetFrameworks(
        self, request: opb.GetFrameworksRequest, context: Context
    ) -> opb.GetFrameworksResponse:
        await self._lead(context)
        return snapshot.frameworks_view(self.m)

    async def GetTasks(
        self, request: opb.GetTasksRequest, context: Context
    ) -> opb.GetTasksResponse:
        await self._lead(context)

        async def work() -> opb.GetTasksResponse:
            if request.limit > 10_000:
                raise InvalidArgument(f"limit {request.limit} is above 10000; page instead")
            return snapshot.tasks_view(self.m, request)

        return await _answer(context, work())

    async def GetRoles(
        self, request: opb.GetRolesRequest, context: Context
    ) -> opb.GetRolesResponse:
        await self._lead(context)
        return snapshot.roles_view(self.m)

    async def GetWeights(
        self, request: opb.GetWeightsRequest, context: Context
    ) -> opb.GetWeightsResponse:
        await self._lead(context)
        return opb.GetWeightsResponse(weights=self.m.registry.weights())

    async def UpdateWeights(
        self, request: opb.UpdateWeightsRequest, context: Context
    ) -> opb.UpdateWeightsResponse:
        await self._lead(context)

        async def work() -> opb.UpdateWeightsResponse:
            weights = dict(request.weights)
            if not weights:
                raise InvalidArgument("UpdateWeights names no role; give e.g. {'prod': 2}")
            for role, weight in sorted(weights.items()):
                if p := role_problem(role):
                    raise InvalidArgument(p)
                if not (math.isfinite(weight) and weight > 0):
                    raise InvalidArgument(
                        f"weight {weight} of role {role!r} must be a finite number > 0"
                    )
            # Persist first: a weight the master applied but lost on failover would
            # silently change fairness.
            await self.m.registry.update_weights(weights)
            self.m.allocator.update_weights(weights)
            self.m.request_allocation()
            return opb.UpdateWeightsResponse(weights=self.m.registry.weights())

        return await _answer(context, work())

    async def GetQuota(
        self, request: opb.GetQuotaRequest, context: Context
    ) -> opb.GetQuotaResponse:
        await self._lead(context)
        return opb.GetQuotaResponse(configs=self.m.quota.configs())

    async def UpdateQuota(
        self, request: opb.UpdateQuotaRequest, context: Context
    ) -> opb.UpdateQuotaResponse:
        await self._lead(context)

        async def work() -> opb.UpdateQuotaResponse:
            await self.m.quota.update(list(request.configs), request.force)
            return opb.UpdateQuotaResponse(configs=self.m.quota.configs())

        return await _answer(context, work())

    async def GetMetrics(
        self, request: opb.GetMetricsRequest, context: Context
    ) -> opb.GetMetricsResponse:
        return opb.GetMetricsResponse(metrics=self.m.metrics.samples())

    # ---------------------------------------------------------------- files

    async def ReadFile(
        self, request: apb.ReadFileRequest, context: Context
    ) -> apb.ReadFileResponse:
        await self._lead(context)

        async def work() -> apb.ReadFileResponse:
            link = self._agent_link(request.framework_id, request.task_id)
            try:
                return await link.read_file(request)
            except grpc.aio.AioRpcError as exc:
                await context.abort(exc.code(), exc.details() or "agent read failed")
                raise

        return await _answer(context, work())

    async def ListFiles(
        self, request: apb.ListFilesRequest, context: Context
    ) -> apb.ListFilesResponse:
        await self._lead(context)

        async def work() -> apb.ListFilesResponse:
            link = self._agent_link(request.framework_id, request.task_id)
            try:
                return await link.list_files(request)
            except grpc.aio.AioRpcError as exc:
                await context.abort(exc.code(), exc.details() or "agent listing failed")
                raise

        return await _answer(context, work())

    def _agent_link(self, framework_id: str, task_id: str) -> AgentLink:
        _check_ids(("framework_id", framework_id), ("task_id", task_id))
        agent_id = self._agent_of(framework_id, task_id)
        agent = self.m.state.agents.get(agent_id)
        if agent is None:
            raise FailedPrecondition(
                f"task {task_id!r} ran on agent {agent_id!r}, which is not connected"
            )
        return agent.link

    def _agent_of(self, framework_id: str, task_id: str) -> str:
        task = self.m.state.find_task(framework_id, task_id)
        if task is not None:
            return task.agent_id
        for done in reversed(self.m.state.completed_tasks):
            if done.task_id == task_id and done.framework_id == framework_id:
                return done.agent_id
        raise NotFound(f"task {task_id!r} of framework {framework_id!r} is unknown to the master")

    # ---------------------------------------------------------------- events

    async def Subscribe(
        self, request: opb.SubscribeRequest, context: Context
    ) -> AsyncIterator[opb.OperatorEvent]:
        await self._lead(context)
        interval = request.heartbeat_interval_seconds or DEFAULT_HEARTBEAT
        if not (math.isfinite(interval) and interval >= 0.01):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"heartbeat_interval_seconds {interval} must be at least 0.01",
            )
        # Subscribing and taking the snapshot happen without an await between them, so no
        # change falls between the snapshot and the first event.
        subscriber = self.m.events.subscribe(interval)
        try:
            yield opb.OperatorEvent(
                type=opb.OperatorEvent.SUBSCRIBED,
                timestamp=time.time(),
                subscribed=snapshot.state_snapshot(self.m),
            )
            async for event in subscriber.events():
                yield event
        except SubscriberTooSlow as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        finally:
            self.m.events.unsubscribe(subscriber)

    # ---------------------------------------------------------------- maintenance

    async def DrainAgent(self, request: opb.DrainAgentRequest, context: Context) -> opb.AgentState:
        await self._lead(context)
        grace = (
            request.max_grace_period_seconds
            if request.HasField("max_grace_period_seconds")
            else None
        )

        async def work() -> opb.AgentState:
            agent = await self.m.maintenance.drain(request.agent_id, grace)
            return snapshot.agent_state(self.m, agent)

        return await _answer(context, work())

    async def DeactivateAgent(self, request: opb.AgentRequest, context: Context) -> opb.AgentState:
        await self._lead(context)

        async def work() -> opb.AgentState:
            agent = await self.m.maintenance.deactivate(request.agent_id)
            return snapshot.agent_state(self.m, agent)

        return await _answer(context, work())

    async def ReactivateAgent(self, request: opb.AgentRequest, context: Context) -> opb.AgentState:
        await self._lead(context)

        async def work() -> opb.AgentState:
            agent = await self.m.maintenance.reactivate(request.agent_id)
            return snapshot.agent_state(self.m, agent)

        return await _answer(context, work())

    async def MarkAgentGone(
        self, request: opb.AgentRequest, context: Context
    ) -> opb.MarkAgentGoneResponse:
        await self._lead(context)

        async def work() -> opb.MarkAgentGoneResponse:
            await self.m.maintenance.mark_gone(request.agent_id)
            return opb.MarkAgentGoneResponse()

        return await _answer(context, work())

    async def TeardownFramework(
        self, request: opb.TeardownFrameworkRequest, context: Context
    ) -> opb.TeardownFrameworkResponse:
        await self._lead(context)

        async def work() -> opb.TeardownFrameworkResponse:
            _check_ids(("framework_id", request.framework_id))
            record = self.m.state.frameworks.get(request.framework_id)
            if record is None:
                if request.framework_id in self.m.state.removed_frameworks:
                    return opb.TeardownFrameworkResponse()  # done already: retries are harmless
                raise NotFound(
                    f"framework {request.framework_id!r} is unknown to the master "
                    "(see `mesospy frameworks`)"
                )
            await self.m.frameworks.remove(record, "torn down by an operator")
            return opb.TeardownFrameworkResponse()

        return await _answer(context, work())

    # ---------------------------------------------------------------- reservations, volumes

    async def _operate(
        self, context: Context, kind: Kind, agent_id: str, items: Sequence[pb.Resource]
    ) -> opb.ResourceOperationResponse:
        await self._lead(context)

        async def work() -> opb.ResourceOperationResponse:
            _check_ids(("agent_id", agent_id))
            total = await self.m.reservations.operate(agent_id, kind, items)
            return opb.ResourceOperationResponse(total=total.to_proto())

        return await _answer(context, work())

    async def ReserveResources(
        self, request: opb.ReserveResourcesRequest, context: Context
    ) -> opb.ResourceOperationResponse:
        return await self._operate(context, "RESERVE", request.agent_id, request.resources)

    async def UnreserveResources(
        self, request: opb.UnreserveResourcesRequest, context: Context
    ) -> opb.ResourceOperationResponse:
        return await self._operate(context, "UNRESERVE", request.agent_id, request.resources)

    async def CreateVolumes(
        self, request: opb.CreateVolumesRequest, context: Context
    ) -> opb.ResourceOperationResponse:
        return await self._operate(context, "CREATE", request.agent_id, request.volumes)

    async def DestroyVolumes(
        self, request: opb.DestroyVolumesRequest, context: Context
    ) -> opb.ResourceOperationResponse:
        return await self._operate(context, "DESTROY", request.agent_id, request.volumes)
