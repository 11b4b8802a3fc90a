"""Comb cells as the pipeline sees them, rendered through the generator, for training and bench.

A sample is made the way a real one is: a comb field of the blank MOD.209 page (the real
printed cells, at their real sub-pixel positions, 200 or 300 dpi) is written on with the
generator's own pen (`handprint.draw_char`: Hershey strokes, writer styles, MNIST digits) or
printed with a font (`handprint.draw_typed_char`), shifted by a registration error of up to
`SHIFT_PX`, scanned with the generator's scanner (noise, blur, dust, JPEG or the bitonal
threshold) and cut with `extractors.cell_crops.cell_crop`; cells `is_filled` would not pass are
dropped, as the pipeline drops them. Train and runtime preprocessing are then the same code.

Splits (nothing the bench renders is ever trained on):

- hand: train writers are the generator's "train" catalogue numbers below `TRAIN_WRITERS`,
  validation (temperature calibration) the rest of that catalogue; the bench uses the
  "bench" catalogue (other writers, other allograph combinations, see handprint.py);
- MNIST: the "train" rows of each digit class (`handprint.mnist_rows`), the first 90% for
  training and the last 10% for validation; the bench uses the "bench" rows;
- NIST SD19 (real hand-printed digits and capitals, `sample_scans/synth/nist.py`): training
  uses the data set's "train" writers, validation its "cal" writers, the bench its "bench"
  writers (writer-disjoint);
- typed: training prints with the bold, oblique, condensed and serif faces of the same
  families and OCR-B (`TRAIN_FONTS`); the bench prints with the five faces the generator
  fills Patronato printouts with (`BENCH_FONTS`, writers.yaml), never trained on.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from extractors.cell_crops import cell_crop, is_filled
from extractors.fields import COMB_KINDS
from extractors.recognise import DIGITS, TEXT
from pipeline.form.model import Cell, Field, load_form_model
from sample_scans.synth import nist

#: Registration error a page may keep (extractors.cell_crops.SLACK_PX is 2): cells are rendered
#: shifted by up to this much on each axis.
SHIFT_PX = 2.0
#: Catalogue numbers of the generator's "train" writers used for training; the others of that
#: catalogue (up to 4000) are the validation writers.
TRAIN_WRITERS = 3600
#: The share of each digit's "train" MNIST rows used for training; the rest is validation.
MNIST_TRAIN_SHARE = 0.9
SOURCES = ("hand", "mnist", "typed", "nist")
#: NIST SD19 writers per split of this module (sample_scans/synth/nist.py): validation, which
#: fits the temperature, uses the "cal" writers; the bench the "bench" writers
NIST_SPLIT = {"train": "train", "val": "cal", "bench": "bench"}
SPLITS = ("train", "val", "bench")

_FONT_DIR = "/usr/share/fonts/truetype/"
#: Faces the typed training cells are printed with: none of them is one the generator uses.
TRAIN_FONTS = tuple(_FONT_DIR + f for f in (
    "dejavu/DejaVuSansMono-Bold.ttf", "dejavu/DejaVuSansMono-Oblique.ttf",
    "dejavu/DejaVuSans-Bold.ttf", "dejavu/DejaVuSans-Oblique.ttf",
    "dejavu/DejaVuSansCondensed.ttf", "dejavu/DejaVuSerif.ttf",
    "dejavu/DejaVuSerifCondensed.ttf", "liberation2/LiberationMono-Bold.ttf",
    "liberation2/LiberationMono-Italic.ttf", "liberation2/LiberationSans-Bold.ttf",
    "liberation2/LiberationSans-Italic.ttf", "liberation2/LiberationSerif-Regular.ttf",
    "liberation2/LiberationSerif-Bold.ttf", "noto/NotoMono-Regular.ttf",
    "noto/NotoSansMono-Bold.ttf",
)) + ("/usr/share/fonts/opentype/ocr-b/OCRB.otf",)


def bench_fonts() -> tuple[str, ...]:
    """The generator's Patronato faces (sample_scans/synth/data/writers.yaml)."""
    from sample_scans.synth import handprint

    return tuple(handprint._config()["typed"]["fonts"])


@dataclass(frozen=True, slots=True)
class Sample:
    crop: np.ndarray  # as extractors.cell_crops.cell_crop cuts it
    char: str
    source: str  # "hand" (Hershey strokes), "mnist" (a real digit), "nist" (a real digit or
    # capital), "typed"
    dpi: int
    mode: str  # "grey" | "bitonal"


@cache
def _comb_fields() -> tuple[tuple[str, int, Field], ...]:
    """Every comb field of both forms with at least 3 cells, and its page."""
    return tuple((page.form, page.number, f) for page in load_form_model().pages
                 for f in page.fields if f.kind in COMB_KINDS and len(f.cells) >= 3)


@cache
def _blank(form: str, number: int, dpi: int) -> np.ndarray:
    from pipeline.form.render import blank_page_image

    return np.asarray(blank_page_image(form, number, dpi))


def _mnist_split(split: str, digit: int) -> np.ndarray:
    from sample_scans.synth import handprint

    if split == "bench":
        return handprint.mnist_rows("bench", digit)
    rows = handprint.mnist_rows("train", digit)
    cut = round(MNIST_TRAIN_SHARE * len(rows))
    return rows[:cut] if split == "train" else rows[cut:]


def _writer(rng: np.random.Generator, split: str, source: str, augment: bool,
            mnist_warp: float = 0.0):
    """A writer of the split's catalogue; for "mnist" one whose every digit is a real MNIST
    digit of the split's rows, each distorted anew by up to `mnist_warp`
    (`handprint._warp_digit`); for "nist" one whose every digit and capital is a real glyph
    by one NIST writer of the split (`NIST_SPLIT`), distorted the same way; with `augment`
    its hand made a little wilder."""
    from sample_scans.synth import handprint

    if split == "bench":
        writer = handprint.sample_writer(rng, "bench")
    else:
        lo, hi = (0, TRAIN_WRITERS) if split == "train" else (TRAIN_WRITERS, 4000)
        writer = handprint._writer("train", int(rng.integers(lo, hi)))
    if source == "mnist":
        rows = tuple(tuple(int(r) for r in rng.choice(_mnist_split(split, d), 12, replace=False))
                     for d in range(10))
        writer = dataclasses.replace(writer, mnist_use=1.0, mnist_rows=rows)
        if mnist_warp > 0:
            writer = dataclasses.replace(writer, mnist_warp=mnist_warp * rng.uniform(0.3, 1.0))
    elif source == "nist":
        nist_split = NIST_SPLIT[split]
        writer = dataclasses.replace(
            writer, mnist_use=0.0, nist_use=1.0, nist_split=nist_split,
            nist_writer=int(rng.integers(nist.load(nist_split).n_writers)),
            nist_warp=mnist_warp * rng.uniform(0.3, 1.0) if mnist_warp > 0 else 0.0)
    elif source == "hand":
        writer = dataclasses.replace(writer, mnist_use=0.0)
    if augment:
        k = rng.uniform
        writer = dataclasses.replace(
            writer,
            elastic=writer.elastic * k(0.8, 1.8),
            stroke_jitter=writer.stroke_jitter * k(0.8, 1.5),
            jitter_rotation=writer.jitter_rotation * k(0.8, 1.6),
            jitter_offset=writer.jitter_offset * k(0.8, 1.6),
            pen_mm=float(np.clip(writer.pen_mm * k(0.75, 1.35), 0.22, 1.0)),
            size=float(np.clip(writer.size * k(0.9, 1.12), 0.45, 1.0)),
            cross_border=max(writer.cross_border, k(0.0, 0.12)),
            darkness=float(np.clip(writer.darkness * k(0.9, 1.05), 0.62, 1.0)),
        )
    return writer


def _typed_style(rng: np.random.Generator, split: str, augment: bool):
    from sample_scans.synth import handprint

    style = handprint.sample_typed(rng)
    fonts = bench_fonts() if split == "bench" else TRAIN_FONTS
    style = dataclasses.replace(style, font_path=fonts[int(rng.integers(len(fonts)))])
    if augment:
        style = dataclasses.replace(
            style, size=float(np.clip(style.size * rng.uniform(0.85, 1.2), 0.35, 0.75)),
            x_offset=style.x_offset * rng.uniform(0.5, 1.8),
            baseline_offset=style.baseline_offset * rng.uniform(0.5, 1.8))
    return style


def _chars(rng: np.random.Generator, n: int, source: str, alphabet: str) -> list[str | None]:
    """What to write in n cells: a character each, now and then an empty cell."""
    pool = (DIGITS if source == "mnist" else
            "".join(c for c in alphabet if c in nist.CHARS) if source == "nist" else alphabet)
    return [None if rng.random() < 0.08 else pool[int(rng.integers(len(pool)))]
            for _ in range(n)]


def render_field(
    rng: np.random.Generator, split: str, source: str, dpi: int, mode: str, *,
    augment: bool = False, alphabet: str = TEXT, text: str | None = None,
    mnist_warp: float = 0.0,
) -> list[Sample]:
    """One comb field of the form written by one hand (or printed in one face), scanned and
    cut: a sample per filled cell. `text` (a space for an empty cell) is written instead of
    random characters of `alphabet`, in a field long enough for it. `mnist_warp`: see
    `_writer`."""
    from sample_scans.synth import handprint
    from sample_scans.synth.scanner import ScanProfile, scan

    fields = _comb_fields()
    if text is not None:
        fields = tuple(f for f in fields if len(f[2].cells) >= len(text))
    form, number, field = fields[int(rng.integers(len(fields)))]
    cells = field.cells[: int(rng.integers(3, 17)) if text is None else len(text)]
    scale = dpi / 72.0
    margin = 14
    x0 = max(math.floor(min(c.x for c in cells) * scale) - margin, 0)
    y0 = max(math.floor(min(c.y for c in cells) * scale) - margin, 0)
    x1 = math.ceil(max(c.x + c.w for c in cells) * scale) + margin
    y1 = math.ceil(max(c.y + c.h for c in cells) * scale) + margin
    base = _blank(form, number, dpi)[y0:y1, x0:x1].copy()
    ink = np.zeros(base.shape, np.float32)
    chars = (_chars(rng, len(cells), source, alphabet) if text is None
             else [None if ch == " " else ch for ch in text])
    boxes = [(c.x * scale - x0, c.y * scale - y0, c.w * scale, c.h * scale) for c in cells]
    if source == "typed":
        style = _typed_style(rng, split, augment)
        for box, ch in zip(boxes, chars):
            if ch is not None:
                handprint.draw_typed_char(ink, box, ch, style, dpi)
    else:
        writer = _writer(rng, split, source, augment, mnist_warp)
        for box, ch in zip(boxes, chars):
            if ch is not None:
                handprint.draw_char(ink, box, ch, writer, rng, dpi)
    image = handprint.apply_ink(base, ink)
    dx, dy = rng.uniform(-SHIFT_PX, SHIFT_PX, 2)
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    image = cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR,
                           borderValue=255)
    profile = ScanProfile(dpi=dpi, mode=mode, max_skew_deg=0.0, p_upside_down=0.0,
                          p_sideways=0.0, scale_range=(1.0, 1.0), max_offset_mm=0.0,
                          dust_count=(0, 6 if augment else 2))
    image, _ = scan(image, rng, profile)
    out = []
    for c, ch in zip(cells, chars):
        if ch is None:
            continue
        crop = cell_crop(image, Cell(c.x - x0 / scale, c.y - y0 / scale, c.w, c.h), dpi)
        if is_filled(crop, dpi)[0]:
            out.append(Sample(crop, ch, source, dpi, mode))
    return out


def samples(
    seed: int, split: str, n: int, *, mix: dict[str, float] | None = None,
    augment: bool = False, dpis: tuple[int, ...] = (200, 300),
    modes: tuple[str, ...] = ("grey", "bitonal"), mnist_warp: float = 0.0,
) -> Iterator[Sample]:
    """About `n` cell samples of `split`, sources drawn by `mix` (weights), reproducible from
    `seed` (the same seed, split and arguments give the same pixels). `mnist_warp`, for
    training: see `_writer`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    mix = mix or {"hand": 0.6, "mnist": 0.15, "typed": 0.25}
    names = sorted(mix)
    weights = np.array([mix[k] for k in names], float)
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    made = 0
    while made < n:
        source = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        dpi = dpis[int(rng.integers(len(dpis)))]
        mode = modes[int(rng.integers(len(modes)))]
        for s in render_field(rng, split, source, dpi, mode, augment=augment,
                              mnist_warp=mnist_warp):
            if made < n:
                made += 1
                yield s
