"""Finding machine readable zones on an upright page: text lines joined into bars on a
reduced copy, bars of an MRZ line's length grouped into bands of 2 or 3 lines (see
`extractors.mrz`); `find_mrz` gives their boxes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

BBox = tuple[int, int, int, int]  # x, y, w, h in page pixels

MM_PER_INCH = 25.4
PITCH_MM = 2.54  # Part 3: 10 characters per inch
LENGTH = {"TD1": 30, "TD2": 36, "TD3": 44}
_LINE_MM = {fmt: n * PITCH_MM for fmt, n in LENGTH.items()}

# Detection works on a reduced copy: 100 dpi keeps a character about 10 px high, enough to
# see lines, and the morphology on a 300 dpi A4 page then costs a few milliseconds.
_WORK_DPI = 100.0


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
class _Band(_Bar):
    """2 or 3 MRZ lines in page pixels: the first line as a bar (where it starts, the
    direction, the length, the line thickness) and each line's offset across the direction."""

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
