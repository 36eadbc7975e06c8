"""A job's role, and runs that wait (saying why) while the role is at its quota limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from frameworks.batch.quota_waits import limit_reason
from frameworks.batch.scheduler import BatchScheduler
from frameworks.batch.spec import SpecError, load_spec
from frameworks.batch.v1 import batch_pb2 as bpb
from mesospy.client import OperatorClient
from mesospy.scheduler.state import DirectoryStore
from mesospy.testing import LocalCluster
from mesospy.testing.clusters import running_cluster
from mesospy.v1 import operator_pb2 as opb

from .conftest import BATCH_CLUSTER
from .support import BatchApi, eventually

JOB = "name: crunch\ncommand: 'sleep 300'\nrole: eng/dev\nresources: {cpus: 0.4, mem: 16}\n"


def test_a_job_names_its_role_and_keeps_it_in_its_canonical_form() -> None:
    spec = load_spec(JOB)
    assert spec.role == "eng/dev"
    assert spec.to_dict()["role"] == "eng/dev"
    assert load_spec("name: plain\ncommand: 'true'\n").role == "*"
    assert "role" not in load_spec("name: plain\ncommand: 'true'\n").to_dict()
    with pytest.raises(SpecError, match="role: must be a role name"):
        load_spec("name: bad\ncommand: 'true'\nrole: 'eng dev'\n")


def test_a_job_must_name_one_of_the_frameworks_roles(tmp_path: Path) -> None:
    scheduler = BatchScheduler(DirectoryStore(tmp_path))
    with pytest.raises(SpecError, match=r"'eng/dev' is not one of the framework's roles \(\*\)"):
        scheduler.submit(JOB)
    assert scheduler.jobs == {}
    with_roles = BatchScheduler(DirectoryStore(tmp_path / "b"), roles=["*", "eng/dev"])
    assert with_roles.submit(JOB).spec.role == "eng/dev"


def test_limit_reason_names_the_role_whose_limit_holds() -> None:
    need = {"cpus": 0.4, "mem": 16.0}
    quotas = {"eng": ({"cpus": 1.0}, {"cpus": 0.8})}
    assert limit_reason("eng/dev", need, quotas) == (
        "waiting: role 'eng' is at its quota limit cpus:1 (0.8 consumed; an instance needs 0.4)"
    )
    assert limit_reason("eng/dev", need, {"eng": ({"cpus": 2.0}, {"cpus": 0.8})}) == ""
    assert limit_reason("web", need, quotas) == ""


def test_waiting_instances_show_the_reason_until_it_goes(tmp_path: Path) -> None:
    scheduler = BatchScheduler(DirectoryStore(tmp_path), roles=["eng/dev"])
    scheduler.submit(JOB)
    run = scheduler.run_now("crunch")
    scheduler.note_quota({"eng/dev": ({"cpus": 1.0}, {"cpus": 1.0})})
    assert run.instances[0].unplaced.startswith("waiting: role 'eng/dev' is at its quota limit")
    assert run.message == run.instances[0].unplaced
    scheduler.note_quota({})
    assert run.instances[0].unplaced == "" and run.message == ""


@pytest.fixture
def role_cluster(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalCluster]:
    """A cluster whose batch framework subscribes with the roles * and eng/dev."""
    monkeypatch.setenv("MESOSPY_BATCH_ROLES", "* eng/dev")
    with running_cluster(lambda: tmp_path_factory.mktemp("roles"), **BATCH_CLUSTER) as c:
        yield c


def test_runs_wait_with_the_reason_while_the_role_is_at_its_limit(
    role_cluster: LocalCluster,
) -> None:
    api = BatchApi(role_cluster)
    with OperatorClient(role_cluster.master_address) as client:
        client.update_quota([opb.QuotaConfig(role="eng", limits={"cpus": 1})])
        api.submit(JOB.replace("crunch", "wide") + "instances: 3\nparallelism: 3\n")

        def states() -> list[str]:
            return [i.state for i in api.runs("wide")[-1].instances]

        eventually(lambda: states().count("RUNNING") == 2, what="two instances RUNNING")

        def waiting_run() -> bpb.Run | None:
            last = api.runs("wide")[-1]
            return last if last.message.startswith("waiting") else None

        run = eventually(waiting_run, what="the reason the third waits")
        assert "role 'eng' is at its quota limit cpus:1" in run.message
        waiting = [i for i in run.instances if i.state == "WAITING"]
        assert len(waiting) == 1 and waiting[0].unplaced == run.message
        roles = {r.name: r for r in client.get_roles().roles}
        assert any(x.name == "cpus" and x.scalar <= 1 for x in roles["eng"].consumed)
        client.update_quota([opb.QuotaConfig(role="eng", limits={"cpus": 2})])
        eventually(lambda: states().count("RUNNING") == 3, what="the third RUNNING")
        eventually(lambda: not api.runs("wide")[-1].message, what="the reason gone")
