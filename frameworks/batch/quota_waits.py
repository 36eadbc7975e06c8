"""Why a waiting instance does not start: its role is at a quota limit. Pure.

The batch framework reads each role's limits and what the role consumes (the operator
API's GetRoles) now and then, and shows the reason on the instances that wait for it, so
`mesospy job status` says why a run makes no progress.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["RoleQuota", "limit_reason"]

# A role's limits and what it (with its children) consumes, by scalar name.
RoleQuota = tuple[Mapping[str, float], Mapping[str, float]]

WAITING_PREFIX = "waiting: role "


def _ancestors(role: str) -> list[str]:
    parts = role.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def limit_reason(role: str, need: Mapping[str, float], quotas: Mapping[str, RoleQuota]) -> str:
    """Why an instance needing `need` in `role` cannot start under the limits of the
    role or an ancestor ("" when no limit stops it)."""
    for node in _ancestors(role):
        quota = quotas.get(node)
        if quota is None:
            continue
        limits, consumed = quota
        for name, limit in sorted(limits.items()):
            want, used = need.get(name, 0.0), consumed.get(name, 0.0)
            if want > 0 and used + want > limit + 1e-9:
                return (
                    f"{WAITING_PREFIX}{node!r} is at its quota limit {name}:{limit:g} "
                    f"({used:g} consumed; an instance needs {want:g})"
                )
    return ""
