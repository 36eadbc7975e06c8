"""The environment the framework gives an app's instance.

The agent adds ``PORT0..n``, ``PORT``, ``PORTS``, ``HOST`` and ``MESOS_*`` itself. Here:
``PORT_<NAME>`` for each named port, the app's own ``env`` (which wins), and for apps
with ``marathonEnv`` (every app converted from Marathon's format) Marathon's
``MARATHON_APP_*`` variables.
"""

from __future__ import annotations

import re

from frameworks.service.spec import AppSpec, port_variable

# Marathon leaves out labels whose value is longer than this.
MAX_LABEL_VALUE = 512


def task_env(spec: AppSpec, version: str, ports: tuple[int, ...]) -> dict[str, str]:
    """The variables an instance of ``spec`` at ``version`` with ``ports`` starts with."""
    env = {port_variable(name): str(port) for name, port in zip(spec.ports, ports, strict=False)}
    if spec.marathon_env:
        env.update(marathon_env(spec, version))
    env.update(spec.env)
    return env


def pod_env(ports: tuple[int, ...], host: str) -> dict[str, str]:
    """What the agent gives a task of its own but the DEFAULT executor does not give a
    pod's containers: the instance's ports (every container sees them all) and HOST."""
    env = {f"PORT{n}": str(port) for n, port in enumerate(ports)}
    if ports:
        env.update(PORT=str(ports[0]), PORTS=",".join(map(str, ports)))
    return {**env, "HOST": host}


def label_variable(key: str) -> str:
    """A label's name as a variable name part: capitals, digits and '_'."""
    return re.sub(r"[^A-Z0-9_]", "_", key.upper())


def marathon_env(spec: AppSpec, version: str) -> dict[str, str]:
    """Marathon's app metadata variables (MARATHON_APP_VERSION is the version's name)."""
    labels = {
        label_variable(k): v for k, v in sorted(spec.labels.items()) if len(v) <= MAX_LABEL_VALUE
    }
    env = {
        "MARATHON_APP_ID": "/" + spec.id,
        "MARATHON_APP_VERSION": version,
        "MARATHON_APP_RESOURCE_CPUS": str(spec.cpus),
        "MARATHON_APP_RESOURCE_MEM": str(spec.mem),
        "MARATHON_APP_RESOURCE_DISK": str(spec.disk),
        "MARATHON_APP_RESOURCE_GPUS": "0",
        "MARATHON_APP_LABELS": " ".join(labels),
    }
    env.update({f"MARATHON_APP_LABEL_{name}": value for name, value in labels.items()})
    return env
