"""Jobs of several containers (task groups with a lifecycle) end to end on a real cluster."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from frameworks.batch.v1 import batch_pb2 as bpb
from mesospy.testing import LocalCluster
from mesospy.testing.registry import Registry, busybox_image

from .support import BatchApi, eventually, mesospy

SHARED = '"$MESOS_SANDBOX/../../prestart-ran"'  # the group's sandbox parent


def sidecar_ended(api: BatchApi, job: str, run_id: str, name: str) -> bpb.Run:
    """The run once ``name``'s last update (after the run's end) is in its history."""

    def ended() -> bpb.Run | None:
        run = api.get_run(job, run_id)
        return run if results(run)[name][0] != "TASK_RUNNING" else None

    return eventually(ended, what=f"{name}'s end")


def results(run: bpb.Run) -> dict[str, tuple[str, int | None, str]]:
    instance = run.instances[0]
    return {
        c.name: (c.state, c.exit_code if c.HasField("exit_code") else None, c.message)
        for c in instance.containers
    }


def test_prestart_then_main_with_a_sidecar_killed_at_the_end(
    api: BatchApi, cluster: LocalCluster
) -> None:
    job = api.submit(
        f"""
name: pod-ok
containers:
  - {{name: work, command: 'test -f {SHARED}', resources: {{cpus: 0.1, mem: 16}}}}
  - name: init
    command: 'sleep 0.2; touch {SHARED}; echo init-done'
    resources: {{cpus: 0.1, mem: 16}}
    lifecycle: {{hook: prestart}}
  - name: proxy
    command: 'sleep 600'
    resources: {{cpus: 0.1, mem: 16}}
    lifecycle: {{hook: prestart, sidecar: true}}
"""
    )
    run = api.wait_run("pod-ok", job.last_run.id)
    assert run.state == "SUCCEEDED", run.message
    assert run.exit_code == 0
    by_name = results(sidecar_ended(api, "pod-ok", run.id, "proxy"))
    assert by_name["init"][:2] == ("TASK_FINISHED", 0)
    assert by_name["work"][:2] == ("TASK_FINISHED", 0)
    assert by_name["proxy"][0] == "TASK_KILLED"
    assert "main tasks have ended" in by_name["proxy"][2]
    shown = mesospy(cluster, "job", "runs", "pod-ok")
    assert shown.returncode == 0, shown.stderr
    rows = [line.split() for line in shown.stdout.splitlines()]
    assert [run.id, "0", "proxy", "KILLED", "-"] in [r[:5] for r in rows]
    logs = mesospy(cluster, "job", "logs", "pod-ok", "--container", "init")
    assert logs.returncode == 0 and logs.stdout == "init-done\n", logs.stderr
    every = mesospy(cluster, "job", "logs", "pod-ok")
    assert "init-done" in every.stdout and every.stdout.count("==> instance 0") == 3
    wrong = mesospy(cluster, "job", "logs", "pod-ok", "--container", "nope")
    assert wrong.returncode != 0 and "no container 'nope'" in wrong.stderr


def test_a_failing_prestart_fails_the_run_and_main_never_starts(api: BatchApi) -> None:
    job = api.submit(
        """
name: pod-bad-init
containers:
  - {name: work, command: 'touch /nonexistent-dir/never', resources: {cpus: 0.1, mem: 16}}
  - {name: init, command: 'exit 3', lifecycle: {hook: prestart}, resources: {mem: 16}}
"""
    )
    run = api.wait_run("pod-bad-init", job.last_run.id)
    assert run.state == "FAILED"
    assert run.exit_code == 3
    assert "container 'init'" in run.message
    by_name = results(run)
    assert by_name["init"][:2] == ("TASK_FAILED", 3)
    assert by_name["work"][0] == "TASK_KILLED" and "never started" in by_name["work"][2]


def test_bad_groups_are_refused_with_one_line_and_change_nothing(
    api: BatchApi, cluster: LocalCluster, tmp_path: Path
) -> None:
    spec = """
name: pod-dup
containers:
  - {name: a, command: 'true'}
  - {name: a, command: 'true'}
"""
    with pytest.raises(grpc.RpcError) as caught:
        api.submit(spec)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "containers[1].name: 'a' is used twice" in str(caught.value.details())
    spec_file = tmp_path / "pod-side.yaml"
    spec_file.write_text(
        """
name: pod-side
containers:
  - {name: s, command: 'sleep 9', lifecycle: {hook: prestart, sidecar: true}}
  - {name: t, command: 'true', lifecycle: {hook: poststart}}
"""
    )
    shown = mesospy(cluster, "job", "submit", str(spec_file))
    assert shown.returncode != 0
    assert "no main container" in shown.stderr and "Traceback" not in shown.stderr
    listed = mesospy(cluster, "job", "list")
    assert "pod-dup" not in listed.stdout and "pod-side" not in listed.stdout


def test_a_container_of_a_group_runs_in_its_image(api: BatchApi, tmp_path: Path) -> None:
    with Registry(tmp_path / "registry") as registry:
        registry.push("mesospy/busybox", "1", busybox_image(os_id="pod-image"))
        job = api.submit(
            f"""
name: pod-image
containers:
  - name: work
    command: 'cd $MESOS_SANDBOX; cat /etc/os-release > os; echo "pid=$$ $MESOS_SANDBOX" >> os'
    image: {registry.host}/mesospy/busybox:1
    resources: {{cpus: 0.1, mem: 32}}
  - {{name: helper, command: 'sleep 600', lifecycle: {{hook: poststart, sidecar: true}}}}
"""
        )
        run = api.wait_run("pod-image", job.last_run.id, timeout=60)
        missing = api.submit(
            f"""
name: pod-no-image
containers:
  - {{name: work, command: 'true', image: '{registry.host}/mesospy/nothing:1'}}
  - {{name: helper, command: 'sleep 600', lifecycle: {{hook: poststart, sidecar: true}}}}
"""
        )
        failed = api.wait_run("pod-no-image", missing.last_run.id, timeout=60)
    # A group one of whose images cannot be had does not start at all.
    assert failed.state == "FAILED"
    assert "the group could not start" in failed.message and "nothing" in failed.message
    assert {r[0] for r in results(failed).values()} == {"TASK_FAILED"}
    assert run.state == "SUCCEEDED", run.message
    assert results(sidecar_ended(api, "pod-image", run.id, "helper"))["helper"][0] == "TASK_KILLED"
    assert api.cluster.work_dir is not None
    (written,) = api.cluster.work_dir.glob(
        "agent-*/frameworks/*/executors/pod-image.*/tasks/pod-image.*.work/os"
    )
    text = written.read_text()
    assert "ID=pod-image" in text and "pid=1 /mnt/mesos/sandbox" in text
    work_dir = api.cluster.work_dir
    eventually(
        lambda: not any(work_dir.glob("agent-*/containers/[0-9a-f]*/root")),
        what="the containers' roots to be removed",
    )
