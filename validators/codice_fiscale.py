"""Codice fiscale of natural persons: encoding, check character, agreement with the data.

Rules of D.M. 23 dicembre 1976 and D.P.R. 605/1973 as published by the Agenzia delle Entrate:
3 letters of the surname, 3 of the name, 2 digits of the birth year, a letter for the month,
the day (plus 40 for women), the 4-character code of the place of birth (Z + 3 digits for a
foreign State), and a check character. Omocodia replaces digits with the letters LMNPQRSTUV.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

MONTHS = "ABCDEHLMPRST"
VOWELS = frozenset("AEIOU")
OMOCODIA = "LMNPQRSTUV"  # replacements for the digits 0-9
_ODD = {
    **dict(zip("0123456789", (1, 0, 5, 7, 9, 13, 15, 17, 19, 21))),
    **dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ",
               (1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22,
                25, 24, 23))),
}
_EVEN = {**{d: int(d) for d in "0123456789"},
         **{c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}}
PATTERN = re.compile(r"^[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z]"
                     r"[0-9LMNPQRSTUV]{3}[A-Z]$")


def _letters(text: str) -> str:
    norm = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in norm.upper() if "A" <= ch <= "Z")


def _split(text: str) -> tuple[str, str]:
    letters = _letters(text)
    return ("".join(c for c in letters if c not in VOWELS), "".join(c for c in letters if c in VOWELS))


def surname_code(surname: str) -> str:
    cons, vow = _split(surname)
    return (cons + vow + "XXX")[:3]


def name_code(name: str) -> str:
    cons, vow = _split(name)
    if len(cons) >= 4:
        return cons[0] + cons[2] + cons[3]
    return (cons + vow + "XXX")[:3]


def date_sex_code(birth: dt.date, sex: str) -> str:
    day = birth.day + (40 if sex.upper() == "F" else 0)
    return f"{birth.year % 100:02d}{MONTHS[birth.month - 1]}{day:02d}"


def check_char(first15: str) -> str:
    """The 16th character computed over the first 15."""
    total = sum(_ODD[c] if i % 2 == 0 else _EVEN[c] for i, c in enumerate(first15.upper()))
    return chr(ord("A") + total % 26)


def encode(surname: str, name: str, birth: dt.date, sex: str, place_code: str) -> str:
    body = surname_code(surname) + name_code(name) + date_sex_code(birth, sex) + place_code.upper()
    return body + check_char(body)


def _de_omocodia(cf: str) -> str:
    chars = list(cf)
    for i in (6, 7, 9, 10, 12, 13, 14):
        if chars[i] in OMOCODIA:
            chars[i] = str(OMOCODIA.index(chars[i]))
    return "".join(chars)


@dataclass(frozen=True, slots=True)
class CfCheck:
    """What can be said of a codice fiscale on its own and against the form's data."""

    well_formed: bool
    check_ok: bool
    disagreements: tuple[str, ...] = ()  # "surname", "name", "birth_date", "sex", "birth_place"

    @property
    def ok(self) -> bool:
        return self.well_formed and self.check_ok and not self.disagreements


def check(
    cf: str,
    surname: str | None = None,
    name: str | None = None,
    birth: dt.date | None = None,
    sex: str | None = None,
    born_abroad: bool | None = None,
) -> CfCheck:
    """Check the format and the check character, then each piece of data given: a person
    born abroad has a foreign State's place code, Z and three digits (the Agenzia delle
    Entrate's codes), one born in Italy a comune's (A-M)."""
    cf = cf.strip().upper()
    if not PATTERN.match(cf):
        return CfCheck(False, False)
    if check_char(cf[:15]) != cf[15]:
        return CfCheck(True, False)
    plain = _de_omocodia(cf)
    wrong: list[str] = []
    if surname is not None and surname_code(surname) != cf[0:3]:
        wrong.append("surname")
    if name is not None and name_code(name) != cf[3:6]:
        wrong.append("name")
    day = int(plain[9:11])
    if sex is not None and (day > 40) != (sex.upper() == "F"):
        wrong.append("sex")
    if birth is not None:
        month_ok = MONTHS.index(plain[8]) + 1 == birth.month
        if int(plain[6:8]) != birth.year % 100 or not month_ok or day % 40 != birth.day:
            wrong.append("birth_date")
    if born_abroad is not None and (cf[11] == "Z") != born_abroad:
        wrong.append("birth_place")
    return CfCheck(True, True, tuple(wrong))
