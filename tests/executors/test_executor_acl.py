"""ACLs and limits cover what executors and groups run, and UPDATE_FRAMEWORK's roles
(pure: the authorizer with plain data)."""

from __future__ import annotations

import pytest

from mesospy.scheduler import calls, default_executor, executor, executor_task, task
from mesospy.security.acl import Denied, parse_acl
from mesospy.security.auth import FRAMEWORKS, Caller
from mesospy.security.authorize import CallAuthorizer
from mesospy.security.guard import Guard
from mesospy.security.limits import LimitExceeded, MessageLimits
from mesospy.v1 import common_pb2 as pb

ACL = parse_acl(
    {
        "run_tasks": [{"principals": ["fw"], "users": ["nobody"]}],
        "register_frameworks": [{"principals": ["fw"], "roles": ["web"]}],
    }
)


class View:
    """The framework the calls come from runs as nobody."""

    def framework_info(self, framework_id: str) -> pb.FrameworkInfo | None:
        return pb.FrameworkInfo(id=framework_id, name="fw", user="nobody")

    def task_user(self, framework_id: str, task_id: str) -> str | None:
        return None


CALLER = Caller("fw", FRAMEWORKS, "/mesospy.v1.Scheduler/Send")


def authorize(call: calls.Call) -> None:
    call.framework_id = "f1"
    CallAuthorizer(ACL, View())(CALLER, call)


def test_an_executor_s_user_is_checked_like_a_task_s() -> None:
    mine = executor("e", "run-it", "cpus:0.1")
    authorize(calls.launch(["o1"], [executor_task("t1", mine, "cpus:0.1")]))
    as_root = executor("e", "run-it", "cpus:0.1")
    as_root.command.user = "root"
    with pytest.raises(Denied, match="user 'root'"):
        authorize(calls.launch(["o1"], [executor_task("t1", as_root, "cpus:0.1")]))


def test_a_group_s_tasks_and_executor_are_checked() -> None:
    authorize(calls.launch_group(["o1"], default_executor("pod"), [task("a", "true", "cpus:1")]))
    root_task = task("a", "true", "cpus:1")
    root_task.command.user = "root"
    with pytest.raises(Denied, match="user 'root'"):
        authorize(calls.launch_group(["o1"], default_executor("pod"), [root_task]))


def test_update_framework_needs_the_right_to_its_roles() -> None:
    authorize(calls.update_framework(pb.FrameworkInfo(id="f1", name="fw", roles=["web"])))
    with pytest.raises(Denied, match="role 'admin'"):
        authorize(calls.update_framework(pb.FrameworkInfo(id="f1", name="fw", roles=["admin"])))


def test_group_tasks_count_toward_the_tasks_per_accept_limit() -> None:
    guard = Guard(limits=MessageLimits(max_tasks_per_accept=2))
    call = calls.launch_group(
        ["o1"], default_executor("pod"), [task(f"t{i}", "true", "cpus:1") for i in range(3)]
    )
    refusal = guard.check(CALLER.method, CALLER, call)
    assert isinstance(refusal, str) and "ACCEPT launches 3 tasks; at most 2" in refusal
    call.accept.operations[0].launch_group.task_group.tasks.pop()
    assert guard.check(CALLER.method, CALLER, call) == CALLER


def test_framework_message_data_is_bounded_by_the_master_not_the_text_limit() -> None:
    MessageLimits().check(calls.message("e", "a", b"x" * (1 << 20)))  # 1 MiB: fine
    with pytest.raises(LimitExceeded, match="at most 65536"):
        MessageLimits().check(pb.CommandInfo(shell="x" * (1 << 20)))
