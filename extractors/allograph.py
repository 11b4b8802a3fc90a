"""A writer's own letters: a capital that one hand draws so that the cell classifier takes it
for another, every time it is written (NIST writers never trained on: one hand's S read Q in
both comuni of an address, its E read S in one of them and in a province code; another's R
read B in ROMA, RM and ROMA again). The classifier is sure of each such cell, so no field's
own decoding can mend it: the right letter is too far behind among its guesses.

What a hand does to a letter shows where its fields can hold one value of a closed set only
(a code of a lettered table, a comune of the ISTAT list): a reading that is no value of the
set, a letter or two off one that is, names the letter read and the letter meant. A pair
that two or more such readings of the same hand name is the hand's (`learn`): every cell
that hand wrote then counts `SHARE` of the letter read for the letter meant, and each field
is decoded again (`adapt`; its own decoding, then the kit's, weigh the two). A pair one
reading names is a misreading, not a hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

import numpy as np

from extractors import decode
from extractors.cell_dist import CellDist, Decoded
from extractors.fields import FieldReading, redecode
from extractors.recognise import LETTERS, TWINS
from pipeline.form import FieldKind, load_form_model
from pipeline.form.model import Field

#: Letters a reading may be off a value of its set and still name the hand's pairs.
MAX_OFF = 2
#: Readings of one hand that must name a pair before it is taken as the hand's.
MIN_FIELDS = 2
#: How high the meant letter must rank among a cell's readings for the cell to name a pair.
RANK = 8
#: Share of a cell's probability of the letter read that counts for the letter meant.
SHARE = 0.5
#: Tables of letter codes: a country, a province.
_LETTER_TABLES = ("stato", "province")


def hand(key: str) -> str:
    """Whose hand wrote field `key`: the applicant fills in Modulo 1 and their Modulo 2
    (m1, m2); a second applicant's copy (m1#2) is theirs."""
    copy = key.split(".", 1)[0]
    return "m1" if copy == "m2" else copy


def _values(f: Field, mask: tuple[bool, ...]) -> Iterable[str]:
    """The values field `f`'s filled cells (`mask`) can hold, as their text; none for a field
    that is not of a closed set."""
    n = sum(mask)
    if f.kind is FieldKind.CODE and f.table in _LETTER_TABLES:
        codes, _ = decode._table(f.table)
        return [c for c in codes if len(c) == n]
    if decode.is_comune_field(f):
        return ["".join(c.name[:len(mask)].split())
                for c in decode._comuni_by_mask(len(mask)).get(decode.filled_key(mask), [])]
    return []


Pair = tuple[str, str]


def offsets(f: Field, reading: FieldReading) -> list[dict[Pair, float]]:
    """How a closed-set field's reading is off the nearest values of its set (at most one
    letter off for a code of three or fewer, `MAX_OFF` for a longer value): per such value,
    each (read, meant) letter pair with the log-probability the cell gives the meant letter,
    which must rank among the cell's `RANK` likeliest (a hand's letter is drawn like the one
    it is read as, and the classifier ranks it behind: R behind B); none when the reading is
    a value."""
    if reading.decoded is None or not reading.filled or reading.dist is None:
        return []
    mask = tuple(on for on, _ in reading.filled)
    # a digit where a value holds letters is its look-alike letter (M0NTEFLAVI0)
    read = "".join(map(_letter, reading.decoded.free))
    values = _values(f, mask)
    if not values or read in values or len(read) != reading.dist.n:
        return []
    probs, alphabet = reading.dist.probs, reading.dist.alphabet

    def rank(i: int, letter: str) -> int:
        j = alphabet.find(letter)
        return RANK if j < 0 else int((probs[i] > probs[i, j]).sum())

    most = 1 if len(read) <= 3 else MAX_OFF
    near: dict[int, list[dict[Pair, float]]] = {}
    for v in values:
        if len(v) != len(read):
            continue
        off = [(i, a, b) for i, (a, b) in enumerate(zip(read, v)) if a != b]
        if len(off) > most or not all(a in LETTERS and b in LETTERS and rank(i, b) < RANK
                                      for i, a, b in off):
            continue
        pairs: dict[Pair, float] = {}
        for i, a, b in off:
            lp = float(np.log(max(probs[i, alphabet.index(b)], 1e-12)))
            pairs[(a, b)] = max(pairs.get((a, b), -np.inf), lp)
        near.setdefault(len(off), []).append(pairs)
    return near[min(near)] if near else []


def learn(readings: Mapping[str, FieldReading]) -> dict[str, dict[str, str]]:
    """Per hand (`hand`), its letters: read -> meant. Each closed-set reading of the hand
    counts once however many fields repeat it (a comune and its own repetition name the same
    pairs whatever the hand). A pair is taken when `MIN_FIELDS` readings not yet explained
    name it, the one most readings name first (then the one the cells find likelier); a
    reading is explained once the pairs taken reach one of its nearest values. So of B->R
    and M->S, which both turn BM and BOMA into values (RM, ROMA; BS, BOSA), only the first
    is taken: nothing is left for the second to explain."""
    model = load_form_model()
    seen: dict[str, dict[str, list[dict[Pair, float]]]] = {}
    for key, r in readings.items():
        if r.dist is None or not r.dist.calibrated or r.decoded is None:
            continue
        if off := offsets(model.field(key), r):
            seen.setdefault(hand(key), {})[r.decoded.free] = off
    out: dict[str, dict[str, str]] = {}
    for who, evidence in seen.items():
        taken: dict[Pair, None] = {}
        while True:
            left = [off for off in evidence.values() if not any(o.keys() <= taken.keys()
                                                               for o in off)]
            support: dict[Pair, list[float]] = {}
            for off in left:
                best: dict[Pair, float] = {}
                for o in off:
                    for pair, lp in o.items():
                        best[pair] = max(best.get(pair, -np.inf), lp)
                for pair, lp in best.items():
                    if pair not in taken and pair[0] not in {a for a, _ in taken}:
                        support.setdefault(pair, []).append(lp)
            if not support:
                break
            pair, lps = max(support.items(), key=lambda kv: (len(kv[1]), sum(kv[1])))
            if len(lps) < MIN_FIELDS:
                break
            taken[pair] = None
        if taken:
            out[who] = dict(taken.keys())
    return out


def _lent(dist: CellDist, letters: Mapping[str, str]) -> CellDist:
    """`dist` with `SHARE` of each read letter's probability counted for the meant one."""
    p = dist.probs.copy()
    for a, b in letters.items():
        if a in dist.alphabet and b in dist.alphabet:
            i, j = dist.alphabet.index(a), dist.alphabet.index(b)
            moved = SHARE * dist.probs[:, i]
            p[:, i] -= moved
            p[:, j] += moved
    return replace(dist, probs=p)


def proved(readings: Mapping[str, FieldReading]) -> dict[str, dict[str, str]]:
    """Per hand, the letters that fields another document fixed name: a check-valid MRZ's
    value in place of the cells' reading, letter for letter (PEB for the passport's PER: the
    hand's R is read B). A letter the fixes name two ways names none."""
    out: dict[str, dict[str, str | None]] = {}
    for key, r in readings.items():
        d = r.decoded
        if d is None or len(d.text) != len(d.free):
            continue
        # letters read as letters only: a digit read for a letter is its field's to weigh
        # (NIST seed 10090: BOUZIDI's last I read 8, fixed by the MRZ, made every B an I)
        for a, b in zip(d.free, d.text):
            if a != b and a in LETTERS and b in LETTERS:
                letters = out.setdefault(hand(key), {})
                letters[a] = b if letters.get(a, b) == b else None
    sure = {who: {a: b for a, b in letters.items() if b is not None}
            for who, letters in out.items()}
    return {who: letters for who, letters in sure.items() if letters}


def echoes(readings: Mapping[str, FieldReading], keys: Iterable[str]) -> list[str]:
    """The other hand-printed fields of the same hand as `keys` that read one of their
    values, of three characters or more: the same word written again by the same pen (NIST
    seed 10140: the applicant's SAVCHENKO, which the MRZs spell, read RAVCHENKO as two
    children's surname too)."""
    keys = set(keys)
    seen = {(hand(k), readings[k].value) for k in keys
            if isinstance(readings[k].value, str) and len(readings[k].value) >= 3}
    return sorted(k for k, r in readings.items() if k not in keys and (hand(k), r.value) in seen
                  and r.dist is not None and r.dist.calibrated and r.decoded is not None
                  and not r.decoded.conflict)


def adapt(readings: Mapping[str, FieldReading],
          known: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, FieldReading]:
    """`readings` with each hand-printed field of a copy whose hand `learn` finds, or whose
    letters are `known` (`proved`), decoded again on cells that count its letters both ways;
    the cells' own reading (read_as) is kept."""
    hands = learn(readings)
    for who, letters in (known or {}).items():
        mine = hands.setdefault(who, {})
        for a, b in letters.items():
            mine.setdefault(a, b)
    out = dict(readings)
    if not any(hands.values()):
        return out
    model = load_form_model()
    for key, r in readings.items():
        letters = hands.get(hand(key))
        if not letters or r.dist is None or not r.dist.calibrated or r.decoded is None \
                or not r.dist.n or not any(a in r.decoded.free for a in letters):
            continue
        f = model.field(key)
        dist = _lent(r.dist, letters)
        mask = tuple(on for on, _ in r.filled)
        got = decode.decode_field(f, dist, mask=mask, folded=dist)
        if not _explained(got.text, r.decoded, letters):
            continue
        got = replace(got, free=r.decoded.free, changed=got.text != r.decoded.free)
        out[key] = redecode(replace(r, dist=dist), (f, r.filled), got)
    return out


def _explained(text: str, before: Decoded, letters: Mapping[str, str]) -> bool:
    """Whether a field decoded again differs from its decoding `before` only where the
    hand's letters say: each character that changed is the cells' own or the letter the
    hand means by it. A value the hand's letters put only within reach of other changes
    is not taken (NIST anomalies seed 915: a planted code QQ by a hand whose R reads Q, its
    RR mended to BR, a province, and the invalid code missed)."""
    if len(text) != len(before.text) or len(text) != len(before.free):
        return False
    return all(new == old or new == cell or new == letters.get(_letter(cell))
               for new, old, cell in zip(text, before.text, before.free))


def _letter(c: str) -> str:
    """A digit where a letter is meant as its look-alike letter (0 as O); any other as it is."""
    return TWINS.get(c, c) if c.isdigit() else c
