"""A scanned page's ink and blank backs (steps 1 and 2 of `extractors.orient`): ink is what
is clearly darker than the locally estimated paper; a page is blank when its ink, specks and
scanner edges left out, covers almost nothing of it (`detect_blank`)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MM_PER_INCH = 25.4
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
