"""ICAO Doc 9303 MRZ helpers against the specimens Doc 9303 itself prints, and against the
field ground truth published with the PassportEye specimen images (../shared/realdata)."""

from __future__ import annotations

import ast
from datetime import date

import pytest

from validators.icao import check_digit, mrz_name, parse_td1, parse_td3, td1, td3

# Doc 9303 Part 4, Appendix A: the specimen passport of "Utopia"
TD3_SPECIMEN = (
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
)
# Doc 9303 Part 5, Appendix A: the specimen TD1 card
TD1_SPECIMEN = (
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
)
TODAY = date(2025, 6, 1)


@pytest.mark.parametrize(
    ("data", "digit"),
    [("L898902C3", "6"), ("740812", "2"), ("120415", "9"), ("ZE184226B<<<<<", "1"),
     ("D23145890", "7"), ("<<<<", "0"), ("D23145890734", "9")],
)  # fmt: skip
def test_check_digit(data: str, digit: str) -> None:
    assert check_digit(data) == digit


def test_check_digit_rejects_characters_outside_the_mrz_alphabet() -> None:
    with pytest.raises(ValueError):
        check_digit("ab1")


def test_td3_builds_the_specimen() -> None:
    lines = td3(
        issuing_state="UTO", surname="Eriksson", given_names="Anna María", number="L898902C3",
        nationality="UTO", birth_date=date(1974, 8, 12), sex="F", expiry_date=date(2012, 4, 15),
        personal_number="ZE184226B",
    )  # fmt: skip
    assert lines == TD3_SPECIMEN


def test_parse_td3_specimen() -> None:
    m = parse_td3(TD3_SPECIMEN, today=TODAY)
    assert (m.format, m.document_code, m.issuing_state) == ("TD3", "P", "UTO")
    assert (m.surname, m.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert (m.number, m.nationality, m.sex) == ("L898902C3", "UTO", "F")
    assert m.birth_date == date(1974, 8, 12)
    assert m.expiry_date == date(2012, 4, 15)
    assert m.optional_data == "ZE184226B"
    assert set(m.checks) == {"number", "birth_date", "expiry_date", "personal_number", "composite"}
    assert m.valid


def test_td1_builds_and_parses_the_specimen() -> None:
    lines = td1(
        document_code="I", issuing_state="UTO", surname="ERIKSSON", given_names="ANNA MARIA",
        number="D23145890", nationality="UTO", birth_date=date(1974, 8, 12), sex="F",
        expiry_date=date(2012, 4, 15),
    )  # fmt: skip
    assert lines == TD1_SPECIMEN
    m = parse_td1(lines, today=TODAY)
    assert (m.format, m.document_code, m.number) == ("TD1", "I", "D23145890")
    assert (m.surname, m.given_names, m.sex) == ("ERIKSSON", "ANNA MARIA", "F")
    assert (m.birth_date, m.expiry_date) == (date(1974, 8, 12), date(2012, 4, 15))
    assert set(m.checks) == {"number", "birth_date", "expiry_date", "composite"}
    assert m.valid


def test_td1_long_document_number() -> None:
    # Doc 9303 Part 5: a number over 9 characters goes on in the optional data with its
    # check digit, and line 1's check position holds a filler.
    lines = td1(
        document_code="I", issuing_state="UTO", surname="ERIKSSON", given_names="ANNA MARIA",
        number="D23145890734", nationality="UTO", birth_date=date(1974, 8, 12), sex="F",
        expiry_date=date(2012, 4, 15),
    )  # fmt: skip
    assert lines[0] == "I<UTOD23145890<7349<<<<<<<<<<<"
    m = parse_td1(lines, today=TODAY)
    assert m.number == "D23145890734"
    assert m.optional_data == ""
    assert m.valid


def _flip(lines: tuple[str, ...], row: int, col: int) -> tuple[str, ...]:
    line = lines[row]
    new = "7" if line[col] != "7" else "8"
    return (*lines[:row], line[:col] + new + line[col + 1 :], *lines[row + 1 :])


@pytest.mark.parametrize(
    ("col", "broken"),
    [(2, {"number", "composite"}), (9, {"number", "composite"}),
     (15, {"birth_date", "composite"}), (23, {"expiry_date", "composite"}),
     (30, {"personal_number", "composite"}), (43, {"composite"})],
)  # fmt: skip
def test_td3_flipped_character_breaks_its_checks(col: int, broken: set[str]) -> None:
    m = parse_td3(_flip(TD3_SPECIMEN, 1, col), today=TODAY)
    assert not m.valid
    assert {k for k, ok in m.checks.items() if not ok} == broken


@pytest.mark.parametrize(
    ("row", "col", "broken"),
    [(0, 7, {"number", "composite"}), (0, 20, {"composite"}), (1, 3, {"birth_date", "composite"}),
     (1, 10, {"expiry_date", "composite"}), (1, 29, {"composite"})],
)  # fmt: skip
def test_td1_flipped_character_breaks_its_checks(row: int, col: int, broken: set[str]) -> None:
    m = parse_td1(_flip(TD1_SPECIMEN, row, col), today=TODAY)
    assert not m.valid
    assert {k for k, ok in m.checks.items() if not ok} == broken


def test_names_and_nationality_are_not_covered_by_check_digits() -> None:
    # Doc 9303 has no check digit over the name or the nationality: a flip there stays valid.
    # The pipeline must compare those fields with the form instead.
    m = parse_td3(_flip(TD3_SPECIMEN, 0, 7), today=TODAY)
    assert m.valid and m.surname != "ERIKSSON"


def test_dates_century_pivot_and_impossible_dates() -> None:
    line2 = "L898902C36UTO{b}{bc}F{e}{ec}ZE184226B<<<<<1"

    def lines(birth: str, expiry: str) -> tuple[str, str]:
        body = line2.format(b=birth, bc=check_digit(birth), e=expiry, ec=check_digit(expiry))
        return TD3_SPECIMEN[0], body + check_digit(body[0:10] + body[13:20] + body[21:43])

    m = parse_td3(lines("250101", "990101"), today=TODAY)
    assert m.birth_date == date(2025, 1, 1)  # YY <= this year's YY: 20YY
    assert m.expiry_date == date(2099, 1, 1)  # expiry: always 20YY
    assert parse_td3(lines("260101", "300101"), today=TODAY).birth_date == date(1926, 1, 1)
    bad = parse_td3(lines("741312", "120415"), today=TODAY)
    assert bad.birth_date is None  # month 13: data, not an exception
    assert bad.valid  # the check digit is computed over the digits, whatever they mean


def test_sex_unspecified_and_unused_personal_number() -> None:
    lines = td3(
        issuing_state="D", surname="Müller", given_names="", number="C01X00T47",
        nationality="D", birth_date=date(1983, 8, 12), sex="X", expiry_date=date(2031, 10, 31),
    )  # fmt: skip
    assert lines[0] == "P<D<<MUELLER" + "<" * 32
    assert lines[1][20] == "<" and lines[1][42] == "<"
    m = parse_td3(lines, today=TODAY)
    assert (m.sex, m.issuing_state, m.given_names, m.optional_data) == ("X", "D", "", "")
    assert m.valid


@pytest.mark.parametrize(
    ("surname", "given", "length", "expected"),
    [
        ("Eriksson", "Anna María", 30, "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"),
        ("D'Artagnan", "Jean-Pierre", 30, "DARTAGNAN<<JEAN<PIERRE<<<<<<<<"),
        ("Nuñez Peña", "José", 30, "NUNEZ<PENA<<JOSE<<<<<<<<<<<<<<"),
        ("Øster", "Jürgen", 20, "OESTER<<JUERGEN<<<<<"),
        ("Strauß", "", 12, "STRAUSS<<<<<"),
        # truncation: given names first, never ending on a filler
        ("Smith", "Anna Maria Louisa Josephina", 30, "SMITH<<ANNA<MARIA<LOUISA<JOSEP"),
        ("Smith", "Anna Maria Louisa", 23, "SMITH<<ANNA<MARIA<LOUIS"),
        ("Smith", "Anna Maria Louisa", 24, "SMITH<<ANNA<MARIA<LOUISA"),
        # a cut between two given names drops the trailing filler: no sign of truncation
        ("Smith", "Anna Maria Louisa", 18, "SMITH<<ANNA<MARIA<"),
        # a surname too long keeps "<<" and the first given-name letter
        ("Wolfeschlegelsteinhausenbergerdorff", "Hubert", 30, "WOLFESCHLEGELSTEINHAUSENBER<<H"),
    ],
)
def test_mrz_name(surname: str, given: str, length: int, expected: str) -> None:
    name = mrz_name(surname, given, length)
    assert len(name) == length
    assert name == expected


def test_builders_reject_what_an_mrz_cannot_hold() -> None:
    common = dict(issuing_state="UTO", surname="X", given_names="Y", nationality="UTO",
                  birth_date=date(1974, 8, 12), sex="F", expiry_date=date(2012, 4, 15))  # fmt: skip
    with pytest.raises(ValueError):
        td3(number="L898902C3XX", **common)  # TD3 has no long-number rule
    with pytest.raises(ValueError):
        td3(number="L89/902", **common)
    with pytest.raises(ValueError):
        td1(document_code="P", number="D23145890", **common)
    with pytest.raises(ValueError):
        td3(number="L898902C3", **{**common, "sex": "Q"})


def test_parsers_reject_lines_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError):
        parse_td3(TD3_SPECIMEN[:1])
    with pytest.raises(ValueError):
        parse_td3((TD3_SPECIMEN[0], TD3_SPECIMEN[1][:-1]))
    with pytest.raises(ValueError):
        parse_td1((TD1_SPECIMEN[0].lower(), *TD1_SPECIMEN[1:]))


# --- ../shared/realdata: PassportEye's published field ground truth -----------------------


def _expected(test_source: str, function: str) -> dict[str, object]:
    """The `assert mrz.<field> == value` / `in [...]` facts of one function of mrz_test.py,
    read with ast (their code is not imported: it needs passporteye and tesseract)."""
    facts: dict[str, object] = {}
    for node in ast.walk(ast.parse(test_source)):
        if isinstance(node, ast.FunctionDef) and node.name == function:
            for stmt in node.body:
                t = getattr(stmt, "test", None)
                if (isinstance(t, ast.Compare) and isinstance(t.left, ast.Attribute)
                        and len(t.ops) == 1):  # fmt: skip
                    value = ast.literal_eval(t.comparators[0])
                    if isinstance(t.ops[0], ast.Eq):
                        facts[t.left.attr] = value
                    elif isinstance(t.ops[0], ast.In):
                        facts[t.left.attr] = tuple(value)
    return facts


def test_passporteye_td3_ground_truth(shared) -> None:
    source = (shared / "realdata/mrz/passporteye/mrz_test.py").read_text()
    exp = _expected(source, "assert_td3_png")
    assert exp["mrz_type"] == "TD3"
    personal = next(p for p in exp["personal_number"] if p[0].isalpha())  # the OCR-true one
    lines = td3(
        document_code=str(exp["type"]).rstrip("<"), issuing_state=exp["country"],
        surname=exp["surname"], given_names=exp["names"], number=exp["number"],
        nationality=exp["nationality"],
        birth_date=date(1900 + int(exp["date_of_birth"][:2]), int(exp["date_of_birth"][2:4]),
                        int(exp["date_of_birth"][4:])),
        sex=exp["sex"],
        expiry_date=date(2000 + int(exp["expiration_date"][:2]),
                         int(exp["expiration_date"][2:4]), int(exp["expiration_date"][4:])),
        personal_number=personal.rstrip("<"),
    )  # fmt: skip
    assert lines[1][9] == exp["check_number"]
    assert lines[1][19] == exp["check_date_of_birth"]
    assert lines[1][27] == exp["check_expiration_date"]
    assert lines[1][42] == exp["check_personal_number"]
    assert lines[1][43] == exp["check_composite"]
    m = parse_td3(lines, today=TODAY)
    assert m.valid
    assert (m.surname, m.given_names, m.number) == (exp["surname"], exp["names"], exp["number"])


def test_passporteye_td2_check_digits(shared) -> None:
    # No TD2 builder here (no kit document is TD2), but its check digits use the same
    # rule; the composite spans Doc 9303 Part 6 gives for line 2.
    source = (shared / "realdata/mrz/passporteye/mrz_test.py").read_text()
    exp = _expected(source, "assert_td2_png")
    assert check_digit(exp["number"]) == exp["check_number"]
    assert check_digit(exp["date_of_birth"]) == exp["check_date_of_birth"]
    assert check_digit(exp["expiration_date"]) == exp["check_expiration_date"]
    composite = (exp["number"] + exp["check_number"] + exp["date_of_birth"]
                 + exp["check_date_of_birth"] + exp["expiration_date"]
                 + exp["check_expiration_date"] + exp["optional1"])  # fmt: skip
    assert check_digit(composite) == exp["check_composite"]
