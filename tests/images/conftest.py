"""A real registry (Debian's docker-registry) on loopback for the image tests, a counting
proxy in front of it, and images built from busybox-static pushed to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mesospy.testing.registry import Registry, RegistryImages, RegistryProxy, busybox_image


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryImages]:
    with Registry(tmp_path_factory.mktemp("registry")) as registry:
        image = busybox_image()
        registry.push("test/busybox", "1", image)
        registry.push("test/busybox", "latest", image)
        yield RegistryImages(registry, image)


@pytest.fixture
def proxy(images: RegistryImages) -> Iterator[RegistryProxy]:
    with RegistryProxy(images.registry.host) as p:
        yield p
