"""``mesospy reserve|unreserve`` and ``mesospy volume create|destroy``: dynamic
reservations and persistent volumes on one agent, by the operator.

Only resources no task uses can be changed; see README "Dynamic reservations and
persistent volumes".
"""

from __future__ import annotations

from collections.abc import Callable

import click

from mesospy.cli.common import client_principal, fail
from mesospy.cli.output import connect, json_option, master_option, operator_command, print_json
from mesospy.client import OperatorClient
from mesospy.resources import Reservation, ResourceError, Resources, Volume
from mesospy.v1 import operator_pb2 as opb

Operation = Callable[[OperatorClient, str, Resources], Resources]


def _reservation(role: str, labels: tuple[str, ...], principal: str | None = None) -> Reservation:
    """A dynamic reservation for ``role`` by ``principal`` (default: the one this command
    authenticates as)."""
    principal = client_principal() if principal is None else principal
    pairs = []
    for label in labels:
        key, sep, value = label.partition("=")
        if not sep or not key:
            fail(f"--label {label!r} is not KEY=VALUE, e.g. --label team=db")
        pairs.append((key, value))
    return Reservation(role, principal, tuple(pairs), kind="DYNAMIC")


def _reserved(text: str, reservation: Reservation) -> Resources:
    try:
        return Resources.parse(text).reserve(reservation)
    except ResourceError as exc:
        fail(str(exc))


def _run(
    master: str, as_json: bool, agent_id: str, what: str, operate: Operation, res: Resources
) -> None:
    with connect(master) as client:
        total = operate(client, agent_id, res)
    if as_json:
        print_json(opb.ResourceOperationResponse(total=total.to_proto()))
        return
    click.echo(f"{what} {res} on agent {agent_id}; its resources: {total}")


def _reservation_options(func: Callable[..., None]) -> Callable[..., None]:
    func = click.option("--role", required=True, help="The role, e.g. eng or eng/dev.")(func)
    func = click.option("--label", "labels", multiple=True, metavar="KEY=VALUE")(func)
    return func


@click.command("reserve")
@click.argument("agent_id")
@click.argument("resources")
@_reservation_options
@master_option
@json_option
@operator_command
def reserve(
    agent_id: str,
    resources: str,
    role: str,
    labels: tuple[str, ...],
    master: str,
    as_json: bool,
) -> None:
    """Reserve unused resources of an agent for a role (offered only to that role).

    Example: mesospy reserve S1 "cpus:2;mem:1024;disk:2048" --role eng
    """
    res = _reserved(resources, _reservation(role, labels))
    _run(master, as_json, agent_id, "reserved", OperatorClient.reserve_resources, res)


@click.command("unreserve")
@click.argument("agent_id")
@click.argument("resources")
@_reservation_options
@master_option
@json_option
@operator_command
def unreserve(
    agent_id: str,
    resources: str,
    role: str,
    labels: tuple[str, ...],
    master: str,
    as_json: bool,
) -> None:
    """Give reserved resources back (role, principal and labels as reserved).

    Example: mesospy unreserve S1 "cpus:2" --role eng
    """
    res = _reserved(resources, _reservation(role, labels))
    _run(master, as_json, agent_id, "unreserved", OperatorClient.unreserve_resources, res)


@click.group("volume")
def volume() -> None:
    """Create and destroy persistent volumes on reserved disk.

    Example: mesospy volume create S1 --role eng --size 1024 --id db-1 --path data
    """


def _volume_options(func: Callable[..., None]) -> Callable[..., None]:
    func = click.option("--size", type=float, required=True, help="Disk MB of the volume.")(func)
    func = click.option("--id", "persistence_id", required=True, help="Persistence id.")(func)
    func = click.option(
        "--path", "container_path", required=True, help="Where tasks see it in the sandbox."
    )(func)
    func = click.option(
        "--reserved-by",
        default=None,
        help="The disk's reservation principal (default: --principal).",
    )(func)
    func = click.option("--read-only", is_flag=True)(func)
    return _reservation_options(func)


def _volume(
    size: float,
    persistence_id: str,
    container_path: str,
    role: str,
    reserved_by: str | None,
    labels: tuple[str, ...],
    read_only: bool,
) -> Resources:
    disk = _reserved(f"disk:{size:g}", _reservation(role, labels, reserved_by))
    try:
        creator = client_principal()
        return disk.with_volume(Volume(persistence_id, container_path, creator, read_only))
    except ResourceError as exc:
        fail(str(exc))


@volume.command("create")
@click.argument("agent_id")
@_volume_options
@master_option
@json_option
@operator_command
def volume_create(agent_id: str, master: str, as_json: bool, **options: object) -> None:
    """Make reserved disk of an agent a persistent volume (a directory kept across task
    ends and agent restarts).

    Example: mesospy volume create S1 --role eng --size 1024 --id db-1 --path data
    """
    res = _volume(**options)  # type: ignore[arg-type]
    _run(master, as_json, agent_id, "created", OperatorClient.create_volumes, res)


@volume.command("destroy")
@click.argument("agent_id")
@_volume_options
@master_option
@json_option
@operator_command
def volume_destroy(agent_id: str, master: str, as_json: bool, **options: object) -> None:
    """Destroy an unused persistent volume (its data is deleted; the disk stays reserved).

    Example: mesospy volume destroy S1 --role eng --size 1024 --id db-1 --path data
    """
    res = _volume(**options)  # type: ignore[arg-type]
    _run(master, as_json, agent_id, "destroyed", OperatorClient.destroy_volumes, res)
