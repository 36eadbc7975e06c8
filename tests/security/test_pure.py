"""The pure pieces: credentials files, the authenticator, ACL rules, token buckets and
message limits, with plain data and an injected clock."""

from __future__ import annotations

import pytest

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
