"""``mesospy job ...`` as a user runs it, against a real cluster and batch framework."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mesospy.testing import LocalCluster

from .support import BatchApi, mesospy


def test_submit_wait_runs_and_logs(cluster: LocalCluster, tmp_path: Path) -> None:
    spec = tmp_path / "hello.yaml"
    spec.write_text(
        "name: cli-hello\ncommand: echo hello from $MESOSPY_INSTANCE $GREETING\n"
        "instances: 3\nparallelism: 2\nenv: {GREETING: there}\n"
    )
    submitted = mesospy(cluster, "job", "submit", str(spec), "--wait")
    assert submitted.returncode == 0, submitted.stderr
    assert "job cli-hello submitted" in submitted.stdout
    assert "SUCCEEDED (3/3 done)" in submitted.stdout
    logs = mesospy(cluster, "job", "logs", "cli-hello")
    assert logs.returncode == 0, logs.stderr
    for index in range(3):
        assert f"hello from {index} there" in logs.stdout
    one = mesospy(cluster, "job", "logs", "cli-hello", "--instance", "1")
    assert one.stdout == "hello from 1 there\n"
    listed = mesospy(cluster, "job", "list")
    assert "cli-hello" in listed.stdout and "SUCCEEDED" in listed.stdout
    runs = json.loads(mesospy(cluster, "job", "runs", "cli-hello", "--json").stdout)
    assert [r["state"] for r in runs["runs"]] == ["SUCCEEDED"]
    shown = json.loads(mesospy(cluster, "job", "show", "cli-hello", "--json").stdout)
    assert shown["spec"]["instances"] == 3


def test_a_bad_spec_prints_every_problem_and_stores_nothing(
    cluster: LocalCluster, api: BatchApi, tmp_path: Path
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: cli-bad\ncommand: 'true'\ninstances: 0\nschedule: {cron: nope}\n")
    result = mesospy(cluster, "job", "submit", str(spec))
    assert result.returncode == 1
    assert "instances: must be between 1 and 1000" in result.stderr
    assert "schedule.cron:" in result.stderr
    assert "Traceback" not in result.stderr
    shown = mesospy(cluster, "job", "show", "cli-bad")
    assert shown.returncode == 1
    assert shown.stderr.strip() == "mesospy: error: no job named 'cli-bad'"


def test_run_with_parameters_cancel_suspend_resume_delete(cluster: LocalCluster) -> None:
    spec = "name: cli-ops\ncommand: echo day=$DAY; sleep 60\nschedule: '0 3 * * *'\n"
    submitted = mesospy(cluster, "job", "submit", "-")
    assert submitted.returncode == 1  # nothing on stdin
    path = Path(cluster.work_dir or ".") / "ops.yaml"
    path.write_text(spec)
    assert mesospy(cluster, "job", "submit", str(path)).returncode == 0
    started = mesospy(cluster, "job", "run", "cli-ops", "-p", "DAY=2026-03-01", "--json")
    assert started.returncode == 0, started.stderr
    run = json.loads(started.stdout)
    assert run["params"] == {"DAY": "2026-03-01"}
    follow = subprocess.Popen(
        [sys.executable, "-m", "mesospy", "job", "logs", "cli-ops", run["id"], "--follow"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "MESOSPY_MASTER": cluster.master_address},
    )
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline() == "day=2026-03-01\n"
        cancelled = mesospy(cluster, "job", "cancel", "cli-ops")
        assert cancelled.returncode == 0, cancelled.stderr
        assert "CANCELLED" in cancelled.stdout
        assert follow.wait(60) == 0  # --follow ends once the killed task has ended
    finally:
        follow.kill()
    assert "suspended" in mesospy(cluster, "job", "suspend", "cli-ops").stdout
    assert "suspended" in mesospy(cluster, "job", "list").stdout
    assert "resumed; next run" in mesospy(cluster, "job", "resume", "cli-ops").stdout
    bad = mesospy(cluster, "job", "run", "cli-ops", "-p", "oops")
    assert bad.returncode != 0 and "KEY=VALUE" in bad.stderr
    assert mesospy(cluster, "job", "delete", "cli-ops").returncode == 0
    assert "cli-ops" not in mesospy(cluster, "job", "list").stdout


def test_without_a_batch_framework_the_cli_says_so(cluster: LocalCluster) -> None:
    result = mesospy(cluster, "job", "list", "--batch", "127.0.0.1:1")
    assert result.returncode == 1
    assert result.stderr.startswith("mesospy: error: cannot reach the batch framework")


def test_wait_says_why_instances_wait_and_fail(cluster: LocalCluster, tmp_path: Path) -> None:
    """`--wait` shows the reason an instance is unplaced and each failed attempt's message,
    and its timeout names what is still in the way."""
    big = tmp_path / "big.yaml"
    big.write_text("name: cli-too-big\ncommand: 'true'\nresources: {cpus: 64, mem: 32}\n")
    waited = mesospy(cluster, "job", "submit", str(big), "--wait", "--timeout", "10")
    assert waited.returncode == 1
    assert "instance 0 (attempt 1) WAITING: no offer fits" in waited.stdout, waited.stdout
    assert "lacked cpus 64 (at most" in waited.stdout
    last = waited.stderr.strip().splitlines()[-1]
    assert "did not end within 10s (it goes on): no offer fits" in last, waited.stderr
    assert mesospy(cluster, "job", "cancel", "cli-too-big").returncode == 0

    flaky = tmp_path / "flaky.yaml"
    flaky.write_text(
        "name: cli-flaky\ncommand: 'echo broken >&2; exit 3'\nresources: {cpus: 0.1, mem: 32}\n"
        "retries: {limit: 1, backoff: 3s}\n"  # a 3 s window, polled every 0.5 s
    )
    failed = mesospy(cluster, "job", "submit", str(flaky), "--wait")
    assert failed.returncode == 1
    # The first attempt's failure is shown while it waits for its retry, then the last.
    retrying = "instance 0 (attempt 2) WAITING: retrying; the last attempt: exited with status 3"
    assert retrying in failed.stdout, failed.stdout
    assert "instance 0 (attempt 2) FAILED: exited with status 3" in failed.stdout
    assert "(exit code 3: exited with status 3); no retries left" in failed.stderr
