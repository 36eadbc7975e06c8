"""Host and sandbox volumes of image tasks (Mesos's ``Volume`` with ``host_path``).

``host_path`` relative (or empty) names a path in the task's sandbox (made if missing); an
absolute one must exist on the agent and lie under one of the agent's
``--allowed-host-paths`` (checked after resolving links, so a link cannot lead elsewhere).
``container_path`` absolute is a path in the image's root; relative, a path in the sandbox
as the task sees it (``/mnt/mesos/sandbox/...``). ``RO`` volumes are mounted read-only. The
mount points are made in the task's own root (never in the cached image, never through a
link), and the mounts themselves in the task's mount namespace. Blocking: worker threads.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterable
from pathlib import Path

from mesospy.agent.containers.rootfs import SANDBOX_PATH, Mount, RootfsError, real_dir
from mesospy.v1 import common_pb2

Volume = common_pb2.Volume


class VolumeError(RootfsError):
    """A volume cannot be mounted as asked."""


def _inside(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip("/") + "/")


def host_source(volume: Volume, sandbox: Path, allowed: Iterable[str]) -> Path:
    """The agent's path the volume mounts (made when it is in the sandbox)."""
    host = volume.host_path
    if not host or not host.startswith("/"):
        inner = posixpath.normpath(host or ".")
        if inner == ".." or inner.startswith("../"):
            raise VolumeError(f"volume host_path {host!r} leads out of the sandbox")
        return real_dir(sandbox, inner) if inner != "." else sandbox
    real = os.path.realpath(host)
    roots = [os.path.realpath(p) for p in allowed]
    if not any(_inside(real, root) for root in roots):
        listed = ", ".join(roots) or "none"
        raise VolumeError(
            f"volume host_path {host!r} is outside the sandbox and not under the agent's "
            f"--allowed-host-paths ({listed})"
        )
    if not os.path.exists(real):
        raise VolumeError(f"volume host_path {host!r} does not exist on the agent")
    return Path(real)


def container_target(volume: Volume) -> str:
    """Where the volume goes, as a path inside the task's root."""
    path = volume.container_path
    if not path:
        raise VolumeError("a volume needs a container_path")
    if not path.startswith("/"):
        path = f"{SANDBOX_PATH}/{path}"
    normal = posixpath.normpath(path)
    if normal == "/":
        raise VolumeError(f"volume container_path {volume.container_path!r} is the root")
    return normal


def volume_mounts(
    volumes: Iterable[Volume],
    sandbox: Path,
    image_root: Path,
    writable_root: Path,
    root: Path,
    allowed: Iterable[str],
) -> list[Mount]:
    """The mounts for ``volumes``, their mount points made in
    ``writable_root`` (the overlay's upper layer, or the task's copy) after checking that
    ``image_root`` has no link on the way."""
    allowed = list(allowed)
    mounts: list[Mount] = []
    for volume in volumes:
        source = host_source(volume, sandbox, allowed)
        target = container_target(volume)
        parent, name = posixpath.split(target)
        if target.startswith(SANDBOX_PATH + "/"):
            # In the sandbox: made there, seen through the sandbox's own mount.
            inner = target[len(SANDBOX_PATH) + 1 :]
            point = real_dir(sandbox, posixpath.dirname(inner)) / name
        else:
            _no_link(image_root, target)
            point = real_dir(writable_root, parent) / name
        if os.path.islink(point):
            raise VolumeError(f"volume container_path {target!r} is a link")
        if not os.path.lexists(point):
            if stat.S_ISDIR(os.stat(source).st_mode):
                point.mkdir()
            else:
                point.touch()
        where = f"{root}{target}"
        mounts.append(Mount.bind(str(source), where))
        if volume.mode == Volume.RO:
            mounts.append(Mount.remount_read_only(where))
    return mounts


def _no_link(base: Path, inner: str) -> None:
    """No component of ``inner`` under ``base`` is a link, and none but the last is a
    non-directory (as far as the image has them)."""
    path = base
    parts = [part for part in inner.strip("/").split("/") if part]
    for index, part in enumerate(parts):
        path = path / part
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        last = index == len(parts) - 1
        if stat.S_ISLNK(st.st_mode) or (not last and not stat.S_ISDIR(st.st_mode)):
            raise VolumeError(f"the image's {inner} is a link or under a file")
