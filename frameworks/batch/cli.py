"""``mesospy job ...`` and ``mesospy batch serve``."""

from __future__ import annotations

import click


@click.group()
def job() -> None:
    """Batch jobs: submit, run, schedule and watch them (the batch framework)."""


@click.group()
def batch() -> None:
    """Run the batch framework (`mesospy batch serve`)."""
