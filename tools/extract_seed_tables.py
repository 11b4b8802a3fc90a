"""Extract the coded tables of MOD.209 from the Foglio Note text (seed 001).

The seed is the portal's text of the kit's "Tabella allegata" 1-5, where every table was
flattened into a run of names followed by a run of codes. This script splits those runs
back into rows; names made of several words are recognised from MULTIWORD (read off the
seed by hand). It prints CSV rows; `validators/tables/*.csv` were made from its output,
and tests/test_tables.py re-runs the same parse to prove the CSVs match the seed.

    python tools/extract_seed_tables.py /path/to/shared/seeds/001_*.txt
"""

from __future__ import annotations

import re
import sys

MULTIWORD = [
    "ASCOLI PICENO", "LA SPEZIA", "REGGIO CALABRIA", "REGGIO EMILIA", "VIBO VALENTIA",
    "ANTIGUA E BARBUDA", "ANTILLE OLANDESI", "ARABIA SAUDITA", "BOSNIA ED ERZEGOVINA",
    "BURKINA FASO", "CAPO VERDE", "CINA POPOLARE", "CINA REPUBBLICA NAZIONALE",
    "CITTA’DEL VATICANO", "COREA DEL NORD", "COREA DEL SUD", "COSTA D’AVORIO", "EL SALVADOR",
    "EMIRATI ARABI UNITI", "FAER OER", "GUAYANA FRANCESE", "GUINEA BISSAU",
    "GUINEA EQUATORIALE", "HONG KONG", "ISOLE VERGINI", "JUGOSLAVIA (SERBIA - MONTENEGRO)",
    "LA REUNION", "MICRONESIA STATI FEDERALI", "MYANMAR (BIRMANIA)", "NUOVA CALEDONIA",
    "NUOVA ZELANDA", "PAESI BASSI", "PALAU REPUBBLICA", "PAPUASIA N. GUINEA", "PUERTO RICO",
    "REGNO UNITO", "REPUBBLICA CECA", "REPUBBLICA DEMOCRATICA DEL CONGO",
    "REPUBBLICA DOMINICANA", "REPUBBLICA SLOVACCA", "S.CHRISTOPHER E NEVIS", "SAHARA SPAGNOLO",
    "SAINT LUCIA", "SAINT PIERRE ET MIQUELON", "SAINT VINCENT E GRENADINE", "SAMOA AMERICANE",
    "SAN MARINO", "SANT’ELENA", "SAO TOME’E PRINCIPE", "SIERRA LEONE", "SRI LANKA (CYLON)",
    "STATI UNITI D’AMERICA", "SUD AFRICA", "TRINIDAD E TOBAGO", "VERGINI BRITANNICHE",
]


def split_names(text: str) -> list[str]:
    """Split a run of upper-case names into names, longest known multi-word name first."""
    words = text.split()
    names: list[str] = []
    i = 0
    multi = sorted((m.split() for m in MULTIWORD), key=len, reverse=True)
    while i < len(words):
        for m in multi:
            if words[i : i + len(m)] == m:
                names.append(" ".join(m))
                i += len(m)
                break
        else:
            names.append(words[i])
            i += 1
    return names


def _pairs(segment: str, name_head: str, code_head: str, code_re: str) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    chunks = segment.split(name_head)[1:]
    for chunk in chunks:
        names_part, _, codes_part = chunk.partition(code_head)
        codes = re.findall(code_re, codes_part)
        names = split_names(names_part)
        if len(names) != len(codes):
            raise ValueError(f"{len(names)} names vs {len(codes)} codes in {chunk[:60]!r}")
        rows.extend(zip(codes, names))
    return rows


def provinces(seed: str) -> list[tuple[str, str]]:
    seg = seed[seed.index("TABELLA - ALLEGATA n. 1") : seed.index("TABELLA – ALLEGATA n. 2")]
    return _pairs(seg, "Nome Provincia", "Sigla Provincia", r"\b[A-Z]{2}\b")


def stati(seed: str) -> list[tuple[str, str]]:
    seg = seed[seed.index("TABELLA – ALLEGATA n. 3") : seed.index("TABELLA – ALLEGATA n. 4")]
    seg = re.sub(r"TABELLA – ALLEGATA n\. 3 CODICI STATO|CODICE STATO|\b1\b", " ", seg)
    return _pairs(seg, "Nome Stato", "Codice Stato", r"\b[A-Z]{3}\b")


def motivi(seed: str) -> list[tuple[str, str]]:
    seg = seed[seed.index("TABELLA – ALLEGATA n. 2") : seed.index("Tabella allegata n. 2")]
    codes = re.findall(r"\b\d\d\b", seg.split("Motivo")[0])
    text = seg.split("Motivo", 1)[1]
    # The descriptions are one run; each starts with a capital word listed here in order.
    starts = [
        "Adozione", "Affidamento", "Aggiornamento carta", "Aggiornamento permesso",
        "Attesa occupazione", "Attesa riacquisto", "Asilo politico", "Carta di soggiorno cittadini",
        "Carta di soggiorno per stranieri", "Conversione", "Duplicato Carta", "Duplicato Permesso",
        "Famiglia ", "Famiglia minore", "Lavoro Autonomo", "Lavoro Subordinato ",
        "Lavoro – casi", "Lavoro Subordinato –", "Missione", "Motivi religiosi",
        "Residenza elettiva", "Ricerca scientifica", "Status apolide", "Studio", "Tirocinio",
        "Turismo",
    ]
    pos = []
    cursor = 0
    for s in starts:
        cursor = text.index(s, cursor)
        pos.append(cursor)
        cursor += 1
    pos.append(len(text))
    names = [text[a:b].strip() for a, b in zip(pos, pos[1:])]
    return list(zip(codes, names))


def simple(seed: str, head: str, tail: str) -> list[tuple[str, str]]:
    seg = seed[seed.index(head) : seed.index(tail)]
    codes = re.findall(r"\b0\d\b", seg)
    body = seg.split("Documento", 1)[1]
    return list(zip(codes, [b.strip() for b in body.split("  ") if b.strip()]))


if __name__ == "__main__":
    text = open(sys.argv[1], encoding="utf-8").read()
    for name, rows in (("province", provinces(text)), ("stato", stati(text)),
                       ("motivo", motivi(text))):
        print(f"# {name}: {len(rows)} rows")
        for code, label in rows:
            print(f"{code},\"{label}\"")
