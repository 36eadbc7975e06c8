"""Each task's own view of its image: an overlay (or a copy) with its sandbox mounted in.

The task's root is ``WORK_DIR/containers/<container id>/root``: an overlayfs whose lower
layer is the image's cached root file system and whose upper layer (what the task writes)
is the container's own, or, where overlayfs cannot be mounted, a copy of the image's root.
Into it go the sandbox (bind-mounted at ``/mnt/mesos/sandbox``) and a small ``/dev`` (null,
zero, full, random, urandom, tty: bind-mounted from one the agent makes once). These mounts
live in the agent's mount namespace, under its work dir; the task's own namespace (made when
it starts) copies them, and the agent unmounts them when the task ends. The agent never
follows a link inside an image: a mount point that is not a real directory fails the launch.
Blocking: worker threads.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import stat
import subprocess
from pathlib import Path

SANDBOX_PATH = "/mnt/mesos/sandbox"
BACKENDS = ("auto", "overlay", "copy")
MS_RDONLY = 1
MS_NOSUID = 2
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
_DEVICES = {
    "null": (1, 3),
    "zero": (1, 5),
    "full": (1, 7),
    "random": (1, 8),
    "urandom": (1, 9),
    "tty": (5, 0),
}

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


class RootfsError(Exception):
    """The task's root cannot be made."""


def mount(
    source: str, target: Path, fstype: str | None, flags: int = 0, data: str | None = None
) -> None:
    if _libc.mount(
        source.encode(),
        os.fsencode(target),
        fstype.encode() if fstype else None,
        flags,
        data.encode() if data else None,
    ):
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def unmount(target: Path) -> bool:
    """Detach a mount (lazily, as a busy one may still be in use); False if none was there."""
    if _libc.umount2(os.fsencode(target), MNT_DETACH):
        err = ctypes.get_errno()
        if err in (errno.EINVAL, errno.ENOENT):
            return False
        raise OSError(err, f"umount {target}: {os.strerror(err)}")
    return True


def mounted_under(path: Path) -> list[str]:
    """The mount points at or below ``path`` (from /proc/self/mountinfo: a bind mount of a
    directory on the same file system has the same device as its parent)."""
    prefix = os.path.realpath(path)
    points = []
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            point = line.split(b" ")[4].decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return points


def _real_dir(root: Path, inner: str) -> Path:
    """``root``/``inner``, its missing directories made, refusing any that is a link."""
    path = root
    for part in inner.strip("/").split("/"):
        path = path / part
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path, 0o755)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise RootfsError(
                f"the image's {inner} is not a directory (a link?): cannot mount there"
            )
    return path


class RootfsProvisioner:
    """Makes and removes the per-task roots under ``containers``."""

    def __init__(self, containers: Path, backend: str = "auto") -> None:
        """``backend``: "overlay", "copy", or "auto" (overlay where it can be mounted)."""
        if backend not in BACKENDS:
            raise ValueError(
                f"image rootfs backend {backend!r} is not one of {', '.join(BACKENDS)}"
            )
        self.containers = containers
        containers.mkdir(parents=True, exist_ok=True)
        self.dev = containers / ".dev"
        self._make_dev()
        self.overlay = backend != "copy" and self._overlay_works()
        if backend == "overlay" and not self.overlay:
            raise OSError("overlayfs cannot be mounted here (--image-rootfs-backend overlay)")

    def _make_dev(self) -> None:
        self.dev.mkdir(exist_ok=True)
        os.chmod(self.dev, 0o755)
        for name, (major, minor) in _DEVICES.items():
            path = self.dev / name
            if not path.exists():
                os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
                os.chmod(path, 0o666)
        for name in ("shm", "pts"):
            (self.dev / name).mkdir(exist_ok=True)
        os.chmod(self.dev / "shm", 0o1777)
        for name, target in (
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ):
            if not os.path.lexists(self.dev / name):
                os.symlink(target, self.dev / name)

    def _overlay_works(self) -> bool:
        probe = self.containers / ".overlay-probe"
        shutil.rmtree(probe, ignore_errors=True)
        try:
            for part in ("lower", "upper", "work", "root"):
                (probe / part).mkdir(parents=True)
            self._mount_overlay(probe / "lower", probe)
            unmount(probe / "root")
            return True
        except OSError:
            return False
        finally:
            shutil.rmtree(probe, ignore_errors=True)

    def _mount_overlay(self, lower: Path, container: Path) -> None:
        data = f"lowerdir={lower},upperdir={container / 'upper'},workdir={container / 'work'}"
        mount("overlay", container / "root", "overlay", 0, data)

    def path(self, container_id: str) -> Path:
        return self.containers / container_id

    def prepare(self, container_id: str, image_rootfs: Path, sandbox: Path) -> Path:
        """The task's root, with its sandbox and /dev mounted in. Raises RootfsError."""
        container = self.path(container_id)
        root = container / "root"
        try:
            if self.overlay:
                for part in ("upper", "work", "root"):
                    (container / part).mkdir(parents=True, exist_ok=True)
                self._mount_overlay(image_rootfs, container)
            else:
                container.mkdir(parents=True, exist_ok=True)
                copy = (
                    subprocess.run(
                        ["cp", "-a", "--reflink=auto", f"{image_rootfs}/.", str(root)],
                        capture_output=True,
                        check=False,
                    )
                    if not root.exists() or not any(root.iterdir())
                    else None
                )
                if copy is not None and copy.returncode != 0:
                    raise RootfsError(
                        f"cannot copy the image's root: {copy.stderr.decode()[-300:]}"
                    )
            os.chmod(root, 0o755)
            mount(str(sandbox), _real_dir(root, SANDBOX_PATH), None, MS_BIND)
            mount(str(self.dev), _real_dir(root, "/dev"), None, MS_BIND | MS_NOSUID)
            _real_dir(root, "/proc")
            _real_dir(root, "/tmp")
        except OSError as exc:
            self.cleanup(container_id)
            raise RootfsError(f"cannot make the task's root file system: {exc}") from exc
        except RootfsError:
            self.cleanup(container_id)
            raise
        return root

    def cleanup(self, container_id: str) -> None:
        """Unmount and remove a task's root (nothing happens for a task without one)."""
        container = self.path(container_id)
        if not container.exists():
            return
        for point in sorted(mounted_under(container), key=len, reverse=True):
            with contextlib.suppress(OSError):
                while unmount(Path(point)):
                    pass
        # Only once nothing is mounted there any more: never remove through a mount (the
        # sandbox is bind-mounted in).
        if not mounted_under(container):
            shutil.rmtree(container, ignore_errors=True)
