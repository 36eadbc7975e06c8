"""Foreign job definitions submitted with ``mesospy job submit`` to a real cluster."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import grpc
import pytest

from frameworks.batch.v1 import batch_pb2 as bpb
from mesospy.testing import LocalCluster

from .support import BatchApi, eventually, mesospy

INDEXED_JOB = """
apiVersion: batch/v1
kind: Job
metadata:
  name: k8s-indexed
  namespace: default
spec:
  completions: 4
  parallelism: 2
  completionMode: Indexed
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: worker
        command: ["sh", "-c"]
        args: ["echo index=$JOB_COMPLETION_INDEX of $(TOTAL)"]
        env: [{name: TOTAL, value: "4"}]
        resources:
          requests: {cpu: 100m, memory: 32Mi}
"""


def test_a_kubernetes_indexed_job_runs_each_completion_index_once(
    cluster: LocalCluster, api: BatchApi, tmp_path: Path
) -> None:
    path = tmp_path / "indexed.yaml"
    path.write_text(INDEXED_JOB)
    submitted = mesospy(cluster, "job", "submit", str(path), "--wait")
    assert submitted.returncode == 0, submitted.stderr
    assert "SUCCEEDED (4/4 done)" in submitted.stdout
    assert "warning: kubernetes fields with no effect here: metadata.namespace" in (
        submitted.stderr
    )
    run = api.get_run("k8s-indexed")
    assert sorted(i.index for i in run.instances) == [0, 1, 2, 3]
    logs = mesospy(cluster, "job", "logs", "k8s-indexed")
    assert logs.returncode == 0, logs.stderr
    lines = sorted(line for line in logs.stdout.splitlines() if line.startswith("index="))
    assert lines == [f"index={n} of 4" for n in range(4)]


def test_a_refused_kubernetes_field_submits_nothing(
    cluster: LocalCluster, api: BatchApi, tmp_path: Path
) -> None:
    path = tmp_path / "image.yaml"
    path.write_text(
        INDEXED_JOB.replace("k8s-indexed", "k8s-image")
        .replace("      - name: worker\n", "      - name: worker\n        image: busybox:1.36\n")
        .replace(
            "      containers:\n", "      imagePullSecrets: [{name: reg}]\n      containers:\n"
        )
    )
    result = mesospy(cluster, "job", "submit", str(path))
    assert result.returncode == 1
    assert (
        "kubernetes: spec.template.spec.imagePullSecrets: registry credentials are not "
        "supported yet" in result.stderr
    )
    assert "Traceback" not in result.stderr
    listed = api.stub.ListJobs(bpb.ListJobsRequest(), timeout=15)
    assert "k8s-image" not in [j.name for j in listed.jobs]


CRONJOB = """
apiVersion: batch/v1
kind: CronJob
metadata: {name: k8s-cron}
spec:
  schedule: "@hourly"
  timeZone: Europe/Berlin
  concurrencyPolicy: Replace
  suspend: true
  failedJobsHistoryLimit: 0
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: c, command: ["true"]}]
"""


def test_the_api_takes_a_cronjob_manifest_as_it_is(api: BatchApi) -> None:
    job = api.submit(CRONJOB)
    assert job.schedule == "@hourly (Europe/Berlin)"
    assert job.suspended
    spec = json.loads(job.spec_json)
    assert spec["history"] == {"succeeded": 3, "failed": 0}
    assert spec["schedule"]["concurrency"] == "Replace"
    assert spec["retries"] == {"limit": 6, "per": "run", "backoff": 10.0, "max_backoff": 360.0}
    with pytest.raises(grpc.RpcError) as caught:
        api.submit(CRONJOB.replace("k8s-cron", "k8s-cron2").replace("OnFailure", "Always"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "kubernetes: spec.jobTemplate.spec.template.spec.restartPolicy" in str(
        caught.value.details()
    )


METRONOME_JOB = {
    "id": "prod.metronome-hello",
    "description": "says hello",
    "labels": {"team": "ops"},
    "run": {
        "cmd": "echo hello from $MON",
        "cpus": 0.1,
        "mem": 32,
        "disk": 0,
        "env": {"MON": "metronome"},
        "maxLaunchDelay": 3600,
        "restart": {"policy": "NEVER"},
    },
}


def test_a_metronome_job_runs_through_the_cli(cluster: LocalCluster, tmp_path: Path) -> None:
    path = tmp_path / "metronome.json"
    path.write_text(json.dumps(METRONOME_JOB))
    submitted = mesospy(cluster, "job", "submit", str(path), "--wait")
    assert submitted.returncode == 0, submitted.stderr
    assert "job prod-metronome-hello submitted" in submitted.stdout
    assert "SUCCEEDED (1/1 done)" in submitted.stdout
    assert "changed: metronome id:" in submitted.stderr
    logs = mesospy(cluster, "job", "logs", "prod-metronome-hello")
    assert logs.stdout == "hello from metronome\n"


def test_a_chronos_interval_job_runs_its_repetitions_and_then_its_child(api: BatchApi) -> None:
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=5)
    parent = {
        "name": "chronos_tick",
        "command": "echo tick $MESOSPY_SCHEDULED_TIME",
        "schedule": f"R3/{start.isoformat().replace('+00:00', 'Z')}/PT2S",
        "epsilon": "PT60S",
        "owner": "ops@example.com",
        "cpus": 0.1,
        "mem": 32,
        "disk": 0,
    }
    child = {
        "name": "chronos_after",
        "command": "echo after",
        "parents": ["chronos_tick"],
        "retries": 0,
        "mem": 32,
        "disk": 0,
    }
    # Through the API (which converts as the CLI does), fast enough to be in before the
    # first tick: a tick before a job exists is not its to run.
    assert api.submit(json.dumps(parent)).schedule.startswith("R3/")
    assert api.submit(json.dumps(child)).parents == ["chronos-tick"]
    assert time.time() < start.timestamp(), "too slow to submit before the first tick"

    def three_succeeded() -> list[bpb.Run] | None:
        runs = [r for r in api.runs("chronos-tick") if r.state == "SUCCEEDED"]
        return runs if len(runs) == 3 else None

    runs = eventually(three_succeeded, 60, "three runs of chronos-tick")
    ticks = [r.scheduled_time for r in runs]
    first = start.timestamp()
    assert ticks == [first, first + 2, first + 4]
    assert api.job("chronos-tick").next_tick == 0  # R3: no further run
    children = eventually(
        lambda: [r for r in api.runs("chronos-after") if r.state == "SUCCEEDED"],
        60,
        "a run of chronos-after",
    )
    assert children[0].trigger == "parents"
