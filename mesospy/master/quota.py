"""Role quota, the master's side of GetQuota/UpdateQuota: check, persist, then apply.

The rules themselves (what a valid quota is, how the allocator honours it) are the pure
allocator's (`mesospy.allocator.quota`); this module turns requests into them, refuses
bad ones with a message an operator can act on (nothing changed), stores accepted ones in
the registry first (a quota applied but lost on failover would silently change who gets
what) and then hands them to the allocator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mesospy.allocator import Quota
from mesospy.allocator.quota import QUOTA_RESOURCES, guarantee_overcommit, quota_problems
from mesospy.master.errors import InvalidArgument
from mesospy.master.validation import role_problem
from mesospy.registry_api import QuotaDoc
from mesospy.v1 import operator_pb2 as opb

if TYPE_CHECKING:
    from mesospy.master.master import Master


def quota_of(doc: QuotaDoc) -> Quota:
    return Quota(dict(doc.get("guarantees", {})), dict(doc.get("limits", {})))


def doc_of(quota: Quota) -> QuotaDoc:
    return {"guarantees": dict(quota.guarantees), "limits": dict(quota.limits)}


def config_of(role: str, quota: Quota) -> opb.QuotaConfig:
    return opb.QuotaConfig(role=role, guarantees=quota.guarantees, limits=quota.limits)


def _amounts(values: dict[str, float]) -> str:
    return ",".join(f"{name}:{value:g}" for name, value in sorted(values.items()))


class QuotaHandler:
    """Quota of the master's roles, as the operator API sets and reads it."""

    def __init__(self, master: Master) -> None:
        self.m = master

    def recover(self, docs: dict[str, QuotaDoc]) -> None:
        """Apply the quota kept in the registry (on becoming the leader)."""
        for role, doc in docs.items():
            self.m.allocator.update_quota(role, quota_of(doc))

    def configs(self) -> list[opb.QuotaConfig]:
        quotas = self.m.allocator.quotas()
        return [config_of(role, quotas[role]) for role in sorted(quotas)]

    def known_resources(self) -> list[str]:
        extra = sorted(set(self.m.allocator.cluster_total().names()) - set(QUOTA_RESOURCES))
        scalars = [n for n in extra if self.m.allocator.cluster_total().scalar(n) > 0]
        return [*QUOTA_RESOURCES, *scalars]

    async def update(self, configs: Sequence[opb.QuotaConfig], force: bool) -> None:
        """Set the quota of every role in `configs` (all or none); empty ones remove."""
        if not configs:
            raise InvalidArgument(
                "UpdateQuota names no role; give e.g. role 'eng/dev' with guarantees "
                "{'cpus': 4} and limits {'cpus': 8}"
            )
        current = self.m.allocator.quotas()
        wanted = dict(current)
        changed: dict[str, Quota] = {}
        for config in configs:
            if p := role_problem(config.role):
                raise InvalidArgument(p)
            if config.role in changed:
                raise InvalidArgument(f"role {config.role!r} is given more than once")
            quota = Quota(dict(config.guarantees), dict(config.limits))
            changed[config.role] = quota
            if quota.is_empty():
                wanted.pop(config.role, None)
            else:
                wanted[config.role] = quota
        known = self.known_resources()
        for role, quota in sorted(changed.items()):
            if quota.is_empty():
                continue
            if problems := quota_problems(role, quota, wanted, known):
                raise InvalidArgument(f"quota of role {role!r} not set: " + "; ".join(problems))
        if not force:
            self._check_capacity(current, wanted, changed)
        # Persist first, then apply: see the module docstring.
        await self.m.registry.update_quota(
            {role: None if q.is_empty() else doc_of(q) for role, q in changed.items()}
        )
        for role, quota in changed.items():
            self.m.allocator.update_quota(role, quota)
        self.m.request_allocation()

    def _check_capacity(
        self, current: dict[str, Quota], wanted: dict[str, Quota], changed: dict[str, Quota]
    ) -> None:
        """Refuse raising guarantees beyond what the cluster has (Mesos's capacity check)."""
        raised = any(
            value > current.get(role, Quota()).guarantees.get(name, 0.0)
            for role, quota in changed.items()
            for name, value in quota.guarantees.items()
        )
        if not raised:
            return
        total = self.m.allocator.cluster_total()
        over = guarantee_overcommit(wanted, total)
        if over:
            have = {n: total.scalar(n) for n in over}
            roles = ", ".join(repr(r) for r in sorted(changed))
            raise InvalidArgument(
                f"quota of role {roles} not set: the guarantees together would exceed the "
                f"cluster's resources by {_amounts(over)} (the agents have {_amounts(have)}); "
                "set a smaller guarantee, add agents, or force it (--force)"
            )
