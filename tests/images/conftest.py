"""A real registry (Debian's docker-registry) on loopback for the image tests, a counting
proxy in front of it, and images built from busybox-static pushed to it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from mesospy.testing.registry import Registry, RegistryProxy, TestImage, busybox_image


@dataclass
class Images:
    registry: Registry
    image: TestImage  # test/busybox:1, also :latest

    def name(self, repository: str = "test/busybox", tag: str = "1") -> str:
        return f"{self.registry.host}/{repository}:{tag}"


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Images]:
    with Registry(tmp_path_factory.mktemp("registry")) as registry:
        image = busybox_image()
        registry.push("test/busybox", "1", image)
        registry.push("test/busybox", "latest", image)
        yield Images(registry, image)


@pytest.fixture
def proxy(images: Images) -> Iterator[RegistryProxy]:
    with RegistryProxy(images.registry.host) as p:
        yield p
