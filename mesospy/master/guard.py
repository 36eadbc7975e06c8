"""The master's guard: authentication, rate limits, message limits and ACLs from its flags
(the checks themselves live in ``mesospy.security``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mesospy.master.config import MasterConfig
from mesospy.security.acl import ACLError, load_acl
from mesospy.security.auth import AGENTS, FRAMEWORKS, OPERATORS, Authenticator
from mesospy.security.authorize import CallAuthorizer, task_user
from mesospy.security.credentials import CredentialsError, load_credentials
from mesospy.security.guard import Guard
from mesospy.security.limits import MessageLimits
from mesospy.security.ratelimit import RateLimit, RateLimiter, RateLimitError
from mesospy.v1 import common_pb2 as pb

if TYPE_CHECKING:
    from mesospy.master.master import Master


class GuardConfigError(ValueError):
    """The security flags cannot be used (the message names the flag or file)."""


class MasterStateView:
    """What the authorizer may read of the master's state."""

    def __init__(self, master: Master) -> None:
        self.m = master

    def framework_info(self, framework_id: str) -> pb.FrameworkInfo | None:
        record = self.m.state.frameworks.get(framework_id)
        return record.info if record is not None else None

    def task_user(self, framework_id: str, task_id: str) -> str | None:
        record = self.m.state.frameworks.get(framework_id)
        task = record.tasks.get(task_id) if record is not None else None
        if record is None or task is None:
            for done in self.m.state.completed_tasks:
                if done.framework_id == framework_id and done.task_id == task_id:
                    return done.command.user or (record.info.user if record else "")
            return None
        return task_user(task.info, record.info)


def build_guard(config: MasterConfig, master: Master) -> Guard:
    """The guard for the master's flags; raises ``GuardConfigError``."""
    try:
        store = load_credentials(config.credentials) if config.credentials else None
        required = [
            kind
            for kind, on in (
                (FRAMEWORKS, config.authenticate_frameworks),
                (AGENTS, config.authenticate_agents),
                (OPERATORS, config.authenticate_operators),
            )
            if on
        ]
        trust = config.tls is not None and config.tls.require_client_cert
        authenticator = Authenticator.create(store, required, trust)
        acl = load_acl(config.acls) if config.acls else None
        default = RateLimit.parse(config.rate_limit) if config.rate_limit else None
    except (CredentialsError, ACLError, RateLimitError, ValueError) as exc:
        raise GuardConfigError(str(exc)) from exc
    limiter = RateLimiter(acl.rate_limits if acl else {}, default)
    limits = MessageLimits()
    authorize = CallAuthorizer(acl, MasterStateView(master)) if acl else None
    return Guard(authenticator, limiter, limits, authorize)
