"""The MRZ formats' rules applied to a reading: the alphabet, each position's class, the OCR
confusions, coercion to the format, glyph-height evidence, the check-digit corrections,
fillers the format makes certain, and `parse_td2` (see `extractors.mrz`)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from datetime import date

import numpy as np

from extractors.mrz_grid import _Grid
from pipeline.normalise import UNREAD
from validators.icao import FILLER_LOOKALIKES, MrzData, check_digit, parse_td1, parse_td3

WHITELIST = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
FILLER = "<"

# Position classes: A letter, F letter or filler, D digit, C check digit or filler (the
# check of an empty field, or of a long TD1 number), X letter, digit or filler, S sex.
_CLASSES = {
    "TD3": ("AF" + "F" * 3 + "F" * 39,
            "X" * 9 + "D" + "FFF" + "D" * 7 + "S" + "D" * 7 + "X" * 14 + "C" + "D"),
    "TD2": ("AF" + "F" * 3 + "F" * 31,
            "X" * 9 + "D" + "FFF" + "D" * 7 + "S" + "D" * 7 + "X" * 7 + "D"),
    "TD1": ("AF" + "F" * 3 + "X" * 9 + "C" + "X" * 15,
            "D" * 7 + "S" + "D" * 7 + "FFF" + "X" * 11 + "D",
            "F" * 30),
}  # fmt: skip
# Document codes start with these letters: P (passport) or V (visa) in 2 x 44, A, C or I
# (ID-1 cards, TD2 cards; V and P for TD2 visas and older passports) (Part 4-7).
_FIRST = {"TD3": "PV", "TD2": "ACIPV", "TD1": "ACI"}
# The name field (line, first position) of each format.
_NAME = {"TD3": (0, 5), "TD2": (0, 5), "TD1": (2, 0)}

# Usual OCR confusions between the two halves of the MRZ alphabet.
_TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "G": "6",
             "B": "8"}  # fmt: skip
_TO_LETTER = {"0": "O", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B"}
_SWAP = {**_TO_DIGIT, **_TO_LETTER}
# Glyphs that no confusion above touches: the reference heights of letters and digits.
_SURE_LETTERS = frozenset("ACEFHJKMNPRTUVWXY")
_SURE_DIGITS = frozenset("3479")


def _coerce(lines: Sequence[str], fmt: str) -> list[str]:
    """Letters in digit-only positions and digits in letter-only positions take the
    character their usual confusion points to (the format allows nothing else there)."""
    out = []
    for line, classes in zip(lines, _CLASSES[fmt], strict=True):
        chars = list(line)
        for i, (c, k) in enumerate(zip(chars, classes, strict=True)):
            if k in "DC" and c in _TO_DIGIT:
                chars[i] = _TO_DIGIT[c]
            elif k in "AF" and c in _TO_LETTER:
                chars[i] = _TO_LETTER[c]
        out.append("".join(chars))
    return out


def _evidence(lines: Sequence[str], grids: Sequence[_Grid]) -> list[list[str | None]] | None:
    """Per cell, "L" (letter height), "D" (digit height) or None (can't tell), from the
    heights of this MRZ's own unconfusable letters and digits; None when the two do not
    differ clearly (another font) or there are too few of them."""
    letters = [g.heights[i] for line, g in zip(lines, grids, strict=True)
               for i, c in enumerate(line) if c in _SURE_LETTERS]  # fmt: skip
    digits = [g.heights[i] for line, g in zip(lines, grids, strict=True)
              for i, c in enumerate(line) if c in _SURE_DIGITS]  # fmt: skip
    if len(letters) < 3 or len(digits) < 3:
        return None
    hl, hd = float(np.median(letters)), float(np.median(digits))
    if hd - hl < max(1.5, 0.04 * hl):
        return None
    # the middle 40 % between the two heights is "can't tell": at 200 dpi a glyph's height
    # is known to about a pixel, a tenth of a capital
    lo, hi = hl + 0.3 * (hd - hl), hl + 0.7 * (hd - hl)
    return [["L" if 0 < h <= lo else "D" if h >= hi else None for h in g.heights] for g in grids]


def _alnum_cells(fmt: str) -> list[tuple[int, int]]:
    return [(ln, i) for ln, classes in enumerate(_CLASSES[fmt])
            for i, k in enumerate(classes) if k == "X"]  # fmt: skip


def _parse(lines: Sequence[str], fmt: str, today: date | None) -> MrzData | None:
    if any(UNREAD in line for line in lines):
        return None
    try:
        if fmt == "TD3":
            return parse_td3(lines, today=today)
        if fmt == "TD1":
            return parse_td1(lines, today=today)
        return parse_td2(lines, today=today)
    except ValueError:
        return None


def _correct(lines: list[str], fmt: str, today: date | None, ev: list[list[str | None]] | None,
             ) -> tuple[list[str], MrzData | None, int]:  # fmt: skip
    """Try OCR confusions in the alphanumeric positions; keep the smallest set of changes
    that makes every check digit hold, if exactly one such set does, or if the glyph
    heights favour one of them, and never one the heights deny: a set they deny is passed
    over for the larger ones (specimen 79_pass-can: ZE000509 read ZEOO0509, where one
    change, ZEOO05O9, makes the check digit hold with an O the heights say is a digit).
    Returns the lines, their data and how many changes."""
    data = _parse(lines, fmt, today)
    if data is None or data.valid:
        return lines, data, 0
    spots = [(ln, i) for ln, i in _alnum_cells(fmt) if lines[ln][i] in _SWAP]
    for k in (1, 2, 3):
        hits = []
        for combo in itertools.combinations(spots, k):
            trial = [list(line) for line in lines]
            for ln, i in combo:
                trial[ln][i] = _SWAP[trial[ln][i]]
            cand = ["".join(t) for t in trial]
            parsed = _parse(cand, fmt, today)
            if parsed is not None and parsed.valid:
                support = _support(combo, cand, ev)
                if support is not None:  # one the heights deny is no correction: look further
                    hits.append((support, cand, parsed))
        if not hits:
            continue
        hits.sort(key=lambda h: -h[0])
        if len(hits) == 1 or hits[0][0] > hits[1][0]:
            return hits[0][1], hits[0][2], k
        break  # several corrections hold alike: choosing one would be a guess
    return lines, data, 0


def _support(combo: Sequence[tuple[int, int]], lines: Sequence[str],
             ev: list[list[str | None]] | None) -> int | None:  # fmt: skip
    """How many changed cells the glyph heights agree with; None when they deny any."""
    if ev is None:
        return 0
    score = 0
    for ln, i in combo:
        e = ev[ln][i]
        if e is not None:
            if (e == "D") != lines[ln][i].isdigit():
                return None
            score += 1
    return score


def _mend_fillers(lines: list[str], fmt: str,
                  grids: Sequence[_Grid] | None = None) -> list[str]:  # fmt: skip
    """Fillers the format makes certain. Nothing follows three fillers in a name field but
    fillers (names are separated by one filler, surname and given names by two): there,
    filler lookalikes and unread cells are fillers; other letters stay, and the reading
    shows its fault. Elsewhere, a cell the pixels were unsure of between two fillers, read
    as a lookalike, is a filler: K, A and U weigh 0 modulo 10 in a check digit, like the
    filler, so no check would catch the slip."""
    out = [list(line) for line in lines]
    if grids is not None:
        for ln, g in enumerate(grids):
            chars = out[ln]
            for i in range(1, len(chars)):
                after = chars[i + 1] if i + 1 < len(chars) else FILLER
                if (g.kinds[i] is None and chars[i - 1] == FILLER == after
                        and (chars[i] in FILLER_LOOKALIKES or chars[i] == UNREAD)):  # fmt: skip
                    chars[i] = FILLER
    ln, start = _NAME[fmt]
    name = "".join(out[ln])
    at = name.find(FILLER * 3, start)
    if at >= 0:
        out[ln][at:] = [FILLER if c in FILLER_LOOKALIKES or c == UNREAD else c
                        for c in name[at:]]  # fmt: skip
    return ["".join(chars) for chars in out]


def parse_td2(lines: Sequence[str], *, today: date | None = None) -> MrzData:
    """Read the two 36-character lines of a TD2 MRZ (Doc 9303 Part 6 §4.2.2); the optional
    data of line 2 is `optional_data`. ValueError for lines of the wrong shape."""
    out = tuple(line.strip() for line in lines)
    if len(out) != 2 or any(len(line) != 36 or not re.fullmatch(r"[A-Z0-9<]*", line)
                            for line in out):  # fmt: skip
        raise ValueError("TD2 needs 2 lines of 36 characters of the MRZ alphabet")
    l1, l2 = out
    # Line 1 and line 2 up to the expiry check are laid out as in TD3: let parse_td3 read
    # names, codes and dates from the lines widened to 44 characters.
    wide = parse_td3((l1 + FILLER * 8, l2[:28] + FILLER * 16), today=today)

    def ok(data: str, digit: str) -> bool:
        return digit.isdigit() and check_digit(data) == digit

    checks = {
        "number": ok(l2[0:9], l2[9]),
        "birth_date": ok(l2[13:19], l2[19]),
        "expiry_date": ok(l2[21:27], l2[27]),
        "composite": ok(l2[0:10] + l2[13:20] + l2[21:35], l2[35]),
    }
    return MrzData(
        format="TD2", document_code=wide.document_code, issuing_state=wide.issuing_state,
        surname=wide.surname, given_names=wide.given_names, number=wide.number,
        nationality=wide.nationality, birth_date=wide.birth_date, sex=wide.sex,
        expiry_date=wide.expiry_date, optional_data=l2[28:35].rstrip(FILLER),
        optional_data_2="", checks=checks, lines=(l1, l2),
    )  # fmt: skip
