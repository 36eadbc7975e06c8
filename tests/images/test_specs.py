"""``container:`` in job and app specs: read, checked with paths, written back canonically,
and turned into the tasks' ContainerInfo."""

from __future__ import annotations

import pytest

from frameworks.batch.spec import SpecError as JobSpecError
from frameworks.batch.spec import parse_spec as parse_job
from frameworks.service.spec import SpecError as AppSpecError
from frameworks.service.spec import parse_spec as parse_app
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
