"""Health check counting: grace period, consecutive failures, changes of health."""

from __future__ import annotations

from mesospy.agent.agent import leader_hint
from mesospy.agent.health import HealthPolicy, HealthTracker, validate_health_check
from mesospy.v1 import common_pb2


def test_failures_in_grace_period_do_not_count_until_first_success() -> None:
    tracker = HealthTracker(HealthPolicy(grace_period=10, consecutive_failures=2), started_at=0)
    assert tracker.record(False, 1) == (False, False)
    assert tracker.record(False, 2) == (False, False)
    assert tracker.record(True, 3) == (True, False)
    assert tracker.record(True, 4) == (False, False)
    assert tracker.record(False, 5) == (True, False)  # counts now: it succeeded once
    assert tracker.record(False, 6) == (False, True)


def test_failures_after_grace_count() -> None:
    tracker = HealthTracker(HealthPolicy(grace_period=1, consecutive_failures=3), started_at=0)
    assert tracker.record(False, 2) == (True, False)
    assert tracker.record(False, 3) == (False, False)
    assert tracker.record(True, 4) == (True, False)  # resets the count
    assert tracker.record(False, 5) == (True, False)
    assert tracker.record(False, 6) == (False, False)
    assert tracker.record(False, 7) == (False, True)


def test_policy_defaults_follow_mesos() -> None:
    policy = HealthPolicy.from_proto(common_pb2.HealthCheck(interval_seconds=1))
    assert policy == HealthPolicy(delay=15, interval=1, timeout=20, consecutive_failures=3)


def test_validation() -> None:
    hc = common_pb2.HealthCheck
    assert validate_health_check(hc()) is not None
    assert validate_health_check(hc(type=hc.HTTP)) == "HTTP health check needs http.port in 1-65535"
    assert validate_health_check(hc(type=hc.TCP, tcp=hc.TCPCheck(port=80))) is None
    command = hc(type=hc.COMMAND, command=common_pb2.CommandInfo(shell="true"))
    assert validate_health_check(command) is None
    command.interval_seconds = -1
    assert "interval_seconds" in (validate_health_check(command) or "")


class _Error:
    def __init__(self, details: str) -> None:
        self._details = details

    def code(self) -> object:
        import grpc

        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return self._details


def test_leader_hint() -> None:
    assert leader_hint(_Error("not the leader; leader=10.0.0.2:5050")) == "10.0.0.2:5050"  # type: ignore[arg-type]
    assert leader_hint(_Error("no leader elected")) is None  # type: ignore[arg-type]
