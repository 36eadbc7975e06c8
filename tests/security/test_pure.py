"""The pure pieces: credentials files, the authenticator, ACL rules, token buckets and
message limits, with plain data and an injected clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from google.protobuf.message import Message

from mesospy.security.acl import ACLError, Denied, parse_acl
from mesospy.security.auth import AuthenticationFailed, Authenticator
from mesospy.security.credentials import (
    PRINCIPAL_KEY,
    SECRET_KEY,
    CredentialsError,
    parse_credentials,
)
from mesospy.security.limits import LimitExceeded, MessageLimits
from mesospy.security.ratelimit import RateLimit, RateLimiter, RateLimitError
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import scheduler_pb2 as spb


def test_credentials_in_both_formats() -> None:
    json_store = parse_credentials('{"credentials": [{"principal": "a", "secret": "x"}]}')
    text_store = parse_credentials("# comment\na x\n\nb y  # trailing\n")
    assert json_store.verify("a", "x") and text_store.verify("b", "y")
    assert not text_store.verify("a", "y") and not text_store.verify("zz", "x")
    for bad, words in [
        ("a x y", "line 1: expected 'principal secret'"),
        ("a x\na z", "given twice"),
        ('{"credentials": [{"principal": "a"}]}', "must be strings"),
        ("{nope", "not valid JSON"),
    ]:
        with pytest.raises(CredentialsError, match=words):
            parse_credentials(bad)


def test_authenticator() -> None:
    store = parse_credentials("batch s3cret")
    auth = Authenticator.create(store, ["frameworks"], trust_certificates=False)
    method = "/mesospy.v1.Scheduler/Send"
    good = {PRINCIPAL_KEY: "batch", SECRET_KEY: "s3cret"}
    assert auth.authenticate(method, good, None).principal == "batch"
    for metadata in ({}, {PRINCIPAL_KEY: "batch", SECRET_KEY: "no"}, {PRINCIPAL_KEY: "batch"}):
        with pytest.raises(AuthenticationFailed):
            auth.authenticate(method, metadata, None)
    # An unverified certificate names nobody; operators need no authentication here.
    with pytest.raises(AuthenticationFailed):
        auth.authenticate(method, {}, "batch")
    caller = auth.authenticate("/mesospy.v1.Operator/GetState", {}, "batch")
    assert caller.principal is None
    trusting = Authenticator.create(None, ["operators"], trust_certificates=True)
    assert trusting.authenticate("/mesospy.v1.Operator/GetState", {}, "ops").principal == "ops"
    with pytest.raises(ValueError, match="nobody could pass"):
        Authenticator.create(None, ["agents"], trust_certificates=False)


def test_acl_first_matching_rule_decides_and_default_denies() -> None:
    acl = parse_acl(
        {
            "run_tasks": [
                {"principals": ["a"], "users": ["nobody"]},
                {"principals": "ANY", "users": "NONE"},
            ],
            "view_cluster": [{"principals": "ANY"}],
        }
    )
    acl.check("run_tasks", "a", "nobody")
    with pytest.raises(Denied, match=r"denied by ACL rule run_tasks\[1\]"):
        acl.check("run_tasks", "a", "root")
    acl.check("view_cluster", None)  # ANY includes anonymous callers
    with pytest.raises(Denied, match="no ACL rule of 'drain_agents' allows it"):
        acl.check("drain_agents", "a", "agent-1")
    parse_acl({"permissive": True}).check("drain_agents", "a", "agent-1")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"run_task": []}, "unknown action 'run_task'"),
        ({"run_tasks": [{"users": ["x"]}]}, "'principals' is missing"),
        ({"run_tasks": [{"principals": "NONE"}]}, "expected a list of names, ANY"),
        ({"run_tasks": [{"principals": ["a"], "roles": ["x"]}]}, "unknown keys"),
        ({"rate_limits": [{"principal": "a", "rate": -1}]}, "rate > 0"),
    ],
)
def test_acl_errors_name_the_entry(data: object, words: str) -> None:
    with pytest.raises(ACLError, match=words):
        parse_acl(data)


def test_token_bucket_with_an_injected_clock() -> None:
    limiter = RateLimiter({"a": RateLimit(2, 3)}, default=None)
    assert [limiter.allow("a", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("a", 0.5)  # one token back after half a second at 2/s
    assert not limiter.allow("a", 0.5)
    assert all(limiter.allow("b", 0.0) for _ in range(100))  # no limit for b
    assert RateLimit.parse("10") == RateLimit(10, 10)
    with pytest.raises(RateLimitError):
        RateLimit.parse("fast")


def test_message_limits_name_the_field() -> None:
    limits = MessageLimits(max_tasks_per_accept=2)
    call = spb.Call(type=spb.Call.ACCEPT)
    launch = call.accept.operations.add().launch
    info = launch.task_infos.add(task_id="t" * 2000)
    with pytest.raises(LimitExceeded, match=r"task_infos\[0\].task_id is 2000 characters"):
        limits.check(call)
    info.task_id = "t"
    info.labels.extend(pb.Label(key=str(i)) for i in range(65))
    with pytest.raises(LimitExceeded, match="labels has 65 entries; at most 64"):
        limits.check(call)
    del info.labels[:]
    info.resources.add(name="cpus", scalar=float("inf"))
    with pytest.raises(LimitExceeded, match="scalar is inf"):
        limits.check(call)
    with pytest.raises(LimitExceeded, match="ACCEPT launches 3 tasks; at most 2"):
        limits.check_accept([[info, info, info]])


def test_the_fast_limits_check_agrees_with_the_field_naming_walk() -> None:
    # check() runs a fast pass and, only on a breach, a second pass that names the field:
    # both must reach the same verdict on every kind of field.
    limits = MessageLimits()

    def call_with(change: Callable[[pb.TaskInfo], None]) -> spb.Call:
        call = spb.Call(type=spb.Call.ACCEPT)
        info = call.accept.operations.add().launch.task_infos.add(task_id="t", name="n")
        info.resources.add(name="cpus", scalar=1.0)
        info.command.shell = "true"
        info.labels.add(key="k", value="v")
        change(info)
        return call

    def fast_breach(message: Message) -> bool:
        try:
            limits._fast(message)
        except Exception:
            return True
        return False

    def slow_breach(message: Message) -> bool:
        try:
            limits._walk(message, "")
        except LimitExceeded:
            return True
        return False

    changes: dict[str, Callable[[pb.TaskInfo], None]] = {
        "nothing": lambda i: None,
        "long id": lambda i: setattr(i, "task_id", "t" * 1025),
        "id at the limit": lambda i: setattr(i, "task_id", "t" * 1024),
        "long shell (text)": lambda i: setattr(i.command, "shell", "x" * 60_000),
        "too long shell": lambda i: setattr(i.command, "shell", "x" * 70_000),
        "long argv item": lambda i: i.command.argv.append("a" * 60_000),
        "too many labels": lambda i: i.labels.extend(pb.Label(key=str(n)) for n in range(64)),
        "long label value": lambda i: setattr(i.labels[0], "value", "v" * 60_000),
        "long label key": lambda i: setattr(i.labels[0], "key", "k" * 2_000),
        "nan": lambda i: setattr(i.resources[0], "scalar", float("nan")),
        "-inf": lambda i: setattr(i.resources[0], "scalar", float("-inf")),
        "unknown enum": lambda i: setattr(i.resources[0], "type", 99),
        "env value (text)": lambda i: i.command.environment.update({"A": "x" * 60_000}),
        "long env key": lambda i: i.command.environment.update({"k" * 2_000: "x"}),
        "long env value": lambda i: i.command.environment.update({"A": "x" * 70_000}),
    }

    def semantic_breach(message: Message) -> bool:
        try:
            limits._semantic(message)
        except Exception:
            return True
        return False

    def check_breach(message: Message) -> bool:
        try:
            limits.check(message)
        except LimitExceeded:
            return True
        return False

    changes.update(
        {
            "64 labels": lambda i: i.labels.extend(pb.Label(key=str(n)) for n in range(63)),
            "nan in a health check": lambda i: setattr(
                i.health_check, "delay_seconds", float("nan")
            ),
            "unknown enum in a health check": lambda i: setattr(i.health_check, "type", 99),
            "long environment key, small message": lambda i: i.command.environment.update(
                {"k" * 1_000: ""}
            ),
        }
    )
    verdicts = {}
    small = 0
    for name, change in changes.items():
        call = call_with(change)
        verdicts[name] = fast_breach(call)
        assert verdicts[name] == slow_breach(call) == check_breach(call), name
        # Small messages are judged on numbers, enums and label counts alone.
        if call.ByteSize() <= limits._small:
            small += 1
            assert semantic_breach(call) == verdicts[name], name
    assert small >= 8
    assert not verdicts["nothing"] and not verdicts["id at the limit"]
    assert verdicts["long id"] and verdicts["nan"] and verdicts["unknown enum"]
    assert verdicts["too many labels"] and not verdicts["64 labels"]
    assert verdicts["nan in a health check"] and verdicts["unknown enum in a health check"]


def test_small_messages_skip_only_what_cannot_break_a_limit() -> None:
    # What a small message's check may skip: types with nothing but text and integers
    # beneath them. Anything reaching a float, an enum, a map or labels is looked at.
    from mesospy.security import limits as module

    assert module._holds(pb.TaskInfo.DESCRIPTOR)  # resources' scalars, health checks
    assert module._holds(pb.CommandInfo.DESCRIPTOR)  # its environment map
    assert not module._holds(pb.Label.DESCRIPTOR)
    assert not module._holds(pb.Range.DESCRIPTOR)
    limits = MessageLimits()
    info = pb.TaskInfo(task_id="t")
    info.labels.extend(pb.Label(key=str(n)) for n in range(65))
    assert info.ByteSize() <= limits._small
    with pytest.raises(LimitExceeded, match="labels has 65 entries"):
        limits.check(info)
