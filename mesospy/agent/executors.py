"""Frameworks' own executors on this agent: start, feed, watch, shut down.

A task whose TaskInfo names an ``executor`` is not run by the agent: the agent starts the
executor (once per framework and executor id, in a sandbox of its own, under the same
isolation as a task) and hands it the task; the executor reports the task's states over
the executor API (``mesospy.agent.executor_service``), and those updates take the same
acknowledged, ordered path to the scheduler as the agent's own (``StatusUpdateManager``).
When an executor's process ends, each of its tasks that had not ended fails
(REASON_EXECUTOR_TERMINATED) and the master hears of the exit (a FAILURE event for the
scheduler).

Framework messages go both ways through here: from the master's session to the
executor's event stream, and from the executor to the master on the agent's session, in
batches. They are best effort, as in Mesos: nothing is retried.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import mesospy
from mesospy.agent import executor_checkpoint
from mesospy.agent.containers.containerizer import ERRORS as IMAGE_ERRORS
from mesospy.agent.containers.containerizer import Containerizer, Prepared, images_problem
from mesospy.agent.containers.launch import LaunchError
from mesospy.agent.containers.rootfs import SANDBOX_PATH
from mesospy.agent.executor_checkpoint import SavedExecutor
from mesospy.agent.fetch_cache import FetchCancelled
from mesospy.agent.fetcher import Cancellation
from mesospy.agent.isolation import Container, Isolator, kill_container
from mesospy.agent.launcher import LaunchSpec, TaskLauncher, describe_exit, kill_group
from mesospy.agent.persistent_volumes import link_volumes, volume_uses
from mesospy.agent.sandbox import escape_id
from mesospy.agent.status_updates import StatusUpdateManager
from mesospy.agent.task_env import user_environment
from mesospy.agent.tasks import Task, TaskManager, process_start_ticks
from mesospy.container_info import image_name
from mesospy.resources import Resources
from mesospy.security.task_user import delegate_cgroups, root_problem, switch_to, task_user
from mesospy.task_states import is_terminal
from mesospy.v1 import agent_pb2, common_pb2
from mesospy.v1 import executor_pb2 as epb

log = logging.getLogger(__name__)

Reason = common_pb2.TaskStatus.Reason
ExecutorKey = tuple[str, str]  # (framework_id, executor_id)
# How long an executor has to end its tasks after SHUTDOWN before it is signalled.
DEFAULT_SHUTDOWN_GRACE = 5.0
# A framework message carries at most this much data (either direction).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# Messages to the master go in batches of at most this many.
MAX_MESSAGE_BATCH = 2000
# The module the DEFAULT executor (task groups) runs as.
DEFAULT_EXECUTOR = "mesospy.executor.default"
MasterSend = Callable[[agent_pb2.AgentMessage], Awaitable[None]]


@dataclass(eq=False)
class RunningExecutor:
    """One executor process and what it runs, from its start until it has ended."""

    framework: common_pb2.FrameworkInfo
    info: common_pb2.ExecutorInfo
    sandbox: Path
    container: Container
    token: str
    tasks: dict[str, Task] = field(default_factory=dict)
    pid: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    stop_watch: Callable[[], None] | None = None
    # Events waiting for the executor's stream (all of them until it subscribes).
    queue: list[epb.Event] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    stream: int = 0  # bumped by each Subscribe: an older stream then ends
    subscribed: bool = False
    shutting_down: bool = False
    exited: bool = False
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    # Taken back after an agent restart: not our child; must subscribe again in time.
    recovered: bool = False
    start_ticks: int | None = None
    # Why it was killed for not subscribing in time, or "".
    never_subscribed: str = ""
    # Stops the pull of its image (an executor in an image) when it is shut down.
    pulling: Cancellation = field(default_factory=Cancellation)

    @property
    def key(self) -> ExecutorKey:
        return (self.framework.id, self.info.executor_id)

    def push(self, event: epb.Event) -> None:
        self.queue.append(event)
        self.wake.set()


def executor_sandbox(work_dir: Path, framework_id: str, executor_id: str) -> Path:
    """``work_dir/frameworks/<fid>/executors/<eid>``, both ids escaped."""
    return work_dir / "frameworks" / escape_id(framework_id) / "executors" / escape_id(executor_id)


def _image(info: common_pb2.ExecutorInfo) -> str | None:
    """The image an executor runs in, or None for one on the host."""
    if info.container.mesos.HasField("image"):
        return info.container.mesos.image.docker.name.strip()
    return None


def _scalar(resources: list[common_pb2.Resource], name: str) -> float | None:
    values = [r.scalar for r in resources if r.name == name]
    return sum(values) if values else None


class ExecutorRegistry:
    """Every executor this agent runs, keyed by (framework id, executor id)."""

    def __init__(
        self,
        *,
        work_dir: Path,
        launcher: TaskLauncher,
        isolator: Isolator,
        tasks: TaskManager,
        updates: StatusUpdateManager,
        agent_id: Callable[[], str],
        host: str,
        environment: Mapping[str, str],
        kill_grace_period: float = 3.0,
        shutdown_grace_period: float = DEFAULT_SHUTDOWN_GRACE,
        reregistration_timeout: float = 10.0,
        registration_timeout: float = 60.0,
        containerizer: Containerizer | None = None,
    ) -> None:
        self._work_dir = work_dir
        self._containerizer = containerizer  # for executors in container images
        self._launcher = launcher
        self._isolator = isolator
        self._tasks = tasks
        self._updates = updates
        self.agent_id = agent_id
        self.host = host
        self._base_env = dict(environment)
        self._kill_grace = kill_grace_period
        self._shutdown_grace = shutdown_grace_period
        self._loop = asyncio.get_running_loop()
        self.executors: dict[ExecutorKey, RunningExecutor] = {}
        self.endpoint = ""  # host:port of the executor API, once served
        self._master: MasterSend | None = None
        self._outbox: list[agent_pb2.ExecutorMessage] = []
        self._flushing: asyncio.Task[None] | None = None
        self._exits: list[agent_pb2.ExecutorExited] = []  # not yet told to a master
        self._meta = work_dir / "meta"
        self._reregistration_timeout = reregistration_timeout
        self._registration_timeout = registration_timeout
        tasks.executors = self

    # ------------------------------------------------------------------ recovery

    def saved_port(self) -> int:
        """The executor API's port before a restart (0: none): running executors
        reconnect to it."""
        return executor_checkpoint.load(self._meta).port

    def recover(self) -> None:
        """Take back the executors still running from before a restart (each must
        subscribe again within the re-registration timeout); report the others' exits."""
        saved = executor_checkpoint.load(self._meta).executors or []
        for record in saved:
            key = (record.framework.id, record.info.executor_id)
            actual = process_start_ticks(record.pid)
            if actual is None or (record.start_ticks is not None and actual != record.start_ticks):
                log.info("executor %r ended while the agent was down", key[1])
                self._exits.append(
                    agent_pb2.ExecutorExited(framework_id=key[0], executor_id=key[1])
                )
                continue
            resources = list(record.info.resources)
            container = Container(
                record.container_id, _scalar(resources, "mem"), _scalar(resources, "cpus")
            )
            executor = RunningExecutor(
                record.framework,
                record.info,
                executor_sandbox(self._work_dir, *key),
                container,
                record.token,
                pid=record.pid,
                recovered=True,
                start_ticks=actual,
            )
            self._isolator.recover(container, record.pid)
            executor.stop_watch = self._launcher.watch(
                record.pid,
                lambda e=executor: self._on_exit(e),  # type: ignore[misc]
            )
            executor.timers.append(
                self._loop.call_later(
                    self._reregistration_timeout, self._reregistration_timed_out, executor
                )
            )
            self.executors[key] = executor
            log.info("re-adopted executor %r (pid %d)", key[1], record.pid)
        self._persist()

    def adopt(self, task: Task) -> bool:
        """A recovered task of a recovered executor: it stays the executor's."""
        executor = self.executors.get((task.framework_id, task.info.executor.executor_id))
        if executor is None or executor.exited:
            return False
        grouped = task.info.HasField("command")  # (only a group's tasks have both)
        task.sandbox = (
            executor.sandbox / "tasks" / escape_id(task.info.task_id)
            if grouped
            else executor.sandbox
        )
        executor.tasks[task.info.task_id] = task
        return True

    def _reregistration_timed_out(self, executor: RunningExecutor) -> None:
        if executor.subscribed or executor.exited or executor.pid is None:
            return
        log.warning(
            "executor %r did not subscribe within %g s of the agent's restart; killing it",
            executor.info.executor_id,
            self._reregistration_timeout,
        )
        executor.never_subscribed = "did not subscribe again after the agent restarted"
        kill_group(executor.pid, signal.SIGKILL)

    def _registration_timed_out(self, executor: RunningExecutor) -> None:
        if executor.subscribed or executor.exited or executor.pid is None:
            return
        log.warning(
            "executor %r did not subscribe within %g s of its start; killing it",
            executor.info.executor_id,
            self._registration_timeout,
        )
        executor.never_subscribed = (
            f"did not subscribe within {self._registration_timeout:g} s of its start "
            "(is it an executor? it must speak the executor API)"
        )
        kill_group(executor.pid, signal.SIGKILL)

    def resubscribed(self, executor: RunningExecutor, subscribe: epb.Call.Subscribe) -> None:
        """A recovered executor is back: what it does not know of goes to it again (a
        launch lost with the old agent), and updates the agent lost are taken again."""
        known = {t.task_id for t in subscribe.unacknowledged_tasks}
        for task in executor.tasks.values():
            if task.terminal or task.info.task_id in known or task.state != common_pb2.TASK_STAGING:
                continue
            executor.push(epb.Event(type=epb.Event.LAUNCH, launch=epb.Event.Launch(task=task.info)))
        for update in subscribe.unacknowledged_updates:
            status = update.status
            owner = executor.tasks.get(status.task_id)
            if owner is None or owner.terminal:
                continue
            key = (owner.framework_id, status.task_id)
            pending = {s.uuid for s in self._updates.streams.pending(key)}
            latest = owner.latest.uuid if owner.latest is not None else b""
            if status.uuid not in pending and status.uuid != latest:
                self.report(executor, status)

    def _persist(self) -> None:
        port = int(self.endpoint.rsplit(":", 1)[1]) if self.endpoint else 0
        records = [
            SavedExecutor(
                e.framework,
                e.info,
                e.pid,
                e.start_ticks,
                e.token,
                e.container.id,
            )
            for e in self.executors.values()
            if e.pid is not None and not e.exited
        ]
        try:
            executor_checkpoint.save(self._meta, port, records)
        except OSError as exc:
            log.warning("cannot save the executors' checkpoint: %s", exc)

    # ------------------------------------------------------------------ the master

    def set_master(self, send: MasterSend | None) -> None:
        """The session to the master to send on (None while there is none)."""
        self._master = send
        if send is not None and (self._exits or self._outbox):
            self._schedule_flush()

    def to_framework(self, executor: RunningExecutor, data: list[bytes]) -> None:
        """Messages from an executor to its scheduler (dropped without a master)."""
        if self._master is None:
            log.info(
                "executor %r: %d message(s) dropped: no master",
                executor.info.executor_id,
                len(data),
            )
            return
        fid, eid = executor.key
        self._outbox.extend(
            agent_pb2.ExecutorMessage(framework_id=fid, executor_id=eid, data=d) for d in data
        )
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flushing is None or self._flushing.done():
            self._flushing = self._loop.create_task(self._flush())

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # what the current burst adds goes in the same batch
        while (self._outbox or self._exits) and self._master is not None:
            send = self._master
            try:
                while self._exits:
                    await send(agent_pb2.AgentMessage(executor_exited=self._exits[0]))
                    self._exits.pop(0)
                if self._outbox:
                    batch = self._outbox[:MAX_MESSAGE_BATCH]
                    del self._outbox[:MAX_MESSAGE_BATCH]
                    await send(
                        agent_pb2.AgentMessage(
                            executor_messages=agent_pb2.ExecutorMessages(messages=batch)
                        )
                    )
            except Exception as exc:  # best effort; exits go again on the next session
                log.info("executor messages to the master not sent: %s", exc)
                self._outbox.clear()
                return

    # ------------------------------------------------------------------ from TaskManager

    def launch(self, task: Task) -> None:
        """Hand ``task`` to its executor, starting the executor if it is not running."""
        executor = self._executor_for([task])
        if executor is None:
            return
        task.sandbox = executor.sandbox
        if not self._with_volumes([task]):
            return
        executor.tasks[task.info.task_id] = task
        executor.push(epb.Event(type=epb.Event.LAUNCH, launch=epb.Event.Launch(task=task.info)))

    def launch_group(self, tasks: list[Task]) -> None:
        """Hand a task group to its executor in one LAUNCH_GROUP; each task's directory
        is ``tasks/<task id>`` in the executor's sandbox."""
        executor = self._executor_for(tasks)
        if executor is None:
            return
        for task in tasks:
            task.sandbox = executor.sandbox / "tasks" / escape_id(task.info.task_id)
        if not self._with_volumes(tasks):
            return
        for task in tasks:
            executor.tasks[task.info.task_id] = task
        default = executor.info.type == common_pb2.ExecutorInfo.DEFAULT
        if default and any(image_name(task.info) for task in tasks):
            self._loop.create_task(self._launch_group_in_images(executor, tasks))
            return
        group = epb.Event.LaunchGroup(tasks=[task.info for task in tasks])
        executor.push(epb.Event(type=epb.Event.LAUNCH_GROUP, launch_group=group))

    def _with_volumes(self, tasks: list[Task]) -> bool:
        """Link each task's persistent volumes into its directory; False (the tasks
        failed) if that cannot be done."""
        try:
            for task in tasks:
                uses = volume_uses(self._work_dir, Resources.from_proto(task.info.resources))
                if uses:
                    task.sandbox.mkdir(parents=True, exist_ok=True)
                    link_volumes(uses, task.sandbox)
        except (OSError, ValueError) as exc:
            for each in tasks:
                self._tasks.end(
                    each,
                    common_pb2.TASK_FAILED,
                    Reason.REASON_CONTAINER_LAUNCH_FAILED,
                    f"cannot link the persistent volumes of task {each.info.task_id!r}: {exc}",
                )
            return False
        return True

    async def _launch_group_in_images(self, executor: RunningExecutor, tasks: list[Task]) -> None:
        """A group for the DEFAULT executor with image tasks: the agent pulls and makes
        each one's root (as for its own image tasks), and gives the executor the command
        line that starts it there and its whole environment in its TaskInfo (the task's
        image left in: the executor then runs it as given). If one cannot be made ready,
        the group does not start."""
        containerizer = self._containerizer
        infos: list[common_pb2.TaskInfo] = []
        try:
            for task in tasks:
                name = image_name(task.info)
                if name is None:
                    infos.append(task.info)
                    continue
                if containerizer is None or containerizer.problem is not None:
                    problem = images_problem(containerizer)
                    raise LaunchError(
                        f"cannot run task {task.info.task_id!r} in image {name!r}: {problem}"
                    )
                task.image = name
                prepared = await asyncio.to_thread(self._prepare_task_root, containerizer, task)
                info = common_pb2.TaskInfo()
                info.CopyFrom(task.info)
                info.command.ClearField("shell")
                info.command.argv[:] = prepared.argv()
                info.command.ClearField("environment")
                info.command.environment.update(prepared.env)
                infos.append(info)
        except (*IMAGE_ERRORS, FetchCancelled, OSError) as exc:
            for task in tasks:
                self._cleanup_task_root(task)
                if not task.terminal:
                    self._tasks.end(
                        task,
                        common_pb2.TASK_FAILED,
                        Reason.REASON_CONTAINER_LAUNCH_FAILED,
                        f"the group could not start: {exc}",
                    )
            if not any(not t.terminal for t in executor.tasks.values()):
                self._shut_down(executor)  # it has nothing else to run
            return
        group = epb.Event.LaunchGroup(tasks=infos)
        executor.push(epb.Event(type=epb.Event.LAUNCH_GROUP, launch_group=group))

    def _prepare_task_root(self, containerizer: Containerizer, task: Task) -> Prepared:
        """Worker thread: one task of a group pulled and its root made."""
        task.sandbox.mkdir(parents=True, exist_ok=True)
        agent_vars = {
            "MESOS_TASK_ID": task.info.task_id,
            "MESOS_FRAMEWORK_ID": task.framework_id,
            "MESOS_AGENT_ID": self.agent_id(),
            "HOST": self.host,
        }
        return containerizer.prepare(
            task.info,
            task.container.id,
            task.sandbox,
            agent_vars,
            task.fetching or Cancellation(),
            allow_root=self._tasks.image_root_allowed,
        )

    def _cleanup_task_root(self, task: Task) -> None:
        """An image task of a group: its root unmounted and removed (in a worker thread)."""
        if task.image is not None and self._containerizer is not None:
            self._loop.run_in_executor(None, self._containerizer.cleanup, task.container.id)

    def _executor_for(self, tasks: list[Task]) -> RunningExecutor | None:
        """The running executor of these tasks (all naming one), started if need be; None
        (and the tasks ended) if there is none for them."""
        first = tasks[0]
        info = first.info.executor
        executor = self.executors.get((first.framework_id, info.executor_id))
        problem: tuple[int, int, str] | None = None
        if executor is not None and executor.shutting_down:
            problem = (
                common_pb2.TASK_FAILED,
                Reason.REASON_EXECUTOR_TERMINATED,
                f"executor {info.executor_id!r} is shutting down",
            )
        elif executor is not None and (
            executor.info.command != info.command
            or executor.info.type != info.type
            or executor.info.container != info.container
        ):
            problem = (
                common_pb2.TASK_ERROR,
                Reason.REASON_TASK_INVALID,
                f"executor {info.executor_id!r} already runs here with another command or image",
            )
        elif executor is None:
            executor = self._start(tasks)
            if executor is None:
                return None
        if problem is not None:
            for task in tasks:
                self._tasks.end(task, *problem)
            return None
        return executor

    def kill(self, task: Task, grace: float | None) -> bool:
        """Ask the task's executor to kill it (the executor reports TASK_KILLED)."""
        executor = self.executors.get((task.framework_id, task.info.executor.executor_id))
        if executor is None or task.terminal or task.info.task_id not in executor.tasks:
            return False
        kill = epb.Event.Kill(task_id=task.info.task_id)
        if grace is not None:
            kill.kill_policy.grace_period_seconds = grace
        executor.push(epb.Event(type=epb.Event.KILL, kill=kill))
        return True

    def acknowledged(self, key: tuple[str, str], status_uuid: bytes) -> None:
        """The scheduler acknowledged an update of one of an executor's tasks."""
        task = self._tasks.tasks.get(key)
        if task is None or not task.info.HasField("executor"):
            return
        executor = self.executors.get((key[0], task.info.executor.executor_id))
        if executor is None:
            return
        executor.push(
            epb.Event(
                type=epb.Event.ACKNOWLEDGED,
                acknowledged=epb.Event.Acknowledged(task_id=key[1], uuid=status_uuid),
            )
        )
        if task.terminal and task.latest is not None and task.latest.uuid == status_uuid:
            executor.tasks.pop(key[1], None)  # its last update: the executor is done with it

    # ------------------------------------------------------------------ from the master

    def framework_messages(self, messages: agent_pb2.ExecutorMessages) -> None:
        for message in messages.messages:
            executor = self.executors.get((message.framework_id, message.executor_id))
            if executor is None or executor.exited:
                log.info(
                    "message for unknown executor %r of framework %r dropped",
                    message.executor_id,
                    message.framework_id,
                )
                continue
            executor.push(
                epb.Event(type=epb.Event.MESSAGE, message=epb.Event.Message(data=message.data))
            )

    def shutdown_executor(self, framework_id: str, executor_id: str) -> bool:
        executor = self.executors.get((framework_id, executor_id))
        if executor is None:
            return False
        self._shut_down(executor)
        return True

    def shutdown_framework(self, framework_id: str) -> None:
        for executor in list(self.executors.values()):
            if executor.framework.id == framework_id:
                self._shut_down(executor)

    def _shut_down(self, executor: RunningExecutor) -> None:
        """SHUTDOWN to the executor; SIGTERM after the grace period, SIGKILL after the
        kill grace period (at once if it never subscribed)."""
        if executor.shutting_down or executor.exited:
            return
        executor.shutting_down = True
        executor.pulling.cancel()
        grace = self._shutdown_grace if executor.subscribed else 0.0
        executor.push(
            epb.Event(
                type=epb.Event.SHUTDOWN,
                shutdown=epb.Event.Shutdown(grace_period_seconds=grace),
            )
        )
        executor.timers.append(self._loop.call_later(grace, self._terminate, executor))

    def _terminate(self, executor: RunningExecutor) -> None:
        if executor.pid is None or executor.exited:
            return
        kill_group(executor.pid, signal.SIGTERM)
        executor.timers.append(
            self._loop.call_later(self._kill_grace, kill_group, executor.pid, signal.SIGKILL)
        )

    def sandboxes(self) -> set[str]:
        """The sandbox of every executor still running (not to be collected)."""
        return {str(e.sandbox) for e in self.executors.values() if not e.exited}

    def infos(self) -> list[common_pb2.ExecutorInfo]:
        """Every running executor's ExecutorInfo (framework_id set), for re-registration."""
        out = []
        for executor in self.executors.values():
            info = common_pb2.ExecutorInfo()
            info.CopyFrom(executor.info)
            info.framework_id = executor.framework.id
            out.append(info)
        return out

    # ------------------------------------------------------------------ processes

    def _start(self, tasks: list[Task]) -> RunningExecutor | None:
        task = tasks[0]
        info = task.info.executor
        framework = self._tasks.frameworks.get(task.framework_id, common_pb2.FrameworkInfo())
        user = task_user(info.command.user, framework.user)
        image = _image(info)
        if image is not None:
            user = None  # the image's user (or command.user in it), as for an image task
        elif problem := root_problem(
            user, self._launcher.running_as_root, self._tasks.allow_root_tasks
        ):
            for each in tasks:
                self._tasks.end(each, common_pb2.TASK_ERROR, Reason.REASON_TASK_INVALID, problem)
            return None
        # The container's limits: the executor's own resources and its first tasks'.
        resources = [*info.resources, *(r for t in tasks for r in t.info.resources)]
        container = Container(
            uuid.uuid4().hex, _scalar(resources, "mem"), _scalar(resources, "cpus")
        )
        sandbox = executor_sandbox(self._work_dir, task.framework_id, info.executor_id)
        executor = RunningExecutor(framework, info, sandbox, container, secrets.token_hex(16))
        command = info.command
        env = dict(self._base_env)
        if info.type == common_pb2.ExecutorInfo.DEFAULT:
            # mesospy's own, from the agent's installation (or checkout).
            command = common_pb2.CommandInfo(argv=[sys.executable, "-m", DEFAULT_EXECUTOR])
            env["PYTHONPATH"] = str(Path(mesospy.__file__).resolve().parents[1])
        script = command.shell or "exec " + shlex.join(command.argv)
        env.update(user_environment(user))
        env.update(command.environment)
        env.update(
            MESOS_AGENT_ENDPOINT=self.endpoint,
            MESOS_FRAMEWORK_ID=task.framework_id,
            MESOS_EXECUTOR_ID=info.executor_id,
            MESOS_AGENT_ID=self.agent_id(),
            MESOS_SANDBOX=str(sandbox),
            MESOS_DIRECTORY=str(sandbox),
            MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=f"{self._shutdown_grace:g}s",
            MESOSPY_EXECUTOR_TOKEN=executor.token,
            HOST=self.host,
        )
        spec = LaunchSpec(["/bin/sh", "-c", script], env, sandbox, switch_to(user))
        if image is not None:
            return self._start_in_image(executor, tasks, image, env)
        return self._spawn(executor, tasks, spec)

    def _start_in_image(
        self, executor: RunningExecutor, tasks: list[Task], image: str, env: dict[str, str]
    ) -> RunningExecutor | None:
        """An executor in a container image: pulled and its root made in a worker thread
        (a pull may be slow; its tasks wait in its queue meanwhile), then started as an
        image task starts (``Containerizer.prepare``)."""
        containerizer = self._containerizer
        problem = images_problem(containerizer)
        if containerizer is None or problem is not None:
            for each in tasks:
                self._tasks.end(
                    each,
                    common_pb2.TASK_FAILED,
                    Reason.REASON_CONTAINER_LAUNCH_FAILED,
                    f"cannot run executor {executor.info.executor_id!r} in image {image!r}: "
                    f"{problem}",
                )
            return None
        self.executors[executor.key] = executor
        agent_vars = {k: v for k, v in env.items() if k.startswith(("MESOS", "HOST"))}
        agent_vars["MESOS_DIRECTORY"] = SANDBOX_PATH
        as_task = common_pb2.TaskInfo(
            task_id=executor.info.executor_id,
            command=executor.info.command,
            container=executor.info.container,
        )
        allow_root = self._tasks.image_root_allowed

        def prepare() -> Prepared:
            executor.sandbox.mkdir(parents=True, exist_ok=True)
            return containerizer.prepare(
                as_task,
                executor.container.id,
                executor.sandbox,
                agent_vars,
                executor.pulling,
                allow_root=allow_root,
            )

        async def start() -> None:
            try:
                prepared = await asyncio.to_thread(prepare)
            except (*IMAGE_ERRORS, FetchCancelled, OSError) as exc:
                self._image_failed(executor, f"cannot start executor in image {image!r}: {exc}")
                return
            if executor.shutting_down:
                await asyncio.to_thread(containerizer.cleanup, executor.container.id)
                self._ended(executor, None, None)
                return
            spec = LaunchSpec(prepared.argv(), prepared.env, executor.sandbox, None)
            if self._spawn(executor, list(executor.tasks.values()), spec) is None:
                await asyncio.to_thread(containerizer.cleanup, executor.container.id)
                self._image_failed(executor, "")

        self._loop.create_task(start())
        return executor

    def _image_failed(self, executor: RunningExecutor, why: str) -> None:
        """An executor whose image could not be made ready: its tasks fail, and the
        master hears that it has ended."""
        if why:
            for task in executor.tasks.values():
                if not task.terminal:
                    self._tasks.end(
                        task, common_pb2.TASK_FAILED, Reason.REASON_CONTAINER_LAUNCH_FAILED, why
                    )
        self._ended(executor, None, None)

    def _spawn(
        self, executor: RunningExecutor, tasks: list[Task], spec: LaunchSpec
    ) -> RunningExecutor | None:
        info, container = executor.info, executor.container
        task = tasks[0]
        try:
            self._isolator.prepare(container)
            delegate_cgroups(container.paths, spec.user)
            files = self._launcher.prepare(spec)
            spec.argv = self._isolator.wrap(container, spec.argv)
            started = self._launcher.start(spec, files)
        except (OSError, KeyError, ValueError, subprocess.SubprocessError) as exc:
            self._isolator.cleanup(container)
            for each in tasks:
                self._tasks.end(
                    each,
                    common_pb2.TASK_FAILED,
                    Reason.REASON_CONTAINER_LAUNCH_FAILED,
                    f"cannot start executor {info.executor_id!r}: {exc}",
                )
            return None
        if isinstance(started, int):
            executor.pid = started
        else:
            executor.proc, executor.pid = started, started.pid
        try:
            self._isolator.isolate(container, executor.pid)
        except OSError as exc:
            log.warning("executor %r runs without isolation: %s", info.executor_id, exc)
        executor.stop_watch = self._launcher.watch(executor.pid, lambda: self._on_exit(executor))
        executor.start_ticks = process_start_ticks(executor.pid)
        executor.timers.append(
            self._loop.call_later(
                self._registration_timeout, self._registration_timed_out, executor
            )
        )
        self.executors[executor.key] = executor
        self._persist()
        log.info(
            "started executor %r of framework %r (pid %d)",
            info.executor_id,
            task.framework_id,
            executor.pid,
        )
        return executor

    def _on_exit(self, executor: RunningExecutor) -> None:
        executor.stop_watch = None
        assert executor.pid is not None
        kill_group(executor.pid, signal.SIGKILL)  # whatever it left behind goes with it
        if executor.proc is not None:
            code = executor.proc.wait()
        else:
            try:
                _, status = os.waitpid(executor.pid, 0)
                code = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                code = None
        limitation = self._isolator.limitation(executor.container) if code != 0 else None
        self._isolator.cleanup(executor.container)
        if _image(executor.info) is not None and self._containerizer is not None:
            self._loop.run_in_executor(None, self._containerizer.cleanup, executor.container.id)
        self._ended(executor, code, limitation)

    def _ended(self, executor: RunningExecutor, code: int | None, limitation: str | None) -> None:
        executor.exited = True
        for timer in executor.timers:
            timer.cancel()
        described = describe_exit(code) if code is not None else None
        how = described[0] if described else "ended (exit status unknown)"
        exit_code = described[1] if described else None
        eid = executor.info.executor_id
        log.info("executor %r of framework %r %s", eid, executor.framework.id, how)
        for task in executor.tasks.values():
            if task.terminal:
                continue
            if limitation:
                reason, state = Reason.REASON_CONTAINER_LIMITATION_MEMORY, common_pb2.TASK_FAILED
                message = f"executor {eid!r}: {limitation}"
            elif executor.never_subscribed:
                reason, state = Reason.REASON_EXECUTOR_TERMINATED, common_pb2.TASK_FAILED
                message = f"executor {eid!r} {executor.never_subscribed}"
            elif executor.shutting_down:
                reason, state = Reason.REASON_EXECUTOR_TERMINATED, common_pb2.TASK_KILLED
                message = f"executor {eid!r} was shut down and {how}"
            else:
                reason, state = Reason.REASON_EXECUTOR_TERMINATED, common_pb2.TASK_FAILED
                message = f"executor {eid!r} {how}"
            self._tasks.end(task, state, reason, message)
            self._cleanup_task_root(task)
        exited = agent_pb2.ExecutorExited(framework_id=executor.framework.id, executor_id=eid)
        if exit_code is not None:
            exited.status = exit_code
        self._exits.append(exited)
        if self._master is not None:
            self._schedule_flush()
        if self.executors.get(executor.key) is executor:
            del self.executors[executor.key]
        self._persist()
        executor.wake.set()  # its stream, if open, ends

    def report(self, executor: RunningExecutor, status: common_pb2.TaskStatus) -> str | None:
        """A status update from an executor: checked, completed and queued for the
        scheduler; why it was refused otherwise."""
        task = executor.tasks.get(status.task_id)
        if task is None:
            return (
                f"task {status.task_id!r} is not one of executor "
                f"{executor.info.executor_id!r}'s tasks"
            )
        if status.state not in common_pb2.TaskState.values() or status.state in (
            common_pb2.TASK_STATE_UNSPECIFIED,
            common_pb2.TASK_STAGING,
        ):
            return f"state {status.state} is not one an executor can report"
        if len(status.uuid) != 16:
            return f"status.uuid has {len(status.uuid)} bytes; it must be 16 random bytes"
        if task.terminal:
            return f"task {status.task_id!r} has already ended; its state cannot change"
        update = common_pb2.TaskStatus()
        update.CopyFrom(status)
        update.framework_id = executor.framework.id
        update.agent_id = self.agent_id()
        update.source = common_pb2.TaskStatus.SOURCE_EXECUTOR
        update.timestamp = update.timestamp or time.time()
        self._tasks.report(task, update)
        if is_terminal(update.state):
            self._cleanup_task_root(task)
        return None

    def close(self, kill: bool) -> None:
        """The agent stops: kill the executors (with kill_tasks_on_exit) or leave them."""
        for executor in self.executors.values():
            for timer in executor.timers:
                timer.cancel()
            if executor.stop_watch is not None:
                executor.stop_watch()
                executor.stop_watch = None
            if kill and executor.pid is not None:
                kill_group(executor.pid, signal.SIGKILL)
                # Its tasks too, now: the isolator's sweep would come too late, the agent
                # is exiting.
                kill_container(executor.container)
            executor.exited = True
            executor.wake.set()
