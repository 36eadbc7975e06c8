"""UPDATE_FRAMEWORK and REQUEST against a real master."""

from __future__ import annotations

import pytest

from mesospy.scheduler import InvalidCall, calls
from mesospy.testing import FrameworkHarness, LocalCluster
from mesospy.v1 import common_pb2 as pb


def framework_info(cluster: LocalCluster, framework_id: str) -> pb.FrameworkInfo:
    for state in cluster.state().frameworks:
        if state.framework_info.id == framework_id:
            return state.framework_info
    raise AssertionError(f"framework {framework_id} not in the master's state")


def test_update_framework_changes_roles_and_timeout_without_resubscribing(
    cluster: LocalCluster,
) -> None:
    with FrameworkHarness(cluster.master_address, name="updater", failover_timeout=5) as fw:
        fw.wait(lambda: bool(fw.tasks.framework_id), what="subscription")
        fid = fw.tasks.framework_id
        info = pb.FrameworkInfo()
        info.CopyFrom(framework_info(cluster, fid))
        info.roles[:] = ["analytics", "batch"]
        info.failover_timeout = 120
        info.capabilities.append(pb.FrameworkInfo.PARTITION_AWARE)
        fw.call(calls.update_framework(info, suppressed_roles=["batch"]))

        updated = framework_info(cluster, fid)
        assert list(updated.roles) == ["analytics", "batch"]
        assert updated.failover_timeout == 120
        assert pb.FrameworkInfo.PARTITION_AWARE in updated.capabilities
        # Offers now come for the new role (the agent's resources are unreserved: "*").
        fw.wait(
            lambda: any(o.role == "analytics" for o in fw.tasks.offers_seen),
            what="an offer for the new role",
        )
        assert fw.tasks.subscriptions == 1

        renamed = pb.FrameworkInfo()
        renamed.CopyFrom(updated)
        renamed.name = "another-name"
        with pytest.raises(InvalidCall, match=r"framework_info\.name cannot change"):
            fw.call(calls.update_framework(renamed))
        wrong_id = pb.FrameworkInfo()
        wrong_id.CopyFrom(updated)
        wrong_id.id = "someone-else"
        with pytest.raises(InvalidCall, match="not the calling framework's id"):
            fw.call(calls.update_framework(wrong_id))
        bad_role = pb.FrameworkInfo()
        bad_role.CopyFrom(updated)
        bad_role.roles[:] = ["a//b"]
        with pytest.raises(InvalidCall, match="role 'a//b'"):
            fw.call(calls.update_framework(bad_role))
        # Nothing of the refused updates was kept.
        assert framework_info(cluster, fid) == updated

        # REQUEST is accepted and ignored.
        fw.call(calls.request([("", pb.TaskInfo().resources)]))
        fw.driver.request_resources()
        assert framework_info(cluster, fid) == updated
