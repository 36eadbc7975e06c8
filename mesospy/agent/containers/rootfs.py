"""Each task's own view of its image: an overlay (or a copy) with its sandbox mounted in.

The task's root is ``WORK_DIR/containers/<container id>/root``: an overlayfs whose lower
layer is the image's cached root file system and whose upper layer (what the task writes)
is the container's own, or, where overlayfs cannot be mounted, a copy of the image's root.
Into it goes the sandbox (bind-mounted at ``/mnt/mesos/sandbox``); its ``/dev`` is a small
one (null, zero, full, random, urandom, tty) made in the image's root as it is unpacked.

All of these mounts are made inside the task's own mount namespace, by the task's first
process there (``Root.mounts``: mount(2) calls from the agent's fork server, or ``mount``
commands where the task starts through util-linux): the agent's namespace never holds
them, so they go when the task's last process does (an agent that dies leaks none), and
a new task's namespace does not copy every other task's mounts (which made each start
slower than the last).
Mount points are made real directories when an image is unpacked (``make_mount_points``);
the agent never follows a link inside an image. Blocking: worker threads.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

SANDBOX_PATH = "/mnt/mesos/sandbox"
MOUNT_POINTS = (SANDBOX_PATH, "/dev", "/proc", "/tmp")
BACKENDS = ("auto", "overlay", "copy")
MOUNT = shutil.which("mount", path="/usr/bin:/bin:/usr/sbin:/sbin") or "/bin/mount"
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
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


class RootfsError(Exception):
    """The task's root cannot be made."""


@dataclass(frozen=True)
class Mount:
    """One mount a task's namespace makes before it enters its root: an overlay
    (``fstype`` "overlay", its layers in ``options``), a bind of ``source`` (non-recursive,
    as ``mount --bind``), or, with ``read_only``, a remount of the bind at ``target``
    read-only."""

    source: str
    target: str
    fstype: str = ""
    options: str = ""
    read_only: bool = False

    @staticmethod
    def overlay(layers: str, target: str) -> Mount:
        return Mount("overlay", target, "overlay", layers)

    @staticmethod
    def bind(source: str, target: str) -> Mount:
        return Mount(source, target)

    @staticmethod
    def remount_read_only(target: str) -> Mount:
        return Mount("", target, read_only=True)

    def argv(self) -> list[str]:
        """The same mount as a ``mount`` command line."""
        if self.read_only:
            return [MOUNT, "-o", "remount,bind,ro", self.target]
        if self.fstype:
            return [MOUNT, "-t", self.fstype, self.source, "-o", self.options, self.target]
        return [MOUNT, "--bind", self.source, self.target]

    def table_entry(self) -> str | None:
        """The mount as a line of a mount table (``mount -a -T``); None when it cannot be
        one (a remount, or a field a table would need escaped)."""
        if self.read_only:
            return None
        entry = (
            (self.source, self.target, self.fstype, self.options)
            if self.fstype
            else (self.source, self.target, "none", "bind")
        )
        if any(_UNSAFE_IN_TABLE.search(field) for field in entry):
            return None
        return " ".join(entry) + " 0 0\n"


@dataclass
class Root:
    """A task's root directory and the mounts that complete it, to be made in the task's
    own mount namespace before it enters the root; ``writable`` is where its own files go
    (the overlay's upper layer, or the copy itself); ``container`` is the directory that
    holds them."""

    path: Path
    mounts: list[Mount]
    writable: Path
    container: Path
    # Directories not made yet (the overlay's): made by the task's first process, off the
    # agent's path (a mkdir costs ~0.2 ms on a slow disk), or by make_dirs().
    make: list[Path] = field(default_factory=list)

    def make_dirs(self) -> None:
        """Make the directories still to be made (idempotent). Raises OSError."""
        for path in self.make:
            path.mkdir(parents=True, exist_ok=True)
        self.make = []

    def mount_commands(self) -> list[list[str]]:
        """The mounts as commands: those up to the first that cannot be a line of a mount
        table as one ``mount -a`` of a table of the task's own (one process at each task
        start instead of several), then a ``mount`` each. Makes the root's directories."""
        self.make_dirs()
        entries: list[str] = []
        for mount in self.mounts:
            entry = mount.table_entry()
            if entry is None:
                break
            entries.append(entry)
        if len(entries) < 2:
            return [mount.argv() for mount in self.mounts]
        table = self.container / "mounts"
        table.write_text("".join(entries))
        rest = self.mounts[len(entries) :]
        return [[MOUNT, "-a", "-T", str(table)], *(mount.argv() for mount in rest)]


def unmount(target: Path) -> bool:
    """Detach a mount (lazily, as a busy one may still be in use); False if none was there."""
    if _libc.umount2(os.fsencode(target), MNT_DETACH):
        err = ctypes.get_errno()
        if err in (errno.EINVAL, errno.ENOENT):
            return False
        raise OSError(err, f"umount {target}: {os.strerror(err)}")
    return True


def mounted_under(path: Path) -> list[str]:
    """The mount points at or below ``path`` in the agent's namespace (from
    /proc/self/mountinfo: a bind mount of a directory on the same file system has the same
    device as its parent)."""
    prefix = os.path.realpath(path)
    points = []
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            point = line.split(b" ")[4].decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return points


def real_dir(root: Path, inner: str) -> Path:
    """``root``/``inner``, its missing directories made, refusing any that is a link."""
    path = root
    for part in inner.strip("/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise RootfsError(f"{inner!r} leads out of the image's root")
        path = path / part
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path, 0o755)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise RootfsError(f"the image's {inner} is not a directory (a link?)")
    return path


def make_mount_points(root: Path, working_dir: str) -> None:
    """Make the directories a task's mounts (and its WorkingDir) go on, and its /dev, in an
    image's root as it is unpacked. Raises RootfsError when the image has a link there."""
    for inner in (*MOUNT_POINTS, working_dir):
        real_dir(root, inner)
    os.chmod(root / "tmp", 0o1777)
    make_dev(root / "dev")


def make_dev(dev: Path) -> None:
    """A small /dev (what the image had there is replaced): null, zero, full, random,
    urandom, tty, shm/, pts/ and the fd links. Needs root (mknod)."""
    for entry in dev.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    os.chmod(dev, 0o755)
    for name, (major, minor) in _DEVICES.items():
        os.mknod(dev / name, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(dev / name, 0o666)
    for name in ("shm", "pts"):
        (dev / name).mkdir()
    os.chmod(dev / "shm", 0o1777)
    links = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0"}
    links |= {"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}
    for name, target in links.items():
        os.symlink(target, dev / name)


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
        self.overlay = backend != "copy" and self._overlay_works()
        if backend == "overlay" and not self.overlay:
            raise OSError("overlayfs cannot be mounted here (--image-rootfs-backend overlay)")

    def _overlay_works(self) -> bool:
        """Whether overlayfs mounts here: tried once, in a namespace of its own."""
        probe = self.containers / ".overlay-probe"
        shutil.rmtree(probe, ignore_errors=True)
        try:
            for part in ("lower", "upper", "work", "root"):
                (probe / part).mkdir(parents=True)
            data = f"lowerdir={probe / 'lower'},upperdir={probe / 'upper'},workdir={probe / 'work'}"
            tried = subprocess.run(
                ["unshare", "--mount", "--", MOUNT, "-t", "overlay", "overlay", "-o", data,
                 str(probe / "root")],
                capture_output=True, timeout=30, check=False,
            )  # fmt: skip
            return tried.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False
        finally:
            shutil.rmtree(probe, ignore_errors=True)

    def path(self, container_id: str) -> Path:
        return self.containers / container_id

    def prepare(self, container_id: str, image_rootfs: Path, sandbox: Path) -> Root:
        """The task's root and the mounts that complete it. Raises RootfsError."""
        container = self.path(container_id)
        root = container / "root"
        try:
            if self.overlay:
                make = [container / part for part in ("upper", "work", "root")]
                layers = (
                    f"lowerdir={image_rootfs},upperdir={container / 'upper'},"
                    f"workdir={container / 'work'}"
                )
                mounts: list[Mount] = [Mount.overlay(layers, str(root))]
            else:
                container.mkdir(parents=True, exist_ok=True)
                if not root.exists():
                    copy = subprocess.run(
                        ["cp", "-a", "--reflink=auto", f"{image_rootfs}/.", str(root)],
                        capture_output=True,
                        check=False,
                    )
                    if copy.returncode != 0:
                        error = copy.stderr.decode(errors="replace")[-300:]
                        raise RootfsError(f"cannot copy the image's root: {error}")
                    os.chmod(root, 0o755)
                mounts = []
                make = []
        except OSError as exc:
            self.cleanup(container_id)
            raise RootfsError(f"cannot make the task's root file system: {exc}") from exc
        except RootfsError:
            self.cleanup(container_id)
            raise
        mounts.append(Mount.bind(str(sandbox), f"{root}{SANDBOX_PATH}"))
        writable = container / "upper" if self.overlay else root
        return Root(root, mounts, writable, container, make)

    def cleanup(self, container_id: str) -> None:
        """Remove a task's root (nothing happens for a task without one). Anything still
        mounted under it in the agent's namespace is unmounted first, and nothing is
        removed while a mount remains: the sandbox may be bind-mounted in."""
        container = self.path(container_id)
        if not container.exists():
            return
        for point in sorted(mounted_under(container), key=len, reverse=True):
            with contextlib.suppress(OSError):
                while unmount(Path(point)):
                    pass
        if not mounted_under(container):
            shutil.rmtree(container, ignore_errors=True)


_UNSAFE_IN_TABLE = re.compile(r"[\s\\]")
