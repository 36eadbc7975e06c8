"""A spec's ``container:`` section: the image a job's or app's tasks run in.

``parse_container`` reads ``container: {image: NAME, force_pull: false}`` (the service
spec names the second ``forcePullImage``, as Marathon does) into a ``ContainerSpec``,
with every problem named by its path; ``task(..., image=..., force_pull=...)`` puts it in
a TaskInfo. The image name gets the master's and agents' checks when the spec is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mesospy.image_reference import image_name_problem

__all__ = ["ContainerSpec", "parse_container"]

Problem = tuple[str, str]


@dataclass(frozen=True)
class ContainerSpec:
    """The image a spec's tasks run in, and whether to pull it again each time."""

    image: str
    force_pull: bool = False

    def to_dict(self, force_key: str = "force_pull") -> dict[str, Any]:
        """The canonical form (``force_key`` set only when true)."""
        out: dict[str, Any] = {"image": self.image}
        if self.force_pull:
            out[force_key] = True
        return out


def parse_container(
    value: object, path: str = "container", force_key: str = "force_pull"
) -> tuple[ContainerSpec | None, list[Problem]]:
    """The ``container:`` section (None when absent) and its problems, each as
    ``(field path, reason)``: ``("container.image", "bad tag ...")``."""
    if value is None:
        return None, []
    if not isinstance(value, dict):
        return None, [(path, "must be a mapping with 'image'")]
    unknown = [str(k) for k in value if k not in ("image", force_key)]
    if unknown:
        return None, [(f"{path}.{unknown[0]}", f"unknown field; known: image, {force_key}")]
    image = value.get("image")
    if not isinstance(image, str) or not image.strip():
        return None, [(f"{path}.image", "is required: an image name, e.g. registry:5000/app:1")]
    if problem := image_name_problem(image.strip()):
        return None, [(f"{path}.image", problem)]
    force = value.get(force_key, False)
    if not isinstance(force, bool):
        return None, [(f"{path}.{force_key}", "must be true or false")]
    return ContainerSpec(image.strip(), force), []
