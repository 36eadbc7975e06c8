"""Offer operations on resources: RESERVE, UNRESERVE, CREATE and DESTROY, as pure data.

Each operation turns some resources into others of another identity (Mesos's resource
conversions): RESERVE makes unreserved resources dynamically reserved, UNRESERVE undoes
it, CREATE makes reserved disk a persistent volume and DESTROY makes it plain reserved
disk again. ``apply_operation(resources, op)`` checks that what the operation consumes is
in ``resources`` and returns them converted, or raises ``OperationError`` saying what is
wrong; nothing is ever half applied. The master applies operations to an offer (what a
framework may use) and to the agent's total; the agent's *checkpointed* resources (its
dynamic reservations and volumes) are what must outlive a restart of either.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from mesospy.resources import Identity, ResourceError, Resources
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import scheduler_pb2 as spb

__all__ = [
    "OperationError",
    "ResourceOperation",
    "apply_operation",
    "apply_operations",
    "checkpointed",
    "static_form",
    "volume_ids",
    "with_checkpointed",
    "without_volumes",
]

Kind = Literal["RESERVE", "UNRESERVE", "CREATE", "DESTROY"]


class OperationError(ValueError):
    """An operation that cannot be applied. ``precondition``: the operation is well
    formed but the resources it consumes are not there (FAILED_PRECONDITION); otherwise
    it is malformed (INVALID_ARGUMENT)."""

    def __init__(self, message: str, precondition: bool = False) -> None:
        super().__init__(message)
        self.precondition = precondition


@dataclass(frozen=True)
class ResourceOperation:
    """One RESERVE, UNRESERVE, CREATE or DESTROY of ``resources``."""

    kind: Kind
    resources: Resources


def accept_operation(op: spb.Call.Operation) -> tuple[Kind, Sequence[pb.Resource]] | None:
    """The kind of an ACCEPT's resource operation and the resources it names; None for
    the others (LAUNCH, LAUNCH_GROUP)."""
    Op = spb.Call.Operation
    if op.type == Op.RESERVE:
        return "RESERVE", op.reserve.resources
    if op.type == Op.UNRESERVE:
        return "UNRESERVE", op.unreserve.resources
    if op.type == Op.CREATE:
        return "CREATE", op.create.volumes
    if op.type == Op.DESTROY:
        return "DESTROY", op.destroy.volumes
    return None


def _rebuild(parts: Iterable[tuple[Identity, Resources]]) -> Resources:
    total = Resources.EMPTY
    for identity, part in parts:
        piece = part
        if identity.reservation is not None:
            piece = piece.reserve(identity.reservation)
        if identity.volume is not None:
            piece = piece.with_volume(identity.volume)
        total = total + piece
    return total


def without_volumes(resources: Resources) -> Resources:
    """The same resources with their volumes dropped (reservations kept)."""
    return _rebuild((Identity(i.reservation), p) for i, p in resources.parts())


def static_form(resources: Resources) -> Resources:
    """What the resources were before any operation: volumes and dynamic reservations
    dropped, static reservations kept."""
    return _rebuild(
        (
            Identity(i.reservation if i.reservation and i.reservation.kind == "STATIC" else None),
            p,
        )
        for i, p in resources.parts()
    )


def checkpointed(total: Resources) -> Resources:
    """The part of an agent's total that operations made: its dynamic reservations and
    its volumes (what the agent checkpoints and the registry keeps)."""
    return _rebuild(
        (i, p)
        for i, p in total.parts()
        if i.volume is not None or (i.reservation is not None and i.reservation.kind == "DYNAMIC")
    )


def with_checkpointed(static: Resources, kept: Resources) -> Resources:
    """An agent's static total with its checkpointed resources applied again (after a
    restart); ResourceError if the agent no longer has what they were made of."""
    base = static_form(kept)
    if not static.contains(base):
        raise ResourceError(
            f"the checkpointed reservations and volumes ({kept}) need {base}, but the "
            f"agent's resources are only {static}"
        )
    return static - base + kept


def volume_ids(resources: Resources) -> set[str]:
    """The persistence ids of the volumes in ``resources``."""
    return {i.volume.persistence_id for i, _ in resources.parts() if i.volume is not None}


def _kinds(op: ResourceOperation) -> list[Identity]:
    if op.resources.is_empty():
        raise OperationError(f"{op.kind} names no resources")
    return [identity for identity, _ in op.resources.parts()]


def _need(have: Resources, consumed: Resources, what: str) -> None:
    if not have.contains(consumed):
        raise OperationError(f"{what} {consumed}, but there is only {have or 'nothing'}", True)


def apply_operation(resources: Resources, op: ResourceOperation) -> Resources:
    """``resources`` with ``op`` applied; OperationError if it cannot be."""
    identities = _kinds(op)
    res = op.resources
    if op.kind == "RESERVE":
        for identity in identities:
            r = identity.reservation
            if r is None or r.kind != "DYNAMIC" or identity.volume is not None:
                raise OperationError(
                    f"RESERVE of {res}: each resource needs one DYNAMIC reservation "
                    "(role and principal) and no volume"
                )
        consumed = res.flatten()
        _need(resources.unreserved(), consumed, f"RESERVE of {res}: needs unreserved")
        return resources - consumed + res
    if op.kind == "UNRESERVE":
        for identity in identities:
            r = identity.reservation
            if r is None or r.kind != "DYNAMIC":
                raise OperationError(
                    f"UNRESERVE of {res}: only dynamically reserved resources can be "
                    "unreserved (static reservations come from the agent's --resources)"
                )
            if identity.volume is not None:
                raise OperationError(
                    f"UNRESERVE of {res}: it holds a persistent volume; DESTROY it first"
                )
        if not resources.contains(res):
            raise OperationError(
                f"UNRESERVE of {res}: not reserved like that (reserved: "
                f"{resources.reserved() or 'nothing'})",
                True,
            )
        return resources - res + res.flatten()
    if op.kind in ("CREATE", "DESTROY"):
        for identity in identities:
            if identity.volume is None or identity.reservation is None:
                raise OperationError(
                    f"{op.kind} of {res}: each resource must be a persistent volume "
                    "(disk with a persistence id and container path) on reserved disk"
                )
        if op.kind == "DESTROY":
            if not resources.contains(res):
                raise OperationError(
                    f"DESTROY of {res}: no such volume (volumes: "
                    f"{sorted(volume_ids(resources)) or 'none'})",
                    True,
                )
            return resources - res + without_volumes(res)
        ids = [i.volume.persistence_id for i in identities if i.volume is not None]
        if len(set(ids)) != len(ids):
            raise OperationError(f"CREATE of {res}: a persistence id is given twice")
        taken = volume_ids(resources) & set(ids)
        if taken:
            raise OperationError(
                f"CREATE of {res}: persistence id {sorted(taken)[0]!r} is already in use", True
            )
        _need(resources, without_volumes(res), f"CREATE of {res}: needs reserved disk")
        return resources - without_volumes(res) + res
    raise OperationError(f"unknown operation {op.kind!r}")


def apply_operations(resources: Resources, ops: Iterable[ResourceOperation]) -> Resources:
    """Each of ``ops`` in order (a later one may use what an earlier one made)."""
    for op in ops:
        resources = apply_operation(resources, op)
    return resources
