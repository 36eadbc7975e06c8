"""How operator commands talk to the master and print: one client, tables, JSON, errors.

Every operator command is built only on ``mesospy.client``; this module gives them the
shared ``--master``/``--json`` options, turns ``OperatorError`` into one line on stderr
with a non-zero exit, and prints either aligned tables (people) or JSON (scripts).
"""

from __future__ import annotations

import datetime
import functools
import json
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import click
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table

from mesospy.cli.common import client_security_options, fail
from mesospy.client import OperatorClient, OperatorError
from mesospy.detector import DEFAULT_MASTER, MASTER_ENV
from mesospy.resources import Resources
from mesospy.v1 import common_pb2 as pb

F = TypeVar("F", bound=Callable[..., Any])


def master_option(func: F) -> F:
    """``--master`` (host:port or zk://...), else $MESOSPY_MASTER, else 127.0.0.1:5050;
    with the TLS and credential flags every client command takes."""
    return click.option(
        "--master",
        envvar=MASTER_ENV,
        default=DEFAULT_MASTER,
        show_default=True,
        show_envvar=True,
        help="The master as host:port, or zk://host:port,.../path to find the leader.",
    )(client_security_options(func))


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def operator_command(func: F) -> F:
    """Turn the client's errors into one line on stderr and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except OperatorError as exc:
            fail(" ".join(str(exc).split()))  # one line, whatever grpc put in the details
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return wrapper  # type: ignore[return-value]


def connect(master: str, timeout: float = 10.0) -> OperatorClient:
    return OperatorClient(master, timeout=timeout)


# ---------------------------------------------------------------- printing


def console() -> Console:
    # A pipe gets wide lines rather than wrapped ones, so scripts can cut columns.
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 200
    return Console(width=width, highlight=False, soft_wrap=False)


def to_dict(message: Message) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


def print_json(data: Message | dict[str, Any] | list[Any]) -> None:
    if isinstance(data, Message):
        data = to_dict(data)
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]], empty: str) -> None:
    rows = list(rows)
    if not rows:
        click.echo(empty)
        return
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header, no_wrap=True)
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    console().print(table)


def print_fields(fields: Iterable[tuple[str, object]]) -> None:
    """A ``name: value`` list, names aligned."""
    items = list(fields)
    width = max((len(name) for name, _ in items), default=0)
    for name, value in items:
        click.echo(f"{name + ':':<{width + 1}} {value}")


# ---------------------------------------------------------------- formats


def amounts(values: Mapping[str, float]) -> str:
    """Named amounts as ``cpus:4,mem:16384`` (the syntax of ``quota set``), or "-"."""
    return ",".join(f"{name}:{value:g}" for name, value in sorted(values.items())) or "-"


def resources(items: Iterable[pb.Resource]) -> str:
    text = str(Resources.from_proto(list(items)))
    return text or "-"


def state_name(state: int) -> str:
    return pb.TaskState.Name(state).removeprefix("TASK_")


def when(timestamp: float) -> str:
    if not timestamp:
        return "-"
    moment = datetime.datetime.fromtimestamp(timestamp)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def parse_state(text: str) -> int:
    name = text.upper()
    name = name if name.startswith("TASK_") else f"TASK_{name}"
    names = [n for n in pb.TaskState.keys() if n != "TASK_STATE_UNSPECIFIED"]  # noqa: SIM118
    if name not in names:
        choices = ", ".join(n.removeprefix("TASK_").lower() for n in names)
        raise click.BadParameter(f"unknown task state {text!r}; one of: {choices}")
    return pb.TaskState.Value(name)
