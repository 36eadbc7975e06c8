"""Mesos's older master endpoints: ``/master/state`` (``/state.json``), ``/master/redirect``,
``/metrics/snapshot``, ``/files/read`` and ``/files/browse``, ``/health``.

Each is answered by the same servicer method as its operator call (GetState, GetMetrics,
ReadFile, ListFiles), through the same guard; only the JSON shape is the endpoint's own.
"""

from __future__ import annotations

import json
from typing import Any

import grpc

from mesospy.http import Request, Response
from mesospy.master.http_api.calls import CallFailed, Context, Gate
from mesospy.master.http_api.mesos_json import Json, to_json
from mesospy.master.operator_api import OperatorService
from mesospy.v1 import agent_pb2 as apb
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import operator_pb2 as opb

JSON = "application/json"
METHOD = "/mesospy.v1.Operator/"


def resources_dict(resources: Any) -> dict[str, Any]:
    """Resources as state.json writes them: ``{"cpus": 2.0, "ports": "[31000-31999]"}``."""
    out: dict[str, Any] = {}
    for r in resources:
        if r.type == pb.Resource.SCALAR:
            out[r.name] = out.get(r.name, 0.0) + r.scalar
        elif r.type == pb.Resource.RANGES:
            spans = ", ".join(f"{x.begin}-{x.end}" for x in r.ranges)
            out[r.name] = f"[{spans}]"
        else:
            out[r.name] = "{" + ", ".join(r.items) + "}"
    for name in ("cpus", "mem", "disk", "gpus"):
        out.setdefault(name, 0.0)
    return out


def _state_task(t: pb.Task) -> Json:
    statuses = []
    if t.HasField("status"):
        statuses.append(
            {"state": pb.TaskState.Name(t.status.state), "timestamp": t.status.timestamp}
        )
    return {
        "id": t.task_id,
        "name": t.name,
        "framework_id": t.framework_id,
        "executor_id": "",
        "slave_id": t.agent_id,
        "state": pb.TaskState.Name(t.state),
        "role": t.role,
        "resources": resources_dict(t.resources),
        "statuses": statuses,
        "labels": [{"key": x.key, "value": x.value} for x in t.labels],
    }


def state_document(
    master_id: str,
    s: opb.GetStateResponse,
    flags: dict[str, str],
    leading: bool,
    start_time: float,
    elected_time: float,
) -> Json:
    """Mesos's ``/master/state`` JSON from a GetState answer."""
    info = s.master_info
    by_framework: dict[str, list[Json]] = {}
    done_by_framework: dict[str, list[Json]] = {}
    for t in s.tasks:
        by_framework.setdefault(t.framework_id, []).append(_state_task(t))
    for t in s.completed_tasks:
        done_by_framework.setdefault(t.framework_id, []).append(_state_task(t))
    offers_by_framework: dict[str, list[Json]] = {}
    for o in s.offers:
        offers_by_framework.setdefault(o.framework_id, []).append(
            {
                "id": o.id,
                "framework_id": o.framework_id,
                "slave_id": o.agent_id,
                "resources": resources_dict(o.resources),
            }
        )
    frameworks = []
    for f in s.frameworks:
        fi = f.framework_info
        frameworks.append(
            {
                "id": fi.id,
                "name": fi.name,
                "user": fi.user,
                "hostname": fi.hostname,
                "principal": fi.principal,
                "webui_url": fi.webui_url,
                "role": fi.roles[0] if fi.roles else "*",
                "roles": list(fi.roles) or ["*"],
                "failover_timeout": fi.failover_timeout,
                "checkpoint": fi.checkpoint,
                "capabilities": [pb.FrameworkInfo.Capability.Name(c) for c in fi.capabilities],
                "active": f.active,
                "connected": f.connected,
                "registered_time": f.registered_time,
                "resources": resources_dict(f.used_resources),
                "used_resources": resources_dict(f.used_resources),
                "offered_resources": resources_dict(f.offered_resources),
                "tasks": by_framework.get(fi.id, []),
                "completed_tasks": done_by_framework.get(fi.id, []),
                "offers": offers_by_framework.get(fi.id, []),
                "executors": [],
            }
        )
    slaves = []
    for a in s.agents:
        ai = a.agent_info
        slaves.append(
            {
                "id": ai.id,
                "pid": f"slave(1)@{ai.hostname}:{ai.port}",
                "hostname": ai.hostname,
                "port": ai.port,
                "registered_time": a.registered_time,
                "resources": resources_dict(ai.resources),
                "used_resources": resources_dict(a.used_resources),
                "offered_resources": resources_dict(a.offered_resources),
                "reserved_resources": {},
                "unreserved_resources": resources_dict(ai.resources),
                "attributes": dict(ai.attributes),
                "active": a.active,
                "deactivated": not a.active,
                "version": ai.version,
            }
        )
    return {
        "version": info.version,
        "id": master_id,
        "pid": info.pid,
        "hostname": info.hostname,
        "start_time": start_time,
        "elected_time": elected_time if leading else None,
        "leader": info.pid if leading else None,
        "leader_info": to_json(info) if leading else None,
        "activated_slaves": sum(1 for a in s.agents if a.active),
        "deactivated_slaves": sum(1 for a in s.agents if not a.active),
        "unreachable_slaves": len(s.unreachable_agents),
        "flags": flags,
        "slaves": slaves,
        "frameworks": frameworks,
        "completed_frameworks": [],
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    }


class Endpoints:
    def __init__(self, gate: Gate, service: OperatorService) -> None:
        self.gate = gate
        self.service = service

    async def state(self, request: Request) -> Response:
        async def state_and_flags(
            message: opb.GetStateRequest, context: Context
        ) -> tuple[opb.GetStateResponse, opb.GetFlagsResponse]:
            snapshot = await self.service.GetState(message, context)
            return snapshot, await self.service.GetFlags(opb.GetFlagsRequest(), context)

        snapshot, flags = await self.gate.call(
            request, METHOD + "GetState", opb.GetStateRequest(), state_and_flags
        )
        m = self.gate.m
        doc = state_document(
            m.id,
            snapshot,
            dict(flags.flags),
            m.leading,
            m.start_time,
            float(getattr(m, "elected_time", m.start_time)),
        )
        return Response(200, json.dumps(doc).encode(), JSON)

    async def redirect(self, request: Request) -> Response:
        """307 to the leading master's HTTP API (itself when it leads)."""
        m = self.gate.m
        if m.leading:
            host = request.header("host") or f"{m.info.ip}:{m.info.http_port}"
            location = f"{self.gate.scheme}://{host}"
        else:
            leader = self.gate.leader_url("")
            if leader is None:
                return Response.text(
                    503, "no leading master with an HTTP API is known yet; retry shortly"
                )
            location = leader
        return Response.text(307, f"the leading master is at {location}", [("Location", location)])

    async def metrics(self, request: Request) -> Response:
        answer = await self.gate.call(
            request, METHOD + "GetMetrics", opb.GetMetricsRequest(), self.service.GetMetrics
        )
        return Response(200, json.dumps(dict(sorted(answer.metrics.items()))).encode(), JSON)

    def _task_query(self, request: Request) -> tuple[str, str, str]:
        q = request.query
        framework_id, task_id = q.get("framework_id", ""), q.get("task_id", "")
        if not framework_id or not task_id:
            raise CallFailed(
                grpc.StatusCode.INVALID_ARGUMENT,
                "give framework_id=...&task_id=... (the task's sandbox) and path=...",
            )
        return framework_id, task_id, q.get("path", "")

    async def read(self, request: Request) -> Response:
        framework_id, task_id, path = self._task_query(request)
        try:
            offset = int(request.query.get("offset", "0"))
            length = int(request.query.get("length", "0"))
        except ValueError:
            raise CallFailed(
                grpc.StatusCode.INVALID_ARGUMENT, "offset and length must be integers"
            ) from None
        if offset < 0 or length < 0:
            raise CallFailed(grpc.StatusCode.INVALID_ARGUMENT, "offset and length must be >= 0")
        message = apb.ReadFileRequest(
            framework_id=framework_id, task_id=task_id, path=path, offset=offset, length=length
        )
        answer = await self.gate.call(request, METHOD + "ReadFile", message, self.service.ReadFile)
        doc = {
            "data": answer.data.decode(errors="replace"),
            "offset": answer.offset,
            "size": answer.size,
        }
        return Response(200, json.dumps(doc).encode(), JSON)

    async def browse(self, request: Request) -> Response:
        framework_id, task_id, path = self._task_query(request)
        message = apb.ListFilesRequest(framework_id=framework_id, task_id=task_id, path=path)
        files_answer = await self.gate.call(
            request, METHOD + "ListFiles", message, self.service.ListFiles
        )
        files = [
            {
                "path": f.path,
                "size": f.size,
                "mtime": f.mtime,
                "mode": _mode_string(f.mode, f.is_dir),
                "nlink": 1,
                "uid": "",
                "gid": "",
            }
            for f in files_answer.files
        ]
        return Response(200, json.dumps(files).encode(), JSON)


def _mode_string(mode: int, is_dir: bool) -> str:
    bits = "".join(c if mode & (1 << (8 - i)) else "-" for i, c in enumerate("rwxrwxrwx"))
    return ("d" if is_dir else "-") + bits
