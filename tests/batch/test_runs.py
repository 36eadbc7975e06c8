"""The run state machine, with plain data and an injected clock."""

from __future__ import annotations

from frameworks.batch.runs import Kill, Run, parse_task_id, task_id
from frameworks.batch.spec import FailureRule, JobSpec, Retries

SPEC = JobSpec(
    name="job",
    command="true",
    instances=3,
    parallelism=2,
    retries=Retries(limit=2, backoff=10.0, max_backoff=15.0),
    failure_policy=(FailureRule((2,), "ignore"), FailureRule((42,), "fail")),
    timeout=100.0,
)


def launch_all(run: Run, now: float) -> list[str]:
    return [run.launching(i, "agent-1", now) for i in run.launchable(now)]


def test_task_ids_are_derived_and_parsed_back() -> None:
    assert task_id("job", "s20260101T000000Z", 3, 1) == "job.s20260101T000000Z.3.1"
    assert parse_task_id("job.s20260101T000000Z.3.1") == ("job", "s20260101T000000Z", 3, 1)
    assert parse_task_id("someone-else") is None
    assert parse_task_id("a.b.c.d") is None


def test_parallelism_bounds_what_is_launched_and_success_needs_every_instance() -> None:
    run = Run.new(SPEC, "r1", "manual", now=0.0)
    assert run.state == "PENDING"
    assert launch_all(run, 1.0) == ["job.r1.0.0", "job.r1.1.0"]
    assert run.state == "RUNNING"
    assert run.launchable(1.0) == []  # two active: parallelism 2
    run.task_update(SPEC, 0, 0, "TASK_RUNNING", 2.0)
    run.task_update(SPEC, 0, 0, "TASK_FINISHED", 3.0, exit_code=0)
    assert [i.index for i in run.launchable(3.0)] == [2]
    launch_all(run, 3.0)
    run.task_update(SPEC, 1, 0, "TASK_FINISHED", 4.0, exit_code=0)
    assert run.state == "RUNNING"
    run.task_update(SPEC, 2, 0, "TASK_FINISHED", 5.0, exit_code=0)
    assert (run.state, run.finished, run.exit_code) == ("SUCCEEDED", 5.0, 0)


def test_a_failure_is_retried_after_an_exponential_backoff_then_fails_the_run() -> None:
    run = Run.new(SPEC, "r1", "manual", now=0.0)
    launch_all(run, 0.0)
    run.task_update(SPEC, 0, 0, "TASK_FAILED", 1.0, exit_code=1)
    first = run.instances[0]
    assert (first.state, first.attempt, first.failures, first.not_before) == (
        "WAITING", 1, 1, 11.0,
    )  # fmt: skip
    assert [i.index for i in run.launchable(5.0)] == [2]  # 0 backs off; 2 may take its slot
    assert run.next_retry() == 11.0
    assert [i.index for i in run.launchable(11.0)] == [0]
    assert run.launching(first, "agent-2", 11.0) == "job.r1.0.1"
    run.task_update(SPEC, 0, 1, "TASK_FAILED", 12.0, exit_code=1)
    assert (first.attempt, first.not_before) == (2, 12.0 + 15.0)  # 20 s capped at 15
    run.launching(first, "agent-2", 30.0)
    kills = run.task_update(SPEC, 0, 2, "TASK_FAILED", 31.0, exit_code=1)
    assert run.state == "FAILED"
    assert "no retries left" in run.message
    assert run.exit_code == 1
    # The other active instance is killed; the waiting one never starts.
    assert kills == [Kill("job.r1.1.0", "agent-1")]
    assert [i.state for i in run.instances] == ["FAILED", "CANCELLED", "CANCELLED"]


def test_the_failure_policy_can_ignore_or_fail_at_once() -> None:
    run = Run.new(SPEC, "r1", "manual", now=0.0)
    launch_all(run, 0.0)
    run.task_update(SPEC, 0, 0, "TASK_FAILED", 1.0, exit_code=2)
    assert run.instances[0].state == "SUCCEEDED"
    assert "ignored" in run.instances[0].message
    run.task_update(SPEC, 1, 0, "TASK_FAILED", 1.0, exit_code=42)
    assert run.state == "FAILED"
    assert run.instances[1].failures == 1  # no retry although retries are left
    assert "failure policy" in run.message


def test_a_task_the_master_never_saw_is_launched_again_as_a_new_attempt() -> None:
    run = Run.new(SPEC, "r1", "manual", now=0.0)
    launch_all(run, 0.0)
    run.task_update(SPEC, 0, 0, "TASK_UNKNOWN", 1.0)
    instance = run.instances[0]
    assert (instance.state, instance.attempt, instance.failures) == ("WAITING", 1, 0)
    assert run.launching(instance, "agent-1", 1.0) == "job.r1.0.1"  # never the same id


def test_updates_of_old_attempts_are_killed_or_ignored() -> None:
    run = Run.new(SPEC, "r1", "manual", now=0.0)
    launch_all(run, 0.0)
    run.task_update(SPEC, 0, 0, "TASK_UNKNOWN", 1.0)
    run.launching(run.instances[0], "agent-1", 2.0)
    # Attempt 0 shows up after all (e.g. its agent came back): it must not run twice.
    assert run.task_update(SPEC, 0, 0, "TASK_RUNNING", 3.0, agent_id="agent-9") == [
        Kill("job.r1.0.0", "agent-9")
    ]
    assert run.task_update(SPEC, 0, 0, "TASK_FINISHED", 4.0) == []
    assert run.instances[0].state == "LAUNCHING"  # attempt 1 decides


def test_unreachable_keeps_the_attempt() -> None:
    run = Run.new(SPEC, "r1", "manual", now=0.0)
    launch_all(run, 0.0)
    run.task_update(SPEC, 0, 0, "TASK_UNREACHABLE", 1.0)
    assert run.instances[0].state == "LAUNCHING"
    run.task_update(SPEC, 0, 0, "TASK_RUNNING", 2.0)
    assert run.instances[0].state == "RUNNING"


def test_timeout_ends_the_run_and_kills_its_tasks() -> None:
    run = Run.new(SPEC, "r1", "manual", now=0.0)
    launch_all(run, 10.0)
    assert run.check_timeout(SPEC.timeout, 109.0) == []
    kills = run.check_timeout(SPEC.timeout, 110.0)
    assert run.state == "TIMED_OUT"
    assert {k.task_id for k in kills} == {"job.r1.0.0", "job.r1.1.0"}
    assert run.check_timeout(SPEC.timeout, 200.0) == []  # once


def test_cancel_and_skip() -> None:
    run = Run.new(SPEC, "r1", "manual", now=0.0)
    launch_all(run, 0.0)
    assert len(run.cancel(5.0, "cancelled by a user")) == 2
    assert (run.state, run.message) == ("CANCELLED", "cancelled by a user")
    assert run.cancel(6.0) == []
    skipped = Run.new(SPEC, "r2", "schedule", now=0.0, scheduled_time=0.0)
    skipped.skip(1.0, "Forbid")
    assert skipped.state == "SKIPPED"
    assert skipped.launchable(2.0) == []


def test_a_run_survives_storage() -> None:
    run = Run.new(SPEC, "r1", "schedule", now=0.0, scheduled_time=60.0, params={"K": "V"})
    launch_all(run, 0.0)
    run.task_update(SPEC, 0, 0, "TASK_FAILED", 1.0, exit_code=1)
    assert Run.from_dict(run.to_dict()) == run
