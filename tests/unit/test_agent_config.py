"""Agent configuration, attribute parsing and the resource probe."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesospy.agent import AgentConfig, parse_attributes
from mesospy.agent.probe import measured_resources, resource_text
from mesospy.resources import Resources


def test_parse_attributes() -> None:
    assert parse_attributes("rack:r1;zone:a") == {"rack": "r1", "zone": "a"}
    assert parse_attributes(" rack : r1 ; ") == {"rack": "r1"}
    assert parse_attributes("") == {}
    assert parse_attributes("url:http://x:80") == {"url": "http://x:80"}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("rack", "expected name:value"),
        ("rack:", "expected name:value"),
        (":r1", "expected name:value"),
        ("ra ck:r1", "bad attribute name"),
        ("rack:r1;rack:r2", "given twice"),
    ],
)
def test_bad_attributes_name_the_problem(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_attributes(text)


def test_config_defaults_and_checks(tmp_path: Path) -> None:
    config = AgentConfig(work_dir=str(tmp_path))
    assert (config.ip, config.port, config.advertised_host) == ("127.0.0.1", 5051, "127.0.0.1")
    assert AgentConfig(hostname="node1").advertised_host == "node1"
    with pytest.raises(ValueError, match="isolation 'docker'"):
        AgentConfig(isolation="docker")
    with pytest.raises(ValueError, match="port 70000"):
        AgentConfig(port=70000)
    with pytest.raises(ValueError, match="retry"):
        AgentConfig(status_update_retry_min=5, status_update_retry_max=1)
    assert (config.gc_delay, config.gc_disk_headroom) == (7 * 24 * 3600, 0.1)  # as Mesos
    with pytest.raises(ValueError, match="gc_disk_headroom"):
        AgentConfig(gc_disk_headroom=1.5)
    with pytest.raises(ValueError, match="disk_watch_interval"):
        AgentConfig(disk_watch_interval=0)


def test_measured_resources_shape(tmp_path: Path) -> None:
    measured = measured_resources(str(tmp_path))
    assert set(measured) == {"cpus", "mem", "disk", "ports"}
    parsed = Resources.parse(";".join(f"{k}:{v}" for k, v in measured.items()))
    assert parsed.cpus >= 1
    assert parsed.mem > 0
    assert parsed.ranges("ports")


def test_given_resources_win_and_the_rest_is_measured(tmp_path: Path) -> None:
    text = resource_text("cpus:3;gpus:1", str(tmp_path))
    parsed = Resources.parse(text)
    assert parsed.cpus == 3
    assert parsed.scalar("gpus") == 1
    assert parsed.mem > 0 and parsed.ranges("ports")
