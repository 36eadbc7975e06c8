"""Resident apps: instances that keep a reservation and persistent volumes on one agent.

Marathon's ``residency``. The first launch of a resident instance RESERVEs its resources on
an agent, CREATEs its volumes and LAUNCHes its task on them, all in one ACCEPT. From then
on the instance (a ``Slot``, Marathon's reserved instance) belongs to that agent: a
restarted or updated task waits for an offer holding the slot's own reservation (known by
its labels) and volumes (by persistence id), and finds its data there; it never moves while
the reservation exists. A slot the app no longer wants (deleted, scaled down) is released
when it is next offered: DESTROY its volumes, then UNRESERVE its resources. Reservations
labelled with this framework's id that no slot claims (a crash between an ACCEPT and the
store's write) are released the same way.

Everything here is pure: slots, apps and offers in, operations out; the scheduler stores
the slots and sends the calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from frameworks.service import placement
from frameworks.service.constraints import Place
from frameworks.service.model import AppRecord
from frameworks.service.placement import Ask, Candidate, Misfit
from frameworks.service.spec import AppSpec
from mesospy.operations import without_volumes
from mesospy.resources import Reservation, Resources, Volume

# Reservation labels: whose reservation it is, for which app and which of its instances.
FRAMEWORK_LABEL = "mesospy.service.framework"
APP_LABEL = "mesospy.service.app"
INSTANCE_LABEL = "mesospy.service.instance"

# Slot states.
RESERVING = "reserving"  # the ACCEPT was sent; not seen to hold yet
RESERVED = "reserved"  # a task ran on it, or an offer held it
RELEASING = "releasing"  # not wanted: DESTROY and UNRESERVE when next offered


@dataclass(frozen=True)
class SlotVolume:
    """One persistent volume of a slot."""

    persistence_id: str
    container_path: str
    size: float


@dataclass(frozen=True)
class Slot:
    """A resident instance: its reservation on one agent and the volumes on it."""

    id: str
    app_id: str
    agent_id: str
    hostname: str
    role: str
    principal: str
    framework_id: str
    cpus: float
    mem: float
    disk: float
    volumes: tuple[SlotVolume, ...]
    task_id: str = ""  # the task running on it now, or the last one
    state: str = RESERVING
    created_at: float = 0.0

    def reservation(self) -> Reservation:
        """The reservation of every resource of the slot, labelled with its owner."""
        labels = (
            (FRAMEWORK_LABEL, self.framework_id),
            (APP_LABEL, self.app_id),
            (INSTANCE_LABEL, self.id),
        )
        return Reservation(self.role, self.principal, labels, kind="DYNAMIC")

    def reserved(self) -> Resources:
        """Its reserved cpus, mem and disk besides the volumes."""
        return _scalars(self.cpus, self.mem, self.disk).reserve(self.reservation())

    def volume_disks(self) -> Resources:
        """The reserved disk its volumes are made of (what CREATE consumes)."""
        total = Resources.EMPTY
        for v in self.volumes:
            total = total + Resources({"disk": v.size}).reserve(self.reservation())
        return total

    def volume_resources(self) -> Resources:
        """Its volumes as resources (what CREATE makes, what a task uses)."""
        total = Resources.EMPTY
        for v in self.volumes:
            disk = Resources({"disk": v.size}).reserve(self.reservation())
            total = total + disk.with_volume(
                Volume(v.persistence_id, v.container_path, principal=self.principal)
            )
        return total

    def offered(self) -> Resources:
        """What an offer holds when it holds the whole slot."""
        return self.reserved() + self.volume_resources()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["volumes"] = [asdict(v) for v in self.volumes]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Slot:
        data = dict(data)
        data["volumes"] = tuple(SlotVolume(**v) for v in data.get("volumes", ()))
        return cls(**data)

    def with_(self, **changes: Any) -> Slot:
        return replace(self, **changes)


def _scalars(cpus: float, mem: float, disk: float) -> Resources:
    return Resources({"cpus": cpus, "mem": mem, **({"disk": disk} if disk else {})})


def needs_of(spec: AppSpec) -> Resources:
    """What one task of ``spec`` uses besides ports and volumes."""
    return _scalars(spec.cpus, spec.mem, spec.disk)


def new_slot(
    spec: AppSpec,
    agent_id: str,
    hostname: str,
    role: str,
    principal: str,
    framework_id: str,
    uid: str,
    now: float,
) -> Slot:
    """A slot of ``spec`` on an agent: its id and persistence ids derive from the app id
    and ``uid``, so they stay readable (``db.instance-1f2e``, ``db#data#1f2e``)."""
    base = spec.id.replace("/", "_")
    return Slot(
        id=f"{base}.instance-{uid}",
        app_id=spec.id,
        agent_id=agent_id,
        hostname=hostname,
        role=role,
        principal=principal,
        framework_id=framework_id,
        cpus=spec.cpus,
        mem=spec.mem,
        disk=spec.disk,
        volumes=tuple(
            SlotVolume(f"{base}#{v.container_path}#{uid}", v.container_path, v.size)
            for v in spec.persistent_volumes
        ),
        created_at=now,
    )


def labelled(resources: Resources, framework_id: str) -> dict[str, Resources]:
    """The parts of ``resources`` reserved by this framework for a slot, by slot id."""
    out: dict[str, Resources] = {}
    for identity, part in resources.parts():
        r = identity.reservation
        if r is None or r.kind != "DYNAMIC":
            continue
        labels = dict(r.labels)
        slot_id = labels.get(INSTANCE_LABEL)
        if slot_id is None or labels.get(FRAMEWORK_LABEL) != framework_id:
            continue
        piece = part.reserve(r)
        if identity.volume is not None:
            piece = piece.with_volume(identity.volume)
        out[slot_id] = out.get(slot_id, Resources.EMPTY) + piece
    return out


def idle(slot: Slot, live_tasks: Iterable[str]) -> bool:
    """Whether no live task runs on the slot."""
    return not slot.task_id or slot.task_id not in set(live_tasks)


def unwanted(
    slots: Iterable[Slot], apps: Mapping[str, AppRecord], live_tasks: Iterable[str]
) -> list[str]:
    """Idle slots to release: all of an app that is gone or being deleted, else those
    beyond its instance count (the controller kills the extra tasks, idle ones go first)."""
    live = set(live_tasks)
    by_app: dict[str, list[Slot]] = {}
    for s in slots:
        if s.state != RELEASING:
            by_app.setdefault(s.app_id, []).append(s)
    out = []
    for app_id, kept in by_app.items():
        app = apps.get(app_id)
        wanted = 0 if app is None or app.deleting or not app.spec.resident else app.spec.instances
        if app is not None:
            # Deleted and deployed again with other volumes: the old slots do not fit it.
            stale = [s for s in kept if not fits(s, app.spec)]
            out += [s.id for s in stale if idle(s, live)]
            kept = [s for s in kept if s not in stale]
        extra = len(kept) - wanted
        spare = sorted((s for s in kept if idle(s, live)), key=lambda s: -s.created_at)
        out += [s.id for s in spare[: max(0, extra)]]
    return out


def fits(slot: Slot, spec: AppSpec) -> bool:
    """Whether the slot has the volumes ``spec`` asks for."""
    have = [(v.container_path, v.size) for v in slot.volumes]
    return have == [(v.container_path, v.size) for v in spec.persistent_volumes]


def launch_uses(
    slot: Slot, spec: AppSpec, unreserved: Resources
) -> tuple[tuple[int, ...], Resources] | None:
    """The ports and resources of a task of ``spec`` on ``slot``: its reservation first,
    what the spec asks beyond it (after an update) and its ports from ``unreserved``;
    None if those are not there."""
    needs = needs_of(spec)
    extra = needs - _scalars(slot.cpus, slot.mem, slot.disk)
    taken = needs - extra
    if not unreserved.contains(extra):
        return None
    picked = placement.pick_ports(unreserved - extra, _port_ask(spec))
    if picked is None:
        return None
    ports, port_resources = picked
    return ports, taken.reserve(slot.reservation()) + slot.volume_resources() + extra + (
        port_resources
    )


def _port_ask(spec: AppSpec) -> tuple[int, ...]:
    return spec.host_ports or tuple(0 for _ in spec.ports)


@dataclass(frozen=True)
class TaskLaunch:
    """A task of the slot's app on the slot."""

    slot: Slot
    ports: tuple[int, ...]
    uses: Resources


@dataclass
class OfferOperations:
    """What to do with one offer, in this order: DESTROY, UNRESERVE, RESERVE, CREATE,
    then LAUNCH each task."""

    destroy: Resources = Resources.EMPTY
    unreserve: Resources = Resources.EMPTY
    reserve: Resources = Resources.EMPTY
    create: Resources = Resources.EMPTY
    launches: list[TaskLaunch] = field(default_factory=list)


@dataclass
class ResidentPlan:
    """The operations by offer index, the slots made (to store) or now known to hold,
    the slots released (to forget) and why the apps' new slots found no place."""

    operations: dict[int, OfferOperations] = field(default_factory=dict)
    new: list[Slot] = field(default_factory=list)
    confirmed: list[Slot] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    misfits: dict[str, dict[str, Misfit]] = field(default_factory=dict)

    def launched(self, app_id: str) -> int:
        return sum(
            1 for ops in self.operations.values() for t in ops.launches if t.slot.app_id == app_id
        )


@dataclass(frozen=True)
class Owner:
    """Who reserves: the framework's id, role and principal."""

    framework_id: str
    role: str
    principal: str = ""


def plan_offers(
    apps: Mapping[str, AppRecord],
    pending: Mapping[str, int],
    slots: Mapping[str, Slot],
    live_tasks: Iterable[str],
    offers: Sequence[Candidate],
    owner: Owner,
    uid: Callable[[], str],
    now: float,
    known: Iterable[Place] = (),
) -> ResidentPlan:
    """What to do with ``offers`` (their whole resources) for the resident ``apps``,
    wanting ``pending`` launches each: release what no slot wants, launch on idle slots
    offered, and reserve new slots, with ``uid()`` naming each, while an app has fewer
    slots than instances."""
    live = set(live_tasks)
    result = ResidentPlan()
    left = dict(pending)
    free = [c.available.unreserved() for c in offers]

    def ops(index: int) -> OfferOperations:
        return result.operations.setdefault(index, OfferOperations())

    for index, offer in enumerate(offers):
        for slot_id, part in labelled(offer.available, owner.framework_id).items():
            slot = slots.get(slot_id)
            app = apps.get(slot.app_id) if slot is not None else None
            if slot is None or app is None or slot.state == RELEASING:
                o = ops(index)
                o.destroy = o.destroy + _volumes(part)
                o.unreserve = o.unreserve + without_volumes(part)
                if slot is not None:
                    result.released.append(slot_id)
                continue
            if slot.state == RESERVING:
                slot = slot.with_(state=RESERVED)
                result.confirmed.append(slot)
            if left.get(slot.app_id, 0) <= 0 or not idle(slot, live) or not fits(slot, app.spec):
                continue
            if not part.contains(slot.offered()):
                continue  # not all of it is offered (yet)
            found = launch_uses(slot, app.spec, free[index])
            if found is None:
                continue
            ports, uses = found
            free[index] = free[index] - uses.unreserved()
            ops(index).launches.append(TaskLaunch(slot, ports, uses))
            left[slot.app_id] -= 1

    for app_id, app in apps.items():
        mine = [
            s
            for s in slots.values()
            if s.app_id == app_id and s.state != RELEASING and fits(s, app.spec)
        ]
        wanted = 0 if app.deleting else app.spec.instances
        count = min(left.get(app_id, 0), wanted - len(mine))
        if count <= 0 or not app.spec.resident:
            continue
        spec = app.spec
        volume_disk = sum(v.size for v in spec.persistent_volumes)
        ask = Ask(
            needs_of(spec) + Resources({"disk": volume_disk}), _port_ask(spec), spec.constraints
        )
        candidates = [replace(c, available=free[i]) for i, c in enumerate(offers)]
        placed = placement.place(
            ask,
            count,
            candidates,
            [(s.agent_id, _place(s, offers)) for s in mine],
            known,
        )
        result.misfits[app_id] = placed.misfits
        for launch in placed.launches:
            offer = offers[launch.index]
            slot = new_slot(
                spec,
                offer.agent_id,
                offer.place.hostname,
                owner.role,
                owner.principal,
                owner.framework_id,
                uid(),
                now,
            )
            free[launch.index] = free[launch.index] - launch.uses
            o = ops(launch.index)
            o.reserve = o.reserve + slot.reserved() + slot.volume_disks()
            o.create = o.create + slot.volume_resources()
            port_resources = launch.uses - ask.needs
            o.launches.append(TaskLaunch(slot, launch.ports, slot.offered() + port_resources))
            result.new.append(slot)
    return result


def _volumes(resources: Resources) -> Resources:
    total = Resources.EMPTY
    for identity, part in resources.parts():
        if identity.volume is not None and identity.reservation is not None:
            total = total + part.reserve(identity.reservation).with_volume(identity.volume)
    return total


def _place(slot: Slot, offers: Sequence[Candidate]) -> Place:
    for c in offers:
        if c.agent_id == slot.agent_id:
            return c.place
    return Place(slot.hostname, {})


def waiting_notes(
    slots: Iterable[Slot], app_id: str, live_tasks: Iterable[str], pending: int
) -> tuple[str, ...]:
    """Why an app's launches wait, when they wait for their slots' agents."""
    live = set(live_tasks)
    waiting = [s for s in slots if s.app_id == app_id and s.state != RELEASING and idle(s, live)]
    if not pending or not waiting:
        return ()
    where = ", ".join(sorted({f"{s.hostname or s.agent_id} ({s.agent_id})" for s in waiting}))
    return (
        f"{min(pending, len(waiting))} resident instance(s) waiting for an offer of their "
        f"reservation and volumes on {where}",
    )
