"""``container:`` in job and app specs: read, checked with paths, written back canonically,
and turned into the tasks' ContainerInfo."""

from __future__ import annotations

import pytest

from frameworks.batch.spec import SpecError as JobSpecError
from frameworks.batch.spec import parse_spec as parse_job
from frameworks.service.spec import SpecError as AppSpecError
from frameworks.service.spec import parse_spec as parse_app
from mesospy.agent.containers.launch import command_of
from mesospy.agent.tasks import validate_task
from mesospy.master.validation import command_problem as master_problem
from mesospy.scheduler import ContainerSpec, task
from mesospy.v1 import common_pb2 as pb


def test_a_job_spec_reads_and_writes_its_container() -> None:
    job = {"name": "j", "command": "true", "container": {"image": "reg:5000/a/b:1"}}
    spec = parse_job(job)
    assert spec.container == ContainerSpec("reg:5000/a/b:1")
    assert spec.to_dict()["container"] == {"image": "reg:5000/a/b:1"}
    forced = parse_job({**job, "container": {"image": "busybox", "force_pull": True}})
    assert forced.container == ContainerSpec("busybox", True)
    assert parse_job(forced.to_dict()) == forced
    assert "container" not in parse_job({"name": "j", "command": "true"}).to_dict()


@pytest.mark.parametrize(
    ("container", "path", "words"),
    [
        ({"image": "Bad Name"}, "container.image", "bad repository component"),
        ({}, "container.image", "is required"),
        ({"image": "x", "pull": True}, "container.pull", "unknown field"),
        ({"image": "x", "force_pull": "yes"}, "container.force_pull", "true or false"),
        ("busybox", "container", "must be a mapping"),
    ],
)
def test_a_bad_container_in_a_job_spec_is_named_by_its_path(
    container: object, path: str, words: str
) -> None:
    with pytest.raises(JobSpecError) as refused:
        parse_job({"name": "j", "command": "true", "container": container})
    assert any(p == path and words in reason for p, reason in refused.value.problems)


def test_an_app_spec_reads_its_container_with_marathons_force_pull_name() -> None:
    spec = parse_app(
        {"id": "web", "cmd": "httpd", "container": {"image": "web:2", "forcePullImage": True}}
    )
    assert spec.container == ContainerSpec("web:2", True)
    assert spec.to_dict()["container"] == {"image": "web:2", "forcePullImage": True}
    assert parse_app(spec.to_dict()) == spec
    plain = parse_app({"id": "web", "cmd": "httpd"})
    assert "container" not in plain.to_dict()  # existing apps keep their config key
    with pytest.raises(AppSpecError, match=r"container\.image: image 'a b'"):
        parse_app({"id": "web", "cmd": "x", "container": {"image": "a b"}})


def test_a_task_gets_its_image_as_a_mesos_container() -> None:
    info = task("t", [], "cpus:0.1", image="reg:5000/a:1", force_pull=True)
    assert info.container.type == pb.ContainerInfo.MESOS
    assert info.container.mesos.image.type == pb.Image.DOCKER
    assert info.container.mesos.image.docker.name == "reg:5000/a:1"
    assert info.container.mesos.image.cached is False
    assert not task("u", "true", "cpus:0.1").HasField("container")


def test_with_a_container_the_command_may_be_left_out_and_without_one_it_may_not() -> None:
    job = parse_job({"name": "j", "container": {"image": "busybox:1"}})
    assert job.command == "" and "command" not in job.to_dict()
    assert parse_job(job.to_dict()) == job
    app = parse_app({"id": "a", "container": {"image": "busybox:1"}})
    assert app.cmd == "" and "cmd" not in app.to_dict()
    assert parse_app(app.to_dict()) == app
    with pytest.raises(JobSpecError) as job_error:
        parse_job({"name": "j"})
    assert "is required" in dict(job_error.value.problems)["command"]
    with pytest.raises(AppSpecError) as app_error:
        parse_app({"id": "a"})
    assert any(p.startswith("cmd: is required") for p in app_error.value.problems)


def test_an_entrypoint_is_read_back_and_needs_an_argv_after_it() -> None:
    container = {"image": "busybox:1", "entrypoint": ["sh", "-c"]}
    job = parse_job({"name": "j", "command": ["echo hi"], "container": container})
    assert job.container == ContainerSpec("busybox:1", False, ("sh", "-c"))
    assert parse_job(job.to_dict()) == job
    with pytest.raises(JobSpecError) as shell:
        parse_job({"name": "j", "command": "echo hi", "container": container})
    assert "not a shell string" in dict(shell.value.problems)["command"]
    with pytest.raises(AppSpecError) as cmd:
        parse_app({"id": "a", "cmd": "echo hi", "container": container})
    assert any(p.startswith("container.entrypoint:") for p in cmd.value.problems)
    with pytest.raises(JobSpecError) as empty:
        parse_job({"name": "j", "container": {**container, "entrypoint": []}})
    assert "non-empty list" in dict(empty.value.problems)["container.entrypoint"]


@pytest.mark.parametrize(
    ("command", "entrypoint", "program"),
    [
        ("", None, ["/entry", "default"]),  # the image's Entrypoint and Cmd
        (["arg"], None, ["/entry", "arg"]),  # argv in place of the Cmd
        ("echo hi", None, ["/bin/sh", "-c", "echo hi"]),  # a shell: neither
        (["x"], ["/bin/tool", "-v"], ["/bin/tool", "-v", "x"]),  # Entrypoint replaced
        ([], ["/bin/tool"], ["/bin/tool"]),  # ... and the Cmd with it
    ],
)
def test_what_an_image_task_runs_from_its_command_and_entrypoint(
    command: str | list[str], entrypoint: list[str] | None, program: list[str]
) -> None:
    info = task("t", command, "cpus:0.1", image="busybox:1", entrypoint=entrypoint)
    assert validate_task(info) is None
    assert master_problem(info.command, "command", image=True) is None
    config = {"Entrypoint": ["/entry"], "Cmd": ["default"]}
    assert command_of(config, info.command, "busybox:1") == program


def test_replace_entrypoint_without_an_argv_is_refused_by_the_master() -> None:
    command = pb.CommandInfo(replace_entrypoint=True)
    assert "needs 'argv'" in (master_problem(command, "command", image=True) or "")
    with pytest.raises(ValueError, match="needs an image"):
        task("t", ["x"], "cpus:0.1", entrypoint=["/bin/tool"])
