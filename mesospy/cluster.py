"""A whole cluster on this machine: one master and N agents as real processes.

``mesospy local`` runs one for people; tests (and framework authors' tests, through
``mesospy.testing``) run one per test. Everything listens on loopback.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mesospy.client import OperatorClient, OperatorError
from mesospy.v1 import operator_pb2 as opb


class ClusterError(RuntimeError):
    """The cluster did not come up (the message says which process and where its log is)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Daemon:
    """One master or agent process and its log file."""

    name: str
    args: list[str]
    log: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mesospy", *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # Ctrl-C in a terminal goes to `local`, which stops us
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class LocalCluster:
    """A master and ``agents`` agents on loopback, each its own process."""

    agents: int = 2
    work_dir: Path | None = None
    master_port: int = 0  # 0: a free port
    agent_resources: list[str | None] | str | None = None
    master_flags: list[str] = field(default_factory=list)
    agent_flags: list[str] = field(default_factory=list)
    kill_tasks_on_exit: bool = True
    master: Daemon | None = None
    agent_daemons: list[Daemon] = field(default_factory=list)
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def master_address(self) -> str:
        return f"127.0.0.1:{self.master_port}"

    def start(self, timeout: float = 60.0) -> LocalCluster:
        if self.work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mesospy-")
            self.work_dir = Path(self._tmp.name)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.master_port = self.master_port or free_port()
        self.master = Daemon(
            "master",
            [
                "master",
                "--port",
                str(self.master_port),
                "--work-dir",
                str(self.work_dir / "master"),
                *self.master_flags,
            ],
            self.work_dir / "master.log",
            self.master_port,
        )
        self.master.start()
        self.wait_for(lambda state: True, timeout, "the master to answer")
        for _ in range(self.agents):
            self.add_agent(wait=False)
        self.wait_for(
            lambda state: len(state.agents) >= self.agents, timeout, f"{self.agents} agents"
        )
        return self

    def _resources_for(self, index: int) -> str | None:
        if isinstance(self.agent_resources, list):
            return self.agent_resources[index] if index < len(self.agent_resources) else None
        return self.agent_resources

    def add_agent(
        self, resources: str | None = None, port: int = 0, wait: bool = True, timeout: float = 60.0
    ) -> Daemon:
        """Start one more agent; with ``wait``, return once the master has it."""
        assert self.work_dir is not None
        index = len(self.agent_daemons)
        resources = resources or self._resources_for(index)
        port = port or free_port()
        args = [
            "agent",
            "--master",
            self.master_address,
            "--port",
            str(port),
            "--work-dir",
            str(self.work_dir / f"agent-{index}"),
            *self.agent_flags,
        ]
        if resources:
            args += ["--resources", resources]
        if self.kill_tasks_on_exit:
            args.append("--kill-tasks-on-exit")
        daemon = Daemon(f"agent-{index}", args, self.work_dir / f"agent-{index}.log", port)
        before = len(self.state().agents) if wait else 0
        daemon.start()
        self.agent_daemons.append(daemon)
        if wait:
            self.wait_for(lambda s: len(s.agents) > before, timeout, f"agent {index}")
        return daemon

    def state(self) -> opb.GetStateResponse:
        """The master's GetState answer."""
        with OperatorClient(self.master_address, timeout=5.0) as client:
            return client.get_state()

    def wait_for(
        self, predicate: Callable[[opb.GetStateResponse], bool], timeout: float, what: str
    ) -> opb.GetStateResponse:
        """Poll the master's state until ``predicate(state)`` holds, or raise."""
        deadline = time.monotonic() + timeout
        last_error = ""
        while time.monotonic() < deadline:
            for daemon in [self.master, *self.agent_daemons]:
                if daemon is not None and daemon.process is not None and not daemon.alive():
                    raise ClusterError(
                        f"{daemon.name} exited with {daemon.process.returncode} while waiting "
                        f"for {what}; its log ({daemon.log}) ends:\n{daemon.tail()}"
                    )
            try:
                state = self.state()
                if predicate(state):
                    return state
            except OperatorError as exc:
                last_error = str(exc)
            time.sleep(0.05)
        raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what} {last_error}")

    def agent_daemon(self, agent_id: str) -> Daemon:
        """The process of the agent the master knows as ``agent_id``."""
        ports = {a.agent_info.id: a.agent_info.port for a in self.state().agents}
        return next(d for d in self.agent_daemons if d.port == ports[agent_id])

    def stop(self) -> None:
        for daemon in self.agent_daemons:
            daemon.stop()
        if self.master is not None:
            self.master.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def environment_with_master(address: str) -> dict[str, str]:
    env = dict(os.environ)
    env["MESOSPY_MASTER"] = address
    return env
