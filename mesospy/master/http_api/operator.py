"""The operator API at ``/api/v1``: Mesos's call types onto the gRPC ``OperatorService``.

A call is ``POST /api/v1`` with ``{"type": "GET_STATE", ...}``; the answer is
``{"type": "GET_STATE", "get_state": {...}}`` in Mesos's shapes. Each call type names the
servicer method that does the work; this module only translates.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message

from mesospy.http import Request, Response
from mesospy.master.http_api.calls import CallFailed, Context, Gate, unsupported
from mesospy.master.http_api.mesos_json import (
    Json,
    MappingError,
    from_json,
    nanoseconds,
    to_json,
)
from mesospy.master.http_api.recordio import record
from mesospy.master.operator_api import OperatorService
from mesospy.task_states import is_terminal
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import operator_pb2 as opb

JSON = "application/json"
METHOD = "/mesospy.v1.Operator/"


def bad(message: str) -> CallFailed:
    return CallFailed(grpc.StatusCode.INVALID_ARGUMENT, message)


def body_json(request: Request) -> Json:
    """The call's JSON object; 400 for anything else."""
    kind = request.header("content-type", JSON).split(";")[0].strip().lower()
    if kind not in (JSON, "", "*/*"):
        raise unsupported(kind, JSON)
    accept = request.header("accept", JSON).lower()
    if JSON not in accept and "*/*" not in accept and "application/*" not in accept:
        raise CallFailed(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"Accept {accept!r}: the operator API answers only {JSON}",
            406,
        )
    try:
        doc = json.loads(request.body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(f"the body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise bad('the body must be a JSON object such as {"type": "GET_HEALTH"}')
    return doc


def id_of(doc: Any, key: str, where: str) -> str:
    """An id given as Mesos's ``{"value": "..."}`` (or a plain string)."""
    value = doc.get(key) if isinstance(doc, dict) else None
    if isinstance(value, dict):
        value = value.get("value")
    if not isinstance(value, str) or not value:
        raise bad(f'{where} needs "{key}": {{"value": "..."}}')
    return value


def _seconds(doc: Any, key: str) -> float | None:
    value = doc.get(key) if isinstance(doc, dict) else None
    if value is None:
        return None
    ns = value.get("nanoseconds") if isinstance(value, dict) else None
    if not isinstance(ns, int | float | str):
        raise bad(f'"{key}" must be {{"nanoseconds": N}}')
    try:
        return float(ns) / 1e9
    except ValueError:
        raise bad(f'"{key}".nanoseconds must be a number') from None


# ------------------------------------------------------------------ answers in Mesos's shapes


def agent_json(a: opb.AgentState) -> Json:
    info = a.agent_info
    out: Json = {
        "agent_info": to_json(info),
        "active": a.active,
        "deactivated": not a.active,
        "version": info.version,
        "pid": f"slave(1)@{info.hostname}:{info.port}",
        "registered_time": nanoseconds(a.registered_time),
        "total_resources": [to_json(r) for r in a.total_resources or info.resources],
        "allocated_resources": [to_json(r) for r in a.used_resources],
        "offered_resources": [to_json(r) for r in a.offered_resources],
    }
    if a.drain_state != opb.AgentState.NOT_DRAINING:
        out["drain_info"] = {"state": opb.AgentState.DrainState.Name(a.drain_state)}
        out["estimated_drain_start_time"] = nanoseconds(a.drain_started_time)
    return out


def framework_json(f: opb.FrameworkState) -> Json:
    return {
        "framework_info": to_json(f.framework_info),
        "active": f.active,
        "connected": f.connected,
        "recovered": False,
        "registered_time": nanoseconds(f.registered_time),
        "allocated_resources": [to_json(r) for r in f.used_resources],
        "offered_resources": [to_json(r) for r in f.offered_resources],
    }


def agents_json(r: opb.GetAgentsResponse | opb.GetStateResponse) -> Json:
    return {"agents": [agent_json(a) for a in r.agents], "recovered_agents": []}


def frameworks_json(frameworks: Any) -> Json:
    return {"frameworks": [framework_json(f) for f in frameworks], "completed_frameworks": []}


def tasks_json(tasks: Any, completed: Any) -> Json:
    return {
        "tasks": [to_json(t) for t in tasks],
        "completed_tasks": [to_json(t) for t in completed],
        "pending_tasks": [],
        "orphan_tasks": [],
        "unreachable_tasks": [],
    }


def state_json(s: opb.GetStateResponse) -> Json:
    return {
        "get_tasks": tasks_json(s.tasks, s.completed_tasks),
        "get_executors": {"executors": []},
        "get_frameworks": frameworks_json(s.frameworks),
        "get_agents": agents_json(s),
    }


def _tasks_answer(r: opb.GetTasksResponse) -> Json:
    active = [t for t in r.tasks if not is_terminal(t.state)]
    done = [t for t in r.tasks if is_terminal(t.state)]
    return tasks_json(active, done)


def _roles_answer(r: opb.GetRolesResponse) -> Json:
    roles = []
    for role in r.roles:
        roles.append(
            {
                "name": role.name,
                "weight": role.weight,
                "frameworks": [{"value": f} for f in role.frameworks],
                "resources": [to_json(x) for x in role.allocated],
                "allocated": [to_json(x) for x in role.allocated],
                "offered": [to_json(x) for x in role.offered],
            }
        )
    return {"roles": roles}


def _weights(weights: Any) -> Json:
    return {"weight_infos": [{"role": k, "weight": v} for k, v in sorted(weights.items())]}


def _weights_request(doc: Json) -> opb.UpdateWeightsRequest:
    infos = (doc.get("update_weights") or {}).get("weight_infos")
    if not isinstance(infos, list) or not all(
        isinstance(i, dict) and isinstance(i.get("role"), str) for i in infos
    ):
        raise bad('UPDATE_WEIGHTS needs "update_weights": {"weight_infos": [{role, weight}]}')
    try:
        return opb.UpdateWeightsRequest(
            weights={i["role"]: float(i.get("weight", 1)) for i in infos}
        )
    except (TypeError, ValueError):
        raise bad("a weight must be a number") from None


def _quota_json(config: opb.QuotaConfig) -> Json:
    """One role's quota as Mesos 1.9's QuotaConfig: amounts as {"value": n} by name."""
    return {
        "role": config.role,
        "guarantees": {k: {"value": v} for k, v in sorted(config.guarantees.items())},
        "limits": {k: {"value": v} for k, v in sorted(config.limits.items())},
    }


def _quota_answer(r: opb.GetQuotaResponse) -> Json:
    return {"status": {"configs": [_quota_json(c) for c in r.configs]}}


def _amounts(doc: Any, where: str) -> dict[str, float]:
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise bad(f'{where} must be an object such as {{"cpus": {{"value": 4}}}}')
    out = {}
    for name, amount in doc.items():
        value = amount.get("value") if isinstance(amount, dict) else amount
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad(f'{where}.{name} must be {{"value": <number>}}')
        out[str(name)] = float(value)
    return out


def _quota_request(doc: Json) -> opb.UpdateQuotaRequest:
    body = doc.get("update_quota")
    if not isinstance(body, dict):
        body = {}
    configs = body.get("quota_configs")
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        raise bad(
            'UPDATE_QUOTA needs "update_quota": {"quota_configs": [{"role": "eng", '
            '"guarantees": {"cpus": {"value": 4}}, "limits": {...}}], "force": false}'
        )
    request = opb.UpdateQuotaRequest(force=bool(body.get("force", False)))
    for i, config in enumerate(configs):
        role = config.get("role")
        if not isinstance(role, str) or not role:
            raise bad(f'quota_configs[{i}] needs a "role"')
        request.configs.add(
            role=role,
            guarantees=_amounts(config.get("guarantees"), f"quota_configs[{i}].guarantees"),
            limits=_amounts(config.get("limits"), f"quota_configs[{i}].limits"),
        )
    return request


def _drain_request(doc: Json) -> opb.DrainAgentRequest:
    drain = doc.get("drain_agent")
    request = opb.DrainAgentRequest(agent_id=id_of(drain, "agent_id", "DRAIN_AGENT"))
    grace = _seconds(drain, "max_grace_period")
    if grace is not None:
        request.max_grace_period_seconds = grace
    return request


# ------------------------------------------------------------------ the call table


@dataclass(frozen=True)
class OperatorCall:
    method: str  # the servicer method (and the gRPC method it stands for)
    request: Callable[[Json], Message]
    answer: Callable[[Any], Json] | None  # None: 200 with an empty body


def _mapped(key: str, name: str, kind: type[Message]) -> Callable[[Json], Message]:
    """A call whose body (under ``key``) maps field by field onto ``kind``."""

    def request(doc: Json) -> Message:
        body = doc.get(key)
        if not isinstance(body, dict):
            raise bad(f'{name} needs "{key}": {{"agent_id": {{"value": "..."}}, ...}}')
        try:
            return from_json(body, kind())
        except MappingError as exc:
            raise bad(f"{name}: {exc}") from None

    return request


def _operated(response: opb.ResourceOperationResponse) -> Json:
    return {"total_resources": [to_json(r) for r in response.total]}


def _agent(key: str, name: str) -> Callable[[Json], Message]:
    return lambda doc: opb.AgentRequest(agent_id=id_of(doc.get(key), "agent_id", name))


CALLS: dict[str, OperatorCall] = {
    "GET_HEALTH": OperatorCall(
        "GetHealth", lambda d: opb.GetHealthRequest(), lambda r: {"healthy": r.healthy}
    ),
    "GET_VERSION": OperatorCall(
        "GetVersion",
        lambda d: opb.GetVersionRequest(),
        lambda r: {
            "version_info": {
                "version": r.version,
                "python_version": r.python_version,
                "grpc_version": r.grpc_version,
            }
        },
    ),
    "GET_FLAGS": OperatorCall(
        "GetFlags",
        lambda d: opb.GetFlagsRequest(),
        lambda r: {"flags": [{"name": k, "value": v} for k, v in sorted(r.flags.items())]},
    ),
    "GET_MASTER": OperatorCall(
        "GetMaster",
        lambda d: opb.GetMasterRequest(),
        lambda r: {
            "master_info": to_json(r.master_info),
            "start_time": r.start_time,
            "elected_time": r.elected_time,
        },
    ),
    "GET_METRICS": OperatorCall(
        "GetMetrics",
        lambda d: opb.GetMetricsRequest(),
        lambda r: {"metrics": [{"name": k, "value": v} for k, v in sorted(r.metrics.items())]},
    ),
    "GET_STATE": OperatorCall("GetState", lambda d: opb.GetStateRequest(), state_json),
    "GET_AGENTS": OperatorCall("GetAgents", lambda d: opb.GetAgentsRequest(), agents_json),
    "GET_FRAMEWORKS": OperatorCall(
        "GetFrameworks",
        lambda d: opb.GetFrameworksRequest(),
        lambda r: frameworks_json(r.frameworks),
    ),
    "GET_TASKS": OperatorCall(
        "GetTasks",
        lambda d: opb.GetTasksRequest(include_completed=True, limit=10_000),
        _tasks_answer,
    ),
    "GET_ROLES": OperatorCall("GetRoles", lambda d: opb.GetRolesRequest(), _roles_answer),
    "GET_WEIGHTS": OperatorCall(
        "GetWeights", lambda d: opb.GetWeightsRequest(), lambda r: _weights(r.weights)
    ),
    "UPDATE_WEIGHTS": OperatorCall("UpdateWeights", _weights_request, None),
    "GET_QUOTA": OperatorCall("GetQuota", lambda d: opb.GetQuotaRequest(), _quota_answer),
    "UPDATE_QUOTA": OperatorCall("UpdateQuota", _quota_request, None),
    "DRAIN_AGENT": OperatorCall("DrainAgent", _drain_request, None),
    "DEACTIVATE_AGENT": OperatorCall(
        "DeactivateAgent", _agent("deactivate_agent", "DEACTIVATE_AGENT"), None
    ),
    "REACTIVATE_AGENT": OperatorCall(
        "ReactivateAgent", _agent("reactivate_agent", "REACTIVATE_AGENT"), None
    ),
    "MARK_AGENT_GONE": OperatorCall(
        "MarkAgentGone", _agent("mark_agent_gone", "MARK_AGENT_GONE"), None
    ),
    "RESERVE_RESOURCES": OperatorCall(
        "ReserveResources",
        _mapped("reserve_resources", "RESERVE_RESOURCES", opb.ReserveResourcesRequest),
        _operated,
    ),
    "UNRESERVE_RESOURCES": OperatorCall(
        "UnreserveResources",
        _mapped("unreserve_resources", "UNRESERVE_RESOURCES", opb.UnreserveResourcesRequest),
        _operated,
    ),
    "CREATE_VOLUMES": OperatorCall(
        "CreateVolumes",
        _mapped("create_volumes", "CREATE_VOLUMES", opb.CreateVolumesRequest),
        _operated,
    ),
    "DESTROY_VOLUMES": OperatorCall(
        "DestroyVolumes",
        _mapped("destroy_volumes", "DESTROY_VOLUMES", opb.DestroyVolumesRequest),
        _operated,
    ),
    "TEARDOWN": OperatorCall(
        "TeardownFramework",
        lambda d: opb.TeardownFrameworkRequest(
            framework_id=id_of(d.get("teardown"), "framework_id", "TEARDOWN")
        ),
        None,
    ),
}
KNOWN = sorted([*CALLS, "SUBSCRIBE"])
# Mesos's call types that mesospy has no counterpart for, and what to use instead.
UNSUPPORTED = {
    **dict.fromkeys(
        [
            "GET_MAINTENANCE_STATUS",
            "GET_MAINTENANCE_SCHEDULE",
            "UPDATE_MAINTENANCE_SCHEDULE",
            "START_MAINTENANCE",
            "STOP_MAINTENANCE",
        ],
        "maintenance schedules are not kept here; drain, deactivate, reactivate or mark gone "
        "agents (DRAIN_AGENT, DEACTIVATE_AGENT, REACTIVATE_AGENT, MARK_AGENT_GONE)",
    ),
    **dict.fromkeys(
        ["GROW_VOLUME", "SHRINK_VOLUME"],
        "a persistent volume keeps its size; DESTROY_VOLUMES and CREATE_VOLUMES it anew",
    ),
    **dict.fromkeys(
        ["SET_QUOTA", "REMOVE_QUOTA"],
        "SET_QUOTA and REMOVE_QUOTA are Mesos's deprecated calls; use UPDATE_QUOTA (a role "
        "with empty guarantees and limits has no quota) and GET_QUOTA",
    ),
    **dict.fromkeys(
        ["GET_EXECUTORS"],
        "the master does not list executors; GET_TASKS names each task's executor",
    ),
    **dict.fromkeys(
        ["GET_LOGGING_LEVEL", "SET_LOGGING_LEVEL"], "the log level is the master's --log-level flag"
    ),
    **dict.fromkeys(
        ["LIST_FILES", "READ_FILE"], "read a task's sandbox with /files/browse and /files/read"
    ),
}


# ------------------------------------------------------------------ events


def event_json(e: opb.OperatorEvent, heartbeat: float) -> Json:
    kind = opb.OperatorEvent.Type.Name(e.type)
    out: Json = {"type": kind}
    T = opb.OperatorEvent
    if e.type == T.SUBSCRIBED:
        out["subscribed"] = {
            "get_state": state_json(e.subscribed),
            "heartbeat_interval_seconds": heartbeat,
        }
    elif e.type == T.TASK_ADDED:
        out["task_added"] = {"task": to_json(e.task)}
    elif e.type == T.TASK_UPDATED:
        out["task_updated"] = {
            "framework_id": {"value": e.task.framework_id},
            "agent_id": {"value": e.task.agent_id},
            "status": to_json(e.task.status),
            "state": pb.TaskState.Name(e.task.state),
        }
    elif e.type in (T.AGENT_ADDED, T.AGENT_UPDATED):
        out[kind.lower()] = {"agent": agent_json(e.agent)}
    elif e.type == T.AGENT_REMOVED:
        out["agent_removed"] = {"agent_id": {"value": e.agent_id}, "reason": e.reason}
    elif e.type in (T.FRAMEWORK_ADDED, T.FRAMEWORK_UPDATED):
        out[kind.lower()] = {"framework": framework_json(e.framework)}
    elif e.type == T.FRAMEWORK_REMOVED:
        out["framework_removed"] = {
            "framework_info": {"id": {"value": e.framework_id}},
            "reason": e.reason,
        }
    return out


class OperatorHttp:
    """``POST /api/v1``."""

    def __init__(self, gate: Gate, service: OperatorService) -> None:
        self.gate = gate
        self.service = service

    async def handle(self, request: Request) -> Response:
        if request.method != "POST":
            return Response(405, b"the operator API takes POST\n", headers=[("Allow", "POST")])
        try:
            doc = body_json(request)
            kind = doc.get("type")
            if kind == "SUBSCRIBE":
                return await self._subscribe(request, doc)
            call = CALLS.get(kind) if isinstance(kind, str) else None
            if isinstance(kind, str) and kind in UNSUPPORTED:
                raise CallFailed(
                    grpc.StatusCode.UNIMPLEMENTED, f"{kind} is not available: {UNSUPPORTED[kind]}"
                )
            if call is None:
                raise bad(f"unknown call type {kind!r}; known: {', '.join(KNOWN)}")
            message = call.request(doc)
            handler: Callable[[Message, Context], Awaitable[Message]] = getattr(
                self.service, call.method
            )
            answer = await self.gate.call(request, METHOD + call.method, message, handler)
        except CallFailed as exc:
            return self.gate.failure(exc, request)
        if call.answer is None:
            return Response(200, b"", JSON)
        name = str(kind)
        body = {"type": name, name.lower(): call.answer(answer)}
        return Response(200, json.dumps(body).encode(), JSON)

    async def _subscribe(self, request: Request, doc: Json) -> Response:
        options = doc.get("subscribe") or {}
        interval = options.get("heartbeat_interval_seconds", 0) if isinstance(options, dict) else 0
        if not isinstance(interval, int | float):
            raise bad("subscribe.heartbeat_interval_seconds must be a number")
        message = opb.SubscribeRequest(heartbeat_interval_seconds=float(interval))
        first, events = await self.gate.open_stream(
            request, METHOD + "Subscribe", message, self.service.Subscribe
        )
        heartbeat = message.heartbeat_interval_seconds or 15.0

        async def frames() -> AsyncIterator[bytes]:
            try:
                yield record(json.dumps(event_json(first, heartbeat)).encode())
                async for event in events:
                    yield record(json.dumps(event_json(event, heartbeat)).encode())
            except CallFailed:
                return  # e.g. too slow a subscriber: the stream ends
            finally:
                await events.aclose()  # type: ignore[attr-defined]

        return Response(
            200,
            content_type=JSON,
            stream=frames(),
            on_close=events.aclose,  # type: ignore[attr-defined]
        )
