"""Unpacking image layers onto a root file system, safely, with whiteouts.

Layers are applied in order onto one directory. Each entry is checked before anything of
it is written: an absolute name or one holding ``..`` is refused, nothing is ever written
through a symlink (every parent of an entry must be a real directory inside the root), a
relative symlink may not point above the root, and a hard link must name a regular file
already in the root. Absolute symlinks are kept as they are: they resolve inside the task's
root when it runs, and the agent never follows a link inside an image.

Whiteouts (the OCI/Docker layer format): ``.wh.NAME`` removes ``NAME`` of the layers below,
``.wh..wh..opq`` empties its directory of what the layers below put there. Devices and
fifos are skipped. Owners are restored when the agent is root. Blocking: a worker thread.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

from mesospy.agent.archives import entry_problem, link_problem

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
MAX_ENTRIES = 500_000
_CHUNK = 1 << 20


class LayerError(Exception):
    """A layer is unreadable, too large, or holds an entry that would escape its root."""


def apply_layer(
    layer: Path, root: Path, max_size: int, cancelled: Callable[[], bool] = lambda: False
) -> int:
    """Unpack ``layer`` (a tar, plain or compressed) onto ``root``; the bytes written."""
    try:
        with tarfile.open(layer, "r:*") as tar:
            return _apply(tar, root, max_size, cancelled)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise LayerError(f"bad layer: {exc}") from exc


def _remove(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _parent(root: str, name: str, made: set[str]) -> str:
    """The real directory ``name``'s entry goes into, made as needed; never through a link."""
    parts = posixpath.dirname(name).split("/") if posixpath.dirname(name) else []
    path = root
    for part in parts:
        path = os.path.join(path, part)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path, 0o755)
            made.add(path)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise LayerError(f"entry {name!r} would be written through {part!r}, not a directory")
    return path


def _apply(
    tar: tarfile.TarFile, root_path: Path, max_size: int, cancelled: Callable[[], bool]
) -> int:
    root = str(root_path)
    as_root = os.geteuid() == 0
    total = 0
    ours: set[str] = set()  # paths this layer wrote (an opaque marker keeps them)
    made: set[str] = set()
    dir_modes: list[tuple[str, int]] = []
    for count, member in enumerate(tar, 1):
        if cancelled():
            raise LayerError("cancelled")
        if count > MAX_ENTRIES:
            raise LayerError(f"more than {MAX_ENTRIES} entries")
        name = posixpath.normpath(member.name.removeprefix("./")) if member.name else ""
        if name in (".", "") and member.isdir():
            continue
        if member.name.startswith("/"):
            raise LayerError(f"entry {member.name!r} has an absolute path")
        if problem := entry_problem(member.name.removeprefix("./")):
            raise LayerError(problem)
        parent = _parent(root, name, made)
        base = posixpath.basename(name)
        target = os.path.join(parent, base)
        if base == OPAQUE:
            for child in os.listdir(parent):
                path = os.path.join(parent, child)
                if path not in ours:
                    _remove(path)
            continue
        if base.startswith(WHITEOUT):
            hidden = base[len(WHITEOUT) :]
            if hidden in ("", ".", "..") or "/" in hidden:
                raise LayerError(f"whiteout {member.name!r} names nothing removable")
            _remove(os.path.join(parent, hidden))
            continue
        if member.isdir():
            try:
                st = os.lstat(target)
                if not stat.S_ISDIR(st.st_mode):
                    os.unlink(target)
                    os.mkdir(target, 0o755)
            except FileNotFoundError:
                os.mkdir(target, 0o755)
            dir_modes.append((target, member.mode & 0o7777))
        elif member.issym():
            if not member.linkname.startswith("/") and (
                problem := link_problem(name, member.linkname)
            ):
                raise LayerError(problem + " (above the image's root)")
            _remove(target)
            os.symlink(member.linkname, target)
        elif member.islnk():
            source_name = posixpath.normpath(member.linkname.removeprefix("./"))
            if member.linkname.startswith("/") or entry_problem(source_name):
                raise LayerError(
                    f"hard link {member.name!r} -> {member.linkname!r} leaves the root"
                )
            source = os.path.join(_parent(root, source_name, made), posixpath.basename(source_name))
            try:
                st = os.lstat(source)
            except FileNotFoundError:
                raise LayerError(
                    f"hard link {member.name!r} -> {member.linkname!r} names no file in the image"
                ) from None
            if not stat.S_ISREG(st.st_mode):
                raise LayerError(f"hard link {member.name!r} -> {member.linkname!r} is not a file")
            _remove(target)
            os.link(source, target, follow_symlinks=False)
        elif member.isfile():
            total += member.size
            if total > max_size:
                raise LayerError(f"the image unpacks to more than {max_size} bytes")
            _remove(target)
            src = tar.extractfile(member)
            assert src is not None
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                while chunk := src.read(_CHUNK):
                    out.write(chunk)
            os.chmod(target, member.mode & 0o7777)
            os.utime(target, (member.mtime, member.mtime))
        else:
            continue  # devices and fifos: not in a task's root
        ours.add(target)
        if as_root:
            os.lchown(target, member.uid, member.gid)
    for path, mode in reversed(dir_modes):
        os.chmod(path, mode)
    return total
