"""The agent's side of image tasks: can this agent run them, and getting one ready.

``Containerizer.problem`` says why this agent cannot run image tasks (not root, no
``unshare``, namespaces refused, or turned off with ``--no-container-images``); such tasks
then fail at launch with that reason. ``prepare`` (a worker thread) pulls the image, makes
the task's root and returns the command line and environment that start it;
``cleanup`` undoes the root when the task has ended.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mesospy.agent.containers.launch import (
    LaunchError,
    command_of,
    environment_of,
    namespaced,
    user_of,
    working_dir,
)
from mesospy.agent.containers.rootfs import RootfsError, RootfsProvisioner
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
    argv: list[str]
    env: dict[str, str]
    uid: int
    gid: int = 0


NSENTER = shutil.which("nsenter", path="/usr/bin:/bin:/usr/sbin:/sbin")


def container_init(pid: int) -> int:
    """The host pid of the first process under ``pid`` in another PID namespace (an
    image task's pid 1). Raises OSError when there is none (yet)."""
    own = os.readlink("/proc/self/ns/pid")
    queue = [pid]
    while queue:
        current = queue.pop(0)
        if os.readlink(f"/proc/{current}/ns/pid") != own:
            return current
        with open(f"/proc/{current}/task/{current}/children") as f:
            queue.extend(int(child) for child in f.read().split())
    raise OSError(f"process {pid} has no process in a namespace of its own")


def enter_command(pid: int, uid: int, gid: int, argv: list[str]) -> list[str]:
    """``argv`` run inside the container whose processes descend from ``pid``: its mount
    and PID namespaces, root and working directory, as its user."""
    if NSENTER is None:
        raise OSError("util-linux nsenter is not installed on the agent")
    target = container_init(pid)
    return [NSENTER, f"--target={target}", "--mount", "--pid", "--root", "--wd",
            f"--setgid={gid}", f"--setuid={uid}", "--", *argv]  # fmt: skip


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
        workdir = working_dir(image.config)
        argv = namespaced(UNSHARE, root, workdir, user, program)
        return Prepared(argv, env, user.uid, user.gid)

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
