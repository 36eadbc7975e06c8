"""What the master knows: frameworks, agents and tasks, as plain records."""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mesospy.resources import Resources
from mesospy.v1 import common_pb2 as pb

if TYPE_CHECKING:
    from mesospy.master.agent_link import AgentLink
    from mesospy.master.executors import ExecutorRecord
    from mesospy.master.streams import FrameworkStream


PARTITION_AWARE = pb.FrameworkInfo.PARTITION_AWARE
TASK_KILLING_STATE = pb.FrameworkInfo.TASK_KILLING_STATE


@dataclass(eq=False)
class TaskRecord:
    """A task the master launched or learned of from a re-registering agent. One learned
    of keeps the agent's report (``reported``) and makes its TaskInfo only when asked:
    after a failover 100,000 reported tasks come at once, and few are ever asked for it."""

    _info: pb.TaskInfo | None
    framework_id: str
    agent_id: str
    role: str
    resources: Resources
    state: int = pb.TASK_STAGING
    status: pb.TaskStatus | None = None  # the newest status the master has seen
    # The agent's newest state, ahead of `status` while earlier updates await acks.
    latest_state: int = pb.TASK_STAGING
    resources_recovered: bool = False
    # Whether the framework acknowledged `status`; unacknowledged ones are sent again when
    # the framework re-subscribes, so a failover never waits on the agent's retry backoff.
    acknowledged: bool = True
    reported: pb.Task | None = None

    @property
    def task_id(self) -> str:
        if self._info is not None:
            return self._info.task_id
        assert self.reported is not None
        return self.reported.task_id

    @property
    def info(self) -> pb.TaskInfo:
        if self._info is None:
            task = self.reported
            assert task is not None
            self._info = pb.TaskInfo(
                name=task.name,
                task_id=task.task_id,
                agent_id=self.agent_id,
                resources=task.resources,
                command=task.command,
                labels=task.labels,
                health_check=task.health_check,
                kill_policy=task.kill_policy,
            )
            if task.HasField("executor"):
                self._info.executor.CopyFrom(task.executor)
                self._info.ClearField("command")
            if task.HasField("max_completion_time_seconds"):
                self._info.max_completion_time_seconds = task.max_completion_time_seconds
            if task.HasField("container"):
                self._info.container.CopyFrom(task.container)
        return self._info

    def to_proto(self) -> pb.Task:
        task = pb.Task(
            name=self.info.name,
            task_id=self.info.task_id,
            framework_id=self.framework_id,
            agent_id=self.agent_id,
            state=self.latest_state,  # type: ignore[arg-type]
            resources=self.info.resources,
            labels=self.info.labels,
            role=self.role,
            command=self.info.command,
            health_check=self.info.health_check,
            kill_policy=self.info.kill_policy,
        )
        if self.status is not None:
            task.status.CopyFrom(self.status)
        if self.info.HasField("executor"):
            task.executor.CopyFrom(self.info.executor)
        if self.info.HasField("max_completion_time_seconds"):
            task.max_completion_time_seconds = self.info.max_completion_time_seconds
        if self.info.HasField("container"):
            task.container.CopyFrom(self.info.container)
        return task


@dataclass(eq=False)
class FrameworkRecord:
    """A subscribed (or disconnected, within its failover timeout) framework."""

    info: pb.FrameworkInfo
    registered_time: float
    stream: FrameworkStream | None = None
    stream_id: str = ""
    disconnected_time: float | None = None
    failover_timer: asyncio.TimerHandle | None = None
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    # Tasks whose agent is unreachable (partition-aware frameworks only).
    unreachable_tasks: dict[str, TaskRecord] = field(default_factory=dict)
    # The authenticated principal that subscribed it: only it may act for the framework.
    owner: str | None = None

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def connected(self) -> bool:
        return self.stream is not None

    @property
    def roles(self) -> list[str]:
        return list(self.info.roles) or ["*"]

    @property
    def partition_aware(self) -> bool:
        return PARTITION_AWARE in self.info.capabilities

    @property
    def wants_killing_state(self) -> bool:
        return TASK_KILLING_STATE in self.info.capabilities


@dataclass(eq=False)
class AgentRecord:
    """A registered agent."""

    info: pb.AgentInfo
    total: Resources
    registered_time: float
    last_seen: float
    link: AgentLink
    active: bool = True
    # False after a launch could not connect to it: no offers until it is heard from.
    connected: bool = True
    tasks: dict[tuple[str, str], TaskRecord] = field(default_factory=dict)
    # The frameworks' executors running there, by (framework id, executor id).
    executors: dict[tuple[str, str], ExecutorRecord] = field(default_factory=dict)
    # The authenticated principal that registered it: only it may speak for the agent.
    owner: str | None = None

    @property
    def id(self) -> str:
        return self.info.id


@dataclass
class MasterState:
    """Everything the master tracks in memory."""

    frameworks: dict[str, FrameworkRecord] = field(default_factory=dict)
    agents: dict[str, AgentRecord] = field(default_factory=dict)
    unreachable_agents: dict[str, pb.AgentInfo] = field(default_factory=dict)
    # Frameworks that were torn down or timed out: they may not come back.
    removed_frameworks: set[str] = field(default_factory=set)
    completed_tasks: collections.deque[pb.Task] = field(
        default_factory=lambda: collections.deque(maxlen=10_000)
    )

    def find_task(self, framework_id: str, task_id: str) -> TaskRecord | None:
        framework = self.frameworks.get(framework_id)
        if framework is None:
            return None
        return framework.tasks.get(task_id) or framework.unreachable_tasks.get(task_id)
