"""The life of each task on this agent: launch, watch, kill, health, end, recovery.

``TaskManager`` turns requests (launch, kill, shutdown) and process exits into status
updates. It owns the per-task bookkeeping; processes are started by ``TaskLauncher``,
limited by an ``Isolator``, and updates go to the ``StatusUpdateManager``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import shlex
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mesospy.agent.checkpoint import Checkpoint, RecoveredState
from mesospy.agent.containers import containerizer as images
from mesospy.agent.containers.forkserver import ForkServerUnavailable, Ticket
from mesospy.agent.containers.launch import validate_container
from mesospy.agent.executor_checkpoint import image_containers
from mesospy.agent.exit_status import ExitLog
from mesospy.agent.fetcher import Cancellation, FetchCancelled, Fetcher, FetchError
from mesospy.agent.health import HealthChecker, validate_health_check
from mesospy.agent.isolation import Container, Isolator
from mesospy.agent.launcher import STDOUT, LaunchSpec, TaskLauncher, describe_exit, kill_group
from mesospy.agent.persistent_volumes import link_volumes, volume_uses
from mesospy.agent.sandbox import SandboxPathError, check_id, sandbox_dir
from mesospy.agent.status_updates import StatusUpdateManager, TaskKey
from mesospy.agent.task_env import base_environment, user_environment
from mesospy.container_info import image_name
from mesospy.resources import Resources
from mesospy.security.task_user import delegate_cgroups, root_problem, switch_to, task_user
from mesospy.task_states import is_terminal
from mesospy.uris import uris_problem
from mesospy.v1 import common_pb2
from mesospy.wakeup import Revision

log = logging.getLogger(__name__)

Reason = common_pb2.TaskStatus.Reason
R = common_pb2.TaskStatus
MAX_PORT_VARS = 100
# Spawned tasks go back to the loop in groups of at most this many, or this often.
HANDBACK_MAX = 64
HANDBACK_SECONDS = 0.005
UNKNOWN_EXIT = "agent restarted; exit status unknown"


@dataclass
class Task:
    """One task on this agent, from launch until its terminal update is acknowledged."""

    framework_id: str
    info: common_pb2.TaskInfo
    sandbox: Path
    container: Container
    latest: common_pb2.TaskStatus | None = None
    pid: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    # Re-adopted after an agent restart: not our child, exit status may be unknown.
    adopted: bool = False
    stop_watch: Callable[[], None] | None = None
    # Why we are killing it (REASON_UNSPECIFIED for a plain kill request), or None.
    kill_reason: int | None = None
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    health: asyncio.Task[None] | None = None
    healthy: bool | None = None
    env: dict[str, str] = field(default_factory=dict)
    # Between RunTasks and the spawn's hand-back: a kill then cancels or ends it at once.
    launching: bool = False
    # While its artifacts are fetched (or its image pulled): a kill stops that through this.
    fetching: Cancellation | None = None
    # The container image it runs in, or None for a task on the host; its (uid, gid) there.
    image: str | None = None
    image_user: tuple[int, int] = (0, 0)
    # Started by the agent's fork server (its child, not ours), and the exit status it
    # reported (None: unknown).
    forked: bool = False
    forked_code: int | None = None
    # Looks at a re-adopted image task's record after it ended, while its status may
    # still be on its way (see _record_on_its_way).
    record_looks: int = 0

    @property
    def state(self) -> int:
        return self.latest.state if self.latest else common_pb2.TASK_STAGING

    @property
    def terminal(self) -> bool:
        return is_terminal(self.state)


@dataclass
class _Launch:
    """One task on its way through prepare (worker thread) and spawn (loop)."""

    task: Task
    spec: LaunchSpec
    # What TaskLauncher.start() returned: a pid, or the Popen for non-shell tasks.
    started: int | subprocess.Popen[bytes] | None = None
    error: BaseException | None = None
    # An image task sent to the fork server, its pid not collected yet.
    ticket: Ticket | None = None


def _pid_of(started: int | subprocess.Popen[bytes] | None) -> int | None:
    return started if isinstance(started, int) or started is None else started.pid


def _scalar(info: common_pb2.TaskInfo, name: str) -> float | None:
    values = [r.scalar for r in info.resources if r.name == name]
    return sum(values) if values else None


def _ports(info: common_pb2.TaskInfo) -> list[int]:
    ports: list[int] = []
    for resource in info.resources:
        if resource.name == "ports":
            for r in resource.ranges:
                ports.extend(range(r.begin, min(r.end, r.begin + MAX_PORT_VARS) + 1))
    return ports[:MAX_PORT_VARS]


class ExecutorRuntime(Protocol):
    """Runs the tasks that name an executor (``mesospy.agent.executors``)."""

    def launch(self, task: Task) -> None: ...

    def launch_group(self, tasks: list[Task]) -> None: ...

    def adopt(self, task: Task) -> bool: ...

    def kill(self, task: Task, grace: float | None) -> bool: ...

    def shutdown_framework(self, framework_id: str) -> None: ...


def validate_task(info: common_pb2.TaskInfo) -> str | None:
    """Why this task cannot be launched as described, or None."""
    command = info.command
    # A task of a group may have a command and an executor (the master sees to it that
    # only those do); any other executor task runs the executor's command.
    if info.HasField("executor") and not info.HasField("command"):
        if info.executor.type == common_pb2.ExecutorInfo.DEFAULT:
            return _numbers_problem(info)
        command = info.executor.command
    if info.HasField("container") and (problem := validate_container(info)):
        return problem
    # In an image, the image's Entrypoint/Cmd may stand for the command.
    neither = not command.shell and not command.argv
    if (command.shell and command.argv) or (neither and image_name(info) is None):
        return f"task {info.task_id!r} needs exactly one of command.shell and command.argv"
    if problem := _numbers_problem(info):
        return problem
    if info.HasField("health_check"):
        problem = validate_health_check(info.health_check)
        if problem:
            return f"task {info.task_id!r}: {problem}"
    if info.HasField("max_completion_time_seconds") and info.max_completion_time_seconds <= 0:
        return f"task {info.task_id!r}: max_completion_time_seconds must be positive"
    if (
        info.kill_policy.HasField("grace_period_seconds")
        and info.kill_policy.grace_period_seconds < 0
    ):
        return f"task {info.task_id!r}: kill_policy.grace_period_seconds must not be negative"
    if command.uris and (problem := uris_problem(list(command.uris))):
        return f"task {info.task_id!r}: command.{problem}"
    return None


def _numbers_problem(info: common_pb2.TaskInfo) -> str | None:
    for r in info.resources:
        if r.type == common_pb2.Resource.SCALAR and r.scalar < 0:
            return f"task {info.task_id!r} asks for {r.name}={r.scalar:g}, which is negative"
    return None


class TaskManager:
    """Runs tasks and reports what happens to them."""

    def __init__(
        self,
        *,
        work_dir: Path,
        host: str,
        launcher: TaskLauncher,
        isolator: Isolator,
        updates: StatusUpdateManager,
        checkpoint: Checkpoint,
        agent_id: Callable[[], str],
        kill_grace_period: float = 3.0,
        allow_root_tasks: bool = True,
        environment: Mapping[str, str] | None = None,
        fetcher: Fetcher | None = None,
        containerizer: images.Containerizer | None = None,
    ) -> None:
        self._work_dir = work_dir
        self._exits = ExitLog(work_dir)
        self._exits.create()
        self._host = host
        self._launcher = launcher
        self._isolator = isolator
        self._updates = updates
        self._checkpoint = checkpoint
        self._agent_id = agent_id
        self._kill_grace = kill_grace_period
        self._fetcher = fetcher
        self._containerizer = containerizer
        self._loop = asyncio.get_running_loop()
        self.frameworks: dict[str, common_pb2.FrameworkInfo] = {}
        # An agent running as root runs tasks as root only with this (--allow-root-tasks).
        self.allow_root_tasks = allow_root_tasks
        self.tasks: dict[TaskKey, Task] = {}
        # Runs tasks that name an executor (set by the agent); without it they fail.
        self.executors: ExecutorRuntime | None = None
        self._for_executors: list[Task] = []  # admitted by the launch under way
        # What every task starts with (mesospy.agent.task_env): not the agent's environment.
        self.base_env = dict(environment) if environment is not None else base_environment({})
        self._unstamped: list[Task] = []
        self._preparing: set[asyncio.Future[None]] = set()
        # Bumped whenever what ``task_protos`` and the frameworks report changes (a task
        # added, dropped or given a new status; a framework added): what the agent would
        # send in a re-registration is then no longer what it last sent.
        self.revision = Revision()

    def sandboxes(self) -> set[str]:
        """The sandbox of every task the agent tracks (not to be collected)."""
        return {str(task.sandbox) for task in self.tasks.values()}

    # ------------------------------------------------------------------ updates

    def _emit(
        self,
        task: Task,
        state: int,
        reason: int = Reason.REASON_UNSPECIFIED,
        message: str = "",
        *,
        healthy: bool | None = None,
        exit_code: int | None = None,
    ) -> None:
        status = common_pb2.TaskStatus(
            task_id=task.info.task_id,
            state=state,  # type: ignore[arg-type]
            reason=reason,  # type: ignore[arg-type]
            message=message,
            source=R.SOURCE_AGENT,
            agent_id=self._agent_id(),
            framework_id=task.framework_id,
            timestamp=time.time(),
            uuid=uuid.uuid4().bytes,
        )
        if healthy is not None:
            status.healthy = healthy
        if exit_code is not None:
            status.exit_code = exit_code
        task.latest = status
        self.revision.bump()
        self._updates.add((task.framework_id, task.info.task_id), status)

    def end(self, task: Task, state: int, reason: int, message: str) -> None:
        """Report a state of a task the agent decides itself (one of an executor's)."""
        self._emit(task, state, reason, message)

    def report(self, task: Task, status: common_pb2.TaskStatus) -> None:
        """Queue an update an executor sent (complete and checked) for the scheduler."""
        task.latest = status
        self.revision.bump()
        self._updates.add((task.framework_id, task.info.task_id), status)

    # ------------------------------------------------------------------ launch

    def launch(
        self,
        framework: common_pb2.FrameworkInfo,
        infos: list[common_pb2.TaskInfo],
        group: bool = False,
    ) -> None:
        """Start each task; every outcome is reported as a status update. ``group``: the
        tasks are one task group, handed to their executor together.

        Tasks are admitted at once (so a kill or a duplicate finds them); the file-system
        work (sandboxes, log files, cgroups) and the spawns then run in a worker thread,
        and the loop takes each group of started tasks back as it comes."""
        self.frameworks[framework.id] = framework
        self._checkpoint.add_framework(framework)
        self.revision.bump()  # the framework, and the tasks admitted below
        batch: list[_Launch] = []
        self._for_executors = []
        for info in infos:
            key = (framework.id, info.task_id)
            if key in self.tasks:
                # A retried RunTasks (or a buggy master): never run a task id twice.
                log.warning(
                    "task %r of framework %r is already known; not launched again", *key[::-1]
                )
                continue
            launch = self._admit(framework.id, info)
            if launch is not None:
                batch.append(launch)
        for_executors, self._for_executors = self._for_executors, []
        if for_executors and self.executors is not None:
            if group:
                self.executors.launch_group(for_executors)
            else:
                for task in for_executors:
                    self.executors.launch(task)
        if batch:
            # The tasks reach the log before any of them starts (one write for the batch):
            # an agent killed right after spawning must still know, when it restarts, the
            # tasks it started, or it re-registers without them and they run twice.
            self._checkpoint.flush()
            # Image tasks whose image is at hand start with the plain ones: no pull waits.
            plain: list[_Launch] = []
            waiting: list[_Launch] = []
            for launch in batch:
                (plain if self._quick(launch.task) else waiting).append(launch)
            if plain:
                self._prepare_in(None, plain)
            for launch in waiting:
                # Each fetch or pull on its own (a slow download must not hold others
                # back), in the fetcher's threads (a waiting fetch holds one).
                assert self._fetcher is not None
                self._prepare_in(self._fetcher.pool, [launch])

    def _quick(self, task: Task) -> bool:
        """No fetch or pull to wait for (the image, if any, is at hand)."""
        if task.fetching is None:
            return True
        return (
            not task.info.command.uris
            and task.image is not None
            and self._containerizer is not None
            and self._containerizer.ready(task.info)
        )

    def _prepare_in(self, pool: Executor | None, batch: list[_Launch]) -> None:
        job = self._loop.run_in_executor(pool, self._prepare_all, batch)
        self._preparing.add(job)
        job.add_done_callback(self._preparing.discard)

    def cancel_fetches(self) -> None:
        """Stop every fetch in progress (the agent is stopping): those tasks fail."""
        for task in self.tasks.values():
            if task.fetching is not None:
                task.fetching.cancel()

    def drop(self, framework_id: str, infos: list[common_pb2.TaskInfo], why: str) -> None:
        """Report tasks this agent will not start as TASK_DROPPED (a Mesos agent's answer
        to a RunTask it refuses): the master hears of them as of any task's end."""
        for info in infos:
            key = (framework_id, info.task_id)
            try:
                check_id("framework_id", framework_id)
                check_id("task_id", info.task_id)
            except SandboxPathError:
                continue  # no update can name it
            if key in self.tasks:
                continue
            task = Task(
                framework_id,
                info,
                sandbox_dir(self._work_dir, *key),
                Container(uuid.uuid4().hex, 0.0, 0.0),
            )
            self.tasks[key] = task
            self._emit(task, common_pb2.TASK_DROPPED, Reason.REASON_TASK_INVALID, why)

    async def wait_launched(self) -> None:
        """Wait until every admitted task has been spawned (or has failed to)."""
        while self._preparing:
            await asyncio.gather(*self._preparing, return_exceptions=True)
            await asyncio.sleep(0)  # let the last spawn callbacks run

    def _admit(self, framework_id: str, info: common_pb2.TaskInfo) -> _Launch | None:
        container = Container(uuid.uuid4().hex, _scalar(info, "mem"), _scalar(info, "cpus"))
        sandbox = sandbox_dir(self._work_dir, framework_id, info.task_id)
        task = Task(framework_id, info, sandbox, container)
        self.tasks[(framework_id, info.task_id)] = task
        self._checkpoint.add_task(framework_id, info, container.id)
        problem = validate_task(info)
        if problem:
            self._emit(task, common_pb2.TASK_ERROR, Reason.REASON_TASK_INVALID, problem)
            return None
        if info.HasField("executor"):
            if self.executors is None:
                self._emit(
                    task,
                    common_pb2.TASK_FAILED,
                    Reason.REASON_CONTAINER_LAUNCH_FAILED,
                    "this agent runs no executors",
                )
            else:
                self._for_executors.append(task)
            return None
        task.env = self._task_env(task)
        task.launching = True
        command = info.command
        task.image = image_name(info)
        if task.image is not None:
            return self._admit_image(task)
        user = self._user_of(task)
        if problem := root_problem(user, self._launcher.running_as_root, self.allow_root_tasks):
            self._emit(task, common_pb2.TASK_ERROR, Reason.REASON_TASK_INVALID, problem)
            return None
        argv = ["/bin/sh", "-c", command.shell] if command.shell else list(command.argv)
        if command.uris:
            if self._fetcher is None:
                self._emit(
                    task,
                    common_pb2.TASK_FAILED,
                    Reason.REASON_CONTAINER_LAUNCH_FAILED,
                    "this agent has no fetcher for the task's uris",
                )
                return None
            task.fetching = Cancellation()
        return _Launch(task, LaunchSpec(argv, task.env, sandbox, switch_to(user)))

    def _admit_image(self, task: Task) -> _Launch | None:
        """An image task: pulled and started in the fetcher's threads (a pull may be slow)."""
        containerizer = self._containerizer
        problem = images.images_problem(containerizer)
        if problem is not None or self._fetcher is None:
            self._emit(
                task,
                common_pb2.TASK_FAILED,
                Reason.REASON_CONTAINER_LAUNCH_FAILED,
                f"cannot run task {task.info.task_id!r} in image {task.image!r}: "
                f"{problem or 'this agent has no fetcher'}",
            )
            return None
        task.fetching = Cancellation()
        return _Launch(task, LaunchSpec([], task.env, task.sandbox, None))

    @property
    def image_root_allowed(self) -> bool:
        """Whether an image task may run as root: an agent running as root allows it
        only with --allow-root-tasks (one that is not root cannot give it root)."""
        return self.allow_root_tasks or not self._launcher.running_as_root

    def _user_of(self, task: Task) -> str | None:
        framework = self.frameworks.get(task.framework_id)
        return task_user(task.info.command.user, framework.user if framework is not None else "")

    def _prepare_all(self, batch: list[_Launch]) -> None:
        """Worker thread: make each launch's files and cgroups and spawn it (libc's
        posix_spawn, called without the GIL, so the loop keeps running); the results go
        back to the loop in small groups. Touches only each launch's own state (a kill
        arriving meanwhile is seen, or handled on the loop once the pid is back)."""
        self._launcher.seal_descriptors()
        done: list[_Launch] = []
        flushed = time.monotonic()
        for launch in batch:
            task, spec = launch.task, launch.spec
            try:
                self._isolator.prepare(task.container)
                delegate_cgroups(task.container.paths, spec.user)
                files = self._launcher.prepare(spec)
                ours = True  # the files are closed here, unless start() took them
                try:
                    if task.image is None and task.kill_reason is None:
                        self._link_volumes(task, spec)
                    prepared = None
                    if task.fetching is not None and task.kill_reason is None:
                        if task.info.command.uris:
                            self._fetch(task, spec, files[1])
                        if task.image is not None:
                            prepared = self._prepare_image(task, spec)
                    if prepared is not None and task.kill_reason is None:
                        # Through the fork server (its pid collected before the
                        # hand-back), or, where it cannot take it, through util-linux.
                        launch.ticket = self._submit_image(task, prepared, files)
                        if launch.ticket is None:
                            spec.argv = prepared.argv()
                    if launch.ticket is None and task.kill_reason is None:
                        own_user = self._launcher.user_of(spec) is None
                        recording = self._exits.recording(
                            spec.argv, spec.env, task.sandbox, own_user=own_user
                        )
                        spec.argv = self._isolator.wrap(task.container, recording)
                        ours = False
                        launch.started = self._launcher.start(spec, files)  # closes them
                finally:
                    if ours:
                        self._launcher.discard(files)
            except (
                OSError,
                KeyError,
                ValueError,
                subprocess.SubprocessError,
                FetchError,
                FetchCancelled,
                *images.ERRORS,
            ) as exc:
                launch.error = exc
            done.append(launch)
            now = time.monotonic()
            if len(done) >= HANDBACK_MAX or now - flushed >= HANDBACK_SECONDS:
                if not self._hand_back(done):
                    return
                done, flushed = [], now
        if done:
            self._hand_back(done)

    def _link_volumes(self, task: Task, spec: LaunchSpec) -> None:
        """Worker thread: the task's persistent volumes linked into its sandbox."""
        uses = volume_uses(self._work_dir, Resources.from_proto(task.info.resources))
        if not uses:
            return
        user = self._launcher.user_of(spec)
        owner = None
        if user is not None:
            record = pwd.getpwnam(user)
            owner = (record.pw_uid, record.pw_gid)
        link_volumes(uses, task.sandbox, owner)

    def _fetch(self, task: Task, spec: LaunchSpec, stderr: int) -> None:
        """Worker thread: the task's artifacts into its sandbox (before it starts)."""
        assert self._fetcher is not None and task.fetching is not None
        user = self._launcher.user_of(spec)
        owner = None
        if user is not None:
            record = pwd.getpwnam(user)
            owner = (record.pw_uid, record.pw_gid)
        self._fetcher.fetch_all(
            list(task.info.command.uris), task.sandbox, stderr, task.fetching, owner
        )

    def _prepare_image(self, task: Task, spec: LaunchSpec) -> images.Prepared:
        """Worker thread: the task's image pulled and its root made; how it starts."""
        assert self._containerizer is not None and task.fetching is not None
        prepared = self._containerizer.prepare(
            self._with_volume_mounts(task.info),
            task.container.id,
            task.sandbox,
            _agent_vars(task.env),
            task.fetching,
            allow_root=self.image_root_allowed,
        )
        os.chown(task.sandbox, prepared.uid, -1)
        spec.env = prepared.env
        task.env = prepared.env  # what its COMMAND health checks get too
        task.image_user = (prepared.uid, prepared.gid)
        return prepared

    def _submit_image(
        self, task: Task, prepared: images.Prepared, files: tuple[int, int]
    ) -> Ticket | None:
        """Worker thread: send an image task to the agent's fork server (which then holds
        its own copies of the files: the caller closes them either way); None when the
        server cannot take it. Raises OSError."""
        assert self._containerizer is not None
        try:
            ticket = self._containerizer.submit(
                prepared,
                (self._launcher.devnull, *files),
                task.sandbox,
                self._isolator.entry_files(task.container),
                self._exits.path,
            )
        except ForkServerUnavailable:
            return None
        return ticket

    def _collect(self, done: list[_Launch]) -> None:
        """Worker thread: the pids of the image tasks of ``done`` from the fork server."""
        for launch in done:
            if launch.ticket is not None:
                assert self._containerizer is not None
                try:
                    launch.started = self._containerizer.collect(launch.ticket)
                    launch.task.forked = True
                except OSError as exc:
                    launch.error = exc
                launch.ticket = None

    def _with_volume_mounts(self, info: common_pb2.TaskInfo) -> common_pb2.TaskInfo:
        """An image task's info with its persistent volumes as host volumes (bind
        mounts at their container paths under the sandbox as it sees it)."""
        uses = volume_uses(self._work_dir, Resources.from_proto(info.resources))
        if not uses:
            return info
        mounted = common_pb2.TaskInfo()
        mounted.CopyFrom(info)
        for use in uses:
            use.directory.mkdir(parents=True, exist_ok=True)
            mounted.container.volumes.add(
                host_path=str(use.directory),
                container_path=use.container_path,
                mode=common_pb2.Volume.RO if use.read_only else common_pb2.Volume.RW,
            )
        return mounted

    def _hand_back(self, done: list[_Launch]) -> bool:
        self._collect(done)
        try:
            self._loop.call_soon_threadsafe(self._started_all, done)
        except RuntimeError:  # the loop is closed: the agent is gone, and so are these
            for launch in done:
                pid = _pid_of(launch.started)
                if pid is not None:
                    kill_group(pid, signal.SIGKILL)
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(pid, 0)
            return False
        return True

    def _started_all(self, done: list[_Launch]) -> None:
        for launch in done:
            self._started(launch)

    def _started(self, launch: _Launch) -> None:
        task, spec = launch.task, launch.spec
        task.launching = False
        task.fetching = None
        pid = _pid_of(launch.started)
        if pid is None:
            self._isolator.cleanup(task.container)
            self._cleanup_root(task)
            if task.kill_reason is not None:
                self._emit(
                    task,
                    common_pb2.TASK_KILLED,
                    Reason.REASON_TASK_KILLED_DURING_LAUNCH,
                    "killed before it started",
                )
            else:
                self._launch_failed(task, spec, launch.error)
            return
        key = (task.framework_id, task.info.task_id)
        if not isinstance(launch.started, int):
            task.proc = launch.started
        task.pid = pid
        try:
            self._isolator.isolate(task.container, pid)
        except OSError as exc:
            # The process runs but unlimited: say so rather than pretend.
            log.warning("task %r runs without isolation: %s", task.info.task_id, exc)
        # The start time is read later, in a batch: reading /proc/<pid>/stat while the
        # child is starting up costs as much as a third of the spawn.
        self._checkpoint.add_pid(key, pid, None)
        self._checkpoint.flush()  # a restarted agent must find the process it started
        self._unstamped.append(task)
        if task.forked and self._containerizer is not None:
            task.stop_watch = self._containerizer.watch(
                pid, lambda code: self._forked_exit(task, code)
            )
        else:
            task.stop_watch = self._launcher.watch(pid, lambda: self._on_exit(task))
        if task.kill_reason is not None:
            # Killed while it was being spawned: it never counts as running.
            task.kill_reason = Reason.REASON_TASK_KILLED_DURING_LAUNCH
            kill_group(pid, signal.SIGKILL)
            if task.forked:
                # Its own process group may not be made yet (the fork server answers
                # before its child has called setsid): the process itself, too.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            return
        self._emit(task, common_pb2.TASK_RUNNING)
        self._start_timers(task)

    def _launch_failed(self, task: Task, spec: LaunchSpec, exc: BaseException | None) -> None:
        if isinstance(exc, images.ERRORS):
            reason = Reason.REASON_CONTAINER_LAUNCH_FAILED
            self._emit(task, common_pb2.TASK_FAILED, reason, str(exc))
            return
        if isinstance(exc, FetchError | FetchCancelled):
            # Cancelled without a kill: the agent is stopping.
            message = (
                str(exc) if isinstance(exc, FetchError) else "fetch stopped: the agent stopped"
            )
            self._emit(task, common_pb2.TASK_FAILED, Reason.REASON_CONTAINER_LAUNCH_FAILED, message)
            return
        self._emit(
            task,
            common_pb2.TASK_FAILED,
            Reason.REASON_CONTAINER_LAUNCH_FAILED,
            f"cannot launch {shlex.join(spec.argv)[:200]}: {_describe_error(exc, spec.user)}",
        )

    def _task_env(self, task: Task) -> dict[str, str]:
        env = dict(self.base_env)
        env.update(user_environment(self._user_of(task)))
        env.update(task.info.command.environment)
        sandbox = str(task.sandbox)
        env.update(
            MESOS_SANDBOX=sandbox,
            MESOS_DIRECTORY=sandbox,
            MESOS_TASK_ID=task.info.task_id,
            MESOS_FRAMEWORK_ID=task.framework_id,
            MESOS_AGENT_ID=self._agent_id(),
            HOST=self._host,
        )
        ports = _ports(task.info)
        for i, port in enumerate(ports):
            env[f"PORT{i}"] = str(port)
        if ports:
            env["PORT"] = str(ports[0])
            env["PORTS"] = ",".join(map(str, ports))
        return env

    def _start_timers(self, task: Task) -> None:
        info = task.info
        if info.HasField("max_completion_time_seconds"):
            task.timers.append(
                self._loop.call_later(
                    info.max_completion_time_seconds,
                    lambda: self._kill(task, None, Reason.REASON_MAX_COMPLETION_TIME_REACHED),
                )
            )
        if info.HasField("health_check"):
            checker = HealthChecker(
                info.health_check,
                self._launcher,
                task.env,
                task.sandbox,
                on_change=lambda ok: self._on_health(task, ok),
                on_kill=lambda: self._kill_unhealthy(task),
                enter=self._enter_of(task),
            )
            task.health = asyncio.ensure_future(checker.run())

    def _enter_of(self, task: Task) -> Callable[[list[str]], list[str]] | None:
        """For an image task: what runs a command inside its container."""
        if task.image is None:
            return None
        uid, gid = task.image_user

        def enter(argv: list[str]) -> list[str]:
            assert task.pid is not None
            return images.enter_command(task.pid, uid, gid, argv)

        return enter

    def _kill_unhealthy(self, task: Task) -> None:
        self._kill(task, None, Reason.REASON_TASK_UNHEALTHY)

    def _on_health(self, task: Task, healthy: bool) -> None:
        task.healthy = healthy
        if task.terminal or task.kill_reason is not None:
            return
        self._emit(
            task,
            common_pb2.TASK_RUNNING,
            Reason.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED,
            "health check passed" if healthy else "health check failed",
            healthy=healthy,
        )

    async def stamp_forever(self, interval: float = 0.5) -> None:
        """Checkpoint the start time of tasks still running, so that after a restart a
        reused pid is not mistaken for the task."""
        while True:
            await asyncio.sleep(interval)
            batch = [t for t in self._unstamped if t.stop_watch is not None and t.pid]
            self._unstamped.clear()
            if not batch:
                continue
            ticks = await asyncio.to_thread(_start_ticks_of, [t.pid or 0 for t in batch])
            for task, start in zip(batch, ticks, strict=True):
                if start is not None and task.pid is not None and task.stop_watch is not None:
                    self._checkpoint.add_pid(
                        (task.framework_id, task.info.task_id), task.pid, start
                    )

    # ------------------------------------------------------------------ exit

    def _forked_exit(self, task: Task, code: int | None) -> None:
        """The fork server's reader thread: a task it started ended."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: the agent is gone
            self._loop.call_soon_threadsafe(self._on_forked_exit, task, code)

    def _on_forked_exit(self, task: Task, code: int | None) -> None:
        if task.stop_watch is None:
            return  # no longer watched (the agent is stopping)
        task.forked_code = code
        self._on_exit(task)

    def _record_on_its_way(self, task: Task) -> bool:
        """A re-adopted image task ended without a record yet: its status may be on its
        way, as the fork server that started it (an earlier agent's) writes it just after
        the task ends and before it lets the zombie go. While the zombie is there it is
        looked for again, a few ms apart, for at most a second."""
        assert task.pid is not None
        if not task.adopted or task.image is None or task.record_looks >= 200:
            return False
        if self._exits.exit_code(task.sandbox, task.pid) is not None:
            return False
        if not _is_zombie(task.pid):
            return False
        task.record_looks += 1
        return True

    def _on_exit(self, task: Task) -> None:
        task.stop_watch = None
        if self._record_on_its_way(task):
            self._loop.call_later(0.005, self._on_exit, task)
            return
        self._stop_helpers(task)
        assert task.pid is not None
        # The leader is a zombie until reaped, so its group id is still ours to signal:
        # anything it left behind goes with it (as when Mesos destroys a container).
        kill_group(task.pid, signal.SIGKILL)
        returncode = self._reap(task)
        if task.forked and self._containerizer is not None:
            self._containerizer.release(task.pid)
        self._exits.rotate_if_large()
        limitation = self._isolator.limitation(task.container) if returncode != 0 else None
        self._isolator.cleanup(task.container)
        self._cleanup_root(task)
        self._report_end(task, returncode, limitation)

    def _cleanup_root(self, task: Task) -> None:
        """An image task's root unmounted and removed (in a worker thread)."""
        if task.image is not None and self._containerizer is not None:
            job = self._loop.run_in_executor(None, self._containerizer.cleanup, task.container.id)
            self._preparing.add(job)
            job.add_done_callback(self._preparing.discard)

    def _report_end(self, task: Task, returncode: int | None, limitation: str | None) -> None:
        """The terminal update of a task that ended, by why it ended."""
        described = describe_exit(returncode) if returncode is not None else None
        message, exit_code = described if described else (UNKNOWN_EXIT, None)
        if limitation:
            self._emit(
                task,
                common_pb2.TASK_FAILED,
                Reason.REASON_CONTAINER_LIMITATION_MEMORY,
                limitation,
                exit_code=exit_code,
            )
        elif task.kill_reason == Reason.REASON_MAX_COMPLETION_TIME_REACHED:
            self._emit(
                task,
                common_pb2.TASK_FAILED,
                task.kill_reason,
                f"max completion time {task.info.max_completion_time_seconds:g}s reached",
                exit_code=exit_code,
            )
        elif task.kill_reason == Reason.REASON_TASK_UNHEALTHY:
            self._emit(
                task,
                common_pb2.TASK_KILLED,
                task.kill_reason,
                "killed after failing health checks",
                healthy=False,
                exit_code=exit_code,
            )
        elif task.kill_reason is not None:
            self._emit(
                task, common_pb2.TASK_KILLED, task.kill_reason, "killed", exit_code=exit_code
            )
        elif returncode == 0:
            self._emit(task, common_pb2.TASK_FINISHED, message=message, exit_code=0)
        elif returncode is None:
            self._emit(task, common_pb2.TASK_FAILED, Reason.REASON_AGENT_RESTARTED, message)
        else:
            self._emit(
                task,
                common_pb2.TASK_FAILED,
                Reason.REASON_COMMAND_EXECUTOR_FAILED,
                message,
                exit_code=exit_code,
            )

    def _reap(self, task: Task) -> int | None:
        if task.forked:
            return task.forked_code  # the fork server reaps it, once released
        if task.proc is not None:
            code = task.proc.poll()
            return code if code is not None else task.proc.wait()
        assert task.pid is not None
        try:
            pid, status = os.waitpid(task.pid, os.WNOHANG)
        except ChildProcessError:  # not our child (re-adopted after an agent restart)
            pid = 0
        if pid:
            return os.waitstatus_to_exitcode(status)
        return self._exits.exit_code(task.sandbox, task.pid)  # what its shell recorded

    def _stop_helpers(self, task: Task) -> None:
        for timer in task.timers:
            timer.cancel()
        task.timers.clear()
        if task.health is not None:
            task.health.cancel()
            task.health = None

    # ------------------------------------------------------------------ kill

    def kill(self, framework_id: str, task_id: str, grace: float | None) -> bool:
        """Kill a task on request; False when there is nothing running to kill."""
        task = self.tasks.get((framework_id, task_id))
        if task is None:
            return False
        if task.info.HasField("executor") and self.executors is not None:
            return self.executors.kill(task, grace)
        return self._kill(task, grace, Reason.REASON_UNSPECIFIED)

    def _kill(self, task: Task, grace: float | None, reason: int) -> bool:
        if task.launching and task.kill_reason is None:
            task.kill_reason = reason
            if task.fetching is not None:
                task.fetching.cancel()
            return True
        if task.terminal or task.pid is None or task.stop_watch is None:
            return False
        if task.kill_reason is not None:
            return True  # already on its way; the first kill's grace period stands
        task.kill_reason = reason
        # Written through before the first signal: if the agent dies now, the task's end
        # is still reported as the kill it was, not as a failure.
        self._checkpoint.add_kill((task.framework_id, task.info.task_id), reason)
        self._checkpoint.flush()
        if task.health is not None:
            task.health.cancel()
            task.health = None
        if grace is None:
            policy = task.info.kill_policy
            grace = (
                policy.grace_period_seconds
                if policy.HasField("grace_period_seconds")
                else self._kill_grace
            )
        framework = self.frameworks.get(task.framework_id)
        capable = framework is not None and (
            common_pb2.FrameworkInfo.TASK_KILLING_STATE in framework.capabilities
        )
        if capable:
            self._emit(task, common_pb2.TASK_KILLING, reason)
        pid = task.pid
        if grace <= 0:
            kill_group(pid, signal.SIGKILL)
        else:
            kill_group(pid, signal.SIGTERM)
            task.timers.append(self._loop.call_later(grace, kill_group, pid, signal.SIGKILL))
        return True

    def shutdown_framework(self, framework_id: str) -> int:
        """Kill every running task of a framework; how many were killed."""
        killed = 0
        if self.executors is not None:
            self.executors.shutdown_framework(framework_id)
        for (fid, _), task in list(self.tasks.items()):
            if fid == framework_id and self._kill(task, None, Reason.REASON_FRAMEWORK_REMOVED):
                killed += 1
        return killed

    def kill_all(self) -> None:
        """SIGKILL every running task (agent shutdown with kill_tasks_on_exit)."""
        for task in self.tasks.values():
            if task.pid is not None and task.stop_watch is not None and not task.terminal:
                kill_group(task.pid, signal.SIGKILL)
                if task.image is not None and self._containerizer is not None:
                    # The agent goes now: its mounts must not outlive it (they are detached
                    # lazily, so a task still dying does not hold them up).
                    self._containerizer.cleanup(task.container.id)

    def detach(self) -> None:
        """Stop watching processes (agent shutdown); they keep running."""
        for task in self.tasks.values():
            self._stop_helpers(task)
            if task.stop_watch is not None:
                task.stop_watch()
                task.stop_watch = None

    # ------------------------------------------------------------------ acks

    def forget(self, key: TaskKey) -> None:
        """The terminal update was acknowledged: drop the task (its sandbox stays)."""
        task = self.tasks.get(key)
        if task is not None and task.terminal:
            del self.tasks[key]
            self.revision.bump()
            self._checkpoint.forget(key)
            # The sandbox's age for garbage collection counts from now (its task's end),
            # not from the last output of a quiet task that started long ago.
            with contextlib.suppress(OSError):
                os.utime(task.sandbox)

    # ------------------------------------------------------------------ recovery

    def recover(self, state: RecoveredState) -> None:
        """Take back the checkpointed tasks: re-adopt live processes, report dead ones."""
        self.frameworks.update(state.frameworks)
        for key, rec in state.tasks.items():
            container = Container(
                rec.container_id, _scalar(rec.info, "mem"), _scalar(rec.info, "cpus")
            )
            task = Task(
                rec.framework_id,
                rec.info,
                sandbox_dir(self._work_dir, *key),
                container,
                latest=rec.latest,
                pid=rec.pid,
                adopted=True,
                kill_reason=rec.kill_reason,
                image=image_name(rec.info),
            )
            self.tasks[key] = task
            for status in rec.unacked:
                self._updates.streams.add(key, status)
            if task.terminal:
                continue
            if rec.info.HasField("executor"):
                # Its executor, if it still runs, takes it back (and must subscribe again).
                if self.executors is None or not self.executors.adopt(task):
                    self._emit(
                        task,
                        common_pb2.TASK_FAILED,
                        Reason.REASON_EXECUTOR_TERMINATED,
                        "its executor ended while the agent was down",
                    )
                continue
            if rec.pid is not None and _same_process(rec.pid, rec.start_ticks):
                task.env = self._task_env(task)
                self._recover_image_identity(task)
                self._isolator.recover(container, rec.pid)
                task.stop_watch = self._launcher.watch(rec.pid, lambda t=task: self._on_exit(t))  # type: ignore[misc]
                self._start_timers(task)
                log.info("re-adopted task %r (pid %d)", key[1], rec.pid)
                if task.latest is None and task.kill_reason is None:
                    # The agent died between checkpointing the pid and logging the task's
                    # RUNNING update: say it now, or the task stays STAGING for good.
                    self._emit(task, common_pb2.TASK_RUNNING)
            elif rec.pid is None and not (task.sandbox / STDOUT).exists():
                # The agent died before it made the task's files: it never started.
                self._emit(
                    task,
                    common_pb2.TASK_DROPPED,
                    Reason.REASON_AGENT_RESTARTED,
                    "the agent restarted before the task started",
                )
            else:
                self._report_recorded_exit(task)
        self._forget_orphan_roots()

    def _recover_image_identity(self, task: Task) -> None:
        """A re-adopted image task's environment and user in its image (for its checks)."""
        if task.image is None or self._containerizer is None:
            return
        found = self._containerizer.recovered(task.info, _agent_vars(task.env))
        if found is not None:
            task.env, uid, gid = found
            task.image_user = (uid, gid)

    def _forget_orphan_roots(self) -> None:
        """Unmount and remove the roots of image tasks the agent no longer tracks (they
        ended, or were forgotten, while it was down)."""
        if self._containerizer is not None:
            keep = {
                task.container.id
                for task in self.tasks.values()
                if task.image is not None and not task.terminal
            }
            keep |= image_containers(self._work_dir / "meta")  # executors in images
            self._containerizer.forget_others(keep)

    def _report_recorded_exit(self, task: Task) -> None:
        """A task that ended while the agent was down: report what its shell recorded
        (and a kill the agent had begun as a kill)."""
        self._cleanup_root(task)
        self._report_end(task, self._exits.exit_code(task.sandbox, task.pid), None)

    # ------------------------------------------------------------------ reporting

    def task_protos(self, agent_id: str) -> list[common_pb2.Task]:
        """Every known task, as ReregisterAgent reports them."""
        out = []
        for task in self.tasks.values():
            info = task.info
            proto = common_pb2.Task(
                name=info.name,
                task_id=info.task_id,
                framework_id=task.framework_id,
                agent_id=agent_id,
                state=task.state,  # type: ignore[arg-type]
                resources=info.resources,
                labels=info.labels,
                command=info.command,
            )
            if info.HasField("executor"):
                proto.executor.CopyFrom(info.executor)
            if task.latest is not None:
                proto.status.CopyFrom(task.latest)
            if info.HasField("health_check"):
                proto.health_check.CopyFrom(info.health_check)
            if info.HasField("kill_policy"):
                proto.kill_policy.CopyFrom(info.kill_policy)
            if info.HasField("max_completion_time_seconds"):
                proto.max_completion_time_seconds = info.max_completion_time_seconds
            if info.HasField("container"):
                proto.container.CopyFrom(info.container)
            out.append(proto)
        return out


def _agent_vars(env: Mapping[str, str]) -> dict[str, str]:
    """The variables the agent sets for a task (they win over an image's)."""
    return {k: v for k, v in env.items() if k.startswith(("MESOS_", "PORT")) or k == "HOST"}


def _describe_error(exc: BaseException | None, user: str | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, KeyError):
        return f"no such user {user!r} on this agent"
    if isinstance(exc, OSError) and exc.strerror:
        name = f": {exc.filename!r}" if exc.filename else ""
        return f"{exc.strerror}{name}"
    return str(exc)


def process_start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (/proc/<pid>/stat field 22):
    with the pid, it names one process for good. One small read, unlike psutil's
    create_time, which also reads /proc/stat on every call."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = data[data.rindex(b")") + 2 :].split()
    return int(fields[19])


def _start_ticks_of(pids: list[int]) -> list[int | None]:
    return [process_start_ticks(pid) for pid in pids]


def _same_process(pid: int, start_ticks: int | None) -> bool:
    """The pid still names the process we started (not a reuse of its number)."""
    actual = process_start_ticks(pid)
    return actual is not None and (start_ticks is None or actual == start_ticks)


def _is_zombie(pid: int) -> bool:
    """The process has ended and its parent has not reaped it yet."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] == b"Z"
