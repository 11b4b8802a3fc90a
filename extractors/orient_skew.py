"""The direction of a page's printed lines and its fine skew (step 3 of `extractors.orient`):
projection profiles of the ink, searched near horizontal and near vertical on a coarse copy,
then refined near the best direction."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# Largest skew searched: a badly fed ADF sheet reaches about 4 degrees, a copy laid on the
# glass by hand more; the real test scans go to 15.
MAX_SKEW_DEG = 16.0


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
