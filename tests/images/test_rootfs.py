"""Each task's root: overlayfs or a copy of the cached image root, with the sandbox and
/dev mounted in by the task's own namespace; writes kept from the cache; nothing mounted in
the agent's namespace; everything removed at the end."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mesospy.agent.containers.launch import ImageUser, namespaced
from mesospy.agent.containers.rootfs import RootfsProvisioner, mounted_under
from mesospy.agent.containers.store import ImageError, ImageStore
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
    script = (
        "cat /mnt/mesos/sandbox/input; echo; head -1 /etc/os-release; echo $$; "
        "echo changed > /srv/app/hello.txt; echo kept > /mnt/mesos/sandbox/output; "
        "test -c /dev/null && echo devices"
    )
    argv = namespaced("unshare", root, "/srv/app", ImageUser(0, 0, "/"), ["/bin/sh", "-c", script])
    run = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    assert run.stdout == "from the sandbox\nID=mesospy-test\n1\ndevices\n", run.stderr
    # Nothing of it is mounted in the agent's namespace; the task's writes stay its own.
    assert mounted_under(tmp_path) == []
    assert (image_root / "srv/app/hello.txt").read_text() == "hello from the image\n"
    assert (sandbox / "output").read_text() == "kept\n"
    provisioner.cleanup("c1")
    assert not provisioner.path("c1").exists()
    assert (sandbox / "input").exists()  # the sandbox itself is untouched


def test_an_image_whose_mount_point_is_a_link_is_refused(
    images: RegistryImages, tmp_path: Path
) -> None:
    image = busybox_image(os_id="mnt-link", extra_layers=[layer({}, symlinks={"mnt": "/etc"})])
    images.registry.push("test/mnt-link", "1", image)
    store = ImageStore(tmp_path / "images")
    with pytest.raises(ImageError, match="/mnt/mesos/sandbox is not a directory"):
        store.get(images.name("test/mnt-link"), Cancellation())
    assert not Path("/etc/mesos").exists()
    assert list(store.images.iterdir()) == []


def test_an_unknown_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'zfs' is not one of auto, overlay, copy"):
        RootfsProvisioner(tmp_path, "zfs")
