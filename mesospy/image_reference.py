"""Image references: ``busybox``, ``library/busybox:1.36``, ``host:5000/team/app@sha256:...``.

A name whose first component holds a ``.`` or a ``:``, or is ``localhost``, names its
registry; any other is on the default registry (Docker Hub, whose one-component names live
under ``library/``), which an agent's ``--image-registry-mirror`` replaces. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_REGISTRY = "registry-1.docker.io"
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class ImageReference:
    registry: str  # "host[:port]"; "" for the default registry
    repository: str  # "library/busybox"
    tag: str = "latest"
    digest: str = ""  # "sha256:...", pins the manifest

    @property
    def reference(self) -> str:
        """What the manifest is asked for by: the digest when pinned, else the tag."""
        return self.digest or self.tag

    def __str__(self) -> str:
        host = f"{self.registry}/" if self.registry else ""
        if self.digest:
            return f"{host}{self.repository}@{self.digest}"
        return f"{host}{self.repository}:{self.tag}"


def parse_reference(name: str) -> ImageReference:
    """The reference ``name`` spells; ValueError with the reason when it spells none."""
    text = name.strip()
    if not text:
        raise ValueError("the image name is empty")
    digest = ""
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST.match(digest):
            raise ValueError(f"image {name!r}: digest {digest!r} is not sha256:<64 hex digits>")
    registry = ""
    first, slash, rest = text.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, text = first, rest
    tag = "latest"
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        text, tag = text.rsplit(":", 1)
        if not _TAG.match(tag):
            raise ValueError(f"image {name!r}: bad tag {tag!r}")
    components = text.split("/")
    for component in components:
        if not _COMPONENT.match(component):
            raise ValueError(
                f"image {name!r}: bad repository component {component!r} "
                "(lower-case letters, digits and separators '.', '_', '-')"
            )
    if not registry and len(components) == 1:
        text = f"library/{text}"
    return ImageReference(registry, text, tag, digest)


def image_name_problem(name: str) -> str | None:
    """Why ``name`` names no image (a reference, or ``file:///absolute/path`` to an OCI
    layout or a docker save archive on the agent), or None."""
    if name.startswith("file://"):
        if not name[len("file://") :].startswith("/"):
            return f"image {name!r}: a file image needs an absolute path (file:///...)"
        return None
    try:
        parse_reference(name)
    except ValueError as exc:
        return str(exc)
    return None
