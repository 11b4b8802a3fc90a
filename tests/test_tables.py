"""Coded tables: entry by entry as seed 001 prints them; editions picked by date."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
from pathlib import Path

import pytest

from validators.coded_tables import TABLE_NAMES, edition_on, editions, is_valid
from validators.fees import fee_due_cents

ROOT = Path(__file__).resolve().parent.parent


def _extractor():
    spec = importlib.util.spec_from_file_location("extract", ROOT / "tools" / "extract_seed_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(table: str, edition: str) -> list[tuple[str, str]]:
    with open(ROOT / "validators" / "tables" / f"{table}.csv", encoding="utf-8") as fh:
        return [(r["code"], r["name"]) for r in csv.DictReader(fh) if r["edition"] == edition]


@pytest.mark.parametrize("table", ["province", "stato", "motivo"])
def test_table_matches_seed_entry_by_entry(shared, table):
    seed = next((shared / "seeds").glob("001_*.txt")).read_text(encoding="utf-8")
    parsed = getattr(_extractor(), {"province": "provinces", "stato": "stati",
                                    "motivo": "motivi"}[table])(seed)
    assert _rows(table, "seed-001") == parsed


def test_small_tables_match_seed_text(shared):
    seed = next((shared / "seeds").glob("001_*.txt")).read_text(encoding="utf-8")
    for table in ("documento", "autorita"):
        for code, name in _rows(table, "seed-001"):
            assert name in seed, name
    assert [c for c, _ in _rows("documento", "seed-001")] == [f"0{i}" for i in range(1, 10)]
    assert [c for c, _ in _rows("autorita", "seed-001")] == [f"0{i}" for i in range(1, 7)]


def test_seed_tables_have_the_codes_the_notes_name():
    assert is_valid("stato", "XXX") and is_valid("province", "FO") and is_valid("province", "PS")
    assert set(edition_on("stato_civile", None).codes) == {"A", "B"}
    assert set(edition_on("sesso", None).codes) == {"F", "M"}
    for t in TABLE_NAMES:
        assert editions(t)


def test_motivo_edition_follows_the_application_date():
    before, after = dt.date(2024, 5, 29), dt.date(2024, 5, 30)
    for code in ("01", "08", "22", "26"):
        assert is_valid("motivo", code, before) and not is_valid("motivo", code, after)
    for code in [str(n) for n in range(27, 36)]:
        assert is_valid("motivo", code, after) and not is_valid("motivo", code, before)
    assert is_valid("motivo", "16", before) and is_valid("motivo", "16", after)


def test_later_province_codes_join_in_their_edition():
    assert not is_valid("province", "MB", dt.date(2012, 1, 1))
    assert is_valid("province", "MB", dt.date(2025, 1, 1))
    assert is_valid("stato", "KOS", dt.date(2025, 1, 1))


def test_fees_by_request():
    on = dt.date(2025, 3, 1)
    assert fee_due_cents("rinnovo", "16", "permesso", on) == 8046
    assert fee_due_cents("rilascio", "24", "permesso", on) == 7046
    assert fee_due_cents("rinnovo", "09", "carta", on) == 13046
    assert fee_due_cents("aggiornamento", "04", "permesso", on) == 3046
    assert fee_due_cents("rinnovo", "07", "permesso", on) == 3046
    assert fee_due_cents("rinnovo", "16", "permesso", dt.date(2015, 1, 1)) == 2750
