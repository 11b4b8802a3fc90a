"""ICAO Doc 9303 machine readable zone (MRZ): check digits, names, TD3 and TD1 lines.

Pure functions, no I/O. References are to ICAO Doc 9303, 8th edition (2021):

- Part 3 (specifications common to all MRTDs): the MRZ character set, the transliteration
  and truncation of names (§6 "Name field"), the check digit (§4.9), dates (YYMMDD);
- Part 4 (TD3, machine readable passports): the two 44-character lines (§4.2.2);
- Part 5 (TD1 size MROTDs, e.g. ID cards and residence permit cards): the three
  30-character lines (§4.2.2), including the long-document-number rule.

Builders (`td3`, `td1`) raise ValueError for a value that cannot be written in an MRZ: that
is a fault of the caller. Parsers (`parse_td3`, `parse_td1`) raise ValueError only for lines
that do not have the shape of the format (count, length, alphabet); a wrong check digit or
an impossible date is data, reported in `checks` and as a None date.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

FILLER = "<"
#: What Tesseract reads for a filler of a photocopied MRZ it cannot place (extractors/mrz.py
#: mends them where the format makes them certain; validators.rules weighs one left at the
#: end of a name).
FILLER_LOOKALIKES = frozenset("KXSCERZAU")
_ALPHABET = re.compile(r"[A-Z0-9<]*")

# Part 3 §6 transliteration of Latin characters that are not plain letters with diacritics:
# the recommended MRZ spelling. Every other accented letter loses its accent (NFKD).
_TRANSLIT = {
    "Ä": "AE", "Å": "AA", "Æ": "AE", "Ö": "OE", "Ø": "OE", "Ü": "UE", "ß": "SS",
    "Þ": "TH", "Ð": "D", "Đ": "D", "Ħ": "H", "Ĳ": "IJ", "Ł": "L", "Œ": "OE", "Ŀ": "L",
    "ı": "I",
}  # fmt: skip

_WEIGHTS = (7, 3, 1)


def check_digit(s: str) -> str:
    """The check digit of `s` (Part 3 §4.9): weights 7, 3, 1 repeated, modulo 10.

    Digits count as themselves, A..Z as 10..35 and the filler `<` as 0.
    """
    total = 0
    for i, ch in enumerate(s):
        if ch.isdigit():
            value = int(ch)
        elif "A" <= ch <= "Z":
            value = ord(ch) - ord("A") + 10
        elif ch == FILLER:
            value = 0
        else:
            raise ValueError(f"character {ch!r} is not in the MRZ alphabet")
        total += value * _WEIGHTS[i % 3]
    return str(total % 10)


def _transliterate(text: str) -> list[str]:
    """A name as MRZ name components (Part 3 §6): uppercase A-Z only, split at separators."""
    out = []
    for ch in text.strip().upper():
        ch = _TRANSLIT.get(ch, ch)
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(base)
    s = "".join(out)
    # Part 3 §6: apostrophes are omitted (D'ARTAGNAN -> DARTAGNAN), so are full stops;
    # hyphens, spaces, commas and any other punctuation become one filler.
    s = re.sub(r"['’`.]", "", s)
    s = re.sub(r"[^A-Z0-9]+", " ", s)
    return s.split()


def mrz_name(surname: str, given_names: str, length: int) -> str:
    """The name field: `SURNAME<<GIVEN<NAMES` padded with fillers to `length` (Part 3 §6).

    When the name does not fit, the given names are truncated first, character by character
    from the end; then the surname, keeping `<<` and at least the first given-name letter.
    Part 3 wants a truncated field to end with a letter (the sign of possible truncation);
    that holds unless the cut falls exactly between two given names, where the trailing
    filler is dropped and the field ends in padding.
    """
    primary = FILLER.join(_transliterate(surname))
    secondary = FILLER.join(_transliterate(given_names))
    if not primary:
        raise ValueError("the surname (primary identifier) is empty after transliteration")
    full = primary + (FILLER * 2 + secondary if secondary else "")
    if len(full) <= length:
        return full.ljust(length, FILLER)
    if not secondary:
        return primary[:length].rstrip(FILLER).ljust(length, FILLER)
    if len(primary) + 3 <= length:
        room = length - len(primary) - 2
        cut = secondary[:room].rstrip(FILLER)
    else:
        primary = primary[: length - 3].rstrip(FILLER)
        cut = secondary[0]
    return (primary + FILLER * 2 + cut).ljust(length, FILLER)


def _field(value: str, length: int, what: str) -> str:
    """An alphanumeric field: uppercase, spaces and hyphens as fillers, padded to `length`."""
    v = re.sub(r"[\s\-]", FILLER, value.strip().upper())
    if not _ALPHABET.fullmatch(v):
        raise ValueError(f"{what} {value!r} has characters outside the MRZ alphabet")
    if len(v) > length:
        raise ValueError(f"{what} {value!r} is longer than {length} characters")
    return v.ljust(length, FILLER)


def _yymmdd(d: date) -> str:
    return d.strftime("%y%m%d")


def _sex(sex: str) -> str:
    s = sex.strip().upper()
    if s in ("F", "M"):
        return s
    if s in ("X", "<", ""):
        return FILLER  # Part 4 §4.2.2: "<" = unspecified
    raise ValueError(f"sex {sex!r} is not F, M or X")


def td3(
    *,
    issuing_state: str,
    surname: str,
    given_names: str,
    number: str,
    nationality: str,
    birth_date: date,
    sex: str,
    expiry_date: date,
    personal_number: str = "",
    document_code: str = "P",
) -> tuple[str, str]:
    """The two 44-character MRZ lines of a passport data page (Part 4 §4.2.2).

    Line 1: document code (2), issuing state (3), name (39).
    Line 2: number (9) + check, nationality (3), birth date + check, sex, expiry + check,
    personal number (14) + check, composite check over positions 1-10, 14-20 and 22-43.
    """
    if not document_code.upper().startswith("P"):
        raise ValueError(f"a TD3 passport document code starts with P, not {document_code!r}")
    line1 = (
        _field(document_code, 2, "document code")
        + _field(issuing_state, 3, "issuing state")
        + mrz_name(surname, given_names, 39)
    )
    num = _field(number, 9, "document number")
    pers = _field(personal_number, 14, "personal number")
    # Part 4: an unused personal number may carry "<" or "0" as its check digit; we write "<".
    pers_check = FILLER if pers == FILLER * 14 else check_digit(pers)
    birth = _yymmdd(birth_date)
    expiry = _yymmdd(expiry_date)
    line2 = (
        num + check_digit(num)
        + _field(nationality, 3, "nationality")
        + birth + check_digit(birth)
        + _sex(sex)
        + expiry + check_digit(expiry)
        + pers + pers_check
    )  # fmt: skip
    line2 += check_digit(line2[0:10] + line2[13:20] + line2[21:43])
    return line1, line2


def td1(
    *,
    document_code: str,
    issuing_state: str,
    surname: str,
    given_names: str,
    number: str,
    nationality: str,
    birth_date: date,
    sex: str,
    expiry_date: date,
    optional_data: str = "",
    optional_data_2: str = "",
) -> tuple[str, str, str]:
    """The three 30-character MRZ lines of an ID-1 card (Part 5 §4.2.2).

    Line 1: document code (2), issuing state (3), number (9) + check, optional data (15).
    A number longer than 9 characters continues at the start of the optional data, followed
    by its check digit, and the check position of line 1 holds a filler (Part 5, note j).
    Line 2: birth date + check, sex, expiry + check, nationality (3), optional data (11),
    composite check over line 1 positions 6-30 and line 2 positions 1-7, 9-15, 19-29.
    Line 3: name (30).
    """
    code = document_code.strip().upper()
    if not code or code[0] not in "ACI":
        raise ValueError(f"a TD1 document code starts with A, C or I, not {document_code!r}")
    num = re.sub(r"[\s\-]", "", number.strip().upper())
    if not _ALPHABET.fullmatch(num) or FILLER in num or not num:
        raise ValueError(f"document number {number!r} is not alphanumeric")
    if len(num) <= 9:
        padded = _field(num, 9, "document number")
        number_part = padded + check_digit(padded)
        opt1 = _field(optional_data, 15, "optional data")
    else:
        number_part = num[:9] + FILLER
        opt1 = _field(num[9:] + check_digit(num) + optional_data, 15, "number and optional data")
    line1 = _field(code, 2, "document code") + _field(issuing_state, 3, "issuing state")
    line1 += number_part + opt1
    birth = _yymmdd(birth_date)
    expiry = _yymmdd(expiry_date)
    line2 = (
        birth + check_digit(birth)
        + _sex(sex)
        + expiry + check_digit(expiry)
        + _field(nationality, 3, "nationality")
        + _field(optional_data_2, 11, "optional data 2")
    )  # fmt: skip
    line2 += check_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29])
    return line1, line2, mrz_name(surname, given_names, 30)


@dataclass(frozen=True, slots=True)
class MrzData:
    """What an MRZ says, and which of its check digits hold.

    Dates are None when the six digits are not a calendar date. `sex` is F, M or X
    (unspecified, `<` in the MRZ). Text fields have their trailing fillers removed.
    """

    format: str  # "TD3" or "TD1"
    document_code: str
    issuing_state: str
    surname: str
    given_names: str
    number: str
    nationality: str
    birth_date: date | None
    sex: str
    expiry_date: date | None
    optional_data: str  # TD3: the personal number; TD1: optional data of line 1
    optional_data_2: str  # TD1 line 2; "" for TD3
    checks: dict[str, bool] = field(default_factory=dict)
    lines: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        """Every check digit holds."""
        return all(self.checks.values())


def _shape(lines: Sequence[str], count: int, length: int, fmt: str) -> tuple[str, ...]:
    out = tuple(line.strip() for line in lines)
    if len(out) != count or any(len(line) != length for line in out):
        raise ValueError(f"{fmt} needs {count} lines of {length} characters")
    for line in out:
        if not _ALPHABET.fullmatch(line):
            raise ValueError(f"{line!r} has characters outside the MRZ alphabet")
    return out


def _check(data: str, digit: str) -> bool:
    return digit.isdigit() and check_digit(data) == digit


def _date(yymmdd: str, *, birth: bool, today: date) -> date | None:
    """Part 3 dates are YYMMDD. The century is a convention, not in the MRZ: a birth year
    after this year's YY is 19YY, every expiry is 20YY."""
    if not yymmdd.isdigit():
        return None
    yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    century = 1900 if birth and yy > today.year % 100 else 2000
    try:
        return date(century + yy, mm, dd)
    except ValueError:
        return None


def _names(field_: str) -> tuple[str, str]:
    surname, _, given = field_.partition(FILLER * 2)
    return (
        " ".join(p for p in surname.split(FILLER) if p),
        " ".join(p for p in given.split(FILLER) if p),
    )


def _text(s: str) -> str:
    return s.rstrip(FILLER)


def _sex_out(c: str) -> str:
    return c if c in ("F", "M") else "X"


def parse_td3(lines: Sequence[str], *, today: date | None = None) -> MrzData:
    """Read the two lines of a passport MRZ (Part 4 §4.2.2)."""
    l1, l2 = _shape(lines, 2, 44, "TD3")
    today = today or date.today()
    surname, given = _names(l1[5:44])
    pers, pers_check = l2[28:42], l2[42]
    checks = {
        "number": _check(l2[0:9], l2[9]),
        "birth_date": _check(l2[13:19], l2[19]),
        "expiry_date": _check(l2[21:27], l2[27]),
        # Part 4: when the personal number is all fillers its check may be "<" or "0"
        "personal_number": (
            pers_check in (FILLER, "0") if pers == FILLER * 14 else _check(pers, pers_check)
        ),
        "composite": _check(l2[0:10] + l2[13:20] + l2[21:43], l2[43]),
    }
    return MrzData(
        format="TD3",
        document_code=_text(l1[0:2]),
        issuing_state=_text(l1[2:5]),
        surname=surname,
        given_names=given,
        number=_text(l2[0:9]),
        nationality=_text(l2[10:13]),
        birth_date=_date(l2[13:19], birth=True, today=today),
        sex=_sex_out(l2[20]),
        expiry_date=_date(l2[21:27], birth=False, today=today),
        optional_data=_text(pers),
        optional_data_2="",
        checks=checks,
        lines=(l1, l2),
    )


def parse_td1(lines: Sequence[str], *, today: date | None = None) -> MrzData:
    """Read the three lines of an ID-1 card MRZ (Part 5 §4.2.2), long numbers included."""
    l1, l2, l3 = _shape(lines, 3, 30, "TD1")
    today = today or date.today()
    opt1 = l1[15:30]
    if l1[14] == FILLER and l1[13] != FILLER:
        # Part 5 note j: the number goes on in the optional data, up to the first filler;
        # the character just before that filler is the number's check digit.
        rest = opt1.split(FILLER, 1)[0]
        number, number_ok = l1[5:14] + rest[:-1], _check(l1[5:14] + rest[:-1], rest[-1:])
        opt1 = opt1[len(rest) :]
    else:
        number, number_ok = _text(l1[5:14]), _check(l1[5:14], l1[14])
    surname, given = _names(l3)
    checks = {
        "number": number_ok,
        "birth_date": _check(l2[0:6], l2[6]),
        "expiry_date": _check(l2[8:14], l2[14]),
        "composite": _check(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29], l2[29]),
    }
    return MrzData(
        format="TD1",
        document_code=_text(l1[0:2]),
        issuing_state=_text(l1[2:5]),
        surname=surname,
        given_names=given,
        number=number,
        nationality=_text(l2[15:18]),
        birth_date=_date(l2[0:6], birth=True, today=today),
        sex=_sex_out(l2[7]),
        expiry_date=_date(l2[8:14], birth=False, today=today),
        optional_data=_text(opt1.lstrip(FILLER)),
        optional_data_2=_text(l2[18:29]),
        checks=checks,
        lines=(l1, l2, l3),
    )
