"""Frameworks' executors through the master: what runs where, messages both ways,
SHUTDOWN, and an executor's exit (a FAILURE event for its scheduler).

The master knows an executor from the first task launched with it until its agent says
it exited (or re-registers without it). Framework messages are best effort, as in Mesos:
checked here, passed on once, never retried.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mesospy.container_info import container_problem
from mesospy.master.errors import InvalidArgument, NotFound
from mesospy.master.state import AgentRecord, FrameworkRecord
from mesospy.master.validation import command_problem, id_problem
from mesospy.resources import Resources
from mesospy.v1 import agent_pb2 as apb
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import scheduler_pb2 as spb

if TYPE_CHECKING:
    from mesospy.master.master import Master

log = logging.getLogger(__name__)

# The most data one framework message may carry (either direction), and one MESSAGE call.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
MAX_CALL_BYTES = 16 * 1024 * 1024


@dataclass(eq=False)
class ExecutorRecord:
    """An executor on an agent, and the resources charged for it (none for one learned
    of from a re-registration: its agent's tasks carry what is in use)."""

    info: pb.ExecutorInfo
    role: str = "*"
    resources: Resources = field(default_factory=Resources)


def executor_problem(info: pb.ExecutorInfo, label: str) -> str | None:
    """What is wrong with a task's ExecutorInfo on its own."""
    if p := id_problem(f"{label} executor.executor_id", info.executor_id):
        return p
    if info.type == pb.ExecutorInfo.DEFAULT:
        if info.HasField("command"):
            return f"{label}: the DEFAULT executor takes no command (mesospy runs its own)"
        if info.HasField("container"):
            return (
                f"{label}: the DEFAULT executor runs on the agent's host, not in a container "
                "image; give the image to a CUSTOM executor"
            )
    elif p := command_problem(
        info.command, f"{label} executor.command", info.container.mesos.HasField("image")
    ):
        return p
    if info.HasField("container") and (p := container_problem(info.container)):
        return f"{label} executor {info.executor_id!r}: {p}"
    try:
        Resources.from_proto(info.resources)
    except ValueError as exc:
        return f"{label} executor {info.executor_id!r} has invalid resources: {exc}"
    return None


def same_executor(a: pb.ExecutorInfo, b: pb.ExecutorInfo) -> bool:
    return (
        a.type == b.type
        and a.command == b.command
        and a.container == b.container
        and list(a.resources) == list(b.resources)
    )


class ExecutorHandler:
    """MESSAGE and SHUTDOWN from schedulers; executor messages and exits from agents."""

    def __init__(self, master: Master) -> None:
        self.m = master

    # ---------------------------------------------------------------- launches

    def check_launch(
        self,
        framework: FrameworkRecord,
        agent: AgentRecord,
        task: pb.TaskInfo,
        new: dict[str, pb.ExecutorInfo],
    ) -> tuple[str | None, Resources]:
        """Whether ``task``'s executor may be used on ``agent`` (``new``: the executors
        this ACCEPT starts so far), and the resources to charge for it (an executor not
        yet running there)."""
        info = task.executor
        label = f"task {task.task_id!r}"
        if p := executor_problem(info, label):
            return p, Resources()
        running = agent.executors.get((framework.id, info.executor_id))
        known = running.info if running is not None else new.get(info.executor_id)
        if known is not None:
            if not same_executor(known, info):
                return (
                    f"{label}: executor {info.executor_id!r} already runs on agent "
                    f"{agent.id!r} with another command or resources; an executor id names "
                    "one ExecutorInfo (use a new id for a different executor)",
                    Resources(),
                )
            return None, Resources()
        return None, Resources.from_proto(info.resources)

    def launched(
        self,
        framework: FrameworkRecord,
        agent: AgentRecord,
        role: str,
        info: pb.ExecutorInfo,
        resources: Resources,
    ) -> None:
        key = (framework.id, info.executor_id)
        if key not in agent.executors:
            record = pb.ExecutorInfo()
            record.CopyFrom(info)
            record.framework_id = framework.id
            agent.executors[key] = ExecutorRecord(record, role, resources)

    # ---------------------------------------------------------------- scheduler calls

    def _agent_of(self, framework: FrameworkRecord, executor_id: str, agent_id: str) -> AgentRecord:
        key = (framework.id, executor_id)
        if agent_id:
            agent = self.m.state.agents.get(agent_id)
            if agent is None:
                raise NotFound(f"agent {agent_id!r} is not registered")
            if key not in agent.executors:
                raise NotFound(
                    f"executor {executor_id!r} of framework {framework.id!r} is not running "
                    f"on agent {agent_id!r}"
                )
            return agent
        found = [a for a in self.m.state.agents.values() if key in a.executors]
        if len(found) != 1:
            where = "on no agent" if not found else f"on {len(found)} agents; give agent_id"
            raise NotFound(f"executor {executor_id!r} of framework {framework.id!r} runs {where}")
        return found[0]

    def message(self, framework: FrameworkRecord, call: spb.Call) -> None:
        """MESSAGE: every message checked first (a bad one refuses the call whole)."""
        if not call.messages:
            raise InvalidArgument("MESSAGE needs at least one entry in 'messages'")
        total = 0
        batches: dict[str, list[apb.ExecutorMessage]] = defaultdict(list)
        agents: dict[str, AgentRecord] = {}
        for message in call.messages:
            if p := id_problem("message.executor_id", message.executor_id):
                raise InvalidArgument(p)
            size = len(message.data)
            if size > MAX_MESSAGE_BYTES:
                raise InvalidArgument(
                    f"a message to executor {message.executor_id!r} has {size} bytes; at most "
                    f"{MAX_MESSAGE_BYTES} (4 MiB) per message; nothing was sent"
                )
            total += size
            agent = self._agent_of(framework, message.executor_id, message.agent_id)
            agents[agent.id] = agent
            batches[agent.id].append(
                apb.ExecutorMessage(
                    framework_id=framework.id, executor_id=message.executor_id, data=message.data
                )
            )
        if total > MAX_CALL_BYTES:
            raise InvalidArgument(
                f"MESSAGE carries {total} bytes; at most {MAX_CALL_BYTES} per call"
            )
        for agent_id, batch in batches.items():
            self.m.spawn(agents[agent_id].link.framework_messages(batch))

    def shutdown(self, framework: FrameworkRecord, call: spb.Call) -> None:
        """SHUTDOWN an executor: its agent asks it to stop, then kills it."""
        shutdown = call.shutdown
        if p := id_problem("shutdown.executor_id", shutdown.executor_id):
            raise InvalidArgument(p)
        agent = self._agent_of(framework, shutdown.executor_id, shutdown.agent_id)
        self.m.spawn(agent.link.shutdown_executor(framework.id, shutdown.executor_id))

    # ---------------------------------------------------------------- from agents

    def from_executors(self, agent: AgentRecord, messages: apb.ExecutorMessages) -> None:
        for message in messages.messages:
            framework = self.m.state.frameworks.get(message.framework_id)
            if (message.framework_id, message.executor_id) not in agent.executors:
                log.warning(
                    "agent %s: message from unknown executor %r dropped",
                    agent.id,
                    message.executor_id,
                )
                continue
            if framework is None or framework.stream is None:
                continue  # best effort: nobody to give it to
            event = spb.Event(type=spb.Event.MESSAGE)
            event.message.agent_id = agent.id
            event.message.executor_id = message.executor_id
            event.message.data = message.data
            framework.stream.send(event)

    def exited(self, agent: AgentRecord, exited: apb.ExecutorExited) -> None:
        """An executor's process ended: its resources go back, its scheduler hears."""
        record = agent.executors.pop((exited.framework_id, exited.executor_id), None)
        if record is None:
            return
        if not record.resources.is_empty():
            self.m.recover(exited.framework_id, agent.id, record.role, record.resources)
        framework = self.m.state.frameworks.get(exited.framework_id)
        log.info("agent %s: executor %r exited", agent.id, exited.executor_id)
        if framework is not None and framework.stream is not None:
            event = spb.Event(type=spb.Event.FAILURE)
            event.failure.agent_id = agent.id
            event.failure.executor_id = exited.executor_id
            if exited.HasField("status"):
                event.failure.status = exited.status
            framework.stream.send(event)

    def reregistered(
        self, agent: AgentRecord, reported: Sequence[ExecutorRecord], charged: bool
    ) -> None:
        """The executors a re-registering agent runs, as it reports them. ``charged``: the
        agent is new to this master, and their resources were counted in use with it."""
        kept = dict(agent.executors)
        agent.executors.clear()
        for record in reported:
            key = (record.info.framework_id, record.info.executor_id)
            known = kept.get(key)
            if charged or known is None:
                # (Not charged: an executor this master did not know of on a known agent
                # is tracked, but its share is not counted; it cannot be given back.)
                known = record if charged else ExecutorRecord(record.info, record.role)
            agent.executors[key] = known


def reported_executors(request: apb.ReregisterAgentRequest) -> list[ExecutorRecord]:
    """The executors of a re-registration, each with its resources and the role of its
    tasks (pure; an executor with unreadable resources counts none)."""
    roles = {
        (t.framework_id, t.executor.executor_id): t.role or "*"
        for t in request.tasks
        if t.HasField("executor")
    }
    out = []
    for info in request.executors:
        try:
            resources = Resources.from_proto(info.resources)
        except ValueError:
            resources = Resources()
        role = roles.get((info.framework_id, info.executor_id), "*")
        out.append(ExecutorRecord(info, role, resources))
    return out
