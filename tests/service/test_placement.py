"""The placement planner on plain data: spreading is a preference, never a reason to leave
an instance unplaced that an agent satisfying the constraints has room for; and the reason
given for what stays unplaced is the real one, summed up over the agents seen."""

from __future__ import annotations

import pytest

from frameworks.service.constraints import Place
from frameworks.service.placement import Ask, Candidate, Misfit, explain, pick_ports, place
from frameworks.service.spec import Constraint
from mesospy.resources import Resources

ROOM = Resources.parse("cpus:2;mem:1024;ports:[31000-31009]")
SMALL = Resources({"cpus": 0.5, "mem": 32.0})


def four_agents(room_on_rack_1: Resources = ROOM) -> list[Candidate]:
    """Four agents on four hosts; only host-a is on rack-1."""
    return [
        Candidate("a", Place("host-a", {"rack_id": "rack-1"}), room_on_rack_1),
        Candidate("b", Place("host-b", {"rack_id": "rack-2"}), ROOM),
        Candidate("c", Place("host-c", {"rack_id": "rack-3"}), ROOM),
        Candidate("d", Place("host-d", {"rack_id": "rack-4"}), ROOM),
    ]


def agents_of(result_launches: list[int], candidates: list[Candidate]) -> list[str]:
    return [candidates[i].agent_id for i in result_launches]


@pytest.mark.parametrize(
    "constraints",
    [
        [Constraint("rack_id", "CLUSTER", "rack-1")],
        [Constraint("rack_id", "CLUSTER")],
        [Constraint("hostname", "CLUSTER")],
        [Constraint("hostname", "LIKE", "host-a")],
        [Constraint("rack_id", "CLUSTER", "rack-1"), Constraint("hostname", "MAX_PER", "3")],
    ],
)
def test_co_located_instances_all_go_on_the_one_agent_allowed(
    constraints: list[Constraint],
) -> None:
    # Before: at most ceil((3 + 1) / 4) = 1 instance per agent, so 1 of 3 was placed.
    candidates = four_agents()
    result = place(Ask(SMALL, (0,), tuple(constraints)), 3, candidates, [])
    agents = agents_of([launch.index for launch in result.launches], candidates)
    assert agents == ["a", "a", "a"]
    assert len({launch.ports for launch in result.launches}) == 3  # each its own port
    assert result.candidates[0].available.cpus == pytest.approx(0.5)


def test_max_per_two_places_all_three_instances() -> None:
    # Before: stalled at 2 of 3 (one per agent on two of the agents MAX_PER allowed).
    candidates = four_agents()
    result = place(Ask(SMALL, (), (Constraint("hostname", "MAX_PER", "2"),)), 3, candidates, [])
    assert len(result.launches) == 3


def test_like_on_two_agents_places_all_three() -> None:
    candidates = four_agents()
    like = (Constraint("rack_id", "LIKE", "rack-[12]"),)
    result = place(Ask(SMALL, (), like), 3, candidates, [])
    agents = agents_of([launch.index for launch in result.launches], candidates)
    assert sorted(agents) == ["a", "a", "b"]  # still spread over the two allowed


def test_without_constraints_the_least_loaded_agent_is_preferred() -> None:
    candidates = four_agents()
    placed = [("a", candidates[0].place), ("a", candidates[0].place), ("b", candidates[1].place)]
    result = place(Ask(SMALL), 3, candidates, placed)
    agents = agents_of([launch.index for launch in result.launches], candidates)
    assert agents == ["c", "d", "b"]


def test_no_room_is_reported_for_the_agents_satisfying_the_constraints() -> None:
    candidates = four_agents(room_on_rack_1=Resources({"cpus": 0.2, "mem": 1024.0}))
    ask = Ask(SMALL, (), (Constraint("rack_id", "CLUSTER", "rack-1"),))
    result = place(ask, 3, candidates, [])
    assert result.launches == []
    assert explain(result.misfits, ask.constraints) == (
        "no agent with rack_id=rack-1 has cpus:0.5;mem:32 free (1 of 4 agents); "
        "constraint [rack_id, CLUSTER, rack-1] unsatisfied on 3 of 4 agents"
    )


def test_a_constraint_no_agent_satisfies_is_named() -> None:
    candidates = four_agents()
    ask = Ask(SMALL, (), (Constraint("rack_id", "CLUSTER", "rack-9"),))
    result = place(ask, 1, candidates, [])
    assert explain(result.misfits, ask.constraints) == (
        "constraint [rack_id, CLUSTER, rack-9] unsatisfied on all 4 agents"
    )


def test_an_agent_filled_up_reports_room_not_the_constraint_of_the_last_offer() -> None:
    # Two instances fit on rack-1, the third does not: the reason is room on rack-1.
    candidates = four_agents(room_on_rack_1=Resources({"cpus": 1.0, "mem": 1024.0}))
    ask = Ask(SMALL, (), (Constraint("rack_id", "CLUSTER", "rack-1"),))
    result = place(ask, 3, candidates, [])
    assert len(result.launches) == 2
    assert result.misfits["a"] == Misfit(room="cpus:0.5;mem:32 free")
    assert explain(result.misfits, ask.constraints).startswith(
        "no agent with rack_id=rack-1 has cpus:0.5;mem:32 free (1 of 4 agents)"
    )


def test_ports_fixed_and_any() -> None:
    available = Resources.parse("ports:[31000-31002]")
    picked = pick_ports(available, (31002, 0, 0))
    assert picked is not None and picked[0] == (31002, 31000, 31001)
    assert pick_ports(available, (31005,)) is None
    assert pick_ports(available, (0, 0, 0, 0)) is None
    assert pick_ports(available, (31000, 31000)) is None
    candidates = [Candidate("a", Place("h", {}), Resources({"cpus": 1.0, "mem": 64.0}))]
    result = place(Ask(SMALL, (0, 0)), 1, candidates, [])
    assert explain(result.misfits) == "no agent has 2 ports free (all 1 agent)"


def test_a_field_no_agent_has_is_named_in_the_reason() -> None:
    candidates = four_agents()
    ask = Ask(SMALL, (), (Constraint("@region", "IS", "eu"),))
    result = place(ask, 1, candidates, [])
    assert result.launches == []
    assert explain(result.misfits, ask.constraints) == (
        "constraint [@region, IS, eu] unsatisfied on all 4 agents (no agent has a region attribute)"
    )
    on_rack_1 = (Constraint("rack_id", "IS", "rack-1"),)
    result = place(Ask(SMALL, (), on_rack_1), 3, candidates, [])
    assert agents_of([launch.index for launch in result.launches], candidates) == ["a"] * 3
