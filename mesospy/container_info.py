"""Checks of a task's ContainerInfo shared by the master and the agent (pure).

mesospy runs containers itself (Mesos's type MESOS, the unified containerizer) with
DOCKER-type images; a task without an image runs on the host as any task does.
"""

from __future__ import annotations

from mesospy.image_reference import image_name_problem
from mesospy.v1 import common_pb2 as pb


def container_problem(container: pb.ContainerInfo) -> str | None:
    """Why a ContainerInfo cannot run anywhere, or None."""
    if container.type == pb.ContainerInfo.DOCKER:
        return (
            "container type DOCKER needs a Docker daemon, which mesospy does not use; "
            "use type MESOS with a DOCKER image"
        )
    if not container.mesos.HasField("image"):
        return "container.volumes need a container image" if container.volumes else None
    image = container.mesos.image
    if image.type != pb.Image.DOCKER:
        return f"only DOCKER images are supported, not {pb.Image.Type.Name(image.type)}"
    if not image.docker.name.strip():
        return "container.mesos.image.docker.name is empty"
    if problem := image_name_problem(image.docker.name.strip()):
        return f"container.mesos.image.docker.name: {problem}"
    return None


def image_name(info: pb.TaskInfo) -> str | None:
    """The image a task runs in, or None for a task on the host."""
    if info.container.mesos.HasField("image"):
        return info.container.mesos.image.docker.name.strip()
    return None
