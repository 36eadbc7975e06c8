"""Unpacking fetched archives (tar, compressed tar, zip) into a sandbox, safely.

Every entry is checked before anything of it is written: a name that is absolute or holds
``..``, a symlink whose target leaves the destination, a hard link to anything but an
entry already unpacked, or a device or fifo is refused, and so is an archive whose entries
add up to more than ``max_size`` bytes (an archive bomb: the sizes are read from the
entries' headers as the archive is walked, before their data is decompressed). tarfile's
own ``data`` filter runs too, as a second line. Blocking: call from a worker thread.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

MAX_ENTRIES = 100_000
_COPY_CHUNK = 1 << 20


class ArchiveError(Exception):
    """The archive is unreadable, too large, or holds an entry that would escape."""


def extract(archive: Path, kind: str, dest: Path, max_size: int,
            cancelled: Callable[[], bool] = lambda: False) -> int:  # fmt: skip
    """Unpack ``archive`` (``"tar"`` or ``"zip"``) into ``dest``; the bytes written."""
    try:
        if kind == "zip":
            return _extract_zip(archive, dest, max_size, cancelled)
        return _extract_tar(archive, dest, max_size, cancelled)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, ArchiveError):
            raise
        raise ArchiveError(f"bad archive: {exc}") from exc


def entry_problem(name: str) -> str | None:
    """Why an entry's name may not be unpacked (absolute, ``..``, empty), or None."""
    if not name or "\0" in name:
        return f"entry {name!r} has no usable name"
    if name.startswith("/") or posixpath.isabs(name) or (len(name) > 1 and name[1] == ":"):
        return f"entry {name!r} has an absolute path"
    if ".." in name.replace("\\", "/").split("/"):
        return f"entry {name!r} leads out of the destination ('..')"
    return None


def link_problem(name: str, target: str) -> str | None:
    """Why a symlink ``name -> target`` would lead out of the destination, or None."""
    if not target or target.startswith("/"):
        return f"symlink {name!r} -> {target!r} points outside the destination"
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if joined == ".." or joined.startswith("../"):
        return f"symlink {name!r} -> {target!r} points outside the destination"
    return None


def _replace(path: Path) -> None:
    """Unlink a file an entry is about to take the place of: writing into it instead would
    write through a hard link (a file from the fetcher cache, shared by other sandboxes)."""
    if os.path.lexists(path) and not (path.is_dir() and not path.is_symlink()):
        path.unlink()


def _inside(dest: Path, path: str) -> bool:
    root = os.path.realpath(dest)
    real = os.path.realpath(os.path.join(root, path))
    return os.path.commonpath([root, real]) == root


def _tar_members(
    tar: tarfile.TarFile, dest: Path, max_size: int, cancelled: Callable[[], bool]
) -> Iterator[tarfile.TarInfo]:
    """The archive's entries, each checked before it is unpacked."""
    total = 0
    files: set[str] = set()
    for count, member in enumerate(tar, 1):
        if cancelled():
            raise ArchiveError("cancelled")
        if count > MAX_ENTRIES:
            raise ArchiveError(f"more than {MAX_ENTRIES} entries")
        name = member.name
        problem = entry_problem(name)
        if problem is None and member.issym():
            problem = link_problem(name, member.linkname)
        elif problem is None and member.islnk():
            target = posixpath.normpath(member.linkname)
            if entry_problem(member.linkname) or target not in files:
                problem = (
                    f"hard link {name!r} -> {member.linkname!r} does not name a file "
                    "unpacked before it"
                )
        elif problem is None and not (member.isfile() or member.isdir()):
            problem = f"entry {name!r} is a device or fifo"
        if problem is None and not _inside(dest, posixpath.dirname(name) or "."):
            problem = f"entry {name!r} would be written through a link out of the destination"
        if problem is not None:
            raise ArchiveError(problem)
        total += member.size
        if total > max_size:
            raise ArchiveError(f"unpacks to more than {max_size} bytes (--fetcher-max-size)")
        if member.isfile() or member.islnk():
            files.add(posixpath.normpath(name))
        yield member


def _extract_tar(archive: Path, dest: Path, max_size: int, cancelled: Callable[[], bool]) -> int:
    written = 0
    with tarfile.open(archive, "r:*") as tar:
        for member in _tar_members(tar, dest, max_size, cancelled):
            # Owners are not restored (as an unprivileged tar does); files' modes are, minus
            # the set-id bits (the data filter drops them). Directories keep the default
            # mode: a read-only one would stop its own entries from being written.
            if not member.isdir():
                _replace(dest / member.name)
            tar.extract(member, dest, set_attrs=member.isfile(), filter="data")
            written += member.size
    return written


def _zip_is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _extract_zip(archive: Path, dest: Path, max_size: int, cancelled: Callable[[], bool]) -> int:
    written = 0
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise ArchiveError(f"more than {MAX_ENTRIES} entries")
        declared = 0
        for info in infos:
            if problem := entry_problem(info.filename):
                raise ArchiveError(problem)
            declared += info.file_size
        if declared > max_size:
            raise ArchiveError(f"unpacks to more than {max_size} bytes (--fetcher-max-size)")
        for info in infos:
            if cancelled():
                raise ArchiveError("cancelled")
            name = info.filename
            if not _inside(dest, posixpath.dirname(name.rstrip("/")) or "."):
                raise ArchiveError(f"entry {name!r} would be written through a link out")
            target = dest / name
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            _replace(target)
            if _zip_is_symlink(info):
                link = zf.read(info).decode("utf-8", "surrogateescape")
                if problem := link_problem(name, link):
                    raise ArchiveError(problem)
                os.symlink(link, target)
                continue
            with zf.open(info) as src, open(target, "wb") as out:
                # The declared sizes bound zipfile's output; count what is written anyway.
                while chunk := src.read(_COPY_CHUNK):
                    written += len(chunk)
                    if written > max_size:
                        raise ArchiveError(
                            f"unpacks to more than {max_size} bytes (--fetcher-max-size)"
                        )
                    out.write(chunk)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(target, mode)
    return written
