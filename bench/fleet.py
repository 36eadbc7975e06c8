"""Processes for the scale and failover benchmarks: masters and simulated-agent fleets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from mesospy.client import OperatorClient, OperatorError
from mesospy.cluster import Daemon, free_port

SIM = Path(__file__).resolve().parent / "sim_agents.py"
AGENTS_PER_PROCESS = 5_000  # each costs 2 fds (listening port + the master's connection)


def raise_fd_limit() -> None:
    """Children inherit it: the master holds one connection per agent."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start_master(work: Path, name: str, flags: list[str], port: int = 0) -> Daemon:
    port = port or free_port()
    daemon = Daemon(
        name,
        ["master", "--port", str(port), "--work-dir", str(work / name), *flags],
        work / f"{name}.log",
        port,
    )
    daemon.start()
    return daemon


def wait_serving(daemon: Daemon, timeout: float = 60.0) -> None:
    """Until the master answers GetState as leader."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not daemon.alive():
            raise RuntimeError(f"{daemon.name} exited; its log ends:\n{daemon.tail()}")
        try:
            with OperatorClient(f"127.0.0.1:{daemon.port}", timeout=2.0) as client:
                client.get_state()
            return
        except OperatorError:
            time.sleep(0.1)
    raise RuntimeError(f"{daemon.name} did not lead within {timeout:.0f}s:\n{daemon.tail()}")


@dataclass
class CpuMeter:
    """CPU seconds and RSS of one process, sampled."""

    pid: int
    _proc: psutil.Process = field(init=False)

    def __post_init__(self) -> None:
        self._proc = psutil.Process(self.pid)

    def cpu(self) -> float:
        t = self._proc.cpu_times()
        return float(t.user + t.system)

    def rss_mb(self) -> float:
        return float(self._proc.memory_info().rss) / 2**20


class Fleet:
    """Simulated agents in ``ceil(agents / per_process)`` processes (``sim_agents.py``)."""

    def __init__(
        self,
        master: str,
        agents: int,
        resources: str,
        log_dir: Path,
        per_process: int = AGENTS_PER_PROCESS,
        extra: list[str] | None = None,
    ) -> None:
        self.master = master
        self.sizes = [min(per_process, agents - i) for i in range(0, agents, per_process)]
        self.resources = resources
        self.log_dir = log_dir
        self.extra = extra or []
        self.procs: list[asyncio.subprocess.Process] = []
        self.latest: list[dict[str, Any]] = [{} for _ in self.sizes]
        self.final: list[dict[str, Any]] = [{} for _ in self.sizes]
        self._readers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for i, size in enumerate(self.sizes):
            with open(self.log_dir / f"sim-{i}.log", "ab") as err:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    str(SIM),
                    "--master",
                    self.master,
                    "--agents",
                    str(size),
                    "--resources",
                    self.resources,
                    *self.extra,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=err,
                    stdin=asyncio.subprocess.DEVNULL,
                    start_new_session=True,
                )
            self.procs.append(proc)
            self._readers.append(asyncio.ensure_future(self._read(i, proc)))

    async def _read(self, i: int, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            try:
                stats = json.loads(line)
            except ValueError:
                continue
            if stats.get("final"):
                self.final[i] = stats
            self.latest[i] = stats

    def total(self, key: str) -> int:
        return sum(int(s.get(key, 0)) for s in self.latest)

    def registered(self) -> int:
        return self.total("registered_now")

    def all_registered_at(self) -> float:
        """Wall time the last process had all its agents registered (0: not yet)."""
        times = [float(s.get("all_registered_at", 0)) for s in self.latest]
        return max(times) if times and all(times) else 0.0

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def check_alive(self) -> None:
        for i, proc in enumerate(self.procs):
            if proc.returncode is not None:
                raise RuntimeError(
                    f"simulator {i} exited with {proc.returncode}; see {self.log_dir}/sim-{i}.log"
                )

    async def wait(self, what: str, predicate: Any, timeout: float) -> float:
        """Poll until ``predicate()``; the wall time it became true."""
        deadline = time.monotonic() + timeout
        while not predicate():
            self.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
            await asyncio.sleep(0.05)
        return time.time()

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for reader in self._readers:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(reader, 5)
        for i, final in enumerate(self.final):
            if final:
                self.latest[i] = final


async def tear_down(
    jobs: list[asyncio.Task[Any]], closables: list[Any], fleet: Fleet | None
) -> None:
    """Cancel a benchmark's jobs and wait for them to end, close its channels and detectors
    (anything with an async ``close()``; None is skipped), then stop the simulated agents."""
    for job in jobs:
        job.cancel()
    for job in jobs:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await job
    for closable in closables:
        if closable is not None:
            await closable.close()
    if fleet is not None:
        await fleet.stop()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"
