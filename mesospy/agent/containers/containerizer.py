"""The agent's side of image tasks: can this agent run them, and getting one ready.

``Containerizer.problem`` says why this agent cannot run image tasks (not root, no
``unshare``, namespaces refused, or turned off with ``--no-container-images``); such tasks
then fail at launch with that reason. ``prepare`` (a worker thread) pulls the image, makes
the task's root and says how to start it: ``start`` through the agent's fork server, or
the command line ``Prepared.argv()``; ``cleanup`` undoes the root when the task has ended.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesospy.agent.containers.forkserver import ForkServer, Ticket
from mesospy.agent.containers.launch import (
    ImageUser,
    LaunchError,
    command_of,
    environment_of,
    namespaced,
    user_of,
    working_dir,
)
from mesospy.agent.containers.rootfs import Root, RootfsError, RootfsProvisioner
from mesospy.agent.containers.store import ImageError, ImageStore
from mesospy.agent.containers.volumes import VolumeError, volume_mounts
from mesospy.agent.fetcher import Cancellation
from mesospy.v1 import common_pb2

log = logging.getLogger(__name__)

UNSHARE = shutil.which("unshare", path="/usr/bin:/bin:/usr/sbin:/sbin")
ATTRIBUTE = "mesospy.images"
# What a failed image launch raises (the task fails with the error's text).
ERRORS = (ImageError, RootfsError, LaunchError)


@dataclass
class Prepared:
    """An image task ready to start: its root (with the mounts that complete it), working
    directory, user, program and environment."""

    root: Root
    workdir: str
    user: ImageUser
    program: list[str]
    env: dict[str, str]

    @property
    def uid(self) -> int:
        return self.user.uid

    @property
    def gid(self) -> int:
        return self.user.gid

    def argv(self) -> list[str]:
        """The command line that starts it through util-linux ``unshare``."""
        assert UNSHARE is not None
        return namespaced(UNSHARE, self.root, self.workdir, self.user, self.program)


def fork_request(
    prepared: Prepared, sandbox: Path, cgroups: list[Path], exit_log: Path
) -> dict[str, Any]:
    """What the fork server needs to start a prepared task (see ``forkserver_main``)."""
    return {
        "argv": prepared.program,
        "env": prepared.env,
        "root": str(prepared.root.path),
        "workdir": prepared.workdir,
        "make": [str(path) for path in prepared.root.make],
        "mounts": [
            [m.source, m.target, m.fstype, m.options, m.read_only] for m in prepared.root.mounts
        ],
        "uid": prepared.uid,
        "gid": prepared.gid,
        "cgroups": [str(path) for path in cgroups],
        "exit_log": str(exit_log),
        "exit_file": None,
        "sandbox": str(sandbox),
    }


NSENTER = shutil.which("nsenter", path="/usr/bin:/bin:/usr/sbin:/sbin")


def container_init(pid: int) -> int:
    """The host pid of the first process under ``pid`` in another PID namespace (an
    image task's pid 1), once it is in its container: a mount namespace of its own and
    the image as its root. Raises OSError when there is none (yet): a process still
    setting its container up must not be entered, or a command would run on the host's
    files."""
    own = os.readlink("/proc/self/ns/pid")
    queue = [pid]
    while queue:
        current = queue.pop(0)
        if os.readlink(f"/proc/{current}/ns/pid") != own:
            if not _in_its_root(current):
                raise OSError(f"the container of process {pid} is not set up yet")
            return current
        with open(f"/proc/{current}/task/{current}/children") as f:
            queue.extend(int(child) for child in f.read().split())
    raise OSError(f"process {pid} has no process in a namespace of its own")


def _in_its_root(pid: int) -> bool:
    """The process has a mount namespace and a root directory other than the agent's."""
    if os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt"):
        return False
    root, ours = os.stat(f"/proc/{pid}/root"), os.stat("/")
    return (root.st_dev, root.st_ino) != (ours.st_dev, ours.st_ino)


def enter_command(pid: int, uid: int, gid: int, argv: list[str]) -> list[str]:
    """``argv`` run inside the container whose processes descend from ``pid``: its mount
    and PID namespaces, root and working directory, as its user."""
    if NSENTER is None:
        raise OSError("util-linux nsenter is not installed on the agent")
    target = container_init(pid)
    return [NSENTER, f"--target={target}", "--mount", "--pid", "--root", "--wd",
            f"--setgid={gid}", f"--setuid={uid}", "--", *argv]  # fmt: skip


def images_problem(containerizer: Containerizer | None) -> str | None:
    """Why image tasks cannot run here (no containerizer, or the one there cannot)."""
    return "no containerizer" if containerizer is None else containerizer.problem


def support_problem(enabled: bool) -> str | None:
    """Why image tasks cannot run on this agent, or None when they can."""
    if not enabled:
        return "this agent runs no image tasks (started with --no-container-images)"
    if os.geteuid() != 0:
        return "the agent does not run as root, so it cannot create mount and PID namespaces"
    if UNSHARE is None:
        return "util-linux unshare is not installed on the agent"
    try:
        probe = subprocess.run(
            [UNSHARE, "--mount", "--pid", "--fork", "--", "/bin/true"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot create namespaces: {exc}"
    if probe.returncode != 0:
        return f"cannot create namespaces: {probe.stderr.decode(errors='replace').strip()[:200]}"
    return None


class Containerizer:
    def __init__(
        self,
        work_dir: Path,
        *,
        enabled: bool = True,
        mirror: str | None = None,
        max_size: int = 8 << 30,
        backend: str = "auto",
        allowed_host_paths: tuple[str, ...] = (),
    ) -> None:
        self.allowed_host_paths = allowed_host_paths
        self.forkserver = ForkServer()
        self.problem = support_problem(enabled)
        self.store: ImageStore | None = None
        self.rootfs: RootfsProvisioner | None = None
        if self.problem is None:
            try:
                self.store = ImageStore(work_dir / "images", mirror=mirror, max_size=max_size)
                self.rootfs = RootfsProvisioner(work_dir / "containers", backend)
            except OSError as exc:
                self.problem = f"cannot set up the image store: {exc}"
        if self.problem is not None:
            log.info("image tasks are not supported here: %s", self.problem)
        else:
            assert self.rootfs is not None
            backend = "overlayfs" if self.rootfs.overlay else "copies"
            log.info("image tasks supported (task roots as %s)", backend)

    @property
    def supported(self) -> bool:
        return self.problem is None

    def prepare(
        self,
        info: common_pb2.TaskInfo,
        container_id: str,
        sandbox: Path,
        agent_vars: Mapping[str, str],
        cancel: Cancellation,
        *,
        allow_root: bool,
    ) -> Prepared:
        """Pull, make the root, and say how to start the task. Raises one of ERRORS, or
        FetchCancelled when the task is killed meanwhile."""
        assert self.store is not None and self.rootfs is not None and UNSHARE is not None
        spec = info.container.mesos.image
        name = spec.docker.name.strip()
        cached = spec.cached if spec.HasField("cached") else True
        image = self.store.get(name, cancel, cached=cached)
        program = command_of(image.config, info.command, name)
        user = user_of(image.rootfs, info.command.user or str(image.config.get("User") or ""), name)
        if user.uid == 0 and not allow_root:
            raise LaunchError(
                f"the task would run as root in image {name!r}; this agent runs tasks as root "
                "only when started with --allow-root-tasks (give command.user, or an image "
                "with a User)"
            )
        task_vars = dict(info.command.environment)
        env = environment_of(image.config, task_vars, agent_vars, user)
        root = self.rootfs.prepare(container_id, image.rootfs, sandbox)
        try:
            if info.container.volumes:
                root.make_dirs()  # their mount points go in the task's own layer
            root.mounts += volume_mounts(
                info.container.volumes,
                sandbox,
                image.rootfs,
                root.writable,
                root.path,
                self.allowed_host_paths,
            )
        except (RootfsError, OSError) as exc:
            self.rootfs.cleanup(container_id)
            raise VolumeError(f"cannot mount the volumes of image {name!r}: {exc}") from exc
        return Prepared(root, working_dir(image.config), user, program, env)

    def submit(
        self,
        prepared: Prepared,
        fds: tuple[int, int, int],
        sandbox: Path,
        cgroups: list[Path],
        exit_log: Path,
    ) -> Ticket:
        """Send a prepared task to the fork server (``fds``: its stdin, stdout and stderr,
        which may be closed once this returns; ``cgroups``: the ``cgroup.procs`` files it
        joins first; its exit status recorded in ``exit_log``); ``collect`` the ticket for
        the pid of its first process. Raises ForkServerUnavailable: then start it by
        ``prepared.argv()``."""
        request = fork_request(prepared, sandbox, cgroups, exit_log)
        return self.forkserver.submit(request, fds)

    def collect(self, ticket: Ticket) -> int:
        """The pid of a submitted task's first process. Raises OSError."""
        return self.forkserver.collect(ticket)

    def watch(self, pid: int, on_exit: Callable[[int | None], None]) -> Callable[[], None]:
        """Call ``on_exit`` (from another thread) with the exit status of a task started
        through the fork server (None: unknown); a function that stops watching."""
        return self.forkserver.watch(pid, on_exit)

    def release(self, pid: int) -> None:
        """A task started by ``start`` has been seen to end: its first process may go."""
        self.forkserver.release(pid)

    def close(self) -> None:
        """Stop the fork server (the tasks keep running). Blocking."""
        self.forkserver.close()

    def recovered(
        self, info: common_pb2.TaskInfo, agent_vars: Mapping[str, str]
    ) -> tuple[dict[str, str], int, int] | None:
        """A re-adopted image task's environment and (uid, gid), from the image the agent
        has (no pull); None when it no longer has it."""
        if self.store is None:
            return None
        spec = info.container.mesos.image
        name = spec.docker.name.strip()
        try:
            image = self.store.get(name, Cancellation(), cached=True, offline=True)
            user = user_of(
                image.rootfs, info.command.user or str(image.config.get("User") or ""), name
            )
        except ERRORS:
            return None
        env = environment_of(image.config, dict(info.command.environment), agent_vars, user)
        return env, user.uid, user.gid

    def ready(self, info: common_pb2.TaskInfo) -> bool:
        """Whether the task's image is at hand: its launch then needs no pull."""
        image = info.container.mesos.image
        cached = image.cached if image.HasField("cached") else True
        return cached and self.store is not None and self.store.known(image.docker.name.strip())

    def cleanup(self, container_id: str) -> None:
        if self.rootfs is not None:
            self.rootfs.cleanup(container_id)

    def forget_others(self, keep: set[str]) -> None:
        """Unmount and remove every task root but those of ``keep`` (container ids)."""
        if self.rootfs is not None:
            for entry in self.rootfs.containers.iterdir():
                if not entry.name.startswith(".") and entry.name not in keep:
                    log.info("removing the root of ended container %s", entry.name)
                    self.rootfs.cleanup(entry.name)
