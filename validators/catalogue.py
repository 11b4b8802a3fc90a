"""The anomaly catalogue (validators/anomalies.yaml): codes, categories, severities, messages."""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

from pipeline.yamldata import load_yaml


class Category(StrEnum):
    DOCUMENTALE = "documentale"
    DATI = "dati"
    LETTURA = "lettura"


class Severity(StrEnum):
    BLOCKING = "blocking"
    WARNING = "warning"
    INFO = "info"


@cache
def catalogue() -> dict[str, dict[str, Any]]:
    text = resources.files("validators").joinpath("anomalies.yaml").read_text("utf-8")
    return load_yaml(text)


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def message(code: str, lang: str, evidence: dict[str, Any]) -> str:
    """The catalogue's text for a code in `lang` (it/en), filled from the evidence."""
    template = catalogue()[code][lang]
    return template.format_map(_Missing({k: v for k, v in evidence.items()}))
