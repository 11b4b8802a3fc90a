"""The MOD.209 coded tables (province, motivo, stato, documento, autorita, stato civile,
sesso) and the Schengen visa types (tipo_visto), read from validators/tables/*.csv with their
editions (editions.yaml)."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from functools import cache
from importlib import resources

from pipeline.yamldata import load_yaml

TABLE_NAMES = ("province", "motivo", "stato", "documento", "autorita", "stato_civile", "sesso",
               "tipo_visto")


@dataclass(frozen=True, slots=True)
class Edition:
    table: str
    name: str
    in_force_from: dt.date
    source: str
    entries: tuple[tuple[str, str], ...]  # (code, name), the whole edition

    def __contains__(self, code: object) -> bool:
        return any(code == c for c, _ in self.entries)

    def name_of(self, code: str) -> str | None:
        return next((n for c, n in self.entries if c == code), None)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.entries)


def _data(name: str) -> str:
    return resources.files("validators").joinpath("tables", name).read_text(encoding="utf-8")


@cache
def editions(table: str) -> tuple[Edition, ...]:
    """Every edition of a table, oldest first."""
    if table not in TABLE_NAMES:
        raise KeyError(f"unknown coded table {table!r}")
    spec = load_yaml(_data("editions.yaml"))[table]
    rows = list(csv.DictReader(_data(f"{table}.csv").splitlines()))
    built: dict[str, Edition] = {}
    for ed in spec:
        own = [(r["code"], r["name"]) for r in rows if r["edition"] == ed["name"]]
        inherited: list[tuple[str, str]] = []
        if "extends" in ed:
            drops = set(ed.get("drops", ()))
            inherited = [e for e in built[ed["extends"]].entries if e[0] not in drops]
        entries = tuple(sorted(inherited + own))
        built[ed["name"]] = Edition(table, ed["name"], ed["in_force_from"], ed["source"], entries)
    return tuple(sorted(built.values(), key=lambda e: e.in_force_from))


def edition_on(table: str, on: dt.date | None) -> Edition:
    """The edition in force on a date (the newest edition when the date is unknown)."""
    eds = editions(table)
    if on is None:
        return eds[-1]
    in_force = [e for e in eds if e.in_force_from <= on]
    return in_force[-1] if in_force else eds[0]


def is_valid(table: str, code: str, on: dt.date | None = None) -> bool:
    return code in edition_on(table, on)


@cache
def place_codes() -> dict[str, str]:
    """Per State code of the MOD.209 table, the place code a codice fiscale gives a person
    born there (Z and three digits; validators/tables/stato_belfiore.csv, written by
    tools/stato_belfiore.py from python-codicefiscale's list of foreign States). States that
    list does not name are absent."""
    return {r["code"]: r["belfiore"] for r in csv.DictReader(_data("stato_belfiore.csv")
                                                             .splitlines())}
