"""Pulling images from a real registry into the agent's image store: manifests, indexes,
digests, the shared blob store, one download at a time, mirrors, and safe layers."""

from __future__ import annotations

import json
import tarfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mesospy.agent.containers.store import ImageError, ImageStore
from mesospy.agent.fetcher import Cancellation
from mesospy.cluster import free_port
from mesospy.testing.registry import (
    OCI_MANIFEST,
    Registry,
    RegistryImages,
    RegistryProxy,
    TokenServer,
    busybox_image,
    layer,
    write_docker_archive,
    write_oci_layout,
)


def _store(tmp_path: Path, **kwargs: object) -> ImageStore:
    return ImageStore(tmp_path / "images", **kwargs)  # type: ignore[arg-type]


def test_an_image_is_pulled_unpacked_and_its_config_read(
    images: RegistryImages, tmp_path: Path
) -> None:
    store = _store(tmp_path)
    image = store.get(images.name(), Cancellation())
    assert (image.rootfs / "etc/os-release").read_text().startswith("ID=mesospy-test")
    assert (image.rootfs / "bin/sh").readlink() == Path("busybox")
    assert (image.rootfs / "bin/busybox").stat().st_mode & 0o111
    assert image.config["WorkingDir"] == "/srv/app"
    assert "IMAGE_VAR=from-image" in image.config["Env"]
    assert image.digest == images.image.config_digest
    # Blobs are kept by digest: the layer and the config.
    assert len(list(store.blobs.iterdir())) == 2 and store.downloads == 2
    pinned = f"{images.registry.host}/test/busybox@{images.image.digest}"
    by_digest = store.get(pinned, Cancellation())
    assert by_digest.rootfs == image.rootfs and store.downloads == 2


def test_the_hosts_platform_is_picked_from_an_index_or_a_manifest_list(
    images: RegistryImages, tmp_path: Path
) -> None:
    arm = busybox_image(os_id="arm-image", architecture="arm64")
    amd = busybox_image(os_id="amd-image", media_type=OCI_MANIFEST)
    registry = images.registry
    registry.push_index("test/oci", "1", {"linux/arm64": arm, "linux/amd64": amd})
    listed_images = {"linux/arm64": arm, "linux/amd64": images.image}
    registry.push_index("test/list", "1", listed_images, oci=False)
    registry.push_index("test/armonly", "1", {"linux/arm64": arm})
    store = _store(tmp_path)
    oci = store.get(images.name("test/oci"), Cancellation())
    assert "ID=amd-image" in (oci.rootfs / "etc/os-release").read_text()
    listed = store.get(images.name("test/list"), Cancellation())
    assert "ID=mesospy-test" in (listed.rootfs / "etc/os-release").read_text()
    with pytest.raises(ImageError, match=r"no linux/amd64 image .* \(it has linux/arm64\)"):
        store.get(images.name("test/armonly"), Cancellation())


def test_layers_are_shared_and_two_pulls_at_once_download_once(
    images: RegistryImages, proxy: RegistryProxy, tmp_path: Path
) -> None:
    store = _store(tmp_path)
    proxy.hold_blobs()
    results: list[object] = []

    def pull() -> None:
        try:
            results.append(store.get(f"{proxy.host}/test/busybox:1", Cancellation()))
        except ImageError as exc:
            results.append(exc)

    threads = [threading.Thread(target=pull) for _ in range(2)]
    for thread in threads:
        thread.start()
    proxy.wait_for(lambda p: p.blob_requests() >= 1)
    proxy.release()
    for thread in threads:
        thread.join(30)
    assert len(results) == 2 and results[0] == results[1]
    assert proxy.blob_requests() == 2  # the layer and the config, once each
    assert proxy.requests["GET /v2/test/busybox/manifests/1"] == 1
    # Another image on the same base layer downloads only what is new.
    extra = layer({"srv/app/extra.txt": "more"})
    derived = busybox_image(extra_layers=[extra])
    images.registry.push("test/derived", "1", derived)
    image = store.get(f"{proxy.host}/test/derived:1", Cancellation())
    assert (image.rootfs / "srv/app/extra.txt").read_text() == "more"
    assert proxy.blob_requests() == 2 + 2  # its config and its own layer
    # Cached: no request at all; a forced pull asks for the manifest again, no blobs.
    before = sum(proxy.requests.values())
    store.get(f"{proxy.host}/test/derived:1", Cancellation())
    assert sum(proxy.requests.values()) == before
    store.get(f"{proxy.host}/test/derived:1", Cancellation(), cached=False)
    assert proxy.requests["GET /v2/test/derived/manifests/1"] == 2
    assert proxy.blob_requests() == 4


def test_a_mirror_stands_for_the_default_registry(images: RegistryImages, tmp_path: Path) -> None:
    store = _store(tmp_path, mirror=images.registry.url)
    image = store.get("test/busybox:1", Cancellation())
    assert (image.rootfs / "srv/app/hello.txt").exists()
    with pytest.raises(ImageError, match=r"'busybox'.*library/busybox.*not found"):
        store.get("busybox", Cancellation())


def test_unknown_images_and_a_registry_that_is_down_fail_with_the_cause(
    images: RegistryImages, tmp_path: Path
) -> None:
    store = _store(tmp_path)
    with pytest.raises(ImageError) as unknown:
        store.get(images.name("test/nothing"), Cancellation())
    assert images.name("test/nothing") in str(unknown.value)
    assert "not found (HTTP 404)" in str(unknown.value)
    down = f"127.0.0.1:{free_port()}/test/busybox:1"
    with pytest.raises(ImageError) as refused:
        store.get(down, Cancellation())
    assert down in str(refused.value) and "Connection refused" in str(refused.value)
    with pytest.raises(ImageError, match="bad tag"):
        store.get("test/busybox:bad tag", Cancellation())


def test_a_blob_that_does_not_match_its_digest_is_refused(
    images: RegistryImages, tmp_path: Path
) -> None:
    image = busybox_image(os_id="to-corrupt")
    images.registry.push("test/corrupt", "1", image)
    layer_digest = json.loads(image.manifest)["layers"][0]["digest"]
    hexdigest = layer_digest.removeprefix("sha256:")
    blobs = images.registry.work_dir / "data/docker/registry/v2/blobs/sha256"
    stored = blobs / hexdigest[:2] / hexdigest / "data"
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    store = _store(tmp_path)
    with pytest.raises(ImageError, match="does not match its digest"):
        store.get(images.name("test/corrupt"), Cancellation())
    assert [p.name for p in store.blobs.iterdir()] == [image.config_digest[7:]]  # only the good one


def _evil(kind: str) -> bytes:
    if kind == "dotdot":
        info = tarfile.TarInfo("srv/../../evil")
        info.size = 4
        return layer({}, raw=[info])
    if kind == "absolute":
        info = tarfile.TarInfo("/evil")
        info.size = 4
        return layer({}, raw=[info])
    if kind == "symlink":
        return layer({}, symlinks={"srv/out": "../../../../../../../tmp"})
    # A link to a directory outside, then a file written through it.
    link = tarfile.TarInfo("srv/up")
    link.type, link.linkname = tarfile.SYMTYPE, "/"
    into = tarfile.TarInfo("srv/up/evil-through-link")
    into.size = 4
    return layer({}, raw=[link, into])


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "through-link"])
def test_a_layer_that_would_escape_its_root_is_refused(
    images: RegistryImages, tmp_path: Path, kind: str
) -> None:
    image = busybox_image(os_id=f"evil-{kind}", extra_layers=[_evil(kind)])
    images.registry.push("test/evil", kind, image)
    store = _store(tmp_path)
    with pytest.raises(ImageError, match="cannot unpack image") as refused:
        store.get(images.name("test/evil", kind), Cancellation())
    assert not Path("/evil").exists() and not Path("/evil-through-link").exists()
    assert list(store.images.iterdir()) == []  # the half-made root is gone
    assert "entry" in str(refused.value) or "symlink" in str(refused.value)


def test_whiteouts_remove_files_and_empty_directories(
    images: RegistryImages, tmp_path: Path
) -> None:
    lower = layer({"opt": None, "opt/keep": None, "opt/keep/old.txt": "old", "opt/drop.txt": "x"})
    upper = layer(
        {
            "srv/app/.wh.hello.txt": "",
            "opt/keep/.wh..wh..opq": "",
            "opt/keep/new.txt": "new",
            "opt/.wh.drop.txt": "",
        }
    )
    image = busybox_image(os_id="whiteouts", extra_layers=[lower, upper])
    images.registry.push("test/whiteouts", "1", image)
    root = _store(tmp_path).get(images.name("test/whiteouts"), Cancellation()).rootfs
    assert not (root / "srv/app/hello.txt").exists()
    assert not (root / "opt/drop.txt").exists()
    assert sorted(p.name for p in (root / "opt/keep").iterdir()) == ["new.txt"]
    assert not list(root.rglob(".wh.*"))
    assert (root / "srv/app").is_dir()


def test_a_registry_with_token_auth_is_pulled_from_with_a_bearer_token(
    tmp_path: Path,
) -> None:
    with TokenServer() as tokens, Registry(tmp_path / "registry", tokens=tokens) as registry:
        registry.push("private/busybox", "1", busybox_image(os_id="behind-tokens"))
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with pytest.raises(urllib.error.HTTPError) as anonymous:
            opener.open(f"{registry.url}/v2/private/busybox/manifests/1", timeout=10)
        assert anonymous.value.code == 401
        assert "Bearer realm=" in anonymous.value.headers["WWW-Authenticate"]
        issued = tokens.issued
        image = _store(tmp_path).get(f"{registry.host}/private/busybox:1", Cancellation())
        assert "ID=behind-tokens" in (image.rootfs / "etc/os-release").read_text()
        assert tokens.issued == issued + 1  # one token, used for the manifest and blobs


def test_file_images_from_an_oci_layout_or_a_docker_save_archive(tmp_path: Path) -> None:
    amd = busybox_image(os_id="oci-amd64", media_type=OCI_MANIFEST)
    arm = busybox_image(os_id="oci-arm64", architecture="arm64", media_type=OCI_MANIFEST)
    layout = write_oci_layout({"linux/arm64": arm, "linux/amd64": amd}, tmp_path / "layout")
    archive = write_docker_archive(busybox_image(os_id="saved"), tmp_path / "saved.tar")
    store = _store(tmp_path)
    from_layout = store.get(f"file://{layout}", Cancellation())
    assert "ID=oci-amd64" in (from_layout.rootfs / "etc/os-release").read_text()
    from_archive = store.get(f"file://{archive}", Cancellation())
    assert "ID=saved" in (from_archive.rootfs / "etc/os-release").read_text()
    assert from_archive.config["WorkingDir"] == "/srv/app"
    assert store.known(f"file://{archive}") and store.downloads == 0
    # A tampered blob in a layout is refused, as from a registry.
    (layer_digest,) = [d["digest"] for d in json.loads(amd.manifest)["layers"]]
    blob = layout / "blobs/sha256" / layer_digest.removeprefix("sha256:")
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(ImageError, match="does not match its digest"):
        _store(tmp_path / "other").get(f"file://{layout}", Cancellation())
    with pytest.raises(ImageError, match="neither a directory nor a readable tar"):
        store.get(f"file://{tmp_path / 'missing.tar'}", Cancellation())
