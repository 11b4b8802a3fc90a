"""Which way up a page is (step 4 of `extractors.orient`): votes for each quarter turn from
the shapes of character-sized components matched against reference glyphs, and votes for
either end of the text lines from ascenders and descenders."""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from extractors.orient_ink import SPECK_MM2, _px_per_mm

log = logging.getLogger(__name__)

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
