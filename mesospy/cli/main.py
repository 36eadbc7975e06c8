"""The ``mesospy`` command: one entry point for daemons, operators and users."""

from __future__ import annotations

import click

from frameworks.batch.cli import batch, job
from frameworks.service.cli import app, service
from mesospy import __version__
from mesospy.cli.certs_cmds import certs
from mesospy.cli.cluster_cmds import agents, frameworks, info, metrics, roles, state, tasks
from mesospy.cli.daemons import agent, master
from mesospy.cli.local import local
from mesospy.cli.maintenance_cmds import weights
from mesospy.cli.quota_cmds import quota
from mesospy.cli.reservation_cmds import reserve, unreserve, volume
from mesospy.cli.run import run
from mesospy.cli.watch_cmds import completion, events, files, logs, top


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mesospy")
def cli() -> None:
    """mesospy: a Mesos-style two-level cluster resource manager.

    \b
    Run daemons:  mesospy local | master | agent      (`agent` runs one; `agents` lists them)
    Run a task:   mesospy run -- CMD...
    Look:         mesospy state | info | agents | frameworks | tasks | roles | weights | quota
                  mesospy logs TASK [--stderr] [--follow] | files TASK | events | top | metrics
    Steer:        mesospy agents drain|deactivate|reactivate|mark-gone AGENT_ID
                  mesospy frameworks teardown FRAMEWORK_ID | weights set ROLE=WEIGHT
                  mesospy quota set ROLE --guarantee cpus:4 --limit cpus:8,mem:16384
                  mesospy reserve|unreserve AGENT_ID "cpus:2;disk:1024" --role ROLE
                  mesospy volume create|destroy AGENT_ID --role ROLE --size MB --id ID --path P
    Find the master with --master host:port (or zk://...) or $MESOSPY_MASTER; add --json to
    read commands for scripts; `mesospy completion bash|zsh` for shell completion.

    Example: mesospy local    (a master and two agents on this machine)
    """


cli.add_command(master)
cli.add_command(agent)
cli.add_command(local)
cli.add_command(run)
# Operator commands (plural nouns; `mesospy agent`/`master` above run the daemons).
for command in (
    state,
    info,
    agents,
    frameworks,
    tasks,
    roles,
    weights,
    quota,
    reserve,
    unreserve,
    volume,
    logs,
    files,
    events,
    top,
):
    cli.add_command(command)
cli.add_command(metrics)
cli.add_command(completion)
cli.add_command(certs)
# The bundled frameworks: their daemons and their user commands.
for command in (batch, job, service, app):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="mesospy")
