"""What every ``mesospy`` command shares: the master option, errors, daemons' start-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import click

from mesospy.detector import MASTER_ENV, MasterSpecError, parse_host_port
from mesospy.zk.url import parse_zk_url

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line to stderr and exit non-zero: no tracebacks for users."""
    click.echo(f"mesospy: error: {message}", err=True)
    sys.exit(code)


def master_option(func: F) -> F:
    """``--master`` (host:port), else $MESOSPY_MASTER, else 127.0.0.1:5050."""
    return click.option(
        "--master",
        envvar=MASTER_ENV,
        default="127.0.0.1:5050",
        show_default=True,
        show_envvar=True,
        help="The master as host:port, or zk://host:port,.../path to find the leader.",
        callback=_check_master,
    )(func)


def _check_master(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        if value.startswith("zk://"):
            parse_zk_url(value)
        else:
            parse_host_port(value, default_port=5050)
    except (MasterSpecError, ValueError) as exc:
        raise click.BadParameter(str(exc)) from exc
    return value


def log_level_option(func: F) -> F:
    return click.option(
        "--log-level",
        type=click.Choice(["debug", "info", "warning", "error"]),
        default="info",
        show_default=True,
        help="How much to log to stderr.",
    )(func)


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run_until_signalled(main: Coroutine[Any, Any, None]) -> None:
    """Run a daemon's main coroutine; SIGINT/SIGTERM cancel it so it stops cleanly."""

    async def runner() -> None:
        task = asyncio.ensure_future(main)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(runner())
