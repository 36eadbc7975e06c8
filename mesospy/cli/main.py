"""The ``mesospy`` command: one entry point for daemons, operators and users."""

from __future__ import annotations

import click

from mesospy import __version__
from mesospy.cli.daemons import agent, master
from mesospy.cli.local import local
from mesospy.cli.run import run


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mesospy")
def cli() -> None:
    """mesospy: a Mesos-style two-level cluster resource manager.

    Example: mesospy local    (a master and two agents on this machine)
    """


cli.add_command(master)
cli.add_command(agent)
cli.add_command(local)
cli.add_command(run)


def main() -> None:
    cli(prog_name="mesospy")
