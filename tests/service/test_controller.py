"""The controller with plain data: scale, rolling updates, rollback, replace-before-kill,
circuit breaker, backoff, unreachable instances; and how status updates become instances."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from frameworks.service import deployment
from frameworks.service.controller import Plan, plan
from frameworks.service.model import FAILED, ROLLED_BACK, AppRecord, Instance
from frameworks.service.scheduler import AGENT_NEVER_KILLS, _health_check, _observe
from frameworks.service.spec import parse_spec
from mesospy.v1 import common_pb2 as pb

HEALTH = {"protocol": "HTTP", "portIndex": 0, "intervalSeconds": 1, "maxConsecutiveFailures": 3}


def spec(**fields: Any) -> dict[str, Any]:
    return {
        "id": "web",
        "cmd": "serve",
        "instances": 3,
        "ports": ["http"],
        "healthCheck": HEALTH,
        **fields,
    }


def settled(n: int = 3, **fields: Any) -> AppRecord:
    """An app whose first deployment succeeded (v1 is the last healthy version)."""
    app = deployment.new_app(parse_spec(spec(instances=n, **fields)), now=0.0)
    return deployment.succeed(app, now=1.0)


def running(
    app: AppRecord,
    version: str,
    count: int,
    *,
    start: int = 0,
    healthy: bool | None = True,
    at: float = 0.0,
) -> list[Instance]:
    return [
        Instance(
            f"web.{version}.{start + k}",
            "web",
            version,
            state="running",
            healthy=healthy,
            launched_at=at + k,
        )
        for k in range(count)
    ]


def killed(p: Plan) -> list[str]:
    return [k.task_id for k in p.kills]


def test_scale_up_launches_the_missing_instances() -> None:
    app = settled()
    assert plan(app, running(app, "v1", 1), now=2.0).launch == 2


def test_scaling_restarts_nothing_and_scaling_down_kills_the_youngest() -> None:
    app = deployment.scale(settled(), 2, now=2.0)
    p = plan(app, running(app, "v1", 3), now=3.0)
    assert p.launch == 0
    assert killed(p) == ["web.v1.2"]  # youngest first (launched last)
    assert p.app.deployment is not None and p.app.deployment.to_version == "v2"


def test_scale_down_with_oldest_first() -> None:
    app = deployment.scale(settled(killSelection="OLDEST_FIRST"), 2, now=2.0)
    assert killed(plan(app, running(app, "v1", 3), now=3.0)) == ["web.v1.0"]


def test_scale_deployment_succeeds_when_the_count_is_reached() -> None:
    app = deployment.scale(settled(), 2, now=2.0)
    p = plan(app, running(app, "v1", 2), now=3.0)
    assert p.app.deployment is None
    assert p.app.last_healthy == "v2"
    assert p.app.history[-1].status == "SUCCEEDED"


def rollout(strategy: dict[str, Any], n: int = 4) -> tuple[AppRecord, list[tuple[int, int]]]:
    """Drive a rolling update to the end, every launched instance healthy at the next
    step; return (available instances, total instances) after each step."""
    app = settled(n, upgradeStrategy=strategy)
    app = deployment.update(app, replace(app.spec, cmd="serve --v2"), now=2.0)
    instances = running(app, "v1", n)
    seen: list[tuple[int, int]] = []
    now = 3.0
    for step in range(20):
        p = plan(app, instances, now)
        app = p.app
        gone = set(killed(p))
        instances = [i for i in instances if i.task_id not in gone]
        instances += running(app, app.current, p.launch, start=100 * step, at=now)
        seen.append((sum(1 for i in instances if i.healthy), len(instances)))
        if app.deployment is None:
            return app, seen
        now += 1
    raise AssertionError(f"no end after 20 steps: {seen}")


def test_rolling_update_with_surge_never_drops_below_n() -> None:
    app, seen = rollout({"maxSurge": 1, "maxUnavailable": 0})
    assert app.current == "v2" and app.last_healthy == "v2"
    assert all(available >= 4 and total <= 5 for available, total in seen), seen


def test_rolling_update_with_unavailable_never_exceeds_n() -> None:
    app, seen = rollout({"maxSurge": 0, "maxUnavailable": 2})
    assert app.last_healthy == "v2"
    assert all(available >= 2 and total <= 4 for available, total in seen), seen


def test_rolling_update_with_percentages() -> None:
    app, seen = rollout({"maxSurge": "50%", "maxUnavailable": "25%"})
    assert app.last_healthy == "v2"
    assert all(available >= 3 and total <= 6 for available, total in seen), seen


def test_marathon_capacities_map_onto_surge_and_unavailable() -> None:
    app, seen = rollout({"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.0})
    assert app.last_healthy == "v2"
    assert all(available >= 2 and total <= 4 for available, total in seen), seen
    # Marathon's 1.0/0.0 cannot move; it gets a surge of one.
    app, seen = rollout({"minimumHealthCapacity": 1.0, "maximumOverCapacity": 0.0})
    assert all(available >= 4 and total <= 5 for available, total in seen), seen


def test_first_step_of_a_surge_update_launches_without_killing() -> None:
    app = settled(upgradeStrategy={"maxSurge": 1, "maxUnavailable": 0})
    app = deployment.update(app, replace(app.spec, cmd="v2"), now=2.0)
    p = plan(app, running(app, "v1", 3), now=3.0)
    assert (p.launch, p.kills) == (1, ())


def test_paused_deployment_does_nothing_until_resumed() -> None:
    app = settled()
    app = deployment.pause(deployment.update(app, replace(app.spec, cmd="v2"), now=2.0), 2.0)
    p = plan(app, running(app, "v1", 3), now=3.0)
    assert (p.launch, p.kills) == (0, ())
    assert plan(deployment.resume(app, 4.0), running(app, "v1", 3), now=4.0).launch == 1


def test_deadline_without_progress_rolls_back_to_last_healthy() -> None:
    app = settled(upgradeStrategy={"progressDeadlineSeconds": 10})
    app = deployment.update(app, replace(app.spec, cmd="broken"), now=2.0)
    instances = running(app, "v1", 3) + running(app, "v2", 1, start=9, healthy=None)
    assert plan(app, instances, now=11.0).app.current == "v2"
    p = plan(app, instances, now=12.5)
    assert p.app.current == "v1"
    assert p.app.deployment is not None and p.app.deployment.kind == "rollback"
    assert p.app.history[-1].status == ROLLED_BACK
    assert "web.v2.9" in killed(p)  # the broken instance goes at once
    assert p.app.failed_versions == ("v2",)


def test_repeated_failures_of_the_new_version_roll_back() -> None:
    app = settled()
    app = deployment.update(app, replace(app.spec, cmd="crash"), now=2.0)
    for k in range(3):
        app = deployment.instance_failed(app, "v2", now=3.0 + k)
    p = plan(app, running(app, "v1", 3), now=6.0)
    # The old instances are all healthy, so the rollback is done at once.
    assert p.app.current == "v1" and p.app.deployment is None
    assert [d.status for d in p.app.history[-2:]] == [ROLLED_BACK, "SUCCEEDED"]
    assert "3 instances of v2 failed" in p.app.history[-1].message


def test_first_deploy_has_nothing_to_roll_back_to_and_fails_at_the_deadline() -> None:
    app = deployment.new_app(parse_spec(spec(upgradeStrategy={"progressDeadlineSeconds": 5})), 0)
    p = plan(app, running(app, "v1", 3, healthy=False), now=6.0)
    assert p.app.deployment is None and p.app.history[-1].status == FAILED
    assert p.app.current == "v1"


def test_no_auto_rollback_when_disabled() -> None:
    app = settled(upgradeStrategy={"progressDeadlineSeconds": 5, "autoRollback": False})
    app = deployment.update(app, replace(app.spec, cmd="broken"), now=2.0)
    p = plan(app, running(app, "v1", 3), now=8.0)
    assert p.app.current == "v2" and p.app.history[-1].status == FAILED


def test_replace_before_kill() -> None:
    app = settled()
    sick = replace(running(app, "v1", 1, start=7)[0], healthy=False, unhealthy_since=1.0)
    instances = [*running(app, "v1", 2), sick]
    p = plan(app, instances, now=10.0)
    assert (p.launch, p.kills) == (1, ())  # a replacement first, nothing killed
    instances.append(running(app, "v1", 1, start=8, healthy=None)[0])
    assert plan(app, instances, now=11.0).kills == ()  # replacement not healthy yet
    instances[-1] = replace(instances[-1], healthy=True)
    p = plan(app, instances, now=12.0)
    assert killed(p) == [sick.task_id] and p.kills[0].failure and p.launch == 0


def test_unhealthy_for_less_than_the_allowed_failures_is_left_alone() -> None:
    app = settled()
    sick = replace(running(app, "v1", 1, start=7)[0], healthy=False, unhealthy_since=9.5)
    p = plan(app, [*running(app, "v1", 2), sick], now=10.0)
    assert (p.launch, p.kills) == (0, ())


def test_circuit_breaker_stops_health_driven_replacement() -> None:
    app = settled()
    instances = running(app, "v1", 1) + [
        replace(i, healthy=False, unhealthy_since=0.0) for i in running(app, "v1", 2, start=5)
    ]
    p = plan(app, instances, now=100.0)
    assert (p.launch, p.kills) == (0, ())
    assert any("circuit breaker open" in note for note in p.notes)


def test_backoff_delays_relaunch_and_grows() -> None:
    app = settled(backoff={"seconds": 2, "factor": 2, "maxDelaySeconds": 5})
    app = deployment.instance_failed(app, "v1", now=10.0)
    p = plan(app, running(app, "v1", 2), now=11.0)
    assert p.launch == 0 and p.wait_until == 12.0
    assert plan(app, running(app, "v1", 2), now=12.0).launch == 1
    for _ in range(3):
        app = deployment.instance_failed(app, "v1", now=20.0)
    assert app.delay_until == 25.0  # 2, 4, 8 -> capped at 5
    assert deployment.instance_healthy(app).delay_until == 0.0


def test_restart_limit_stops_relaunching() -> None:
    app = settled(maxRestarts=2)
    for _ in range(2):
        app = deployment.instance_failed(app, "v1", now=1.0)
    p = plan(app, [], now=1000.0)
    assert p.launch == 0 and any("restart limit" in note for note in p.notes)


def test_unreachable_instance_is_replaced_after_inactive_after_then_killed_on_return() -> None:
    app = settled(unreachableStrategy={"inactiveAfterSeconds": 10, "expungeAfterSeconds": 20})
    lost = replace(running(app, "v1", 1, start=5)[0], state="unreachable", unreachable_since=0.0)
    instances = [*running(app, "v1", 2), lost]
    assert plan(app, instances, now=5.0).launch == 0
    p = plan(app, instances, now=10.0)
    assert p.inactive == (lost.task_id,)
    gone = replace(lost, inactive=True)
    assert plan(app, [*running(app, "v1", 2), gone], now=11.0).launch == 1
    assert plan(app, [*running(app, "v1", 3), gone], now=21.0).expunge == (lost.task_id,)
    back = replace(gone, state="running")
    assert killed(plan(app, [*running(app, "v1", 3), back], now=12.0)) == [lost.task_id]


def test_delete_kills_everything_then_forgets_the_app() -> None:
    app = deployment.delete(settled(), now=2.0)
    assert sorted(killed(plan(app, running(app, "v1", 3), now=3.0))) == [
        "web.v1.0",
        "web.v1.1",
        "web.v1.2",
    ]
    assert plan(app, [], now=4.0).forget


def test_restart_replaces_every_instance() -> None:
    app = deployment.restart(settled(), now=2.0)
    assert app.current == "v2" and app.spec.restart_nonce == 1
    assert plan(app, running(app, "v1", 3), now=3.0).launch == 1


def test_status_updates_become_instance_state() -> None:
    i = Instance("web.v1.a", "web", "v1", state="staging")
    i = _observe(i, pb.TaskStatus(state=pb.TASK_RUNNING, agent_id="a1"), now=1.0)
    assert (i.state, i.agent_id, i.healthy) == ("running", "a1", None)
    i = _observe(i, pb.TaskStatus(state=pb.TASK_RUNNING, healthy=False), now=2.0)
    i = _observe(i, pb.TaskStatus(state=pb.TASK_RUNNING, healthy=False), now=3.0)
    assert (i.healthy, i.unhealthy_since) == (False, 2.0)  # since the first failure
    i = _observe(i, pb.TaskStatus(state=pb.TASK_UNREACHABLE), now=4.0)
    assert (i.state, i.unreachable_since) == ("unreachable", 4.0)
    i = _observe(i, pb.TaskStatus(state=pb.TASK_RUNNING, healthy=True), now=5.0)
    assert (i.state, i.unreachable_since, i.healthy, i.unhealthy_since) == (
        "running",
        None,
        True,
        None,
    )


def test_health_checks_are_left_to_the_framework_to_act_on() -> None:
    app_spec = parse_spec(spec(healthCheck={**HEALTH, "path": "/ok"}, ports=["a", "b"]))
    check = _health_check(app_spec.health_check, (31000, 31001))
    assert check is not None and check.type == pb.HealthCheck.HTTP
    assert (check.http.port, check.http.path) == (31000, "/ok")
    # The agent reports health; replacing and killing is the framework's call.
    assert check.consecutive_failures == AGENT_NEVER_KILLS


def test_max_consecutive_failures_0_never_replaces_an_unhealthy_instance() -> None:
    # Marathon's meaning of 0: failing checks are reported, never acted on.
    app = settled(healthCheck={**HEALTH, "maxConsecutiveFailures": 0})
    sick = replace(running(app, "v1", 1, start=7)[0], healthy=False, unhealthy_since=0.0)
    p = plan(app, [*running(app, "v1", 2), sick], now=1000.0)
    assert (p.launch, p.kills) == (0, ())
