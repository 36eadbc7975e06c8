"""``mesospy local``: a master and agents on this machine, state in a local directory."""

from __future__ import annotations

import math
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import click
import psutil

from mesospy.cli.common import fail, port_option
from mesospy.cluster import ClusterError, LocalCluster, environment_with_master, free_port
from mesospy.scheduler.backoff import Backoff


def _share_of_machine(agents: int) -> list[str | None]:
    """Split this machine between the local agents so they don't offer it twice (ports
    too: each agent gets its own range, as they all run on 127.0.0.1)."""
    cpus = max(0.1, round((os.cpu_count() or 1) / agents, 2))
    mem = max(256, int((psutil.virtual_memory().total / 2**20 - 1024) / agents))
    width = min(1000, 30000 // agents)
    return [
        f"cpus:{cpus};mem:{mem};disk:{10240};ports:[{31000 + i * width}-{30999 + (i + 1) * width}]"
        for i in range(agents)
    ]


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class FrameworkRestarts:
    """When to bring back a bundled framework that died: within a second the first time,
    then after doubling delays (up to a minute) while it keeps dying, as a supervisor's
    backoff would (Kubernetes's CrashLoopBackOff); one that stayed up for a minute since
    its last restart starts afresh. Pure: the caller passes the time."""

    STABLE_SECONDS = 60.0

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng
        self._backoff: dict[str, Backoff] = {}
        self._started: dict[str, float] = {}
        self._due: dict[str, float] = {}

    def due(self, name: str, now: float) -> float:
        """When the dead framework ``name`` is to be started again (the same answer until
        it is)."""
        if name not in self._due:
            backoff = self._backoff.setdefault(name, Backoff(1.0, 60.0, rng=self._rng))
            if now - self._started.get(name, -math.inf) >= self.STABLE_SECONDS:
                backoff.reset()
            self._due[name] = now + backoff.next()
        return self._due[name]

    def waiting(self, name: str) -> bool:
        """Whether a restart of ``name`` is already planned."""
        return name in self._due

    def restarted(self, name: str, now: float) -> None:
        self._due.pop(name, None)
        self._started[name] = now


def _restart_dead_frameworks(cluster: LocalCluster, restarts: FrameworkRestarts) -> None:
    """Bring back a bundled framework that died (or was killed), as a supervisor would:
    it takes over its tasks and state where it left off."""
    now = time.monotonic()
    for name, daemon in list(cluster.framework_daemons.items()):
        if daemon.process is None or daemon.process.poll() is None:
            continue
        code = daemon.process.returncode
        first_notice = not restarts.waiting(name)
        due = restarts.due(name, now)
        if now < due:
            if first_notice:
                click.echo(
                    f"mesospy local: {name} framework exited ({code}); restarting in "
                    f"{due - now:.1f} s"
                )
            continue
        started = cluster.add_framework(name, wait=False)
        restarts.restarted(name, now)
        click.echo(
            f"mesospy local: {name} framework restarted (API on port {started.port}, "
            f"metrics at {started.metrics_url})"
        )


@click.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--agents",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="How many agents to start.",
)
@port_option("--port", "The master's port (0: any free one).", default=5050)
@click.option(
    "--work-dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where state and logs go (default: a new temporary directory).",
)
@click.option(
    "--agent-resources",
    default=None,
    help="Resources of each agent (default: this machine split between them).",
)
@click.option(
    "--once", is_flag=True, help="Stop the cluster when COMMAND ends, and exit with its exit code."
)
@click.option(
    "--marathon-api-port",
    default=0,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port of the service framework's Marathon v2 REST API (0: any free one).",
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def local(
    agents: int,
    port: int,
    work_dir: Path | None,
    agent_resources: str | None,
    once: bool,
    marathon_api_port: int,
    command: tuple[str, ...],
) -> None:
    """Run a master and agents on this machine (no ZooKeeper needed).

    With COMMAND, run it once the cluster is up, with MESOSPY_MASTER pointing at it.
    Ctrl-C stops everything.

    Example: mesospy local -- python examples/hello.py --tasks 20
    """
    if not _port_free(port):
        fail(f"port {port} is in use on 127.0.0.1; choose another with --port")
    if marathon_api_port and not _port_free(marathon_api_port):
        fail(
            f"port {marathon_api_port} is in use on 127.0.0.1; choose another with "
            "--marathon-api-port"
        )
    marathon_port = marathon_api_port or free_port()
    cluster = LocalCluster(
        agents=agents,
        work_dir=work_dir,
        master_port=port,
        agent_resources=agent_resources or _share_of_machine(agents),
        metrics=True,
        webui=True,
        # The bundled frameworks: `mesospy job ...` and `mesospy app ...` work at once.
        frameworks=["batch", "service"],
        # Marathon's REST API on the service framework, for Marathon's clients and tools.
        framework_args={"service": ["--marathon-api-port", str(marathon_port)]},
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        cluster.start()
    except ClusterError as exc:
        cluster.stop()
        fail(str(exc))
    code = 0
    try:
        click.echo(f"mesospy local: master at {cluster.master_address}")
        assert cluster.master is not None
        click.echo(f"mesospy local: metrics at {cluster.master.metrics_url}")
        click.echo(f"mesospy local: dashboard at {cluster.master.webui_url}")
        for daemon in cluster.agent_daemons:
            click.echo(
                f"mesospy local: {daemon.name} (port {daemon.port}, "
                f"metrics at {daemon.metrics_url})"
            )
        for name, daemon in cluster.framework_daemons.items():
            click.echo(
                f"mesospy local: {name} framework (API on port {daemon.port}, "
                f"metrics at {daemon.metrics_url})"
            )
        click.echo(f"mesospy local: Marathon API at http://127.0.0.1:{marathon_port}")
        click.echo(f"mesospy local: logs and state in {cluster.work_dir}")
        if command:
            env = environment_with_master(cluster.master_address)
            try:
                code = subprocess.call(list(command), env=env)
            except OSError as exc:
                fail(f"cannot run {command[0]!r}: {exc.strerror}")
            click.echo(f"mesospy local: {' '.join(command)} exited with {code}")
        if not (command and once):
            click.echo(
                f"mesospy local: running; export MESOSPY_MASTER={cluster.master_address} "
                "in another terminal. Ctrl-C stops."
            )
            restarts = FrameworkRestarts()
            while not stop.wait(0.5):
                _restart_dead_frameworks(cluster, restarts)
    except KeyboardInterrupt:
        pass
    finally:
        click.echo("mesospy local: stopping", err=True)
        cluster.stop()
    sys.exit(code)
