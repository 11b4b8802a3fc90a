"""The amount due on the electronic-permit bollettino (validators/tables/fees.yaml)."""

from __future__ import annotations

import datetime as dt
from functools import cache
from importlib import resources

from pipeline.yamldata import load_yaml


@cache
def _fees() -> dict:
    text = resources.files("validators").joinpath("tables", "fees.yaml").read_text("utf-8")
    return load_yaml(text)


def fee_account() -> str:
    """The postal account the electronic-permit bollettino pays into."""
    return str(_fees()["account"])


def fee_due_cents(request: str, motivo: str, document: str, on: dt.date) -> int:
    """PSE production plus the contributo due for a request on a date, in euro cents.

    request: rilascio, rinnovo, aggiornamento, duplicato, conversione; document: permesso or
    carta; motivo: the two-digit code of m1.16.
    """
    fees = _fees()
    production = next(
        p["cents"] for p in fees["pse_production"]
        if ("from" not in p or p["from"] <= on) and ("until" not in p or on <= p["until"])
    )
    if on < fees["contributo_from"]:
        return production
    facts = {"request": request, "motivo": motivo, "document": document}
    for rule in fees["rules"]:
        if all(facts[k] in v if isinstance(v, list) else facts[k] == v
               for k, v in rule["when"].items()):
            return production + rule["contributo_cents"]
    raise AssertionError("fees.yaml has no catch-all rule")
