"""Registers the operations commands of their own modules: `plico schema`, `plico export`,
`plico doctor`, `plico watch` (kept out of pipeline/cli.py)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the commands to the main `plico` command."""
    from pipeline import doctor, export, schema, watch

    schema.register(app)
    export.register(app)
    doctor.register(app)
    watch.register(app)
