"""Resources: Mesos text syntax, wire form, and arithmetic on scalars, ranges and sets."""

from __future__ import annotations

import pytest

from mesospy.resources import Reservation, ResourceError, Resources, Volume, volume_problem
from mesospy.v1 import common_pb2 as pb

R = Resources.parse


# ---------------------------------------------------------------------------- text form


@pytest.mark.parametrize(
    "text",
    [
        "cpus:4;mem:2048;disk:1000;ports:[31000-32000,32050-32060];zones:{a,b}",
        "cpus:0.5",
        "cpus:0.001;gpus:1",
        "mem:32",
        "ports:[80-80]",
        "",
    ],
)
def test_parse_then_format_round_trips(text: str) -> None:
    assert str(R(text)) == text


def test_format_orders_cpus_mem_disk_gpus_then_others_by_name() -> None:
    text = "zones:{b,a};gpus:1;disk:5;a:1;mem:2;cpus:3;ports:[2-3]"
    assert str(R(text)) == "cpus:3;mem:2;disk:5;gpus:1;a:1;ports:[2-3];zones:{a,b}"


def test_parse_accepts_whitespace_unreserved_role_and_single_port() -> None:
    parsed = R(" cpus(*) : 2 ; ports:[ 80 , 8000-8001 ];")
    assert parsed == Resources({"cpus": 2}, ranges={"ports": [(80, 80), (8000, 8001)]})


def test_parse_merges_adjacent_ranges() -> None:
    assert R("ports:[1-2,3-4,6-6]").ranges("ports") == [(1, 4), (6, 6)]


def test_scalars_are_fixed_to_three_decimals() -> None:
    assert R("cpus:0.1") + R("cpus:0.2") == R("cpus:0.3")
    assert R("cpus:0.00049") == Resources()  # rounds to 0, and zeros are dropped
    assert str(R("cpus:1.23456")) == "cpus:1.235"


def test_repeated_add_and_sub_stays_exact() -> None:
    total = R("cpus:24;mem:4096")
    piece = R("cpus:0.1;mem:0.3")
    acc = Resources()
    for _ in range(1000):
        acc = acc + piece
    assert acc == R("cpus:100;mem:300")
    for _ in range(1000):
        total = total - piece
        total = total + piece
    assert total == R("cpus:24;mem:4096")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cpus:-1", '"cpus:-1": cpus must be a finite number >= 0'),
        ("cpus:nan", '"cpus:nan": cpus must be a finite number >= 0'),
        ("cpus:inf", '"cpus:inf": cpus must be a finite number >= 0'),
        ("cpus:lots", '"cpus:lots": cpus must be a finite number >= 0'),
        ("cpus", '"cpus": expected name:value, e.g. cpus:2'),
        (":3", '":3": resource name is empty'),
        ("cpus:1;cpus:2", '"cpus:2": resource cpus is given more than once'),
        ("ports:[5-1]", '"ports:[5-1]": ports range 5-1 is inverted (begin > end)'),
        ("ports:[1-5,3-7]", '"ports:[1-5,3-7]": ports ranges 1-5 and 3-7 overlap'),
        ("ports:[1-x]", "\"ports:[1-x]\": ports range bound 'x' is not an integer"),
        ("ports:[-1-5]", "\"ports:[-1-5]\": ports range bound '' is not an integer"),
        ("ports:[1-5", '"ports:[1-5": ports ranges must look like [31000-32000,32050-32060]'),
        ("zones:{a,a}", "\"zones:{a,a}\": zones set lists 'a' more than once"),
        ("zones:{a", '"zones:{a": zones set must look like {a,b}'),
        ("x:1;x:{a}", '"x:{a}": x is given both as a scalar and as a set'),
        ("cpus(web):1;cpus(web):2", '"cpus(web):2": resource cpus is given more than once'),
        ("cpus(a b):1", "'a b' is not a role to reserve for"),
        ("cpus(eng/../x):1", "'eng/../x' is not a role to reserve for"),
        ("x(eng):1;x:{a}", '"x:{a}": x is given both as a scalar and as a set'),
    ],
)
def test_parse_rejects_bad_input_with_an_actionable_message(text: str, message: str) -> None:
    with pytest.raises(ResourceError) as err:
        R(text)
    assert message in str(err.value)


def test_constructor_validates_like_parse() -> None:
    with pytest.raises(ResourceError, match="cpus must be a finite number >= 0"):
        Resources({"cpus": -1})
    with pytest.raises(ResourceError, match="inverted"):
        Resources(ranges={"ports": [(9, 1)]})


# ---------------------------------------------------------------------------- wire form


def _scalar(name: str, value: float) -> pb.Resource:
    return pb.Resource(name=name, type=pb.Resource.SCALAR, scalar=value)


def _ranges(name: str, *spans: tuple[int, int]) -> pb.Resource:
    return pb.Resource(
        name=name, type=pb.Resource.RANGES, ranges=[pb.Range(begin=b, end=e) for b, e in spans]
    )


def test_proto_round_trip() -> None:
    value = R("cpus:1.5;mem:64;ports:[1-2,5-9];zones:{a,b}")
    assert Resources.from_proto(value.to_proto()) == value
    assert [r.name for r in value.to_proto()] == ["cpus", "mem", "ports", "zones"]


def test_from_proto_sums_repeated_names() -> None:
    items = [
        _scalar("cpus", 1),
        _scalar("cpus", 0.5),
        _ranges("ports", (1, 2)),
        _ranges("ports", (5, 6)),
    ]
    assert Resources.from_proto(items) == R("cpus:1.5;ports:[1-2,5-6]")


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (_scalar("cpus", float("nan")), "cpus must be a finite number >= 0"),
        (_scalar("cpus", -2), "cpus must be a finite number >= 0"),
        (_scalar("", 1), "resource name is empty"),
        (_ranges("ports", (9, 3)), "ports range 9-3 is inverted"),
        (pb.Resource(name="x", type=7), "unknown resource type 7"),  # type: ignore[arg-type]
        (
            pb.Resource(
                name="cpus",
                scalar=1,
                reservations=[pb.ReservationInfo(role="a"), pb.ReservationInfo(role="b")],
            ),
            "only one level is supported",
        ),
        (
            pb.Resource(name="cpus", scalar=1, reservations=[pb.ReservationInfo(role="a")]),
            "reservation type must be STATIC or DYNAMIC",
        ),
        (
            pb.Resource(
                name="disk",
                scalar=8,
                disk=pb.DiskInfo(
                    persistence=pb.DiskInfo.Persistence(id="db"),
                    volume=pb.DiskInfo.Volume(container_path="data"),
                ),
            ),
            "a persistent volume needs reserved disk",
        ),
        (
            pb.Resource(
                name="disk",
                scalar=8,
                role="eng",
                disk=pb.DiskInfo(
                    persistence=pb.DiskInfo.Persistence(id="db"),
                    volume=pb.DiskInfo.Volume(container_path="/abs"),
                ),
            ),
            "must be a relative path inside the sandbox",
        ),
        (
            pb.Resource(
                name="mem",
                scalar=8,
                role="eng",
                disk=pb.DiskInfo(persistence=pb.DiskInfo.Persistence(id="db")),
            ),
            "only disk can hold a persistent volume",
        ),
    ],
)
def test_from_proto_rejects_bad_input(item: pb.Resource, message: str) -> None:
    with pytest.raises(ResourceError, match=message):
        Resources.from_proto([item])


def test_from_proto_rejects_overlapping_ranges_across_repeated_names() -> None:
    with pytest.raises(ResourceError, match="ports ranges 1-5 and 3-7 overlap"):
        Resources.from_proto([_ranges("ports", (1, 5)), _ranges("ports", (3, 7))])


# ---------------------------------------------------------------------------- arithmetic


def test_scalar_add_sub_contains() -> None:
    a = R("cpus:4;mem:1024")
    b = R("cpus:1;mem:1024")
    assert a + b == R("cpus:5;mem:2048")
    assert a - b == R("cpus:3")  # mem reaches 0 and is dropped
    assert a.contains(b) and a >= b and b <= a
    assert not b.contains(a)
    assert (b - a).is_empty()  # scalars clamp at 0


def test_ranges_add_sub_contains() -> None:
    a = R("ports:[1000-2000]")
    assert a - R("ports:[1500-1600]") == R("ports:[1000-1499,1601-2000]")
    assert a - R("ports:[500-1200,1900-2500]") == R("ports:[1201-1899]")
    assert a - R("ports:[3000-4000]") == a  # absent ranges are ignored
    assert a + R("ports:[2001-2005]") == R("ports:[1000-2005]")
    assert a + R("ports:[1500-2500]") == R("ports:[1000-2500]")
    assert a.contains(R("ports:[1000-1000,1999-2000]"))
    assert not a.contains(R("ports:[999-1000]"))
    assert not R("ports:[1-2,4-5]").contains(R("ports:[2-4]"))


def test_sets_add_sub_contains() -> None:
    a = R("zones:{a,b}")
    assert a + R("zones:{c}") == R("zones:{a,b,c}")
    assert a - R("zones:{b,z}") == R("zones:{a}")
    assert (a - a).is_empty()
    assert a.contains(R("zones:{a}"))
    assert not a.contains(R("zones:{c}"))


def test_empty_value() -> None:
    assert Resources() == Resources.EMPTY == R("")
    assert not Resources()
    assert R("cpus:1")
    assert Resources().contains(Resources())
    assert R("cpus:1").contains(Resources())


def test_accessors() -> None:
    r = R("cpus:2.5;mem:512;disk:10;gpus:1;ports:[1-3];zones:{a}")
    assert (r.cpus, r.mem, r.disk, r.gpus) == (2.5, 512, 10, 1)
    assert r.scalar("absent") == 0
    assert r.ranges("ports") == [(1, 3)]
    assert r.ranges("absent") == []
    assert r.items("zones") == frozenset({"a"})
    assert r.names() == {"cpus", "mem", "disk", "gpus", "ports", "zones"}


def test_equal_values_hash_equal() -> None:
    assert hash(R("cpus:1;ports:[1-2]")) == hash(R("ports:[1-2];cpus:1"))


def test_allocate_ports_takes_the_lowest() -> None:
    ports, taken = R("ports:[10-11,20-30]").allocate_ports(3)
    assert ports == [10, 11, 20]
    assert taken == R("ports:[10-11,20-20]")
    with pytest.raises(ResourceError, match="asked for 4 ports, only 2 available"):
        R("ports:[1-2]").allocate_ports(4)


# ---------------------------------------------------------------------------- identity


def test_a_reservation_is_part_of_identity_in_arithmetic() -> None:
    mixed = R("cpus(eng):2;mem(eng):1024;cpus:2")
    assert mixed.unreserved() == R("cpus:2")
    assert mixed.reserved("eng") == R("cpus(eng):2;mem(eng):1024")
    assert mixed.reserved("ops").is_empty()
    assert mixed.cpus == 4 and mixed.scalar_items() == [("cpus", 4.0), ("mem", 1024.0)]
    # Only the same identity combines: taking unreserved cpus leaves the reserved ones.
    assert mixed - R("cpus:2") == R("cpus(eng):2;mem(eng):1024")
    assert mixed - R("cpus(ops):2") == mixed
    assert mixed.contains(R("cpus(eng):1;cpus:2"))
    assert not mixed.contains(R("cpus:3"))
    assert not mixed.contains(R("cpus(ops):1"))
    assert mixed - R("cpus(eng):2") + R("cpus(eng):2") == mixed
    assert mixed.flatten() == R("cpus:4;mem:1024")
    assert str(mixed) == "cpus:2;cpus(eng):2;mem(eng):1024"
    assert R(str(mixed)) == mixed and R("cpus(*):1") == R("cpus:1")


def test_principal_labels_and_kind_tell_reservations_apart() -> None:
    static = R("cpus:1").reserve(Reservation("eng"))
    dynamic = R("cpus:1").reserve(Reservation("eng", "alice", (("team", "db"),), "DYNAMIC"))
    assert static == R("cpus(eng):1") and static != dynamic
    assert not (static + dynamic).contains(R("cpus(eng):2"))
    assert (static + dynamic) - dynamic == static
    with pytest.raises(ResourceError, match="only unreserved resources can be reserved"):
        static.reserve(Reservation("ops"))


def test_a_persistent_volume_is_its_own_identity() -> None:
    disk = R("disk(eng):64;cpus(eng):1").reserved("eng") - R("cpus(eng):1")
    volume = Volume("db-1", "data", principal="alice")
    made = disk.with_volume(volume)
    assert made != disk and made.disk == 64 and not made.contains(disk)
    assert str(made) == "disk(eng)[db-1:data]:64"
    with pytest.raises(ResourceError, match="a volume is made of reserved disk only"):
        R("disk:64").with_volume(volume)


def test_the_wire_form_keeps_identity() -> None:
    dynamic = R("cpus:1").reserve(Reservation("eng/dev", "alice", (("k", "v"),), "DYNAMIC"))
    volume = R("disk(eng):32").with_volume(Volume("v", "data", "bob", read_only=True))
    value = R("cpus:2;ports:[1-3]") + dynamic + volume + R("mem(eng):8")
    wire = value.to_proto()
    assert Resources.from_proto(wire) == value
    assert [(m.name, m.role) for m in wire] == [
        ("cpus", ""),
        ("ports", ""),
        ("mem", "eng"),
        ("disk", "eng"),
        ("cpus", "eng/dev"),
    ]
    assert wire[3].disk.persistence.id == "v" and wire[3].disk.volume.container_path == "data"
    assert wire[4].reservations[0].type == pb.ReservationInfo.DYNAMIC
    # The legacy role field alone is a static reservation, as in Mesos before 1.2.
    legacy = Resources.from_proto([pb.Resource(name="cpus", scalar=1, role="eng")])
    assert legacy == R("cpus(eng):1")


def test_total_equals_pairwise_addition_for_every_kind() -> None:
    items = [
        Resources.parse(text)
        for text in (
            "cpus:0.1;mem:32",
            "cpus:0.2;mem:32;ports:[31000-31001]",
            "cpus(eng):1;mem:16",
            "disk:10;zones:{a,b}",
            "",
            "cpus:0.7",
        )
    ]
    pairwise = Resources()
    for item in items:
        pairwise = pairwise + item
    total = Resources.total(items)
    assert total == pairwise
    assert str(total) == str(pairwise)
    assert total.scalar("cpus") == 2.0  # 0.1 + 0.2 + 0.7 exactly, and the reserved 1
    assert Resources.total([]) == Resources()


def test_reservations_are_taken_but_volumes_are_refused_until_something_creates_them() -> None:
    assert volume_problem(R("cpus:1"), "--resources") is None
    assert volume_problem(R("cpus(eng):1;cpus:1"), "--resources") is None
    volume = R("disk(eng):32").with_volume(Volume("v", "data"))
    problem = volume_problem(R("cpus:1") + volume, "task 't'")
    assert problem is not None and "disk(eng)[v:data]:32" in problem


def test_reserved_for_picks_the_reservations_of_the_roles_given() -> None:
    value = R("cpus:1;cpus(eng):2;mem(eng/dev):8;cpus(web):3")
    assert value.reserved_for({"eng", "eng/dev"}) == R("cpus(eng):2;mem(eng/dev):8")
    assert value.reserved_for(["web"]) == R("cpus(web):3")
    assert value.reserved_for(()) == R("")
    assert value.has_reservations() and not value.unreserved().has_reservations()
