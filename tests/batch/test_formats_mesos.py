"""Metronome and Chronos job definitions read as native job specs (pure)."""

from __future__ import annotations

import json

import pytest

from frameworks.batch.formats import detect, load_job
from frameworks.batch.schedule import due_ticks
from frameworks.batch.spec import SpecError

# The shape of Metronome's v1 example job, with a schedule as its docs give one.
METRONOME = {
    "id": "prod.example.my-job",
    "description": "A job that sleeps",
    "labels": {"location": "olympus", "owner": "zeus"},
    "run": {
        "cmd": "sleep 10",
        "cpus": 1.5,
        "mem": 32,
        "disk": 128,
        "env": {"MON": "test", "CONNECT": "direct"},
        "maxLaunchDelay": 3600,
        "placement": {"constraints": [{"attribute": "rack", "operator": "EQ", "value": "rack-2"}]},
        "restart": {"policy": "ON_FAILURE", "activeDeadlineSeconds": 120},
        "artifacts": [
            {"uri": "http://foo.test.com/application.zip", "extract": True,
             "executable": True, "cache": False}
        ],
    },
    "schedules": [
        {"id": "sleep-nightly", "enabled": True, "cron": "20 0 * * *",
         "concurrencyPolicy": "ALLOW", "startingDeadlineSeconds": 60,
         "timezone": "America/Chicago"}
    ],
}  # fmt: skip

# Chronos's sample job (its API docs), and a dependent job of the same docs' shape.
CHRONOS = {
    "name": "camus_kafka2hdfs",
    "command": "/srv/data-infra/kafka/camus/kafka_hdfs_job.bash",
    "arguments": ["-verbose", "-debug"],
    "shell": False,
    "epsilon": "PT30M",
    "executor": "",
    "executorFlags": "",
    "retries": 2,
    "owner": "bofh@your-company.com",
    "async": False,
    "successCount": 190,
    "errorCount": 3,
    "lastSuccess": "2014-03-08T16:57:17.507Z",
    "lastError": "2014-03-01T00:10:15.957Z",
    "cpus": 1.0,
    "disk": 10240,
    "mem": 1024,
    "disabled": False,
    "fetch": [{"uri": "https://example.com/jobs/camus.jar", "cache": False, "extract": False,
               "executable": False}],
    "schedule": "R/2014-03-08T20:00:00.000Z/PT2H",
    "environmentVariables": [
        {"name": "JVMOPTS", "value": "-Xmx1000m"},
        {"name": "JAVA_LIBRARY_PATH", "value": "/usr/local/lib"},
    ],
}  # fmt: skip
DEPENDENT = {
    "command": "bash -x /srv/data-infra/jobs/hive_query.bash run_hive hostings-earnings-summary",
    "epsilon": "PT30M",
    "name": "hostings_earnings_summary",
    "owner": "bob@airbnb.com",
    "parents": ["db_export-airbed_hostings", "db_export-airbed_reservation2s"],
    "retries": 2,
    "constraints": [["rack", "EQUALS", "rack-1"], ["hostname", "LIKE", "web-[1-3]"]],
}


def load(data: object) -> object:
    return load_job(json.dumps(data))


def refused(data: object) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        load_job(json.dumps(data))
    return dict(caught.value.problems)


def test_a_metronome_job_with_its_schedule() -> None:
    loaded = load_job(json.dumps(METRONOME))
    spec = loaded.spec
    assert spec.name == "prod-example-my-job"
    assert spec.command == "sleep 10"
    assert (spec.cpus, spec.mem, spec.disk) == (1.5, 32.0, 128.0)
    assert spec.env == {"MON": "test", "CONNECT": "direct"}
    assert spec.labels == {"location": "olympus", "owner": "zeus"}
    assert [(c.attribute, c.operator, c.value) for c in spec.constraints] == [
        ("rack", "EQUALS", "rack-2")
    ]
    assert spec.retries.limit == 1000 and spec.timeout == 120.0
    assert spec.fetch[0].uri == "http://foo.test.com/application.zip"
    assert spec.fetch[0].executable and spec.fetch[0].extract and not spec.fetch[0].cache
    s = spec.schedule
    assert s is not None
    assert (s.cron, s.timezone, s.concurrency, s.starting_deadline, s.suspend) == (
        "20 0 * * *", "America/Chicago", "Allow", 60.0, False,
    )  # fmt: skip
    conversion = loaded.conversion
    assert conversion is not None
    assert (
        dict(conversion.changed)["id"]
        == "'prod.example.my-job' is the job 'prod-example-my-job' here ([a-z0-9-] only)"
    )
    assert "run.restart.activeDeadlineSeconds" in dict(conversion.changed)
    assert "run.maxLaunchDelay" in conversion.warning()
    assert "schedules[0].id" in conversion.warning()


def test_metronome_defaults_and_a_disabled_forbid_schedule() -> None:
    job = {"id": "nightly", "run": {"args": ["echo", "hi"], "cpus": 0.1, "mem": 32, "disk": 0},
           "schedules": [{"id": "n", "cron": "@daily", "enabled": False,
                          "concurrencyPolicy": "FORBID"}]}  # fmt: skip
    spec = load_job(json.dumps(job)).spec
    assert spec.command == ("echo", "hi")
    assert spec.retries.limit == 0  # NEVER, the default
    assert spec.schedule is not None
    assert spec.schedule.starting_deadline == 900.0
    assert spec.schedule.suspend and spec.schedule.concurrency == "Forbid"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"docker": {"image": "busybox", "privileged": True}}, "run.docker.privileged",
         "privileged containers are not supported"),
        ({"docker": {"image": "busybox", "parameters": [{"key": "cap-add", "value": "ALL"}]}},
         "run.docker.parameters", "no Docker daemon"),
        ({"ucr": {"image": {"id": "busybox", "kind": "appc"}}}, "run.ucr.image.kind",
         "only docker images"),
        ({"ucr": {"image": {"id": "busybox"}}, "docker": {"image": "busybox"}}, "run.ucr",
         "not both"),
        ({"docker": {"forcePullImage": True}}, "run.docker.image", "is required"),
        ({"user": "root"}, "run.user", "agent's user"),
        ({"env": {"DB": {"secret": "dbpass"}}}, "run.env.DB", "secrets"),
        ({"volumes": [{"containerPath": "/d", "hostPath": "/d", "mode": "RW"}]}, "run.volumes",
         "volumes"),
        ({"args": ["sleep", "1"]}, "run.args", "not both"),
        ({"restart": {"policy": "ALWAYS"}}, "run.restart.policy", "NEVER or ON_FAILURE"),
        ({"placement": {"constraints": [{"attribute": "a", "operator": "GROUP_BY"}]}},
         "run.placement.constraints[0].operator", "EQ, IS, LIKE or UNLIKE"),
        ({"gpus": 1}, "run.gpus", "GPUs"),
    ],
)  # fmt: skip
def test_metronome_fields_that_cannot_apply(
    change: dict[str, object], field: str, words: str
) -> None:
    job = json.loads(json.dumps(METRONOME))
    job["run"].update(change)
    assert words in refused(job)[f"metronome: {field}"]


def test_metronome_docker_and_ucr_images_map_onto_the_native_container() -> None:
    job = json.loads(json.dumps(METRONOME))
    job["run"]["docker"] = {"image": "reg:5000/tools:1", "forcePullImage": True}
    loaded = load_job(json.dumps(job))
    container = loaded.spec.container
    assert container is not None and (container.image, container.force_pull) == (
        "reg:5000/tools:1", True,
    )  # fmt: skip
    assert loaded.spec.command == "sleep 10"  # cmd: the image's /bin/sh -c, as there
    assert loaded.conversion is not None
    assert "no Docker daemon" in dict(loaded.conversion.changed)["run.docker"]
    del job["run"]["docker"], job["run"]["cmd"]
    job["run"]["ucr"] = {"image": {"id": "reg:5000/tools:1", "kind": "docker"}}
    spec = load_job(json.dumps(job)).spec
    assert spec.container is not None and not spec.container.force_pull
    assert spec.command == ""  # neither cmd nor args: the image's Entrypoint/Cmd run
    job["run"]["args"] = ["--once"]
    spec = load_job(json.dumps(job)).spec  # args: after the Entrypoint, in place of Cmd
    assert spec.command == ("--once",) and spec.container is not None
    assert spec.container.entrypoint is None
    del job["run"]["ucr"], job["run"]["args"]
    assert "or an image" in refused(job)["metronome: run.cmd"]


def test_chronos_containers_follow_each_containerizer() -> None:
    docker = {**CHRONOS, "container": {"type": "DOCKER", "image": "reg:5000/camus:2",
                                       "network": "HOST", "forcePullImage": True}}  # fmt: skip
    spec = load_job(json.dumps(docker)).spec  # shell false: [command, *arguments] is Cmd
    assert spec.container is not None and spec.container.force_pull
    assert spec.container.entrypoint is None
    assert spec.command == ("/srv/data-infra/kafka/camus/kafka_hdfs_job.bash", "-verbose", "-debug")
    mesos = {**CHRONOS, "container": {"type": "MESOS", "image": "reg:5000/camus:2"}}
    spec = load_job(json.dumps(mesos)).spec  # the Mesos containerizer: no Entrypoint
    assert spec.container is not None and spec.command == ""
    assert spec.container.entrypoint == (
        "/srv/data-infra/kafka/camus/kafka_hdfs_job.bash", "-verbose", "-debug",
    )  # fmt: skip
    shell = {**mesos, "shell": True, "command": "echo hi"}
    assert load_job(json.dumps(shell)).spec.command == "echo hi"
    bare = {**mesos, "shell": True, "command": ""}
    assert load_job(json.dumps(bare)).spec.command == ""  # the image's Entrypoint/Cmd


def test_a_native_container_is_not_taken_for_chronos() -> None:
    native = {"name": "j", "command": "true", "container": {"image": "reg:5000/a:1"}}
    assert detect(native) == "native"
    assert detect({**native, "container": {"type": "MESOS", "image": "reg:5000/a:1"}}) == "chronos"


def test_metronome_several_schedules_are_refused() -> None:
    job = json.loads(json.dumps(METRONOME))
    job["schedules"].append({"id": "two", "cron": "0 * * * *"})
    assert "one schedule here, not 2" in refused(job)["metronome: schedules"]


def test_chronos_sample_job_maps_onto_an_interval_schedule() -> None:
    loaded = load_job(json.dumps(CHRONOS))
    spec = loaded.spec
    assert spec.name == "camus-kafka2hdfs"
    assert spec.command == ("/srv/data-infra/kafka/camus/kafka_hdfs_job.bash", "-verbose", "-debug")
    assert (spec.cpus, spec.mem, spec.disk) == (1.0, 1024.0, 10240.0)
    assert spec.retries.limit == 2
    assert spec.env == {"JVMOPTS": "-Xmx1000m", "JAVA_LIBRARY_PATH": "/usr/local/lib"}
    assert spec.fetch[0].uri == "https://example.com/jobs/camus.jar"
    s = spec.schedule
    assert s is not None and s.interval is not None
    assert s.interval.repeat is None and s.interval.seconds == 7200
    assert (s.starting_deadline, s.catch_up, s.concurrency) == (1800.0, "latest", "Forbid")
    start = 1394308800.0  # 2014-03-08T20:00:00Z
    assert due_ticks(s, start - 1, start + 4 * 3600) == [start, start + 7200, start + 14400]
    assert loaded.conversion is not None
    warning = loaded.conversion.warning()
    assert "owner (no failure mails are sent)" in warning and "successCount" in warning


def test_chronos_repeat_count_time_zone_and_disabled() -> None:
    job = {"name": "tz", "command": "date", "schedule": "R5/2027-01-15T08:00:00Z/P1D",
           "scheduleTimeZone": "Europe/Berlin", "disabled": True, "concurrent": True}  # fmt: skip
    loaded = load_job(json.dumps(job))
    s = loaded.spec.schedule
    assert s is not None and s.interval is not None
    assert s.interval.text == "R5/2027-01-15T08:00:00/P1D" and s.timezone == "Europe/Berlin"
    assert s.suspend and s.concurrency == "Allow"
    assert loaded.spec.command == "date" and loaded.spec.retries.limit == 2
    assert loaded.conversion is not None
    assert (
        "read as 2027-01-15T08:00:00 in Europe/Berlin"
        in dict(loaded.conversion.changed)["scheduleTimeZone"]
    )
    assert len(due_ticks(s, 0, 2e9)) == 5


def test_a_chronos_dependent_job_becomes_a_dag_child() -> None:
    spec = load_job(json.dumps(DEPENDENT)).spec
    assert spec.parents == ("db-export-airbed-hostings", "db-export-airbed-reservation2s")
    assert spec.schedule is None
    assert [(c.attribute, c.operator, c.value) for c in spec.constraints] == [
        ("rack", "EQUALS", "rack-1"), ("hostname", "LIKE", "web-[1-3]"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"async": True}, "async", "asynchronous jobs"),
        ({"container": {"image": "libmesos/ubuntu", "network": "BRIDGE"}}, "container.network",
         "agent's network"),
        ({"container": {"image": "u", "volumes": [{"containerPath": "/d", "mode": "RW"}]}},
         "container.volumes", "volumes are not supported"),
        ({"container": {"image": "u", "parameters": [{"key": "a", "value": "b"}]}},
         "container.parameters", "no Docker daemon"),
        ({"container": {"type": "APPC", "image": "u"}}, "container.type", "DOCKER or MESOS"),
        ({"runAsUser": "nobody"}, "runAsUser", "agent's user"),
        ({"schedule": "R//PT2H"}, "schedule", "empty start"),
        ({"parents": ["a"]}, "parents", "not both"),
        ({"epsilon": "soon"}, "epsilon", "ISO 8601 duration"),
        ({"constraints": [["rack", "GROUP_BY"]]}, "constraints[0][1]", "EQUALS, LIKE, UNLIKE"),
        ({"executor": "/usr/bin/my-executor"}, "executor", "custom executors"),
        ({"colour": "blue"}, "colour", "unknown field"),
    ],
)  # fmt: skip
def test_chronos_fields_that_cannot_apply(
    change: dict[str, object], field: str, words: str
) -> None:
    job = {**CHRONOS, **change}
    assert words in refused(job)[f"chronos: {field}"]


def test_a_bad_chronos_schedule_is_named_as_its_native_field() -> None:
    problems = refused({**CHRONOS, "schedule": "R0/2014-03-08T20:00:00Z/PT2H"})
    assert "R0 never runs" in problems["chronos (as the native schedule.interval)"]


def test_detection_tells_the_formats_apart_by_shape() -> None:
    assert detect(METRONOME) == "metronome"
    assert detect(CHRONOS) == "chronos"
    assert detect(DEPENDENT) == "chronos"
    assert detect({"name": "a", "command": "true", "parents": ["b"]}) == "native"
    assert detect({"name": "a", "command": "true", "schedule": "@daily"}) == "native"
