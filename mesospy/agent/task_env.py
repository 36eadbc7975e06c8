"""The environment a task starts with: defined by the agent, not inherited from it.

A task does not see the agent's own environment (its virtualenv, PIP_*, credentials in
variables, the agent's PATH): as Mesos's containerizer does, the agent builds each task's
environment from a small base, the task's user and the task's own variables.

The base is ``PATH`` (the host's default path), the agent's locale and time zone
(``LANG``, ``LANGUAGE``, ``LC_*``, ``TZ``) when it has them, and whatever the operator lets
through by name (``--task-env-passthrough 'VIRTUAL_ENV,PIP_*'``) or sets
(``--executor-environment-variables '{"PATH": "/opt/bin:/usr/bin:/bin"}'``, Mesos's flag).
``HOME``, ``USER`` and ``LOGNAME`` are the task user's, from the password database. Then
come the task's own variables, and last the ones the agent owns (``MESOS_*``, ``HOST``,
``PORT*``), which a task cannot override.
"""

from __future__ import annotations

import fnmatch
import json
import os
import pwd
from collections.abc import Iterable, Mapping

__all__ = [
    "DEFAULT_PASSTHROUGH",
    "DEFAULT_PATH",
    "base_environment",
    "parse_environment_json",
    "user_environment",
]

# What a login shell on a Debian host starts with (and Mesos's os::host_default_path()).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_PASSTHROUGH = ("LANG", "LANGUAGE", "LC_*", "TZ")


def base_environment(
    agent_env: Mapping[str, str],
    passthrough: Iterable[str] = (),
    fixed: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The variables every task of this agent starts with.

    ``passthrough`` names (shell-style patterns allowed) are copied from ``agent_env`` in
    addition to the locale and time zone; ``fixed`` is set as given and wins over both.
    """
    patterns = (*DEFAULT_PASSTHROUGH, *(p.strip() for p in passthrough if p.strip()))
    env = {"PATH": DEFAULT_PATH}
    for name, value in agent_env.items():
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
            env[name] = value
    env.update(fixed or {})
    return env


def user_environment(user: str | None) -> dict[str, str]:
    """``HOME``, ``USER`` and ``LOGNAME`` of the user a task runs as (None: the agent's)."""
    try:
        entry = pwd.getpwnam(user) if user else pwd.getpwuid(os.geteuid())
    except KeyError:
        return {}  # the launch itself reports an unknown user
    return {"HOME": entry.pw_dir, "USER": entry.pw_name, "LOGNAME": entry.pw_name}


def parse_environment_json(text: str) -> dict[str, str]:
    """``--executor-environment-variables``: a JSON object of string values."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at character {exc.pos})") from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError('expected a JSON object of strings, e.g. {"PATH": "/usr/bin:/bin"}')
    return value
