"""Write validators/tables/stato_belfiore.csv: each State of the MOD.209 table (stato.csv) with
the place code a codice fiscale gives a person born there (Z and three digits).

Source: the list of foreign States' codes that python-codicefiscale ships
(`codicefiscale/data/countries.json`, taken from the Agenzia delle Entrate's and ISTAT's
published tables), joined by the State's Italian name; the names the two tables spell
differently are joined through `ALIASES`. A State neither table names alike (a territory the
package does not list, Italy itself, the stateless) is left out: its codes are not checked.

    .venv/bin/python tools/stato_belfiore.py
"""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path

from pipeline.normalise import plain_upper

TABLES = Path(__file__).resolve().parent.parent / "validators" / "tables"

#: stato.csv code -> the package's name, where the two spell a State differently.
ALIASES = {
    "BHS": "Bahamas", "BMU": "Bermuda", "BIH": "Bosnia-Erzegovina", "CYM": "Isole Cayman",
    "CAF": "Repubblica Centrafricana", "CHN": "Repubblica Popolare Cinese", "TWN": "Taiwan",
    "VAT": "Stato Citta' Del Vaticano", "PRK": "Repubblica Popolare Democratica Di Corea",
    "KOR": "Repubblica Di Corea", "FRO": "Isole Faer Oer", "VIR": "Isole Vergini Americane",
    "KAZ": "Kazakhstan", "KEN": "Kenya", "MKD": "Macedonia Del Nord", "MHL": "Isole Marshall",
    "MUS": "Mauritius", "FSM": "Stati Federati Di Micronesia", "MDA": "Moldova",
    "MMR": "Myanmar", "PLW": "Palau", "PSE": "Territori Dell'Autonomia Palestinese",
    "PNG": "Papua Nuova Guinea", "PYF": "Polinesia Francese", "PRI": "Porto Rico",
    "SVK": "Slovacchia", "RUS": "Federazione Russa", "KNA": "Saint Kitts E Nevis",
    "SPM": "Saint Pierre E Miquelon", "SLB": "Isole Salomone", "SYC": "Seychelles",
    "LKA": "Sri Lanka", "TLS": "Timor Orientale", "TCA": "Isole Turks E Caicos",
    "VGB": "Isole Vergini Britanniche", "WLF": "Isole Wallis E Futuna",
}


def _key(name: str) -> str:
    return "".join(filter(str.isalpha, plain_upper(name)))


def main() -> None:
    countries = json.loads(resources.files("codicefiscale").joinpath("data/countries.json")
                           .read_text(encoding="utf-8"))
    by_name = {_key(c["name"]): c for c in countries}
    by_name.update({_key(c["name_alt"]): c for c in countries if c.get("name_alt")})
    rows, left = [], []
    with open(TABLES / "stato.csv", encoding="utf-8") as f:
        for state in csv.DictReader(f):
            c = by_name.get(_key(ALIASES.get(state["code"], state["name"])))
            if c is None:
                left.append(state["code"])
                continue
            rows.append((state["code"], c["code"], c["name"]))
    with open(TABLES / "stato_belfiore.csv", "w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(("code", "belfiore", "name"))
        out.writerows(rows)
    print(f"{len(rows)} States written; left out: {' '.join(left)}")


if __name__ == "__main__":
    main()
