"""Resource isolation for task processes: a memory limit (and CPU weight) per task.

Three isolators, chosen once at start-up (``choose_isolator``):
- ``CgroupsV1Isolator``: a memory and a cpu cgroup per task; the kernel OOM-kills a task
  over its limit and we read the kill count when the task ends.
- ``CgroupsV2Isolator``: the same on the unified hierarchy (memory.max, cpu.weight).
- ``PosixIsolator``: no kernel help; samples the RSS of each task's process group and kills
  the group when it is over the limit.

The cgroup work sits on the launch path, so each step is a single small write and nothing
is read back unless a task ends badly. Making and removing a cgroup costs the kernel far
more than writing its limits (about a third of the agent's CPU per short task), so the
cgroups of ended tasks are kept in a pool, once empty, and given to the next tasks with
their limits rewritten; the kernel's OOM-kill count of a reused cgroup is compared with
its count when the task got it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
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
    # The OOM kills the kernel had counted in these cgroups when the task got them.
    oom_kills_before: int = 0


def memory_message(mem_mb: float | None) -> str:
    return f"memory limit {mem_mb:g} MB exceeded"


class Isolator(Protocol):
    """What the launcher needs from an isolator."""

    name: str

    def prepare(self, container: Container) -> None:
        """Set limits up before the process starts."""

    def wrap(self, container: Container, argv: list[str]) -> list[str]:
        """The command line that starts the task inside its limits (after prepare())."""

    def entry_files(self, container: Container) -> list[Path]:
        """The files (``cgroup.procs``) a task's first process writes 0 to before it runs
        anything, to start inside its limits: what wrap() does, for a process that starts
        otherwise (an image task from the fork server)."""

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


def _try_make_parent(candidates: list[Path], scope: str) -> Path | None:
    """The first of ``candidate/scope`` that can be made and holds a child cgroup."""
    for candidate in candidates:
        try:
            candidate.mkdir(exist_ok=True)
            parent = candidate / scope
            parent.mkdir(exist_ok=True)
            probe = parent / f"probe-{os.getpid()}"
            probe.mkdir(exist_ok=True)
            probe.rmdir()
            return parent
        except OSError:
            continue
    return None


def isolation_scope(work_dir: str) -> str:
    """The cgroup directory that holds one agent's task cgroups: the same across restarts of
    that agent (its work dir), different from every other agent's on the machine."""
    return "agent-" + hashlib.sha1(os.path.realpath(work_dir).encode()).hexdigest()[:12]


# Most idle cgroups kept for reuse, per kind (set of controllers).
CGROUP_POOL_MAX = 512
# How often ended tasks' cgroups are checked (empty?) and pooled or removed.
CGROUP_RELEASE_INTERVAL = 0.1


@dataclass
class _Idle:
    """An empty cgroup (one directory per controller) waiting for its next task."""

    paths: list[Path]
    oom_kills: int


class _CgroupBase:
    """Cgroups of ended tasks go back to a pool, or are removed, in batches off the event
    loop; a cgroup that still holds processes is emptied (SIGKILL) and retried."""

    # Where the kernel counts OOM kills: memory.oom_control (v1), memory.events (v2).
    _oom_file = ""

    def __init__(self, parents: list[Path]) -> None:
        self._scope_parents = parents  # this agent's own directories, one per controller
        self._to_release: list[list[Path]] = []
        self._idle: dict[tuple[Path, ...], list[_Idle]] = {}  # by the cgroups' parents
        self._recovered: set[Path] = set()  # cgroups of tasks taken back after a restart

    def _take(self, parents: tuple[Path, ...], container: Container) -> bool:
        """Give the container an idle cgroup made under `parents`, if there is one (called
        from the launch thread; list.pop is atomic)."""
        try:
            idle = self._idle.get(parents, []).pop()
        except IndexError:
            return False
        container.paths = idle.paths
        container.oom_kills_before = idle.oom_kills
        return True

    def _discard(self, container: Container) -> None:
        """Its cgroups could not take the new limits: remove them, start afresh."""
        _remove_cgroups(container.paths)
        container.paths = []
        container.oom_kills_before = 0

    def cleanup(self, container: Container) -> None:
        if container.paths:
            self._to_release.append(container.paths)
        container.paths = []

    def _oom_kills(self, paths: list[Path]) -> int:
        """The kernel's count of OOM kills in the memory cgroup of `paths` (0 if none)."""
        for path in paths:
            try:
                text = (path / self._oom_file).read_text()
            except OSError:
                continue
            for line in text.splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value) if value.strip().isdigit() else 0
        return 0

    def limitation(self, container: Container) -> str | None:
        if container.mem_mb is None or not container.paths:
            return None
        if self._oom_kills(container.paths) > container.oom_kills_before:
            return memory_message(container.mem_mb)
        return None

    def entry_files(self, container: Container) -> list[Path]:
        return [path / "cgroup.procs" for path in container.paths]

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

    def _release(self, batch: list[list[Path]]) -> list[list[Path]]:
        """Worker thread: pool (or remove) the empty cgroups of `batch`; SIGKILL what still
        lingers in the others and return them, to try again."""
        busy = []
        for paths in batch:
            procs = [_procs(path) for path in paths]
            if any(pids is None for pids in procs):  # half gone: not worth keeping
                busy_paths = _remove_cgroups(paths)
                if busy_paths:
                    busy.append(busy_paths)
                continue
            if any(procs):
                for pids in procs:
                    for pid in pids or ():
                        with contextlib.suppress(OSError):
                            os.kill(pid, signal.SIGKILL)
                busy.append(paths)
                continue
            pool = self._idle.setdefault(tuple(path.parent for path in paths), [])
            if len(pool) < CGROUP_POOL_MAX:
                pool.append(_Idle(paths, self._oom_kills(paths)))
            else:
                _remove_cgroups(paths)
        return busy

    def _sweep(self) -> None:
        """Remove the empty cgroups a previous run of this agent left (it was killed with
        its pool); those of recovered tasks stay."""
        for parent in self._scope_parents:
            with contextlib.suppress(OSError):
                leftovers = [
                    child
                    for child in parent.iterdir()
                    if child.is_dir() and child not in self._recovered and _procs(child) == []
                ]
                _remove_cgroups(leftovers)

    async def run(self) -> None:
        await asyncio.to_thread(self._sweep)
        try:
            while True:
                await asyncio.sleep(CGROUP_RELEASE_INTERVAL)
                if self._to_release:
                    batch, self._to_release = self._to_release, []
                    self._to_release.extend(await asyncio.to_thread(self._release, batch))
        finally:
            # The agent is stopping: nothing it made may stay behind.
            leftover = [p for paths in self._to_release for p in paths]
            leftover += [p for pool in self._idle.values() for idle in pool for p in idle.paths]
            self._idle.clear()
            self._to_release = []
            if not _remove_cgroups(leftover):  # and its own directories, if nothing is left
                for parent in self._scope_parents:
                    with contextlib.suppress(OSError):
                        parent.rmdir()

    def _hierarchy(self, parent: Path) -> tuple[Path, str]:
        """The mount point of `parent`'s hierarchy and its controller name in
        /proc/PID/cgroup ("" for the unified hierarchy)."""
        return CGROUP_ROOT, ""

    def _paths_of(self, pid: int, parents: list[Path]) -> list[Path]:
        """The cgroups under `parents` that process `pid` is in (after an agent restart,
        when a pooled cgroup's name says nothing about its task)."""
        try:
            lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        except OSError:
            return []
        found = []
        for parent in parents:
            mount, controller = self._hierarchy(parent)
            for line in lines:
                _, controllers, cgroup = line.split(":", 2)
                if controller not in controllers.split(",") and controllers != controller:
                    continue
                path = mount / cgroup.lstrip("/")
                if path.parent == parent and path.is_dir():
                    found.append(path)
                    break
        return found


def _procs(path: Path) -> list[int] | None:
    """The processes in a cgroup, or None if it is gone."""
    try:
        return [int(pid) for pid in (path / "cgroup.procs").read_text().split()]
    except OSError:
        return None


def kill_container(container: Container) -> None:
    """SIGKILL every process in the container's cgroups at once, those outside its process
    group included (the DEFAULT executor starts each task in a session of its own).
    Without cgroups (posix) there is nothing to read, and this does nothing."""
    for path in container.paths:
        for pid in _procs(path) or ():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


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
        super().__init__([memory_parent, *([cpu_parent] if cpu_parent else [])])
        self._memory_parent = memory_parent
        self._cpu_parent = cpu_parent
        # Without swap memsw equals memory; with swap it must be capped too or tasks swap.
        self._limit_swap = _has_swap() and (memory_parent / "memory.memsw.limit_in_bytes").exists()

    @classmethod
    def create(cls, scope: str) -> CgroupsV1Isolator | None:
        memory_root = CGROUP_ROOT / "memory"
        if not (memory_root / "memory.limit_in_bytes").exists():
            return None
        memory = _try_make_parent(_v1_candidates(memory_root, "memory"), scope)
        if memory is None:
            return None
        cpu_root = CGROUP_ROOT / "cpu"
        cpu = (
            _try_make_parent(_v1_candidates(cpu_root, "cpu"), scope)
            if (cpu_root / "cpu.shares").exists()
            else None
        )
        return cls(memory, cpu)

    def _hierarchy(self, parent: Path) -> tuple[Path, str]:
        mount = CGROUP_ROOT / parent.relative_to(CGROUP_ROOT).parts[0]
        return mount, mount.name

    def _parents(self, container: Container) -> list[Path]:
        parents = [self._memory_parent] if container.mem_mb is not None else []
        if container.cpus is not None and self._cpu_parent is not None:
            parents.append(self._cpu_parent)
        return parents

    def prepare(self, container: Container) -> None:
        parents = self._parents(container)
        if not parents:
            return
        if self._take(tuple(parents), container):
            try:
                self._set_limits(container)
                return
            except OSError:  # e.g. it still holds more memory than the new limit
                self._discard(container)
        container.paths = [parent / container.id for parent in parents]
        for path in container.paths:
            path.mkdir(exist_ok=True)
        self._set_limits(container)

    def _set_limits(self, container: Container) -> None:
        for path in container.paths:
            if path.parent == self._memory_parent and container.mem_mb is not None:
                limit = str(int(max(container.mem_mb, MIN_MEMORY_MB) * _MB))
                if self._limit_swap:  # memsw >= memory at every step, whichever way it moves
                    _write(path / "memory.memsw.limit_in_bytes", "-1")
                _write(path / "memory.limit_in_bytes", limit)
                if self._limit_swap:
                    _write(path / "memory.memsw.limit_in_bytes", limit)
            elif container.cpus is not None:
                _write(path / "cpu.shares", str(max(2, int(container.cpus * 1024))))

    def recover(self, container: Container, pid: int) -> None:
        parents = [p for p in (self._memory_parent, self._cpu_parent) if p is not None]
        container.paths = self._paths_of(pid, parents) or [
            p / container.id for p in parents if (p / container.id).is_dir()
        ]
        container.oom_kills_before = self._oom_kills(container.paths)
        self._recovered.update(container.paths)


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
        super().__init__([parent])
        self._parent = parent

    @classmethod
    def create(cls, scope: str) -> CgroupsV2Isolator | None:
        root = CGROUP_ROOT
        controllers = root / "cgroup.controllers"
        if not controllers.exists() or "memory" not in controllers.read_text().split():
            return None
        parent = _try_make_parent([root / "mesospy"], scope)
        if parent is None:
            return None
        try:
            # Controllers must be enabled on every level above the task cgroups.
            for level in (root, parent.parent, parent):
                _write(level / "cgroup.subtree_control", "+memory +cpu")
        except OSError as exc:
            log.warning("cgroups v2: cannot enable memory/cpu controllers: %s", exc)
            return None
        return cls(parent)

    def prepare(self, container: Container) -> None:
        if container.mem_mb is None and container.cpus is None:
            return
        if self._take((self._parent,), container):
            try:
                self._set_limits(container)
                return
            except OSError:
                self._discard(container)
        path = self._parent / container.id
        path.mkdir(exist_ok=True)
        container.paths = [path]
        self._set_limits(container)

    def _set_limits(self, container: Container) -> None:
        path = container.paths[0]
        memory = (
            "max"
            if container.mem_mb is None
            else str(int(max(container.mem_mb, MIN_MEMORY_MB) * _MB))
        )
        _write(path / "memory.max", memory)
        with contextlib.suppress(OSError):
            _write(path / "memory.swap.max", "0")
        weight = 100 if container.cpus is None else min(10000, max(1, int(container.cpus * 100)))
        _write(path / "cpu.weight", str(weight))

    def recover(self, container: Container, pid: int) -> None:
        path = self._parent / container.id
        container.paths = self._paths_of(pid, [self._parent]) or ([path] if path.is_dir() else [])
        container.oom_kills_before = self._oom_kills(container.paths)
        self._recovered.update(container.paths)


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

    def entry_files(self, container: Container) -> list[Path]:
        return []

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


def choose_isolator(mode: str, sample_interval: float = 0.5, scope: str = "agent") -> Isolator:
    """The isolator for an AgentConfig.isolation mode ("auto", "cgroups" or "posix");
    cgroups go under a directory named `scope` (see `isolation_scope`)."""
    if mode in ("auto", "cgroups"):
        isolator: Isolator | None = CgroupsV1Isolator.create(scope) or CgroupsV2Isolator.create(
            scope
        )
        if isolator is not None:
            return isolator
        if mode == "cgroups":
            raise RuntimeError(
                "isolation 'cgroups' asked for, but no writable cgroup v1 memory hierarchy or "
                "cgroup v2 with the memory controller is mounted; run as root or use 'posix'"
            )
    return PosixIsolator(sample_interval)
