"""Per-cell character distributions and the hypotheses read from them.

A recogniser gives, for each filled cell of a comb field, a probability for every character
the field admits (`CellDist`): the hand-print classifier answers a softmax row per cell
(`from_probabilities`), Tesseract one character and a confidence, turned here into a peaked
distribution whose rest goes to look-alikes (`from_reading`, `LOOKALIKE`). Look-alikes the
field cannot hold count for their twin it can (`fold_twins`, `fold_words`), and free text
reads a letter or a digit by its neighbours (`context_marginals`).

`Decoded` is what a decoder makes of a distribution: the best constrained candidate against
the cells' own free reading (`_pick`, never inventing beyond `DISAGREE`), or the k best
free readings (`kbest`). The field-aware decoders are in extractors/decode.py.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache

import numpy as np

from extractors.recognise import DIGITS, LETTERS, TWINS

#: Probabilities are floored here before the log: a classifier's 0 is never certainty.
FLOOR = 1e-6
#: Natural log of how much less likely a constrained value may be than the free reading of
#: the cells before pixels win: e^3 = 20 times. A single cell may thus be changed only where
#: the recogniser gave the other character at least 1/20 of its top probability.
DISAGREE = math.log(20.0)
#: Natural log of how much less likely than the cells' best reading a value may be and still
#: be a plausible reading of them (e^7, about 1/1100: a cell whose recogniser gave the value's
#: character a thousandth of its top probability). Beyond `DISAGREE` such a value is not
#: taken, but a rule that a reading contradicts weighs it before it raises an anomaly
#: (`fields.alternatives`, `kit_decode.with_document`).
PLAUSIBLE = 7.0
#: Hypotheses kept per field for joint decoding.
K = 6

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


def fold_toward(dist: CellDist, text: str) -> CellDist:
    """`dist` with each cell's look-alike of `text`'s character there (`recognise.TWINS`)
    counted for that character: how well the cells fit a value that another source decides
    (a check-valid MRZ), where a plain stroke is an I as much as a 1. A classifier's
    distribution only: print draws S and 5, Z and 2 apart, and Tesseract's readings keep
    their twins anyway (`from_reading`)."""
    if not dist.calibrated:
        return dist
    return _fold_rows(dist, [([i], dist.alphabet.replace(TWINS[c], "")) for i, c in
                             enumerate(text[:dist.n]) if c in TWINS and TWINS[c] in dist.alphabet])


def fold_digits(dist: CellDist, rows: Sequence[int]) -> CellDist:
    """`dist` with, in `rows` (cells that hold a number), each look-alike letter's
    probability moved to its digit (`recognise.TWINS`) and a slash's to the 1 it is drawn
    as; rows still sum to 1."""
    if not dist.calibrated or not rows:
        return dist
    folded = _fold_rows(dist, [(rows, DIGITS)])
    i, j = dist.alphabet.find(SLASH), dist.alphabet.find("1")
    if i < 0 or j < 0:
        return folded
    p = folded.probs.copy()
    rows = list(rows)
    p[rows, j] += p[rows, i]
    p[rows, i] = 0.0
    return replace(folded, probs=p)


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
    `hyps` are the best (text, score) pairs for joint decoding, best first. `document`: a
    value another document gives the field (a check-valid MRZ's, the sheets counted) that
    the cells spell too unclearly to take, left to a person (`kit_decode.with_document`)."""

    text: str
    confidence: float
    free: str
    changed: bool
    conflict: bool
    hyps: tuple[tuple[str, float], ...]
    document: str = ""


def _pick(texts: Sequence[str], scores: np.ndarray, dist: CellDist,
          log_mass: float | None = None, in_set: bool | None = None) -> Decoded:
    """The best of scored constrained candidates against the free reading of the cells.
    `log_mass`: the log of the whole constrained set's probability, where `texts` are only
    its best members; `in_set`: whether the free reading is a member, where `texts` cannot
    say."""
    free = dist.best()
    free_ll = dist.ll(free)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores)[:K]
    hyps = tuple((texts[i], float(scores[i])) for i in order)
    if not hyps:
        return Decoded(free, _free_share(dist), free, False, True, ((free, free_ll),))
    top = np.max(scores) if log_mass is None else log_mass
    if in_set is None:
        in_set = free in {t for t, _ in hyps} or free in texts
    alt = -math.inf if in_set else free_ll - DISAGREE
    norm = max(top, alt)
    mass = float(np.exp(scores - norm).sum()) if log_mass is None else math.exp(log_mass - norm)
    total = mass + (0.0 if in_set else math.exp(alt - norm))
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


def touching(mask: Sequence[bool]) -> list[bool]:
    """Per two filled cells of `mask` next in reading order, whether they touch (no empty
    cell between them): what joins cells into words."""
    where = [i for i, on in enumerate(mask) if on]
    return [b - a == 1 for a, b in itertools.pairwise(where)]


def runs(flags: Sequence[bool], links: Sequence[bool]) -> list[list[int]]:
    """Runs of touching cells (`links`, as `touching` gives them) where `flags` holds: a
    text's words (letters and digits), a name's words of letters."""
    out: list[list[int]] = []
    for i, ok in enumerate(flags):
        if ok and out and out[-1][-1] == i - 1 and links[i - 1]:
            out[-1].append(i)
        elif ok:
            out.append([i])
    return out


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
