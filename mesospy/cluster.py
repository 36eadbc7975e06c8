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

import psutil

from mesospy.client import OperatorClient, OperatorError
from mesospy.security.channels import ClientSecurity
from mesospy.v1 import operator_pb2 as opb


class ClusterError(RuntimeError):
    """The cluster did not come up (the message says which process and where its log is)."""


_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now, and never one this process handed out
    before: the kernel gives a just-released port again, so a daemon's port and its metrics
    port, picked one after the other before either is bound, could be the same."""
    while True:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


@dataclass
class Daemon:
    """One master or agent process and its log file."""

    name: str
    args: list[str]
    log: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    metrics_port: int = 0  # 0: it serves no metrics
    webui_port: int = 0  # 0: it serves no dashboard (masters only)
    killed: bool = False  # a test killed it on purpose
    # Its ports were picked free by LocalCluster for this start: another process may take
    # one before the daemon binds it (then it exits saying so and gets new ones).
    picked_ports: bool = False
    port_changes: int = 0
    _log_start: int = 0  # where this start's output begins in the log

    def start(self, env: dict[str, str] | None = None) -> None:
        self.picked_ports = False
        try:
            self._log_start = self.log.stat().st_size
        except OSError:
            self._log_start = 0
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mesospy", *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # Ctrl-C in a terminal goes to `local`, which stops us
            )

    @property
    def metrics_url(self) -> str | None:
        """Where its Prometheus metrics are served, if they are."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics" if self.metrics_port else None

    @property
    def webui_url(self) -> str | None:
        """Where its dashboard is served (a master with ``--webui-port``), if it is."""
        scheme = "https" if "--tls-cert" in self.args else "http"  # the master's own cert
        return f"{scheme}://127.0.0.1:{self.webui_port}/" if self.webui_port else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.process is not None
            if sig in (signal.SIGKILL, signal.SIGTERM):
                self.killed = True
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

    def listening(self) -> bool:
        """Its process listens on its port (not some other process that took the port)."""
        if not self.alive():
            return False
        assert self.process is not None
        try:
            connections = psutil.Process(self.process.pid).net_connections(kind="tcp")
        except psutil.Error:
            return False
        return any(
            c.status == psutil.CONN_LISTEN and c.laddr and c.laddr[1] == self.port
            for c in connections
        )

    def lost_a_port(self) -> bool:
        """It exited, on the start that got freshly picked ports, because one was taken."""
        if not self.picked_ports or self.alive() or self.killed or self.process is None:
            return False
        if self.port_changes >= 5:  # not a race: let the caller report it
            return False
        try:
            with open(self.log, "rb") as log:
                log.seek(self._log_start)
                output = log.read().decode(errors="replace")
        except OSError:
            return False
        return "Address already in use" in output

    def start_on_new_ports(self, env: dict[str, str] | None = None) -> None:
        """Start again with fresh free ports in place of the ones it was given."""
        new = {str(self.port): free_port()}
        if self.metrics_port:
            new[str(self.metrics_port)] = free_port()
        if self.webui_port:
            new[str(self.webui_port)] = free_port()
        for index, arg in enumerate(self.args[:-1]):
            flags = ("--port", "--metrics-port", "--webui-port")
            if arg in flags and self.args[index + 1] in new:
                self.args[index + 1] = str(new[self.args[index + 1]])
        self.port = new[str(self.port)]
        self.metrics_port = new.get(str(self.metrics_port), 0)
        self.webui_port = new.get(str(self.webui_port), 0)
        self.port_changes += 1
        self.start(env)
        self.picked_ports = True

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
    # With a zk://.../path URL, `masters` masters contend for leadership in ZooKeeper.
    zk: str | None = None
    masters: int = 1
    # Serve Prometheus metrics from every master, agent and bundled framework, each on a
    # free port (``Daemon.metrics_url``).
    metrics: bool = False
    # Serve the dashboard from every master, each on a free port (``Daemon.webui_url``).
    webui: bool = False
    # Bundled frameworks to run beside the cluster ("batch", "service"): each is started as
    # `mesospy NAME serve --master ... --state WORK_DIR/NAME --port FREE_PORT`.
    frameworks: list[str] = field(default_factory=list)
    # More flags of each bundled framework's `serve`, by name (kept across restarts).
    framework_args: dict[str, list[str]] = field(default_factory=dict)
    # A cluster on one machine runs tasks as its user, even root (agents' --allow-root-tasks).
    allow_root_tasks: bool = True
    # How the cluster's own polling reaches a secured master (default: the environment).
    client_security: ClientSecurity | None = None
    master: Daemon | None = None
    master_daemons: list[Daemon] = field(default_factory=list)
    agent_daemons: list[Daemon] = field(default_factory=list)
    framework_daemons: dict[str, Daemon] = field(default_factory=dict)
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def master_address(self) -> str:
        """What clients are given: the zk:// URL with ZooKeeper, else the master's address."""
        return self.zk or f"127.0.0.1:{self.master_port}"

    def start(self, timeout: float = 60.0) -> LocalCluster:
        if self.work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mesospy-")
            self.work_dir = Path(self._tmp.name)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        for index in range(self.masters if self.zk else 1):
            self.add_master(self.master_port if index == 0 else 0)
        self.master = self.master_daemons[0]
        self.master_port = self.master.port
        # Whoever answers on a master's port must be that master: another process may have
        # taken the port before it could bind it (and may even be another test's master).
        self.wait_for(lambda state: self._master_is_ours(), timeout, "a master to lead")
        # Every contender is up, not only the leader: a test of standbys can reach them.
        self.wait_for(
            lambda state: all(d.listening() for d in self.master_daemons),
            timeout,
            "every master to listen",
        )
        for _ in range(self.agents):
            self.add_agent(wait=False)
        self.wait_for(
            lambda state: len(state.agents) >= self.agents, timeout, f"{self.agents} agents"
        )
        for name in self.frameworks:
            self.add_framework(name, timeout=timeout)
        return self

    def add_framework(
        self,
        name: str,
        wait: bool = True,
        timeout: float = 60.0,
        state: str | None = None,
        extra_args: list[str] | None = None,
    ) -> Daemon:
        """Start a bundled framework (``mesospy NAME serve``); with ``wait``, return once it
        has subscribed (its FrameworkInfo is named ``mesospy-NAME``). Its state goes to
        ``state`` (a directory or zk:// URL), by default WORK_DIR/NAME; ``extra_args`` are
        more flags of ``serve`` (TLS, credentials...)."""
        assert self.work_dir is not None
        port = free_port()
        metrics_port = free_port() if self.metrics else 0
        metrics_flags = ["--metrics-port", str(metrics_port)] if metrics_port else []
        daemon = Daemon(
            name,
            [
                name,
                "serve",
                "--master",
                self.master_address,
                "--state",
                state or str(self.work_dir / name),
                "--port",
                str(port),
                *metrics_flags,
                *self.framework_args.get(name, []),
                *(extra_args or []),
            ],
            self.work_dir / f"{name}.log",
            port,
            metrics_port=metrics_port,
        )
        daemon.start()
        daemon.picked_ports = True
        self.framework_daemons[name] = daemon
        if wait:
            self.wait_for(
                lambda s: any(
                    f.framework_info.name == f"mesospy-{name}" and f.active for f in s.frameworks
                ),
                timeout,
                f"the {name} framework to subscribe",
            )
        return daemon

    def add_master(self, port: int = 0) -> Daemon:
        """Start a master (another contender, with ZooKeeper)."""
        assert self.work_dir is not None
        index = len(self.master_daemons)
        picked = not port
        port = port or free_port()
        name = "master" if index == 0 else f"master-{index}"
        zk_flags = ["--zk", self.zk] if self.zk else []
        metrics_port = free_port() if self.metrics else 0
        metrics_flags = ["--metrics-port", str(metrics_port)] if metrics_port else []
        webui_port = free_port() if self.webui else 0
        webui_flags = ["--webui-port", str(webui_port)] if webui_port else []
        daemon = Daemon(
            name,
            [
                "master",
                "--port",
                str(port),
                "--work-dir",
                str(self.work_dir / name),
                *zk_flags,
                *metrics_flags,
                *webui_flags,
                *self.master_flags,
            ],
            self.work_dir / f"{name}.log",
            port,
            metrics_port=metrics_port,
            webui_port=webui_port,
        )
        daemon.start()
        daemon.picked_ports = picked
        self.master_daemons.append(daemon)
        return daemon

    def leader(self) -> Daemon:
        """The master that answers as leader now (raises OperatorError if none does)."""
        error: OperatorError | None = None
        for daemon in self.master_daemons:
            if not daemon.alive():
                continue
            try:
                with OperatorClient(
                    f"127.0.0.1:{daemon.port}", timeout=5.0, security=self.client_security
                ) as client:
                    client.get_state()
                return daemon
            except OperatorError as exc:
                error = exc
        raise error or OperatorError("no master is running")

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
        picked = not port
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
        if self.allow_root_tasks and os.geteuid() == 0:
            args.append("--allow-root-tasks")
        metrics_port = free_port() if self.metrics else 0
        if metrics_port:
            args += ["--metrics-port", str(metrics_port)]
        daemon = Daemon(
            f"agent-{index}",
            args,
            self.work_dir / f"agent-{index}.log",
            port,
            metrics_port=metrics_port,
        )
        before = len(self.state().agents) if wait else 0
        daemon.start()
        daemon.picked_ports = picked
        self.agent_daemons.append(daemon)
        if wait:
            self.wait_for(lambda s: len(s.agents) > before, timeout, f"agent {index}")
        return daemon

    def state(self) -> opb.GetStateResponse:
        """The leading master's GetState answer."""
        leader = self.leader() if self.zk else self.master
        assert leader is not None
        with OperatorClient(
            f"127.0.0.1:{leader.port}", timeout=5.0, security=self.client_security
        ) as client:
            return client.get_state()

    def wait_for(
        self, predicate: Callable[[opb.GetStateResponse], bool], timeout: float, what: str
    ) -> opb.GetStateResponse:
        """Poll the master's state until ``predicate(state)`` holds, or raise."""
        deadline = time.monotonic() + timeout
        last_error = ""
        while time.monotonic() < deadline:
            self._restart_where_a_port_was_taken()
            for daemon in [
                *self.master_daemons[: 1 if self.zk is None else 0],
                *self.agent_daemons,
                *self.framework_daemons.values(),
            ]:
                if daemon.process is not None and not daemon.alive() and not daemon.killed:
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

    def _master_is_ours(self) -> bool:
        daemon = self.leader() if self.zk else self.master
        return daemon is not None and daemon.listening()

    def _restart_where_a_port_was_taken(self) -> None:
        """Free ports are picked before a daemon starts, so another process may take one
        first: a daemon that exited for that on its first start goes again on new ports.
        (A master without ZooKeeper only before anything was told its address.)"""
        for daemon in [*self.master_daemons, *self.agent_daemons, *self.framework_daemons.values()]:
            if not daemon.lost_a_port():
                continue
            told = bool(self.agent_daemons or self.framework_daemons)
            if daemon is self.master and self.zk is None and told:
                continue  # agents have its address: it must not move
            daemon.start_on_new_ports()
            if daemon is self.master:
                self.master_port = daemon.port

    def agent_daemon(self, agent_id: str) -> Daemon:
        """The process of the agent the master knows as ``agent_id``."""
        ports = {a.agent_info.id: a.agent_info.port for a in self.state().agents}
        return next(d for d in self.agent_daemons if d.port == ports[agent_id])

    def stop(self) -> None:
        for daemon in [*self.framework_daemons.values(), *self.agent_daemons, *self.master_daemons]:
            daemon.stop()
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
