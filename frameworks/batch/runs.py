"""Runs and their instances: the state machine, pure (time comes in as ``now``).

A run is one execution of a job: ``instances`` tasks to complete, at most ``parallelism``
at a time. Each instance goes through attempts; an attempt is one task, whose id is
derived from (job, run, instance, attempt), so a restarted framework recognises its tasks.

    instance: WAITING -> LAUNCHING -> RUNNING -> SUCCEEDED
                 ^           |           |
                 +-- retry --+-----------+--> FAILED | CANCELLED
    run:      PENDING -> RUNNING -> SUCCEEDED | FAILED | TIMED_OUT | CANCELLED
              SKIPPED (a tick that Forbid did not start)

Events (``task_update``, ``cancel``, ``check_timeout``) change the run and return the
tasks to kill; the caller stores the run, then kills.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from frameworks.batch.containers import Container, ended, group_outcome
from frameworks.batch.spec import JobSpec

__all__ = [
    "ACTIVE_INSTANCE",
    "FINAL_RUN",
    "Instance",
    "Kill",
    "Run",
    "container_of",
    "parse_task_id",
    "task_id",
]

# Instance states.
WAITING, LAUNCHING, RUNNING = "WAITING", "LAUNCHING", "RUNNING"
SUCCEEDED, FAILED, CANCELLED = "SUCCEEDED", "FAILED", "CANCELLED"
ACTIVE_INSTANCE = (LAUNCHING, RUNNING)
# Run states.
PENDING, TIMED_OUT, SKIPPED = "PENDING", "TIMED_OUT", "SKIPPED"
FINAL_RUN = (SUCCEEDED, FAILED, TIMED_OUT, CANCELLED, SKIPPED)

# Task states (by name, as in the protos) and what they mean here.
_STARTED = {"TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING"}
_NEVER_LAUNCHED = {"TASK_UNKNOWN", "TASK_DROPPED"}  # safe to launch again (new attempt)
_UNREACHABLE = "TASK_UNREACHABLE"


def task_id(job: str, run_id: str, index: int, attempt: int, container: str = "") -> str:
    """The task id of one attempt of one instance: ``JOB.RUN.INDEX.ATTEMPT``, and
    ``.CONTAINER`` after it for each task of a job of several containers."""
    base = f"{job}.{run_id}.{index}.{attempt}"
    return f"{base}.{container}" if container else base


def parse_task_id(value: str) -> tuple[str, str, int, int] | None:
    """``(job, run, index, attempt)`` from a task id made by ``task_id``, else None."""
    parts = value.split(".")
    if len(parts) not in (4, 5) or not (parts[2].isdigit() and parts[3].isdigit()):
        return None
    return parts[0], parts[1], int(parts[2]), int(parts[3])


def container_of(value: str) -> str:
    """The container a task id is for ("" for a job of one container)."""
    parts = value.split(".")
    return parts[4] if len(parts) == 5 else ""


@dataclass(frozen=True)
class Kill:
    """Kill this task (it belongs to an attempt that must not go on)."""

    task_id: str
    agent_id: str


@dataclass
class Instance:
    """One completion of a run, through its attempts."""

    index: int
    state: str = WAITING
    attempt: int = 0  # the current attempt; its task id is task_id(..., attempt)
    failures: int = 0  # attempts that failed (for retries and backoff)
    not_before: float = 0.0  # backoff: not launched before this time
    agent_id: str = ""
    exit_code: int | None = None
    started: float = 0.0
    finished: float = 0.0
    message: str = ""
    unplaced: str = ""  # while WAITING: why the last offers could not take it
    # A job of several containers: the current attempt's, by name: {state (a task
    # state's name), exit_code, message}.
    containers: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_INSTANCE


@dataclass
class Run:
    """One execution of a job."""

    job: str
    id: str
    trigger: str  # "schedule", "manual", "parents"
    created: float
    instances: list[Instance]
    parallelism: int
    scheduled_time: float = 0.0
    params: dict[str, str] = field(default_factory=dict)
    state: str = PENDING
    started: float = 0.0
    finished: float = 0.0
    message: str = ""
    exit_code: int | None = None
    children_triggered: bool = False  # DAG children were told about this success

    @classmethod
    def new(
        cls,
        spec: JobSpec,
        run_id: str,
        trigger: str,
        now: float,
        scheduled_time: float = 0.0,
        params: dict[str, str] | None = None,
    ) -> Run:
        instances = [Instance(i) for i in range(spec.instances)]
        return cls(
            spec.name, run_id, trigger, now, instances, spec.parallelism, scheduled_time,
            dict(params or {}),
        )  # fmt: skip

    # ---------------------------------------------------------------- queries

    @property
    def final(self) -> bool:
        return self.state in FINAL_RUN

    def task_id(self, instance: Instance) -> str:
        return task_id(self.job, self.id, instance.index, instance.attempt)

    def task_ids(self, instance: Instance) -> list[str]:
        """The current attempt's tasks that may still run: one, or one per container
        that has not ended (those that have need no kill or reconciliation)."""
        if not instance.containers:
            return [self.task_id(instance)]
        return [
            task_id(self.job, self.id, instance.index, instance.attempt, name)
            for name, result in instance.containers.items()
            if not ended(result["state"])
        ]

    def active_instances(self) -> list[Instance]:
        return [i for i in self.instances if i.active]

    def launchable(self, now: float) -> list[Instance]:
        """Instances to launch now: waiting, past their backoff, within ``parallelism``."""
        if self.final:
            return []
        room = self.parallelism - len(self.active_instances())
        ready = [i for i in self.instances if i.state == WAITING and i.not_before <= now]
        return ready[: max(0, room)]

    def next_retry(self) -> float | None:
        """When the earliest instance in backoff may be launched (None: none waits)."""
        times = [i.not_before for i in self.instances if i.state == WAITING and i.not_before]
        return min(times) if times and not self.final else None

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = {}
        for instance in self.instances:
            result[instance.state] = result.get(instance.state, 0) + 1
        return result

    # ---------------------------------------------------------------- events

    def launching(
        self, instance: Instance, agent_id: str, now: float, containers: tuple[str, ...] = ()
    ) -> str:
        """``instance`` is being launched on ``agent_id`` (as a group of ``containers``,
        if given); returns its task id (of a group: the ids' common start)."""
        instance.containers = {
            name: {"state": "TASK_STAGING", "exit_code": None, "message": ""} for name in containers
        }
        instance.state = LAUNCHING
        instance.agent_id = agent_id
        instance.started = now
        instance.finished = 0.0
        instance.exit_code = None
        instance.message = ""
        instance.unplaced = ""
        if self.state == PENDING:
            self.state, self.started = RUNNING, now
        return self.task_id(instance)

    def task_update(
        self,
        spec: JobSpec,
        index: int,
        attempt: int,
        state: str,
        now: float,
        exit_code: int | None = None,
        message: str = "",
        agent_id: str = "",
        container: str = "",
    ) -> list[Kill]:
        """A status update for attempt ``attempt`` of instance ``index`` (for one of its
        containers, in a job of several)."""
        this_task = task_id(self.job, self.id, index, attempt, container)
        if index >= len(self.instances):
            return [Kill(this_task, agent_id)]
        instance = self.instances[index]
        if attempt == instance.attempt and container in instance.containers:
            if ended(instance.containers[container]["state"]):
                return []  # a terminal state never changes (a late answer to a kill)
            result = {"state": state, "exit_code": exit_code, "message": message}
            instance.containers[container] = result
        current = attempt == instance.attempt and instance.active
        if not current:
            # An old attempt, or one of a run that ended: it must not keep running.
            if state in _STARTED or state == _UNREACHABLE:
                return [Kill(this_task, agent_id)]
            return []
        instance.agent_id = agent_id or instance.agent_id
        if state in _STARTED:
            instance.state = RUNNING
            return []
        if state == _UNREACHABLE:
            return []  # it may come back; a later update says how it ended
        if container:
            outcome = group_outcome(_launched(spec, instance), instance.containers)
            if outcome is None:
                return []  # its other containers say how the attempt ends
            state, exit_code, message = outcome.state, outcome.exit_code, outcome.message
        instance.exit_code = exit_code
        instance.finished = now
        instance.message = message
        if state == "TASK_FINISHED":
            instance.state = SUCCEEDED
        elif state in _NEVER_LAUNCHED:
            # The task never reached an agent: launch it again, as a new attempt.
            self._again(instance, delay=0.0)
        else:
            self._failed(spec, instance, state, now)
        return self._settle(now)

    def _again(self, instance: Instance, delay: float, now: float = 0.0) -> None:
        instance.state = WAITING
        instance.attempt += 1
        instance.not_before = now + delay if delay else 0.0

    def _failed(self, spec: JobSpec, instance: Instance, state: str, now: float) -> None:
        action = spec.action_for(instance.exit_code) if state == "TASK_FAILED" else "retry"
        what = f"exit code {instance.exit_code}" if instance.exit_code is not None else state
        if action == "ignore":
            instance.state = SUCCEEDED
            instance.message = f"{what} ignored by the failure policy"
            return
        if action == "restart":
            # Again, not counted as a failure (Kubernetes' Ignore).
            self._again(instance, spec.retries.delay(1), now)
            return
        instance.failures += 1
        failures = instance.failures
        if spec.retries.per == "run":
            failures = sum(i.failures for i in self.instances)
        if action == "retry" and failures <= spec.retries.limit:
            self._again(instance, spec.retries.delay(failures), now)
            return
        instance.state = FAILED
        reason = "the failure policy fails the run" if action == "fail" else "no retries left"
        if action != "fail" and spec.retries.per == "run":
            reason = f"{failures} failed attempts in the run, more than its limit of retries"
        detail = f": {instance.message}" if instance.message else ""
        self.exit_code = instance.exit_code
        self.message = f"instance {instance.index} failed ({what}{detail}); {reason}"

    def _settle(self, now: float) -> list[Kill]:
        if self.final:
            return []
        if any(i.state == FAILED for i in self.instances):
            return self._finish(FAILED, now, self.message)
        if all(i.state == SUCCEEDED for i in self.instances):
            self.state, self.finished = SUCCEEDED, now
            self.exit_code = 0
        return []

    def cancel(self, now: float, message: str = "cancelled") -> list[Kill]:
        """Stop the run: its active tasks are killed, its waiting instances never start."""
        return [] if self.final else self._finish(CANCELLED, now, message)

    def skip(self, now: float, message: str) -> None:
        """Record a tick that is not run (concurrency policy Forbid)."""
        for instance in self.instances:
            instance.state = CANCELLED
        self.state, self.finished, self.message = SKIPPED, now, message

    def check_timeout(self, timeout: float | None, now: float) -> list[Kill]:
        """End the run if it has been going for more than ``timeout`` seconds."""
        if timeout is None or self.final or not self.started or now - self.started < timeout:
            return []
        return self._finish(TIMED_OUT, now, f"the run timed out after {timeout:g}s")

    def _finish(self, state: str, now: float, message: str) -> list[Kill]:
        kills: list[Kill] = []
        for instance in self.instances:
            if instance.active:
                kills += [Kill(t, instance.agent_id) for t in self.task_ids(instance)]
                instance.message = message
                instance.state = CANCELLED
                instance.finished = now
            elif instance.state == WAITING:
                instance.state = CANCELLED
        self.state, self.finished, self.message = state, now, message
        return kills

    # ---------------------------------------------------------------- storage

    def to_dict(self) -> dict[str, Any]:
        data = dict(vars(self))  # asdict() deep-copies: too slow for big runs
        data["instances"] = [_instance_dict(i) for i in self.instances]
        data["params"] = dict(self.params)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        fields = dict(data)
        fields["instances"] = [Instance(**i) for i in data["instances"]]
        return cls(**fields)


def _launched(spec: JobSpec, instance: Instance) -> tuple[Container, ...]:
    """The containers the instance's attempt was launched with (the job may have changed
    since: a container the spec no longer has counts as a main one)."""
    known = {c.name: c for c in spec.containers}
    return tuple(known.get(name) or Container(name, "") for name in instance.containers)


def _instance_dict(instance: Instance) -> dict[str, Any]:
    data = dict(vars(instance))
    if instance.containers:  # copied: the store writes it off the event loop
        data["containers"] = {name: dict(r) for name, r in instance.containers.items()}
    return data
