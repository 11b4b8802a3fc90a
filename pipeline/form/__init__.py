"""The machine-readable model of MOD.209 (Modulo 1, 8 pages; Modulo 2, 3 pages)."""

from pipeline.form.model import (
    Cell,
    Field,
    FieldKind,
    FormModel,
    Heading,
    Page,
    Run,
    Section,
    load_form_model,
)

__all__ = [
    "Cell",
    "Field",
    "FieldKind",
    "FormModel",
    "Heading",
    "Page",
    "Run",
    "Section",
    "load_form_model",
]
