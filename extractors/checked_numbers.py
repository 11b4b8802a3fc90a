"""Numbers the form checks: a year of something done, and the eleven digits of a partita IVA
whose last digit checks the first ten. `decode.decode_field` decodes these fields here."""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from extractors.cell_dist import K, CellDist, Decoded, _free, _pick, kbest
from extractors.recognise import DIGITS
from pipeline.form.model import Field, FieldKind
from validators import partita_iva

#: A date or year outside its field's plausible years (`decode.date_years`) is this much less
#: likely.
OUT_OF_YEARS = math.log(100.0)


def is_year_field(f: Field) -> bool:
    """A year in four digit boxes, of something already done: Modulo 2's last tax return
    ("Ultima dichiarazione (anno)")."""
    return f.kind is FieldKind.DIGITS and len(f.cells) == 4 and "(anno)" in f.label.lower()


def decode_year(dist: CellDist, years: tuple[int, int]) -> Decoded:
    """Four digits as a year: years outside `years` are `OUT_OF_YEARS` less likely (NIST
    seed 10010: a tax return of 2022 read 2028, accepted). A partly written year is read as
    it stands."""
    if dist.n != 4 or dist.alphabet[:10] != DIGITS:
        return _free(dist)
    return pick_in_years(dist, *_four_digits(), years)


def pick_in_years(dist: CellDist, texts: list[str], digits: np.ndarray, year: np.ndarray,
                  years: tuple[int, int]) -> Decoded:
    """The likeliest of `texts` (each a row of `digits`, one per cell) against the cells'
    own reading (`_pick`), a text whose `year` lies outside `years` `OUT_OF_YEARS` less
    likely: a date (`decode.decode_date`), a year."""
    scores = dist.logp[np.arange(dist.n), digits].sum(axis=1)
    scores = scores - np.where((year < years[0]) | (year > years[1]), OUT_OF_YEARS, 0.0)
    return _pick(texts, scores, dist)


@cache
def _four_digits() -> tuple[list[str], np.ndarray, np.ndarray]:
    """0000-9999 as texts, as a (10000, 4) digit array and as numbers (the year)."""
    number = np.arange(10_000)
    digits = np.stack([number // 1000, number // 100 % 10, number // 10 % 10, number % 10], 1)
    return [f"{y:04d}" for y in number], digits, number


def is_checked_number(f: Field) -> bool:
    """An employer's partita IVA or numeric codice fiscale: eleven digit boxes whose last
    digit checks the first ten (validators/partita_iva.py)."""
    label = f.label.lower()
    return f.kind is FieldKind.DIGITS and len(f.cells) == 11 \
        and ("partita iva" in label or "codice fiscale" in label)


def decode_checked_number(dist: CellDist) -> Decoded:
    """Eleven digits decoded to the numbers whose check digit holds (NIST seeds 10000,
    10010: a partita IVA's 5 read 9, 2 read 7 and 3 read 8, to review): the likeliest one,
    found exactly by a Viterbi pass over the running check sum mod 10, its share against
    every valid number (the forward pass's sum) and, `DISAGREE` less likely, the cells'
    own reading when it fails the check. A partly written number is read as it stands."""
    if dist.n != 11 or dist.alphabet[:10] != DIGITS:
        return _free(dist)
    lp = dist.logp[:, :10]
    targets = np.arange(10)[:, None]
    best = np.where(np.arange(10) == 0, 0.0, -math.inf)
    mass, back = best.copy(), []
    for i in range(11):
        # the running sum t after digit d came from (t - weight(d)) mod 10
        came = (targets - np.array([partita_iva.weight(i, d) for d in range(10)])) % 10
        step = best[came] + lp[i]
        mass = np.logaddexp.reduce(mass[came] + lp[i], axis=1)
        back.append((came, step.argmax(axis=1)))
        best = step.max(axis=1)
    state, digits = 0, []
    for came, choice in reversed(back):
        d = int(choice[state])
        digits.append(str(d))
        state = int(came[state, d])
    prefixes = [t for t, _ in kbest(CellDist(dist.alphabet, dist.probs[:10], dist.calibrated),
                                    2 * K)]
    texts = sorted({"".join(reversed(digits))}
                   | {p + partita_iva.check_digit(p) for p in prefixes if p.isdigit()})
    return _pick(texts, np.array([dist.ll(t) for t in texts]), dist, log_mass=float(mass[0]),
                 in_set=partita_iva.is_valid(dist.best()))
