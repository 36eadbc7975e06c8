"""Offer operations (RESERVE, UNRESERVE, CREATE, DESTROY) on plain resource values, who
may make them, and the agent's checkpoint of what they made."""

from pathlib import Path

import pytest

from mesospy.agent.persistent_volumes import (
    CheckpointedResources,
    link_volumes,
    volume_dir,
    volume_uses,
    volumes_root,
)
from mesospy.master.errors import InvalidArgument
from mesospy.master.reservations import in_role_tree, parse_operation
from mesospy.operations import (
    OperationError,
    ResourceOperation,
    apply_operation,
    apply_operations,
    checkpointed,
    with_checkpointed,
)
from mesospy.resources import Reservation, ResourceError, Resources, Volume
from mesospy.v1 import common_pb2 as pb

ENG = Reservation("eng", "alice", (("team", "db"),), kind="DYNAMIC")


def res(text: str) -> Resources:
    return Resources.parse(text)


def reserved(text: str, reservation: Reservation = ENG) -> Resources:
    return res(text).reserve(reservation)


def volume(amount: int, pid: str = "v1") -> Resources:
    return reserved(f"disk:{amount}").with_volume(Volume(pid, "data", "alice"))


TOTAL = res("cpus:4;mem:1024;disk:100")


def test_reserve_converts_unreserved_into_reserved() -> None:
    after = apply_operation(TOTAL, ResourceOperation("RESERVE", reserved("cpus:1;disk:64")))
    # 1 of the 4 cpus and 64 of the 100 MB of disk are now eng's; the sum is unchanged.
    assert after == res("cpus:3;mem:1024;disk:36") + reserved("cpus:1;disk:64")
    assert after.flatten() == TOTAL


def test_reserve_then_create_then_destroy_then_unreserve_round_trips() -> None:
    ops = [
        ResourceOperation("RESERVE", reserved("disk:64")),
        ResourceOperation("CREATE", volume(64)),
    ]
    with_volume = apply_operations(TOTAL, ops)
    assert with_volume == res("cpus:4;mem:1024;disk:36") + volume(64)
    assert checkpointed(with_volume) == volume(64)
    back = apply_operations(
        with_volume,
        [
            ResourceOperation("DESTROY", volume(64)),
            ResourceOperation("UNRESERVE", reserved("disk:64")),
        ],
    )
    assert back == TOTAL


def test_reserve_needs_unreserved_resources_that_are_there() -> None:
    with pytest.raises(
        OperationError, match="needs unreserved cpus:8, but there is only cpus:4"
    ) as info:
        apply_operation(TOTAL, ResourceOperation("RESERVE", reserved("cpus:8")))
    assert info.value.precondition
    static = Reservation("eng")  # a STATIC reservation cannot be made by an operation
    with pytest.raises(OperationError, match="DYNAMIC reservation") as info:
        apply_operation(TOTAL, ResourceOperation("RESERVE", res("cpus:1").reserve(static)))
    assert not info.value.precondition


def test_unreserve_refuses_what_is_not_reserved_so() -> None:
    with pytest.raises(OperationError, match="not reserved like that") as info:
        apply_operation(TOTAL, ResourceOperation("UNRESERVE", reserved("cpus:1")))
    assert info.value.precondition
    other = Reservation("eng", "bob", kind="DYNAMIC")  # same role, another reserver
    have = apply_operation(TOTAL, ResourceOperation("RESERVE", reserved("cpus:1")))
    with pytest.raises(OperationError, match="not reserved like that"):
        apply_operation(have, ResourceOperation("UNRESERVE", reserved("cpus:1", other)))
    with pytest.raises(OperationError, match="names no resources"):
        apply_operation(have, ResourceOperation("UNRESERVE", Resources()))


def test_create_needs_reserved_disk_and_a_fresh_id() -> None:
    with pytest.raises(OperationError, match="needs reserved disk disk\\(eng\\):64, but") as info:
        apply_operation(TOTAL, ResourceOperation("CREATE", volume(64)))
    assert info.value.precondition
    have = apply_operations(
        TOTAL,
        [
            ResourceOperation("RESERVE", reserved("disk:100")),
            ResourceOperation("CREATE", volume(50)),
        ],
    )
    with pytest.raises(OperationError, match="'v1' is already in use"):
        apply_operation(have, ResourceOperation("CREATE", volume(50)))
    with pytest.raises(OperationError, match="must be a persistent volume"):
        apply_operation(have, ResourceOperation("CREATE", reserved("disk:50")))


def test_destroy_and_unreserve_of_a_volume() -> None:
    have = apply_operations(
        TOTAL,
        [
            ResourceOperation("RESERVE", reserved("disk:64")),
            ResourceOperation("CREATE", volume(64)),
        ],
    )
    with pytest.raises(OperationError, match="DESTROY it first"):
        apply_operation(have, ResourceOperation("UNRESERVE", volume(64)))
    with pytest.raises(OperationError, match="no such volume \\(volumes: \\['v1'\\]\\)"):
        apply_operation(have, ResourceOperation("DESTROY", volume(64, "v2")))


def test_checkpointed_resources_apply_to_the_static_total_again() -> None:
    total = apply_operations(
        TOTAL,
        [
            ResourceOperation("RESERVE", reserved("cpus:1;disk:64")),
            ResourceOperation("CREATE", volume(64)),
        ],
    )
    kept = checkpointed(total)
    assert with_checkpointed(TOTAL, kept) == total
    with pytest.raises(ResourceError, match="agent's resources are only cpus:4"):
        with_checkpointed(res("cpus:4"), kept)


def test_who_may_make_an_operation() -> None:
    reserve = reserved("cpus:1").to_proto()
    assert parse_operation("RESERVE", reserve, ["eng"], "alice").resources == reserved("cpus:1")
    below = res("cpus:1").reserve(Reservation("eng/dev", "alice", kind="DYNAMIC"))
    parse_operation("RESERVE", below.to_proto(), ["eng"], "alice")  # a child role is fine
    with pytest.raises(InvalidArgument, match="role 'eng' is not one the framework is"):
        parse_operation("RESERVE", reserve, ["engineering", "ops"], "alice")
    with pytest.raises(InvalidArgument, match="principal is 'alice'; it must be 'bob'"):
        parse_operation("RESERVE", reserve, ["eng"], "bob")
    with pytest.raises(InvalidArgument, match="principal is 'alice'; it must be 'bob'"):
        parse_operation("CREATE", volume(64).to_proto(), ["eng"], "bob")
    # An unauthenticated operator (None) may name any principal and role.
    assert parse_operation("UNRESERVE", reserve, None, None).kind == "UNRESERVE"
    assert in_role_tree("eng/dev/x", ["eng"]) and not in_role_tree("engx", ["eng", "*"])


def test_the_agent_checkpoints_volumes_and_names_the_destroyed(tmp_path: Path) -> None:
    kept = CheckpointedResources(tmp_path, tmp_path / "meta")
    (tmp_path / "meta").mkdir()
    assert kept.update((reserved("cpus:1") + volume(64)).to_proto()) == []
    directory = volume_dir(tmp_path, "eng", "v1")
    assert directory.is_dir() and directory.is_relative_to(volumes_root(tmp_path))
    again = CheckpointedResources(tmp_path, tmp_path / "meta")
    again.recover()  # after a restart
    assert Resources.from_proto(again.resources) == reserved("cpus:1") + volume(64)
    assert again.update(reserved("cpus:1").to_proto()) == [directory]
    with pytest.raises(ResourceError):
        again.update([pb.Resource(name="cpus", scalar=-1)])
    assert Resources.from_proto(again.resources) == reserved("cpus:1")  # unchanged
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    link_volumes(volume_uses(tmp_path, volume(64)), sandbox)
    assert (sandbox / "data").resolve() == directory.resolve()
    assert volume_dir(tmp_path, "a/..", "..").is_relative_to(volumes_root(tmp_path))
