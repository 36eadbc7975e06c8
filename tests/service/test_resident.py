"""Resident apps with plain data: the spec, the slots' bookkeeping and the offer planner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from frameworks.service import deployment, resident
from frameworks.service.constraints import Place
from frameworks.service.deployment import DeploymentError
from frameworks.service.marathon_app import load_app_text
from frameworks.service.marathon_json import definition
from frameworks.service.model import AppRecord
from frameworks.service.placement import Candidate
from frameworks.service.resident import RELEASING, RESERVED, RESERVING, Owner, Slot
from frameworks.service.scheduler import ServiceScheduler
from frameworks.service.spec import (
    PersistentVolumeSpec,
    SpecError,
    parse_spec,
    surge_and_unavailable,
)
from frameworks.service.store import Store
from mesospy.operations import ResourceOperation, apply_operations
from mesospy.resources import Reservation, Resources

OWNER = Owner("fw-1", "db", "ops")
AGENT = "agent-1"
PLAIN = Resources.parse("cpus:4;mem:1024;disk:1000;ports:[31000-31009]")


def spec_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "prod/db",
        "cmd": "sleep 300",
        "cpus": 0.5,
        "mem": 64,
        "ports": ["pg"],
        "persistent_volumes": [{"container_path": "data", "size": 64}],
    }
    data.update(changes)
    return data


def app(instances: int = 1, deleting: bool = False) -> AppRecord:
    record = deployment.new_app(parse_spec(spec_data(instances=instances)), 0.0)
    return deployment.delete(record, 1.0) if deleting else record


def ids() -> Callable[[], str]:
    numbers = iter(range(100))
    return lambda: f"u{next(numbers)}"


def offer(resources: Resources, agent_id: str = AGENT) -> Candidate:
    return Candidate(agent_id, Place(f"{agent_id}.example", {}), resources)


def made_slot(**changes: Any) -> Slot:
    spec = parse_spec(spec_data())
    slot = resident.new_slot(spec, AGENT, "h", "db", "ops", "fw-1", "u0", 0.0)
    return slot.with_(**{"state": RESERVED, "task_id": "gone", **changes})


# ---------------------------------------------------------------- the spec


def test_persistent_volumes_are_read_in_either_spelling_and_kept() -> None:
    snake = parse_spec(spec_data())
    data = spec_data()
    del data["persistent_volumes"]
    camel = parse_spec({**data, "persistentVolumes": [{"containerPath": "data", "size": 64}]})
    assert snake.persistent_volumes == camel.persistent_volumes
    assert snake.resident and snake.persistent_volumes[0].size == 64
    assert parse_spec(snake.to_dict()) == snake
    assert not parse_spec({"id": "web", "cmd": "true"}).resident


def test_bad_persistent_volumes_are_refused_by_path() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(
            spec_data(
                persistent_volumes=[
                    {"container_path": "/abs", "size": 1},
                    {"container_path": "a/../b", "size": 1},
                    {"container_path": "d"},
                    {"container_path": "e", "size": 1},
                    {"container_path": "e", "size": 2},
                ]
            )
        )
    problems = info.value.problems
    assert "persistent_volumes[0].container_path: '/abs' must be a relative path" in problems[0]
    assert problems[1].startswith("persistent_volumes[1].container_path: 'a/../b'")
    assert "persistent_volumes[2].size: is required (MB of disk)" in problems
    assert "persistent_volumes[4].container_path: 'e' is given twice" in problems


def test_a_resident_app_never_surges() -> None:
    spec = parse_spec(spec_data(instances=1))
    assert surge_and_unavailable(spec.upgrade, 1, spec.resident) == (0, 1)
    assert surge_and_unavailable(spec.upgrade, 4, spec.resident) == (0, 1)
    marathon = parse_spec(spec_data(upgradeStrategy={"minimumHealthCapacity": 0.5}))
    assert surge_and_unavailable(marathon.upgrade, 4, True) == (0, 2)
    with pytest.raises(SpecError, match=r"upgradeStrategy.maxSurge: must be 0 for an app with"):
        parse_spec(spec_data(upgradeStrategy={"maxSurge": 1}))
    with pytest.raises(SpecError, match=r"maximumOverCapacity: must be 0"):
        parse_spec(spec_data(upgradeStrategy={"maximumOverCapacity": 0.5}))


# ---------------------------------------------------------------- new slots


def test_a_new_instance_reserves_creates_and_launches_in_one_offer() -> None:
    plan = resident.plan_offers(
        {"prod/db": app()}, {"prod/db": 1}, {}, (), [offer(PLAIN)], OWNER, ids(), 5.0
    )
    (slot,) = plan.new
    assert slot.id == "prod_db.instance-u0" and slot.state == RESERVING
    assert [v.persistence_id for v in slot.volumes] == ["prod_db#data#u0"]
    labels = dict(slot.reservation().labels)
    assert labels == {
        "mesospy.service.framework": "fw-1",
        "mesospy.service.app": "prod/db",
        "mesospy.service.instance": "prod_db.instance-u0",
    }
    ops = plan.operations[0]
    r = Reservation("db", "ops", slot.reservation().labels, kind="DYNAMIC")
    assert ops.reserve == Resources.parse("cpus:0.5;mem:64;disk:64").reserve(r)
    assert ops.create == slot.volume_resources() and not ops.destroy and not ops.unreserve
    (launch,) = ops.launches
    assert launch.ports == (31000,)
    # The operations apply to the offer, and the task's resources are what they made.
    after = apply_operations(
        PLAIN, [ResourceOperation("RESERVE", ops.reserve), ResourceOperation("CREATE", ops.create)]
    )
    assert after.contains(launch.uses)
    assert launch.uses == slot.offered() + Resources.parse("ports:[31000-31000]")


def test_no_room_is_a_misfit_and_no_slot() -> None:
    small = Resources.parse("cpus:4;mem:1024;disk:32;ports:[31000-31009]")
    plan = resident.plan_offers(
        {"prod/db": app()}, {"prod/db": 1}, {}, (), [offer(small)], OWNER, ids(), 5.0
    )
    assert not plan.new and not plan.operations
    assert "disk:64" in plan.misfits["prod/db"][AGENT].room


# ---------------------------------------------------------------- existing slots


def test_an_idle_slot_relaunches_only_on_its_own_reservation() -> None:
    slot = made_slot()
    slots = {slot.id: slot}
    # Another agent's plain offer: the instance waits for its own agent (no new slot).
    plan = resident.plan_offers(
        {"prod/db": app()}, {"prod/db": 1}, slots, (), [offer(PLAIN, "agent-2")], OWNER, ids(), 5
    )
    assert not plan.operations and not plan.new
    assert resident.waiting_notes(slots.values(), "prod/db", (), 1) == (
        "1 resident instance(s) waiting for an offer of their reservation and volumes on h "
        "(agent-1)",
    )
    # Its agent's offer with the reservation and volume: a LAUNCH on them, nothing else.
    held = PLAIN + slot.offered()
    plan = resident.plan_offers(
        {"prod/db": app()}, {"prod/db": 1}, slots, (), [offer(held)], OWNER, ids(), 5
    )
    ops = plan.operations[0]
    assert not (ops.reserve or ops.create or ops.destroy or ops.unreserve) and not plan.new
    (launch,) = ops.launches
    assert launch.slot.id == slot.id
    assert launch.uses == slot.offered() + Resources.parse("ports:[31000-31000]")
    # While its task runs, an offer of it launches nothing more.
    plan = resident.plan_offers(
        {"prod/db": app()}, {"prod/db": 1}, slots, ("gone",), [offer(held)], OWNER, ids(), 5
    )
    assert not plan.operations


def test_an_updated_spec_takes_what_it_asks_beyond_the_reservation_unreserved() -> None:
    slot = made_slot()
    bigger = parse_spec(spec_data(cpus=1.5))
    found = resident.launch_uses(slot, bigger, PLAIN)
    assert found is not None
    _, uses = found
    assert uses.reserved().flatten() == Resources.parse("cpus:0.5;mem:64;disk:64")
    assert uses.unreserved() == Resources.parse("cpus:1;ports:[31000-31000]")
    assert resident.launch_uses(slot, bigger, Resources.parse("ports:[1-9]")) is None


def test_a_reserving_slot_seen_in_an_offer_is_confirmed() -> None:
    slot = made_slot(state=RESERVING, task_id="t1")
    plan = resident.plan_offers(
        {"prod/db": app()}, {}, {slot.id: slot}, ("t1",), [offer(slot.offered())], OWNER, ids(), 5
    )
    assert [s.state for s in plan.confirmed] == [RESERVED] and not plan.operations


# ---------------------------------------------------------------- release


def test_unwanted_slots_are_the_idle_ones_beyond_the_instance_count() -> None:
    a, b, c = (made_slot(id=f"s{n}", task_id=f"t{n}", created_at=n) for n in range(3))
    slots = [a, b, c]
    assert resident.unwanted(slots, {"prod/db": app(3)}, ()) == []
    # Scaled to one: the idle ones go (newest first), the busy one stays for now.
    assert resident.unwanted(slots, {"prod/db": app(1)}, ("t2",)) == ["s1", "s0"]
    assert resident.unwanted(slots, {"prod/db": app(2)}, ("t0", "t1")) == ["s2"]
    # Deleted, or gone: every idle one.
    assert resident.unwanted(slots, {"prod/db": app(3, deleting=True)}, ("t0",)) == ["s2", "s1"]
    assert resident.unwanted(slots, {}, ()) == ["s2", "s1", "s0"]
    assert resident.unwanted([a.with_(state=RELEASING)], {}, ()) == []
    # Deployed again with another volume: the old slots go once idle, whatever the count.
    other = deployment.new_app(
        parse_spec(spec_data(persistent_volumes=[{"container_path": "data", "size": 9}])), 0
    )
    assert resident.unwanted(slots, {"prod/db": other}, ("t0",)) == ["s1", "s2"]


def test_releasing_destroys_then_unreserves_and_unknown_reservations_go_too() -> None:
    slot = made_slot(state=RELEASING)
    stray = made_slot(id="prod_db.instance-lost", created_at=1)
    other = resident.new_slot(parse_spec(spec_data()), AGENT, "h", "db", "ops", "fw-2", "x", 0)
    held = PLAIN + slot.offered() + stray.offered() + other.offered()
    plan = resident.plan_offers(
        {"prod/db": app()}, {}, {slot.id: slot}, (), [offer(held)], OWNER, ids(), 5
    )
    ops = plan.operations[0]
    assert ops.destroy == slot.volume_resources() + stray.volume_resources()
    both = slot.reserved() + slot.volume_disks() + stray.reserved() + stray.volume_disks()
    assert ops.unreserve == both  # another framework's reservation is left alone
    assert plan.released == [slot.id] and not ops.launches
    after = apply_operations(
        held,
        [ResourceOperation("DESTROY", ops.destroy), ResourceOperation("UNRESERVE", ops.unreserve)],
    )
    assert after == PLAIN + Resources.parse("cpus:1;mem:128;disk:128") + other.offered()


# ---------------------------------------------------------------- the store and the shell


def test_slots_survive_in_the_store(tmp_path: Path) -> None:
    slot = made_slot()
    store = Store.open(str(tmp_path))
    store.save_slot(slot)
    assert Store.open(str(tmp_path)).slots() == {slot.id: slot}
    store.delete_slot(slot.id)
    assert Store.open(str(tmp_path)).slots() == {}


def test_volumes_of_a_resident_app_cannot_change(tmp_path: Path) -> None:
    scheduler = ServiceScheduler(Store.open(str(tmp_path)), "127.0.0.1:1", clock=lambda: 1.0)
    try:
        scheduler.deploy(parse_spec(spec_data()))
        with pytest.raises(DeploymentError, match="its persistent volumes cannot change"):
            scheduler.deploy(
                parse_spec(spec_data(persistent_volumes=[{"container_path": "data", "size": 9}]))
            )
        scheduler.deploy(parse_spec(spec_data(instances=2)))  # scaling is fine
        scheduler.tick()
        assert any("--role" in n for n in scheduler.notes["prod/db"])
    finally:
        scheduler.close()


def test_marathon_persistent_volumes_and_residency_map_onto_the_native_spec() -> None:
    app_json = {
        "id": "/prod/db",
        "cmd": "sleep 300",
        "container": {
            "type": "MESOS",
            "volumes": [{"containerPath": "data", "mode": "RW", "persistent": {"size": 64}}],
        },
        "residency": {"taskLostBehavior": "WAIT_FOREVER"},
    }
    converted = load_app_text(json.dumps(app_json))
    assert converted.marathon and converted.spec.persistent_volumes == (
        PersistentVolumeSpec("data", 64.0),
    )
    assert any(c.startswith("residency: ") for c in converted.changed)
    again = definition(converted.spec)["container"]["volumes"]
    assert again == [{"containerPath": "data", "mode": "RW", "persistent": {"size": 64.0}}]
    host = {**app_json, "container": {"volumes": [{"containerPath": "d", "hostPath": "/x"}]}}
    with pytest.raises(SpecError, match=r"container.volumes\[0\]: only local persistent"):
        load_app_text(json.dumps(host))
