"""The operator CLI with click's CliRunner against a real local cluster: every command,
with and without --json, and the error paths."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from mesospy.cli.main import cli
from mesospy.client import OperatorClient
from mesospy.scheduler import task
from mesospy.testing import FrameworkHarness, LocalCluster, free_port
from mesospy.v1 import common_pb2 as pb


@pytest.fixture(scope="module")
def fw(cluster: LocalCluster) -> Iterator[FrameworkHarness]:
    with FrameworkHarness(cluster.master_address, name="cli-fw") as harness:
        harness.submit(
            [
                task("talker", "echo hello-out; echo hello-err >&2; sleep 300", "cpus:0.2;mem:16"),
                task("done", "echo finished", "cpus:0.1;mem:16"),
            ]
        )
        harness.wait(
            lambda: (
                harness.latest_states().get("talker") == pb.TASK_RUNNING
                and harness.latest_states().get("done") == pb.TASK_FINISHED
            ),
            what="talker RUNNING, done FINISHED",
        )
        yield harness


def run(cluster: LocalCluster, *args: str, ok: bool = True, input: str | None = None) -> Result:
    result = CliRunner().invoke(
        cli, [*args, "--master", cluster.master_address], input=input, catch_exceptions=False
    )
    if ok:
        assert result.exit_code == 0, result.output
    return result


def agent_of(cluster: LocalCluster, task_id: str) -> str:
    with OperatorClient(cluster.master_address) as client:
        return client.find_task(task_id).agent_id


@pytest.mark.parametrize(
    "args, text",
    [
        (["state"], "agents"),
        (["info"], "leading"),
        (["agents"], "ADDRESS"),
        (["agents", "list"], "ADDRESS"),
        (["frameworks"], "cli-fw"),
        (["frameworks", "list"], "cli-fw"),
        (["tasks"], "talker"),
        (["tasks", "list", "--state", "running"], "talker"),
        (["tasks", "list", "--all", "--state", "finished"], "done"),
        (["roles"], "WEIGHT"),
        (["roles", "list"], "*"),
        (["roles", "show", "*"], "frameworks"),
        (["weights"], ""),
        (["metrics"], "mesospy_master_elected 1"),
        (["tasks", "show", "talker"], "RUNNING"),
        (["files", "talker"], "stdout"),
        (["top", "--once"], "mesospy top"),
    ],
)
def test_read_commands_for_people(
    cluster: LocalCluster, fw: FrameworkHarness, args: list[str], text: str
) -> None:
    result = run(cluster, *args)
    assert text in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args, key",
    [
        (["state"], "agents"),
        (["info"], "master"),
        (["agents"], "agents"),
        (["agents", "list"], "agents"),
        (["frameworks", "list"], "frameworks"),
        (["roles", "list"], "roles"),
        (["tasks", "show", "talker"], "task_id"),
        (["files", "talker"], "files"),
        (["metrics"], "mesospy_master_elected"),
    ],
)
def test_read_commands_as_json(
    cluster: LocalCluster, fw: FrameworkHarness, args: list[str], key: str
) -> None:
    data = json.loads(run(cluster, *args, "--json").output)
    assert key in data


def test_show_commands_for_agents_and_frameworks(
    cluster: LocalCluster, fw: FrameworkHarness
) -> None:
    agent_id = agent_of(cluster, "talker")
    assert "talker" in run(cluster, "agents", "show", agent_id).output
    assert json.loads(run(cluster, "agents", "show", agent_id, "--json").output)["agent_info"]
    fid = fw.tasks.framework_id
    assert "cli-fw" in run(cluster, "frameworks", "show", fid).output
    assert json.loads(run(cluster, "frameworks", "show", fid, "--json").output)["framework_info"]
    tasks = json.loads(run(cluster, "tasks", "--json").output)
    assert "talker" in {t["task_id"] for t in tasks}
    assert json.loads(run(cluster, "roles", "show", "*", "--json").output)["name"] == "*"


def test_logs(cluster: LocalCluster, fw: FrameworkHarness) -> None:
    assert run(cluster, "logs", "talker").output == "hello-out\n"
    assert run(cluster, "logs", "talker", "--stderr").output == "hello-err\n"
    assert run(cluster, "logs", "talker", "--tail", "4").output == "out\n"
    # --follow returns once the task has ended and its file is drained.
    assert run(cluster, "logs", "done", "--follow").output == "finished\n"


def test_events(cluster: LocalCluster, fw: FrameworkHarness) -> None:
    lines = run(cluster, "events", "--count", "1").output.splitlines()
    assert len(lines) == 1 and "SUBSCRIBED" in lines[0]
    event = json.loads(run(cluster, "events", "--count", "1", "--json").output)
    assert event["type"] == "SUBSCRIBED" and event["subscribed"]["agents"]


def test_weights_set(cluster: LocalCluster) -> None:
    assert "role analytics weight 2.5" in run(cluster, "weights", "set", "analytics=2.5").output
    assert json.loads(run(cluster, "weights", "--json").output)["analytics"] == 2.5
    assert "analytics" in run(cluster, "weights", "list").output
    bad = run(cluster, "weights", "set", "analytics=zero", ok=False)
    assert bad.exit_code == 2 and "ROLE=WEIGHT" in bad.output
    refused = run(cluster, "weights", "set", "analytics=-1", ok=False)
    assert refused.exit_code == 1
    assert refused.output.strip().splitlines() == [
        "mesospy: error: weight -1.0 of role 'analytics' must be a finite number > 0"
    ]


def test_deactivate_reactivate_and_drain(cluster: LocalCluster, fw: FrameworkHarness) -> None:
    agent_id = agent_of(cluster, "talker")
    assert "deactivated" in run(cluster, "agents", "deactivate", agent_id).output
    assert "active" in run(cluster, "agents", "reactivate", agent_id).output
    drained = run(cluster, "agents", "drain", agent_id, "--max-grace-period", "1")
    assert f"agent {agent_id} drained" in drained.output
    fw.wait(lambda: fw.latest_states()["talker"] == pb.TASK_KILLED, what="talker KILLED")
    assert "drained" in run(cluster, "agents").output
    assert "active" in run(cluster, "agents", "reactivate", agent_id).output


def test_teardown_and_mark_gone(cluster: LocalCluster) -> None:
    with FrameworkHarness(cluster.master_address, name="doomed") as doomed:
        doomed.submit([task("victim", "sleep 300", "cpus:0.1;mem:16")])
        doomed.wait(lambda: doomed.latest_states().get("victim") == pb.TASK_RUNNING, what="RUN")
        fid = doomed.tasks.framework_id
        aborted = run(cluster, "frameworks", "teardown", fid, ok=False, input="n\n")
        assert aborted.exit_code == 1
        result = run(cluster, "frameworks", "teardown", fid, "--yes")
        assert f"framework {fid} torn down (1 task(s) killed)" in result.output
    assert fid not in run(cluster, "frameworks").output
    extra = cluster.add_agent()
    ids = {a.agent_info.id: a.agent_info.port for a in cluster.state().agents}
    agent_id = next(i for i, port in ids.items() if port == extra.port)
    assert "marked gone" in run(cluster, "agents", "mark-gone", agent_id, "--yes").output
    assert "gone" in run(cluster, "agents").output


@pytest.mark.parametrize(
    "args, message",
    [
        (["agents", "show", "nope"], "agent 'nope' is not a registered agent"),
        (["agents", "drain", "nope"], "agent 'nope' is unknown to the master"),
        (["agents", "deactivate", "nope"], "agent 'nope' is unknown"),
        (["agents", "reactivate", "nope"], "agent 'nope' is unknown"),
        (["agents", "mark-gone", "nope", "--yes"], "agent 'nope' is unknown"),
        (["frameworks", "show", "nope"], "framework 'nope' is unknown"),
        (["frameworks", "teardown", "nope", "--yes"], "framework 'nope' is unknown"),
        (["tasks", "show", "nope"], "task 'nope' is unknown"),
        (["logs", "nope"], "task 'nope' is unknown"),
        (["files", "nope"], "task 'nope' is unknown"),
        (["roles", "show", "nope"], "role 'nope' has no"),
        (["files", "talker", "../.."], "outside the task's sandbox"),
    ],
)
def test_errors_are_one_line(
    cluster: LocalCluster, fw: FrameworkHarness, args: list[str], message: str
) -> None:
    result = run(cluster, *args, ok=False)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mesospy: error: "), result.output
    assert message in lines[0]


@pytest.mark.parametrize("args", [["state"], ["agents"], ["tasks", "--json"], ["events"]])
def test_unreachable_master_is_named(args: list[str]) -> None:
    address = f"127.0.0.1:{free_port()}"
    result = CliRunner().invoke(cli, [*args, "--master", address])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"cannot reach the master at {address}" in lines[0]


def test_help_everywhere_has_an_example() -> None:
    runner = CliRunner()
    groups = ["agents", "frameworks", "tasks", "roles", "weights"]
    leaves = [
        ["state"], ["info"], ["metrics"], ["logs"], ["files"], ["events"], ["top"],
        ["completion"], ["agents", "drain"], ["agents", "mark-gone"], ["agents", "show"],
        ["frameworks", "teardown"], ["tasks", "list"], ["weights", "set"],
    ]  # fmt: skip
    for args in [[g] for g in groups] + leaves:
        result = runner.invoke(cli, [*args, "--help"])
        assert result.exit_code == 0 and "Example" in result.output, args
    assert "agents drain" in runner.invoke(cli, ["--help"]).output


def test_completion_scripts() -> None:
    for shell in ("bash", "zsh"):
        result = CliRunner().invoke(cli, ["completion", shell])
        assert result.exit_code == 0 and "_MESOSPY_COMPLETE" in result.output
