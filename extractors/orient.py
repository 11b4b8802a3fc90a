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

Steps 1 and 2 are `extractors.orient_ink` (with `detect_blank`), step 3
`extractors.orient_skew`, step 4's votes `extractors.orient_votes`; this module surveys a
page, decides from them (`survey`, `level`, `orientation`, `detect_orientation`) and turns
the page upright (`normalise_page`). `extractors.orient_bench` measures it on pages whose
truth is known.

Tesseract's OSD was measured on the kit's pages and is not used: 0.4-1.7 s a page, and wrong
on most form pages (the comb cells read as glyphs) and on the card copies.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from extractors.orient_ink import (
    BLANK_INK_RATIO,
    SPECK_MM2,
    _as_grey,
    _components,
    _Ink,
    _ink,
    _ink_ratio,
    _px_per_mm,
)
from extractors.orient_skew import _coarse_lines, _deskewed, _fine_skew, _Lines
from extractors.orient_votes import _char_indices, _glyph_votes, _poke_votes

log = logging.getLogger(__name__)

ROTATIONS = (0, 90, 180, 270)


@dataclass(frozen=True, slots=True)
class Orientation:
    """How a scanned page lies; see the module docstring for the conventions."""

    rotation: int  # 0/90/180/270: the clockwise quarter turn the content has
    skew_deg: float  # positive = content turned counter-clockwise on screen
    confidence: float  # 0..1: the weaker of the axis and the which-way-up evidence
    blank: bool
    ink_ratio: float  # share of the page covered by non-speck ink


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
