"""An MRZ band on its character grid: the band turned level and scaled, each line's
character components, the fixed pitch grid fitted to them, and per cell whether it holds a
filler, its glyph height and its closed loops (see `extractors.mrz`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from extractors.mrz_band import _Band

# Capitals are read at this height (px): Tesseract's LSTM models do best at 25-40 px.
_READ_CAP_PX = 30.0


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
