"""Jobs end to end on a real cluster: master, agents and the batch framework processes."""

from __future__ import annotations

import itertools
from pathlib import Path

import grpc
import pytest

from frameworks.batch.v1 import batch_pb2 as bpb
from mesospy.testing import LocalCluster

from .support import BatchApi, eventually


def max_concurrency(events_file: Path) -> int:
    """The most tasks that were between their '+' and '-' lines at once."""
    events = []
    for line in events_file.read_text().split():
        sign, stamp = line[0], int(line[1:])
        events.append((stamp, 1 if sign == "+" else -1))
    running = peak = 0
    for _, change in sorted(events, key=lambda e: (e[0], e[1])):
        running += change
        peak = max(peak, running)
    return peak


def test_fifty_instances_ten_at_a_time(api: BatchApi, tmp_path: Path) -> None:
    log = tmp_path / "events"
    job = api.submit(
        f"""
name: fifty
command: echo "+$(date +%s%N)" >> {log}; sleep 0.3; echo "-$(date +%s%N)" >> {log}
instances: 50
parallelism: 10
resources: {{cpus: 0.05, mem: 8}}
"""
    )
    assert job.last_run.trigger == "manual"  # no schedule, no parents: it runs at once
    run = api.wait_run("fifty", job.last_run.id, timeout=90)
    assert run.state == "SUCCEEDED", run.message
    assert [i.state for i in run.instances] == ["SUCCEEDED"] * 50
    assert len(log.read_text().split()) == 100
    assert 1 < max_concurrency(log) <= 10


def test_retries_then_success_and_the_failure_policy(api: BatchApi) -> None:
    api.submit(
        """
name: flaky
command: '[ "$MESOSPY_ATTEMPT" -ge 2 ]'
retries: {limit: 3, backoff: 0.2s}
"""
    )
    api.submit(
        """
name: broken
command: exit 42
retries: {limit: 3, backoff: 0.2s}
failure_policy: [{exit_codes: [42], action: fail}, {exit_codes: [3], action: ignore}]
"""
    )
    api.submit(
        """
name: tolerated
command: exit 3
failure_policy: [{exit_codes: [3], action: ignore}]
"""
    )
    flaky = api.wait_run("flaky", "")
    assert flaky.state == "SUCCEEDED"
    assert (flaky.instances[0].attempt, flaky.instances[0].failures) == (2, 2)
    broken = api.wait_run("broken", "")
    assert broken.state == "FAILED"
    assert broken.exit_code == 42
    assert (broken.instances[0].attempt, broken.instances[0].failures) == (0, 1)
    assert "failure policy" in broken.message
    tolerated = api.wait_run("tolerated", "")
    assert tolerated.state == "SUCCEEDED"
    assert tolerated.instances[0].exit_code == 3


def test_a_timeout_kills_the_run(api: BatchApi, cluster: LocalCluster) -> None:
    job = api.submit("name: slow\ncommand: sleep 120\ninstances: 2\ntimeout: 1s\n")
    run = api.wait_run("slow", job.last_run.id)
    assert run.state == "TIMED_OUT"
    task_ids = {i.task_id for i in run.instances}

    def killed() -> bool:
        tasks = {t.task_id: t for t in cluster.state().tasks}
        return not task_ids & set(tasks)  # no longer active at the master

    eventually(killed, 30, "the timed-out run's tasks to be killed")


def test_a_child_runs_once_after_each_success_of_all_its_parents(api: BatchApi) -> None:
    api.submit("name: extract\ncommand: sleep 0.5\n", no_run=True)
    api.submit("name: load\ncommand: sleep 1\n", no_run=True)
    api.submit("name: report\ncommand: echo $FROM\nparents: [extract, load]\n")
    assert api.runs("report") == []
    first = api.run("extract", FROM="x")
    assert api.wait_run("extract", first.id).state == "SUCCEEDED"
    assert api.runs("report") == []  # load has not run yet
    second = api.run("load")
    loaded = api.wait_run("load", second.id)
    report_runs = eventually(lambda: api.runs("report"), 30, "the child run")
    assert len(report_runs) == 1
    report = api.wait_run("report", report_runs[0].id)
    assert report.state == "SUCCEEDED"
    assert report.trigger == "parents"
    assert report.started >= loaded.finished
    # A failed parent run starts nothing.
    api.submit("name: extract\ncommand: exit 1\n", no_run=True)
    api.run("load")
    failed = api.run("extract")
    assert api.wait_run("extract", failed.id).state == "FAILED"
    assert len(api.runs("report")) == 1


def test_cycles_and_unknown_parents_are_refused(api: BatchApi) -> None:
    api.submit("name: p1\ncommand: 'true'\n", no_run=True)
    api.submit("name: p2\ncommand: 'true'\nparents: [p1]\n", no_run=True)
    with pytest.raises(grpc.RpcError) as caught:
        api.submit("name: p1\ncommand: 'true'\nparents: [p2]\n")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cycle" in str(caught.value.details())
    with pytest.raises(grpc.RpcError) as caught:
        api.submit("name: p3\ncommand: 'true'\nparents: [nobody]\n")
    assert "parents[0]: no job named 'nobody'" in str(caught.value.details())
    with pytest.raises(grpc.RpcError) as caught:
        api.delete("p1")
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert api.job("p1").parents == []  # nothing was changed


def test_forbid_skips_ticks_while_a_run_is_active(api: BatchApi) -> None:
    api.submit(
        "name: forbid\ncommand: sleep 3\n"
        "schedule: {cron: '*/1 * * * * *', seconds: true, concurrency: Forbid, catch_up: all}\n"
    )
    eventually(lambda: any(r.state == "SKIPPED" for r in api.runs("forbid")), 30, "a skip")
    eventually(lambda: sum(r.state == "SUCCEEDED" for r in api.runs("forbid")), 30, "a success")
    api.stub.SetSuspended(bpb.SetSuspendedRequest(name="forbid", suspended=True), timeout=15)
    runs = api.runs("forbid")
    started = [r for r in runs if r.state != "SKIPPED"]
    # Never two runs at once: each started run began after the previous one ended.
    for before, after in itertools.pairwise(started):
        assert after.created >= before.finished > 0
    skipped = [r for r in runs if r.state == "SKIPPED"]
    assert all("Forbid" in r.message for r in skipped)


def test_replace_cancels_the_active_run(api: BatchApi, cluster: LocalCluster) -> None:
    api.submit(
        "name: replace\ncommand: sleep 60\n"
        "schedule: {cron: '*/2 * * * * *', seconds: true, concurrency: Replace, catch_up: all}\n"
    )
    eventually(
        lambda: any(r.state == "CANCELLED" for r in api.runs("replace")), 30, "a replaced run"
    )
    api.stub.SetSuspended(bpb.SetSuspendedRequest(name="replace", suspended=True), timeout=15)
    runs = api.runs("replace")
    replaced = [r for r in runs if r.state == "CANCELLED"]
    assert all("replaced by run" in r.message for r in replaced)
    assert sum(not r.finished for r in runs) <= 1
    api.delete("replace")  # its last run is cancelled with it

    def gone() -> bool:
        return not any(t.task_id.startswith("replace.") for t in cluster.state().tasks)

    eventually(gone, 30, "the deleted job's tasks to be killed")


def test_constraints_and_ports_reach_the_tasks(api: BatchApi, tmp_path: Path) -> None:
    nowhere = api.submit(
        "name: nowhere\ncommand: 'true'\n"
        "constraints: [{attribute: hostname, operator: EQUALS, value: no-such-host}]\n"
    )
    out = tmp_path / "ports"
    job = api.submit(
        f"""
name: placed
command: echo "$MESOSPY_INSTANCE $PORT0 $PORT1" >> {out}; sleep 1
instances: 2
resources: {{cpus: 0.1, mem: 16, ports: 2}}
constraints: [{{attribute: agent_id, operator: UNIQUE}}]
"""
    )
    run = api.wait_run("placed", job.last_run.id)
    assert run.state == "SUCCEEDED", run.message
    assert len({i.agent_id for i in run.instances}) == 2  # one instance per agent
    lines = out.read_text().splitlines()
    assert len(lines) == 2
    for line in lines:
        _, *ports = line.split()
        assert len(ports) == 2 and all(31000 <= int(p) <= 31999 for p in ports)
    # Offers came and went meanwhile; none matched the other job's constraint.
    assert api.get_run("nowhere", nowhere.last_run.id).state == "PENDING"
    api.stub.CancelRun(bpb.CancelRunRequest(name="nowhere"), timeout=15)
    assert api.get_run("nowhere", nowhere.last_run.id).state == "CANCELLED"
