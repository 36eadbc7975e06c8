"""Marathon app definitions (fixtures in tests/service/marathon, written from the field
names of Marathon's docs) read onto the native spec, and what `mesospy app convert` says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from frameworks.service.marathon_app import convert, is_marathon, load_app_text
from frameworks.service.marathon_json import definition
from frameworks.service.spec import Constraint, SpecError, parse_spec
from frameworks.service.task_env import task_env
from mesospy.cli.main import cli

FIXTURES = Path(__file__).parent / "marathon"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_a_full_marathon_app_maps_onto_the_native_spec() -> None:
    conversion = load_app_text(fixture("web-api.json"))
    spec = conversion.spec
    assert conversion.marathon
    assert spec.id == "prod/web.api" and spec.instances == 2
    assert (spec.cpus, spec.mem) == (0.2, 64.0)
    assert spec.ports == ("http",) and spec.host_ports == ()  # 10000 is a service port
    assert spec.constraints == (
        Constraint("@hostname", "UNIQUE"),
        Constraint("zone", "IS", "zone-b"),
    )
    check = spec.health_check
    assert check is not None and check.protocol == "HTTP" and check.max_failures == 0
    assert (check.grace_period, check.interval, check.delay) == (30.0, 1.0, 0.0)
    assert (spec.backoff.seconds, spec.backoff.factor, spec.backoff.max_delay) == (2, 1.5, 120)
    assert spec.kill_grace_period == 2.0 and spec.kill_selection == "OLDEST_FIRST"
    assert spec.upgrade.minimum_health_capacity == 0.5
    assert spec.unreachable.inactive_after == 60.0
    assert spec.marathon_env
    # The native form reads back to the same spec (what the store keeps).
    assert parse_spec(spec.to_dict()) == spec
    # Fields with no effect: accepted, all in one warning line.
    warning = conversion.warning()
    assert warning is not None and len(warning.splitlines()) == 1
    for name in ("version", "versionInfo", "acceptedResourceRoles", "container", "role"):
        assert name in conversion.ignored
    assert any(c.startswith("portDefinitions[0].port 10000") for c in conversion.changed)


def test_yaml_of_the_same_shape_with_integer_ports_args_and_uris() -> None:
    conversion = load_app_text(fixture("echo.yaml"))
    spec = conversion.spec
    assert conversion.marathon and spec.id == "tools/echo"
    assert spec.ports == ("port0", "port1") and spec.cmd == ""
    assert spec.args[0] == "python3"
    assert [a.uri for a in spec.fetch] == ["https://example.com/tools/echo.tgz"]
    assert parse_spec(spec.to_dict()) == spec


def marathon(**fields: Any) -> dict[str, Any]:
    return {"id": "/web", "cmd": "python3 -m http.server $PORT0", **fields}


def test_marathon_defaults_one_port_one_cpu_128_mb() -> None:
    # An app that gives no ports gets one, as in Marathon: $PORT0 is set.
    spec = convert(marathon()).spec
    assert spec.ports == ("port0",) and (spec.cpus, spec.mem) == (1.0, 128.0)
    assert convert(marathon(portDefinitions=[], cmd="sleep 600")).spec.ports == ()
    # requirePorts: the port numbers are the host ports; 0 stays any.
    fixed = convert(marathon(ports=[8080, 0], requirePorts=True)).spec
    assert fixed.host_ports == (8080, 0)
    with pytest.raises(SpecError, match=r"cmd: refers to \$PORT0 but the app has no ports"):
        convert(marathon(portDefinitions=[]))


@pytest.mark.parametrize(
    ("protocol", "native"),
    [
        ("HTTP", "HTTP"),
        ("HTTPS", "HTTPS"),
        ("TCP", "TCP"),
        ("MESOS_HTTP", "HTTP"),
        ("MESOS_HTTPS", "HTTPS"),
        ("MESOS_TCP", "TCP"),
    ],
)
def test_health_check_protocols(protocol: str, native: str) -> None:
    check = convert(marathon(healthChecks=[{"protocol": protocol}])).spec.health_check
    assert check is not None and check.protocol == native
    # Marathon's defaults, not the native ones.
    assert (check.grace_period, check.interval, check.timeout) == (300, 60, 20)


def test_a_command_health_check_and_a_readiness_check() -> None:
    spec = convert(
        marathon(
            portDefinitions=[{"port": 0, "name": "http-api"}],
            healthChecks=[{"protocol": "COMMAND", "command": {"value": "curl -f localhost"}}],
            readinessChecks=[{"name": "ready", "path": "/ready", "portName": "http-api"}],
        )
    ).spec
    assert spec.health_check is not None and spec.health_check.command == "curl -f localhost"
    assert spec.readiness_check is not None and spec.readiness_check.path == "/ready"
    assert spec.readiness_check.interval == 30


def test_refused_fields_each_say_why_and_what_to_use() -> None:
    with pytest.raises(SpecError) as caught:
        load_app_text(fixture("refused.json"))
    problems = caught.value.problems
    for field, reason in [
        ("container.docker.network", "not 'BRIDGE': tasks use the agent's network"),
        ("residency", "needs local persistent volumes: container.volumes with persistent.size"),
        ("env.PASSWORD", "secrets are not supported yet"),
        ("secrets", "secrets are not supported yet"),
        ("role", "a role per app ('slave_public') is not supported"),
        ("acceptedResourceRoles", "use a constraint on an agent attribute"),
        ("gpus", "does not place GPU tasks"),
        ("networks[0].mode", "not 'container/bridge'"),
        ("healthChecks", "one per app here"),
    ]:
        assert any(p.startswith(f"{field}: ") and reason in p for p in problems), (field, problems)


def test_native_problems_are_named_by_their_marathon_field() -> None:
    with pytest.raises(SpecError) as caught:
        convert(
            marathon(
                backoffFactor=0.5,
                taskKillGracePeriodSeconds="soon",
                healthChecks=[{"intervalSeconds": 0}],
                id="/Bad_Id",
                colour="blue",
            )
        )
    problems = caught.value.problems
    for expected in [
        "backoffFactor: must be >= 1",
        "taskKillGracePeriodSeconds: must be a number",
        "healthChecks[0].intervalSeconds: must be > 0",
        "id: must be lowercase",
        "colour: not a field of Marathon's app definition",
    ]:
        assert any(p.startswith(expected) for p in problems), (expected, problems)


def test_the_format_is_told_by_its_shape() -> None:
    assert is_marathon({"id": "/web", "cmd": "x"})
    assert is_marathon({"id": "web", "cmd": "x", "ports": [0]})
    assert is_marathon({"id": "web", "cmd": "x", "healthChecks": []})
    assert not is_marathon({"id": "web", "cmd": "x", "ports": ["http"], "healthCheck": {}})
    assert not load_app_text(json.dumps({"id": "web", "cmd": "sleep 1"})).marathon


def test_marathon_task_environment() -> None:
    spec = convert(
        marathon(
            cpus=0.5,
            mem=64,
            portDefinitions=[{"port": 0, "name": "http"}],
            labels={"team": "shop", "haproxy.group": "external"},
            env={"MODE": "prod"},
        )
    ).spec
    env = task_env(spec, "v3", (31000,))
    assert env["MARATHON_APP_ID"] == "/web" and env["MARATHON_APP_VERSION"] == "v3"
    assert env["MARATHON_APP_RESOURCE_CPUS"] == "0.5" and env["MARATHON_APP_RESOURCE_MEM"] == "64.0"
    assert env["MARATHON_APP_LABELS"] == "HAPROXY_GROUP TEAM"
    assert env["MARATHON_APP_LABEL_TEAM"] == "shop"
    assert env["PORT_HTTP"] == "31000" and env["MODE"] == "prod"
    native = parse_spec({"id": "web", "cmd": "serve $PORT0", "ports": ["http"]})
    assert "MARATHON_APP_ID" not in task_env(native, "v1", (31000,))


def test_convert_prints_the_native_spec_and_every_change(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["app", "convert", str(FIXTURES / "web-api.json")])
    assert result.exit_code == 0, result.output
    native = yaml.safe_load(result.output)  # the comments are YAML comments
    assert native["id"] == "prod/web.api" and native["marathonEnv"] is True
    assert "# changed: portDefinitions[0].port 10000" in result.output
    assert "# ignored (no effect here): versionInfo" in result.output
    result = CliRunner().invoke(cli, ["app", "convert", str(FIXTURES / "refused.json"), "--json"])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert "container.docker.network: not 'BRIDGE'" in result.output


IMAGE = {"type": "DOCKER", "docker": {"image": "reg:5000/web:2", "forcePullImage": True}}


def test_a_docker_image_is_the_native_container_and_cmd_or_args_run_in_it() -> None:
    conversion = convert(marathon(container=IMAGE))
    spec = conversion.spec
    assert spec.container is not None
    assert (spec.container.image, spec.container.force_pull) == ("reg:5000/web:2", True)
    assert spec.cmd == "python3 -m http.server $PORT0"  # the image's /bin/sh -c, as there
    assert any(
        c.startswith("container.type DOCKER: runs from the same image") for c in conversion.changed
    )
    mesos = {"type": "MESOS", "docker": {"image": "reg:5000/web:2"}}
    app = {"id": "/web", "args": ["--port", "$PORT0"], "container": mesos}
    spec = convert(app).spec  # args follow the image's Entrypoint in place of its Cmd
    assert spec.args == ("--port", "$PORT0") and spec.container is not None
    assert not spec.container.force_pull and spec.container.entrypoint is None
    bare = convert({"id": "/web", "container": mesos}).spec  # the image's Entrypoint/Cmd
    assert bare.cmd == "" and bare.args == () and parse_spec(bare.to_dict()) == bare
    with pytest.raises(SpecError, match="cmd: is required"):
        convert({"id": "/web"})  # no image, nothing to run


@pytest.mark.parametrize(
    ("docker", "container", "field", "reason"),
    [
        ({"network": "USER"}, {}, "container.docker.network", "use portDefinitions"),
        ({"portMappings": [{"containerPort": 80}]}, {}, "container.docker.portMappings",
         "use portDefinitions"),
        ({}, {"portMappings": [{"containerPort": 80}]}, "container.portMappings",
         "use portDefinitions"),
        ({"privileged": True}, {}, "container.docker.privileged", "not supported"),
        ({"parameters": [{"key": "a", "value": "b"}]}, {}, "container.docker.parameters",
         "no Docker daemon"),
        ({"credential": {"principal": "p", "secret": "s"}}, {}, "container.docker.credential",
         "registry credentials are not supported yet"),
        ({"pullConfig": {"secret": "s"}}, {}, "container.docker.pullConfig",
         "registry credentials"),
        ({}, {"appc": {"image": "x"}}, "container.appc", "use docker.image"),
        ({}, {"volumes": [{"containerPath": "/d", "hostPath": "/d", "mode": "RW"}]},
         "container.volumes[0]", "only local persistent volumes"),
        ({"image": "Bad Name"}, {}, "container.docker.image", "bad repository"),
    ],
)  # fmt: skip
def test_what_only_docker_could_do_is_refused_with_why(
    docker: dict[str, Any], container: dict[str, Any], field: str, reason: str
) -> None:
    section = {"type": "DOCKER", "docker": {"image": "reg:5000/web:2", **docker}, **container}
    with pytest.raises(SpecError) as caught:
        convert(marathon(container=section))
    problems = caught.value.problems
    assert any(p.startswith(f"{field}: ") and reason in p for p in problems), problems


def test_a_native_container_is_told_from_marathons_by_its_shape() -> None:
    assert is_marathon({"id": "web", "container": IMAGE})
    assert is_marathon({"id": "web", "container": {"type": "MESOS"}})
    native = {"id": "web", "container": {"image": "reg:5000/web:2"}}
    assert not is_marathon(native)
    loaded = load_app_text(json.dumps(native))
    assert not loaded.marathon and loaded.spec.container is not None


def test_marathons_answer_gives_the_image_back_in_its_own_shape() -> None:
    spec = convert(marathon(container=IMAGE)).spec
    answer = definition(spec)
    assert answer["container"] == {"type": "MESOS", "docker": IMAGE["docker"]}
    assert convert(answer).spec == spec  # a client's PUT of what it read changes nothing
    bare = convert({"id": "/web", "container": IMAGE}).spec
    assert "cmd" not in definition(bare) and convert(definition(bare)).spec == bare


def test_convert_shows_the_image_as_the_native_container(tmp_path: Path) -> None:
    path = tmp_path / "web.json"
    path.write_text(json.dumps(marathon(container=IMAGE)))
    result = CliRunner().invoke(cli, ["app", "convert", str(path)])
    assert result.exit_code == 0, result.output
    native = yaml.safe_load(result.output)
    assert native["container"] == {"image": "reg:5000/web:2", "forcePullImage": True}
    assert "# changed: container.type DOCKER" in result.output


def test_dependencies_are_app_ids_resolved_from_the_app_s_group() -> None:
    spec = convert(marathon(id="/prod/web", dependencies=["/prod/db", "cache", "../ops/log"])).spec
    assert spec.dependencies == ("prod/db", "prod/cache", "ops/log")
    assert parse_spec(spec.to_dict()) == spec
    with pytest.raises(SpecError, match=r"dependencies\[0\]: 'Bad' is not an app id"):
        convert(marathon(dependencies=["Bad"]))


def test_a_converted_spec_reads_back_as_native() -> None:
    spec = convert(marathon(dependencies=["/db"], args=None)).spec
    again = load_app_text(spec.to_json())
    assert not again.marathon and again.spec == spec


def test_unreachable_strategy_disabled_and_a_fixed_health_check_port() -> None:
    conversion = convert(
        marathon(
            unreachableStrategy="disabled",
            portDefinitions=[{"port": 0}, {"port": 9090}],
            requirePorts=True,
            healthChecks=[{"protocol": "MESOS_TCP", "port": 9090}],
        )
    )
    spec = conversion.spec
    assert spec.unreachable.inactive_after >= 10 * 365 * 24 * 3600
    assert "unreachableStrategy disabled: replaced after 10 years" in conversion.changed
    assert spec.health_check is not None and spec.health_check.port_index == 1
    assert spec.host_ports == (0, 9090)
    with pytest.raises(SpecError, match=r"healthChecks\[0\]\.port: a check on a fixed port"):
        convert(marathon(healthChecks=[{"protocol": "TCP", "port": 9090}]))
