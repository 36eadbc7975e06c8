"""Which ACL action each call of the master's services is, and on what object.

``CallAuthorizer`` is the guard's ``authorize`` hook for a master started with an ACL
file. It needs a little of the master's state (a framework's user and principal, a task's
user), which it reads through the small ``StateView`` protocol so it stays testable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from google.protobuf.message import Message

from mesospy.operations import accept_operation
from mesospy.security.acl import ACL
from mesospy.security.auth import Caller
from mesospy.v1 import agent_pb2 as apb
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import operator_pb2 as opb
from mesospy.v1 import scheduler_pb2 as spb

_VIEWS = frozenset(
    {
        "GetVersion",
        "GetFlags",
        "GetMaster",
        "GetState",
        "GetAgents",
        "GetFrameworks",
        "GetTasks",
        "GetRoles",
        "GetWeights",
        "GetQuota",
        "GetMetrics",
        "Subscribe",
    }
)
_DRAINS = frozenset({"DrainAgent", "DeactivateAgent", "ReactivateAgent"})


# Each resource operation: its ACL action and what of each resource is its object.
_RESOURCE_ACTIONS = {
    "RESERVE": "reserve_resources",
    "UNRESERVE": "unreserve_resources",
    "CREATE": "create_volumes",
    "DESTROY": "destroy_volumes",
}


def _object_of(kind: str, resource: pb.Resource) -> str:
    """The role (RESERVE, CREATE), reserver (UNRESERVE) or creator (DESTROY) checked."""
    reservation = resource.reservations[0] if resource.reservations else None
    if kind == "UNRESERVE":
        return reservation.principal if reservation is not None else ""
    if kind == "DESTROY":
        return resource.disk.persistence.principal
    return reservation.role if reservation is not None else resource.role


def operation_resources(
    request: Message,
) -> tuple[str, Sequence[pb.Resource]] | None:
    """The kind and resources of an operator's resource operation, or None."""
    if isinstance(request, opb.ReserveResourcesRequest):
        return "RESERVE", request.resources
    if isinstance(request, opb.UnreserveResourcesRequest):
        return "UNRESERVE", request.resources
    if isinstance(request, opb.CreateVolumesRequest):
        return "CREATE", request.volumes
    if isinstance(request, opb.DestroyVolumesRequest):
        return "DESTROY", request.volumes
    return None


class StateView(Protocol):
    def framework_info(self, framework_id: str) -> pb.FrameworkInfo | None: ...

    def task_user(self, framework_id: str, task_id: str) -> str | None: ...


def task_user(task: pb.TaskInfo, framework: pb.FrameworkInfo | None) -> str:
    """The user a task runs as: its command's, else its executor's (a task run by an
    executor), else its framework's ("" = the agent's)."""
    return (
        task.command.user
        or task.executor.command.user
        or (framework.user if framework is not None else "")
    )


class CallAuthorizer:
    """Checks each call against the ACLs; raises ``acl.Denied`` naming the rule."""

    def __init__(self, acl: ACL, view: StateView) -> None:
        self.acl = acl
        self.view = view

    def __call__(self, caller: Caller, request: Message) -> None:
        service, _, method = caller.method.rpartition("/")
        check, who = self.acl.check, caller.principal
        if service.endswith("Scheduler") and isinstance(request, spb.Call):
            self._scheduler(caller, request)
        elif service.endswith("AgentRegistry"):
            if method in ("RegisterAgent", "ReregisterAgent"):
                check("register_agents", who)
        elif method in _VIEWS:
            check("view_cluster", who)
        elif isinstance(request, apb.ReadFileRequest | apb.ListFilesRequest):
            user = self.view.task_user(request.framework_id, request.task_id)
            check("read_sandboxes", who, user)
        elif method in _DRAINS and isinstance(request, opb.DrainAgentRequest | opb.AgentRequest):
            check("drain_agents", who, request.agent_id)
        elif method == "MarkAgentGone" and isinstance(request, opb.AgentRequest):
            check("mark_agents_gone", who, request.agent_id)
        elif isinstance(request, opb.UpdateWeightsRequest):
            for role in request.weights:
                check("update_weights", who, role)
        elif isinstance(request, opb.UpdateQuotaRequest):
            for config in request.configs:
                check("update_quota", who, config.role)
        elif (operation := operation_resources(request)) is not None:
            self._resources(who, *operation)
        elif isinstance(request, opb.TeardownFrameworkRequest):
            info = self.view.framework_info(request.framework_id)
            check("teardown_frameworks", who, info.principal if info is not None else None)

    def _resources(
        self, principal: str | None, kind: str, resources: Sequence[pb.Resource]
    ) -> None:
        for obj in sorted({_object_of(kind, r) for r in resources}):
            self.acl.check(_RESOURCE_ACTIONS[kind], principal, obj)

    def _scheduler(self, caller: Caller, call: spb.Call) -> None:
        if call.type == spb.Call.SUBSCRIBE:
            for role in call.subscribe.framework_info.roles or ["*"]:
                self.acl.check("register_frameworks", caller.principal, role)
        elif call.type == spb.Call.UPDATE_FRAMEWORK:
            # New roles need the same right as subscribing with them.
            for role in call.update_framework.framework_info.roles or ["*"]:
                self.acl.check("register_frameworks", caller.principal, role)
        elif call.type == spb.Call.ACCEPT:
            framework = self.view.framework_info(call.framework_id)
            for operation in call.accept.operations:
                if (named := accept_operation(operation)) is not None:
                    self._resources(caller.principal, *named)
                group = operation.launch_group
                for task in operation.launch.task_infos:
                    self.acl.check("run_tasks", caller.principal, task_user(task, framework))
                for task in group.task_group.tasks:
                    # A group's task runs as its own user, else the group executor's.
                    grouped = pb.TaskInfo()
                    grouped.CopyFrom(task)
                    grouped.executor.CopyFrom(group.executor)
                    user = task_user(grouped, framework)
                    self.acl.check("run_tasks", caller.principal, user)
                if group.executor.command.user or group.task_group.tasks:
                    user = group.executor.command.user or (framework.user if framework else "")
                    self.acl.check("run_tasks", caller.principal, user)
