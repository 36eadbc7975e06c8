"""mesospy's DEFAULT executor: runs a task group's commands, and their fate together.

The agent runs it (``python -m mesospy.executor.default``) for a LAUNCH_GROUP whose
executor is of type DEFAULT (Mesos's default executor). Each task's command runs in a
process group of its own, in ``tasks/<task id>`` under the executor's sandbox (stdout and
stderr there). A task that exits 0 is FINISHED; one that fails (or is killed on request)
ends its group: the group's other tasks are killed (SIGTERM, then SIGKILL after their
kill grace period) and reported TASK_KILLED naming the task that brought them down. A
task's health check (COMMAND, HTTP or TCP, as the agent runs them) reports its health in
TASK_RUNNING updates, and a task that fails it too often is killed (TASK_KILLED,
REASON_TASK_UNHEALTHY), and its group with it. Once none of its tasks is running, the
executor exits. A task in a container image arrives with its root made by the agent, its
command the line that starts it there and its environment complete: it runs as given.

A task's ``lifecycle`` orders it within its group (Nomad's task lifecycle): PRESTART
tasks start first, and the MAIN and POSTSTART tasks start once every PRESTART task that
is not a sidecar has exited 0 (one that fails ends the group: the tasks that never
started are reported TASK_KILLED); POSTSTART tasks start after the MAIN ones. Once every
MAIN task has ended, the group's sidecars (and any other task still running) are killed:
they live as long as the group's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

# The agent's own health checker and launcher: this executor is part of mesospy, run by
# the agent, and checks tasks exactly as the agent checks its own.
from mesospy.agent.health import HealthChecker
from mesospy.agent.launcher import TaskLauncher
from mesospy.executor.driver import ExecutorDriver, new_status
from mesospy.executor.executor import Executor
from mesospy.v1 import common_pb2 as pb

DEFAULT_GRACE = 3.0
Hook = pb.TaskLifecycle.Hook


@dataclass(eq=False)
class _Running:
    task: pb.TaskInfo
    group: _Group
    process: asyncio.subprocess.Process | None = None
    # Why it is being killed (a message for its TASK_KILLED), or None.
    killed: str | None = None
    unhealthy: bool = False
    health: asyncio.Task[None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    directory: Path = Path(".")
    exited: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def hook(self) -> int:
        return self.task.lifecycle.hook

    @property
    def waited_for(self) -> bool:
        """A PRESTART task the MAIN tasks wait for (not a sidecar)."""
        return self.hook == Hook.PRESTART and not self.task.lifecycle.sidecar


@dataclass(eq=False)
class _Group:
    tasks: list[_Running] = field(default_factory=list)
    ending: bool = False


class DefaultExecutor(Executor):
    """Runs task groups: all-or-none at launch, one failure ends the group."""

    def __init__(self) -> None:
        self.running: dict[str, _Running] = {}
        self.sandbox = Path(os.environ.get("MESOS_SANDBOX", "."))
        self._watchers: set[asyncio.Task[None]] = set()
        self._launcher: TaskLauncher | None = None

    async def launch_group(self, driver: ExecutorDriver, tasks: list[pb.TaskInfo]) -> None:
        """Start the group's tasks in lifecycle order; if one of a stage cannot start,
        none of that stage runs and the group ends."""
        group = _Group()
        group.tasks = [_Running(task, group) for task in tasks]
        for entry in group.tasks:
            self.running[entry.task.task_id] = entry  # killable while it waits its turn
        first = [e for e in group.tasks if e.hook == Hook.PRESTART]
        if not await self._start(driver, first):
            return
        await asyncio.gather(*(e.exited.wait() for e in first if e.waited_for))
        if group.ending:
            return  # a prestart task failed, or the group was killed meanwhile
        mains = [e for e in group.tasks if e.hook == Hook.MAIN]
        if await self._start(driver, mains):
            await self._start(driver, [e for e in group.tasks if e.hook == Hook.POSTSTART])

    async def _start(self, driver: ExecutorDriver, stage: list[_Running]) -> bool:
        """Start one stage of a group: all of it, or none (and the group ends)."""
        started: list[_Running] = []
        trying = None
        try:
            for trying in stage:
                if trying.task.task_id in self.running:  # else the group ended meanwhile
                    trying.process = await self._spawn(trying)
                    started.append(trying)
        except OSError as exc:
            assert trying is not None
            failed = trying.task.task_id
            why = f"the group could not start: task {failed!r}: {exc}"
            group = stage[0].group
            group.ending = True
            for entry in group.tasks:
                if entry.task.task_id not in self.running:
                    continue  # ended already (a prestart task)
                _signal(entry, signal.SIGKILL)
                if entry.process is not None and entry not in started:
                    entry.killed = why  # of an earlier stage: its watcher reports it
                    continue
                self.running.pop(entry.task.task_id)
                entry.exited.set()
                driver.send_status_update(
                    entry.task.task_id,
                    pb.TASK_FAILED,
                    why,
                    reason=pb.TaskStatus.REASON_CONTAINER_LAUNCH_FAILED,
                )
            self._maybe_done(driver)
            return False
        for entry in started:
            assert entry.process is not None
            if entry.task.task_id not in self.running:
                # The group ended while it started (it was reported as never started).
                _signal(entry, signal.SIGKILL)
                self._keep(asyncio.create_task(_reap(entry.process)))
                continue
            driver.send_status_update(entry.task.task_id, pb.TASK_RUNNING)
            self._keep(asyncio.create_task(self._watch(driver, entry)))
            if entry.task.HasField("health_check"):
                self._check_health(driver, entry)
        return True

    def _keep(self, watcher: asyncio.Task[None]) -> None:
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    def launch_task(self, driver: ExecutorDriver, task: pb.TaskInfo) -> None:
        """A lone task runs as a group of one."""
        asyncio.get_running_loop().create_task(self.launch_group(driver, [task]))

    def kill_task(self, driver: ExecutorDriver, task_id: str) -> None:
        """Killing one task of a group kills the whole group (as Mesos's does)."""
        entry = self.running.get(task_id)
        if entry is not None:
            entry.killed = "killed"
            self._end_group(driver, entry.group, None, f"killed with its group (task {task_id!r})")

    def shutdown(self, driver: ExecutorDriver) -> None:
        """Kill everything; the updates go out as the processes end."""
        for entry in list(self.running.values()):
            self._end_group(driver, entry.group, None, "executor shut down")
        self._maybe_done(driver)  # with nothing to run, at once

    def _check_health(self, driver: ExecutorDriver, entry: _Running) -> None:
        if self._launcher is None:
            self._launcher = TaskLauncher(asyncio.get_running_loop())
        task_id = entry.task.task_id

        def changed(ok: bool) -> None:
            if entry.killed is None and task_id in self.running:
                driver.send_status_update(
                    new_status(
                        task_id,
                        pb.TASK_RUNNING,
                        "health check passed" if ok else "health check failed",
                        reason=pb.TaskStatus.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED,
                        healthy=ok,
                    )
                )

        def kill() -> None:
            entry.unhealthy = True
            entry.killed = "killed after failing health checks"
            self._end_group(
                driver, entry.group, None, f"killed with its group (task {task_id!r} unhealthy)"
            )

        checker = HealthChecker(
            entry.task.health_check, self._launcher, entry.env, entry.directory, changed, kill
        )
        entry.health = asyncio.create_task(checker.run())

    async def _spawn(self, entry: _Running) -> asyncio.subprocess.Process:
        task = entry.task
        directory = self.sandbox / "tasks" / quote(task.task_id, safe="-_.:@+=,")
        directory.mkdir(parents=True, exist_ok=True)
        command = task.command
        argv = ["/bin/sh", "-c", command.shell] if command.shell else list(command.argv)
        if task.container.mesos.HasField("image"):
            # The agent made its root: argv starts it there, with its whole environment.
            env = dict(command.environment)
        else:
            env = {**os.environ, **command.environment}
            env.pop("MESOSPY_EXECUTOR_TOKEN", None)  # a task must not speak for the executor
            env.update(MESOS_TASK_ID=task.task_id, MESOS_SANDBOX=str(directory))
        entry.env, entry.directory = env, directory
        with open(directory / "stdout", "wb") as out, open(directory / "stderr", "wb") as err:
            return await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=directory,
                env=env,
                start_new_session=True,
            )

    async def _watch(self, driver: ExecutorDriver, entry: _Running) -> None:
        assert entry.process is not None
        code = await entry.process.wait()
        _signal(entry, signal.SIGKILL)  # what it left behind in its process group
        if entry.health is not None:
            entry.health.cancel()
        task_id = entry.task.task_id
        self.running.pop(task_id, None)
        how = f"exited with status {code}" if code >= 0 else f"killed by signal {-code}"
        if entry.unhealthy:
            driver.send_status_update(
                new_status(
                    task_id,
                    pb.TASK_KILLED,
                    f"{entry.killed}; {how}",
                    reason=pb.TaskStatus.REASON_TASK_UNHEALTHY,
                    healthy=False,
                )
            )
        elif entry.killed is not None:
            driver.send_status_update(task_id, pb.TASK_KILLED, f"{entry.killed}; {how}")
        elif code == 0:
            driver.send_status_update(_exited(task_id, pb.TASK_FINISHED, how, code))
        else:
            driver.send_status_update(_exited(task_id, pb.TASK_FAILED, how, code))
            self._end_group(
                driver, entry.group, entry, f"killed: task {task_id!r} of its group failed"
            )
        entry.exited.set()
        group = entry.group
        mains = [e for e in group.tasks if e.hook == Hook.MAIN]
        if mains and all(e.exited.is_set() for e in mains):
            self._end_group(driver, group, None, "killed: the group's main tasks have ended")
        self._maybe_done(driver)

    def _end_group(
        self, driver: ExecutorDriver, group: _Group, cause: _Running | None, why: str
    ) -> None:
        if group.ending:
            return
        group.ending = True
        for other in group.tasks:
            if other is cause or other.task.task_id not in self.running:
                continue
            if other.killed is None:
                other.killed = why
            if other.process is None:  # waiting for its stage: it never starts
                self.running.pop(other.task.task_id)
                other.exited.set()
                driver.send_status_update(
                    other.task.task_id, pb.TASK_KILLED, f"{other.killed}; never started"
                )
                continue
            _signal(other, signal.SIGTERM)
            policy = other.task.kill_policy
            grace = (
                policy.grace_period_seconds
                if policy.HasField("grace_period_seconds")
                else DEFAULT_GRACE
            )
            asyncio.get_running_loop().call_later(grace, _signal, other, signal.SIGKILL)
        self._maybe_done(driver)

    def _maybe_done(self, driver: ExecutorDriver) -> None:
        if not self.running:
            driver.stop()  # queued updates go out first


def _exited(task_id: str, state: int, how: str, code: int) -> pb.TaskStatus:
    status = new_status(task_id, state, how)
    if code >= 0:
        status.exit_code = code
    return status


async def _reap(process: asyncio.subprocess.Process) -> None:
    await process.wait()


def _signal(entry: _Running, sig: int) -> None:
    if entry.process is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(entry.process.pid, sig)


def main() -> int:
    return ExecutorDriver(DefaultExecutor()).run()


if __name__ == "__main__":
    sys.exit(main())
