"""The operator API against a real local cluster: every read call, files, weights, events."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import grpc
import pytest

from mesospy import __version__
from mesospy.client import OperatorClient, OperatorError
from mesospy.scheduler import task
from mesospy.testing import FrameworkHarness, LocalCluster
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import operator_pb2 as opb

Event = opb.OperatorEvent


@pytest.fixture(scope="module")
def client(cluster: LocalCluster) -> Iterator[OperatorClient]:
    with OperatorClient(cluster.master_address) as c:
        yield c


@pytest.fixture(scope="module")
def sleeper(cluster: LocalCluster) -> Iterator[FrameworkHarness]:
    """A framework with one long task running (and one finished) for the read calls."""
    with FrameworkHarness(cluster.master_address, name="api-reader") as fw:
        fw.submit(
            [
                task("sleeper", "echo to-stdout; echo to-stderr >&2; sleep 300", "cpus:0.5;mem:32"),
                task("quick", "true", "cpus:0.1;mem:16"),
            ]
        )
        fw.wait(
            lambda: (
                fw.latest_states().get("sleeper") == pb.TASK_RUNNING
                and fw.latest_states().get("quick") == pb.TASK_FINISHED
            ),
            what="sleeper RUNNING and quick FINISHED",
        )
        yield fw


def _code(call: object) -> grpc.StatusCode | None:
    assert callable(call)
    with pytest.raises(OperatorError) as info:
        call()
    return info.value.code


def test_master_calls(client: OperatorClient) -> None:
    health = client.get_health()
    assert health.healthy and health.uptime_seconds > 0
    assert client.get_version().version == __version__
    flags = client.get_flags()
    assert flags["allocation-interval"] == "0.2"
    master = client.get_master()
    assert master.elected and master.master_info.port == int(client.master.split(":")[1])
    assert [c.id for c in master.contenders] == [master.master_info.id]


def test_agents_frameworks_and_roles(client: OperatorClient, sleeper: FrameworkHarness) -> None:
    agents = client.get_agents().agents
    assert len(agents) == 2 and all(a.active for a in agents)
    where = client.find_task("sleeper").agent_id
    busy = next(a for a in agents if a.agent_info.id == where)
    assert busy.active_tasks >= 1
    assert any(r.name == "cpus" and r.scalar >= 0.5 for r in busy.used_resources), busy
    frameworks = {f.framework_info.id: f for f in client.get_frameworks().frameworks}
    mine = frameworks[sleeper.tasks.framework_id]
    assert mine.connected and mine.framework_info.name == "api-reader" and mine.active_tasks == 1
    roles = {r.name: r for r in client.get_roles().roles}
    assert sleeper.tasks.framework_id in roles["*"].frameworks
    assert roles["*"].weight == 1.0


def test_tasks_filters_and_pages(client: OperatorClient, sleeper: FrameworkHarness) -> None:
    fid = sleeper.tasks.framework_id
    active = client.get_tasks(framework_id=fid)
    assert [t.task_id for t in active.tasks] == ["sleeper"]
    assert active.tasks[0].state == pb.TASK_RUNNING
    both = client.get_tasks(framework_id=fid, include_completed=True)
    assert {t.task_id for t in both.tasks} == {"sleeper", "quick"}
    finished = client.get_tasks(framework_id=fid, states=[pb.TASK_FINISHED], include_completed=True)
    assert [t.task_id for t in finished.tasks] == ["quick"]
    agent_id = active.tasks[0].agent_id
    assert [t.task_id for t in client.get_tasks(agent_id=agent_id).tasks] == ["sleeper"]
    first = client.get_tasks(framework_id=fid, include_completed=True, limit=1)
    assert len(first.tasks) == 1 and first.total == 2 and first.next_page_token
    second = client.get_tasks(
        framework_id=fid, include_completed=True, limit=1, page_token=first.next_page_token
    )
    assert len(second.tasks) == 1 and not second.next_page_token
    assert {first.tasks[0].task_id, second.tasks[0].task_id} == {"sleeper", "quick"}
    assert client.find_task("quick").state == pb.TASK_FINISHED
    assert _code(lambda: client.get_tasks(page_token="bogus")) == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(OperatorError, match="'nope' is unknown") as info:
        client.find_task("nope")
    assert info.value.code == grpc.StatusCode.NOT_FOUND


def test_weights_are_validated_and_persisted(client: OperatorClient, cluster: LocalCluster) -> None:
    assert client.update_weights({"prod": 2.5}) == {"prod": 2.5}
    assert client.get_weights() == {"prod": 2.5}
    assert {r.name: r.weight for r in client.get_roles().roles}["prod"] == 2.5
    assert cluster.work_dir is not None
    registry = json.loads((cluster.work_dir / "master" / "registry.json").read_text())
    assert registry["weights"] == {"prod": 2.5}
    for bad in ({"prod": 0.0}, {"prod": -1.0}, {"a//b": 1.0}, {}):
        assert _code(lambda b=bad: client.update_weights(b)) == grpc.StatusCode.INVALID_ARGUMENT
    assert client.get_weights() == {"prod": 2.5}


def test_metrics(client: OperatorClient, sleeper: FrameworkHarness) -> None:
    metrics = client.get_metrics()
    assert metrics["mesospy_master_elected"] == 1
    assert metrics['mesospy_master_agents{state="active"}'] == 2
    assert metrics['mesospy_master_tasks{state="TASK_RUNNING"}'] >= 1
    assert metrics['mesospy_master_frameworks{state="connected"}'] >= 1
    assert "mesospy_master_offers_outstanding" in metrics
    assert metrics["mesospy_master_allocation_run_seconds_count"] > 0
    assert any(k.startswith("mesospy_master_registry_write_seconds_count") for k in metrics)


def test_files_of_a_sandbox(client: OperatorClient, sleeper: FrameworkHarness) -> None:
    fid = sleeper.tasks.framework_id
    names = {f.path for f in client.list_files(fid, "sleeper").files}
    assert {"stdout", "stderr"} <= names
    assert client.read_file(fid, "sleeper", "stdout").data == b"to-stdout\n"
    assert b"".join(client.tail_file(fid, "sleeper", "stderr")) == b"to-stderr\n"
    assert client.read_file(fid, "sleeper", "stdout", offset=3, length=3).data == b"std"
    assert client.read_file(fid, "quick", "stdout").task_terminal


@pytest.mark.parametrize("path", ["../../../../etc/passwd", "../quick/stdout", "/etc/passwd"])
def test_paths_outside_the_sandbox_are_refused(
    client: OperatorClient, sleeper: FrameworkHarness, path: str
) -> None:
    fid = sleeper.tasks.framework_id
    with pytest.raises(OperatorError) as info:
        client.read_file(fid, "sleeper", path)
    assert info.value.code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT)
    assert "sandbox" in str(info.value)
    with pytest.raises(OperatorError):
        client.list_files(fid, "sleeper", path)


def test_unknown_ids_are_not_found_and_named(
    client: OperatorClient, sleeper: FrameworkHarness
) -> None:
    fid = sleeper.tasks.framework_id
    for call, name in (
        (lambda: client.read_file(fid, "ghost", "stdout"), "ghost"),
        (lambda: client.list_files("no-such-fw", "sleeper"), "no-such-fw"),
        (lambda: client.drain_agent("no-such-agent"), "no-such-agent"),
        (lambda: client.deactivate_agent("no-such-agent"), "no-such-agent"),
        (lambda: client.reactivate_agent("no-such-agent"), "no-such-agent"),
        (lambda: client.mark_agent_gone("no-such-agent"), "no-such-agent"),
        (lambda: client.teardown_framework("no-such-fw"), "no-such-fw"),
    ):
        with pytest.raises(OperatorError, match=name) as info:
            call()
        assert info.value.code == grpc.StatusCode.NOT_FOUND
    assert _code(lambda: client.drain_agent("")) == grpc.StatusCode.INVALID_ARGUMENT
    assert _code(lambda: client.drain_agent("x", -1)) == grpc.StatusCode.INVALID_ARGUMENT


def test_event_stream_sees_a_tasks_whole_life(cluster: LocalCluster) -> None:
    events: list[opb.OperatorEvent] = []
    done = threading.Event()
    client = OperatorClient(cluster.master_address)

    def listen() -> None:
        for event in client.subscribe(heartbeat_interval=0.2):
            events.append(event)
            if event.type == Event.FRAMEWORK_REMOVED or done.is_set():
                return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    try:
        with FrameworkHarness(cluster.master_address, name="watched") as fw:
            fw.submit([task("life", "echo hi", "cpus:0.1;mem:16")])
            fw.wait(lambda: fw.latest_states().get("life") == pb.TASK_FINISHED, what="FINISHED")
            fid = fw.tasks.framework_id
            OperatorClient(cluster.master_address).teardown_framework(fid)
        listener.join(15)
    finally:
        done.set()
        client.close()
    types = [e.type for e in events]
    assert types[0] == Event.SUBSCRIBED
    assert events[0].subscribed.master_info.id
    mine = [e for e in events if e.task.task_id == "life" and e.task.framework_id == fid]
    assert mine[0].type == Event.TASK_ADDED and mine[0].task.state == pb.TASK_STAGING
    states = [e.task.state for e in mine[1:]]
    assert states[-1] == pb.TASK_FINISHED and pb.TASK_RUNNING in states
    assert all(e.type == Event.TASK_UPDATED for e in mine[1:])
    framework_events = [
        e.type for e in events if e.framework.framework_info.id == fid or e.framework_id == fid
    ]
    assert framework_events[0] == Event.FRAMEWORK_ADDED
    assert framework_events[-1] == Event.FRAMEWORK_REMOVED


def test_event_stream_heartbeats_when_idle(client: OperatorClient) -> None:
    stream = client.subscribe(heartbeat_interval=0.05)
    first, second = next(stream), next(stream)
    stream.close()
    assert (first.type, second.type) == (Event.SUBSCRIBED, Event.HEARTBEAT)
    with pytest.raises(OperatorError, match=r"at least 0\.01"):
        next(client.subscribe(heartbeat_interval=0.001))
