"""Frameworks and agents belong to the principal that registered them.

Once an authenticated principal has subscribed a framework (or registered an agent), only
that principal may act for it: send its calls, fail it over, heartbeat for the agent. So
knowing another framework's id (or stream id) is not enough to kill, reconcile or launch
for it. Anonymous registrations (no authentication) belong to nobody, as before.
"""

from __future__ import annotations

from mesospy.master.errors import PermissionDenied
from mesospy.security.guard import caller_principal
from mesospy.v1 import common_pb2 as pb

__all__ = ["caller_principal", "check_owner", "claim_principal"]


def check_owner(what: str, ident: str, owner: str | None) -> None:
    """Refuse the call unless it comes from ``owner`` (None: anyone may)."""
    if owner is None:
        return
    principal = caller_principal()
    if principal != owner:
        who = f"principal {principal!r}" if principal is not None else "an anonymous caller"
        raise PermissionDenied(
            f"{what} {ident!r} belongs to principal {owner!r}; {who} may not act for it"
        )


def claim_principal(info: pb.FrameworkInfo) -> str | None:
    """The authenticated principal of a SUBSCRIBE, written into ``info.principal``.

    A framework may not name another principal than the one it authenticated as.
    """
    principal = caller_principal()
    if principal is None:
        return None
    if info.principal and info.principal != principal:
        raise PermissionDenied(
            f"framework_info.principal {info.principal!r} is not the authenticated "
            f"principal {principal!r}"
        )
    info.principal = principal
    return principal
