"""Authorization with an ACL file, in the spirit of Mesos's local authorizer (pure).

The file (YAML or JSON) lists, per action, rules that pair principals with objects::

    register_frameworks:            # object: the roles a framework subscribes with
      - principals: [batch]
        roles: [batch, "*"]
    run_tasks:                      # object: the user a task runs as
      - principals: [batch]
        users: [nobody]
      - principals: ANY
        users: NONE                 # an explicit deny
    rate_limits:
      - principal: batch
        rate: 20                    # calls per second
        burst: 50

Principals and objects are a list or ``ANY``; objects may also be ``NONE`` (deny). The
first rule whose principals and objects both match decides; ``NONE`` matches every object
and denies. When no rule matches, the call is denied (``permissive: true`` flips that).
Anonymous callers (no principal) match only ``principals: ANY``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mesospy.security.ratelimit import RateLimit, RateLimitError

ANY = "ANY"
NONE = "NONE"

# Action -> the name of its object in the file, and how a denial reads.
ACTIONS: dict[str, tuple[str | None, str]] = {
    "register_frameworks": ("roles", "register a framework in role"),
    "run_tasks": ("users", "run tasks as user"),
    "register_agents": (None, "register an agent"),
    "view_cluster": (None, "view the cluster state"),
    "read_sandboxes": ("users", "read the sandbox of a task running as user"),
    "drain_agents": ("agents", "drain, deactivate or reactivate agent"),
    "mark_agents_gone": ("agents", "mark gone agent"),
    "update_weights": ("roles", "update the weight of role"),
    "update_quota": ("roles", "update the quota of role"),
    "reserve_resources": ("roles", "reserve resources for role"),
    "unreserve_resources": ("reserver_principals", "unreserve resources reserved by principal"),
    "create_volumes": ("roles", "create persistent volumes for role"),
    "destroy_volumes": ("creator_principals", "destroy persistent volumes created by principal"),
    "teardown_frameworks": ("framework_principals", "tear down a framework of principal"),
}


class ACLError(ValueError):
    """The ACL file is malformed (the message names the entry)."""


class Denied(Exception):
    """The ACLs refuse a call; the message names the rule (or the default) that did."""


@dataclass(frozen=True)
class Entity:
    """A set of names, everyone (ANY), or nobody (NONE)."""

    names: frozenset[str] = frozenset()
    any: bool = False
    none: bool = False

    def matches(self, name: str | None) -> bool:
        if self.any or self.none:
            return True
        return name is not None and name in self.names

    def describe(self) -> str:
        return ANY if self.any else NONE if self.none else json.dumps(sorted(self.names))


def _entity(value: object, where: str, allow_none: bool) -> Entity:
    if value == ANY:
        return Entity(any=True)
    if value == NONE and allow_none:
        return Entity(none=True)
    if isinstance(value, str) and value != NONE:
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        choices = "a list of names, ANY" + (" or NONE" if allow_none else "")
        raise ACLError(f"{where}: expected {choices}, got {value!r}")
    return Entity(frozenset(value))


@dataclass(frozen=True)
class Rule:
    action: str
    index: int
    principals: Entity
    objects: Entity

    def describe(self) -> str:
        key = ACTIONS[self.action][0]
        objects = f", {key}: {self.objects.describe()}" if key else ""
        return f"{self.action}[{self.index}] (principals: {self.principals.describe()}{objects})"


@dataclass(frozen=True)
class ACL:
    """Parsed ACLs: ``check`` allows a call or raises ``Denied`` naming the rule."""

    rules: Mapping[str, Sequence[Rule]] = field(default_factory=dict)
    permissive: bool = False
    rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)

    def check(self, action: str, principal: str | None, obj: str | None = None) -> None:
        """Allow, or raise ``Denied``; ``obj`` is the role, user, agent... the action acts on."""
        verb = ACTIONS[action][1]
        target = f" {obj!r}" if obj is not None and ACTIONS[action][0] else ""
        who = f"principal {principal!r}" if principal is not None else "an anonymous caller"
        for rule in self.rules.get(action, ()):
            if not rule.principals.matches(principal):
                continue
            if not rule.objects.matches(obj):
                continue
            if rule.objects.none:
                raise Denied(f"{who} may not {verb}{target}: denied by ACL rule {rule.describe()}")
            return
        if not self.permissive:
            raise Denied(
                f"{who} may not {verb}{target}: no ACL rule of {action!r} allows it (default deny)"
            )


def parse_acl(data: object, source: str = "ACL file") -> ACL:
    """Build an ACL from the file's parsed YAML/JSON."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ACLError(f"{source}: expected a mapping of actions to rules")
    rules: dict[str, list[Rule]] = {}
    permissive = data.get("permissive", False)
    if not isinstance(permissive, bool):
        raise ACLError(f"{source}: permissive must be true or false")
    limits: dict[str, RateLimit] = {}
    for key, entries in data.items():
        if key == "permissive":
            continue
        if key == "rate_limits":
            limits = _rate_limits(entries, source)
            continue
        if key not in ACTIONS:
            known = ", ".join([*ACTIONS, "rate_limits", "permissive"])
            raise ACLError(f"{source}: unknown action {key!r}; known: {known}")
        if not isinstance(entries, list):
            raise ACLError(f"{source}: {key} must be a list of rules")
        object_key = ACTIONS[key][0]
        for index, entry in enumerate(entries):
            where = f"{source}: {key}[{index}]"
            if not isinstance(entry, dict):
                raise ACLError(f"{where}: a rule is a mapping with 'principals'")
            extra = set(entry) - {"principals", object_key}
            if extra:
                raise ACLError(f"{where}: unknown keys {sorted(str(e) for e in extra)}")
            if "principals" not in entry:
                raise ACLError(f"{where}: 'principals' is missing")
            principals = _entity(entry["principals"], f"{where}.principals", False)
            objects = (
                _entity(entry.get(object_key, ANY), f"{where}.{object_key}", True)
                if object_key
                else Entity(any=True)
            )
            rules.setdefault(key, []).append(Rule(key, index, principals, objects))
    return ACL(rules, permissive, limits)


def _rate_limits(entries: Any, source: str) -> dict[str, RateLimit]:
    if not isinstance(entries, list):
        raise ACLError(f"{source}: rate_limits must be a list")
    limits: dict[str, RateLimit] = {}
    for index, entry in enumerate(entries):
        where = f"{source}: rate_limits[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("principal"), str):
            raise ACLError(f"{where}: expected {{principal: NAME, rate: N, burst: M}}")
        try:
            rate = float(entry.get("rate", 0))
            limits[entry["principal"]] = RateLimit(rate, float(entry.get("burst", max(1, rate))))
        except (TypeError, ValueError, RateLimitError) as exc:
            raise ACLError(f"{where}: {exc}") from None
    return limits


def load_acl(path: Path) -> ACL:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ACLError(f"cannot read ACL file {str(path)!r}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)  # JSON is YAML too
    except yaml.YAMLError as exc:
        raise ACLError(f"{path}: not valid YAML or JSON: {exc}") from None
    return parse_acl(data, str(path))
