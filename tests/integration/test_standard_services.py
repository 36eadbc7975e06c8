"""Reflection and grpc.health.v1 on every server, checked the way grpcurl and a load
balancer would: real master, agent and framework processes, calls built only from what
reflection tells."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format

from mesospy.client import OperatorClient
from mesospy.testing import LocalCluster
from mesospy.testing.reflection import ReflectionClient, health_status, watch_health
from mesospy.v1 import operator_pb2 as opb

STANDARD = {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}
FAST_MASTER = ["--allocation-interval", "0.2", "--agent-ping-timeout", "0.5"]
MASTER_SERVICES = {"mesospy.v1.Scheduler", "mesospy.v1.AgentRegistry", "mesospy.v1.Operator"}


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A master, an agent and both bundled frameworks."""
    with LocalCluster(
        agents=1,
        work_dir=tmp_path_factory.mktemp("standard"),
        agent_resources="cpus:2;mem:1024;disk:1024;ports:[31000-31099]",
        master_flags=FAST_MASTER,
        frameworks=["batch", "service"],
    ) as cluster:
        yield cluster


def _channel(port: int) -> grpc.Channel:
    return grpc.insecure_channel(f"127.0.0.1:{port}")


def test_the_master_lists_its_services_by_reflection(everything: LocalCluster) -> None:
    with _channel(everything.master_port) as channel:
        client = ReflectionClient(channel)
        assert set(client.services()) == MASTER_SERVICES | STANDARD
        subscribe = client.method("mesospy.v1.Operator/Subscribe")
        assert subscribe.server_streaming and not subscribe.client_streaming
        assert subscribe.output_type.full_name == "mesospy.v1.OperatorEvent"


def test_a_method_is_called_with_only_the_reflected_descriptors(everything: LocalCluster) -> None:
    with _channel(everything.master_port) as channel:
        client = ReflectionClient(channel)
        answer = client.call("mesospy.v1.Operator/GetState", {})
        # Built from the server's descriptors, not from the generated module.
        assert type(answer) is not opb.GetStateResponse
        assert answer.DESCRIPTOR.full_name == "mesospy.v1.GetStateResponse"
        with OperatorClient(f"127.0.0.1:{everything.master_port}") as operator:
            state = operator.get_state()
        reflected = json_format.MessageToDict(answer)
        assert [a["agentInfo"]["id"] for a in reflected["agents"]] == [
            a.agent_info.id for a in state.agents
        ]
        names = {f["frameworkInfo"]["name"] for f in reflected["frameworks"]}
        assert names == {"mesospy-batch", "mesospy-service"}
        # Bad input gets the service's own answer, through the reflected method too.
        with pytest.raises(grpc.RpcError) as refused:
            client.call("mesospy.v1.Operator/DrainAgent", {"agentId": "no-such-agent"})
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_standalone_master_is_serving_under_every_name(everything: LocalCluster) -> None:
    with _channel(everything.master_port) as channel:
        for name in ["", "mesospy.alive", *sorted(MASTER_SERVICES)]:
            assert health_status(channel, name) == "SERVING", name
        with pytest.raises(grpc.RpcError) as unknown:
            health_status(channel, "mesospy.v1.NoSuchService")
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        assert next(watch_health(channel, "")) == "SERVING"


def test_a_registered_agent_answers_health_and_reflection(everything: LocalCluster) -> None:
    with _channel(everything.agent_daemons[0].port) as channel:
        assert set(ReflectionClient(channel).services()) == {"mesospy.v1.Agent"} | STANDARD
        for name in ["", "mesospy.alive", "mesospy.v1.Agent"]:
            assert health_status(channel, name) == "SERVING", name


@pytest.mark.parametrize(
    ("name", "service", "method", "field"),
    [
        ("batch", "frameworks.batch.v1.Batch", "ListJobs", "jobs"),
        ("service", "frameworks.service.v1.AppService", "ListApps", "apps"),
    ],
)
def test_the_frameworks_apis_answer_health_and_reflection(
    everything: LocalCluster, name: str, service: str, method: str, field: str
) -> None:
    with _channel(everything.framework_daemons[name].port) as channel:
        client = ReflectionClient(channel)
        assert set(client.services()) == {service} | STANDARD
        answer = client.call(f"{service}/{method}")
        package = service.rpartition(".")[0]
        assert answer.DESCRIPTOR.full_name == f"{package}.{method}Response"
        assert list(getattr(answer, field)) == []
        for health_name in ["", "mesospy.alive", service]:
            assert health_status(channel, health_name) == "SERVING", health_name


def test_an_agent_is_not_serving_once_its_master_is_gone(tmp_path: Path) -> None:
    with LocalCluster(
        agents=1,
        work_dir=tmp_path,
        agent_resources="cpus:1;mem:256",
        master_flags=FAST_MASTER,
    ) as cluster:
        assert cluster.master is not None
        with _channel(cluster.agent_daemons[0].port) as channel:
            statuses = watch_health(channel, "")
            assert next(statuses) == "SERVING"
            cluster.master.stop()
            assert next(statuses) == "NOT_SERVING"
            # Still alive: a supervisor must not restart it for its master's absence.
            assert health_status(channel, "mesospy.alive") == "SERVING"
