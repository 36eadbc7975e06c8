"""The master's resources per role (capacity, used, offered) and its calls by type and
result, scraped from its real endpoint after real frameworks used the cluster."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from mesospy.client import OperatorClient, OperatorError
from mesospy.scheduler import task
from mesospy.testing import FrameworkHarness, LocalCluster, TaskQueueScheduler
from mesospy.testing.prometheus import Samples, scrape
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import scheduler_pb2 as spb

FAST_MASTER = ["--allocation-interval", "0.2", "--agent-ping-timeout", "0.5"]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with LocalCluster(
        agents=2,
        work_dir=tmp_path,
        agent_resources="cpus:2;mem:512;disk:100",
        master_flags=FAST_MASTER,
        metrics=True,
    ) as c:
        yield c


def _until(cluster: LocalCluster, holds: Callable[[Samples], bool], what: str) -> Samples:
    assert cluster.master is not None and cluster.master.metrics_url is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        samples = scrape(cluster.master.metrics_url)
        if holds(samples):
            return samples
        time.sleep(0.1)
    raise AssertionError(f"the master's metrics never showed {what}")


def test_resources_per_role_and_calls_by_type_and_result(cluster: LocalCluster) -> None:
    before = _until(cluster, lambda s: s.has("mesospy_master_resources_capacity"), "resources")
    capacity = "mesospy_master_resources_capacity"
    assert before.get(capacity, resource="cpus", role="*") == 4
    assert before.get(capacity, resource="mem", role="*") == 1024
    calls = "mesospy_master_calls_total"
    web = FrameworkHarness(cluster.master_address, name="web", roles=["web"])
    holder = FrameworkHarness(
        cluster.master_address,
        TaskQueueScheduler(hold_offers=True),
        name="holder",
        roles=["analytics"],
    )
    with contextlib.ExitStack() as running:
        running.enter_context(web)
        web.submit([task("sleeper", "sleep 300", "cpus:0.5;mem:64")])
        web.wait(lambda: web.latest_states().get("sleeper") == pb.TASK_RUNNING, what="RUNNING")
        # Only now the framework that keeps every offer: subscribed first, it could take
        # both agents in the first allocation and web would wait forever.
        running.enter_context(holder)
        used = "mesospy_master_resources_used"
        offered = "mesospy_master_resources_offered"
        # What the running task holds is used by its role; the rest ends up offered to the
        # framework that keeps its offers.
        during = _until(
            cluster,
            lambda s: s.get(offered, resource="cpus", role="analytics") == 3.5,
            "3.5 cpus offered to role analytics",
        )
        assert during.get(used, resource="cpus", role="web") == 0.5
        assert during.get(used, resource="mem", role="web") == 64
        assert during.get(used, resource="cpus", role="analytics") == 0
        assert during.get(offered, resource="mem", role="analytics") == 1024 - 64
        accepted = during.get(calls, api="scheduler", type="ACCEPT", result="OK")
        assert accepted >= 1
        # A subscription counts once it is answered, though its stream goes on.
        assert grew_between(before, during, "SUBSCRIBE", "OK", api="scheduler") == 2
        with (
            OperatorClient(cluster.master_address) as operator,
            pytest.raises(OperatorError, match="no-such-agent"),
        ):
            operator.get_state()
            operator.drain_agent("no-such-agent")
        # A scheduler call the master refuses is counted with its refusal.
        with grpc.insecure_channel(f"127.0.0.1:{cluster.master_port}") as channel:
            send = channel.unary_unary(
                "/mesospy.v1.Scheduler/Send",
                request_serializer=spb.Call.SerializeToString,
                response_deserializer=spb.Response.FromString,
            )
            with pytest.raises(grpc.RpcError) as refused:
                send(spb.Call(type=spb.Call.DECLINE, framework_id="nobody"), timeout=10)
            assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    after = _until(
        cluster,
        lambda s: s.get(used, resource="cpus", role="web") == 0,
        "the torn-down framework's task no longer holding its resources",
    )

    def grew(kind: str, result: str, api: str = "operator") -> float:
        return grew_between(before, after, kind, result, api)

    assert grew("DrainAgent", "NOT_FOUND") == 1
    assert grew("DECLINE", "NOT_FOUND", api="scheduler") == 1
    assert grew("GetState", "OK") >= 1
    assert after.get(calls, api="scheduler", type="ACCEPT", result="OK") == accepted
    assert grew("TEARDOWN", "OK", api="scheduler") == 2  # the harnesses leaving


def grew_between(
    before: Samples, after: Samples, kind: str, result: str, api: str = "operator"
) -> float:
    key = {"api": api, "type": kind, "result": result}
    name = "mesospy_master_calls_total"
    return after.get(name, **key) - before.get(name, **key)
