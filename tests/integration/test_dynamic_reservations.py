"""Dynamic reservations and persistent volumes on real processes: a framework reserves,
creates a volume and writes to it; the data outlives the task and an agent restart."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from click.testing import CliRunner

from mesospy.cli.main import cli
from mesospy.client import OperatorClient, OperatorError
from mesospy.master.registry import LocalRegistry
from mesospy.resources import Reservation, Resources, Volume
from mesospy.scheduler import InvalidCall, PreconditionFailed, calls, default_executor, task
from mesospy.testing import FrameworkHarness, LocalCluster, TaskQueueScheduler
from mesospy.testing.clusters import fast_master_flags, running_cluster
from mesospy.v1 import common_pb2 as pb

ROLE = "eng"
ENG = Reservation(ROLE, "", kind="DYNAMIC")  # the framework has no principal
CPUS = Resources.parse("cpus:0.5;mem:64").reserve(ENG)
DISK = Resources.parse("disk:64").reserve(ENG)
VOLUME = DISK.with_volume(Volume("db-1", "data"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(
        lambda: tmp_path_factory.mktemp("reservations"),
        agents=1,
        agent_resources="cpus:2;mem:512;disk:256",
        master_flags=fast_master_flags(),
    ) as c:
        yield c


def take_offer(
    fw: FrameworkHarness,
    used: set[str],
    wanted: Resources = Resources.EMPTY,
    what: str = "an offer",
) -> pb.Offer:
    """The newest outstanding offer holding ``wanted`` (not used or rescinded yet)."""

    def outstanding() -> pb.Offer | None:
        for offer in reversed(fw.tasks.offers_seen):
            fresh = offer.id not in used and offer.id not in fw.tasks.rescinds
            if fresh and offered(offer).contains(wanted):
                return offer
        return None

    fw.wait(lambda: outstanding() is not None, what=what)
    offer = outstanding()
    assert offer is not None
    used.add(offer.id)
    return offer


def offered(offer: pb.Offer) -> Resources:
    return Resources.from_proto(offer.resources)


def agent_total(cluster: LocalCluster) -> Resources:
    (agent,) = cluster.state().agents
    return Resources.from_proto(agent.total_resources)


def agent_static(cluster: LocalCluster) -> Resources:
    (agent,) = cluster.state().agents
    return Resources.from_proto(agent.agent_info.resources)


def test_volume_data_outlives_its_task_and_an_agent_restart(cluster: LocalCluster) -> None:
    scheduler = TaskQueueScheduler(hold_offers=True)
    used: set[str] = set()
    with FrameworkHarness(cluster.master_address, scheduler, roles=[ROLE]) as fw:
        offer = take_offer(fw, used)
        writer = task("writer", "echo hello > data/hello.txt", CPUS + VOLUME)
        writer.agent_id = offer.agent_id
        # RESERVE, CREATE and a LAUNCH on what they made, in one ACCEPT.
        fw.call(
            calls.accept(
                [offer.id],
                [
                    calls.reserve(CPUS + DISK),
                    calls.create_volumes(VOLUME),
                    calls.launch_operation([writer]),
                ],
            )
        )
        fw.wait(lambda: fw.latest_states().get("writer") == pb.TASK_FINISHED, what="writer")
        total = agent_total(cluster)
        assert total.contains(CPUS + VOLUME)
        assert total.flatten() == agent_static(cluster)  # converted, not added
        work = cluster.agent_daemons[0].log.parent / "agent-0"
        data = work / "volumes" / "roles" / ROLE / "db-1" / "hello.txt"
        assert data.read_text() == "hello\n"

        daemon = cluster.agent_daemons[0]
        daemon.stop()
        used.update(o.id for o in fw.tasks.offers_seen)  # rescinded with the agent
        daemon.start_on_new_ports()  # its old port may linger a while
        # The restarted agent re-registers with its reservations and volume, offered again.
        offer = take_offer(fw, used, VOLUME, "the volume offered after the agent restart")
        assert agent_total(cluster) == total
        reader = task("reader", 'test "$(cat data/hello.txt)" = hello', CPUS + VOLUME)
        reader.agent_id = offer.agent_id
        fw.call(calls.launch([offer.id], [reader]))
        fw.wait(lambda: fw.latest_states().get("reader") == pb.TASK_FINISHED, what="reader")

        # While a task uses the volume, nobody can destroy it.
        sleeper = task("sleeper", "sleep 60", CPUS + VOLUME)
        sleeper.agent_id = offer.agent_id
        offer = take_offer(fw, used, VOLUME, "the volume offered after the reader")
        fw.call(calls.launch([offer.id], [sleeper]))
        fw.wait(lambda: fw.latest_states().get("sleeper") == pb.TASK_RUNNING, what="sleeper")
        offer = take_offer(fw, used, what="an offer while the sleeper runs")
        with pytest.raises(PreconditionFailed, match=r"a task .* uses them"):
            fw.call(calls.accept([offer.id], [calls.destroy_volumes(VOLUME)]))
        agent_id = offer.agent_id
        with OperatorClient(cluster.master_address) as client:
            with pytest.raises(OperatorError, match=r"a task .* uses them") as info:
                client.destroy_volumes(agent_id, VOLUME)
            assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION
            assert data.exists() and agent_total(cluster) == total  # nothing changed
            fw.call(calls.kill("sleeper"))
            fw.wait(lambda: fw.latest_states().get("sleeper") == pb.TASK_KILLED, what="kill")

    # The master keeps them in its registry, and has them again after a restart.
    assert cluster.work_dir is not None
    registry = LocalRegistry(cluster.work_dir / "master")
    registry.load()
    assert Resources.from_proto(registry.agent_resources()[agent_id]) == CPUS + VOLUME
    assert cluster.master is not None
    cluster.master.stop()
    cluster.master.start()
    cluster.wait_for(lambda s: len(s.agents) == 1, 60, "the agent back with the new master")
    assert agent_total(cluster) == total

    # Its framework gone, the operator destroys the volume and gives the resources back.
    def mesospy(*args: str) -> str:
        result = CliRunner().invoke(cli, [*args, "--master", cluster.master_address])
        assert result.exit_code == 0, result.output
        return result.output

    volume = ["--role", ROLE, "--size", "64", "--id", "db-1", "--path", "data"]
    assert "destroyed disk(eng)[db-1:data]:64" in mesospy("volume", "destroy", agent_id, *volume)
    assert agent_total(cluster) == total - VOLUME + DISK
    deadline = time.monotonic() + 10
    while data.parent.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the agent deletes the directory off its event loop
    assert not data.parent.exists()
    mesospy("unreserve", agent_id, "cpus:0.5;mem:64;disk:64", "--role", ROLE)
    assert agent_total(cluster) == agent_static(cluster)
    # Bad input: one line, exit status 1, nothing changed.
    result = CliRunner().invoke(
        cli, ["volume", "create", agent_id, *volume, "--master", cluster.master_address]
    )
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "needs reserved disk" in result.output
    assert agent_total(cluster) == agent_static(cluster)


def test_bad_operations_are_refused_and_change_nothing(cluster: LocalCluster) -> None:
    ops = Reservation("ops", "", kind="DYNAMIC")
    scheduler = TaskQueueScheduler(hold_offers=True)
    with FrameworkHarness(cluster.master_address, scheduler, roles=["ops"]) as fw:
        offer = take_offer(fw, set())
        before = agent_total(cluster)

        def refused(error: type[Exception], *operations: calls.Call.Operation) -> str:
            with pytest.raises(error) as info:
                fw.call(calls.accept([offer.id], list(operations)))
            assert agent_total(cluster) == before
            return str(info.value)

        not_reserved = calls.unreserve(Resources.parse("cpus:1").reserve(ops))
        assert "cpus(ops):1: not reserved like that (reserved: nothing), in the offers" in refused(
            PreconditionFailed, not_reserved
        )
        on_unreserved = Resources.parse("disk:32").reserve(ops).with_volume(Volume("v2", "v"))
        assert "needs reserved disk disk(ops):32, but there is only" in refused(
            PreconditionFailed, calls.create_volumes(on_unreserved)
        )
        assert "role 'eng' is not one the framework is subscribed to (ops)" in refused(
            InvalidCall, calls.reserve(CPUS)
        )
        mallory = Reservation("ops", "mallory", kind="DYNAMIC")
        assert "principal is 'mallory'; it must be ''" in refused(
            InvalidCall, calls.reserve(Resources.parse("cpus:1").reserve(mallory))
        )
        # A good operation after a bad one in the same call: the call is refused whole.
        good = calls.reserve(Resources.parse("cpus:0.25").reserve(ops))
        refused(PreconditionFailed, good, not_reserved)
        # The offer is still good.
        fw.call(calls.accept([offer.id], [good]))
        assert agent_total(cluster) == before - Resources.parse("cpus:0.25") + Resources.parse(
            "cpus:0.25"
        ).reserve(ops)
    with OperatorClient(cluster.master_address) as client:
        (agent,) = cluster.state().agents
        with pytest.raises(OperatorError, match=r"UNRESERVE .* not reserved") as info:
            client.unreserve_resources(agent.agent_info.id, Resources.parse("cpus:9").reserve(ops))
        assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION
        client.unreserve_resources(agent.agent_info.id, Resources.parse("cpus:0.25").reserve(ops))
    assert agent_total(cluster) == agent_static(cluster)


def test_a_task_group_finds_its_volume_in_its_directory(cluster: LocalCluster) -> None:
    pods = Reservation("pods", "", kind="DYNAMIC")
    disk = Resources.parse("disk:16").reserve(pods)
    volume = disk.with_volume(Volume("pod-1", "state"))
    scheduler = TaskQueueScheduler(hold_offers=True)
    with FrameworkHarness(cluster.master_address, scheduler, roles=["pods"]) as fw:
        offer = take_offer(fw, set())
        member = task("member", "echo in-group > state/f", CPUS.flatten() + volume)
        member.agent_id = offer.agent_id
        group = calls.Call.Operation(type=calls.Call.Operation.LAUNCH_GROUP)
        group.launch_group.executor.CopyFrom(default_executor("pod", "cpus:0.1;mem:32"))
        group.launch_group.task_group.tasks.append(member)
        fw.call(
            calls.accept([offer.id], [calls.reserve(disk), calls.create_volumes(volume), group])
        )
        fw.wait(lambda: fw.latest_states().get("member") == pb.TASK_FINISHED, what="member")
    assert cluster.work_dir is not None
    (kept,) = cluster.work_dir.glob("agent-0/volumes/roles/pods/pod-1/f")
    assert kept.read_text() == "in-group\n"
    (agent,) = cluster.state().agents
    with OperatorClient(cluster.master_address) as client:
        client.destroy_volumes(agent.agent_info.id, volume)
        client.unreserve_resources(agent.agent_info.id, disk)
    assert agent_total(cluster) == agent_static(cluster)
