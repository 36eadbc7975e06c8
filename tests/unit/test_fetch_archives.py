"""Unpacking fetched archives: what is written, and what is refused (nothing outside)."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from mesospy.agent.archives import ArchiveError, entry_problem, extract, link_problem

MB = 1 << 20


def _tar(path: Path, entries: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                name, data = entry
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o755
                tar.addfile(info, io.BytesIO(data))
    return path


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_of_each_compression_is_unpacked(tmp_path: Path, mode: str) -> None:
    archive = _tar(tmp_path / "a.tar", [("bin/run.sh", b"echo hi\n"), ("README", b"x")], mode)
    dest = tmp_path / "dest"
    dest.mkdir()
    assert extract(archive, "tar", dest, MB) == len(b"echo hi\n") + 1
    assert (dest / "bin/run.sh").read_bytes() == b"echo hi\n"
    assert os.access(dest / "bin/run.sh", os.X_OK)


def test_links_inside_the_archive_are_kept(tmp_path: Path) -> None:
    archive = _tar(
        tmp_path / "a.tar",
        [
            ("data/file", b"content"),
            _link("data/alias", "file", tarfile.SYMTYPE),
            _link("data/hard", "data/file", tarfile.LNKTYPE),
        ],
    )
    dest = tmp_path / "dest"
    dest.mkdir()
    extract(archive, "tar", dest, MB)
    assert os.readlink(dest / "data/alias") == "file"
    assert (dest / "data/hard").read_bytes() == b"content"


@pytest.mark.parametrize(
    ("entries", "needle"),
    [
        ([("../evil", b"x")], "'..'"),
        ([("ok/../../evil", b"x")], "'..'"),
        ([("/tmp/evil-abs", b"x")], "absolute"),
        ([_link("escape", "../../evil", tarfile.SYMTYPE)], "points outside"),
        ([_link("escape", "/etc", tarfile.SYMTYPE)], "points outside"),
        ([_link("hard", "/etc/passwd", tarfile.LNKTYPE)], "hard link"),
        ([_link("hard", "../evil", tarfile.LNKTYPE)], "hard link"),
    ],
)
def test_escaping_tar_entries_are_refused(
    tmp_path: Path, entries: list[tarfile.TarInfo | tuple[str, bytes]], needle: str
) -> None:
    archive = _tar(tmp_path / "a.tar", entries)
    dest = tmp_path / "box" / "dest"
    dest.mkdir(parents=True)
    with pytest.raises(ArchiveError, match=needle):
        extract(archive, "tar", dest, MB)
    assert not (tmp_path / "box" / "evil").exists()
    assert not (tmp_path / "evil").exists()
    assert os.listdir(dest) == []


def test_a_link_then_a_file_through_it_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    # A symlink already in the destination (an earlier artifact) that leads out.
    os.symlink(outside, dest / "door")
    archive = _tar(tmp_path / "a.tar", [("door/evil", b"x")])
    with pytest.raises(ArchiveError, match="through a link"):
        extract(archive, "tar", dest, MB)
    assert not (outside / "evil").exists()


def test_a_tar_bomb_is_refused_before_its_data_is_unpacked(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("zeros")
        info.size = 64 * MB
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    assert archive.stat().st_size < MB  # it compresses to almost nothing
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(ArchiveError, match="more than 1048576 bytes"):
        extract(archive, "tar", dest, MB)
    assert not (dest / "zeros").exists()


def test_zip_is_unpacked_with_modes(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("bin/tool")
        info.external_attr = 0o100755 << 16
        zf.writestr(info, b"#!/bin/sh\necho tool\n")
        zf.writestr("notes.txt", b"notes")
    dest = tmp_path / "dest"
    dest.mkdir()
    extract(archive, "zip", dest, MB)
    assert (dest / "notes.txt").read_bytes() == b"notes"
    assert os.access(dest / "bin/tool", os.X_OK)


@pytest.mark.parametrize("name", ["../evil", "/tmp/evil-zip-abs", "a/../../evil"])
def test_escaping_zip_entries_are_refused(tmp_path: Path, name: str) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(name, b"x")
    dest = tmp_path / "box" / "dest"
    dest.mkdir(parents=True)
    with pytest.raises(ArchiveError):
        extract(archive, "zip", dest, MB)
    assert not (tmp_path / "box" / "evil").exists()
    assert not Path("/tmp/evil-zip-abs").exists()


def test_zip_symlink_out_is_refused_and_bomb_stopped(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("escape")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "../../etc")
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(ArchiveError, match="points outside"):
        extract(archive, "zip", dest, MB)
    assert not (dest / "escape").is_symlink()
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros", bytes(8 * MB))
    with pytest.raises(ArchiveError, match="more than"):
        extract(bomb, "zip", dest, MB)


def test_a_corrupt_archive_is_a_bad_archive(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive at all" * 10)
    with pytest.raises(ArchiveError, match="bad archive"):
        extract(junk, "tar", tmp_path, MB)
    with pytest.raises(ArchiveError, match="bad archive"):
        extract(junk, "zip", tmp_path, MB)


def test_name_and_link_rules() -> None:
    assert entry_problem("a/b/c") is None
    assert entry_problem("a/..b") is None
    assert "absolute" in (entry_problem("/x") or "")
    assert "'..'" in (entry_problem("a/../../x") or "")
    assert link_problem("a/b", "../c") is None  # a/c: still inside
    assert link_problem("a/b", "../../c") is not None
    assert link_problem("a", "/abs") is not None


def test_an_entry_over_an_existing_hard_link_replaces_it_not_writes_through(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "cached"  # a file of the fetcher cache, linked into the sandbox
    shared.write_bytes(b"shared")
    dest = tmp_path / "dest"
    dest.mkdir()
    os.link(shared, dest / "lib.so")
    os.link(shared, dest / "other.so")
    _tar(tmp_path / "a.tar", [("lib.so", b"mine")])
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("other.so", b"mine too")
    extract(tmp_path / "a.tar", "tar", dest, MB)
    extract(tmp_path / "a.zip", "zip", dest, MB)
    assert (dest / "lib.so").read_bytes() == b"mine"
    assert (dest / "other.so").read_bytes() == b"mine too"
    assert shared.read_bytes() == b"shared"
