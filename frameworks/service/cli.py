"""``mesospy app ...`` and ``mesospy service serve``."""

from __future__ import annotations

import click


@click.group()
def app() -> None:
    """Long-running apps: deploy, scale, roll back (the service framework)."""


@click.group()
def service() -> None:
    """Run the service framework (`mesospy service serve`)."""
