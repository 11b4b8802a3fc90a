"""Recognise form pages by their printed cell grid and register them on their template.

The cell grid of MOD.209 is fixed by the official form, so it identifies a page without
relying on any mark only our rendition prints. On an upright, deskewed page we detect the
printed boxes (comb cells and check boxes: 13.174 x 18.844 pt), match them against every page
template of the form model, and keep the template whose cells the detected boxes explain
best. Boxes and cells are paired by a vote over translations and the scan's scale (0.96 to
1.04: see `_vote_similarity` for the page one block of comb rows off that a translation-only
vote gave). The matched pairs give an affine map from template points to page pixels; `warp` then
resamples the page onto the template, so that model point (x, y) sits at pixel
(x * dpi / 72, y * dpi / 72).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from pipeline.form import load_form_model

log = logging.getLogger(__name__)

# Detection works at this resolution whatever the scan's: cells are 27 x 39 px, plenty.
WORK_DPI = 150
CELL_W_PT, CELL_H_PT = 13.174, 18.844
# A template explains a page when at least this share of cells match (F1 of detected boxes
# against template cells). Filled pages lose some boxes to ink crossing their borders.
MIN_SCORE = 0.45
MATCH_TOL_PT = 3.0
# Scales a scan may have (feed rollers, fit-to-page): the vote tries each, 1% apart, so the
# best is within 0.5% (2 pt at the page's edge from its centre: half a vote bin).
SCALES = np.linspace(0.96, 1.04, 9)
PAGE_CENTRE_PT = np.array([595 / 2, 842 / 2])


@dataclass(frozen=True, slots=True)
class Registration:
    """Where a page's template lies on the page."""

    page: str  # m1p1 ... m2p3
    score: float  # F1 of template outlines found on the page and detected boxes explained
    matched: int
    detected: int
    matrix: tuple[tuple[float, ...], ...]  # 2x3 affine: template points -> page pixels
    residual_pt: float  # RMS distance of matched cell centres after the fit

    def as_array(self) -> np.ndarray:
        return np.array(self.matrix, dtype=np.float64)


@cache
def _templates() -> tuple[tuple[str, np.ndarray], ...]:
    """Centres (points) of every printed box of every page, cells and option boxes alike."""
    out = []
    for page in load_form_model().pages:
        centres = [(c.x + c.w / 2, c.y + c.h / 2) for f in page.fields for c in f.cells
                   if abs(c.w - CELL_W_PT) < 2 and abs(c.h - CELL_H_PT) < 2.5]
        out.append((page.name, np.array(centres, dtype=np.float64)))
    return tuple(out)


def _binary(image: np.ndarray, dpi: int) -> np.ndarray:
    """Ink mask at WORK_DPI, with the thin printed lines that bitonal scans break mended."""
    scale = WORK_DPI / dpi
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    binary = cv2.adaptiveThreshold(small, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV,
                                   31, 12)
    return cv2.morphologyEx(binary, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))


def detect_boxes(image: np.ndarray, dpi: int, binary: np.ndarray | None = None) -> np.ndarray:
    """Centres, in points, of the cell-sized boxes printed on an upright page."""
    if binary is None:
        binary = _binary(image, dpi)
    # outer contours only: one per printed box (a box's inner edge would be a second one)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    px_per_pt = WORK_DPI / 72.0
    w_exp, h_exp = CELL_W_PT * px_per_pt, CELL_H_PT * px_per_pt
    centres = []
    for c in contours:
        x, y, w, h = cv2.boundingRect(c)
        if not (0.75 * w_exp < w < 1.3 * w_exp and 0.75 * h_exp < h < 1.3 * h_exp):
            continue
        if cv2.contourArea(c) < 0.6 * w * h:  # a box outline, not a letter's stroke
            continue
        centres.append(((x + w / 2) / px_per_pt, (y + h / 2) / px_per_pt))
    if not centres:
        return np.zeros((0, 2))
    return np.array(centres)


def _vote_similarity(det: np.ndarray, tmpl: np.ndarray, bin_pt: float = 4.0, lim: float = 60.0
                 ) -> tuple[np.ndarray, int]:
    """The similarity (scale and translation, template -> page points) most detected boxes
    agree on, as a 2x3 matrix, and their number.

    Each (detected box, template cell) pair votes for the translation that would put the cell
    on the box, at each scale of SCALES about the page centre. Voting for a translation alone
    fails on scans that are also scaled: at 1.019 (the generator's scanner draws 0.98-1.02)
    the translation drifts by 0.019 x 700 pt = 13 pt from the top cells to the bottom ones,
    over 3-4 of the 4 pt bins, so the true peak is split (45 of 204 boxes in the best bin of
    seed 7300's kit 4, page 1) and ties with a false one: Cognome, Nome and Comune are blocks
    of comb rows 60.15 and 61.27 pt apart, so a fit one block low (Cognome cells on Nome's,
    Nome's on Comune's, 43 votes) can win, and `_unshift`, which walks whole cells and rows
    (17.0, 23.9 pt), cannot walk back from it. At the page's scale all 204 boxes vote for
    one bin; the other scales' peaks stay split. Cost: the vote 5.6 -> 5.3 ms a page (all
    templates; 40 form pages of seed 7500 on the shared 2-core machine, register() median
    60.9 -> 59.8 ms), as only pairs within reach at some scale are binned.
    """
    # in bin units, centred on the page
    dc, tc = (det - PAGE_CENTRE_PT) / bin_pt, (tmpl - PAGE_CENTRE_PT) / bin_pt
    lim_b = lim / bin_pt
    dx = dc[:, None, 0] - tc[None, :, 0]
    dy = dc[:, None, 1] - tc[None, :, 1]
    # only pairs within reach at some scale
    reach = lim_b + np.abs(SCALES - 1).max() * np.abs(tc).max(axis=0)
    di, ti = np.nonzero((np.abs(dx) < reach[0]) & (np.abs(dy) < reach[1]))
    s1 = (SCALES - 1)[:, None]
    qx = dx[di, ti][None] - s1 * tc[ti, 0][None]  # (scale, pair)
    qy = dy[di, ti][None] - s1 * tc[ti, 1][None]
    ok = (np.abs(qx) < lim_b) & (np.abs(qy) < lim_b)
    if not ok.any():
        return np.eye(2, 3), 0
    span = int(lim_b) + 1
    n = 2 * span + 1
    kx, ky = np.rint(qx).astype(np.int64) + span, np.rint(qy).astype(np.int64) + span
    flat = ((np.arange(len(SCALES))[:, None] * n + kx) * n + ky)[ok]
    counts = np.bincount(flat)
    best = int(np.argmax(counts))
    sel = flat == best
    scale = float(SCALES[best // (n * n)])
    shift = np.array([qx[ok][sel].mean(), qy[ok][sel].mean()]) * bin_pt
    shift += PAGE_CENTRE_PT * (1 - scale)
    return np.array([[scale, 0.0, shift[0]], [0.0, scale, shift[1]]]), int(counts[best])


def _match(det: np.ndarray, mapped: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-neighbour pairs (template index, detected index) within tol points: each
    template cell's nearest box, one template cell per box (the nearest; on a tie the first),
    in the order the boxes are first reached."""
    dx = mapped[:, None, 0] - det[None, :, 0]
    dy = mapped[:, None, 1] - det[None, :, 1]
    d2 = dx * dx + dy * dy  # squared: the same order as the distances, without the roots
    ti = np.arange(len(mapped))
    di = d2.argmin(axis=1)
    ok = d2[ti, di] < tol * tol
    t_ok, d_ok = ti[ok], di[ok]
    if not len(t_ok):
        return np.zeros(0, int), np.zeros(0, int)
    best = np.lexsort((t_ok, d2[t_ok, d_ok], d_ok))  # by box, then distance, then cell
    first = np.r_[True, d_ok[best][1:] != d_ok[best][:-1]]
    keep = best[first]  # per box its nearest cell
    boxes, reached = np.unique(d_ok, return_index=True)
    order = np.argsort(reached[np.searchsorted(boxes, d_ok[keep])], kind="stable")
    keep = keep[order]
    return t_ok[keep], d_ok[keep]


def _fit(det: np.ndarray, tmpl: np.ndarray) -> tuple[np.ndarray, int, float] | None:
    m, votes = _vote_similarity(det, tmpl)
    if votes < 8:
        return None
    t_idx = d_idx = np.zeros(0, int)
    for tol in (8.0, 5.0, MATCH_TOL_PT, MATCH_TOL_PT):
        mapped = tmpl @ m[:, :2].T + m[:, 2]
        t_idx, d_idx = _match(det, mapped, tol)
        if len(t_idx) < 6:
            return None
        est, _ = cv2.estimateAffinePartial2D(tmpl[t_idx], det[d_idx], method=cv2.LMEDS)
        if est is None:
            return None
        m = est
    mapped = tmpl[t_idx] @ m[:, :2].T + m[:, 2]
    residual = float(np.sqrt(np.mean(np.sum((mapped - det[d_idx]) ** 2, axis=1))))
    return m, len(t_idx), residual


def _outline_mask(binary: np.ndarray) -> np.ndarray:
    """The ink mask dilated by one pixel, to absorb a fit's residual (`_outline_share`):
    made once per page, not once per fit tried."""
    return cv2.dilate(binary, np.ones((3, 3), np.uint8)) > 0


def _outline_share(mask: np.ndarray, tmpl: np.ndarray, m: np.ndarray) -> float:
    """Share of template cells whose printed outline is really on the page.

    Each cell's four edges are sampled (12 points each) in `mask` (`_outline_mask`); an
    outline counts when 70% of its samples are ink. This checks the template against the
    page, where box detection alone cannot tell a page from another whose cells are a subset
    of it (Modulo 1 pages 7 and 8).
    """
    px = WORK_DPI / 72.0
    t = np.linspace(-0.5, 0.5, 12)
    hw, hh = CELL_W_PT / 2, CELL_H_PT / 2
    offsets = np.concatenate([
        np.stack([t * CELL_W_PT, np.full(12, -hh)], 1), np.stack([t * CELL_W_PT, np.full(12, hh)], 1),
        np.stack([np.full(12, -hw), t * CELL_H_PT], 1), np.stack([np.full(12, hw), t * CELL_H_PT], 1),
    ])
    pts = tmpl[:, None, :] + offsets[None, :, :]
    mapped = (pts @ m[:, :2].T + m[:, 2]) * px
    xs = np.clip(np.round(mapped[..., 0]).astype(int), 0, mask.shape[1] - 1)
    ys = np.clip(np.round(mapped[..., 1]).astype(int), 0, mask.shape[0] - 1)
    present = mask[ys, xs].mean(axis=1) >= 0.7
    return float(present.mean())


def _unshift(mask: np.ndarray, det: np.ndarray, tmpl: np.ndarray, m: np.ndarray
             ) -> tuple[np.ndarray, int, float]:
    """Settle the fit on the right cell: comb rows repeat every pitch, so a fit one cell (or
    one row) off still matches most boxes. Among the fit and its neighbours one pitch or one
    row away, keep the one whose template outlines are really on the page."""
    best = (_outline_share(mask, tmpl, m), m)
    for _ in range(4):  # a fit may be more than one cell off: walk until nothing is better
        start = best
        for dx in (-17.004, 0.0, 17.004):
            for dy in (-23.9, 0.0, 23.9):
                if dx == dy == 0.0:
                    continue
                shifted = start[1].copy()
                shifted[:, 2] += start[1][:, :2] @ np.array([dx, dy])
                share = _outline_share(mask, tmpl, shifted)
                if share > best[0] + 0.01:
                    best = (share, shifted)
        if best is start:
            break
    m = best[1]
    mapped = tmpl @ m[:, :2].T + m[:, 2]
    t_idx, d_idx = _match(det, mapped, MATCH_TOL_PT)
    if len(t_idx) >= 6:
        est, _ = cv2.estimateAffinePartial2D(tmpl[t_idx], det[d_idx], method=cv2.LMEDS)
        if est is not None:
            m = est
    mapped = tmpl[t_idx] @ m[:, :2].T + m[:, 2]
    residual = float(np.sqrt(np.mean(np.sum((mapped - det[d_idx]) ** 2, axis=1)))) if len(t_idx) else 99.0
    return m, len(t_idx), residual


def register(image: np.ndarray, dpi: int, candidates: tuple[str, ...] | None = None,
             min_score: float = MIN_SCORE) -> Registration | None:
    """The template that best explains the page's boxes, or None for a page with no form
    grid. `min_score` is lowered only where another cue (the printed footer) already names
    the page."""
    binary = _binary(image, dpi)
    det = detect_boxes(image, dpi, binary)
    if len(det) < 10:
        return None
    mask = _outline_mask(binary)
    scored = []
    for name, tmpl in _templates():
        if candidates and name not in candidates:
            continue
        fitted = _fit(det, tmpl)
        if fitted is None or fitted[1] < 0.25 * len(tmpl):
            continue
        scored.append((_score(mask, det, tmpl, fitted[0], fitted[1]), name, tmpl, fitted[0]))
    # the two likeliest templates get their fit settled (a fit one cell off scores low and
    # could lose to a page whose cells are a subset of the right one), then compete again
    best: Registration | None = None
    for _, name, tmpl, m in sorted(scored, key=lambda s: s[0], reverse=True)[:2]:
        m, matched, residual = _unshift(mask, det, tmpl, m)
        score = _score(mask, det, tmpl, m, matched)
        if best is None or score > best.score:
            to_px = m * (dpi / 72.0)  # template points -> page points -> page pixels
            best = Registration(name, score, matched, len(det),
                                tuple(tuple(float(v) for v in row) for row in to_px), residual)
    if best is None or best.score < min_score:
        log.debug("no form template explains the page (best %s)", best and best.score)
        return None
    return best


def _score(mask: np.ndarray, det: np.ndarray, tmpl: np.ndarray, m: np.ndarray,
           matched: int) -> float:
    """F1 of template outlines found on the page and detected boxes the template explains."""
    recall = _outline_share(mask, tmpl, m)
    precision = matched / len(det)
    return 2 * recall * precision / (recall + precision) if recall + precision else 0.0


def warp(image: np.ndarray, reg: Registration, dpi: int) -> np.ndarray:
    """The page resampled onto its template: model point (x, y) at pixel (x, y) * dpi / 72."""
    h = round(842 * dpi / 72)
    w = round(595 * dpi / 72)
    # reg maps template points to page pixels; template pixels are points * dpi/72
    m = reg.as_array().copy()
    m[:, :2] /= dpi / 72.0
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=255)
