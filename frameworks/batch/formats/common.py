"""What the format adapters share: the record of a conversion, and small readers. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Conversion", "docker_options", "job_name"]

NO_DOCKER_DAEMON = (
    "Docker containerizer: runs from the same image in mesospy's own containerizer "
    "(no Docker daemon)"
)
_NAME_CHARS = re.compile(r"[^a-z0-9-]+")


@dataclass
class Conversion:
    """A foreign definition read into a native spec (as plain data), and what changed.

    ``refused``: fields that cannot apply (nothing is submitted then); ``ignored``:
    fields accepted that have no effect here; ``changed``: fields whose meaning or value
    is not exactly the original's. Each entry is ``(field path, reason)``.
    """

    format: str
    native: dict[str, Any] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    changed: list[tuple[str, str]] = field(default_factory=list)

    def refuse(self, path: str, reason: str) -> None:
        self.refused.append((path, reason))

    def ignore(self, path: str, reason: str = "no effect here") -> None:
        self.ignored.append((path, reason))

    def change(self, path: str, what: str) -> None:
        self.changed.append((path, what))

    def warning(self) -> str:
        """One line listing the fields accepted without effect ("" if none)."""
        if not self.ignored:
            return ""
        return "fields with no effect here: " + "; ".join(
            f"{path} ({reason})" for path, reason in self.ignored
        )

    # ------------------------------------------------------------------ readers

    def mapping(self, value: object, path: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.refuse(path, f"must be a mapping, not {type(value).__name__}")
            return {}
        return value

    def sequence(self, value: object, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.refuse(path, f"must be a list, not {type(value).__name__}")
            return []
        return value

    def fields(
        self,
        data: dict[str, Any],
        path: str,
        used: tuple[str, ...],
        no_effect: dict[str, str],
        refused: dict[str, str],
    ) -> None:
        """Sort the keys of ``data`` that the adapter does not read itself: listed as
        having no effect, refused with their reason, or refused as unknown."""
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if key in used:
                continue
            if key in no_effect:
                if value not in (None, False, [], {}, ""):
                    self.ignore(where, no_effect[key])
            elif key in refused:
                self.refuse(where, refused[key])
            else:
                known = sorted({*used, *no_effect, *refused})
                self.refuse(where, f"unknown field; known: {', '.join(known)}")

    def whole(self, data: dict[str, Any], key: str, path: str, lo: int = 0) -> int | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            self.refuse(_at(path, key), f"must be a whole number of at least {lo}, not {value!r}")
            return None
        return value

    def flag(self, data: dict[str, Any], key: str, path: str) -> bool | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.refuse(_at(path, key), f"must be true or false, not {value!r}")
            return None
        return value


def job_name(conversion: Conversion, value: object, path: str) -> str:
    """A native job name from a foreign one: lower case, with ``[^a-z0-9-]`` runs (dots,
    slashes, underscores, spaces) as ``-``; a change is recorded."""
    if not isinstance(value, str) or not value.strip():
        conversion.refuse(path, f"is required: the job's name, not {value!r}")
        return ""
    name = _NAME_CHARS.sub("-", value.strip().lower()).strip("-")
    if len(name) > 63:
        conversion.refuse(path, f"{value!r} is longer than the 63 characters of a job name")
        return ""
    if name != value:
        conversion.change(path, f"{value!r} is the job {name!r} here ([a-z0-9-] only)")
    return name


def docker_options(c: Conversion, data: dict[str, Any], path: str) -> None:
    """Refuse the Docker run options of an image section that have no equivalent here
    (``privileged``, ``parameters``, a network other than the host's, volumes, registry
    credentials), each saying why and what to use."""
    if data.get("privileged"):
        c.refuse(
            f"{path}.privileged",
            "privileged containers are not supported: tasks run in their own mount and PID "
            "namespaces only; leave privileged out",
        )
    if data.get("parameters"):
        c.refuse(
            f"{path}.parameters",
            "docker run parameters have no equivalent (no Docker daemon runs the task): "
            "leave them out",
        )
    network = data.get("network")
    if network is not None and str(network).upper() != "HOST":
        c.refuse(
            f"{path}.network",
            f"tasks use the agent's network (HOST), not {network!r}: leave network out and "
            "use resources.ports",
        )
    for key in ("credential", "pullConfig"):
        if data.get(key):
            c.refuse(
                f"{path}.{key}",
                "registry credentials are not supported yet: use an image the agents can "
                "pull without them",
            )


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
