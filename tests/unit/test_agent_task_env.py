"""The base environment of tasks, from plain data."""

from __future__ import annotations

import pytest

from mesospy.agent.task_env import (
    DEFAULT_PATH,
    base_environment,
    parse_environment_json,
    user_environment,
)

AGENT = {
    "PATH": "/venv/bin:/usr/bin",
    "VIRTUAL_ENV": "/venv",
    "PIP_INDEX_URL": "x",
    "PIP_CERT": "y",
    "LANG": "C.UTF-8",
    "LC_TIME": "de_DE.UTF-8",
    "TZ": "Europe/Berlin",
    "HOME": "/root",
    "AWS_SECRET_ACCESS_KEY": "k",
}


def test_only_the_locale_and_time_zone_come_from_the_agent_by_default() -> None:
    assert base_environment(AGENT) == {
        "PATH": DEFAULT_PATH,
        "LANG": "C.UTF-8",
        "LC_TIME": "de_DE.UTF-8",
        "TZ": "Europe/Berlin",
    }


def test_passthrough_names_and_patterns_and_fixed_values() -> None:
    env = base_environment(AGENT, ["PIP_*", " VIRTUAL_ENV ", ""], {"PATH": "/opt/bin", "X": "1"})
    assert env["PIP_INDEX_URL"] == "x" and env["PIP_CERT"] == "y"
    assert env["VIRTUAL_ENV"] == "/venv"
    assert env["PATH"] == "/opt/bin" and env["X"] == "1"
    assert "AWS_SECRET_ACCESS_KEY" not in env and "HOME" not in env


def test_passing_path_through_keeps_the_agents() -> None:
    assert base_environment(AGENT, ["PATH"])["PATH"] == "/venv/bin:/usr/bin"


def test_user_environment() -> None:
    assert user_environment("root") == {"HOME": "/root", "USER": "root", "LOGNAME": "root"}
    assert user_environment("no-such-user-xyz") == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [("{", "not JSON"), ("[1]", "JSON object of strings"), ('{"A": 1}', "JSON object")],
)
def test_bad_environment_json_is_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_environment_json(text)
    assert parse_environment_json('{"A": "1"}') == {"A": "1"}
