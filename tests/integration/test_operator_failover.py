"""Operator state across a master restart: maintenance kept in the registry, and the tasks
of re-registering agents shown on the event stream."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from mesospy.client import OperatorClient
from mesospy.scheduler import task
from mesospy.testing import FrameworkHarness, LocalCluster
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import operator_pb2 as opb

# As in conftest.py: agents' heartbeats are short, so a restarted master sees them soon.
FAST_MASTER = ["--allocation-interval", "0.2", "--agent-ping-timeout", "0.5"]
Drain = opb.AgentState.DrainState
Event = opb.OperatorEvent


def _restart_master(cluster: LocalCluster) -> None:
    assert cluster.master is not None
    cluster.master.stop()
    cluster.master.start()


def _agents(cluster: LocalCluster, count: int) -> dict[str, opb.AgentState]:
    state = cluster.wait_for(lambda s: len(s.agents) == count, 60, f"{count} agents back")
    return {a.agent_info.id: a for a in state.agents}


def test_drain_and_deactivation_survive_a_master_restart(tmp_path: Path) -> None:
    with LocalCluster(
        agents=3,
        work_dir=tmp_path,
        agent_resources="cpus:1;mem:256",
        master_flags=FAST_MASTER,
    ) as cluster:
        with OperatorClient(cluster.master_address) as client:
            ids = sorted(a.agent_info.id for a in client.get_agents().agents)
            deactivated, drained, untouched = ids
            client.deactivate_agent(deactivated)
            client.drain_agent(drained, max_grace_period=1.5)
        _restart_master(cluster)
        agents = _agents(cluster, 3)
        assert not agents[deactivated].active
        assert agents[deactivated].drain_state == Drain.NOT_DRAINING
        assert not agents[drained].active
        assert agents[drained].drain_state == Drain.DRAINED
        assert agents[drained].max_grace_period_seconds == 1.5
        assert agents[untouched].active
        with OperatorClient(cluster.master_address) as client:
            metrics = client.get_metrics()
            assert metrics['mesospy_master_agents{state="deactivated"}'] == 1
            assert metrics['mesospy_master_agents{state="drained"}'] == 1
            time.sleep(0.5)  # a few allocation cycles: nothing is offered from either
            offered = {o.agent_id for o in client.get_state().offers}
            assert not offered & {deactivated, drained}
            client.reactivate_agent(deactivated)
            client.reactivate_agent(drained)
        # Reactivation is persisted too.
        _restart_master(cluster)
        agents = _agents(cluster, 3)
        assert all(a.active and a.drain_state == Drain.NOT_DRAINING for a in agents.values())


def test_tasks_of_a_re_registering_agent_are_task_added_events(tmp_path: Path) -> None:
    with (
        LocalCluster(
            agents=1, work_dir=tmp_path, agent_resources="cpus:1;mem:256", master_flags=FAST_MASTER
        ) as cluster,
        FrameworkHarness(cluster.master_address, name="survivor", failover_timeout=60) as fw,
    ):
        fw.submit([task("long", "sleep 300", "cpus:0.1;mem:16")])
        fw.wait(lambda: fw.latest_states().get("long") == pb.TASK_RUNNING, what="RUNNING")
        agent = cluster.agent_daemons[0]
        # Hold the agent back until an operator watches the new master's events.
        agent.signal(signal.SIGSTOP)
        try:
            _restart_master(cluster)
            cluster.wait_for(lambda s: True, 30, "the master to come back")
            events: list[opb.OperatorEvent] = []
            seen = threading.Event()

            def watch() -> None:
                with OperatorClient(cluster.master_address) as client:
                    for event in client.subscribe(heartbeat_interval=0.5):
                        events.append(event)
                        if event.type == Event.TASK_ADDED:
                            seen.set()
                            return
                        if event.type == Event.SUBSCRIBED:
                            seen.set()  # subscribed: the agent may go on
                        if len(events) > 1000:
                            return

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            assert seen.wait(30), "no SUBSCRIBED event"
            snapshot = events[0].subscribed
            assert not snapshot.tasks and not snapshot.agents
            seen.clear()
        finally:
            agent.signal(signal.SIGCONT)
        assert seen.wait(60), f"no TASK_ADDED after the agent re-registered: {events}"
        added = events[-1]
        assert added.task.task_id == "long"
        assert added.task.state == pb.TASK_RUNNING
        assert any(e.type == Event.AGENT_ADDED for e in events)
        watcher.join(5)
