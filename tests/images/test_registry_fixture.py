"""The registry fixture itself: images pushed with the HTTP API v2 come back as pushed."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import urllib.request

from mesospy.testing.registry import MANIFEST, OCI_INDEX, RegistryImages, busybox_image, digest_of


def _get(url: str, accept: str = "") -> tuple[bytes, dict[str, str]]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with opener.open(request, timeout=10) as answer:
        return answer.read(), dict(answer.headers)


def test_pushed_manifest_and_blobs_are_served(images: RegistryImages) -> None:
    body, headers = _get(f"{images.registry.url}/v2/test/busybox/manifests/1", MANIFEST)
    assert body == images.image.manifest
    assert headers["Docker-Content-Digest"] == images.image.digest
    manifest = json.loads(body)
    layer_digest = manifest["layers"][0]["digest"]
    blob, _ = _get(f"{images.registry.url}/v2/test/busybox/blobs/{layer_digest}")
    assert digest_of(blob) == layer_digest
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        names = tar.getnames()
        release = tar.extractfile("etc/os-release")
        assert release is not None and b"ID=mesospy-test" in release.read()
    assert "bin/busybox" in names and "bin/sh" in names
    config_url = f"{images.registry.url}/v2/test/busybox/blobs/{manifest['config']['digest']}"
    config = json.loads(_get(config_url)[0])
    assert config["config"]["WorkingDir"] == "/srv/app"


def test_an_index_lists_each_platform(images: RegistryImages) -> None:
    arm = busybox_image(os_id="arm-image", architecture="arm64")
    digest = images.registry.push_index(
        "test/multi", "fixture", {"linux/amd64": images.image, "linux/arm64": arm}
    )
    body, headers = _get(f"{images.registry.url}/v2/test/multi/manifests/fixture", OCI_INDEX)
    assert headers["Docker-Content-Digest"] == digest
    platforms = [m["platform"]["architecture"] for m in json.loads(body)["manifests"]]
    assert platforms == ["amd64", "arm64"]
