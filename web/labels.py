"""Anomaly codes in words: the catalogue's message (validators/anomalies.yaml, `it` or `en`)
without its placeholders ("Pagine del modulo mancanti: {pages}" -> "Pagine del modulo
mancanti"). The pages show the label, the code in a tooltip."""

from __future__ import annotations

import re
from functools import cache

from fastapi import FastAPI

from validators.catalogue import catalogue

_HOLE = re.compile(r"\s*\(\{\w+\}\)|:\s*\{\w+\}|\s*\{\w+\}")
_DANGLING = re.compile(r"\s+(il|la|di|a|da|on|of|the)$", re.IGNORECASE)


@cache
def anomaly_label(code: str, lang: str = "it") -> str:
    entry = catalogue().get(code)
    if not entry or not entry.get(lang):
        return code
    text = _HOLE.sub("", entry[lang]).strip().rstrip(":").strip()
    return _DANGLING.sub("", text) or code


def install(app: FastAPI) -> None:
    app.state.templates.env.globals["anomaly_label"] = anomaly_label
