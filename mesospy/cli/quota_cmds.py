"""``mesospy quota set|show|remove``: role guarantees and limits (Mesos 1.9+ quota).

Quota is kept in the master's registry and survives failover; see README "Quota".
"""

from __future__ import annotations

import math

import click

from mesospy.cli.common import fail
from mesospy.cli.output import (
    amounts,
    connect,
    json_option,
    master_option,
    operator_command,
    print_json,
    print_table,
    resources,
)
from mesospy.v1 import operator_pb2 as opb


def parseamounts(text: str, option: str) -> dict[str, float]:
    """``cpus:4,mem:16384`` (``;`` also separates) -> {"cpus": 4.0, "mem": 16384.0}."""
    amounts: dict[str, float] = {}
    for item in text.replace(";", ",").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition(":")
        name = name.strip()
        try:
            number = float(value)
        except ValueError:
            sep = ""
        if not sep or not name:
            fail(f"{option} {item.strip()!r} is not NAME:AMOUNT, e.g. {option} cpus:4,mem:16384")
        if not math.isfinite(number) or number < 0:
            fail(f"{option} {name}:{value.strip()}: the amount must be a finite number >= 0")
        if name in amounts:
            fail(f"{option} names {name} more than once")
        amounts[name] = number
    return amounts


@click.group("quota", invoke_without_command=True)
@master_option
@json_option
@click.pass_context
def quota(ctx: click.Context, master: str, as_json: bool) -> None:
    """Show and set role quota: guarantees the cluster keeps for a role, limits it is never
    offered beyond (a child role's allocation counts towards its parents' limits).

    Example: mesospy quota set eng/dev --guarantee cpus:4 --limit cpus:8,mem:16384
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(quota_show, master=master, as_json=as_json)


@quota.command("show")
@click.argument("roles", nargs=-1, metavar="[ROLE]...")
@master_option
@json_option
@operator_command
def quota_show(master: str, as_json: bool, roles: tuple[str, ...] = ()) -> None:
    """List roles with quota: guarantees, limits and what they consume now.

    Example: mesospy quota show eng/dev --json
    """
    with connect(master) as client:
        configs = client.get_quota()
        consumed = {r.name: r.consumed for r in client.get_roles().roles}
    if roles:
        unknown = sorted(set(roles) - {c.role for c in configs})
        if unknown:
            fail(f"role {unknown[0]!r} has no quota (see `mesospy quota show`)")
        configs = [c for c in configs if c.role in roles]
    if as_json:
        print_json(opb.GetQuotaResponse(configs=configs))
        return
    rows = [
        (c.role, amounts(c.guarantees), amounts(c.limits), resources(consumed.get(c.role, [])))
        for c in configs
    ]
    print_table(["ROLE", "GUARANTEE", "LIMIT", "CONSUMED"], rows, "no role has quota")


@quota.command("set")
@click.argument("role")
@click.option("--guarantee", default="", metavar="NAME:AMOUNT,...", help="e.g. cpus:4,mem:8192")
@click.option("--limit", default="", metavar="NAME:AMOUNT,...", help="e.g. cpus:8,mem:16384")
@click.option("--force", is_flag=True, help="Set guarantees the cluster cannot hold now.")
@master_option
@json_option
@operator_command
def quota_set(
    role: str, guarantee: str, limit: str, force: bool, master: str, as_json: bool
) -> None:
    """Set a role's quota; it replaces the role's guarantees and limits as a whole.

    Example: mesospy quota set eng/dev --guarantee cpus:4 --limit cpus:8,mem:16384
    """
    guarantees = parseamounts(guarantee, "--guarantee")
    limits = parseamounts(limit, "--limit")
    if not guarantees and not limits:
        fail("give --guarantee and/or --limit (to remove a quota: mesospy quota remove ROLE)")
    config = opb.QuotaConfig(role=role, guarantees=guarantees, limits=limits)
    with connect(master) as client:
        configs = client.update_quota([config], force=force)
    if as_json:
        print_json(opb.GetQuotaResponse(configs=configs))
        return
    click.echo(f"role {role} quota: guarantee {amounts(guarantees)}, limit {amounts(limits)}")


@quota.command("remove")
@click.argument("roles", nargs=-1, required=True, metavar="ROLE...")
@master_option
@operator_command
def quota_remove(roles: tuple[str, ...], master: str) -> None:
    """Remove the quota of roles (no guarantee, no limit).

    Example: mesospy quota remove eng/dev
    """
    with connect(master) as client:
        known = {c.role for c in client.get_quota()}
        unknown = sorted(set(roles) - known)
        if unknown:
            fail(f"role {unknown[0]!r} has no quota (see `mesospy quota show`)")
        client.update_quota([opb.QuotaConfig(role=r) for r in roles])
    for role in roles:
        click.echo(f"role {role} quota removed")
