"""Interface strings, one data file per language (web/data/<lang>.yaml); Italian by default.

The language comes from `?lang=` (kept in the session), else the session, else Italian. A key
missing from a language falls back to Italian, and a key missing there too is shown as itself
(a test checks both files have the same keys).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from pipeline.yamldata import load_yaml

LANGS = ("it", "en")
DEFAULT = "it"


@cache
def strings(lang: str) -> dict[str, str]:
    text = resources.files("web").joinpath("data", f"{lang}.yaml").read_text("utf-8")
    return load_yaml(text)


def translator(lang: str):
    table, fallback = strings(lang), strings(DEFAULT)

    def t(key: str, **values: object) -> str:
        text = table.get(key) or fallback.get(key) or key
        return text.format(**values) if values else text

    return t
