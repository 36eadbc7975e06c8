"""Commands that follow the cluster: ``mesospy logs``, ``files``, ``events``, ``top``,
and ``completion``."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter

import click
from rich.live import Live
from rich.table import Table

from mesospy.cli.output import (
    connect,
    console,
    json_option,
    master_option,
    operator_command,
    print_json,
    print_table,
    resources,
    state_name,
    to_dict,
    when,
)
from mesospy.resources import Resources
from mesospy.v1 import operator_pb2 as opb

Event = opb.OperatorEvent


@click.command()
@click.argument("task_id")
@click.option("--framework", "framework_id", default="", help="When several frameworks use the id.")
@click.option("--stderr", "stream", flag_value="stderr", help="Show stderr instead of stdout.")
@click.option("--stdout", "stream", flag_value="stdout", default=True, hidden=True)
@click.option("--file", "path", default=None, help="Another file in the sandbox.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing as the task writes.")
@click.option(
    "--tail", "tail_bytes", default=0, type=click.IntRange(0), help="Only the last N bytes."
)
@master_option
@operator_command
def logs(
    task_id: str,
    framework_id: str,
    stream: str,
    path: str | None,
    follow: bool,
    tail_bytes: int,
    master: str,
) -> None:
    """Print a task's stdout (or --stderr) from its sandbox, through the master.

    Example: mesospy logs my-task-1 --stderr --follow
    """
    with connect(master) as client:
        task = client.find_task(task_id, framework_id)
        name = path or stream
        offset = 0
        if tail_bytes:
            size = client.read_file(task.framework_id, task.task_id, name, length=1).size
            offset = max(0, size - tail_bytes)
        out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
        for chunk in client.tail_file(task.framework_id, task.task_id, name, offset, follow):
            if out is not None:
                out.write(chunk)
                out.flush()
            else:
                click.echo(chunk.decode(errors="replace"), nl=False)


@click.command()
@click.argument("task_id")
@click.argument("path", default="")
@click.option("--framework", "framework_id", default="", help="When several frameworks use the id.")
@master_option
@json_option
@operator_command
def files(task_id: str, path: str, framework_id: str, master: str, as_json: bool) -> None:
    """List the files in a task's sandbox (or in PATH within it).

    Example: mesospy files my-task-1
    """
    with connect(master) as client:
        task = client.find_task(task_id, framework_id)
        answer = client.list_files(task.framework_id, task.task_id, path)
    if as_json:
        print_json(answer)
        return
    rows = [(f.path + ("/" if f.is_dir else ""), f.size, when(f.mtime)) for f in answer.files]
    print_table(["PATH", "SIZE", "MODIFIED"], rows, "empty directory")


def describe(event: opb.OperatorEvent) -> str:
    """One line per event, for people."""
    kind = Event.Type.Name(event.type)
    if event.type == Event.SUBSCRIBED:
        s = event.subscribed
        detail = f"{len(s.agents)} agents, {len(s.frameworks)} frameworks, {len(s.tasks)} tasks"
    elif event.type in (Event.TASK_ADDED, Event.TASK_UPDATED):
        t = event.task
        detail = f"{t.task_id} {state_name(t.state)} framework={t.framework_id} agent={t.agent_id}"
        if t.status.message:
            detail += f" ({t.status.message})"
    elif event.type in (Event.AGENT_ADDED, Event.AGENT_UPDATED):
        a = event.agent
        detail = f"{a.agent_info.id} {a.agent_info.hostname}:{a.agent_info.port}"
        if event.type == Event.AGENT_UPDATED:
            drain = opb.AgentState.DrainState.Name(a.drain_state)
            detail += f" active={a.active} {drain}"
    elif event.type in (Event.FRAMEWORK_ADDED, Event.FRAMEWORK_UPDATED):
        f = event.framework
        detail = f"{f.framework_info.id} {f.framework_info.name} connected={f.connected}"
    elif event.type in (Event.AGENT_REMOVED, Event.FRAMEWORK_REMOVED):
        detail = f"{event.agent_id or event.framework_id} ({event.reason})"
    else:
        detail = ""
    stamp = time.strftime("%H:%M:%S", time.localtime(event.timestamp or time.time()))
    return f"{stamp} {kind} {detail}".rstrip()


@click.command()
@click.option("--count", default=0, type=click.IntRange(0), help="Stop after N events (0: never).")
@click.option("--no-heartbeats", is_flag=True, help="Hide HEARTBEAT events.")
@master_option
@json_option
@operator_command
def events(count: int, no_heartbeats: bool, master: str, as_json: bool) -> None:
    """Stream the cluster's events, starting with the whole state (SUBSCRIBED).

    With --json, one JSON object per line. Ctrl-C stops.

    Example: mesospy events --no-heartbeats | grep TASK_UPDATED
    """
    seen = 0
    with connect(master) as client:
        for event in client.subscribe():
            if no_heartbeats and event.type == Event.HEARTBEAT:
                continue
            if as_json:
                click.echo(json.dumps(to_dict(event), sort_keys=True))
            else:
                click.echo(describe(event))
            seen += 1
            if count and seen >= count:
                return


def _top_table(state: opb.GetStateResponse) -> Table:
    table = Table(title=f"mesospy top — {len(state.agents)} agents, {len(state.tasks)} tasks")
    for header in ("AGENT", "STATE", "TASKS", "CPUS", "MEM", "RESOURCES"):
        table.add_column(header, no_wrap=True)
    for agent in state.agents:
        total = Resources.from_proto(list(agent.agent_info.resources))
        used = Resources.from_proto(list(agent.used_resources))
        table.add_row(
            agent.agent_info.id,
            "active" if agent.active else "inactive",
            str(agent.active_tasks),
            f"{used.cpus:g}/{total.cpus:g}",
            f"{used.mem:g}/{total.mem:g}",
            resources(agent.agent_info.resources),
        )
    by_state = Counter(state_name(t.state) for t in state.tasks)
    table.caption = "tasks: " + (
        ", ".join(f"{n} {s}" for s, n in sorted(by_state.items())) or "none"
    )
    return table


@click.command()
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(0.1))
@click.option("--once", is_flag=True, help="Print one frame and exit (for scripts and tests).")
@master_option
@operator_command
def top(interval: float, once: bool, master: str) -> None:
    """A live view of agents' resources and tasks; Ctrl-C stops.

    Example: mesospy top --interval 2
    """
    with connect(master) as client:
        if once:
            console().print(_top_table(client.get_state()))
            return
        with Live(_top_table(client.get_state()), console=console(), screen=False) as live:
            while True:
                time.sleep(interval)
                live.update(_top_table(client.get_state()))


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL.

    Example (bash): eval "$(mesospy completion bash)"   (add it to ~/.bashrc)
    Example (zsh):  eval "$(mesospy completion zsh)"    (add it to ~/.zshrc)
    """
    from click.shell_completion import get_completion_class

    from mesospy.cli.main import cli

    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(cli, {}, "mesospy", "_MESOSPY_COMPLETE").source())
