"""Job specs: what is accepted, and every problem of a bad one, with its field path."""

from __future__ import annotations

import json

import pytest

from frameworks.batch.spec import JobSpec, SpecError, load_spec, parse_spec

FULL = """
name: nightly-report
command: python report.py
env: {OUT: /tmp/out}
resources: {cpus: 0.5, mem: 256, disk: 100, ports: 2}
constraints:
  - {attribute: rack, operator: equals, value: r1}
  - {attribute: hostname, operator: UNIQUE}
instances: 10
parallelism: 5
retries: {limit: 3, backoff: 2s, max_backoff: 1m}
failure_policy:
  - {exit_codes: [2], action: ignore}
  - {exit_codes: [42], action: fail}
timeout: 10m
labels: {team: data}
schedule:
  cron: "30 2 * * *"
  timezone: Europe/Berlin
  concurrency: forbid
  starting_deadline: 5m
  catch_up: all
parents: [extract]
"""


def problems(data: object) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    return caught.value.problems


def test_a_full_spec_is_read_with_its_units_and_names_normalised() -> None:
    spec = load_spec(FULL)
    assert spec.name == "nightly-report"
    assert (spec.cpus, spec.mem, spec.disk, spec.ports) == (0.5, 256.0, 100.0, 2)
    assert spec.constraints[0].operator == "EQUALS"
    assert spec.constraints[1].operator == "UNIQUE"
    assert (spec.instances, spec.parallelism) == (10, 5)
    assert (spec.retries.limit, spec.retries.backoff, spec.retries.max_backoff) == (3, 2.0, 60.0)
    assert spec.timeout == 600.0
    assert spec.schedule is not None
    assert spec.schedule.concurrency == "Forbid"
    assert spec.schedule.starting_deadline == 300.0
    assert spec.parents == ("extract",)
    assert spec.action_for(2) == "ignore"
    assert spec.action_for(42) == "fail"
    assert spec.action_for(1) == "retry"
    assert spec.action_for(None) == "retry"


def test_the_canonical_form_reads_back_to_the_same_spec() -> None:
    spec = load_spec(FULL)
    assert parse_spec(json.loads(json.dumps(spec.to_dict()))) == spec


def test_json_and_argv_commands_are_accepted_with_defaults() -> None:
    spec = load_spec('{"name": "a", "command": ["echo", "hi"], "instances": 4}')
    assert spec == JobSpec(name="a", command=("echo", "hi"), instances=4, parallelism=4)


def test_every_problem_is_listed_with_its_field_path() -> None:
    found = dict(
        problems(
            {
                "name": "Bad_Name",
                "command": [],
                "resources": {"cpus": -1, "gpus": 1},
                "instances": 0,
                "retries": {"limit": "x", "backoff": "soon"},
                "failure_policy": [{"exit_codes": [0], "action": "explode"}],
                "timeout": 0,
                "constraints": [{"attribute": "rack", "operator": "NEAR", "value": "x"}],
                "schedule": {"cron": "61 * * * *", "timezone": "Mars/Olympus", "catch_up": "x"},
                "parents": ["ok", "ok", "Bad"],
                "color": "blue",
            }
        )
    )
    assert set(found) == {
        "name",
        "command",
        "resources.cpus",
        "resources.gpus",
        "instances",
        "retries.limit",
        "retries.backoff",
        "failure_policy[0].exit_codes",
        "failure_policy[0].action",
        "timeout",
        "constraints[0].operator",
        "schedule.cron",
        "schedule.timezone",
        "schedule.catch_up",
        "parents[1]",
        "parents[2]",
        "color",
    }
    assert "unknown field" in found["color"]
    assert "Mars/Olympus" in found["schedule.timezone"]
    assert found["instances"] == "must be between 1 and 1000, not 0"


def test_yaml_that_does_not_parse_says_where() -> None:
    with pytest.raises(SpecError) as caught:
        load_spec("name: a\ncommand: [unclosed\n")
    assert "line" in str(caught.value)


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (None, ""),
        ([1, 2], ""),
        ({"name": "a", "command": "x", "constraints": [{"operator": "LIKE", "value": "("}]},
         "constraints[0].attribute"),
        ({"name": "a", "command": "x", "constraints": [{"attribute": "r", "operator": "LIKE",
          "value": "("}]}, "constraints[0].value"),
        ({"name": "a", "command": "x", "env": {"1BAD": "v"}}, "env.1BAD"),
        ({"name": "a", "command": "x", "parents": ["a"]}, "parents[0]"),
        ({"name": "a", "command": "x", "schedule": {"cron": "* * *"}}, "schedule.cron"),
    ],
)  # fmt: skip
def test_single_problems(data: object, path: str) -> None:
    assert path in [p for p, _ in problems(data)]
