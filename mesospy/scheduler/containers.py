"""A spec's ``container:`` section: the image a job's or app's tasks run in.

``parse_container`` reads ``container: {image: NAME, force_pull: false, entrypoint: [..]}``
(the service spec names the second ``forcePullImage``, as Marathon does) into a
``ContainerSpec``; ``entrypoint`` replaces the image's Entrypoint (and its Cmd: the task
runs ``entrypoint`` followed by the spec's argv, as ``docker run --entrypoint``),
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
    entrypoint: tuple[str, ...] | None = None  # replaces the image's Entrypoint and Cmd

    def to_dict(self, force_key: str = "force_pull") -> dict[str, Any]:
        """The canonical form (``force_key`` set only when true)."""
        out: dict[str, Any] = {"image": self.image}
        if self.force_pull:
            out[force_key] = True
        if self.entrypoint is not None:
            out["entrypoint"] = list(self.entrypoint)
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
    unknown = [str(k) for k in value if k not in ("image", force_key, "entrypoint")]
    if unknown:
        known = f"image, {force_key}, entrypoint"
        return None, [(f"{path}.{unknown[0]}", f"unknown field; known: {known}")]
    image = value.get("image")
    if not isinstance(image, str) or not image.strip():
        return None, [(f"{path}.image", "is required: an image name, e.g. registry:5000/app:1")]
    if problem := image_name_problem(image.strip()):
        return None, [(f"{path}.image", problem)]
    force = value.get(force_key, False)
    if not isinstance(force, bool):
        return None, [(f"{path}.{force_key}", "must be true or false")]
    entrypoint = value.get("entrypoint")
    if entrypoint is not None and not (
        isinstance(entrypoint, list)
        and entrypoint
        and all(isinstance(v, str) for v in entrypoint)
        and entrypoint[0]
    ):
        return None, [(f"{path}.entrypoint", "must be a non-empty list of strings (an argv)")]
    return ContainerSpec(image.strip(), force, tuple(entrypoint) if entrypoint else None), []
