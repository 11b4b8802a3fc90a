"""Page orientation: blank backs, the quarter turn a page was fed with, and its fine skew.

One scanned page (a ``uint8`` grey, bitonal or BGR array, and its dpi) in, an `Orientation`
out; `normalise_page` turns the page upright and square to the axes. The conventions are the
scanner simulation's and the truth format's:

- `Orientation.rotation` is the clockwise quarter turn the content *has* (0/90/180/270); the
  fix turns the image back counter-clockwise by as much;
- `Orientation.skew_deg` is the residual rotation of the content, positive = turned
  counter-clockwise as seen on screen (``cv2.getRotationMatrix2D``'s sense); the fix rotates
  by ``-skew_deg`` once the quarter turn is undone.

Method, on a 150-dpi working copy of the page (about 50 ms of one core a page):

1. **Ink.** The paper level is estimated locally (area-averaged blocks of about 1.4 mm, then
   the lightest block within about 10 mm), and a pixel is ink when it is at least
   `INK_DARKNESS` darker than that paper: lamp shading, paper tint and bleed-through stay
   below it.
2. **Blank.** The share of the page covered by ink components larger than a speck
   (`SPECK_MM2`), components touching the image border left out (scanner edges). A duplex
   back, whose bleed-through stays far below `INK_DARKNESS`, has only specks: dust and JPEG
   ringing.
3. **Line direction and skew.** Projection profiles of the ink pixels along candidate
   directions: printed lines (text baselines, the rules of the form's comb rows) make the
   profile spiky when the projection runs along them. Directions near horizontal and near
   vertical are searched within `MAX_SKEW_DEG` on a 50-dpi copy in 1-degree steps, then near
   the best on the 150-dpi ink in 0.2 and 0.05-degree steps, each time to a fraction of the
   step by a parabola through the best three.
4. **Which way up.** Two generic cues, counted as votes on the roughly deskewed page; neither
   relies on marks only our rendition of the form prints:

   - *glyph shapes*: every character-sized component is compared with reference glyphs
     (Latin letters, digits and the MRZ filler ``<``, rendered once per process from the
     DejaVu and Liberation fonts the project installs, plus OpenCV's built-in Hershey fonts)
     turned by each quarter turn; a component whose best match under one turn clearly beats
     every other turn votes for it. Symmetric glyphs (O, H, N, S, X, o, s, x, 0, 8) and pairs
     such as d/p, n/u abstain. This reads pages printed in capitals only (passport and permit
     copies, receipts) and decides the axis as well: a form page's comb cells line up in
     columns as well as in rows, so its projection profiles may prefer either family;
   - *ascenders and descenders*: in mixed-case Latin text, letters that rise above the
     x-height (capitals, b d f h k l t) far outnumber those that drop below the baseline
     (g j p q y); turned upside down the two swap. Characters are grouped into line
     segments along the line direction, and each poke out of a segment's band is a vote.

   The axis is chosen by the glyph votes' ratio between the axes (trusted in proportion to
   their number) together with the projection profiles' ratio; the fine skew is then
   measured along that axis, and the votes along it choose between its two ends.

Tesseract's OSD was measured on the kit's pages and is not used: 0.4-1.7 s a page, and wrong
on most form pages (the comb cells read as glyphs) and on the card copies.
"""

from __future__ import annotations

import csv
import logging
import math
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

MM_PER_INCH = 25.4
ROTATIONS = (0, 90, 180, 270)
WORK_DPI = 150
# Ink = at least this much darker than the local paper (a share of the paper level). The
# bleed-through on a duplex back darkens the paper by at most BLEED_STRENGTH[1] = 8 % of the
# paper level, and only behind solid black (sample_scans/synth/scanner.py; thin office paper
# shows through by up to about 15 %); printed text, rules and the grey labels of the copies
# (fill 60-110 of 255) are 55-75 % darker than the paper.
INK_DARKNESS = 0.30
# A speck: dust on the glass (up to 0.3 mm across, 0.07 mm^2), JPEG ringing, bitonal noise.
# The smallest mark that counts as content is a 0.2 mm^2 blob, about a 7-pt letter 'i'.
SPECK_MM2 = 0.2
# A page is blank when the ink of its non-speck components covers less than this share of
# it (about 3 mm^2 of an A4 page, four or five 10-pt letters). Measured: a page with the one
# word "Pagina 2" covers 0.008-0.015 %, the emptiest page of a kit (a copy with only the
# receipt on it) 0.6 %; duplex backs of the scanner simulation at most 0.0003 %, even with
# 400 specks of dust and three times the sensor noise (their bleed-through never reaches
# INK_DARKNESS, their dust stays below SPECK_MM2).
BLANK_INK_RATIO = 0.00005
# Largest skew searched: a badly fed ADF sheet reaches about 4 degrees, a copy laid on the
# glass by hand more; the real test scans go to 15.
MAX_SKEW_DEG = 16.0


@dataclass(frozen=True, slots=True)
class Orientation:
    """How a scanned page lies; see the module docstring for the conventions."""

    rotation: int  # 0/90/180/270: the clockwise quarter turn the content has
    skew_deg: float  # positive = content turned counter-clockwise on screen
    confidence: float  # 0..1: the weaker of the axis and the which-way-up evidence
    blank: bool
    ink_ratio: float  # share of the page covered by non-speck ink


# --- ink ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ink:
    mask: np.ndarray  # uint8, ink = 255
    dpi: float  # of the mask


def _as_grey(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError(f"a page is a uint8 array, got {getattr(image, 'dtype', type(image))}")
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"a page is a 2-D grey or a BGR array, got shape {image.shape}")
    return image


def _ink(image: np.ndarray, dpi: float) -> _Ink:
    if not dpi > 0:
        raise ValueError(f"dpi must be positive, not {dpi}")
    grey = _as_grey(image)
    h, w = grey.shape
    scale = min(1.0, WORK_DPI / dpi)
    if scale < 1.0:
        size = (max(round(w * scale), 1), max(round(h * scale), 1))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    wdpi = dpi * scale
    h, w = grey.shape
    # the paper: ~1.4 mm blocks, then the lightest within ~10 mm (7 blocks): text never fills
    # that much, line spacing leaves paper between the lines
    block = max(round(1.4 * wdpi / MM_PER_INCH), 1)
    small = cv2.resize(grey, (max(w // block, 1), max(h // block, 1)), interpolation=cv2.INTER_AREA)
    small = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
    limit = cv2.resize(
        cv2.convertScaleAbs(small, alpha=1.0 - INK_DARKNESS), (w, h), interpolation=cv2.INTER_LINEAR
    )
    return _Ink(cv2.compare(grey, limit, cv2.CMP_LT), wdpi)


def _px_per_mm(dpi: float) -> float:
    return dpi / MM_PER_INCH


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels, stats) of the 8-connected components; Grana's algorithm, the fastest here."""
    _, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        mask, 8, cv2.CV_32S, cv2.CCL_GRANA
    )
    return labels, stats


# --- blank pages ----------------------------------------------------------------------------


def _ink_ratio(shape: tuple[int, int], stats: np.ndarray, dpi: float) -> float:
    h, w = shape
    x, y, bw, bh, area = (stats[1:, i] for i in range(5))
    inside = (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h)
    keep = inside & (area >= SPECK_MM2 * _px_per_mm(dpi) ** 2)
    return float(area[keep].sum()) / float(h * w)


def detect_blank(image: np.ndarray, dpi: float) -> tuple[bool, float]:
    """(blank, ink_ratio): whether the page is a blank back, and its share of non-speck ink.

    A page with any real content, however little (an empty form's printed cells, a small
    receipt on a photocopy, one line of text), is not blank.
    """
    ink = _ink(image, dpi)
    _, stats = _components(ink.mask)
    ratio = _ink_ratio(ink.mask.shape, stats, ink.dpi)
    return ratio < BLANK_INK_RATIO, ratio


# --- line direction and skew ----------------------------------------------------------------


def _points(mask: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of the ink pixels, every k-th in raster order when there are too many."""
    ys, xs = np.nonzero(mask)
    step = max(1, math.ceil(len(xs) / limit))
    return xs[::step].astype(np.float32), ys[::step].astype(np.float32)


def _spikiness(xs: np.ndarray, ys: np.ndarray, phi_deg: float) -> float:
    """How spiky the projection of the points across direction `phi_deg` is.

    Lines of direction phi (x right, y down, phi counter-clockwise on screen) have a constant
    ``x sin(phi) + y cos(phi)``; the profile is binned at 1 px and scored by the energy of its
    differences, which peaks when whole lines fall into single bins.
    """
    a = math.radians(phi_deg)
    n = xs * np.float32(math.sin(a)) + ys * np.float32(math.cos(a))
    hist = np.bincount((n - n.min()).astype(np.intp)).astype(np.float64)
    d = np.diff(hist)
    return float(d @ d)


def _search(xs, ys, centre: float, half: float, step: float) -> tuple[float, float]:
    """(direction, score) of the spikiest direction in centre +- half, to a fraction of step."""
    if len(xs) == 0:
        return centre, 0.0
    angles = np.arange(centre - half, centre + half + step / 2, step)
    scores = np.array([_spikiness(xs, ys, a) for a in angles])
    i = int(np.argmax(scores))
    best = float(angles[i])
    if 0 < i < len(angles) - 1:  # the vertex of the parabola through the best three
        s0, s1, s2 = scores[i - 1 : i + 2]
        den = s0 - 2 * s1 + s2
        if den < 0:
            best += step * 0.5 * (s0 - s2) / den
    return best, float(scores[i])


@dataclass(frozen=True, slots=True)
class _Lines:
    """The spikiest direction near horizontal and near vertical, on a coarse 50-dpi copy."""

    h_skew: float  # the skew if the lines run across the image
    v_skew: float  # the skew if they run up and down (the page turned a quarter)
    h_score: float
    v_score: float

    @property
    def sideways(self) -> bool:
        return self.v_score > self.h_score

    @property
    def strength(self) -> float:
        """How much spikier the winning family is than the other (1 = no preference)."""
        return max(self.h_score, self.v_score) / max(min(self.h_score, self.v_score), 1e-9)


def _coarse_lines(mask: np.ndarray) -> _Lines:
    size = (max(mask.shape[1] // 3, 1), max(mask.shape[0] // 3, 1))
    small = cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
    xs, ys = _points(small, 20_000)
    h_phi, h_score = _search(xs, ys, 0.0, MAX_SKEW_DEG, 1.0)
    v_phi, v_score = _search(xs, ys, 90.0, MAX_SKEW_DEG, 1.0)
    # a page turned a quarter has its lines at 90 + skew (rotations commute)
    return _Lines(h_phi, v_phi - 90.0, h_score, v_score)


def _fine_skew(mask: np.ndarray, sideways: bool, coarse: float) -> float:
    """The skew to a few hundredths of a degree, near `coarse`, on the 150-dpi ink."""
    xs, ys = _points(mask, 80_000)
    base = 90.0 if sideways else 0.0
    phi, _ = _search(xs, ys, base + coarse, 1.2, 0.2)
    phi, _ = _search(xs, ys, phi, 0.25, 0.05)
    return phi - base


def _deskewed(mask: np.ndarray, skew_deg: float) -> np.ndarray:
    h, w = mask.shape
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), -skew_deg, 1.0)
    return cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)


# --- which way up: glyph shapes -------------------------------------------------------------

_GLYPHS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789<"
# Fonts the project installs (scripts/setup.sh): sans, serif and monospaced designs; a
# missing one is skipped. OpenCV's Hershey fonts are always there.
_FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",
    "LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf", "LiberationSerif-Regular.ttf",
    "LiberationMono-Regular.ttf",
)  # fmt: skip
_FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
_HERSHEY = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX)
_PATCH = 12  # glyphs are compared as 12 x 12 area-averaged patches of their tight box
# Character-sized components (mm): the longer side of 5-pt small print to 16-pt titles;
# thinner ones (I, l, 1, -) carry no direction, larger ones are boxes, photos, stamps.
_CHAR_MM = (1.2, 6.0)
_CHAR_MIN_ASPECT = 0.3  # shorter side / longer side
_MAX_CHARS = 400  # plenty of votes for any page; bounds the time spent on dense pages
# A glyph votes for a quarter turn when its best match under that turn beats its best match
# under every other turn by this much correlation.
_GLYPH_MARGIN = 0.05


def _patch(glyph: np.ndarray) -> np.ndarray:
    """A glyph's tight box as a zero-mean, unit-norm vector of _PATCH x _PATCH."""
    v = cv2.resize(glyph.astype(np.float32), (_PATCH, _PATCH), interpolation=cv2.INTER_AREA)
    v = v.ravel() - v.mean()
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def _tight(canvas: np.ndarray) -> np.ndarray | None:
    ys, xs = np.nonzero(canvas)
    if len(xs) == 0:
        return None
    return canvas[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.uint8)


def _font_paths() -> list[Path]:
    found: dict[str, Path] = {}
    for d in _FONT_DIRS:
        if d.is_dir():
            for p in sorted(d.rglob("*.ttf")):
                found.setdefault(p.name, p)
    return [found[name] for name in _FONT_FILES if name in found]


@cache
def _references() -> np.ndarray:
    """(4, n, _PATCH**2): the reference glyphs turned clockwise by 0, 90, 180, 270 degrees."""
    glyphs = []
    fonts = _font_paths()
    if not fonts:
        log.warning("none of %s found: reference glyphs from the Hershey fonts only", _FONT_FILES)
    for path in fonts:
        font = ImageFont.truetype(str(path), 48)
        for ch in _GLYPHS:
            canvas = Image.new("L", (96, 96), 0)
            ImageDraw.Draw(canvas).text((16, 8), ch, font=font, fill=255)
            if (g := _tight(np.asarray(canvas) > 127)) is not None:
                glyphs.append(g)
    for face in _HERSHEY:
        for ch in _GLYPHS:
            canvas = np.zeros((96, 96), np.uint8)
            cv2.putText(canvas, ch, (16, 64), face, 1.5, 255, 4, cv2.LINE_AA)
            if (g := _tight(canvas > 127)) is not None:
                glyphs.append(g)
    turns = (None, cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_180, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return np.stack([
        np.stack([_patch(g if t is None else cv2.rotate(g, t)) for g in glyphs]) for t in turns
    ]).astype(np.float32)  # fmt: skip


def _char_indices(stats: np.ndarray, dpi: float) -> np.ndarray:
    """Labels of the character-sized components."""
    mm = _px_per_mm(dpi)
    bw, bh, area = stats[:, 2], stats[:, 3], stats[:, 4]
    long_, short = np.maximum(bw, bh), np.minimum(bw, bh)
    keep = (
        (long_ >= _CHAR_MM[0] * mm)
        & (long_ <= _CHAR_MM[1] * mm)
        & (short >= _CHAR_MIN_ASPECT * long_)
        & (area >= SPECK_MM2 * mm * mm)
    )
    keep[0] = False  # the background
    return np.flatnonzero(keep)


def _glyph_votes(labels: np.ndarray, stats: np.ndarray, chars: np.ndarray) -> tuple[int, ...]:
    """Votes for each quarter turn (0, 90, 180, 270) from the shapes of the components."""
    if len(chars) > _MAX_CHARS:  # an even spread over the page
        chars = chars[np.linspace(0, len(chars) - 1, _MAX_CHARS).astype(np.intp)]
    if len(chars) == 0:
        return (0, 0, 0, 0)
    patches = np.stack([
        _patch(labels[y : y + h, x : x + w] == i)
        for i, (x, y, w, h) in zip(chars, stats[chars, :4], strict=True)
    ]).astype(np.float32)  # fmt: skip
    refs = _references()
    # cv2.gemm, not numpy's matmul: OpenBLAS spreads a product this size over every core and
    # its spinning threads cost 10 times the work when pages are read in parallel processes
    scores = cv2.gemm(patches, refs.reshape(-1, refs.shape[2]), 1.0, None, 0.0,
                      flags=cv2.GEMM_2_T)  # fmt: skip
    best = scores.reshape(len(patches), 4, refs.shape[1]).max(axis=2)
    ranked = np.sort(best, axis=1)
    decisive = ranked[:, -1] - ranked[:, -2] >= _GLYPH_MARGIN
    votes = np.bincount(np.argmax(best[decisive], axis=1), minlength=4)
    return tuple(int(v) for v in votes)


# --- which way up: ascenders and descenders -------------------------------------------------

_WORD_GAP_MM = 1.6  # characters closer than this along a line belong to one line segment
_POKE = 0.3  # of a segment's x-height: how far a top (bottom) must stick out to count


def _poke_votes(
    labels: np.ndarray, stats: np.ndarray, chars: np.ndarray, dpi: float, sideways: bool
) -> tuple[int, int]:
    """(ascenders, descenders) along text lines running across (or, sideways, up and down).

    Sideways, the content is taken as turned a quarter clockwise: its top is the image's
    right, so a character's top is its right edge.
    """
    if len(chars) == 0:
        return 0, 0
    keep = np.zeros(len(stats), np.uint8)
    keep[chars] = 255
    gap = max(round(_WORD_GAP_MM * _px_per_mm(dpi)), 1)
    kernel = np.ones((gap, 1) if sideways else (1, gap), np.uint8)
    _, segments = cv2.connectedComponentsWithAlgorithm(
        cv2.dilate(np.take(keep, labels), kernel), 8, cv2.CV_32S, cv2.CCL_GRANA
    )
    # a component's top row holds one of its pixels: that pixel's segment is the character's
    segment_of = np.empty(len(chars), np.int32)
    for k, (i, (x, y, w)) in enumerate(zip(chars, stats[chars, :3], strict=True)):
        segment_of[k] = segments[y, x + int(np.argmax(labels[y, x : x + w] == i))]
    by_segment = np.argsort(segment_of, kind="stable")
    order = chars[by_segment]
    x, y, w, h = (stats[order, i].astype(np.float64) for i in range(4))
    tops, bottoms = (-(x + w), -x) if sideways else (y, y + h)
    cuts = np.flatnonzero(np.diff(segment_of[by_segment])) + 1
    asc = desc = 0
    for t, b in zip(np.split(tops, cuts), np.split(bottoms, cuts), strict=True):
        if len(t) < 3:
            continue
        mt, mb = np.median(t), np.median(b)
        if mb - mt < 3:  # too small to tell a poke from a pixel of noise
            continue
        d = max(_POKE * (mb - mt), 1.5)
        asc += int(np.count_nonzero(t < mt - d))
        desc += int(np.count_nonzero(b > mb + d))
    return asc, desc


# --- the decision ---------------------------------------------------------------------------

# Components thicker than this both ways and inked over more than _PICTURE_FILL of their box
# are pictures (photos, drawings, logos): their outlines follow no line of print, so the skew
# is measured without them. Frames and ruled tables, as big but nearly empty, stay in.
_PICTURE_MM = 8.0
_PICTURE_FILL = 0.15
# The axis (lines across or up and down) is decided by the sum of two log-odds: the log of
# the glyph votes' ratio between the axes, weighed by their number up to this many, and the
# log of the projection profiles' ratio. On the kit's pages the right axis gets 2.8 times the
# glyph votes or more (80 votes or more), while a form page's profiles prefer the wrong axis
# by up to 1.3 times (its comb cells line up in columns as well as rows); on a page of
# drawings with a few short captions (deskew-8) the profiles are right by 6 times and a few
# dozen glyph votes are not.
_AXIS_FULL_VOTES = 50


def _line_ink(mask: np.ndarray, labels: np.ndarray, stats: np.ndarray, dpi: float) -> np.ndarray:
    """The ink of everything but specks and pictures; all the ink if nothing else is left."""
    mm = _px_per_mm(dpi)
    bw, bh, area = stats[:, 2], stats[:, 3], stats[:, 4]
    picture = (np.minimum(bw, bh) > _PICTURE_MM * mm) & (area > _PICTURE_FILL * bw * bh)
    keep = ~picture & (area >= SPECK_MM2 * mm * mm)
    keep[0] = False
    if not keep.any():
        return mask
    return np.take(np.where(keep, np.uint8(255), np.uint8(0)), labels)


@dataclass(frozen=True, slots=True)
class _Evidence:
    skew_deg: float
    sideways: bool  # the printed lines run up and down
    axis_log_odds: float  # > 0: sideways
    lines: _Lines
    glyphs: tuple[int, ...]  # votes for 0, 90, 180, 270
    pokes: tuple[int, int]  # ascenders, descenders along the chosen axis


@dataclass(frozen=True, slots=True)
class Survey:
    """The first look at a page: its ink and ink share and, for a page with ink, the printed
    lines' directions. `level` and `orientation` decide from it."""

    ink: _Ink
    ink_ratio: float
    lined: np.ndarray | None = None  # the ink without specks and pictures
    lines: _Lines | None = None

    @property
    def blank(self) -> bool:
        return self.ink_ratio < BLANK_INK_RATIO


def survey(image: np.ndarray, dpi: float) -> Survey:
    """Ink, components and ink share of a page; the coarse line directions unless blank."""
    ink = _ink(image, dpi)
    labels, stats = _components(ink.mask)
    ratio = _ink_ratio(ink.mask.shape, stats, ink.dpi)
    if ratio < BLANK_INK_RATIO:
        return Survey(ink, ratio)
    lined = _line_ink(ink.mask, labels, stats, ink.dpi)
    return Survey(ink, ratio, lined, _coarse_lines(lined))


def level(s: Survey) -> Orientation:
    """The page taken as upright (rotation 0, confidence 0): only its skew, measured along
    the lines that run across it, as `orientation` measures it when it finds rotation 0 or
    180. The pipeline tries this first: a page that then registers to the form model is
    upright, and the glyph and poke votes (the rest of the cost) are not needed. For a page
    with ink (`Survey.blank` false)."""
    skew = _fine_skew(s.lined, False, s.lines.h_skew)
    return Orientation(0, round(float(skew), 3), 0.0, False, s.ink_ratio)


def _evidence(s: Survey, level_skew: float | None = None) -> _Evidence:
    """Everything the decision needs, from a page's survey (not blank); `level_skew`: what
    `level` measured, the fine skew when the lines run across the page."""
    ink, lined, lines = s.ink, s.lined, s.lines
    # the coarse skew (within a few tenths of a degree) is plenty for shapes and pokes
    level = _deskewed(ink.mask, lines.v_skew if lines.sideways else lines.h_skew)
    labels, stats = _components(level)
    chars = _char_indices(stats, ink.dpi)
    glyphs = _glyph_votes(labels, stats, chars)
    across, upright = glyphs[0] + glyphs[2], glyphs[1] + glyphs[3]
    trust = min(1.0, (across + upright) / _AXIS_FULL_VOTES)
    log_odds = math.log((upright + 1) / (across + 1)) * trust + math.log(lines.strength) * (
        1 if lines.sideways else -1
    )
    sideways = log_odds > 0
    skew = level_skew if level_skew is not None and not sideways else \
        _fine_skew(lined, sideways, lines.v_skew if sideways else lines.h_skew)
    pokes = _poke_votes(labels, stats, chars, ink.dpi, sideways)
    return _Evidence(skew, sideways, log_odds, lines, glyphs, pokes)


def _decide(ev: _Evidence, ink_ratio: float) -> Orientation:
    g = ev.glyphs
    asc, desc = ev.pokes
    if ev.sideways:
        up, down, rotation = g[1] + asc, g[3] + desc, (90, 270)
    else:
        up, down, rotation = g[0] + asc, g[2] + desc, (0, 180)
    votes = up + down
    end_conf = abs(up - down) / votes * min(1.0, votes / 20) if votes else 0.0
    axis_conf = min(1.0, abs(ev.axis_log_odds))
    return Orientation(
        rotation=rotation[0] if up >= down else rotation[1],
        skew_deg=round(float(ev.skew_deg), 3),
        confidence=round(float(min(end_conf, axis_conf)), 3),
        blank=False,
        ink_ratio=ink_ratio,
    )


def orientation(s: Survey, level_skew: float | None = None) -> Orientation:
    """The page's quarter turn and skew from its survey (see the module docstring);
    `level_skew`: `level`'s answer when the caller has it (not measured again)."""
    if s.blank:
        return Orientation(0, 0.0, 1.0, True, s.ink_ratio)
    ev = _evidence(s, level_skew)
    log.debug("orientation evidence: %s", ev)
    return _decide(ev, s.ink_ratio)


def detect_orientation(image: np.ndarray, dpi: float) -> Orientation:
    """The page's quarter turn, skew, blankness and ink share (see the module docstring).

    A blank page comes back with rotation 0, skew 0 and `blank` set: it has nothing to orient.
    """
    return orientation(survey(image, dpi))


# --- the upright page -----------------------------------------------------------------------

_UNDO_TURN = {
    90: cv2.ROTATE_90_COUNTERCLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_CLOCKWISE,
}


def _is_bitonal(grey: np.ndarray) -> bool:
    return cv2.countNonZero(cv2.inRange(grey, 1, 254)) == 0


def normalise_page(image: np.ndarray, orientation: Orientation) -> np.ndarray:
    """The page upright and deskewed, as a new array.

    The quarter turn is undone exactly (a sideways A4 scan comes back portrait), then the skew
    is rotated away about the page centre, keeping the upright page's size and filling the
    uncovered corners with white. A bitonal page (only 0 and 255) stays bitonal.
    """
    if orientation.rotation not in ROTATIONS:
        raise ValueError(f"rotation={orientation.rotation}: one of {ROTATIONS}")
    _as_grey(image)  # validates
    page = cv2.rotate(image, _UNDO_TURN[orientation.rotation]) if orientation.rotation else image
    if abs(orientation.skew_deg) < 1e-3:
        return page.copy() if page is image else page
    h, w = page.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), -orientation.skew_deg, 1.0)
    white = (255,) * (page.shape[2] if page.ndim == 3 else 1)
    out = cv2.warpAffine(
        page, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=white
    )
    if page.ndim == 2 and _is_bitonal(page):
        out = cv2.compare(out, 128, cv2.CMP_GE)  # 0 / 255 again
    return out


# --- benchmark ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BenchSample:
    """A page with what is known about it; None where the truth does not say."""

    name: str
    image: np.ndarray
    dpi: float
    rotation: int | None
    skew_deg: float | None
    blank: bool = False


@dataclass(frozen=True, slots=True)
class BenchRow:
    name: str
    dpi: float
    rotation: int | None
    found_rotation: int
    skew_deg: float | None
    found_skew_deg: float
    blank: bool
    found_blank: bool
    confidence: float
    ms: float  # wall-clock time of detect_orientation
    cpu_ms: float  # processor time of this process meanwhile (all its threads)

    @property
    def rotation_ok(self) -> bool | None:
        return None if self.rotation is None or self.blank else self.rotation == self.found_rotation

    @property
    def skew_error_deg(self) -> float | None:
        if self.skew_deg is None or self.blank:
            return None
        return abs(self.found_skew_deg - self.skew_deg)

    @property
    def blank_ok(self) -> bool:
        return self.blank == self.found_blank


def bench_orientation(source: Path | Iterable[BenchSample]) -> list[BenchRow]:
    """Run `detect_orientation` on each sample: what it found, its errors, its time.

    `source` is either samples or the real-data folder of skewed scans (``realdata/skew``,
    read by `realdata_samples`). The reference glyphs are built before the first timing, so
    the times are the per-page cost; `cpu_ms` is what to compare on a busy machine, where
    wall time includes waiting.
    """
    samples = realdata_samples(source) if isinstance(source, Path) else source
    _references()
    rows = []
    for s in samples:
        t0, c0 = time.perf_counter(), time.process_time()
        o = detect_orientation(s.image, s.dpi)
        ms, cpu_ms = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
        rows.append(BenchRow(s.name, s.dpi, s.rotation, o.rotation, s.skew_deg, o.skew_deg,
                             s.blank, o.blank, o.confidence, ms, cpu_ms))  # fmt: skip
    return rows


def format_bench(rows: Iterable[BenchRow]) -> str:
    """The rows as a plain-text table, one line per page, and a summary line."""
    rows = list(rows)

    def opt(v: float | int | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    lines = [f"{'page':<28}{'dpi':>5}{'turn':>6}{'found':>6}{'skew':>8}{'found':>8}"
             f"{'error':>7}{'blank':>7}{'conf':>6}{'ms':>7}"]  # fmt: skip
    for r in rows:
        blank = ("yes" if r.found_blank else "no") + ("" if r.blank_ok else "!")
        lines.append(
            f"{r.name[:27]:<28}{r.dpi:>5.0f}{opt(r.rotation, 'd'):>6}{r.found_rotation:>6}"
            f"{opt(r.skew_deg, '.3f'):>8}{r.found_skew_deg:>8.3f}{opt(r.skew_error_deg, '.3f'):>7}"
            f"{blank:>7}{r.confidence:>6.2f}{r.ms:>7.1f}"
        )
    t = summarise_bench(rows)
    lines.append(
        f"orientation: {t.rotation_checked - t.rotation_wrong}/{t.rotation_checked} right; "
        f"skew error median {opt(t.skew_median_error_deg, '.3f')}, "
        f"max {opt(t.skew_max_error_deg, '.3f')} deg over {t.skew_checked}; "
        f"blank wrong {t.blank_wrong}; {t.ms_median:.0f} ms/page median "
        f"({t.cpu_ms_median:.0f} ms processor)"
    )
    return "\n".join(lines)


# The real skewed scans of shared/realdata/skew (see its README). The deskew images carry no
# resolution, or a wrong one: it is their width over the paper's (A4 8.27 in; deskew-6 is US
# letter, deskew-5 a 210 mm payment slip, deskew-7 an 80 mm till receipt).
_DESKEW_PAPER_WIDTH_IN = {
    "deskew-1.png": 8.27, "deskew-2.png": 8.27, "deskew-3.png": 8.27, "deskew-4.png": 8.27,
    "deskew-5.png": 210 / MM_PER_INCH, "deskew-6.png": 8.5, "deskew-7.png": 80 / MM_PER_INCH,
    "deskew-8.png": 8.27,
}  # fmt: skip
_PDF_DPI = 200


def realdata_samples(folder: Path) -> list[BenchSample]:
    """The real skewed scans in `folder` (``realdata/skew``) with their truth, our conventions.

    ``deskew/expected_angles.csv`` holds the deskew project's correction angles (rotate the
    image counter-clockwise by it), the opposite of `Orientation.skew_deg`, in whole degrees;
    the pages are upright. ``ocrmypdf/orientation_skew_groundtruth.csv`` gives each PDF page's
    content turn and the angle of the image in its content stream (counter-clockwise); pages
    are rendered at 200 dpi by pdfium, which applies /Rotate (a clockwise display turn).
    """
    from pipeline.errors import InputError, InputNotFoundError  # the bench's only use

    deskew, ocrmypdf = folder / "deskew", folder / "ocrmypdf"
    if not deskew.is_dir() or not ocrmypdf.is_dir():
        raise InputNotFoundError(f"{folder}: no deskew/ and ocrmypdf/ folders of skewed scans")
    samples = []
    with (deskew / "expected_angles.csv").open(newline="") as f:
        for rec in csv.DictReader(f):
            name = rec["file"]
            if name not in _DESKEW_PAPER_WIDTH_IN:
                raise InputError(f"{deskew / name}: unknown paper size")
            image = cv2.imread(str(deskew / name), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise InputError(f"{deskew / name}: not an image OpenCV can read")
            dpi = image.shape[1] / _DESKEW_PAPER_WIDTH_IN[name]
            samples.append(BenchSample(name, image, dpi, 0, -float(rec["expected_angle_deg"])))
    with (ocrmypdf / "orientation_skew_groundtruth.csv").open(newline="") as f:
        for rec in csv.DictReader(f):
            path = ocrmypdf / Path(rec["file"]).name
            rotation, skew = _ocrmypdf_truth(rec)
            image = _render_pdf_page(path, int(rec["page"]) - 1, _PDF_DPI)
            samples.append(BenchSample(f"{path.name} p{rec['page']}", image, _PDF_DPI, rotation,
                                       skew))  # fmt: skip
    return samples


def _ocrmypdf_truth(rec: dict[str, str]) -> tuple[int, float]:
    """(rotation, skew_deg) of a rendered page from the ground-truth CSV's wording: either
    "<turn> ..." and "<skew> ...", or a /Rotate page attribute with the content stream's
    "cm angle <a>" (the renderer's clockwise display turn cancels 90 of it)."""
    from pipeline.errors import InputError

    turn, skew = rec["content_rotation"], rec["skew_deg"]
    if turn.startswith("/Rotate"):
        display = int(re.search(r"/Rotate (\d+)", turn).group(1))  # type: ignore[union-attr]
        cm = re.search(r"cm angle (-?[\d.]+)", skew)
        if cm is None:
            raise InputError(f"{rec['file']}: no cm angle in {skew!r}")
        total = float(cm.group(1)) - display  # counter-clockwise, as displayed
        rotation = round(-total / 90) % 4 * 90  # clockwise quarter turns
        return rotation, total + rotation
    m_turn, m_skew = re.match(r"(\d+)", turn), re.match(r"(-?[\d.]+)", skew)
    if m_turn is None or m_skew is None:
        raise InputError(f"{rec['file']}: cannot read {turn!r} / {skew!r}")
    return int(m_turn.group(1)), float(m_skew.group(1))


def _render_pdf_page(path: Path, index: int, dpi: int) -> np.ndarray:
    pdf = pdfium.PdfDocument(path)
    try:
        bitmap = pdf[index].render(scale=dpi / 72, grayscale=True)
        return np.array(bitmap.to_numpy(), dtype=np.uint8)
    finally:
        pdf.close()


@dataclass(frozen=True, slots=True)
class BenchSummary:
    pages: int
    rotation_checked: int
    rotation_wrong: int
    skew_checked: int
    skew_median_error_deg: float | None
    skew_max_error_deg: float | None
    blank_wrong: int
    ms_median: float
    ms_max: float
    cpu_ms_median: float


def summarise_bench(rows: Sequence[BenchRow]) -> BenchSummary:
    """Totals of `bench_orientation` rows, for a report line."""
    rot = [r.rotation_ok for r in rows if r.rotation_ok is not None]
    skew = [e for r in rows if (e := r.skew_error_deg) is not None]
    ms = [r.ms for r in rows]
    cpu = [r.cpu_ms for r in rows]
    return BenchSummary(
        pages=len(rows),
        rotation_checked=len(rot),
        rotation_wrong=rot.count(False),
        skew_checked=len(skew),
        skew_median_error_deg=float(np.median(skew)) if skew else None,
        skew_max_error_deg=max(skew) if skew else None,
        blank_wrong=sum(not r.blank_ok for r in rows),
        ms_median=float(np.median(ms)) if ms else 0.0,
        ms_max=max(ms, default=0.0),
        cpu_ms_median=float(np.median(cpu)) if cpu else 0.0,
    )
