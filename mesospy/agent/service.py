"""The ``Agent`` gRPC service: what the master asks of this agent.

Each RPC checks its input first and answers mistakes with a status code and a message a
person can act on; the work itself is done by ``TaskManager`` and ``StatusUpdateManager``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import grpc

from mesospy.agent.sandbox import (
    SandboxPathError,
    check_id,
    ended_task_sandbox,
    resolve_in_sandbox,
)
from mesospy.agent.status_updates import StatusUpdateManager
from mesospy.agent.tasks import Task, TaskManager
from mesospy.resources import ResourceError
from mesospy.security.task_user import SandboxEscape, open_in_sandbox
from mesospy.task_states import STATUS_UUID_BYTES
from mesospy.v1 import agent_pb2, agent_pb2_grpc, common_pb2

log = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]
READ_CAP = 1024 * 1024


class AgentService(agent_pb2_grpc.AgentServicer):
    """Serves RunTasks, KillTask, AcknowledgeUpdates, ShutdownFramework, ReadFile and
    ListFiles."""

    def __init__(
        self,
        tasks: TaskManager,
        updates: StatusUpdateManager,
        work_dir: Path,
        agent_id: str | None = None,
        on_launch: Callable[[int], None] | None = None,
        on_checkpoint: Callable[[list[common_pb2.Resource]], None] | None = None,
    ) -> None:
        self._tasks = tasks
        # Takes the master's CheckpointResources (raises ResourceError when malformed).
        self._on_checkpoint = on_checkpoint
        self._on_launch = on_launch  # told how many tasks each RunTasks hands over
        self._updates = updates
        self._work_dir = work_dir
        self.agent_id = agent_id
        # Between losing the master and being registered again (or, after a restart, until
        # re-registered), launches are refused: the master would judge this agent's tasks by
        # a re-registration that may not list a task started meanwhile, and call it lost
        # while it runs (as a Mesos agent does, it takes no tasks until registered).
        self.reregistering = False

    async def RunTasks(
        self, request: agent_pb2.RunTasksRequest, context: Context
    ) -> agent_pb2.AgentResponse:
        await _refusing(context, self.run_tasks, request)
        return agent_pb2.AgentResponse()

    def run_tasks(self, request: agent_pb2.RunTasksRequest) -> None:
        """Start the tasks (by call or on the session); ``Refused`` when none may start."""
        framework = request.framework_info
        if not framework.id:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "framework_info.id is empty")
        _check_ids(("framework_info.id", framework.id))
        if not request.tasks:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "RunTasks carries no tasks")
        seen: set[str] = set()
        for task in request.tasks:
            _check_ids(("task_id", task.task_id))
            if task.task_id in seen:
                raise Refused(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"task id {task.task_id!r} appears twice in one RunTasks request",
                )
            seen.add(task.task_id)
            if task.agent_id and self.agent_id and task.agent_id != self.agent_id:
                raise Refused(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"task {task.task_id!r} is meant for agent {task.agent_id!r}, "
                    f"but this is agent {self.agent_id!r}",
                )
        if self.reregistering:
            raise Refused(
                grpc.StatusCode.UNAVAILABLE,
                f"agent {self.agent_id} is re-registering with the master; "
                f"{len(request.tasks)} task(s) not started",
            )
        self._tasks.launch(framework, list(request.tasks), request.group)
        if self._on_launch is not None:
            self._on_launch(len(request.tasks))

    async def CheckpointResources(
        self, request: agent_pb2.CheckpointResourcesRequest, context: Context
    ) -> agent_pb2.AgentResponse:
        await _refusing(context, self.checkpoint_resources, request)
        return agent_pb2.AgentResponse()

    def checkpoint_resources(self, request: agent_pb2.CheckpointResourcesRequest) -> None:
        """Keep the agent's dynamic reservations and volumes as the master sends them."""
        if self._on_checkpoint is None:
            raise Refused(grpc.StatusCode.UNIMPLEMENTED, "this agent keeps no reservations")
        try:
            self._on_checkpoint(list(request.resources))
        except ResourceError as exc:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f"CheckpointResources: {exc}") from exc

    async def KillTask(
        self, request: agent_pb2.KillTaskRequest, context: Context
    ) -> agent_pb2.AgentResponse:
        await _refusing(context, self.kill_task, request)
        return agent_pb2.AgentResponse()

    def kill_task(self, request: agent_pb2.KillTaskRequest) -> None:
        _check_ids(("framework_id", request.framework_id), ("task_id", request.task_id))
        grace: float | None = None
        if request.HasField("kill_policy") and request.kill_policy.HasField("grace_period_seconds"):
            grace = request.kill_policy.grace_period_seconds
            if grace < 0:
                raise Refused(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"kill_policy.grace_period_seconds is {grace:g}; it must not be negative",
                )
        # Killing a task that is unknown or already ended is not an error: its terminal
        # update (if any) is still being retried until acknowledged.
        self._tasks.kill(request.framework_id, request.task_id, grace)

    async def AcknowledgeUpdates(
        self, request: agent_pb2.AcknowledgeUpdatesRequest, context: Context
    ) -> agent_pb2.AgentResponse:
        await _refusing(context, self.acknowledge, request)
        return agent_pb2.AgentResponse()

    def acknowledge(self, request: agent_pb2.AcknowledgeUpdatesRequest) -> None:
        """Apply the master's acknowledgements (by call or on the session); ``Refused``,
        and none applied, if one is malformed."""
        for ack in request.acks:
            if not ack.framework_id or not ack.task_id or len(ack.uuid) != STATUS_UUID_BYTES:
                raise Refused(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"each ack needs framework_id, task_id and the update's "
                    f"{STATUS_UUID_BYTES}-byte uuid (got framework_id={ack.framework_id!r}, "
                    f"task_id={ack.task_id!r}, uuid of {len(ack.uuid)} bytes)",
                )
        for ack in request.acks:
            self._updates.acknowledge((ack.framework_id, ack.task_id), ack.uuid)

    async def ShutdownFramework(
        self, request: agent_pb2.ShutdownFrameworkRequest, context: Context
    ) -> agent_pb2.AgentResponse:
        await _refusing(context, self.shutdown_framework, request)
        return agent_pb2.AgentResponse()

    def shutdown_framework(self, request: agent_pb2.ShutdownFrameworkRequest) -> None:
        _check_ids(("framework_id", request.framework_id))
        self._tasks.shutdown_framework(request.framework_id)

    async def _sandbox_path(
        self,
        request: agent_pb2.ReadFileRequest | agent_pb2.ListFilesRequest,
        relative: str,
        context: Context,
    ) -> tuple[Task | None, Path, Path]:
        """The task (if still known), its sandbox and ``relative`` resolved inside it;
        aborts the call when the task has no sandbox here or the path leaves it."""
        try:
            _check_ids(("framework_id", request.framework_id), ("task_id", request.task_id))
        except Refused as exc:
            await _abort(context, exc.code, str(exc))
        key = (request.framework_id, request.task_id)
        task = self._tasks.tasks.get(key)
        sandbox = task.sandbox if task else ended_task_sandbox(self._work_dir, *key)
        if not sandbox.is_dir():
            await _abort(
                context,
                grpc.StatusCode.NOT_FOUND,
                f"task {request.task_id!r} of framework {request.framework_id!r} "
                "has no sandbox on this agent",
            )
        try:
            path = resolve_in_sandbox(sandbox, relative)
        except SandboxPathError as exc:
            code = (
                grpc.StatusCode.PERMISSION_DENIED
                if "outside" in str(exc)
                else grpc.StatusCode.INVALID_ARGUMENT
            )
            await _abort(context, code, str(exc))
        return task, sandbox, path

    async def ReadFile(
        self, request: agent_pb2.ReadFileRequest, context: Context
    ) -> agent_pb2.ReadFileResponse:
        task, sandbox, path = await self._sandbox_path(request, request.path, context)
        length = min(request.length or READ_CAP, READ_CAP)
        try:
            data, size = await asyncio.to_thread(_read, sandbox, path, request.offset, length)
        except SandboxEscape as exc:
            await _abort(context, grpc.StatusCode.PERMISSION_DENIED, str(exc))
        except FileNotFoundError:
            await _abort(
                context,
                grpc.StatusCode.NOT_FOUND,
                f"{request.path!r} does not exist in the sandbox",
            )
        except IsADirectoryError:
            await _abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, f"{request.path!r} is a directory"
            )
        except OSError as exc:
            await _abort(
                context, grpc.StatusCode.INTERNAL, f"cannot read {request.path!r}: {exc.strerror}"
            )
        return agent_pb2.ReadFileResponse(
            data=data,
            offset=request.offset,
            size=size,
            task_terminal=task is None or task.terminal,
        )

    async def ListFiles(
        self, request: agent_pb2.ListFilesRequest, context: Context
    ) -> agent_pb2.ListFilesResponse:
        task, sandbox, path = await self._sandbox_path(request, request.path or ".", context)
        try:
            files = await asyncio.to_thread(_list, sandbox, path)
        except FileNotFoundError:
            await _abort(
                context,
                grpc.StatusCode.NOT_FOUND,
                f"{request.path!r} does not exist in the sandbox",
            )
        except NotADirectoryError:
            await _abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, f"{request.path!r} is not a directory"
            )
        except OSError as exc:
            await _abort(
                context, grpc.StatusCode.INTERNAL, f"cannot list {request.path!r}: {exc.strerror}"
            )
        return agent_pb2.ListFilesResponse(files=files, task_terminal=task is None or task.terminal)


def _list(sandbox: Path, directory: Path) -> list[agent_pb2.FileInfo]:
    root = Path(os.path.realpath(sandbox))
    out = []
    with os.scandir(directory) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            st = entry.stat(follow_symlinks=False)
            out.append(
                agent_pb2.FileInfo(
                    path=str((directory / entry.name).relative_to(root)),
                    size=st.st_size,
                    is_dir=entry.is_dir(follow_symlinks=False),
                    mtime=st.st_mtime,
                    mode=st.st_mode,
                )
            )
    return out


def _read(sandbox: Path, path: Path, offset: int, length: int) -> tuple[bytes, int]:
    with open(open_in_sandbox(sandbox, path), "rb") as f:
        size = os.fstat(f.fileno()).st_size
        f.seek(offset)
        return f.read(length), size


class Refused(Exception):
    """The master's request is refused: the status code and a message to act on."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


R = TypeVar("R")


async def _refusing(context: Context, work: Callable[[R], None], request: R) -> None:
    try:
        work(request)
    except Refused as exc:
        await _abort(context, exc.code, str(exc))


def _check_ids(*pairs: tuple[str, str]) -> None:
    for kind, value in pairs:
        try:
            check_id(kind, value)
        except SandboxPathError as exc:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from exc


async def _abort(context: Context, code: grpc.StatusCode, message: str) -> NoReturn:
    await context.abort(code, message)
