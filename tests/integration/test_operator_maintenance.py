"""Maintenance through the operator API: drain to DRAINED, no offers while out, mark gone."""

from __future__ import annotations

import time

import grpc
import pytest

from mesospy.client import OperatorClient, OperatorError
from mesospy.scheduler import task
from mesospy.testing import FrameworkHarness, LocalCluster
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import operator_pb2 as opb

Drain = opb.AgentState.DrainState


def _agent(client: OperatorClient, agent_id: str) -> opb.AgentState:
    return next(a for a in client.get_agents().agents if a.agent_info.id == agent_id)


def _until(predicate: object, what: str, timeout: float = 20.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_drain_moves_an_agent_to_drained_after_its_tasks_end(cluster: LocalCluster) -> None:
    client = OperatorClient(cluster.master_address)
    with FrameworkHarness(cluster.master_address, name="drained") as fw:
        fw.submit([task("long", "sleep 300", "cpus:0.1;mem:16")])
        fw.wait(lambda: fw.latest_states().get("long") == pb.TASK_RUNNING, what="RUNNING")
        agent_id = client.find_task("long").agent_id
        state = client.drain_agent(agent_id, max_grace_period=0.5)
        assert state.drain_state == Drain.DRAINING and not state.active
        _until(lambda: _agent(client, agent_id).drain_state == Drain.DRAINED, "DRAINED")
        assert fw.latest_states()["long"] in (pb.TASK_KILLED, pb.TASK_KILLING)
        fw.wait(lambda: fw.latest_states()["long"] == pb.TASK_KILLED, what="KILLED")
        # Drained: nothing is offered from it, so new work lands elsewhere.
        assert all(o.agent_id != agent_id for o in client.get_state().offers)
        fw.submit([task("after", "sleep 300", "cpus:0.1;mem:16")])
        fw.wait(lambda: fw.latest_states().get("after") == pb.TASK_RUNNING, what="after")
        assert client.find_task("after").agent_id != agent_id
        assert client.get_metrics()['mesospy_master_agents{state="drained"}'] == 1
        reactivated = client.reactivate_agent(agent_id)
        assert reactivated.active and reactivated.drain_state == Drain.NOT_DRAINING
    client.close()


def test_deactivated_agent_gets_no_offers(cluster: LocalCluster) -> None:
    with OperatorClient(cluster.master_address) as client:
        agent_id = client.get_agents().agents[0].agent_info.id
        assert not client.deactivate_agent(agent_id).active
        with FrameworkHarness(cluster.master_address, name="offers-watcher") as fw:
            fw.wait(lambda: bool(fw.tasks.offers_seen), what="an offer")
            time.sleep(0.5)
            assert all(o.agent_id != agent_id for o in fw.tasks.offers_seen)
        assert client.reactivate_agent(agent_id).active


def test_mark_gone_ends_tasks_and_bars_the_agent(cluster: LocalCluster) -> None:
    extra = cluster.add_agent(resources="cpus:8;mem:4096")
    with OperatorClient(cluster.master_address) as client:
        agent_id = next(a.agent_info.id for a in client.get_agents().agents
                        if a.agent_info.port == extra.port)  # fmt: skip
        for other in client.get_agents().agents:
            if other.agent_info.id != agent_id:
                client.deactivate_agent(other.agent_info.id)
        try:
            with FrameworkHarness(
                cluster.master_address,
                name="partition-aware",
                capabilities=[pb.FrameworkInfo.PARTITION_AWARE],
            ) as fw:
                fw.submit([task("stranded", "sleep 300", "cpus:0.1;mem:16")])
                fw.wait(lambda: fw.latest_states().get("stranded") == pb.TASK_RUNNING, what="RUN")
                client.mark_agent_gone(agent_id)
                fw.wait(
                    lambda: fw.latest_states()["stranded"] == pb.TASK_GONE_BY_OPERATOR,
                    what="GONE_BY_OPERATOR",
                )
            agents = client.get_agents()
            assert agent_id in agents.gone_agents
            assert agent_id not in {a.agent_info.id for a in agents.agents}
            client.mark_agent_gone(agent_id)  # again: harmless
            with pytest.raises(OperatorError, match="marked gone") as info:
                client.drain_agent(agent_id)
            assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION
        finally:
            for other in client.get_agents().agents:
                client.reactivate_agent(other.agent_info.id)
