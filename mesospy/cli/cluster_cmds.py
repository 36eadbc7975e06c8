"""Read commands: ``mesospy state``, ``agents``, ``frameworks``, ``tasks``, ``roles``,
``weights``, ``info``, ``metrics``.

Each noun is a group: alone it lists (``mesospy agents``), ``show ID`` gives one item in
full; the verbs that change things (drain, teardown, weights set) live in
``maintenance_cmds.py``.
"""

from __future__ import annotations

from collections import Counter

import click

from mesospy.cli.common import fail
from mesospy.cli.output import (
    amounts,
    connect,
    json_option,
    master_option,
    operator_command,
    parse_state,
    print_fields,
    print_json,
    print_table,
    resources,
    state_name,
    to_dict,
    when,
)
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import operator_pb2 as opb

Drain = opb.AgentState.DrainState


def noun_group(name: str, help_text: str) -> click.Group:
    """A group that lists when given no subcommand: ``mesospy agents`` = ``agents list``."""

    @click.group(name, invoke_without_command=True, help=help_text)
    @master_option
    @json_option
    @click.pass_context
    def group(ctx: click.Context, master: str, as_json: bool) -> None:
        if ctx.invoked_subcommand is None:
            ctx.invoke(ctx.command.commands["list"], master=master, as_json=as_json)  # type: ignore[attr-defined]

    return group


# ---------------------------------------------------------------- state, info, metrics


@click.command()
@master_option
@json_option
@operator_command
def state(master: str, as_json: bool) -> None:
    """Summarize the cluster: master, agents, frameworks and tasks by state.

    Example: mesospy state --json > state.json
    """
    with connect(master) as client:
        snapshot = client.get_state()
    if as_json:
        print_json(snapshot)
        return
    tasks = Counter(state_name(t.state) for t in snapshot.tasks)
    print_fields(
        [
            ("master", f"{snapshot.master_info.id} at {client.master}"),
            ("version", snapshot.master_info.version),
            ("agents", f"{len(snapshot.agents)} ({len(snapshot.unreachable_agents)} unreachable)"),
            ("frameworks", len(snapshot.frameworks)),
            ("tasks", ", ".join(f"{n} {s}" for s, n in sorted(tasks.items())) or "none"),
            ("completed tasks", len(snapshot.completed_tasks)),
            ("offers outstanding", len(snapshot.offers)),
        ]
    )


@click.command()
@master_option
@json_option
@operator_command
def info(master: str, as_json: bool) -> None:
    """Show the master: its id, whether it leads, its version, health and flags.

    Example: mesospy info --master zk://zk1:2181,zk2:2181/mesospy
    """
    with connect(master) as client:
        leader, version, health = client.get_master(), client.get_version(), client.get_health()
        flags = client.get_flags()
    if as_json:
        print_json(
            {
                "master": to_dict(leader),
                "version": to_dict(version),
                "health": to_dict(health),
                "flags": flags,
            }
        )
        return
    print_fields(
        [
            ("master", f"{leader.master_info.id} at {client.master}"),
            ("leading", "yes" if leader.elected else "no"),
            ("contenders", ", ".join(f"{c.ip}:{c.port}" for c in leader.contenders) or "-"),
            ("version", f"{version.version} (python {version.python_version})"),
            ("health", health.message if health.healthy else f"UNHEALTHY: {health.message}"),
            ("uptime", f"{health.uptime_seconds:.0f}s"),
            *((f"--{name}", value) for name, value in sorted(flags.items())),
        ]
    )


@click.command()
@master_option
@json_option
@operator_command
def metrics(master: str, as_json: bool) -> None:
    """Print the master's metrics (also served in Prometheus format on --metrics-port).

    Example: mesospy metrics | grep tasks
    """
    with connect(master) as client:
        samples = client.get_metrics()
    if as_json:
        print_json(samples)
        return
    for name in sorted(samples):
        click.echo(f"{name} {samples[name]:g}")


# ---------------------------------------------------------------- agents


agents = noun_group(
    "agents",
    """List and show agents; drain, deactivate, reactivate or mark them gone.

    (`mesospy agent` runs an agent daemon; `mesospy agents` manages the cluster's agents.)

    Example: mesospy agents; mesospy agents drain <AGENT_ID> --max-grace-period 30
    """,
)


def drain_label(agent: opb.AgentState) -> str:
    if agent.drain_state == Drain.DRAINED:
        return "drained"
    if agent.drain_state == Drain.DRAINING:
        return "draining"
    return "active" if agent.active else "deactivated"


@agents.command("list")
@master_option
@json_option
@operator_command
def agents_list(master: str, as_json: bool) -> None:
    """List the agents with their state, resources and task counts.

    Example: mesospy agents list --json | jq '.agents[].agent_info.id'
    """
    with connect(master) as client:
        answer = client.get_agents()
    if as_json:
        print_json(answer)
        return
    rows: list[tuple[object, ...]] = [
        (
            a.agent_info.id,
            f"{a.agent_info.hostname}:{a.agent_info.port}",
            drain_label(a),
            a.active_tasks,
            resources(a.total_resources or a.agent_info.resources),
            resources(a.used_resources),
        )
        for a in answer.agents
    ]
    rows += [
        (u.id, f"{u.hostname}:{u.port}", "unreachable", "-", "-", "-")
        for u in answer.unreachable_agents
    ]
    rows += [(g, "-", "gone", "-", "-", "-") for g in answer.gone_agents]
    print_table(["ID", "ADDRESS", "STATE", "TASKS", "RESOURCES", "USED"], rows, "no agents")


@agents.command("show")
@click.argument("agent_id")
@master_option
@json_option
@operator_command
def agents_show(agent_id: str, master: str, as_json: bool) -> None:
    """Show one agent in full, with its tasks.

    Example: mesospy agents show 3f2a9c01b7d4-S1
    """
    with connect(master) as client:
        answer = client.get_agents()
        found = [a for a in answer.agents if a.agent_info.id == agent_id]
        if not found:
            fail(f"agent {agent_id!r} is not a registered agent (see `mesospy agents`)")
        tasks = list(client.iter_tasks(agent_id=agent_id))
    agent = found[0]
    if as_json:
        print_json(agent)
        return
    info_ = agent.agent_info
    print_fields(
        [
            ("id", info_.id),
            ("address", f"{info_.hostname}:{info_.port}"),
            ("state", drain_label(agent)),
            ("registered", when(agent.registered_time)),
            ("resources", resources(info_.resources)),
            ("used", resources(agent.used_resources)),
            ("offered", resources(agent.offered_resources)),
            (
                "attributes",
                ";".join(f"{k}:{v}" for k, v in sorted(info_.attributes.items())) or "-",
            ),
            ("tasks", ", ".join(t.task_id for t in tasks) or "none"),
        ]
    )


# ---------------------------------------------------------------- frameworks


frameworks = noun_group(
    "frameworks",
    """List and show frameworks; tear them down.

    Example: mesospy frameworks; mesospy frameworks teardown <FRAMEWORK_ID>
    """,
)


@frameworks.command("list")
@master_option
@json_option
@operator_command
def frameworks_list(master: str, as_json: bool) -> None:
    """List the frameworks with their roles, connection and resources.

    Example: mesospy frameworks list --json
    """
    with connect(master) as client:
        answer = client.get_frameworks()
    if as_json:
        print_json(answer)
        return
    rows = [
        (
            f.framework_info.id,
            f.framework_info.name,
            ",".join(f.framework_info.roles) or "*",
            "connected" if f.connected else "disconnected",
            f.active_tasks,
            resources(f.used_resources),
        )
        for f in answer.frameworks
    ]
    print_table(["ID", "NAME", "ROLES", "STATE", "TASKS", "USED"], rows, "no frameworks")


@frameworks.command("show")
@click.argument("framework_id")
@master_option
@json_option
@operator_command
def frameworks_show(framework_id: str, master: str, as_json: bool) -> None:
    """Show one framework in full.

    Example: mesospy frameworks show 3f2a9c01b7d4-0001
    """
    with connect(master) as client:
        found = [
            f for f in client.get_frameworks().frameworks if f.framework_info.id == framework_id
        ]
        if not found:
            fail(f"framework {framework_id!r} is unknown to the master (see `mesospy frameworks`)")
    framework = found[0]
    if as_json:
        print_json(framework)
        return
    fi = framework.framework_info
    print_fields(
        [
            ("id", fi.id),
            ("name", fi.name),
            ("user", fi.user or "-"),
            ("roles", ",".join(fi.roles) or "*"),
            ("state", "connected" if framework.connected else "disconnected"),
            ("registered", when(framework.registered_time)),
            ("failover timeout", f"{fi.failover_timeout:g}s"),
            ("active tasks", framework.active_tasks),
            ("used", resources(framework.used_resources)),
            ("offered", resources(framework.offered_resources)),
            ("endpoint", fi.endpoint or "-"),
        ]
    )


# ---------------------------------------------------------------- tasks


tasks = noun_group(
    "tasks",
    """List and show tasks (see also `mesospy logs TASK`).

    Example: mesospy tasks --state running; mesospy tasks show my-task-1
    """,
)


@tasks.command("list")
@master_option
@json_option
@click.option("--framework", "framework_id", default="", help="Only this framework's tasks.")
@click.option("--agent", "agent_id", default="", help="Only tasks on this agent.")
@click.option("--state", "states", multiple=True, help="Only tasks in this state (repeatable).")
@click.option("--all", "include_completed", is_flag=True, help="Include completed tasks.")
@click.option("--limit", default=0, type=click.IntRange(0), help="At most this many (0: all).")
@operator_command
def tasks_list(
    master: str,
    as_json: bool,
    framework_id: str = "",
    agent_id: str = "",
    states: tuple[str, ...] = (),
    include_completed: bool = False,
    limit: int = 0,
) -> None:
    """List tasks, filtered by framework, agent and state.

    Example: mesospy tasks list --state running --agent 3f2a9c01b7d4-S1
    """
    wanted = [parse_state(s) for s in states]
    with connect(master) as client:
        found = []
        for task in client.iter_tasks(
            framework_id=framework_id,
            agent_id=agent_id,
            states=wanted,
            include_completed=include_completed,
        ):
            found.append(task)
            if limit and len(found) >= limit:
                break
    if as_json:
        print_json([to_dict(t) for t in found])
        return
    rows = [
        (t.task_id, t.name, state_name(t.state), t.framework_id, t.agent_id, resources(t.resources))
        for t in found
    ]
    print_table(["ID", "NAME", "STATE", "FRAMEWORK", "AGENT", "RESOURCES"], rows, "no tasks")


@tasks.command("show")
@click.argument("task_id")
@click.option("--framework", "framework_id", default="", help="When several frameworks use the id.")
@master_option
@json_option
@operator_command
def tasks_show(task_id: str, framework_id: str, master: str, as_json: bool) -> None:
    """Show one task in full, with its latest status.

    Example: mesospy tasks show my-task-1
    """
    with connect(master) as client:
        task = client.find_task(task_id, framework_id)
    if as_json:
        print_json(task)
        return
    status = task.status
    command = task.command.shell or " ".join(task.command.argv)
    print_fields(
        [
            ("id", task.task_id),
            ("name", task.name or "-"),
            ("state", state_name(task.state)),
            ("framework", task.framework_id),
            ("agent", task.agent_id),
            ("role", task.role or "*"),
            ("resources", resources(task.resources)),
            ("command", command or "-"),
            ("message", status.message or "-"),
            ("reason", reason_name(status.reason)),
            ("exit code", status.exit_code if status.HasField("exit_code") else "-"),
            ("updated", when(status.timestamp)),
        ]
    )


def reason_name(reason: int) -> str:
    if not reason:
        return "-"
    return pb.TaskStatus.Reason.Name(reason).removeprefix("REASON_")


# ---------------------------------------------------------------- roles and weights


roles = noun_group(
    "roles",
    """List and show roles with their weights and allocations.

    Example: mesospy roles; mesospy roles show prod
    """,
)


@roles.command("list")
@master_option
@json_option
@operator_command
def roles_list(master: str, as_json: bool) -> None:
    """List roles: weight, frameworks, tasks and allocated resources.

    Example: mesospy roles list --json
    """
    with connect(master) as client:
        answer = client.get_roles()
    if as_json:
        print_json(answer)
        return
    rows = [
        (r.name, f"{r.weight:g}", len(r.frameworks), r.active_tasks, resources(r.allocated))
        for r in answer.roles
    ]
    print_table(["ROLE", "WEIGHT", "FRAMEWORKS", "TASKS", "ALLOCATED"], rows, "no roles")


@roles.command("show")
@click.argument("role")
@master_option
@json_option
@operator_command
def roles_show(role: str, master: str, as_json: bool) -> None:
    """Show one role in full.

    Example: mesospy roles show '*'
    """
    with connect(master) as client:
        found = [r for r in client.get_roles().roles if r.name == role]
    if not found:
        fail(f"role {role!r} has no frameworks, tasks or weight (see `mesospy roles`)")
    item = found[0]
    if as_json:
        print_json(item)
        return
    print_fields(
        [
            ("role", item.name),
            ("weight", f"{item.weight:g}"),
            ("frameworks", ", ".join(item.frameworks) or "-"),
            ("tasks", item.active_tasks),
            ("allocated", resources(item.allocated)),
            ("offered", resources(item.offered)),
            ("quota guarantee", amounts(item.quota.guarantees)),
            ("quota limit", amounts(item.quota.limits)),
            ("consumed (with children)", resources(item.consumed)),
        ]
    )
