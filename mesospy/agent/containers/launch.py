"""What an image task runs, as whom, where, with which environment (Mesos's rules).

The command, from the task's CommandInfo and the image config:

- ``shell``: ``/bin/sh -c <shell>`` inside the image; the image's Entrypoint and Cmd are
  not used (Mesos's ``shell: true``);
- ``argv``: the image's Entrypoint followed by ``argv``, or ``argv`` alone when the image
  has no Entrypoint (``argv`` takes the place of the image's Cmd, as ``docker run IMAGE
  ARGS...`` and Mesos's ``shell: false`` with arguments); with ``replace_entrypoint``
  ``argv`` alone (the Entrypoint replaced too: Kubernetes's ``command``);
- neither: the image's Entrypoint followed by its Cmd.

The user is ``command.user`` when the task names one, else the image's ``User``, else
root; names are looked up in the image's own /etc/passwd and /etc/group. The working
directory is the image's ``WorkingDir`` (made if missing), else the sandbox. The environment is
the image's ``Env``, then the task's variables, then the agent's (``MESOS_*``, ``HOST``,
``PORT*``), with ``MESOS_SANDBOX`` the sandbox's path inside the container.

The task starts through util-linux ``unshare``: new mount and PID namespaces, its root's
mounts made there, a fresh /proc, the image as its root and the program as pid 1 of its
namespace. Pure but for reading the image's user database.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesospy.agent.containers.rootfs import SANDBOX_PATH, Root
from mesospy.agent.task_env import DEFAULT_PATH
from mesospy.container_info import container_problem
from mesospy.v1 import common_pb2


class LaunchError(Exception):
    """The image and the task together do not say what to run, or as whom."""


@dataclass
class ImageUser:
    uid: int
    gid: int
    home: str


def validate_container(info: common_pb2.TaskInfo) -> str | None:
    """Why the task's ContainerInfo cannot be run (a TASK_ERROR), or None."""
    if problem := container_problem(info.container):
        return f"task {info.task_id!r}: {problem}"
    return None


def command_of(config: Mapping[str, Any], command: common_pb2.CommandInfo, image: str) -> list[str]:
    if command.shell:
        return ["/bin/sh", "-c", command.shell]
    if command.replace_entrypoint and command.argv:
        return list(command.argv)
    entrypoint = _strings(config.get("Entrypoint"))
    argv = list(command.argv) if command.argv else _strings(config.get("Cmd"))
    program = entrypoint + argv
    if not program:
        raise LaunchError(
            f"image {image!r} has no Entrypoint or Cmd, and the task gives no command"
        )
    return program


def _strings(value: Any) -> list[str]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return []


def _database(root: Path, name: str) -> list[list[str]]:
    """The entries of the image's /etc/<name>; none if it is missing or not a plain file."""
    path = root / "etc" / name
    try:
        if not stat.S_ISDIR(os.lstat(root / "etc").st_mode):
            return []
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return []
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return []
        text = f.read(1 << 20).decode("utf-8", "replace")
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def user_of(root: Path, spec: str, image: str) -> ImageUser:
    """``spec`` ("name", "uid", "name:group", "uid:gid"; "" is root) in the image."""
    user, _, group = (spec or "root").partition(":")
    passwd = _database(root, "passwd")
    entry = next((e for e in passwd if len(e) >= 7 and (e[0] == user or e[2] == user)), None)
    if entry is not None:
        uid, gid, home = int(entry[2]), int(entry[3]), entry[5] or "/"
    elif user.isdigit():
        uid, gid, home = int(user), int(user), "/"
    else:
        raise LaunchError(f"user {user!r} is not in the image {image!r}'s /etc/passwd")
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            groups = _database(root, "group")
            match = next((g for g in groups if len(g) >= 3 and g[0] == group), None)
            if match is None:
                raise LaunchError(f"group {group!r} is not in the image {image!r}'s /etc/group")
            gid = int(match[2])
    return ImageUser(uid, gid, home)


def environment_of(
    config: Mapping[str, Any],
    task_vars: Mapping[str, str],
    agent_vars: Mapping[str, str],
    user: ImageUser,
) -> dict[str, str]:
    env: dict[str, str] = {"PATH": DEFAULT_PATH}
    for item in _strings(config.get("Env")):
        key, sep, value = item.partition("=")
        if sep and key:
            env[key] = value
    env.setdefault("HOME", user.home)
    env.update(task_vars)
    env.update(agent_vars)
    env["MESOS_SANDBOX"] = SANDBOX_PATH
    return env


def working_dir(config: Mapping[str, Any]) -> str:
    """The image's WorkingDir, normalised inside its root ("/../x" is "/x"), else the
    sandbox (as Mesos runs a task)."""
    value = config.get("WorkingDir")
    if not isinstance(value, str) or not value.startswith("/"):
        return SANDBOX_PATH
    return posixpath.normpath(value).replace("//", "/")


def namespaced(
    unshare: str, root: Root, workdir: str, user: ImageUser, program: list[str]
) -> list[str]:
    """The command line that runs ``program`` as pid 1 of new mount and PID namespaces,
    with ``root`` (its mounts made in that namespace first) as its root and a fresh /proc.

    The host's /bin/sh, as pid 1 of the new namespaces, makes the mounts, then becomes
    (exec) an ``unshare`` that enters the root, mounts /proc and switches user, and that
    becomes the program: the program is pid 1."""
    steps = [shlex.join(argv) for argv in root.mount_commands()]
    enter = shlex.join(
        [
            unshare,
            "--mount",
            f"--root={root.path}",
            f"--wd={workdir}",
            "--mount-proc",
            f"--setgid={user.gid}",
            f"--setuid={user.uid}",
            "--",
        ]
    )
    script = " && ".join([*steps, f'exec {enter} "$@"'])
    return [
        unshare,
        "--mount",
        "--pid",
        "--fork",
        "--kill-child",
        "--",
        "/bin/sh",
        "-c",
        script,
        "mesospy-container",
        *program,
    ]
