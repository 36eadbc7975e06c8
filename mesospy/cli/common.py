"""What every ``mesospy`` command shares: the master option, errors, daemons' start-up."""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from mesospy.detector import MASTER_ENV, MasterSpecError, parse_host_port
from mesospy.security.channels import (
    ClientSecurity,
    default_client_security,
    set_default_client_security,
)
from mesospy.security.credentials import (
    PRINCIPAL_ENV,
    SECRET_ENV,
    Credential,
    CredentialsError,
)
from mesospy.security.serving import ApiSecurity, ApiSecurityError
from mesospy.security.tls import CA_ENV, CERT_ENV, KEY_ENV, TLSConfig, TLSError
from mesospy.stopping import STOP_GRACE, ExitDeadline
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


def port_option(name: str, help: str | None = None, default: int = 0) -> Callable[[F], F]:
    """A TCP port option (0..65535; for the servers beside the main one, 0 means off)."""
    return click.option(
        name, default=default, show_default=True, type=click.IntRange(0, 65535), help=help
    )


def metrics_port_option(func: F) -> F:
    """``--metrics-port``: Prometheus metrics over HTTP, as the master's and agents'."""
    return port_option(
        "--metrics-port", "Serve Prometheus metrics at http://HOST:PORT/metrics (0: off)."
    )(func)


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


def run_until_signalled(main: Coroutine[Any, Any, None], stop_grace: float = STOP_GRACE) -> None:
    """Run a daemon's main coroutine; SIGINT/SIGTERM cancel it so it stops cleanly.

    Stopping is bounded: if the process has not exited ``stop_grace`` seconds after the
    signal (or after ``main`` ended, e.g. with an error), a thread is stuck (a ZooKeeper call
    waiting for a server that is gone, say): it says so on stderr and exits at once, with
    status 1."""
    deadline = ExitDeadline(stop_grace)

    async def runner() -> None:
        task = asyncio.ensure_future(main)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, functools.partial(_stop_on, task, deadline, sig))
        try:
            await task
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            deadline.arm(f"{exc} (and it did not exit within {stop_grace:g} s)")
            raise
        finally:
            deadline.arm(f"did not exit within {stop_grace:g} s of stopping")

    asyncio.run(runner())


def _stop_on(task: asyncio.Future[None], deadline: ExitDeadline, sig: int) -> None:
    name = signal.Signals(sig).name
    deadline.arm(f"did not stop within {deadline.seconds:g} s of {name}; exiting now")
    task.cancel()


def tls_options(func: F) -> F:
    """``--tls-cert/--tls-key/--tls-ca/--tls-require-client-cert`` for a daemon."""
    for option in reversed(
        [
            click.option(
                "--tls-cert",
                envvar=CERT_ENV,
                show_envvar=True,
                type=click.Path(dir_okay=False, exists=True),
                help="PEM certificate: serve TLS (and present it when calling other daemons).",
            ),
            click.option(
                "--tls-key",
                envvar=KEY_ENV,
                show_envvar=True,
                type=click.Path(dir_okay=False, exists=True),
                help="PEM private key of --tls-cert.",
            ),
            click.option(
                "--tls-ca",
                envvar=CA_ENV,
                show_envvar=True,
                type=click.Path(dir_okay=False, exists=True),
                help="PEM CA bundle: verify peers' certificates with it.",
            ),
            click.option(
                "--tls-require-client-cert",
                is_flag=True,
                help="Refuse clients without a certificate signed by --tls-ca (mutual TLS).",
            ),
        ]
    ):
        func = option(func)
    return func


def tls_config(
    cert: str | None, key: str | None, ca: str | None, require_client_cert: bool
) -> TLSConfig | None:
    """The daemon's TLS settings from its flags, or a one-line error."""
    try:
        config = TLSConfig.from_values(cert, key, ca, require_client_cert)
        if config is not None:
            config.check()
            if config.cert is None:
                raise TLSError("a daemon serving TLS needs --tls-cert and --tls-key")
    except TLSError as exc:
        fail(str(exc))
    return config


_CLIENT_FLAGS: dict[str, str] = {}


def _remember_client_flag(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None and param.name is not None:
        _CLIENT_FLAGS[param.name] = value


def _use_client_flags() -> None:
    """Make the flags (over the environment) what every client of this command uses."""
    env = ClientSecurity.from_env()
    env_tls = env.tls or TLSConfig()
    flags = _CLIENT_FLAGS
    try:
        tls = TLSConfig.from_values(
            flags.get("tls_cert") or env_tls.cert,
            flags.get("tls_key") or env_tls.key,
            flags.get("tls_ca") or env_tls.ca,
        )
        principal = flags.get("principal") or (env.credential and env.credential.principal)
        secret = flags.get("secret") or (env.credential and env.credential.secret)
        credential = Credential.from_values(principal or None, secret or None)
    except (TLSError, CredentialsError) as exc:
        fail(str(exc), 2)
    set_default_client_security(ClientSecurity(tls, credential))


def client_principal() -> str:
    """The principal this command authenticates as ("" for none): reservations and
    volumes it makes name it, as the master requires."""
    env = ClientSecurity.from_env()
    return _CLIENT_FLAGS.get("principal") or (env.credential and env.credential.principal) or ""


def client_security_options(func: F) -> F:
    """TLS and credential flags of a client command; $MESOSPY_TLS_*/PRINCIPAL/SECRET else."""
    path = click.Path(dir_okay=False, exists=True)
    for name, help_text, kind in reversed(
        [
            ("--tls-ca", f"PEM CA that signed the master's certificate [env: {CA_ENV}]", path),
            ("--tls-cert", f"PEM client certificate for mutual TLS [env: {CERT_ENV}]", path),
            ("--tls-key", f"PEM key of --tls-cert [env: {KEY_ENV}]", path),
            ("--principal", f"Authenticate as this principal [env: {PRINCIPAL_ENV}]", None),
            ("--secret", f"The principal's secret [env: {SECRET_ENV}]", None),
        ]
    ):
        func = click.option(
            name,
            type=kind,
            expose_value=False,
            is_eager=True,
            callback=_remember_client_flag,
            help=help_text,
        )(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _use_client_flags()
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def api_security_options(func: F) -> F:
    """A framework API server's security flags (``mesospy batch|service serve``): the TLS
    flags (which also reach the master), ``--credentials`` and ``--authenticate``; the
    command gets them as one ``security: ApiSecurity`` argument."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        tls = tls_config(
            kwargs.pop("tls_cert"),
            kwargs.pop("tls_key"),
            kwargs.pop("tls_ca"),
            kwargs.pop("tls_require_client_cert"),
        )
        security = ApiSecurity(tls, kwargs.pop("credentials"), kwargs.pop("authenticate"))
        try:
            security.interceptors("the API")  # a bad file or flag fails now, in one line
        except ApiSecurityError as exc:
            fail(str(exc))
        if tls is not None:  # the framework calls the master with the same certificates
            env = default_client_security()
            set_default_client_security(ClientSecurity(tls, env.credential))
        return func(*args, security=security, **kwargs)

    decorated = click.option(
        "--authenticate",
        is_flag=True,
        help="Refuse API calls without a valid principal and secret (or, with "
        "--tls-require-client-cert, a client certificate): UNAUTHENTICATED.",
    )(wrapper)
    decorated = click.option(
        "--credentials",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        default=None,
        help="Principals and secrets allowed to call the API (the master's file format); "
        "calls with wrong ones are refused.",
    )(decorated)
    return tls_options(decorated)  # type: ignore[return-value]
