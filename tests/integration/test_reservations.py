"""Static reservations end to end: a real agent started with reserved resources, real
frameworks in two roles, a real task on the reserved cpus."""

from __future__ import annotations

from pathlib import Path

from mesospy.resources import Resources
from mesospy.scheduler import offer_resources, task
from mesospy.testing import FrameworkHarness, LocalCluster, TaskQueueScheduler
from mesospy.testing.clusters import fast_master_flags
from mesospy.v1 import common_pb2 as pb

R = Resources.parse
RESERVED = R("cpus(eng):1;mem(eng):256")


def test_reserved_resources_are_offered_to_their_role_only(tmp_path: Path) -> None:
    with LocalCluster(
        agents=1,
        work_dir=tmp_path,
        agent_resources="cpus(eng):1;mem(eng):256;cpus:1;mem:256",
        master_flags=fast_master_flags(),
    ) as cluster:
        other_sched = TaskQueueScheduler(refuse_seconds=0.2)
        with FrameworkHarness(cluster.master_address, other_sched, name="other", roles=["other"]):
            with FrameworkHarness(cluster.master_address, name="eng", roles=["eng"]) as eng:
                # Needs the reserved cpu: it cannot run on the unreserved resources.
                eng.submit([task("on-reserved", "true", "cpus(eng):1;mem(eng):128")])
                eng.wait(
                    lambda: eng.latest_states().get("on-reserved") == pb.TASK_FINISHED,
                    what="the task on reserved resources to finish",
                )
                reserved_offers = [offer_resources(o).reserved() for o in eng.tasks.offers_seen]
                assert RESERVED in reserved_offers
                assert not eng.tasks.errors
            # The eng framework is gone and its resources are back on the agent; the other
            # role keeps being offered (it declines for 0.2 s each time), never them.
            seen = len(other_sched.offers_seen)
            with other_sched.changed:
                other_sched.changed.wait_for(
                    lambda: len(other_sched.offers_seen) >= seen + 3, timeout=30
                )
            offers = [offer_resources(o) for o in other_sched.offers_seen]
            assert len(offers) >= seen + 3
            assert all(o.unreserved() == o for o in offers), offers
            assert any(o.cpus == 1 for o in offers)
