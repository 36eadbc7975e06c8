"""The two-level offer cycle end to end: real master, agents, tasks and frameworks."""

from __future__ import annotations

import collections
from pathlib import Path

from mesospy.cluster import Daemon
from mesospy.scheduler import is_terminal, task
from mesospy.testing import FrameworkHarness, LocalCluster, TaskQueueScheduler
from mesospy.v1 import common_pb2 as pb

Reason = pb.TaskStatus


def test_200_tasks_finish_and_each_is_reported_once(cluster: LocalCluster) -> None:
    with FrameworkHarness(cluster.master_address, name="two-hundred") as fw:
        fw.submit(task(f"t{i}", "true", "cpus:0.1;mem:16") for i in range(200))
        fw.wait(
            lambda: sum(is_terminal(s) for s in fw.latest_states().values()) == 200,
            timeout=90,
            what="200 terminal tasks",
        )
        states = fw.latest_states()
        assert set(states) == {f"t{i}" for i in range(200)}
        assert set(states.values()) == {pb.TASK_FINISHED}
        terminal = collections.Counter(s.task_id for s in fw.tasks.statuses if is_terminal(s.state))
        # Implicit acknowledgements reached the agents, so nothing is sent twice.
        assert max(terminal.values()) == 1
        assert not fw.tasks.errors


def test_failed_task_reports_exit_code(cluster: LocalCluster) -> None:
    with FrameworkHarness(cluster.master_address, name="exit-codes") as fw:
        fw.submit([task("bad", "exit 7", "cpus:0.1;mem:16")])
        fw.wait(lambda: is_terminal(fw.latest_states().get("bad", 0)), what="bad to end")
        final = [s for s in fw.tasks.statuses if s.task_id == "bad"][-1]
        assert final.state == pb.TASK_FAILED
        assert final.exit_code == 7


def test_kill_a_running_task(cluster: LocalCluster) -> None:
    with FrameworkHarness(cluster.master_address, name="killer") as fw:
        fw.submit([task("sleeper", "sleep 300", "cpus:0.1;mem:16")])
        fw.wait(lambda: fw.latest_states().get("sleeper") == pb.TASK_RUNNING, what="RUNNING")
        running = [s for s in fw.tasks.statuses if s.task_id == "sleeper"][-1]
        fw.driver.kill("sleeper", running.agent_id)
        fw.wait(lambda: fw.latest_states().get("sleeper") == pb.TASK_KILLED, what="KILLED")


def test_task_over_its_memory_limit_fails_with_the_reason(cluster: LocalCluster) -> None:
    # Writing the bytes (not just reserving them) is what charges them to the cgroup.
    hog = "python3 -c 'x = b\"x\" * (300 * 1024 * 1024); import time; time.sleep(30)'"
    with FrameworkHarness(cluster.master_address, name="hog") as fw:
        fw.submit([task("hog", hog, "cpus:0.1;mem:64")])
        fw.wait(lambda: is_terminal(fw.latest_states().get("hog", 0)), what="hog to end")
        final = [s for s in fw.tasks.statuses if s.task_id == "hog"][-1]
        assert final.state == pb.TASK_FAILED
        assert final.reason == Reason.REASON_CONTAINER_LIMITATION_MEMORY, final.message
        assert "memory" in final.message


def test_invalid_tasks_get_task_error_and_the_master_keeps_serving(
    cluster: LocalCluster,
) -> None:
    too_big = task("too-big", "true", "cpus:1000;mem:16")
    no_command = pb.TaskInfo(task_id="no-command", name="x")
    no_command.resources.extend(task("x", "true", "cpus:0.1;mem:16").resources)
    slash = task("bad/id", "true", "cpus:0.1;mem:16")
    fine = task("fine", "true", "cpus:0.1;mem:16")
    dup = task("fine", "true", "cpus:0.1;mem:16")

    holder = TaskQueueScheduler(hold_offers=True)
    with FrameworkHarness(cluster.master_address, holder, name="invalid") as fw:
        fw.wait(lambda: bool(fw.tasks.offers_seen), what="an offer")
        offer = fw.tasks.offers_seen[-1]
        fw.driver.launch(offer.id, [too_big, no_command, slash, fine, dup])
        ids = {"too-big", "no-command", "bad/id", "fine"}
        fw.wait(
            lambda: (
                ids <= set(fw.latest_states()) and fw.latest_states()["fine"] == pb.TASK_FINISHED
            ),
            what="all answers",
        )
        by_id = {s.task_id: s for s in fw.tasks.statuses if s.state == pb.TASK_ERROR}
        assert "asks for cpus:1000" in by_id["too-big"].message
        assert "exactly one of 'shell' and 'argv'" in by_id["no-command"].message
        assert "'/'" in by_id["bad/id"].message
        assert "already in use" in by_id["fine"].message  # the duplicate
        assert all(s.reason == Reason.REASON_TASK_INVALID for s in by_id.values())
        # The master still serves: a further task runs.
        holder.hold_offers = False
        fw.driver.decline([o.id for o in holder.offers_seen], refuse_seconds=0)
        fw.submit([task("after", "true", "cpus:0.1;mem:16")])
        fw.wait(lambda: fw.latest_states().get("after") == pb.TASK_FINISHED, what="after")


def test_accept_of_another_frameworks_offer_is_refused(cluster: LocalCluster) -> None:
    with FrameworkHarness(
        cluster.master_address, TaskQueueScheduler(hold_offers=True), name="a"
    ) as a:
        a.wait(lambda: bool(a.tasks.offers_seen), what="an offer")
        with FrameworkHarness(cluster.master_address, name="b") as b:
            b.wait(lambda: bool(b.tasks.framework_id), what="b subscribed")
            stolen = a.tasks.offers_seen[-1].id
            b.driver.launch(stolen, [task("x", "true", "cpus:0.1;mem:16")])
            b.wait(lambda: bool(b.tasks.errors), what="an error")
            assert "was not made to framework" in b.tasks.errors[0]


def test_reconcile_reports_latest_states(cluster: LocalCluster) -> None:
    with FrameworkHarness(cluster.master_address, name="reconcile") as fw:
        fw.submit([task("long", "sleep 300", "cpus:0.1;mem:16")])
        fw.wait(lambda: fw.latest_states().get("long") == pb.TASK_RUNNING, what="RUNNING")
        before = len(fw.tasks.statuses)
        fw.driver.reconcile([("long", ""), ("never-launched", "")])
        fw.wait(lambda: len(fw.tasks.statuses) >= before + 2, what="reconciliation")
        answers = {s.task_id: s for s in fw.tasks.statuses[before:]}
        assert answers["long"].state == pb.TASK_RUNNING
        assert answers["long"].reason == Reason.REASON_RECONCILIATION
        assert answers["never-launched"].state == pb.TASK_LOST


def test_get_state_shows_agents_frameworks_and_tasks(cluster: LocalCluster) -> None:
    with FrameworkHarness(cluster.master_address, name="visible") as fw:
        fw.submit([task("seen", "sleep 300", "cpus:0.5;mem:64")])
        fw.wait(lambda: fw.latest_states().get("seen") == pb.TASK_RUNNING, what="RUNNING")
        state = cluster.state()
        assert len(state.agents) == 2
        names = {f.framework_info.name for f in state.frameworks}
        assert "visible" in names
        seen = [t for t in state.tasks if t.task_id == "seen"]
        assert seen and seen[0].state == pb.TASK_RUNNING
        assert any(a.used_resources for a in state.agents)


def test_two_frameworks_share_by_dominant_resource(tmp_path: Path) -> None:
    # One agent of cpus:8;mem:4096, so there is a single offer at a time and the allocator
    # alone decides who gets it (with two agents, whichever framework answers its offer first
    # is offered the remainder again while the other still holds an offer, which counts
    # towards its share). A's tasks (cpus:1;mem:128) and B's (cpus:0.5;mem:512) each take
    # 1/8 of their dominant resource, so DRF alternates between them: at any time their task
    # counts differ by at most one, although A alone could fill all 8 cpus first.
    with LocalCluster(
        agents=1,
        work_dir=tmp_path,
        agent_resources="cpus:8;mem:4096;disk:1024;ports:[31000-31999]",
        master_flags=["--allocation-interval", "0.2"],
    ) as cluster:
        a_tasks = TaskQueueScheduler(refuse_seconds=0, max_per_offer=1)
        b_tasks = TaskQueueScheduler(refuse_seconds=0, max_per_offer=1)
        with (
            FrameworkHarness(cluster.master_address, a_tasks, name="cpu-heavy") as a,
            FrameworkHarness(cluster.master_address, b_tasks, name="mem-heavy") as b,
        ):
            a.wait(lambda: bool(a_tasks.framework_id) and bool(b_tasks.framework_id))
            a.submit(task(f"a{i}", "sleep 120", "cpus:1;mem:128") for i in range(20))
            b.submit(task(f"b{i}", "sleep 120", "cpus:0.5;mem:512") for i in range(20))
            counts: list[tuple[int, int]] = []

            def eight_launches() -> bool:
                counts.append((len(a_tasks.launched), len(b_tasks.launched)))
                return sum(counts[-1]) >= 8

            a.wait(eight_launches, timeout=60, what="8 launches")
            assert all(abs(na - nb) <= 1 for na, nb in counts), counts
            assert min(counts[-1]) >= 4, counts[-1]


def test_lost_agent_tasks_are_reported_by_partition_awareness(own_cluster: LocalCluster) -> None:
    aware = FrameworkHarness(
        own_cluster.master_address, name="aware", capabilities=[pb.FrameworkInfo.PARTITION_AWARE]
    )
    plain = FrameworkHarness(own_cluster.master_address, name="plain")
    with aware, plain:
        # Two agents of cpus:2, four tasks of cpus:1: each agent runs two of them.
        aware.submit(task(f"pa{i}", "sleep 20", "cpus:1;mem:16") for i in range(2))
        plain.submit(task(f"np{i}", "sleep 20", "cpus:1;mem:16") for i in range(2))
        for fw in (aware, plain):
            fw.wait(
                lambda fw=fw: list(fw.latest_states().values()) == [pb.TASK_RUNNING] * 2,
                what="two RUNNING tasks",
            )
        victim = own_cluster.state().agents[0].agent_info.id
        own_cluster.agent_daemon(victim).signal(9)

        def on_victim(fw: FrameworkHarness) -> dict[str, int]:
            ids = {s.task_id for s in fw.tasks.statuses if s.agent_id == victim}
            return {t: fw.latest_states()[t] for t in ids}

        assert len(on_victim(aware)) + len(on_victim(plain)) == 2
        aware.wait(
            lambda: set(on_victim(aware).values()) <= {pb.TASK_UNREACHABLE}, what="UNREACHABLE"
        )
        plain.wait(lambda: set(on_victim(plain).values()) <= {pb.TASK_LOST}, what="LOST")
        # Tasks on the surviving agent are untouched.
        for fw in (aware, plain):
            others = [st for t, st in fw.latest_states().items() if t not in on_victim(fw)]
            assert others == [pb.TASK_RUNNING] * (2 - len(on_victim(fw)))


def test_unanswered_offers_are_rescinded_after_the_offer_timeout(tmp_path: Path) -> None:
    with LocalCluster(
        agents=1,
        work_dir=tmp_path,
        agent_resources="cpus:1;mem:256",
        master_flags=["--offer-timeout", "0.5", "--allocation-interval", "0.2"],
    ) as c:
        holder = TaskQueueScheduler(hold_offers=True)
        with FrameworkHarness(c.master_address, holder, name="slow") as fw:
            fw.wait(lambda: bool(holder.offers_seen), what="an offer")
            first = holder.offers_seen[0].id
            fw.wait(lambda: first in holder.rescinds, what="RESCIND")
            # The resources come back in a new offer.
            fw.wait(lambda: len(holder.offers_seen) >= 2, what="a new offer")
            assert holder.offers_seen[1].id != first


def _patient_cluster(tmp_path: Path) -> LocalCluster:
    """One agent; the master waits 30 s before it calls a silent agent unreachable."""
    return LocalCluster(
        agents=1,
        work_dir=tmp_path,
        agent_resources="cpus:4;mem:512;disk:1024",
        master_flags=["--allocation-interval", "0.1", "--agent-ping-timeout", "10"],
    )


def _kill_the_agent(cluster: LocalCluster) -> Daemon:
    """SIGKILL the cluster's only agent and wait until it is gone (the master does not
    know yet); returns its daemon, to start again."""
    agent = cluster.agent_daemon(cluster.state().agents[0].agent_info.id)
    agent.signal(9)
    assert agent.process is not None
    agent.process.wait()
    return agent


def test_a_dead_agent_is_not_offered_until_it_is_back(tmp_path: Path) -> None:
    # The agent is killed; until it misses its heartbeats (long here) the master still
    # counts it registered. But its session (the Connect stream) ends with it: like a Mesos
    # master seeing an agent's socket close, the master stops offering its resources at
    # once, so no launch is sent to the dead agent (none dropped), instead of dropping
    # every launch at offer speed. Back, it is offered again.
    with _patient_cluster(tmp_path) as c:
        scheduler = TaskQueueScheduler(refuse_seconds=0, relaunch_lost=True)
        with FrameworkHarness(c.master_address, scheduler, name="patient") as fw:
            fw.wait(lambda: bool(scheduler.offers_seen), what="a first offer")
            agent = _kill_the_agent(c)
            # Operators see it as not active (its resources are not offered), long before
            # the 10 s ping timeout would call it unreachable.
            c.wait_for(lambda state: not state.agents[0].active, 5, "the agent inactive")
            assert len(c.state().agents) == 1
            fw.submit(task(f"t{i}", "true", "cpus:1;mem:16") for i in range(8))
            agent.start()  # takes its checkpoint back and re-registers under its id
            c.wait_for(lambda state: state.agents[0].active, 30, "the agent active again")
            fw.wait(
                lambda: all(fw.latest_states().get(f"t{i}") == pb.TASK_FINISHED for i in range(8)),
                timeout=60,
                what="8 tasks FINISHED on the restarted agent",
            )
            # No launch was sent to the dead agent (a relaunch that raced the agent's
            # re-registration may have been refused by the agent: not counted).
            dropped = [
                s
                for s in scheduler.statuses
                if s.state == pb.TASK_DROPPED and "connect" in s.message.lower()
            ]
            assert dropped == [], [s.message for s in dropped]


def test_an_agent_back_at_another_port_is_called_there(tmp_path: Path) -> None:
    # Restarted on a new port before the master noticed it was gone, the agent
    # re-registers under its id; the master must launch at the new address.
    with _patient_cluster(tmp_path) as c:
        scheduler = TaskQueueScheduler(refuse_seconds=0)
        with FrameworkHarness(c.master_address, scheduler, name="follower") as fw:
            fw.wait(lambda: bool(scheduler.offers_seen), what="a first offer")
            agent_id = c.state().agents[0].agent_info.id
            agent = _kill_the_agent(c)
            old_port = agent.port
            agent.start_on_new_ports()
            assert agent.port != old_port
            c.wait_for(
                lambda state: [a.agent_info.port for a in state.agents] == [agent.port],
                30,
                "the agent re-registered at its new port",
            )
            fw.submit(task(f"t{i}", "true", "cpus:1;mem:16") for i in range(4))
            fw.wait(
                lambda: list(fw.latest_states().values()) == [pb.TASK_FINISHED] * 4,
                timeout=60,
                what="4 tasks FINISHED at the agent's new address",
            )
            assert [a.agent_info.id for a in c.state().agents] == [agent_id]
