"""Sandbox paths: ids become one safe directory name; reads stay inside the sandbox."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mesospy.agent.sandbox import (
    SandboxPathError,
    check_id,
    escape_id,
    resolve_in_sandbox,
    sandbox_dir,
)


@pytest.mark.parametrize(
    ("task_id", "directory"),
    [
        ("web.1", "web.1"),
        ("a/b", "a%2Fb"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("../../x", "..%2F..%2Fx"),
        ("spaces here", "spaces%20here"),
        ("é", "%C3%A9"),
    ],
)
def test_escape_id(task_id: str, directory: str) -> None:
    assert escape_id(task_id) == directory


def test_sandbox_dir_stays_under_work_dir(tmp_path: Path) -> None:
    path = sandbox_dir(tmp_path, "../fw", "../../t")
    assert path.parent.parent.parent.parent == tmp_path
    assert os.path.realpath(path).startswith(str(tmp_path))


@pytest.mark.parametrize("bad", ["", "x" * 201, "a\nb", "a\x00b"])
def test_check_id_refuses_unusable_ids(bad: str) -> None:
    with pytest.raises(SandboxPathError):
        check_id("task_id", bad)


def test_resolve_in_sandbox(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox"
    (sandbox / "sub").mkdir(parents=True)
    (sandbox / "stdout").write_text("x")
    (tmp_path / "secret").write_text("s")
    os.symlink(tmp_path / "secret", sandbox / "link-out")
    os.symlink("stdout", sandbox / "link-in")
    assert resolve_in_sandbox(sandbox, "stdout") == sandbox / "stdout"
    assert resolve_in_sandbox(sandbox, "sub/../stdout") == sandbox / "stdout"
    assert resolve_in_sandbox(sandbox, "link-in") == sandbox / "stdout"
    for bad in ("../secret", "link-out", "sub/../../secret", "/etc/passwd", "", "a\x00"):
        with pytest.raises(SandboxPathError):
            resolve_in_sandbox(sandbox, bad)
