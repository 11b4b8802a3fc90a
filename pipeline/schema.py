"""`plico schema record`: the istanza record's JSON Schema (2020-12), generated from the
pydantic model of pipeline/record.py, committed as docs/record.schema.json (docs/record.md).

The schema's `$id` and `version` carry the record's `schema_version` (`plico-record/1`): a
change that a reader of version 1 would not accept (a field removed, renamed or retyped, a
new required field) makes `plico-record/2`; a new optional field keeps version 1 and only
regenerates the file. A test fails while the committed file differs from the model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "docs" / "record.schema.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

schema_app = typer.Typer(help="JSON Schemas of what Plico emits.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `plico schema ...` to the main command."""
    app.add_typer(schema_app, name="schema")


def record_schema() -> dict:
    """The JSON Schema of a `plico-record/N` record, from `Record.model_json_schema()`."""
    from pipeline.record import RECORD_SCHEMA, Record

    name, version = RECORD_SCHEMA.split("/")
    generated = Record.model_json_schema()
    schema = {
        "$schema": DRAFT,
        "$id": f"https://plico.example/schemas/{name}/{version}.json",
        "title": f"Plico istanza record ({RECORD_SCHEMA})",
        "version": RECORD_SCHEMA,
        **{k: v for k, v in generated.items() if k != "title"},
    }
    props = schema["properties"]["schema_version"]
    props["const"] = RECORD_SCHEMA
    return schema


def schema_text() -> str:
    """The schema as the committed file holds it (sorted keys, 2-space indent, newline)."""
    return json.dumps(record_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@schema_app.command("record")
def schema_record(
    out: Annotated[Path, typer.Option("--out", help="File to write.")] = SCHEMA_FILE,
) -> None:
    """Write the istanza record's JSON Schema (2020-12), generated from the pydantic model."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(schema_text(), encoding="utf-8")
    typer.echo(f"wrote {out}")
