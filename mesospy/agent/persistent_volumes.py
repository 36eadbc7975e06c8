"""The agent's checkpointed resources: its dynamic reservations and persistent volumes.

The master sends them whole (``CheckpointResources``) after each RESERVE, UNRESERVE,
CREATE or DESTROY; the agent writes them to ``meta/resources.pb`` (atomically, with an
fsync) and reports them when it re-registers, so they outlive a restart of either. Each
volume is a directory outside any sandbox, ``<work_dir>/volumes/roles/<role>/<id>``, made
when the volume first appears and deleted (with its data) when it is destroyed. A task
using a volume finds it at its ``container_path`` in the sandbox: a link to the directory
(Mesos's posix way), or for a task in an image a bind mount at
``/mnt/mesos/sandbox/<container_path>``.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from mesospy.agent.checkpoint import write_durably
from mesospy.agent.sandbox import escape_id
from mesospy.resources import Resources
from mesospy.v1 import agent_pb2, common_pb2

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "resources.pb"


@dataclass(frozen=True)
class VolumeUse:
    """A volume as a task uses it: the agent's directory and where the task sees it."""

    directory: Path
    container_path: str
    read_only: bool


def volumes_root(work_dir: Path) -> Path:
    return work_dir / "volumes" / "roles"


def volume_dir(work_dir: Path, role: str, persistence_id: str) -> Path:
    """``<work_dir>/volumes/roles/<role>/<id>``; each role segment and the id escaped,
    so that no name climbs out."""
    segments = [escape_id(part) for part in role.split("/")]
    return volumes_root(work_dir).joinpath(*segments, escape_id(persistence_id))


def volume_uses(work_dir: Path, resources: Resources) -> list[VolumeUse]:
    """The persistent volumes among ``resources`` (a task's)."""
    uses = []
    for identity, _ in resources.parts():
        volume, reservation = identity.volume, identity.reservation
        if volume is None or reservation is None:
            continue
        directory = volume_dir(work_dir, reservation.role, volume.persistence_id)
        uses.append(VolumeUse(directory, volume.container_path, volume.read_only))
    return uses


class CheckpointedResources:
    """What the master last sent, on disk and in memory, and the volumes' directories."""

    def __init__(self, work_dir: Path, meta_dir: Path) -> None:
        self._work = work_dir
        self._path = meta_dir / CHECKPOINT_NAME
        self.resources: list[common_pb2.Resource] = []

    def recover(self) -> None:
        """Read the checkpoint (blocking; at start-up) and make any missing directory."""
        try:
            data = self._path.read_bytes()
        except FileNotFoundError:
            return
        request = agent_pb2.CheckpointResourcesRequest.FromString(data)
        self.resources = list(request.resources)
        for use in volume_uses(self._work, Resources.from_proto(self.resources)):
            use.directory.mkdir(parents=True, exist_ok=True)

    def update(self, resources: list[common_pb2.Resource]) -> list[Path]:
        """Checkpoint ``resources`` (ResourceError if malformed; nothing written then),
        make the new volumes' directories; the directories of destroyed volumes, for the
        caller to delete off the event loop."""
        new = volume_uses(self._work, Resources.from_proto(resources))
        old = volume_uses(self._work, Resources.from_proto(self.resources))
        data = agent_pb2.CheckpointResourcesRequest(resources=resources).SerializeToString()
        write_durably(self._path, data)
        self.resources = list(resources)
        for use in new:
            use.directory.mkdir(parents=True, exist_ok=True)
        kept = {use.directory for use in new}
        return [use.directory for use in old if use.directory not in kept]


def delete_volumes(directories: list[Path]) -> None:
    """Delete destroyed volumes' directories with their data (blocking)."""
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)
        log.info("persistent volume %s destroyed", directory)


def link_volumes(
    uses: list[VolumeUse], sandbox: Path, owner: tuple[int, int] | None = None
) -> None:
    """Link each volume at its container path in ``sandbox`` (blocking; before the task
    starts); the directory is made if missing and given to ``owner`` (uid, gid)."""
    for use in uses:
        use.directory.mkdir(parents=True, exist_ok=True)
        if owner is not None:
            os.chown(use.directory, *owner)
        link = sandbox / use.container_path
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            if link.is_symlink() and Path(os.readlink(link)) == use.directory:
                continue
            raise OSError(f"volume path {use.container_path!r} already exists in the sandbox")
        link.symlink_to(use.directory, target_is_directory=True)
