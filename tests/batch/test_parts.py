"""Pure parts: DAG cycles, placement constraints, run ids."""

from __future__ import annotations

from frameworks.batch.dag import children_of, find_cycle
from frameworks.batch.jobs import child_run_id, manual_run_id, scheduled_run_id
from frameworks.batch.placement import agent_attributes, satisfies
from frameworks.batch.spec import Constraint


def test_cycles_are_found_and_named() -> None:
    assert find_cycle({"c": ["a", "b"], "b": ["a"], "a": []}) is None
    cycle = find_cycle({"a": ["c"], "b": ["a"], "c": ["b"]})
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    assert children_of({"c": ["a", "b"], "d": ["a"]}, "a") == ["c", "d"]


def test_constraints() -> None:
    agent = agent_attributes("a1", "host-1", {"rack": "r1", "zone": "eu-1"})
    assert satisfies([Constraint("rack", "EQUALS", "r1")], agent)
    assert not satisfies([Constraint("rack", "EQUALS", "r2")], agent)
    assert satisfies([Constraint("zone", "LIKE", "eu-.*")], agent)
    assert not satisfies([Constraint("zone", "LIKE", "eu")], agent)  # the whole value
    assert not satisfies([Constraint("zone", "UNLIKE", "eu-.*")], agent)
    assert satisfies([Constraint("gpu", "UNLIKE", "yes")], agent)
    unique = [Constraint("hostname", "UNIQUE")]
    assert satisfies(unique, agent, taken=[agent_attributes("a2", "host-2", {})])
    assert not satisfies(unique, agent, taken=[agent_attributes("a3", "host-1", {})])


def test_run_ids() -> None:
    assert scheduled_run_id(0.0) == "s19700101T000000Z"
    assert manual_run_id(1.5, {}) == "m19700101T000001500Z"
    assert manual_run_id(1.5, {"m19700101T000001500Z": 1}) == "m19700101T000001500Z-1"
    assert child_run_id({"a": "r1", "b": "r2"}) == child_run_id({"b": "r2", "a": "r1"})
    assert child_run_id({"a": "r1"}) != child_run_id({"a": "r2"})
