"""Machine readable zones (ICAO Doc 9303) on passport and permit photocopies.

`find_mrz` locates MRZ bands on an upright page; `read_mrz` reads the best one and checks its
check digits. `extractors.mrz_bench` measures both on a set of pages.

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
from validators.icao import MrzData, check_digit, parse_td1, parse_td3

log = logging.getLogger(__name__)

BBox = tuple[int, int, int, int]  # x, y, w, h in page pixels

WHITELIST = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
FILLER = "<"
UNREAD = "?"  # a cell whose character could not be read
MM_PER_INCH = 25.4
PITCH_MM = 2.54  # Part 3: 10 characters per inch
LENGTH = {"TD1": 30, "TD2": 36, "TD3": 44}
_LINE_MM = {fmt: n * PITCH_MM for fmt, n in LENGTH.items()}

# Detection works on a reduced copy: 100 dpi keeps a character about 10 px high, enough to
# see lines, and the morphology on a 300 dpi A4 page then costs a few milliseconds.
_WORK_DPI = 100.0
# Capitals are read at this height (px): Tesseract's LSTM models do best at 25-40 px.
_READ_CAP_PX = 30.0
# At most this many bands go to Tesseract per page (a reading costs 0.1-0.2 s).
_MAX_BANDS = 3

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
# What Tesseract reads for a filler it cannot place.
_FILLER_LOOKALIKES = frozenset("KXSCERZAU")
# Glyphs that no confusion above touches: the reference heights of letters and digits.
_SURE_LETTERS = frozenset("ACEFHJKMNPRTUVWXY")
_SURE_DIGITS = frozenset("3479")


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


# --- finding bands -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Bar:
    """A text line joined into one bar: start point, unit direction, length, thickness."""

    x0: float
    y0: float
    ux: float
    uy: float
    length: float
    thick: float

    def offset(self, other: _Bar) -> tuple[float, float]:
        """(along, across) of `other`'s start from this bar's start, in this bar's frame."""
        dx, dy = other.x0 - self.x0, other.y0 - self.y0
        return dx * self.ux + dy * self.uy, -dx * self.uy + dy * self.ux


@dataclass(frozen=True, slots=True)
class _Band:
    """2 or 3 MRZ lines in page pixels: where the first line starts, the direction, the
    length, the line thickness and each line's offset across the direction."""

    x0: float
    y0: float
    ux: float
    uy: float
    length: float
    thick: float
    offsets: tuple[float, ...]
    misfit: float  # relative distance of the length from the nearest format's (lower: better)

    def starts(self) -> list[tuple[float, float]]:
        return [(self.x0 - o * self.uy, self.y0 + o * self.ux) for o in self.offsets]


def _grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image if image.dtype == np.uint8 else cv2.convertScaleAbs(image)
    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(image, code)


def _odd(v: float) -> int:
    return max(1, int(round(v)) | 1)


def _bars(work: np.ndarray, pitch: float) -> list[_Bar]:
    """Text lines of MRZ size joined into bars (work pixels)."""
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (_odd(1.5 * pitch), _odd(0.6 * pitch)))
    dark = cv2.morphologyEx(work, cv2.MORPH_BLACKHAT, k)
    # Otsu splits strokes from paper; the floor keeps faint guilloche lines out when a page
    # has little text and Otsu would split the background instead.
    t, _ = cv2.threshold(dark, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ink = (dark > max(t, 25)).astype(np.uint8)
    # vertical strokes longer than two characters are edges of cards and boxes: without
    # them a line ending a few millimetres from the card's edge is not joined to it
    ink &= 1 - cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(
        cv2.MORPH_RECT, (1, _odd(2 * pitch))))  # fmt: skip
    ink = cv2.morphologyEx(ink, cv2.MORPH_CLOSE,
                           cv2.getStructuringElement(cv2.MORPH_RECT, (_odd(1.2 * pitch), 1)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    bars = []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if w < 12 * pitch or area < 6 * pitch * pitch:
            continue
        ys, xs = np.nonzero(labels[y : y + h, x : x + w] == i)
        bar = _fit_bar(xs.astype(np.float64) + x, ys.astype(np.float64) + y)
        if bar is not None and 0.4 * pitch <= bar.thick <= 2.5 * pitch:
            bars.append(bar)
    return _merge_collinear(bars, pitch)


def _fit_bar(xs: np.ndarray, ys: np.ndarray) -> _Bar | None:
    mx, my = xs.mean(), ys.mean()
    _, vecs = np.linalg.eigh(np.cov(np.vstack([xs - mx, ys - my])))
    ux, uy = vecs[:, 1]
    if ux < 0:
        ux, uy = -ux, -uy
    if abs(uy) > math.sin(math.radians(10)):  # the page is upright: lines run level
        return None
    along = (xs - mx) * ux + (ys - my) * uy
    across = -(xs - mx) * uy + (ys - my) * ux
    a0, a1 = float(along.min()), float(along.max())
    lo, hi = np.percentile(across, (2, 98))
    mid = (lo + hi) / 2
    return _Bar(mx + a0 * ux - mid * uy, my + a0 * uy + mid * ux, float(ux), float(uy),
                a1 - a0 + 1, float(hi - lo + 1))  # fmt: skip


def _merge_collinear(bars: list[_Bar], pitch: float) -> list[_Bar]:
    """Join pieces of one line split by a gap (a faded filler run on a bitonal scan)."""
    out: list[_Bar] = []
    for b in sorted(bars, key=lambda b: b.x0):
        for i, a in enumerate(out):
            along, across = a.offset(b)
            if abs(across) < 0.4 * max(a.thick, b.thick) and -pitch < along - a.length < 3 * pitch:
                end = max(a.length, along + b.length)
                out[i] = _Bar(a.x0, a.y0, a.ux, a.uy, end, max(a.thick, b.thick))
                break
        else:
            out.append(b)
    return out


def _bands(grey: np.ndarray, dpi: float) -> list[_Band]:
    """Bands of 2 or 3 parallel lines of MRZ size, the best fitting first; where bands
    share a line (a TD1 band and its first two lines) only the best is kept."""
    scale = min(1.0, _WORK_DPI / dpi)
    work = grey if scale == 1.0 else cv2.resize(grey, None, fx=scale, fy=scale,
                                                interpolation=cv2.INTER_AREA)  # fmt: skip
    pitch = PITCH_MM * dpi * scale / MM_PER_INCH
    bars = sorted(_bars(work, pitch), key=lambda b: b.y0)
    found: list[_Band] = []
    for i, first in enumerate(bars):
        chain = [first]
        for b in bars[i + 1 :]:
            along, across = first.offset(b)
            step = across - first.offset(chain[-1])[1]
            t = max(chain[-1].thick, b.thick)
            # Part 3 puts line centres 1.5-2 character heights apart
            if (abs(along) < 2.5 * pitch and abs(b.length - first.length) < 3 * pitch
                    and abs(b.uy - first.uy) < 0.02 and 1.1 * t < step < 2.8 * t):  # fmt: skip
                chain.append(b)
                if len(chain) == 3:
                    break
        for n in (3, 2):
            if len(chain) >= n:
                found.append(_band(chain[:n], first, scale, dpi))
    found.sort(key=lambda b: b.misfit)
    out: list[_Band] = []
    for b in found:
        if not any(_share_a_line(b, o) for o in out):
            out.append(b)
    return out


def _band(chain: list[_Bar], first: _Bar, scale: float, dpi: float) -> _Band:
    length = max(b.length for b in chain) / scale
    mm = length * MM_PER_INCH / dpi
    formats = ("TD1",) if len(chain) == 3 else ("TD2", "TD3")
    misfit = min(abs(mm - _LINE_MM[f]) / _LINE_MM[f] for f in formats)
    return _Band(first.x0 / scale, first.y0 / scale, first.ux, first.uy, length,
                 float(np.median([b.thick for b in chain])) / scale,
                 tuple(first.offset(b)[1] / scale for b in chain), misfit)  # fmt: skip


def _share_a_line(a: _Band, b: _Band) -> bool:
    t = max(a.thick, b.thick)
    return any(math.dist(p, q) < t for p in a.starts() for q in b.starts())


def _band_bbox(band: _Band, shape: tuple[int, ...]) -> BBox:
    t = band.thick
    xs, ys = [], []
    for along in (-0.5 * t, band.length + 0.5 * t):
        for across in (-0.8 * t, band.offsets[-1] + 0.8 * t):
            xs.append(band.x0 + along * band.ux - across * band.uy)
            ys.append(band.y0 + along * band.uy + across * band.ux)
    x0, y0 = max(0, int(min(xs))), max(0, int(min(ys)))
    x1, y1 = min(shape[1], math.ceil(max(xs))), min(shape[0], math.ceil(max(ys)))
    return x0, y0, x1 - x0, y1 - y0


def _plausible(band: _Band, dpi: float) -> bool:
    """The band's lines are within 15 % of an MRZ line length at `dpi`, and characters
    between 0.8 and 5.5 mm high."""
    return band.misfit < 0.15 and 0.8 <= band.thick * MM_PER_INCH / dpi <= 5.5


def _plausible_bands(grey: np.ndarray, dpi: float) -> list[_Band]:
    return [b for b in _bands(grey, dpi) if _plausible(b, dpi)]


def find_mrz(image: np.ndarray, dpi: float) -> list[BBox]:
    """Bounding boxes (x, y, w, h, page pixels) of MRZ-like bands on an upright page, the
    best fitting first. `dpi` sizes the search: a guess within 10 % will do."""
    grey = _grey(image)
    return [_band_bbox(b, grey.shape) for b in _plausible_bands(grey, dpi)]


# --- the band on its character grid ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Crop:
    image: np.ndarray  # the band turned level, capitals about _READ_CAP_PX high
    line_y: tuple[float, ...]  # each line's centre row
    cap: float  # capital height in crop pixels


def _crop(grey: np.ndarray, band: _Band) -> _Crop:
    s = _READ_CAP_PX / (band.thick * 0.95)
    mx, my = 1.2 * band.thick * s, 0.9 * band.thick * s
    m = np.array([[band.ux, band.uy], [-band.uy, band.ux]]) * s
    t = np.array([mx, my]) - m @ np.array([band.x0, band.y0])
    size = (int(band.length * s + 2 * mx), int(band.offsets[-1] * s + 2 * my))
    interp = cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA
    image = cv2.warpAffine(grey, np.hstack([m, t[:, None]]), size, flags=interp,
                           borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    return _Crop(image, tuple(my + o * s for o in band.offsets), _READ_CAP_PX)


def _ink(crop: np.ndarray) -> np.ndarray:
    """Binary ink (1) of the crop: Otsu within the crop (a band is small and evenly lit)."""
    blur = cv2.GaussianBlur(crop, (3, 3), 0)
    _, bw = cv2.threshold(blur, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    return bw


@dataclass(frozen=True, slots=True)
class _Glyphs:
    """The character-sized ink components of one line (crop coordinates)."""

    top: float  # median capital top and baseline rows
    bottom: float
    x0: float  # first and last ink column
    x1: float
    centres: np.ndarray  # x of each component's centre

    def cells(self) -> float:
        """How many character cells the line spans, from the usual component spacing."""
        d = np.diff(np.sort(self.centres))
        pitch = float(np.median(d[d > 0.5 * np.median(d)]))
        # OCR-B glyphs leave about 16 % of the pitch free on each side of their cell
        return (self.x1 - self.x0) / pitch + 0.32


@dataclass(frozen=True, slots=True)
class _Grid:
    """One line on its pitch grid: cell i spans columns a + i * pitch .. a + (i+1) * pitch.
    `kinds` per cell: filler (True), character (False) or unsure (None); `heights`: the
    glyph height of each cell (px); `holes`: how many closed loops its ink makes."""

    top: float
    bottom: float
    a: float
    pitch: float
    kinds: tuple[bool | None, ...]
    heights: tuple[float, ...]
    holes: tuple[int, ...]

    def columns(self, i: int, width: int) -> tuple[int, int]:
        c0 = int(round(self.a + i * self.pitch))
        return max(0, c0), min(width, int(round(self.a + (i + 1) * self.pitch)))


def _glyphs(ink: np.ndarray, yc: float, cap: float) -> _Glyphs | None:
    r0, r1 = max(0, int(yc - 0.8 * cap)), min(ink.shape[0], int(yc + 0.8 * cap) + 1)
    count, _, stats, cents = cv2.connectedComponentsWithStats(ink[r0:r1], connectivity=8)
    keep = [i for i in range(1, count)
            if 0.45 * cap <= stats[i][3] <= 1.4 * cap and stats[i][2] <= 1.3 * cap]  # fmt: skip
    keep.sort(key=lambda i: cents[i, 0])
    # drop strays at either end (a card edge, a speck of toner) more than two pitches out
    while len(keep) >= 20:
        gaps = np.diff(cents[keep, 0])
        usual = float(np.median(gaps))
        if gaps[0] > 2 * usual:
            keep = keep[1:]
        elif gaps[-1] > 2 * usual:
            keep = keep[:-1]
        else:
            break
    if len(keep) < 20:  # a line has 30 characters or more, most of them separate
        return None
    st = stats[keep]
    tops, bottoms = st[:, 1], st[:, 1] + st[:, 3]
    tall = st[:, 3] >= 0.8 * np.percentile(st[:, 3], 90)
    return _Glyphs(r0 + float(np.median(tops[tall])), r0 + float(np.median(bottoms[tall])),
                   float(st[:, 0].min()), float((st[:, 0] + st[:, 2]).max()),
                   cents[keep, 0])  # fmt: skip


def _grid(crop: np.ndarray, ink: np.ndarray, g: _Glyphs, n: int) -> _Grid | None:
    """Fit `n` cells to the line's components; None when they do not sit on such a grid."""
    pitch = (g.x1 - g.x0) / (n - 0.32)
    a = g.x0 - 0.16 * pitch
    for _ in range(2):
        idx = np.clip(np.round((g.centres - a) / pitch - 0.5), 0, n - 1)
        if len(np.unique(idx)) < 0.5 * n:
            return None
        pitch, a = (float(v) for v in np.polyfit(idx + 0.5, g.centres, 1))
    if np.median(np.abs(g.centres - (a + (idx + 0.5) * pitch))) > 0.15 * pitch:
        return None
    grid = _Grid(g.top, g.bottom, a, pitch, (), (), ())
    kinds = tuple(_kind(s) for s in _filler_scores(ink, grid, n))
    return _Grid(g.top, g.bottom, a, pitch, kinds, _heights(crop, grid, n), _holes(ink, grid, n))


def _holes(ink: np.ndarray, grid: _Grid, n: int) -> tuple[int, ...]:
    """Closed loops per cell (a 6 has one, a G none), ignoring specks of paper."""
    cap = grid.bottom - grid.top
    rows = ink[max(0, int(grid.top - 0.2 * cap)) : int(grid.bottom + 0.2 * cap)]
    out = []
    for i in range(n):
        c0, c1 = grid.columns(i, ink.shape[1])
        cell = np.ascontiguousarray(rows[:, c0:c1])
        contours, hierarchy = cv2.findContours(cell, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        out.append(0 if hierarchy is None else sum(
            1 for c, h in zip(contours, hierarchy[0], strict=True)
            if h[3] >= 0 and cv2.contourArea(c) >= 0.03 * cap * cap))  # fmt: skip
    return tuple(out)


def _heights(crop: np.ndarray, grid: _Grid, n: int) -> tuple[float, ...]:
    """Each cell's glyph height (px, to a tenth): between the first and the last row whose
    darkest pixel is half-way from paper to toner, interpolated between rows."""
    cap = grid.bottom - grid.top
    r0 = max(0, int(grid.top - 0.4 * cap))
    rows = crop[r0 : int(grid.bottom + 0.4 * cap)].astype(np.float32)
    paper, toner = (float(v) for v in np.percentile(rows, (90, 2)))
    half = (paper + toner) / 2
    out = []
    for i in range(n):
        c0, c1 = grid.columns(i, crop.shape[1])
        dark = half - rows[:, c0:c1].min(axis=1)  # > 0 where a stroke crosses the row
        inked = np.flatnonzero(dark > 0)
        if len(inked) == 0:
            out.append(0.0)
            continue
        t, b = int(inked[0]), int(inked[-1])
        top = t - (dark[t] / (dark[t] - dark[t - 1]) if t > 0 else 0.0)
        bottom = b + (dark[b] / (dark[b] - dark[b + 1]) if b + 1 < len(dark) else 0.0)
        out.append(round(float(bottom - top), 1))
    return tuple(out)


def _filler_scores(ink: np.ndarray, grid: _Grid, n: int) -> list[float]:
    """Per cell, how much the ink looks like the filler chevron `<`: the leftmost ink of the
    top and bottom fifths minus that of the middle fifth, in pitches. In OCR-B the filler
    scores 0.36 and every other glyph at most 0.19 (the 4); on our 200 and 300 dpi copies,
    fillers score 0.23 or more and other glyphs 0.23 or less. An empty cell scores -1."""
    band = ink[int(grid.top) : math.ceil(grid.bottom)]
    h = band.shape[0]
    fifths = ((0, max(1, int(0.2 * h))), (int(0.4 * h), max(int(0.4 * h) + 1, int(0.6 * h))),
              (int(0.8 * h), h))  # fmt: skip
    out = []
    for i in range(n):
        c0, c1 = grid.columns(i, band.shape[1])
        cell = band[:, c0:c1]
        if cell.size == 0 or cell.sum() < 0.02 * cell.size:
            out.append(-1.0)
            continue
        left = []
        for r0, r1 in fifths:
            cols = np.flatnonzero(cell[r0:r1].any(0))
            left.append(cols[0] / grid.pitch if len(cols) else 1.0)
        out.append(min(left[0], left[2]) - left[1])
    return out


def _kind(score: float) -> bool | None:
    """Filler (True), character (False) or unsure (None: Tesseract decides)."""
    if score == -1.0:
        return None
    return True if score > 0.27 else False if score < 0.21 else None


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


# --- the format: coercion, evidence, check digits -------------------------------------------


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
    heights favour one of them, and never one the heights deny. Returns the lines, their
    data and how many changes."""
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
                hits.append((_support(combo, cand, ev), cand, parsed))
        if not hits:
            continue
        hits.sort(key=lambda h: -h[0])
        if hits[0][0] >= 0 and (len(hits) == 1 or hits[0][0] > hits[1][0]):
            return hits[0][1], hits[0][2], k
        break  # several corrections hold alike: choosing one would be a guess
    return lines, data, 0


def _support(combo: Sequence[tuple[int, int]], lines: Sequence[str],
             ev: list[list[str | None]] | None) -> int:  # fmt: skip
    """How many changed cells the glyph heights agree with, minus those they contradict."""
    if ev is None:
        return 0
    score = 0
    for ln, i in combo:
        e = ev[ln][i]
        if e is not None:
            score += 1 if (e == "D") == lines[ln][i].isdigit() else -1
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
                        and (chars[i] in _FILLER_LOOKALIKES or chars[i] == UNREAD)):  # fmt: skip
                    chars[i] = FILLER
    ln, start = _NAME[fmt]
    name = "".join(out[ln])
    at = name.find(FILLER * 3, start)
    if at >= 0:
        out[ln][at:] = [FILLER if c in _FILLER_LOOKALIKES or c == UNREAD else c
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
