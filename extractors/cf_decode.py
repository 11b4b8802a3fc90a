"""The codice fiscale decoded from its cells: alone by its structure and check character,
or jointly with the surname, name, birth date and sex read on the same form copy.

`fold_cf` folds look-alikes by position (a letter or a digit where the code wants one),
`decode_cf` decodes the code on its own, `decode_cf_joint` weighs a code that agrees with
the fields it encodes against one that does not (`CF_DISAGREE`); `CF_GROUPS` names those
fields on each form.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from extractors.cell_dist import K, CellDist, Decoded, _fold_rows, _free, _pick
from extractors.recognise import DIGITS, LETTERS
from validators import codice_fiscale as cfm

#: A codice fiscale that disagrees with the surname/name/date/sex read beside it (a
#: person's data changed, a typo on the form: rarer than a misread cell).
CF_DISAGREE = math.log(50.0)
#: Omocodia letters in a codice fiscale's digit positions are rare (one person in many
#: thousands shares a code with another).
OMOCODIA_PENALTY = math.log(100.0)
_CF_BEAM = 64


_CF_DIGIT_POS = frozenset((6, 7, 9, 10, 12, 13, 14))
#: The first character of a place of birth's codice catastale (Belfiore code): A-M for an
#: Italian comune, Z for a foreign State (Agenzia delle Entrate's tables). NIST anomalies seed
#: 911: a planted wrong check character was "cleared" by a reading with Q330 for Morocco's Z330.
_PLACE_LETTERS = "ABCDEFGHIJKLMZ"


def _cf_weight(i: int, c: str) -> int:
    return cfm._ODD[c] if i % 2 == 0 else cfm._EVEN[c]


def cf_allowed(i: int) -> dict[str, float]:
    if i in _CF_DIGIT_POS:
        return {**{d: 0.0 for d in DIGITS}, **{c: -OMOCODIA_PENALTY for c in cfm.OMOCODIA}}
    if i == 8:
        return {c: 0.0 for c in cfm.MONTHS}
    return {c: 0.0 for c in (_PLACE_LETTERS if i == 11 else LETTERS)}


def fold_cf(dist: CellDist) -> CellDist:
    """A codice fiscale's cells with look-alikes folded by position: a 5 where a letter
    belongs counts for S, an O where a digit belongs for 0 (an omocodia letter in a digit
    position stays possible, at `OMOCODIA_PENALTY`)."""
    if not dist.calibrated or dist.n != 16:
        return dist
    letters = [i for i in range(16) if i not in _CF_DIGIT_POS]
    return _fold_rows(dist, [(letters, LETTERS), (sorted(_CF_DIGIT_POS), DIGITS)])


def decode_cf(dist: CellDist) -> Decoded:
    """A codice fiscale on its own: a letter or digit per position as the code's structure
    wants, and a check character that holds (beam over the first 15 with the running
    check sum)."""
    if dist.n != 16:
        return _free(dist)
    lp = dist.logp
    beam: list[tuple[float, str, int]] = [(0.0, "", 0)]
    for i in range(15):
        options = [(dist.alphabet.find(c), c, bonus) for c, bonus in cf_allowed(i).items()]
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
        chars = _PLACE_LETTERS if i == 11 else DIGITS
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
) -> tuple[dict[str, tuple[str, float]], tuple[str, ...], tuple[str, float] | None]:
    """Joint decoding of a codice fiscale and the fields it encodes.

    A hypothesis is a surname, a name, a birth date and a sex (each among its field's best
    readings) whose code the CF's cells spell, with the place of birth and the check
    character chosen by the CF's cells (`_place_table`); its score adds the fields' and the
    CF's log-likelihoods. The other hypothesis is that the code disagrees with the fields:
    each field as read on its own, the CF decoded alone, less `CF_DISAGREE`. The answer,
    for "cf", "surname", "name", "birth", "sex": the text chosen (one character per filled
    cell; the surname and name with their spaces given in `*_text` as hypothesis spellings)
    and its posterior share, when a code that agrees with the fields wins (empty when it
    cannot be decided jointly, or when the disagreeing hypothesis wins: each field keeps its
    own decoding); and, when the disagreeing hypothesis wins, the parts in dispute
    (`_disputed`), for review, and the likeliest code that agrees with the fields, with how
    many nats less likely it is: a reading the rules weigh before they call the code
    inconsistent (NIST seed 913: a writer's S, F, M, L read 8, P, W, 6 in NWSFML82D63Z335V,
    whose fields were read right; the agreeing code was 1.6 nats behind).
    """
    if cf.n != 16:
        return {}, (), None
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
    if best is not own:
        parts = {part: (value, float(sum(wi for wi, (_, h) in zip(w, hyps) if h[part] == value)))
                 for part, value in best.items()}
        return parts, (), None
    # the code disagrees with the fields: each keeps its own decoding and its own share (the
    # disagreeing hypothesis holds each at its best reading only, so its weight says nothing
    # of how sure that reading is: NIST anomalies seed 921, a name read VAQ4L and spelt
    # UAQUL at 0.31 came out at 1.0 beside a code that agreed with nothing)
    agreeing = max(hyps[:-1], key=lambda h: h[0], default=None)
    return {}, _disputed(alone, surname_text[0], name_text[0], birth, sex), \
        None if agreeing is None else (agreeing[1]["cf"], own_score - agreeing[0])


def _disputed(alone: Decoded, surname: str, name: str, birth: Decoded,
              sex: Decoded | None) -> tuple[str, ...]:
    """Where a code decoded alone and the fields read beside it part: the code itself when
    its cells were changed to make its check character hold (NIST seed 9352: RMDFTM86B52...
    read BMDFTMB6B52... and mended to BMDFTM86R52..., whose month contradicts the birth date
    read at 1.0), and each field whose part of the code it does not give (seed 9353: the
    code's MMD against MAHMOUD read MANMOUO, accepted). One side is misread or the person's
    data disagree: either way a person looks. The parts are the validator's
    (`codice_fiscale.check`); a code that is no well-formed, check-valid one is in
    conflict already and says nothing of the fields."""
    days = _date_hyps(birth)[:1]
    found = cfm.check(alone.text, surname, name, days[0][2] if days else None,
                      sex.text if sex is not None else None)
    parts = {"birth_date": "birth"}
    return ("cf",) * alone.changed + tuple(parts.get(p, p) for p in found.disagreements)
