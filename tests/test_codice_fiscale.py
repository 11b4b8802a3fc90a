"""Codice fiscale rules, cross-checked against the python-codicefiscale package."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import codicefiscale as cf_package
import numpy as np
from codicefiscale import codicefiscale as reference

from sample_scans.synth.people import data, sample_person
from validators.codice_fiscale import check, check_char, encode


def test_encode_matches_reference_for_generated_people():
    rng = np.random.default_rng(11)
    for _ in range(60):
        p = sample_person(rng, dt.date(2025, 6, 1))
        expected = reference.encode(
            lastname=p.surname, firstname=p.given_names, gender=p.sex,
            birthdate=p.birth_date.strftime("%d/%m/%Y"),
            birthplace=data()["nationalities"][p.birth_state]["belfiore"],
        )
        assert p.codice_fiscale == expected
        assert check(p.codice_fiscale, p.surname, p.given_names, p.birth_date, p.sex).ok


def test_belfiore_codes_of_the_name_pools_are_the_agenzia_entrate_ones():
    countries = json.loads(
        (Path(cf_package.__file__).parent / "data" / "countries.json").read_text("utf-8"))
    known = {c["code"] for c in countries}
    for nat, spec in data()["nationalities"].items():
        assert spec["belfiore"] in known, nat


def test_check_character_and_disagreements():
    cf = encode("Rossi", "Maria", dt.date(1990, 2, 14), "F", "Z330")
    assert check(cf).ok
    wrong = cf[:-1] + ("A" if cf[-1] != "A" else "B")
    assert check(wrong).well_formed and not check(wrong).check_ok
    res = check(cf, surname="Bianchi", name="Maria", birth=dt.date(1990, 2, 15), sex="M")
    assert set(res.disagreements) == {"surname", "birth_date", "sex"}
    assert not check("NOTACODE").well_formed
    # born abroad: a foreign State's place code (Z330); born in Italy: a comune's (H501)
    assert check(cf, born_abroad=True).ok and not check(cf, born_abroad=False).ok
    assert check(cf, born_abroad=False).disagreements == ("birth_place",)
    roman = encode("Rossi", "Maria", dt.date(1990, 2, 14), "F", "H501")
    assert check(roman, born_abroad=False).ok and not check(roman, born_abroad=True).ok


def test_omocodia_is_decoded():
    cf = encode("Rossi", "Mario", dt.date(1980, 1, 1), "M", "H501")
    body = cf[:14] + "M"  # last digit 1 -> M
    omocode = body + check_char(body)
    res = check(omocode, "Rossi", "Mario", dt.date(1980, 1, 1), "M")
    assert res.check_ok and not res.disagreements
