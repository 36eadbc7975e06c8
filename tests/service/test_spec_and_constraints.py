"""App specs (validation lists every problem by field path) and placement constraints."""

from __future__ import annotations

import pytest

from frameworks.service.constraints import Place, violated
from frameworks.service.model import parse_task_id, task_id_for
from frameworks.service.spec import (
    Constraint,
    SpecError,
    UpgradeStrategy,
    load_spec_text,
    parse_spec,
    surge_and_unavailable,
)

FULL = """
id: shop/web
cmd: python3 -m http.server $PORT0
instances: 4
cpus: 0.2
mem: 64
env: {MODE: prod, WORKERS: 4}
ports: [{name: http}, admin]
constraints: [[hostname, UNIQUE], [rack, GROUP_BY, "2"], [zone, LIKE, "eu-.*"]]
healthCheck: {protocol: TCP, portIndex: 1, intervalSeconds: 2, maxConsecutiveFailures: 5}
readinessCheck: {path: /ready}
backoff: {seconds: 2, factor: 2, maxDelaySeconds: 60}
maxRestarts: 10
killGracePeriodSeconds: 5
killSelection: oldest_first
unreachableStrategy: {inactiveAfterSeconds: 30, expungeAfterSeconds: 90}
upgradeStrategy: {minimumHealthCapacity: 0.5, maximumOverCapacity: 0.25}
circuitBreaker: {maxUnhealthyShare: 0.3}
vip: 127.0.0.1:10080
labels: {team: shop}
"""


def test_a_full_spec_round_trips_through_its_canonical_form() -> None:
    spec = load_spec_text(FULL)
    assert spec.id == "shop/web" and spec.env == {"MODE": "prod", "WORKERS": "4"}
    assert spec.ports == ("http", "admin") and spec.kill_selection == "OLDEST_FIRST"
    assert spec.constraints[1] == Constraint("rack", "GROUP_BY", "2")
    assert spec.vip is not None and (spec.vip.host, spec.vip.port) == ("127.0.0.1", 10080)
    assert parse_spec(spec.to_dict()) == spec
    assert surge_and_unavailable(spec.upgrade, spec.instances) == (1, 2)


def test_every_problem_is_listed_by_field_path() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(
            {
                "id": "Bad_Id",
                "instances": -1,
                "cpus": "two",
                "ports": [{"name": "http"}],
                "constraints": [["hostname", "NEAR"], ["rack", "MAX_PER"]],
                "healthCheck": {"protocol": "GOPHER", "portIndex": 3, "intervalSeconds": 0},
                "upgradeStrategy": {"maxSurge": "150%", "minimumHealthCapacity": 2},
                "vip": {"port": 70000, "balance": "random"},
                "colour": "blue",
            }
        )
    problems = caught.value.problems
    for expected in [
        "colour: unknown field",
        "id: must be lowercase",
        "cmd: is required",
        "instances: must be >= 0",
        "cpus: must be a number",
        "constraints[0][1]: must be one of UNIQUE",
        "constraints[1]: MAX_PER needs a value",
        "healthCheck.protocol: must be one of HTTP, HTTPS, TCP, COMMAND",
        "healthCheck.intervalSeconds: must be > 0",
        "healthCheck.portIndex: there are only 1 ports",
        "upgradeStrategy.minimumHealthCapacity: must be between 0 and 1",
        "upgradeStrategy.maxSurge: give maxSurge/maxUnavailable or Marathon's",
        "upgradeStrategy.maxSurge: must be a count >= 0 or a percentage",
        "vip.port: must be 1-65535",
        "vip.balance: must be one of round-robin, least-connections",
    ]:
        assert any(p.startswith(expected) for p in problems), (expected, problems)


def test_text_that_is_not_yaml_is_refused() -> None:
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec_text("id: [unclosed")
    with pytest.raises(SpecError, match="must be a mapping"):
        load_spec_text("- just a list")


def test_config_key_ignores_the_instance_count() -> None:
    spec = load_spec_text(FULL)
    scaled = parse_spec({**spec.to_dict(), "instances": 9})
    changed = parse_spec({**spec.to_dict(), "cmd": "other"})
    assert scaled.config_key() == spec.config_key() != changed.config_key()


@pytest.mark.parametrize(
    ("strategy", "n", "expected"),
    [
        (UpgradeStrategy(max_surge="1", max_unavailable="0"), 3, (1, 0)),
        (UpgradeStrategy(max_surge="25%", max_unavailable="25%"), 10, (3, 2)),
        (UpgradeStrategy(max_surge="0", max_unavailable="0"), 3, (1, 0)),
        (UpgradeStrategy(minimum_health_capacity=1.0, maximum_over_capacity=1.0), 4, (4, 0)),
        (UpgradeStrategy(minimum_health_capacity=0.5, maximum_over_capacity=0.0), 5, (0, 2)),
    ],
)
def test_surge_and_unavailable(
    strategy: UpgradeStrategy, n: int, expected: tuple[int, int]
) -> None:
    assert surge_and_unavailable(strategy, n) == expected


def test_task_ids_encode_app_and_version() -> None:
    task_id = task_id_for("shop/web", "v12")
    assert task_id.startswith("shop_web.v12.")
    assert parse_task_id(task_id) == ("shop/web", "v12")
    assert parse_task_id("not-ours") is None


A1 = Place("a1", {"rack": "r1", "zone": "eu-1"})
A2 = Place("a2", {"rack": "r1", "zone": "eu-2"})
B1 = Place("b1", {"rack": "r2", "zone": "us-1"})


def test_unique_and_max_per() -> None:
    unique = [Constraint("hostname", "UNIQUE")]
    assert violated(unique, A1, [A2]) is None
    assert violated(unique, A1, [A1]) == unique[0]
    max_per = [Constraint("rack", "MAX_PER", "2")]
    assert violated(max_per, A2, [A1]) is None
    assert violated(max_per, A2, [A1, A2]) == max_per[0]


def test_cluster_like_unlike() -> None:
    assert violated([Constraint("rack", "CLUSTER", "r2")], A1, []) is not None
    assert violated([Constraint("rack", "CLUSTER", "r2")], B1, []) is None
    # Without a value: wherever the first instance went.
    assert violated([Constraint("rack", "CLUSTER")], B1, [A1]) is not None
    assert violated([Constraint("rack", "CLUSTER")], A2, [A1]) is None
    assert violated([Constraint("zone", "LIKE", "eu-.*")], B1, []) is not None
    assert violated([Constraint("zone", "UNLIKE", "eu-.*")], B1, []) is None
    # An agent without the attribute fails every operator but UNLIKE.
    bare = Place("c1", {})
    assert violated([Constraint("rack", "UNIQUE")], bare, []) is not None
    assert violated([Constraint("rack", "UNLIKE", "r1")], bare, []) is None


def test_group_by_spreads_evenly() -> None:
    group_by = [Constraint("rack", "GROUP_BY")]
    known = [A1, A2, B1]  # racks r1 and r2 seen in offers
    assert violated(group_by, A2, [A1], known) is not None  # r1 has one, r2 none
    assert violated(group_by, B1, [A1], known) is None
    assert violated(group_by, A2, [A1, B1], known) is None
    # With an expected number of groups, a third rack not yet seen is waited for.
    assert violated([Constraint("rack", "GROUP_BY", "3")], B1, [A1, B1], known) is not None


@pytest.mark.parametrize(
    ("cmd", "ports", "expected"),
    [
        ("python3 -m http.server $PORT0", [], "cmd: refers to $PORT0 but the app has no ports"),
        ("serve --port ${PORT1}", ["http"], "cmd: refers to $PORT1 but the app has only 1"),
        ("serve --port $PORT", [], "cmd: refers to $PORT but the app has no ports"),
        ("serve --admin $PORT_ADMIN", ["http"], "cmd: refers to $PORT_ADMIN but no port has"),
    ],
)
def test_a_port_variable_the_app_has_no_port_for_is_refused(
    cmd: str, ports: list[str], expected: str
) -> None:
    # Before, $PORT0 expanded to nothing: http.server bound 8000 on every instance.
    with pytest.raises(SpecError) as caught:
        parse_spec({"id": "web", "cmd": cmd, "ports": ports})
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems


def test_port_variables_the_app_has_are_accepted() -> None:
    spec = parse_spec(
        {
            "id": "web",
            "cmd": "serve $PORT0 ${PORT1} $PORT $PORTS $PORT_HTTP $PORT_ADMIN_UI $PORTAL_X",
            "ports": ["http", "admin-ui"],
        }
    )
    assert spec.ports == ("http", "admin-ui")
    # A variable of the app's own env is the user's business.
    assert parse_spec({"id": "w", "cmd": "serve $PORT0", "env": {"PORT0": "8080"}}).env


def test_a_stored_app_from_before_the_port_check_still_loads() -> None:
    old = {"id": "web", "cmd": "python3 -m http.server $PORT0"}
    assert parse_spec(old, stored=True).ports == ()


def test_marathon_fields_and_is() -> None:
    # Before, @hostname/@zone were read as attribute names no agent has: never placed.
    spec = parse_spec(
        {
            "id": "web",
            "cmd": "serve",
            "constraints": [
                ["@hostname", "UNIQUE"],
                ["@zone", "IS", "eu-1"],
                ["@region", "LIKE", "eu"],
            ],
        }
    )
    unique, zone, region = spec.constraints
    in_eu = Place("a1", {"zone": "eu-1", "region": "eu"})
    assert violated(spec.constraints, in_eu, [A2]) is None
    assert violated([unique], A1, [A1]) == unique
    assert violated([zone], A2, []) == zone  # zone eu-2
    assert violated([region], A1, []) == region  # A1 has no region attribute
    with pytest.raises(SpecError) as caught:
        parse_spec({"id": "w", "cmd": "c", "constraints": [["@rack", "UNIQUE"], ["zone", "IS"]]})
    assert caught.value.problems == [
        "constraints[0][0]: '@rack' is not a field: use @hostname, @region, @zone or an agent "
        "attribute",
        "constraints[1]: IS needs a value",
    ]
