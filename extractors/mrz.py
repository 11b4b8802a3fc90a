"""Machine readable zones (ICAO Doc 9303) on passport and permit photocopies.

`extractors.mrz_band.find_mrz` locates MRZ bands on an upright page; `read_mrz` reads the
best one and checks its check digits. `extractors.mrz_bench` measures both on a set of pages.
The steps below have modules of their own: finding in `extractors.mrz_band`, the character
grid in `extractors.mrz_grid`, the format's rules and the check digits in
`extractors.mrz_format`; this one re-sets the characters as words for Tesseract and settles
the reading.

**Finding** (on a copy of the page reduced to at most 100 dpi, where an MRZ character is
about 10 px): a black-hat keeps dark strokes thinner than a character and drops photos and
dark backgrounds; a horizontal closing one character pitch wide joins each text line into a
bar. MRZ lines are bars 30, 36 or 44 characters of 2.54 mm long (Part 3: 10 characters per
inch) and one character high; two or three such bars of the same length, parallel and one
line spacing apart, make a band. A document lies a degree or two askew on the copier glass,
so every bar carries its own direction, and the band is read along it.

**Reading.** The band is turned level and scaled so that a capital is 30 px high. Every
line is then placed on its fixed pitch grid (its characters are single ink components at a
constant pitch) and each cell is classified from its pixels: the filler `<` is the only MRZ
glyph whose leftmost ink is at mid-height while its top and bottom rows start in the right
half of the cell. Tesseract's English model reads OCR-B letters and digits well as ordinary
words, but at the MRZ's wide fixed pitch it inserts characters, and in filler runs it reads
K, X, S, C and loses count. So the runs of non-filler cells are re-set as ordinary words on
a clean image (fillers left out) and read in one Tesseract call (psm 6, MRZ alphabet); each
word fills the cells of its run, whose length is known. Images whose characters touch (low
resolution) fall back to Tesseract on the band itself, with filler runs mended by the format.

**Checking.** Positions that hold only digits take the digit an OCR confusion points to
(O -> 0, I -> 1, S -> 5, B -> 8, Z -> 2, G -> 6), letter-only positions the letter. In the
alphanumeric fields (document number, personal number, optional data) confusions are
tried, and kept only when exactly one smallest set of them makes every check digit hold.
Two pixel cues settle what the check digits cannot: a G has no closed loop and a 6 has one
(their values differ by 10, so no check digit tells them apart), and OCR-B digits stand
about 8 % taller than capitals (measured on our copies and on the PassportEye specimens),
which breaks ties between corrections and vetoes those the heights deny. Where Tesseract's
readings of a run differ, the majority is preferred and the check digits choose; where they
split evenly on a name, which no check digit covers, the characters stay unread. Nothing is
made up: with no reading that satisfies the checks the result comes back ``valid=False``,
with the characters as read and `?` where they could not be read.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import cv2
import numpy as np

from extractors import tesseract
from extractors.mrz_band import LENGTH, BBox, _Band, _band_bbox, _grey, _plausible_bands
from extractors.mrz_format import (
    _FIRST,
    _SWAP,
    FILLER,
    WHITELIST,
    _alnum_cells,
    _coerce,
    _correct,
    _evidence,
    _mend_fillers,
    _parse,
)
from extractors.mrz_grid import _Crop, _crop, _glyphs, _grid, _Grid, _ink
from pipeline.normalise import UNREAD
from validators.icao import MrzData

log = logging.getLogger(__name__)

# At most this many bands go to Tesseract per page (a reading costs 0.1-0.2 s).
_MAX_BANDS = 3


@dataclass(frozen=True, slots=True)
class MrzReading:
    """One MRZ as read. `lines` have the format's length and the MRZ alphabet, with `?`
    where a run of characters could not be read to its length; `data` is None when the
    lines cannot be parsed. `valid`: every check digit holds. `confidence` (0..1) is
    Tesseract's mean word confidence times the share of check digits that hold."""

    format: str  # "TD1", "TD2" or "TD3"
    lines: tuple[str, ...]
    data: MrzData | None
    valid: bool
    bbox: BBox  # x, y, w, h in page pixels
    confidence: float


# --- Tesseract on the characters, re-set as words ------------------------------------------


@dataclass(frozen=True, slots=True)
class _Run:
    """A run of non-filler cells of one line."""

    line: int
    first: int
    count: int


@dataclass(frozen=True, slots=True)
class _Collage:
    image: np.ndarray
    rows: tuple[tuple[int, float], ...]  # (MRZ line, centre row) of each row of words
    spans: tuple[tuple[int, _Run, int, int], ...]  # (row, run, first column, last column)


def _runs(grids: Sequence[_Grid]) -> list[_Run]:
    out: list[_Run] = []
    for ln, g in enumerate(grids):
        for i, kind in enumerate(g.kinds):
            if kind is True:
                continue
            if out and out[-1].line == ln and out[-1].first + out[-1].count == i:
                out[-1] = _Run(ln, out[-1].first, out[-1].count + 1)
            else:
                out.append(_Run(ln, i, 1))
    return out


# The settings of a collage, all read in one Tesseract call (one row of words per MRZ line
# and setting): glyphs a quarter capital apart; glyphs centred in slots of 0.8 pitch at
# three quarters of the size; glyphs 0.45 capitals apart at three quarters. Tesseract's
# slips differ between them (measured on generated copies: 11, 7 and 14 misread runs in
# 199, rarely the same run), so the majority reading of a run is preferred, the check
# digits choose where they can, and a run the settings split on evenly stays unread.
_SETTINGS = (
    {"slot": 0.0, "gap": 0.25, "scale": 1.0},
    {"slot": 0.8, "gap": 0.1, "scale": 0.75},
    {"slot": 0.0, "gap": 0.45, "scale": 0.75},
)


def _collage(crop: np.ndarray, ink: np.ndarray, grids: Sequence[_Grid],
             runs: Sequence[_Run]) -> _Collage:  # fmt: skip
    """The runs of characters re-set as words, fillers left out, runs four pitches apart,
    once per setting of _SETTINGS, on white."""
    cap = float(np.median([g.bottom - g.top for g in grids]))
    pad = int(cap)
    # paper to white and toner to black, so that cut glyphs show no edges
    paper, toner = (float(v) for v in np.percentile(crop, (90, 2)))
    norm = np.clip((crop.astype(np.float32) - toner) * (255 / max(paper - toner, 1.0)), 0, 255)
    norm = norm.astype(np.uint8)
    rows: list[np.ndarray] = []
    lines: list[int] = []
    spans: list[tuple[int, _Run, int, int]] = []
    for setting in _SETTINGS:
        for ln, g in enumerate(grids):
            row, row_spans = _row(norm, ink, g, [r for r in runs if r.line == ln], cap, **setting)
            spans += [(len(rows), run, x0 + pad, x1 + pad) for run, x0, x1 in row_spans]
            rows.append(row)
            lines.append(ln)
    image = np.full((sum(r.shape[0] for r in rows) + pad * (len(rows) + 1),
                     max(r.shape[1] for r in rows) + 2 * pad), 255, np.uint8)  # fmt: skip
    y, centres = pad, []
    for ln, r in zip(lines, rows, strict=True):
        image[y : y + r.shape[0], pad : pad + r.shape[1]] = r
        centres.append((ln, y + r.shape[0] / 2))
        y += r.shape[0] + pad
    return _Collage(image, tuple(centres), tuple(spans))


def _row(norm: np.ndarray, ink: np.ndarray, g: _Grid, runs: Sequence[_Run], cap: float, *,
         slot: float, gap: float, scale: float,
         ) -> tuple[np.ndarray, list[tuple[_Run, int, int]]]:  # fmt: skip
    """One line's runs as a row of words: each glyph cut to its ink (centred in a slot of
    `slot` pitches when narrower), `gap` capitals between glyphs, scaled by `scale`."""
    r0, r1 = max(0, int(g.top - 0.3 * cap)), min(norm.shape[0], int(g.bottom + 0.3 * cap))
    height, space = r1 - r0, max(2, int(gap * cap))
    pieces: list[np.ndarray] = []
    spans = []
    x = 0
    for run in runs:
        if pieces:
            pieces.append(np.full((height, int(4 * g.pitch)), 255, np.uint8))
            x += pieces[-1].shape[1]
        x0 = x
        for i in range(run.first, run.first + run.count):
            c0, c1 = g.columns(i, norm.shape[1])
            cols = np.flatnonzero(ink[int(g.top) : math.ceil(g.bottom), c0:c1].any(0))
            glyph = (norm[r0:r1, c0 + cols[0] : c0 + cols[-1] + 1] if len(cols)
                     else np.full((height, int(0.5 * g.pitch)), 255, np.uint8))  # fmt: skip
            room = int(slot * g.pitch) - glyph.shape[1]
            if room > 0:
                glyph = cv2.copyMakeBorder(glyph, 0, 0, room // 2, room - room // 2,
                                           cv2.BORDER_CONSTANT, value=255)  # fmt: skip
            pieces += [glyph, np.full((height, space), 255, np.uint8)]
            x += glyph.shape[1] + space
        spans.append((run, x0, x - space))
    row = np.hstack(pieces) if pieces else np.full((height, 1), 255, np.uint8)
    if scale != 1.0:
        row = cv2.resize(row, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        spans = [(run, int(x0 * scale), int(x1 * scale)) for run, x0, x1 in spans]
    return row, spans


def _read_collage(col: _Collage) -> tuple[list[dict[_Run, str]], float]:
    """One Tesseract call: per setting, the text read over each run; the mean word
    confidence."""
    words = tesseract.words(col.image, psm=6, whitelist=WHITELIST)
    got: dict[tuple[int, _Run], list[tesseract.Word]] = {}
    for wd in words:
        row = int(np.argmin([abs(wd.y + wd.h / 2 - c) for _, c in col.rows]))
        best, overlap = None, 0
        for r, run, x0, x1 in col.spans:
            ov = min(x1, wd.x + wd.w) - max(x0, wd.x)
            if r == row and ov > overlap:
                best, overlap = (row, run), ov
        if best is not None:
            got.setdefault(best, []).append(wd)
    per_setting: list[dict[_Run, str]] = [{} for _ in _SETTINGS]
    lines_per_setting = len(col.rows) // len(_SETTINGS)
    for (row, run), ws in got.items():
        text = "".join(w.text for w in sorted(ws, key=lambda w: w.x))
        per_setting[row // lines_per_setting][run] = text
    confs = [w.confidence for ws in got.values() for w in ws if w.confidence >= 0]
    return per_setting, float(np.mean(confs)) if confs else 0.0


def _options(run: _Run, texts: Sequence[str], *, slips: bool = False) -> list[tuple[str, float]]:
    """Readings of a run that fit its length, each with a penalty: for a reading of the
    right length, the share of the settings that read it otherwise; with `slips`, 1 for a
    reading one character longer with one character dropped where it repeats its neighbour
    or is its confusion partner (Tesseract's usual slip is reading one glyph twice, as "O0"
    or "11")."""
    out: dict[str, float] = {}
    for t in texts:
        if len(t) == run.count:
            out[t] = 1 - texts.count(t) / len(_SETTINGS)
    for t in texts:
        if slips and len(t) == run.count + 1:
            for k, c in enumerate(t):
                near = {t[j] for j in (k - 1, k + 1) if 0 <= j < len(t)}
                if near & {c, _SWAP.get(c)}:
                    out.setdefault(t[:k] + t[k + 1 :], 1.0)
    return list(out.items())


# --- reading --------------------------------------------------------------------------------

# At most this many combinations of run readings are checked per band.
_MAX_COMBINATIONS = 64


@dataclass(frozen=True, slots=True)
class _Outcome:
    lines: list[str]
    data: MrzData | None

    @property
    def valid(self) -> bool:
        return self.data is not None and self.data.valid


def _lines(grids: Sequence[_Grid], runs: Sequence[_Run], texts: Sequence[str],
           fmt: str) -> list[str]:  # fmt: skip
    """The runs' readings placed on the grid, mended and coerced to the format. In the
    alphanumeric positions a G or 6 follows the glyph's loop: their values differ by 10,
    so no check digit tells them apart."""
    chars = [[FILLER if k else UNREAD for k in g.kinds] for g in grids]
    for run, text in zip(runs, texts, strict=True):
        chars[run.line][run.first : run.first + run.count] = list(text)
    for ln, i in _alnum_cells(fmt):
        if chars[ln][i] in ("G", "6") and grids[ln].holes[i] in (0, 1):
            chars[ln][i] = "G6"[grids[ln].holes[i]]
    return _coerce(_mend_fillers(["".join(c) for c in chars], fmt, grids), fmt)


def _contradictions(lines: Sequence[str], fmt: str,
                    ev: list[list[str | None]] | None) -> int:  # fmt: skip
    """Alphanumeric cells whose character's kind (letter, digit) the glyph height denies."""
    if ev is None:
        return 0
    return sum(1 for ln, i in _alnum_cells(fmt)
               if lines[ln][i] != FILLER and ev[ln][i] is not None
               and (ev[ln][i] == "D") != lines[ln][i].isdigit())  # fmt: skip


def _settle(grids: Sequence[_Grid], runs: Sequence[_Run],
            options: dict[_Run, list[tuple[str, float]]], fmt: str, today: date | None,
            *, slips: bool = False) -> _Outcome:  # fmt: skip
    """Check the combinations of the runs' readings. Each valid result costs its confusion
    changes, the glyph heights it contradicts and its readings' penalties (dissent among
    the settings, dropped characters); the cheapest is the reading if it is the only one.
    When several tie, the characters they disagree on are unread; with no valid result,
    so are those the readings of a run disagree on. With `slips` (readings with a dropped
    character), a result must agree with every glyph height: many candidates make a check
    digit that holds by accident likely."""
    choices = [options.get(run) or [(UNREAD * run.count, 0)] for run in runs]
    found: dict[tuple[str, ...], tuple[float, _Outcome, tuple[str, ...], int]] = {}
    for combo in itertools.islice(itertools.product(*choices), _MAX_COMBINATIONS):
        texts = tuple(t for t, _ in combo)
        lines = _lines(grids, runs, texts, fmt)
        ev = _evidence(lines, grids)
        lines, data, changes = _correct(lines, fmt, today, ev)
        if data is None or not data.valid:
            continue
        wrong = _contradictions(lines, fmt, ev)
        cost = changes + sum(p for _, p in combo) + wrong
        if tuple(lines) not in found or cost < found[tuple(lines)][0]:
            found[tuple(lines)] = (cost, _Outcome(lines, data), texts, wrong)
    if slips:  # a dropped character must not leave a character of the wrong height
        found = {k: f for k, f in found.items() if f[3] == 0}
    if found:
        cheapest = min(f[0] for f in found.values())
        best = [f for f in found.values() if f[0] == cheapest]
        if len(best) == 1:
            return best[0][1]
        lines = [_agree(ls) for ls in zip(*(b[1].lines for b in best), strict=True)]
    else:
        lines = _lines(grids, runs, [_agree([t for t, _ in c]) for c in choices], fmt)
    return _Outcome(lines, _parse(lines, fmt, today))


def _agree(texts: Sequence[str]) -> str:
    """Where readings of the same length agree, their character; elsewhere unread."""
    return "".join(col[0] if len(set(col)) == 1 else UNREAD for col in zip(*texts, strict=True))


def _read_grid(crop: _Crop, ink: np.ndarray, grids: list[_Grid], fmt: str,
               today: date | None) -> tuple[_Outcome, float]:  # fmt: skip
    """Read the runs (every setting in one call) and let the check digits choose among the
    readings of each run; only if none holds, try dropping a repeated character (each
    more candidate is one more chance for a check digit to hold by accident, one in
    ten)."""
    runs = _runs(grids)
    readings, conf = _read_collage(_collage(crop.image, ink, grids, runs))
    texts = {r: [t[r] for t in readings if r in t] for r in runs}
    for r, ts in texts.items():  # the document code: the format allows a few letters
        if r.line == 0 and r.first == 0 and any(t[:1] and t[0] in _FIRST[fmt] for t in ts):
            texts[r] = [t for t in ts if t[:1] and t[0] in _FIRST[fmt]]
    outcome = _settle(grids, runs, {r: _options(r, t) for r, t in texts.items()}, fmt, today)
    if not outcome.valid:
        slipped = _settle(grids, runs, {r: _options(r, t, slips=True) for r, t in texts.items()},
                          fmt, today, slips=True)  # fmt: skip
        if slipped.valid:
            return slipped, conf
    return outcome, conf


def _normalise(text: str, n: int) -> str:
    """Without a grid: pad or trim a line to `n` characters in its longest filler run."""
    s = text
    while len(s) != n:
        runs = [(mt.end() - mt.start(), mt.start()) for mt in re.finditer(r"<+", s)]
        if not runs:
            return (s + FILLER * n)[:n]
        size, at = max(runs)
        s = s[: at + size] + FILLER + s[at + size :] if len(s) < n else s[:at] + s[at + 1 :]
    return s


def _read_plain(crop: _Crop, today: date | None) -> tuple[_Outcome, str, float] | None:
    """Without a grid (touching characters): Tesseract on the level band, words joined per
    line, lengths mended in the filler runs."""
    words = tesseract.words(crop.image, psm=6, whitelist=WHITELIST)
    per_line: list[list[tesseract.Word]] = [[] for _ in crop.line_y]
    for wd in words:
        yc = wd.y + wd.h / 2
        k = int(np.argmin([abs(yc - y) for y in crop.line_y]))
        if abs(yc - crop.line_y[k]) < 0.7 * crop.cap and wd.h > 0.5 * crop.cap:
            per_line[k].append(wd)
    texts = ["".join(w.text for w in sorted(ws, key=lambda w: w.x)) for ws in per_line]
    if sum(len(t) for t in texts) < 0.5 * len(texts) * LENGTH["TD1"]:
        return None  # little in the MRZ alphabet: not an MRZ
    mean = float(np.mean([len(t) for t in texts]))
    fmt = "TD1" if len(texts) == 3 else min(("TD2", "TD3"), key=lambda f: abs(LENGTH[f] - mean))
    lines = _coerce(_mend_fillers([_normalise(t, LENGTH[fmt]) for t in texts], fmt), fmt)
    lines, data, _ = _correct(lines, fmt, today, None)
    confs = [w.confidence for ws in per_line for w in ws if w.confidence >= 0]
    return _Outcome(lines, data), fmt, float(np.mean(confs)) if confs else 0.0


def _read_band(grey: np.ndarray, band: _Band, today: date | None) -> MrzReading | None:
    crop = _crop(grey, band)
    ink = _ink(crop.image)
    glyphs = [_glyphs(ink, y, crop.cap) for y in crop.line_y]
    grids: list[_Grid] = []
    if all(g is not None for g in glyphs):
        cells = float(np.mean([g.cells() for g in glyphs]))
        fmt = "TD1" if len(glyphs) == 3 else min(("TD2", "TD3"),
                                                 key=lambda f: abs(LENGTH[f] - cells))  # fmt: skip
        grids = [gr for g in glyphs if (gr := _grid(crop.image, ink, g, LENGTH[fmt])) is not None]
    if grids and len(grids) == len(glyphs):
        outcome, conf = _read_grid(crop, ink, grids, fmt, today)
    else:
        plain = _read_plain(crop, today)
        if plain is None:
            return None
        outcome, fmt, conf = plain
    checks = outcome.data.checks if outcome.data is not None else {}
    share = sum(checks.values()) / len(checks) if checks else 0.0
    return MrzReading(fmt, tuple(outcome.lines), outcome.data, outcome.valid,
                      _band_bbox(band, grey.shape), round(conf * share, 3))  # fmt: skip


def read_mrz(image: np.ndarray, dpi: float, *, today: date | None = None) -> MrzReading | None:
    """The MRZ on an upright page: a passport or permit copy, or an image of a document.

    Reads the best fitting bands (at most three) and returns the first whose check digits
    all hold, else the most confident reading; None when nothing looks like an MRZ. `dpi`
    is the image's resolution (a guess within 10 % will do). `today` sets the century of
    two-digit birth years (default: today)."""
    grey = _grey(image)
    best: MrzReading | None = None
    for band in _plausible_bands(grey, dpi)[:_MAX_BANDS]:
        reading = _read_band(grey, band, today)
        if reading is None:
            continue
        if reading.valid:
            return reading
        if best is None or reading.confidence > best.confidence:
            best = reading
    return best


def read_mrz_unknown_dpi(image: np.ndarray, *, today: date | None = None) -> MrzReading | None:
    """Read a photo or scan of a document whose resolution is unknown (real specimens).

    The dpi is guessed from the image width taken as the document's (125 mm for a passport,
    85.6 mm for a card), then as 70% of it; the first valid reading wins.
    """
    best = None
    for doc_mm in (125.0, 85.6):
        for share in (1.0, 0.7):
            reading = read_mrz(image, image.shape[1] * share * 25.4 / doc_mm, today=today)
            if reading is not None and reading.valid:
                return reading
            best = best or reading
    return best
