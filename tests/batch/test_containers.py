"""Jobs of several containers, pure: the spec, and how a group's attempt ends."""

from __future__ import annotations

from typing import Any

import pytest

from frameworks.batch.containers import Container, group_outcome
from frameworks.batch.runs import Run, container_of, parse_task_id
from frameworks.batch.spec import SpecError, load_spec, parse_spec

POD = """
name: pod
env: {A: "1"}
resources: {ports: 1}
containers:
  - {name: work, command: [python, w.py], resources: {cpus: 1, mem: 256}, env: {B: "2"},
     image: "registry:5000/work:1"}
  - {name: init, command: 'get', lifecycle: {hook: prestart}}
  - {name: proxy, command: 'proxy', lifecycle: {hook: prestart, sidecar: true}}
"""


def test_a_job_of_several_containers_sums_their_resources_and_round_trips() -> None:
    spec = load_spec(POD)
    assert spec.group
    assert [(c.name, c.hook, c.sidecar) for c in spec.containers] == [
        ("work", "main", False),
        ("init", "prestart", False),
        ("proxy", "prestart", True),
    ]
    assert spec.containers[0].command == ("python", "w.py")
    assert spec.containers[0].env == {"B": "2"}
    image = spec.containers[0].image
    assert image is not None and image.image == "registry:5000/work:1"
    assert (spec.cpus, spec.mem, spec.ports) == (1.2, 320.0, 1)
    data = spec.to_dict()
    assert "command" not in data and data["resources"] == {"ports": 1}
    assert parse_spec(data) == spec


def test_a_job_of_one_container_is_the_plain_job() -> None:
    one = load_spec(
        "name: one\nenv: {A: '1'}\ncontainers:\n"
        "  - {name: only, command: 'true', resources: {cpus: 0.5}, env: {B: '2'}}\n"
    )
    plain = load_spec("name: one\ncommand: 'true'\nresources: {cpus: 0.5}\nenv: {A: '1', B: '2'}")
    assert one == plain and not one.group
    assert [c.name for c in plain.containers] == ["main"]
    assert plain.containers[0].command == "true" and plain.containers[0].cpus == 0.5


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "containers: [{name: a, command: x}, {name: a, command: y}]",
            ("containers[1].name", "'a' is used twice"),
        ),
        (
            "containers: [{name: a, command: x, lifecycle: {hook: prestart}},"
            " {name: b, command: y, lifecycle: {hook: prestart, sidecar: true}}]",
            ("containers", "no main container"),
        ),
        ("containers: [{name: a, command: x, lifecycle: {sidecar: true}}]",
         ("containers[0].lifecycle.sidecar", "needs hook prestart or poststart")),
        ("command: x\ncontainers: [{name: a, command: x}]", ("command", "either command or")),
        ("resources: {cpus: 1}\ncontainers: [{name: a, command: x}]",
         ("resources.cpus", "on each container")),
        ("containers: [{name: a}]", ("containers[0].command", "is required")),
        ("containers: [{name: a, command: x, lifecycle: {hook: later}}]",
         ("containers[0].lifecycle.hook", "must be one of main, prestart, poststart")),
        ("containers: [{name: a, command: x}, {name: b, command: x, image: 'Bad Name'}]",
         ("containers[1].image.image", "")),
        ("containers: []", ("containers", "non-empty list")),
    ],
)  # fmt: skip
def test_bad_containers_say_which_field(text: str, problem: tuple[str, str]) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec("name: bad\n" + text)
    paths = {path: reason for path, reason in caught.value.problems}
    assert problem[0] in paths, caught.value.problems
    assert problem[1] in paths[problem[0]]


POD_CONTAINERS = (
    Container("work", "w"),
    Container("init", "i", hook="prestart"),
    Container("proxy", "p", hook="prestart", sidecar=True),
)


def result(state: str, exit_code: int | None = None, message: str = "") -> dict[str, Any]:
    return {"state": state, "exit_code": exit_code, "message": message}


def test_group_outcome_is_the_main_containers() -> None:
    # The sidecar still runs (or was killed): the main container's success is the result.
    going = {"init": result("TASK_FINISHED", 0), "work": result("TASK_RUNNING")}
    assert group_outcome(POD_CONTAINERS, going) is None
    done = {**going, "work": result("TASK_FINISHED", 0), "proxy": result("TASK_RUNNING")}
    outcome = group_outcome(POD_CONTAINERS, done)
    assert outcome is not None and (outcome.state, outcome.exit_code) == ("TASK_FINISHED", 0)
    # A failing prestart fails it, whichever of its group's updates came first.
    failed = {
        "work": result("TASK_KILLED", None, "never started"),
        "init": result("TASK_FAILED", 3, "exited with status 3"),
    }
    outcome = group_outcome(POD_CONTAINERS, failed)
    assert outcome is not None and (outcome.state, outcome.exit_code) == ("TASK_FAILED", 3)
    assert outcome.message == "container 'init': exited with status 3"
    # Killed, with nothing failing: decided once every container has ended.
    killed = {"work": result("TASK_KILLED"), "init": result("TASK_FINISHED", 0)}
    assert group_outcome(POD_CONTAINERS, killed) is None
    killed["proxy"] = result("TASK_KILLED")
    outcome = group_outcome(POD_CONTAINERS, killed)
    assert outcome is not None and (outcome.state, outcome.cause) == ("TASK_KILLED", "work")


def test_a_run_of_a_group_records_each_container_and_kills_them_all() -> None:
    spec = load_spec(POD.replace("resources: {ports: 1}\n", "") + "retries: 1\n")
    run = Run.new(spec, "r1", "manual", 0.0)
    instance = run.instances[0]
    base = run.launching(instance, "a1", 1.0, tuple(c.name for c in spec.containers))
    assert run.task_ids(instance) == [f"{base}.work", f"{base}.init", f"{base}.proxy"]
    assert parse_task_id(f"{base}.work") == ("pod", "r1", 0, 0)
    assert container_of(f"{base}.work") == "work" and container_of(base) == ""
    assert run.task_update(spec, 0, 0, "TASK_FAILED", 2.0, 3, "exit 3", "a1", "init") == []
    assert instance.state == "WAITING" and instance.attempt == 1  # retried
    assert instance.containers["init"]["exit_code"] == 3
    second = run.launching(instance, "a1", 3.0, ("work", "init", "proxy"))
    run.task_update(spec, 0, 1, "TASK_FINISHED", 3.5, 0, "exited with status 0", "a1", "init")
    run.task_update(spec, 0, 1, "TASK_RUNNING", 4.0, None, "", "a1", "work")
    # What has ended is neither reconciled nor killed again, and stays as it ended.
    assert run.task_ids(instance) == [f"{second}.work", f"{second}.proxy"]
    assert run.task_update(spec, 0, 1, "TASK_UNKNOWN", 4.5, None, "", "a1", "init") == []
    assert instance.containers["init"]["state"] == "TASK_FINISHED"
    assert instance.state == "RUNNING"
    kills = run.cancel(5.0)
    assert sorted(k.task_id for k in kills) == [f"{second}.proxy", f"{second}.work"]
    # Late updates of the cancelled attempt are still recorded for its history.
    run.task_update(spec, 0, 1, "TASK_KILLED", 6.0, None, "killed", "a1", "proxy")
    assert instance.containers["proxy"]["state"] == "TASK_KILLED"
    assert Run.from_dict(run.to_dict()).instances[0].containers == instance.containers
