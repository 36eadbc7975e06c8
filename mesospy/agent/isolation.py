"""Resource isolation for task processes: a memory limit (and CPU weight) per task.

Three isolators, chosen once at start-up (``choose_isolator``):
- ``CgroupsV1Isolator``: a memory and a cpu cgroup per task; the kernel OOM-kills a task
  over its limit and we read the kill count when the task ends.
- ``CgroupsV2Isolator``: the same on the unified hierarchy (memory.max, cpu.weight).
- ``PosixIsolator``: no kernel help; samples the RSS of each task's process group and kills
  the group when it is over the limit.

The cgroup work sits on the launch path, so each step is a single small write and nothing
is read back unless a task ends badly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import psutil

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
_MB = 1024 * 1024
# Cgroup memory limits below this make even /bin/sh fail to start; Mesos uses 32 MB.
MIN_MEMORY_MB = 4.0


@dataclass
class Container:
    """The isolation state of one task's process tree."""

    id: str
    mem_mb: float | None
    cpus: float | None
    pid: int | None = None
    # Set when the isolator itself enforced a limit (posix); cgroups are read on exit.
    limitation: str | None = None
    paths: list[Path] = field(default_factory=list)


def memory_message(mem_mb: float | None) -> str:
    return f"memory limit {mem_mb:g} MB exceeded"


class Isolator(Protocol):
    """What the launcher needs from an isolator."""

    name: str

    def prepare(self, container: Container) -> None:
        """Set limits up before the process starts."""

    def wrap(self, container: Container, argv: list[str]) -> list[str]:
        """The command line that starts the task inside its limits (after prepare())."""

    def isolate(self, container: Container, pid: int) -> None:
        """Put a just-spawned process under the container's limits."""

    def limitation(self, container: Container) -> str | None:
        """After the process ended: why a limit killed it, or None."""

    def cleanup(self, container: Container) -> None:
        """Release what prepare() made; the processes are gone."""

    def recover(self, container: Container, pid: int) -> None:
        """Take back a container that outlived an agent restart."""

    async def run(self) -> None:
        """Background work (sampling, retried removals); runs until cancelled."""


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _own_cgroup_v1(controller: str) -> str:
    """The agent's own cgroup for a v1 controller, e.g. '/' or '/process_api/abc'."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controller in controllers.split(","):
                return path
    except OSError:
        pass
    return "/"


def _try_make_parent(candidates: list[Path]) -> Path | None:
    for parent in candidates:
        try:
            parent.mkdir(exist_ok=True)
            probe = parent / f"probe-{os.getpid()}"
            probe.mkdir(exist_ok=True)
            probe.rmdir()
            return parent
        except OSError:
            continue
    return None


class _CgroupBase:
    """Removal of cgroups in batches off the event loop (rmdir is slow on the launch path),
    retried while the kernel still counts exiting processes."""

    def __init__(self) -> None:
        self._to_remove: list[Path] = []

    def cleanup(self, container: Container) -> None:
        self._to_remove.extend(container.paths)
        container.paths = []

    # Where the kernel counts OOM kills: memory.oom_control (v1), memory.events (v2).
    _oom_file = ""

    def limitation(self, container: Container) -> str | None:
        if container.mem_mb is None or not container.paths:
            return None
        try:
            text = (container.paths[0] / self._oom_file).read_text()
        except OSError:
            return None
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip() not in ("", "0"):
                return memory_message(container.mem_mb)
        return None

    def wrap(self, container: Container, argv: list[str]) -> list[str]:
        # The task's first process moves itself into its cgroups before it runs anything,
        # so nothing it forks can start outside them. Moving the pid from the agent after
        # Popen returns is too late: `sh -c` may already have forked the real program.
        if not container.paths:
            return argv
        enter = " && ".join(
            f"echo $$ > {shlex.quote(str(path / 'cgroup.procs'))}" for path in container.paths
        )
        prologue = (
            f"{{ {enter}; }} 2>/dev/null || "
            "{ echo 'mesospy: cannot enter the task cgroup' >&2; exit 125; }"
        )
        if argv[:2] == ["/bin/sh", "-c"] and len(argv) == 3:
            return ["/bin/sh", "-c", f"{prologue}\n{argv[2]}"]
        return ["/bin/sh", "-c", f'{prologue}; exec "$@"', "mesospy-task", *argv]

    def isolate(self, container: Container, pid: int) -> None:
        pass  # wrap() already put the process in its cgroups

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(0.25)
                if self._to_remove:
                    batch, self._to_remove = self._to_remove, []
                    self._to_remove.extend(await asyncio.to_thread(_remove_cgroups, batch))
        finally:
            # The agent is stopping: what ended must not leave its cgroup behind.
            self._to_remove = _remove_cgroups(self._to_remove)


def _remove_cgroups(paths: list[Path]) -> list[Path]:
    """Remove empty cgroups; kill what still lingers in the others; return those."""
    busy = []
    for path in paths:
        try:
            path.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            with contextlib.suppress(OSError):
                for pid in (path / "cgroup.procs").read_text().split():
                    os.kill(int(pid), signal.SIGKILL)
            busy.append(path)
    return busy


class CgroupsV1Isolator(_CgroupBase):
    """Per-task cgroups under the agent's own memory and cpu cgroups (so the agent's own
    limits still bound its tasks), in a ``mesospy`` child."""

    name = "cgroups/v1"
    _oom_file = "memory.oom_control"

    def __init__(self, memory_parent: Path, cpu_parent: Path | None) -> None:
        super().__init__()
        self._memory_parent = memory_parent
        self._cpu_parent = cpu_parent
        # Without swap memsw equals memory; with swap it must be capped too or tasks swap.
        self._limit_swap = _has_swap() and (memory_parent / "memory.memsw.limit_in_bytes").exists()

    @classmethod
    def create(cls) -> CgroupsV1Isolator | None:
        memory_root = CGROUP_ROOT / "memory"
        if not (memory_root / "memory.limit_in_bytes").exists():
            return None
        memory = _try_make_parent(_v1_candidates(memory_root, "memory"))
        if memory is None:
            return None
        cpu_root = CGROUP_ROOT / "cpu"
        cpu = (
            _try_make_parent(_v1_candidates(cpu_root, "cpu"))
            if (cpu_root / "cpu.shares").exists()
            else None
        )
        return cls(memory, cpu)

    def prepare(self, container: Container) -> None:
        if container.mem_mb is not None:
            path = self._memory_parent / container.id
            path.mkdir(exist_ok=True)
            container.paths.append(path)
            limit = str(int(max(container.mem_mb, MIN_MEMORY_MB) * _MB))
            _write(path / "memory.limit_in_bytes", limit)
            if self._limit_swap:
                _write(path / "memory.memsw.limit_in_bytes", limit)
        if container.cpus is not None and self._cpu_parent is not None:
            path = self._cpu_parent / container.id
            path.mkdir(exist_ok=True)
            container.paths.append(path)
            _write(path / "cpu.shares", str(max(2, int(container.cpus * 1024))))

    def recover(self, container: Container, pid: int) -> None:
        parents = [self._memory_parent, self._cpu_parent]
        container.paths = [p / container.id for p in parents if p and (p / container.id).is_dir()]


def _v1_candidates(root: Path, controller: str) -> list[Path]:
    own = _own_cgroup_v1(controller).strip("/")
    candidates = [root / own / "mesospy"] if own else []
    return [*candidates, root / "mesospy"]


def _has_swap() -> bool:
    try:
        return len(Path("/proc/swaps").read_text().splitlines()) > 1
    except OSError:
        return False


class CgroupsV2Isolator(_CgroupBase):
    """Per-task cgroups in a ``mesospy`` subtree of the unified hierarchy."""

    name = "cgroups/v2"
    _oom_file = "memory.events"

    def __init__(self, parent: Path) -> None:
        super().__init__()
        self._parent = parent

    @classmethod
    def create(cls) -> CgroupsV2Isolator | None:
        root = CGROUP_ROOT
        controllers = root / "cgroup.controllers"
        if not controllers.exists() or "memory" not in controllers.read_text().split():
            return None
        parent = _try_make_parent([root / "mesospy"])
        if parent is None:
            return None
        try:
            # Controllers must be enabled on every level above the task cgroups.
            _write(root / "cgroup.subtree_control", "+memory +cpu")
            _write(parent / "cgroup.subtree_control", "+memory +cpu")
        except OSError as exc:
            log.warning("cgroups v2: cannot enable memory/cpu controllers: %s", exc)
            return None
        return cls(parent)

    def prepare(self, container: Container) -> None:
        if container.mem_mb is None and container.cpus is None:
            return
        path = self._parent / container.id
        path.mkdir(exist_ok=True)
        container.paths.append(path)
        if container.mem_mb is not None:
            _write(path / "memory.max", str(int(max(container.mem_mb, MIN_MEMORY_MB) * _MB)))
            with contextlib.suppress(OSError):
                _write(path / "memory.swap.max", "0")
        if container.cpus is not None:
            _write(path / "cpu.weight", str(min(10000, max(1, int(container.cpus * 100)))))

    def recover(self, container: Container, pid: int) -> None:
        path = self._parent / container.id
        container.paths = [path] if path.is_dir() else []


class PosixIsolator:
    """Memory limits without cgroups: sample each task's process-group RSS and kill the
    group when it is over the limit (as Mesos's posix/mem isolator with enforcement)."""

    name = "posix"

    def __init__(self, sample_interval: float = 0.5) -> None:
        self._interval = sample_interval
        self._watched: dict[str, Container] = {}

    def prepare(self, container: Container) -> None:
        pass

    def wrap(self, container: Container, argv: list[str]) -> list[str]:
        return argv

    def isolate(self, container: Container, pid: int) -> None:
        container.pid = pid
        if container.mem_mb is not None:
            self._watched[container.id] = container

    def limitation(self, container: Container) -> str | None:
        return container.limitation

    def cleanup(self, container: Container) -> None:
        self._watched.pop(container.id, None)

    def recover(self, container: Container, pid: int) -> None:
        self.isolate(container, pid)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if self._watched:
                over = await asyncio.to_thread(_over_limit, list(self._watched.values()))
                for container in over:
                    container.limitation = memory_message(container.mem_mb)
                    if container.pid is not None:
                        with contextlib.suppress(OSError):
                            os.killpg(container.pid, signal.SIGKILL)


def _over_limit(containers: list[Container]) -> list[Container]:
    over = []
    for container in containers:
        if container.pid is None or container.mem_mb is None:
            continue
        try:
            leader = psutil.Process(container.pid)
            rss = leader.memory_info().rss
            for child in leader.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    rss += child.memory_info().rss
        except psutil.Error:
            continue
        if rss > container.mem_mb * _MB:
            over.append(container)
    return over


def choose_isolator(mode: str, sample_interval: float = 0.5) -> Isolator:
    """The isolator for an AgentConfig.isolation mode ("auto", "cgroups" or "posix")."""
    if mode in ("auto", "cgroups"):
        isolator: Isolator | None = CgroupsV1Isolator.create() or CgroupsV2Isolator.create()
        if isolator is not None:
            return isolator
        if mode == "cgroups":
            raise RuntimeError(
                "isolation 'cgroups' asked for, but no writable cgroup v1 memory hierarchy or "
                "cgroup v2 with the memory controller is mounted; run as root or use 'posix'"
            )
    return PosixIsolator(sample_interval)
