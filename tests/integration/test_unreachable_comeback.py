"""A task that ends while its agent is unreachable is reported ended once (issue 14.9).

The agent is frozen (SIGSTOP) until the master reports the task UNREACHABLE; the task
then exits while the agent is still frozen, and the agent is thawed. The framework must
see UNREACHABLE then one FINISHED: a resend of the same update (same uuid) is the
at-least-once delivery working, and the SDK acknowledges it again without handing it to
the scheduler a second time.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import psutil

from mesospy.scheduler import task
from mesospy.testing import FrameworkHarness, LocalCluster
from mesospy.v1 import common_pb2 as pb
from tests.integration.conftest import FAST_MASTER
from tests.integration.test_agent_metrics import scrape


def _exited(pid_file: Path) -> bool:
    try:
        proc = psutil.Process(int(pid_file.read_text()))
        return proc.status() == psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, FileNotFoundError, ValueError):
        return True


def test_a_task_ended_while_unreachable_is_reported_ended_once(tmp_path: Path) -> None:
    go, pid_file = tmp_path / "go", tmp_path / "pid"
    own_cluster = LocalCluster(
        agents=1, work_dir=tmp_path / "cluster", master_flags=FAST_MASTER, metrics=True
    )
    with own_cluster, FrameworkHarness(
        own_cluster.master_address,
        name="aware",
        capabilities=[pb.FrameworkInfo.PARTITION_AWARE],
    ) as fw:
        cmd = f"echo $$ > {pid_file}; while [ ! -e {go} ]; do sleep 0.05; done"
        fw.submit([task("comeback", cmd, "cpus:0.5;mem:16")])
        fw.wait(lambda: fw.latest_states().get("comeback") == pb.TASK_RUNNING, what="RUNNING")
        agent_id = next(s.agent_id for s in fw.tasks.statuses if s.task_id == "comeback")
        agent = own_cluster.agent_daemon(agent_id)
        agent.signal(signal.SIGSTOP)
        try:
            fw.wait(
                lambda: fw.latest_states().get("comeback") == pb.TASK_UNREACHABLE,
                what="UNREACHABLE",
            )
            go.touch()
            deadline = time.monotonic() + 20
            while not _exited(pid_file):
                assert time.monotonic() < deadline, "the task did not exit"
                time.sleep(0.05)
        finally:
            agent.signal(signal.SIGCONT)
        fw.wait(lambda: fw.latest_states().get("comeback") == pb.TASK_FINISHED, what="FINISHED")
        # Anything still to come (a resend, or a second update) is sent before the agent
        # has its acknowledgement: wait for the agent to hold no unacknowledged update.
        url = agent.metrics_url
        assert url is not None
        fw.wait(
            lambda: scrape(url).get("mesospy_agent_status_updates_pending") == 0,
            what="the agent to have every update acknowledged",
        )
        states = [s.state for s in fw.tasks.statuses if s.task_id == "comeback"]
        assert states == [pb.TASK_RUNNING, pb.TASK_UNREACHABLE, pb.TASK_FINISHED], [
            pb.TaskState.Name(s) for s in states
        ]
