"""Each task's root: overlayfs or a copy of the cached image root, the sandbox and /dev
mounted in, writes kept from the cache, everything unmounted and removed at the end."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mesospy.agent.containers.rootfs import RootfsError, RootfsProvisioner, mounted_under
from mesospy.agent.containers.store import ImageStore
from mesospy.agent.fetcher import Cancellation
from mesospy.testing.registry import RegistryImages, busybox_image, layer


@pytest.fixture
def image_root(images: RegistryImages, tmp_path: Path) -> Path:
    store = ImageStore(tmp_path / "images")
    return store.get(images.name(), Cancellation()).rootfs


@pytest.mark.parametrize("backend", ["overlay", "copy"])
def test_a_task_root_has_the_image_the_sandbox_and_dev_and_goes_away(
    image_root: Path, tmp_path: Path, backend: str
) -> None:
    provisioner = RootfsProvisioner(tmp_path / "containers", backend)
    assert provisioner.overlay == (backend == "overlay")
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / "input").write_text("from the sandbox")
    root = provisioner.prepare("c1", image_root, sandbox)
    assert (root / "etc/os-release").read_text().startswith("ID=mesospy-test")
    assert (root / "mnt/mesos/sandbox/input").read_text() == "from the sandbox"
    assert str(root / "dev") in mounted_under(root) and (root / "dev/null").is_char_device()
    # What the task writes stays in its own root, not in the cached image.
    (root / "srv/app/hello.txt").write_text("changed by the task")
    (root / "mnt/mesos/sandbox/output").write_text("kept")
    assert (image_root / "srv/app/hello.txt").read_text() == "hello from the image\n"
    # A command in it (as the launch runs it) sees the sandbox and /dev/null.
    run = subprocess.run(
        ["unshare", "--mount", "--pid", "--fork", f"--root={root}", "--mount-proc", "--",
         "/bin/sh", "-c", "cat /mnt/mesos/sandbox/input > /dev/null && echo $$"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.stdout == "1\n", run.stderr
    provisioner.cleanup("c1")
    assert not provisioner.path("c1").exists()
    assert (sandbox / "output").read_text() == "kept"  # the sandbox itself is untouched
    assert (sandbox / "input").exists()


def test_an_image_whose_mount_point_is_a_link_is_refused(
    images: RegistryImages, tmp_path: Path
) -> None:
    image = busybox_image(os_id="mnt-link", extra_layers=[layer({}, symlinks={"mnt": "/etc"})])
    images.registry.push("test/mnt-link", "1", image)
    root = ImageStore(tmp_path / "images").get(images.name("test/mnt-link"), Cancellation()).rootfs
    provisioner = RootfsProvisioner(tmp_path / "containers", "copy")
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    with pytest.raises(RootfsError, match="/mnt/mesos/sandbox is not a directory"):
        provisioner.prepare("c2", root, sandbox)
    assert not Path("/etc/mesos").exists()
    assert not provisioner.path("c2").exists()


def test_an_unknown_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'zfs' is not one of auto, overlay, copy"):
        RootfsProvisioner(tmp_path, "zfs")
