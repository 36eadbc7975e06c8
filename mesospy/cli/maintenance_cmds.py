"""Verbs that change the cluster: ``mesospy agents drain|deactivate|reactivate|mark-gone``,
``mesospy frameworks teardown``, ``mesospy weights [set]``.

Waiting commands (drain, teardown) show progress until done, or until ``--timeout``.
"""

from __future__ import annotations

import time

import click

from mesospy.cli.cluster_cmds import agents, drain_label, frameworks, noun_group
from mesospy.cli.common import fail
from mesospy.cli.output import (
    connect,
    console,
    json_option,
    master_option,
    operator_command,
    print_json,
    print_table,
)
from mesospy.client import OperatorClient
from mesospy.v1 import operator_pb2 as opb

Drain = opb.AgentState.DrainState
POLL = 0.25


def _wait(what: str, done: object, timeout: float) -> None:
    """Poll ``done()`` -> (finished, progress text) with a spinner until it finishes."""
    assert callable(done)
    deadline = time.monotonic() + timeout
    finished, text = done()
    with console().status(f"{what}: {text}") as status:
        while not finished:
            if time.monotonic() > deadline:
                fail(f"{what}: not done after {timeout:g}s ({text}); it goes on in the background")
            time.sleep(POLL)
            finished, text = done()
            status.update(f"{what}: {text}")


def _agent(client: OperatorClient, agent_id: str) -> opb.AgentState | None:
    return next((a for a in client.get_agents().agents if a.agent_info.id == agent_id), None)


@agents.command("drain")
@click.argument("agent_id")
@click.option(
    "--max-grace-period",
    type=click.FloatRange(0),
    default=None,
    help="Kill tasks with at most this many seconds between SIGTERM and SIGKILL.",
)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until DRAINED.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait at most.")
@master_option
@operator_command
def agents_drain(
    agent_id: str, max_grace_period: float | None, wait: bool, timeout: float, master: str
) -> None:
    """Drain an agent: no new offers from it, its tasks are killed; DRAINED when none is left.

    The agent stays out of offers until `mesospy agents reactivate AGENT_ID`.

    Example: mesospy agents drain 3f2a9c01b7d4-S1 --max-grace-period 10
    """
    with connect(master) as client:
        client.drain_agent(agent_id, max_grace_period)

        def progress() -> tuple[bool, str]:
            agent = _agent(client, agent_id)
            if agent is None:
                return True, "the agent left the cluster"
            left = agent.active_tasks
            return agent.drain_state == Drain.DRAINED, f"{left} task(s) left"

        if wait:
            _wait(f"draining agent {agent_id}", progress, timeout)
            click.echo(f"agent {agent_id} drained")
        else:
            click.echo(f"agent {agent_id} draining")


@agents.command("deactivate")
@click.argument("agent_id")
@master_option
@operator_command
def agents_deactivate(agent_id: str, master: str) -> None:
    """Stop offering an agent's resources; its tasks keep running.

    Example: mesospy agents deactivate 3f2a9c01b7d4-S1
    """
    with connect(master) as client:
        agent = client.deactivate_agent(agent_id)
    click.echo(f"agent {agent_id} {drain_label(agent)}")


@agents.command("reactivate")
@click.argument("agent_id")
@master_option
@operator_command
def agents_reactivate(agent_id: str, master: str) -> None:
    """Offer a deactivated or drained agent's resources again.

    Example: mesospy agents reactivate 3f2a9c01b7d4-S1
    """
    with connect(master) as client:
        agent = client.reactivate_agent(agent_id)
    click.echo(f"agent {agent_id} {drain_label(agent)}")


@agents.command("mark-gone")
@click.argument("agent_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@master_option
@operator_command
def agents_mark_gone(agent_id: str, yes: bool, master: str) -> None:
    """Declare an agent gone for good: its tasks end (GONE_BY_OPERATOR) and it may never
    re-register with this id. Use it for a machine that is dead or wiped.

    Example: mesospy agents mark-gone 3f2a9c01b7d4-S1 --yes
    """
    if not yes:
        click.confirm(f"Mark agent {agent_id} gone for good?", abort=True)
    with connect(master) as client:
        client.mark_agent_gone(agent_id)
    click.echo(f"agent {agent_id} marked gone")


@frameworks.command("teardown")
@click.argument("framework_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for its tasks.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait at most.")
@master_option
@operator_command
def frameworks_teardown(
    framework_id: str, yes: bool, wait: bool, timeout: float, master: str
) -> None:
    """Remove a framework: kill its tasks; it may not subscribe again with this id.

    Example: mesospy frameworks teardown 3f2a9c01b7d4-0001 --yes
    """
    if not yes:
        click.confirm(f"Tear down framework {framework_id} and kill its tasks?", abort=True)
    with connect(master) as client:
        running = [t.agent_id for t in client.iter_tasks(framework_id=framework_id)]
        client.teardown_framework(framework_id)

        def progress() -> tuple[bool, str]:
            # The master forgets the tasks at once; the agents' processes take a moment.
            left = sum(1 for _ in client.iter_tasks(framework_id=framework_id))
            return left == 0, f"{left} task(s) left"

        if wait and running:
            _wait(f"tearing down {framework_id}", progress, timeout)
    click.echo(f"framework {framework_id} torn down ({len(running)} task(s) killed)")


# ---------------------------------------------------------------- weights


weights = noun_group(
    "weights",
    """Show and set role weights (a role of weight 2 deserves twice the share of weight 1).

    Example: mesospy weights set prod=3 dev=0.5
    """,
)


@weights.command("list")
@master_option
@json_option
@operator_command
def weights_list(master: str, as_json: bool) -> None:
    """List the roles whose weight is not the default 1.

    Example: mesospy weights list --json
    """
    with connect(master) as client:
        answer = client.get_weights()
    if as_json:
        print_json(answer)
        return
    rows = [(role, f"{weight:g}") for role, weight in sorted(answer.items())]
    print_table(["ROLE", "WEIGHT"], rows, "no weights set (every role weighs 1)")


@weights.command("set")
@click.argument("assignments", nargs=-1, required=True, metavar="ROLE=WEIGHT...")
@master_option
@json_option
@operator_command
def weights_set(assignments: tuple[str, ...], master: str, as_json: bool) -> None:
    """Set role weights; they are kept in the registry and survive master failover.

    Example: mesospy weights set prod=3 dev=0.5
    """
    wanted: dict[str, float] = {}
    for item in assignments:
        role, sep, value = item.partition("=")
        try:
            wanted[role] = float(value)
        except ValueError:
            sep = ""
        if not sep or not role:
            raise click.BadParameter(f"{item!r} is not ROLE=WEIGHT, e.g. prod=2")
    with connect(master) as client:
        answer = client.update_weights(wanted)
    if as_json:
        print_json(answer)
        return
    for role in sorted(wanted):
        click.echo(f"role {role} weight {answer[role]:g}")
