"""Comb cells and boxes on a registered form page: their crops, and the ink in them.

A registered page has model point (x, y) at pixel (x * dpi / 72, y * dpi / 72) give or take
`SLACK_PX`. `cell_crop` cuts a printed cell's interior (its border lines found near where
the model puts them and left out, paper at 255 and print black at 0; `_line_image` the
line field's box with its ruled line blanked); `measure_ink` and `is_filled` weigh the ink
in it. extractors/fields.py reads the fields from them.

Ink is measured in mm² of connected ink blobs, each at least `SPECK_MM2`: scanner noise
and most dust make smaller blobs, a printed or written character bigger ones. The
thresholds were set on generated pages at 200 and 300 dpi, grey and bitonal, and checked on
others (30 kits, pages 1-3, 5, 6: 5,844 typed and 5,844 handwritten characters all found
but one, an I written on a cell's border; none of 64,752 empty cells taken for filled): a
printed letter leaves 0.8-6 mm² in a cell, a printed period 0.13-0.3, the largest dust 0.12,
hence `_filled_cells`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from extractors.recognise import INK_LEVEL
from pipeline.form.model import Cell

#: How far a registered page may be off the model, in pixels (the registration step's promise).
SLACK_PX = 2.0
#: Printed stroke of cells and boxes in points (pipeline.form.render.LINE).
BORDER_PT = 0.6
#: Ink blobs smaller than this are dust or noise, never a mark (a printed period is 0.13+).
SPECK_MM2 = 0.06
#: A cell with at least this much ink is filled (a printed period leaves 0.13-0.3, an
#: apostrophe or hyphen 0.2-0.6, a letter 0.8 and more).
FILL_MM2 = 0.1
#: A single blob no longer than this (mm) is a dot: a period, or dust (`_filled_cells`).
DOT_MM = 0.6
#: A cell with less ink than `FILL_MM2` but at least this many blobs of any size is a faint
#: character that a bitonal scan broke into specks (`_filled_cells`). Dust left at most 3 in
#: a blank check box on pages with 60 dust dots (`fields.CHECK_TRACES`), and empty fields of
#: a page whose light pen the threshold broke held at most 1 a cell. NIST anomalies seed 913:
#: the last 1 of a passport's expiry year, a thin stroke, left 5 specks and 0.065 mm², and the
#: date read with seven digits; NIST seed 9840: a spouse's block (WANG, YAN, 1992-10-16,
#: FUQING) left 3-25 specks in each written cell and read empty, accepted.
FAINT_TRACES = 4
#: The fill confidence of such a cell.
FAINT_CONFIDENCE = 0.55
#: A page written with a light pen that a bitonal scan broke into specks: its cells holding
#: ink hold at least `FAINT_TRACES` blobs each at the median, over at least this many cells.
#: Measured on NIST seeds 925 (24 kits, 200 dpi bitonal) and 10230 (6 kits, 300 dpi): such
#: pages 10, 14 and 19 blobs at the median, every other form page 1 or 2.
FAINT_PAGE_CELLS = 4
#: On such a page, a cell with this many blobs is a faint character too (NIST seed 10230:
#: the 1 of a code 15 left 2 specks, and the code read 5); one with fewer but some is not
#: known to be empty: its confidence is `UNSURE_EMPTY`, below any review threshold.
FAINT_PAGE_TRACES = 2
UNSURE_EMPTY = 0.5

#: Grey levels lighter than this share of the way from print black to paper are paper.
_WHITE_POINT = 0.85


# ------------------------------------------------------------------------------- geometry


def _px(c: Cell, dpi: float) -> tuple[float, float, float, float]:
    s = dpi / 72.0
    return (c.x * s, c.y * s, c.w * s, c.h * s)


def _levels(region: np.ndarray) -> tuple[float, float]:
    """(paper, ink) grey levels around a printed box: most of it is paper, and its border
    is the form's own full-black print, which no pen is darker than."""
    flat = region.reshape(-1)
    n = flat.size
    lo, hi = max(n // 100, 1), min(n * 9 // 10, n - 1)
    part = np.partition(flat, (lo, hi))
    ink, paper = float(part[lo]), float(part[hi])
    if paper - ink < 64:  # no border in sight (a box off the page): plain paper and black
        return max(paper, 128.0), 0.0
    return paper, ink


def _span(centre: float, line: float) -> tuple[int, int]:
    """The pixel rows (or columns) [first, last + 1) that a line of width `line` centred at
    `centre` touches (pixel i covers [i, i + 1))."""
    return int(math.floor(centre - line / 2)), int(math.ceil(centre + line / 2))


def _offset(profile: np.ndarray, centres: Sequence[float], line: float, radius: int) -> int:
    """The shift (whole pixels, within ±`radius`) that puts printed lines expected at
    `centres` onto the darkest rows (or columns) of `profile`.

    The two opposite sides of a box move together under a registration error, so they are
    matched together: a stroke written along one side darkens one of them, the border both.
    Ties go to the smaller shift.
    """
    shifts = _shifts(radius)
    ends = [0.0, *itertools.accumulate(profile.tolist())]  # ends[k]: the first k rows' sum
    n = len(profile)
    half = line / 2
    best, best_score = 0, -1.0
    for d in shifts:
        score = 0.0
        for c in centres:
            a = min(max(math.floor(c + d - half), 0), n)
            b = min(max(math.ceil(c + d + half), a), n)
            score += ends[b] - ends[a]
        if score > best_score + 1e-6:
            best, best_score = d, score
    return best


@cache
def _shifts(radius: int) -> tuple[int, ...]:
    """The shifts `_offset` tries, smallest first."""
    return tuple(sorted(range(-radius, radius + 1), key=abs))


def _interior(
    image: np.ndarray, box: tuple[float, float, float, float], dpi: float,
) -> tuple[np.ndarray, float, float]:
    """The pixels inside a printed box's border lines, and the (paper, ink) levels."""
    x, y, w, h = box
    line = BORDER_PT * dpi / 72.0
    radius = int(math.ceil(SLACK_PX)) + 1
    reach = radius + int(math.ceil(line)) + 1
    ih, iw = image.shape
    ox, oy = max(int(math.floor(x)) - reach, 0), max(int(math.floor(y)) - reach, 0)
    ex = min(int(math.ceil(x + w)) + reach + 1, iw)
    ey = min(int(math.ceil(y + h)) + reach + 1, ih)
    region = image[oy:ey, ox:ex]
    paper, ink = _levels(region)
    darkness = np.clip((paper - region.astype(np.float32)) / max(paper - ink, 1.0), 0.0, 1.0)
    # mean darkness per row over the box's middle columns, away from its sides (and per
    # column over its middle rows)
    x, y = x - ox, y - oy
    cx0, cx1 = max(int(x) + reach, 0), max(int(x + w) - reach, int(x) + reach + 1)
    cy0, cy1 = max(int(y) + reach, 0), max(int(y + h) - reach, int(y) + reach + 1)
    rows = darkness[:, cx0:cx1].mean(axis=1)
    cols = darkness[cy0:cy1, :].mean(axis=0)
    dy = _offset(rows, (y, y + h), line, radius)
    dx = _offset(cols, (x, x + w), line, radius)
    # one pixel more on each side: a border's blurred edge still reads a little dark
    top, bottom = _span(y + dy, line)[1] + 1, _span(y + h + dy, line)[0] - 1
    left, right = _span(x + dx, line)[1] + 1, _span(x + w + dx, line)[0] - 1
    top, left = max(top, 0), max(left, 0)
    return region[top : max(bottom, top + 1), left : max(right, left + 1)], paper, ink


def _normalise(pixels: np.ndarray, paper: float, ink: float) -> np.ndarray:
    """The print's black to 0, and paper, with its noise and JPEG ripple, to a flat 255.

    Flat matters: a crop whose paper reads 250 pasted on white shows Tesseract a faint box
    edge, which it reads as an I, an L or a bar, or which makes it drop the character
    beside it (seen on whole lines of dates).
    """
    scale = np.float32(255.0 / max(_WHITE_POINT * (paper - ink), 1.0))
    out = (pixels.astype(np.float32) - np.float32(ink)) * scale
    return np.clip(out, 0, 255).astype(np.uint8)


def _clear_edges(crop: np.ndarray, depth: int = 2) -> np.ndarray:
    """Blank up to `depth` outer rows and columns that are mostly dark: what is left of a
    border line the search did not take in whole (a border bent by the scan)."""
    out = crop
    for _ in range(depth):
        dark = out < INK_LEVEL
        h, w = out.shape
        if h < 3 or w < 3:
            break
        hits = [
            (dark[0, :].mean(), (slice(0, 1), slice(None))),
            (dark[-1, :].mean(), (slice(h - 1, h), slice(None))),
            (dark[:, 0].mean(), (slice(None), slice(0, 1))),
            (dark[:, -1].mean(), (slice(None), slice(w - 1, w))),
        ]
        hits = [where for share, where in hits if share >= 0.85]
        if not hits:
            break
        if out is crop:
            out = crop.copy()
        for where in hits:
            out[where] = 255
    return out


def cell_crop(image: np.ndarray, cell: Cell, dpi: float) -> np.ndarray:
    """The interior of a printed cell (model points) on a registered page: its border lines
    found near where the model puts them and left out, paper at 255 and print black at 0.

    A new array; `image` is not modified.
    """
    pixels, paper, ink = _interior(image, _px(cell, dpi), dpi)
    return _clear_edges(_normalise(pixels, paper, ink))


def _line_image(image: np.ndarray, box: Cell, dpi: float) -> np.ndarray:
    """The line box and a little above, the ruled line blanked, paper white."""
    x, y, w, h = _px(box, dpi)
    ih, iw = image.shape
    x0, x1 = max(int(x), 0), min(int(math.ceil(x + w)), iw)
    y0 = max(int(y - 0.25 * h), 0)
    y1 = min(int(math.ceil(y + h + 0.25 * h)), ih)
    region = image[y0:y1, x0:x1]
    paper, ink = _levels(region)
    out = _normalise(region, paper, ink)
    line = BORDER_PT * dpi / 72.0
    rule = y + h - y0
    rule += _offset((255 - out).mean(axis=1), (rule,), line, int(math.ceil(SLACK_PX)) + 1)
    a, b = _span(rule, line)
    out[max(a - 1, 0) : b + 1, :] = 255
    return out


# ------------------------------------------------------------------------------------ ink


def _mm2(dpi: float) -> float:
    """Pixels per mm² at `dpi`."""
    return (dpi / 25.4) ** 2


@dataclass(frozen=True, slots=True)
class Ink:
    """The ink in a cell or box: its area in mm² (blobs of at least `SPECK_MM2`), whether
    it is a dot (one blob no longer than `DOT_MM` either way: a period, or dust), and how
    many blobs of any size there are (`traces`)."""

    mm2: float
    dot: bool
    traces: int


def measure_ink(crop: np.ndarray, dpi: float) -> Ink:
    """The ink of a normalised crop (`cell_crop`)."""
    dark = (crop < INK_LEVEL).astype(np.uint8)
    if not dark.any():
        return Ink(0.0, False, 0)
    _, _, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    stats = stats[1:]
    kept = stats[stats[:, cv2.CC_STAT_AREA] >= SPECK_MM2 * _mm2(dpi)]
    mm2 = float(kept[:, cv2.CC_STAT_AREA].sum()) / _mm2(dpi)
    longest = max(kept[0, cv2.CC_STAT_WIDTH], kept[0, cv2.CC_STAT_HEIGHT]) if len(kept) else 0
    return Ink(mm2, len(kept) == 1 and longest * 25.4 / dpi <= DOT_MM, len(stats))


def ink_mm2(crop: np.ndarray, dpi: float) -> float:
    """Ink in a normalised crop, in mm²: dark pixels of the blobs at least `SPECK_MM2`."""
    return measure_ink(crop, dpi).mm2


def _decision(score: float, threshold: float) -> tuple[bool, float]:
    """(score >= threshold, confidence): 0.5 at the threshold, 1.0 at four times (or a
    quarter of) it, on a log scale."""
    if score <= 0:
        return False, 1.0
    margin = abs(math.log(score / threshold)) / math.log(4.0)
    return score >= threshold, 0.5 + 0.5 * min(margin, 1.0)


def is_filled(crop: np.ndarray, dpi: float) -> tuple[bool, float]:
    """Whether a cell interior (`cell_crop`) holds ink enough for a character: (filled,
    confidence). `fields.read_page_fields` also weighs a lone dot against its neighbours
    (`_filled_cells`)."""
    return _decision(ink_mm2(crop, dpi), FILL_MM2)


def faint_page(inks: Sequence[Ink]) -> bool:
    """Whether the ink of a page's comb cells is a light pen's broken trail
    (`FAINT_PAGE_CELLS`)."""
    inked = [v.traces for v in inks if v.mm2 >= FILL_MM2 or v.traces >= FAINT_TRACES]
    return len(inked) >= FAINT_PAGE_CELLS and float(np.median(inked)) >= FAINT_TRACES


def unsure_empty(ink: Ink, faint: bool) -> bool:
    """A box read as holding nothing, on a faint page, that holds a trace of ink."""
    return faint and ink.traces > 0


def _filled_cells(inks: Sequence[Ink], faint: bool = False,
                  ) -> tuple[tuple[bool, float], ...]:
    """`is_filled` for the cells of one field, with dots judged by their neighbours.

    A dot is a period between two characters, or a speck of dust anywhere: the largest dust
    measured leaves 0.12 mm², the smallest printed period 0.13, both round. So a cell
    holding only a dot counts as filled between two cells holding more than a dot; a
    trailing period is lost, a dusty cell is not read. (An apostrophe, a hyphen, a stroke
    half erased by a bitonal threshold are longer than a dot, and count on their own.)
    A cell broken into `FAINT_TRACES` specks or more is filled (at `FAINT_CONFIDENCE`): the
    recogniser reads what is left of it and the decoder weighs it, rather than the field
    losing a character, or all of them, unseen. On a faint page (`faint_page`) a cell with
    `FAINT_PAGE_TRACES` specks is a faint character, and one with fewer but some is empty
    only at `UNSURE_EMPTY`.
    """
    least = FAINT_PAGE_TRACES if faint else FAINT_TRACES
    marks = [_decision(v.mm2, FILL_MM2) for v in inks]
    solid = [on and not v.dot for (on, _), v in zip(marks, inks)]
    out = []
    for i, ((on, conf), v) in enumerate(zip(marks, inks)):
        if on and v.dot and not (0 < i < len(inks) - 1 and solid[i - 1] and solid[i + 1]):
            on, conf = False, 0.6
        elif not on and v.traces >= least:
            on, conf = True, FAINT_CONFIDENCE
        elif not on and unsure_empty(v, faint):
            conf = UNSURE_EMPTY
        out.append((on, conf))
    return tuple(out)
