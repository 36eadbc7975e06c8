"""Resources: Mesos text syntax, wire form, and arithmetic on scalars, ranges and sets."""

from __future__ import annotations

import pytest

from mesospy.resources import ResourceError, Resources
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
        ("cpus(web):1", "reserved resources (role 'web') are not supported yet"),
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
        (pb.Resource(name="cpus", scalar=1, role="web"), "role 'web'"),
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
