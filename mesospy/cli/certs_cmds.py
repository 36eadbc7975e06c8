"""``mesospy certs``: certificates for trying TLS on a test cluster."""

from __future__ import annotations

from pathlib import Path

import click

from mesospy.cli.common import fail
from mesospy.security.certs import DEFAULT_HOSTS, CertificateError, init_certificates


@click.group()
def certs() -> None:
    """Make certificates for a test cluster (bring your own PKI in production)."""


@certs.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--host",
    "hosts",
    multiple=True,
    default=DEFAULT_HOSTS,
    show_default=True,
    help="A host name or IP address the server certificate is valid for.",
)
@click.option(
    "--principal",
    "principals",
    multiple=True,
    default=("operator",),
    show_default=True,
    help="Make a client certificate for this principal.",
)
@click.option(
    "--days",
    default=365,
    show_default=True,
    type=click.IntRange(1),
    help="How long the certificates are valid.",
)
def init(directory: Path, hosts: tuple[str, ...], principals: tuple[str, ...], days: int) -> None:
    """Create a CA, a server certificate and client certificates in DIRECTORY.

    Example: mesospy certs init ./tls --host 127.0.0.1 --principal operator --principal agent
    """
    try:
        issued = init_certificates(directory, hosts, principals, days)
    except CertificateError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write to {directory}: {exc.strerror}")
    click.echo(f"CA:     {issued.ca_cert} (key {issued.ca_key})")
    click.echo(f"server: {issued.server_cert} (key {issued.server_key})")
    for principal, (cert, key) in issued.clients.items():
        click.echo(f"client {principal}: {cert} (key {key})")
