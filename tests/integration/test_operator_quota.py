"""Quota through the operator API and the CLI against a real master (2 agents, 8 cpus)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import pytest
from click.testing import CliRunner, Result

from mesospy.cli.main import cli
from mesospy.client import OperatorClient, OperatorError
from mesospy.resources import Resources
from mesospy.scheduler import task
from mesospy.testing import FrameworkHarness, LocalCluster
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import operator_pb2 as opb


@pytest.fixture(scope="module")
def client(cluster: LocalCluster) -> Iterator[OperatorClient]:
    with OperatorClient(cluster.master_address) as c:
        yield c


@pytest.fixture(autouse=True)
def no_quota(client: OperatorClient) -> Iterator[None]:
    yield
    roles = [c.role for c in client.get_quota()]
    if roles:
        client.update_quota([opb.QuotaConfig(role=r) for r in roles])


def cfg(role: str, guarantees: dict[str, float] | None = None, **limits: float) -> opb.QuotaConfig:
    return opb.QuotaConfig(role=role, guarantees=guarantees or {}, limits=limits)


def as_dict(configs: list[opb.QuotaConfig]) -> dict[str, tuple[dict[str, float], dict[str, float]]]:
    return {c.role: (dict(c.guarantees), dict(c.limits)) for c in configs}


def refused(client: OperatorClient, configs: list[opb.QuotaConfig], force: bool = False) -> str:
    before = as_dict(client.get_quota())
    with pytest.raises(OperatorError) as info:
        client.update_quota(configs, force=force)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert as_dict(client.get_quota()) == before  # nothing changed
    return str(info.value)


def run(cluster: LocalCluster, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--master", cluster.master_address])


# ---------------------------------------------------------------------- operator API


def test_quota_is_set_read_persisted_and_listed_with_roles(
    client: OperatorClient, cluster: LocalCluster
) -> None:
    answer = client.update_quota([cfg("eng/dev", {"cpus": 2}, cpus=4, mem=2048)])
    assert as_dict(answer) == {"eng/dev": ({"cpus": 2}, {"cpus": 4, "mem": 2048})}
    assert as_dict(client.get_quota()) == as_dict(answer)
    assert cluster.work_dir is not None
    registry = json.loads((cluster.work_dir / "master" / "registry.json").read_text())
    assert registry["quota"] == {
        "eng/dev": {"guarantees": {"cpus": 2.0}, "limits": {"cpus": 4.0, "mem": 2048.0}}
    }
    roles = {r.name: r for r in client.get_roles().roles}
    assert dict(roles["eng/dev"].quota.limits) == {"cpus": 4, "mem": 2048}
    assert "eng" in roles  # the parent of a role in use is listed too
    client.update_quota([cfg("eng/dev")])  # neither guarantees nor limits: removed
    assert client.get_quota() == []
    registry = json.loads((cluster.work_dir / "master" / "registry.json").read_text())
    assert registry["quota"] == {}


def test_a_guarantee_above_its_limit_is_refused(client: OperatorClient) -> None:
    message = refused(client, [cfg("eng", {"cpus": 4}, cpus=2)])
    assert "guarantee cpus:4 is above the limit cpus:2" in message


def test_unknown_resource_names_are_refused(client: OperatorClient) -> None:
    message = refused(client, [cfg("eng", {"cpu": 1})])
    assert "unknown resource 'cpu'; known: cpus, mem, disk, gpus" in message


@pytest.mark.parametrize(
    ("config", "says"),
    [
        (cfg("eng//dev", cpus=1), "empty path segment"),
        (cfg("*", cpus=1), "role '*' cannot have quota"),
        (cfg("eng", cpus=-1), "must be a finite number >= 0"),
    ],
)
def test_bad_roles_and_amounts_are_refused(
    client: OperatorClient, config: opb.QuotaConfig, says: str
) -> None:
    assert says in refused(client, [config])


def test_a_batch_is_all_or_nothing(client: OperatorClient) -> None:
    message = refused(client, [cfg("web", cpus=2), cfg("eng", {"cpus": 3}, cpus=1)])
    assert "role 'eng'" in message
    assert client.get_quota() == []


def test_guarantees_beyond_the_cluster_need_force(client: OperatorClient) -> None:
    client.update_quota([cfg("web", {"cpus": 5})])
    message = refused(client, [cfg("eng", {"cpus": 4, "mem": 100})])
    # 5 + 4 = 9 cpus against the agents' 8.
    assert "would exceed the cluster's resources by cpus:1" in message
    assert "the agents have cpus:8" in message and "--force" in message
    answer = client.update_quota([cfg("eng", {"cpus": 4, "mem": 100})], force=True)
    assert as_dict(answer)["eng"] == ({"cpus": 4, "mem": 100}, {})
    # Lowering a guarantee is always allowed, even while over the cluster's resources.
    client.update_quota([cfg("eng", {"cpus": 3.5})])


def test_hierarchy_rules_are_checked(client: OperatorClient) -> None:
    client.update_quota([cfg("eng", {"cpus": 2}, cpus=4)])
    assert "above the limit cpus:4 of the parent role 'eng'" in refused(
        client, [cfg("eng/dev", cpus=6)]
    )
    assert "guaranteed cpus:3 together" in refused(client, [cfg("eng/dev", {"cpus": 3})])


def test_a_framework_is_never_offered_beyond_its_roles_limit(
    client: OperatorClient, cluster: LocalCluster
) -> None:
    client.update_quota([cfg("team", cpus=1)])
    with FrameworkHarness(cluster.master_address, name="limited", roles=["team/a"]) as fw:
        fw.submit([task(f"t{i}", "sleep 300", "cpus:0.4;mem:16") for i in range(3)])
        running = lambda: sum(s == pb.TASK_RUNNING for s in fw.latest_states().values())  # noqa: E731
        fw.wait(lambda: running() == 2, what="two tasks RUNNING")
        seen = len(fw.tasks.offers_seen)
        fw.wait(lambda: len(fw.tasks.offers_seen) >= seen + 3, what="three more offers")
        for offer in fw.tasks.offers_seen:
            assert Resources.from_proto(offer.resources).cpus <= 1 + 1e-9
        assert running() == 2 and len(fw.tasks.launched) == 2  # the third waits
        roles = {r.name: r for r in client.get_roles().roles}
        assert Resources.from_proto(roles["team"].consumed).cpus <= 1 + 1e-9
        client.update_quota([cfg("team", cpus=2)])  # room for the third
        fw.wait(lambda: running() == 3, what="the third task RUNNING")


# ---------------------------------------------------------------------- CLI


def test_cli_set_show_remove(cluster: LocalCluster) -> None:
    result = run(
        cluster, "quota", "set", "eng/dev", "--guarantee", "cpus:1", "--limit", "cpus:2,mem:1024"
    )
    assert result.exit_code == 0, result.output
    assert "role eng/dev quota: guarantee cpus:1, limit cpus:2,mem:1024" in result.output
    shown = run(cluster, "quota", "show")
    assert shown.exit_code == 0
    line = next(line for line in shown.output.splitlines() if line.startswith("eng/dev"))
    assert "cpus:1" in line and "cpus:2,mem:1024" in line
    data = json.loads(run(cluster, "quota", "show", "eng/dev", "--json").output)
    assert data["configs"][0]["limits"] == {"cpus": 2.0, "mem": 1024.0}
    assert "eng/dev" in run(cluster, "quota").output  # the bare group shows
    assert run(cluster, "quota", "remove", "eng/dev").output.strip() == "role eng/dev quota removed"
    assert "no role has quota" in run(cluster, "quota", "show").output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--guarantee", "cpus:4", "--limit", "cpus:2"], "guarantee cpus:4 is above the limit"),
        (["--guarantee", "cpu:1"], "unknown resource 'cpu'"),
        (["--guarantee", "cpus:100"], "exceed the cluster's resources by cpus:92"),
        (["--limit", "cpus"], "is not NAME:AMOUNT"),
        (["--limit", "cpus:-1"], "finite number >= 0"),
        ([], "give --guarantee and/or --limit"),
    ],
)
def test_cli_errors_are_one_line_and_change_nothing(
    cluster: LocalCluster, client: OperatorClient, args: list[str], says: str
) -> None:
    result = run(cluster, "quota", "set", "eng", *args)
    assert result.exit_code != 0
    assert says in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output
    assert client.get_quota() == []


def test_cli_force_sets_what_the_cluster_cannot_hold(
    cluster: LocalCluster, client: OperatorClient
) -> None:
    result = run(cluster, "quota", "set", "eng", "--guarantee", "cpus:100", "--force")
    assert result.exit_code == 0, result.output
    assert as_dict(client.get_quota()) == {"eng": ({"cpus": 100}, {})}


def test_cli_remove_of_a_role_without_quota_fails(cluster: LocalCluster) -> None:
    result = run(cluster, "quota", "remove", "nobody")
    assert result.exit_code == 1 and "role 'nobody' has no quota" in result.output
