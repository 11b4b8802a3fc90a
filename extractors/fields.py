"""Read the fields of a registered form page: comb cells, check boxes, signature, line.

Input: a page image *registered* on the form model (model point (x, y) lies at pixel
(x * dpi / 72, y * dpi / 72) give or take `SLACK_PX`), its `Page` and its dpi. Output: one
`FieldReading` per field, keyed like the truth (``m1.3``, ``m1#2.3``, ``m2.53``), its value
normalised with `pipeline.normalise` so that a reading and the truth compare with ``==``.

Comb fields (text, digits, date, code) go: `cell_crop` (the cell's interior, its printed
border found and left out) -> `is_filled` (ink beyond specks) -> one batched
`CellRecogniser.recognise` call for every filled cell of the page -> the field's value and
confidence. Check boxes and the signature are ink measurements in their box; the line field
(the "Al Signor Questore di" line) is one Tesseract line read.

Ink is measured in mm² of connected ink blobs, each at least `SPECK_MM2`: scanner noise
and most dust make smaller blobs, a printed or written character bigger ones. The
thresholds were set on generated pages at 200 and 300 dpi, grey and bitonal, and checked on
others (30 kits, pages 1-3, 5, 6: 5,844 typed and 5,844 handwritten characters all found
but one, an I written on a cell's border; none of 64,752 empty cells taken for filled): a
printed letter leaves 0.8-6 mm² in a cell, a printed period 0.13-0.3, the largest dust 0.12,
hence `_filled_cells`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from extractors import cell_dist, decode, decode_calibration, tesseract
from extractors.recognise import (
    DIGITS,
    INK_LEVEL,
    LETTERS,
    TEXT,
    CellBatchItem,
    CellRecogniser,
)
from pipeline.form.model import Cell, Field, FieldKind, Page, load_form_model
from pipeline.normalise import compact_value, date_value, parse_date, text_value

#: How far a registered page may be off the model, in pixels (the registration step's promise).
SLACK_PX = 2.0
#: Printed stroke of cells and boxes in points (pipeline.form.render.LINE).
BORDER_PT = 0.6
#: Ink blobs smaller than this are dust or noise, never a mark (a printed period is 0.13+).
SPECK_MM2 = 0.06
#: A cell with at least this much ink is filled (a printed period leaves 0.13-0.3, an
#: apostrophe or hyphen 0.2-0.6, a letter 0.8 and more).
FILL_MM2 = 0.1
#: A single blob no longer than this (mm) is a dot: a period, or dust (`_filled_cells`).
DOT_MM = 0.6
#: A check box with at least this much ink is ticked (a printed X is 2-4 mm², a hand one 0.4-8).
CHECK_MM2 = 0.25
#: A signature box with at least this much ink is signed (a scribble is tens of mm²).
SIGN_MM2 = 3.0
#: So many blobs of ink, however small, mark a check box or sign a signature box (`_mark`).
CHECK_TRACES = 4
SIGN_TRACES = 8
#: The character a filled cell gets when the recogniser read nothing in it.
UNREAD = "?"

#: Grey levels lighter than this share of the way from print black to paper are paper.
_WHITE_POINT = 0.85

COMB_KINDS = frozenset({FieldKind.TEXT, FieldKind.DIGITS, FieldKind.DATE, FieldKind.CODE})
# code tables whose codes are letters (the others are two-digit numbers)
_LETTER_TABLES = frozenset({"province", "stato", "sesso", "stato_civile"})
# the line field holds a city name as written on the line
_LINE_WHITELIST = LETTERS + "'-."
_LINE_HEIGHT_PX = 64  # the line box (14 pt) is scaled to this for Tesseract


@dataclass(frozen=True, slots=True)
class FieldReading:
    """What one field holds.

    `value` is normalised as the truth is (pipeline/normalise.py). `cells` has one entry per
    box of the field (per option box for SI / NO fields; empty for the signature and the
    line): the character read, ``"X"`` for a marked check box, or None for an empty box,
    with the confidence of that reading. `bbox` is the field's box in page pixels
    (x, y, w, h). `raw` is what the cells say on their own, before decoding and
    normalisation (empty cells as spaces).

    Comb fields also carry the filled cells' distribution (`dist`) and what field-aware
    decoding made of it (`decoded`, extractors/decode.py): `value` is the decoded value.
    """

    key: str
    value: str | bool
    confidence: float
    cells: tuple[tuple[str | None, float], ...]
    bbox: tuple[float, float, float, float]
    raw: str
    dist: cell_dist.CellDist | None = None
    decoded: cell_dist.Decoded | None = None
    filled: tuple[tuple[bool, float], ...] = ()  # per cell: (holds ink, confidence)

    @property
    def doubtful(self) -> bool:
        """Decoding changed what the cells said, or the cells contradict the field's
        constraints: a person must look whatever the confidence."""
        d = self.decoded
        return d is not None and (d.conflict or (d.changed and not self.dist.calibrated))


def field_alphabet(f: Field) -> str:
    """Every character `f`'s cells may hold."""
    if f.kind in (FieldKind.DIGITS, FieldKind.DATE):
        return DIGITS
    if f.kind is FieldKind.CODE:
        return LETTERS if f.table in _LETTER_TABLES else DIGITS
    return TEXT


# ------------------------------------------------------------------------------- geometry


def _px(c: Cell, dpi: float) -> tuple[float, float, float, float]:
    s = dpi / 72.0
    return (c.x * s, c.y * s, c.w * s, c.h * s)


def _levels(region: np.ndarray) -> tuple[float, float]:
    """(paper, ink) grey levels around a printed box: most of it is paper, and its border
    is the form's own full-black print, which no pen is darker than."""
    flat = region.reshape(-1)
    n = flat.size
    lo, hi = max(n // 100, 1), min(n * 9 // 10, n - 1)
    part = np.partition(flat, (lo, hi))
    ink, paper = float(part[lo]), float(part[hi])
    if paper - ink < 64:  # no border in sight (a box off the page): plain paper and black
        return max(paper, 128.0), 0.0
    return paper, ink


def _span(centre: float, line: float) -> tuple[int, int]:
    """The pixel rows (or columns) [first, last + 1) that a line of width `line` centred at
    `centre` touches (pixel i covers [i, i + 1))."""
    return int(math.floor(centre - line / 2)), int(math.ceil(centre + line / 2))


def _offset(profile: np.ndarray, centres: Sequence[float], line: float, radius: int) -> int:
    """The shift (whole pixels, within ±`radius`) that puts printed lines expected at
    `centres` onto the darkest rows (or columns) of `profile`.

    The two opposite sides of a box move together under a registration error, so they are
    matched together: a stroke written along one side darkens one of them, the border both.
    Ties go to the smaller shift.
    """
    best, best_score = 0, -1.0
    for d in sorted(range(-radius, radius + 1), key=abs):
        score = 0.0
        for c in centres:
            a, b = _span(c + d, line)
            score += float(profile[max(a, 0) : max(b, 0)].sum())
        if score > best_score + 1e-6:
            best, best_score = d, score
    return best


def _interior(
    image: np.ndarray, box: tuple[float, float, float, float], dpi: float,
) -> tuple[np.ndarray, float, float]:
    """The pixels inside a printed box's border lines, and the (paper, ink) levels."""
    x, y, w, h = box
    line = BORDER_PT * dpi / 72.0
    radius = int(math.ceil(SLACK_PX)) + 1
    reach = radius + int(math.ceil(line)) + 1
    ih, iw = image.shape
    ox, oy = max(int(math.floor(x)) - reach, 0), max(int(math.floor(y)) - reach, 0)
    ex = min(int(math.ceil(x + w)) + reach + 1, iw)
    ey = min(int(math.ceil(y + h)) + reach + 1, ih)
    region = image[oy:ey, ox:ex]
    paper, ink = _levels(region)
    darkness = np.clip((paper - region.astype(np.float32)) / max(paper - ink, 1.0), 0.0, 1.0)
    # mean darkness per row over the box's middle columns, away from its sides (and per
    # column over its middle rows)
    x, y = x - ox, y - oy
    cx0, cx1 = max(int(x) + reach, 0), max(int(x + w) - reach, int(x) + reach + 1)
    cy0, cy1 = max(int(y) + reach, 0), max(int(y + h) - reach, int(y) + reach + 1)
    rows = darkness[:, cx0:cx1].mean(axis=1)
    cols = darkness[cy0:cy1, :].mean(axis=0)
    dy = _offset(rows, (y, y + h), line, radius)
    dx = _offset(cols, (x, x + w), line, radius)
    # one pixel more on each side: a border's blurred edge still reads a little dark
    top, bottom = _span(y + dy, line)[1] + 1, _span(y + h + dy, line)[0] - 1
    left, right = _span(x + dx, line)[1] + 1, _span(x + w + dx, line)[0] - 1
    top, left = max(top, 0), max(left, 0)
    return region[top : max(bottom, top + 1), left : max(right, left + 1)], paper, ink


def _normalise(pixels: np.ndarray, paper: float, ink: float) -> np.ndarray:
    """The print's black to 0, and paper, with its noise and JPEG ripple, to a flat 255.

    Flat matters: a crop whose paper reads 250 pasted on white shows Tesseract a faint box
    edge, which it reads as an I, an L or a bar, or which makes it drop the character
    beside it (seen on whole lines of dates).
    """
    scale = np.float32(255.0 / max(_WHITE_POINT * (paper - ink), 1.0))
    out = (pixels.astype(np.float32) - np.float32(ink)) * scale
    return np.clip(out, 0, 255).astype(np.uint8)


def _clear_edges(crop: np.ndarray, depth: int = 2) -> np.ndarray:
    """Blank up to `depth` outer rows and columns that are mostly dark: what is left of a
    border line the search did not take in whole (a border bent by the scan)."""
    out = crop
    for _ in range(depth):
        dark = out < INK_LEVEL
        h, w = out.shape
        if h < 3 or w < 3:
            break
        hits = [
            (dark[0, :].mean(), (slice(0, 1), slice(None))),
            (dark[-1, :].mean(), (slice(h - 1, h), slice(None))),
            (dark[:, 0].mean(), (slice(None), slice(0, 1))),
            (dark[:, -1].mean(), (slice(None), slice(w - 1, w))),
        ]
        hits = [where for share, where in hits if share >= 0.85]
        if not hits:
            break
        if out is crop:
            out = crop.copy()
        for where in hits:
            out[where] = 255
    return out


def cell_crop(image: np.ndarray, cell: Cell, dpi: float) -> np.ndarray:
    """The interior of a printed cell (model points) on a registered page: its border lines
    found near where the model puts them and left out, paper at 255 and print black at 0.

    A new array; `image` is not modified.
    """
    pixels, paper, ink = _interior(image, _px(cell, dpi), dpi)
    return _clear_edges(_normalise(pixels, paper, ink))


# ------------------------------------------------------------------------------------ ink


def _mm2(dpi: float) -> float:
    """Pixels per mm² at `dpi`."""
    return (dpi / 25.4) ** 2


@dataclass(frozen=True, slots=True)
class Ink:
    """The ink in a cell or box: its area in mm² (blobs of at least `SPECK_MM2`), whether
    it is a dot (one blob no longer than `DOT_MM` either way: a period, or dust), and how
    many blobs of any size there are (`traces`)."""

    mm2: float
    dot: bool
    traces: int


def measure_ink(crop: np.ndarray, dpi: float) -> Ink:
    """The ink of a normalised crop (`cell_crop`)."""
    dark = (crop < INK_LEVEL).astype(np.uint8)
    if not dark.any():
        return Ink(0.0, False, 0)
    _, _, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    stats = stats[1:]
    kept = stats[stats[:, cv2.CC_STAT_AREA] >= SPECK_MM2 * _mm2(dpi)]
    mm2 = float(kept[:, cv2.CC_STAT_AREA].sum()) / _mm2(dpi)
    longest = max(kept[0, cv2.CC_STAT_WIDTH], kept[0, cv2.CC_STAT_HEIGHT]) if len(kept) else 0
    return Ink(mm2, len(kept) == 1 and longest * 25.4 / dpi <= DOT_MM, len(stats))


def ink_mm2(crop: np.ndarray, dpi: float) -> float:
    """Ink in a normalised crop, in mm²: dark pixels of the blobs at least `SPECK_MM2`."""
    return measure_ink(crop, dpi).mm2


def _decision(score: float, threshold: float) -> tuple[bool, float]:
    """(score >= threshold, confidence): 0.5 at the threshold, 1.0 at four times (or a
    quarter of) it, on a log scale."""
    if score <= 0:
        return False, 1.0
    margin = abs(math.log(score / threshold)) / math.log(4.0)
    return score >= threshold, 0.5 + 0.5 * min(margin, 1.0)


def is_filled(crop: np.ndarray, dpi: float) -> tuple[bool, float]:
    """Whether a cell interior (`cell_crop`) holds ink enough for a character: (filled,
    confidence). `read_page_fields` also weighs a lone dot against its neighbours
    (`_filled_cells`)."""
    return _decision(ink_mm2(crop, dpi), FILL_MM2)


def _filled_cells(inks: Sequence[Ink]) -> tuple[tuple[bool, float], ...]:
    """`is_filled` for the cells of one field, with dots judged by their neighbours.

    A dot is a period between two characters, or a speck of dust anywhere: the largest dust
    measured leaves 0.12 mm², the smallest printed period 0.13, both round. So a cell
    holding only a dot counts as filled between two cells holding more than a dot; a
    trailing period is lost, a dusty cell is not read. (An apostrophe, a hyphen, a stroke
    half erased by a bitonal threshold are longer than a dot, and count on their own.)
    """
    marks = [_decision(v.mm2, FILL_MM2) for v in inks]
    solid = [on and not v.dot for (on, _), v in zip(marks, inks)]
    out = []
    for i, ((on, conf), v) in enumerate(zip(marks, inks)):
        if on and v.dot and not (0 < i < len(inks) - 1 and solid[i - 1] and solid[i + 1]):
            on, conf = False, 0.6
        out.append((on, conf))
    return tuple(out)


# ------------------------------------------------------------------------------- readings


@dataclass(frozen=True, slots=True)
class _Comb:
    """A comb field waiting for the recogniser."""

    field: Field
    filled: tuple[tuple[bool, float], ...]
    item: int | None  # index into the batch, None when no cell is filled


def _bbox(f: Field, dpi: float) -> tuple[float, float, float, float]:
    return _px(f.bbox, dpi)


def _comb_value(kind: FieldKind, chars: Sequence[str | None]) -> str:
    if kind is FieldKind.TEXT:
        return text_value(chars)
    if kind is FieldKind.DATE:
        return date_value(chars)
    return compact_value(chars)


def _comb_reading(
    key: str, comb: _Comb, dist: cell_dist.CellDist | None, dpi: float,
) -> FieldReading:
    """The field's value from its cells' distribution, decoded under the field's own
    constraints (extractors/decode.py); `redecode` applies the kit-level decoding.

    Confidence: with a classifier's probabilities, the decoded value's posterior share,
    calibrated (`decode_calibration.calibrate`); with Tesseract's answers, the lowest cell
    confidence as before (its 0.60 threshold was chosen on that measure), and a value the
    decoder changed goes to review (`FieldReading.doubtful`)."""
    f = comb.field
    mask = tuple(on for on, _ in comb.filled)
    if dist is None:
        dist = cell_dist.from_reading((), (), field_alphabet(f))
    if dist.answers and any(a not in f_alphabet(dist) for a in dist.answers):
        # a cell the recogniser read nothing in (or something the field cannot hold)
        # stays as read, and the field is not decoded
        text = "".join(a or UNREAD for a in dist.answers)
        decoded = cell_dist.Decoded(text, 0.0, text, False, False, ((text, 0.0),))
    else:
        folded = decode.field_dist(f, dist, mask)  # what the kit-level decoding weighs it on
        decoded = decode.decode_field(f, dist, mask=mask, folded=folded)
        dist = folded
    return redecode(FieldReading(key, "", 0.0, (), _bbox(f, dpi), "", dist, decoded), comb, decoded)


def f_alphabet(dist: cell_dist.CellDist) -> set[str]:
    return set(dist.alphabet) - {""}


def redecode(reading: FieldReading, comb: _Comb | tuple[Field, tuple[tuple[bool, float], ...]],
             decoded: cell_dist.Decoded) -> FieldReading:
    """`reading` with the value and confidence of a (new) decoding of its cells."""
    f, filled = (comb.field, comb.filled) if isinstance(comb, _Comb) else comb
    dist = reading.dist
    assert dist is not None
    cells: list[tuple[str | None, float]] = []
    read = iter(zip(decoded.text, dist.cell_confidences(decoded.text)))
    raw = iter(decoded.free)
    raw_cells: list[str | None] = []
    for on, fill_conf in filled:
        if not on:
            cells.append((None, fill_conf))
            raw_cells.append(None)
            continue
        ch, p = next(read)
        raw_cells.append(next(raw))
        cells.append((ch, 0.0 if ch == UNREAD else float(p) * fill_conf))
    values = [c for c, _ in cells]
    if dist.calibrated:
        confidence = decode_calibration.calibrate(decoded.confidence) if dist.n else min(
            (p for _, p in cells), default=1.0)
    else:
        confidence = min((p for _, p in cells), default=1.0)
    written = [c for c in values if c is not None]
    if f.kind is FieldKind.DATE and written:
        # a date is all eight cells; a printout never leaves a date half done or impossible
        if len(written) != len(values) or parse_date(date_value(values)) is None:
            confidence = min(confidence, 0.3)
    return FieldReading(reading.key, _comb_value(f.kind, values), confidence, tuple(cells),
                        reading.bbox, "".join(c or " " for c in raw_cells), dist, decoded,
                        tuple(filled))


#: An alternative reading is kept when its share of the decoder's hypotheses is at least
#: this (a field the decoder found in conflict with its constraints has its constrained
#: candidates below 1/20 by construction, `cell_dist.DISAGREE`).
ALTERNATIVE_SHARE = 0.01


def alternatives(reading: FieldReading, kind: FieldKind, k: int = 4) -> list[tuple[str, float]]:
    """Other values the field's cells plausibly say, normalised as `reading.value` is, with
    their share of the decoder's hypotheses (the cells' own reading among them), best first:
    what a rule weighs before it takes a doubtful reading as fact."""
    d = reading.decoded
    if d is None or not reading.filled:
        return []
    hyps = list(d.hyps)
    if reading.dist is not None and d.free not in {t for t, _ in hyps}:
        hyps.append((d.free, reading.dist.ll(d.free) - cell_dist.DISAGREE))
    scores = np.array([s for _, s in hyps], float)
    if not len(scores) or not np.isfinite(scores).any():
        return []
    w = np.exp(scores - scores[np.isfinite(scores)].max())
    w /= w.sum()
    out: dict[str, float] = {}
    for (text, _), share in zip(hyps, w):
        it = iter(text)
        try:
            cells = [next(it) if on else None for on, _ in reading.filled]
        except StopIteration:
            continue
        value = _comb_value(kind, cells)
        if value != reading.value and share >= ALTERNATIVE_SHARE:
            out[value] = out.get(value, 0.0) + float(share)
    return sorted(((v, round(p, 4)) for v, p in out.items()), key=lambda x: -x[1])[:k]


def _mark(ink: Ink, threshold: float, traces: int) -> tuple[bool, float]:
    """A check box or the signature box marked: enough ink, or else the broken trail a
    light pen leaves in a bitonal scan (many specks where dust makes one or two: measured,
    a blank box never held more than 3 on pages with 60 dust dots)."""
    on, conf = _decision(ink.mm2, threshold)
    if not on and ink.traces >= traces:
        return True, 0.6
    return on, conf


def _check_reading(key: str, image: np.ndarray, f: Field, dpi: float) -> FieldReading:
    inks = [measure_ink(cell_crop(image, c, dpi), dpi) for c in f.cells]
    marks = [_mark(ink, CHECK_MM2, CHECK_TRACES) for ink in inks]
    cells = tuple(("X" if on else None, conf) for on, conf in marks)
    confidence = min(conf for _, conf in marks)
    if not f.options:
        on = marks[0][0]
        return FieldReading(key, on, confidence, cells, _bbox(f, dpi), "X" if on else "")
    names = [name for (name, _), (on, _) in zip(f.options, marks) if on]
    if len(names) > 1:
        # both SI and NO marked: keep the one with more ink, and say it is a guess
        names = [f.options[int(np.argmax([ink.mm2 for ink in inks]))][0]]
        confidence = min(confidence, 0.3)
    return FieldReading(key, names[0] if names else "", confidence, cells, _bbox(f, dpi),
                        " ".join(name for (name, _), (on, _) in zip(f.options, marks) if on))


def _signature_reading(key: str, image: np.ndarray, f: Field, dpi: float) -> FieldReading:
    assert f.box is not None
    pixels, paper, ink = _interior(image, _px(f.box, dpi), dpi)
    signed, conf = _mark(measure_ink(_clear_edges(_normalise(pixels, paper, ink)), dpi),
                         SIGN_MM2, SIGN_TRACES)
    return FieldReading(key, signed, conf, (), _bbox(f, dpi), "")


def _line_image(image: np.ndarray, box: Cell, dpi: float) -> np.ndarray:
    """The line box and a little above, the ruled line blanked, paper white."""
    x, y, w, h = _px(box, dpi)
    ih, iw = image.shape
    x0, x1 = max(int(x), 0), min(int(math.ceil(x + w)), iw)
    y0 = max(int(y - 0.25 * h), 0)
    y1 = min(int(math.ceil(y + h + 0.25 * h)), ih)
    region = image[y0:y1, x0:x1]
    paper, ink = _levels(region)
    out = _normalise(region, paper, ink)
    line = BORDER_PT * dpi / 72.0
    rule = y + h - y0
    rule += _offset((255 - out).mean(axis=1), (rule,), line, int(math.ceil(SLACK_PX)) + 1)
    a, b = _span(rule, line)
    out[max(a - 1, 0) : b + 1, :] = 255
    return out


def _line_reading(key: str, image: np.ndarray, f: Field, dpi: float) -> FieldReading:
    assert f.box is not None
    crop = _line_image(image, f.box, dpi)
    written, conf = _decision(ink_mm2(crop, dpi), FILL_MM2)
    if not written:
        return FieldReading(key, "", conf, (), _bbox(f, dpi), "")
    scale = _LINE_HEIGHT_PX / (f.box.h * dpi / 72.0)
    big = cv2.resize(crop, None, fx=scale, fy=scale,
                     interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    pad = _LINE_HEIGHT_PX // 2
    big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    # the apostrophe escaped as extractors.recognise does (pytesseract's shlex)
    words = tesseract.words(big, psm=7, whitelist=_LINE_WHITELIST.replace("'", "\\'"))
    raw = " ".join(w.text for w in words)
    confidence = min((max(w.confidence, 0.0) for w in words), default=0.0)
    return FieldReading(key, " ".join(raw.upper().split()), confidence, (), _bbox(f, dpi), raw)


def read_page_fields(
    image: np.ndarray, page: Page, dpi: float, recogniser: CellRecogniser, *,
    prefix: str = "m1", read_combs: bool = True,
) -> dict[str, FieldReading]:
    """Every field of a registered page, keyed ``<prefix>.<field id>``.

    The filled cells of all comb fields go to `recogniser` in one call. With read_combs=False the
    comb fields are left out (a page whose text layer gives them: extractors/text_layer.py).
    """
    readings: dict[str, FieldReading] = {}
    combs: dict[str, _Comb] = {}
    items: list[CellBatchItem] = []
    for f in page.fields:
        key = f"{prefix}.{f.id}"
        if f.kind in COMB_KINDS:
            if not read_combs:
                continue
            crops = [cell_crop(image, c, dpi) for c in f.cells]
            filled = _filled_cells([measure_ink(crop, dpi) for crop in crops])
            ink = tuple(crop for crop, (on, _) in zip(crops, filled) if on)
            item = None
            if ink:
                item = len(items)
                items.append(CellBatchItem(key, f.kind, field_alphabet(f), ink))
            combs[key] = _Comb(f, filled, item)
        elif f.kind is FieldKind.CHECK:
            readings[key] = _check_reading(key, image, f, dpi)
        elif f.kind is FieldKind.SIGNATURE:
            readings[key] = _signature_reading(key, image, f, dpi)
        else:
            readings[key] = _line_reading(key, image, f, dpi)
    dists = _distributions(recogniser, items)
    for key, comb in combs.items():
        readings[key] = _comb_reading(
            key, comb, dists[comb.item] if comb.item is not None else None, dpi)
    keys = (f"{prefix}.{f.id}" for f in page.fields)
    return {key: readings[key] for key in keys if key in readings}


def _distributions(recogniser: CellRecogniser, items: Sequence[CellBatchItem],
                   ) -> list[cell_dist.CellDist]:
    """Per item, its cells' distribution over the item's alphabet: the classifier's
    probabilities where the recogniser gives them, else made from its one answer and
    confidence per cell (`cell_dist.from_reading`)."""
    if not items:
        return []
    choose = getattr(recogniser, "choose", None)  # extractors.auto: one recogniser per page
    if choose is not None:
        recogniser = choose(items)
    probabilities = getattr(recogniser, "probabilities", None)
    if probabilities is not None:
        mats = probabilities(items)
        if len(mats) != len(items) or any(len(m) != len(it.crops) for m, it in zip(mats, items)):
            raise ValueError(f"recogniser {recogniser.name!r} did not answer one row per cell")
        return [cell_dist.from_probabilities(recogniser.classes, m, it.alphabet)
                for m, it in zip(mats, items)]
    results = recogniser.recognise(items)
    if len(results) != len(items) or any(
        len(chars) != len(it.crops) or len(confs) != len(it.crops)
        for it, (chars, confs) in zip(items, results)
    ):
        raise ValueError(f"recogniser {recogniser.name!r} did not answer one character and "
                         "one confidence per cell")
    return [cell_dist.from_reading(chars, confs, it.alphabet)
            for (chars, confs), it in zip(results, items)]


# ---------------------------------------------------------------------------------- bench


@dataclass(frozen=True, slots=True)
class BenchPage:
    """A registered page with what was written on it: `truth` as the truth format has it
    (normalised values by key), `chars` the characters cell by cell of its comb fields."""

    name: str
    image: np.ndarray
    page: Page
    dpi: int
    prefix: str
    filled_by: str  # "typed" | "hand"
    truth: dict[str, str | bool]
    chars: dict[str, tuple[str | None, ...]]


def synth_page(
    seed: int, number: int, *, filled_by: str = "typed", dpi: int = 300, mode: str = "grey",
    form: int = 0, shift_px: tuple[float, float] = (0.0, 0.0), writers: str = "bench",
) -> BenchPage:
    """Page `number` of form copy `form` of kit `seed` as the generator plans it, filled in,
    scanned without feed geometry (noise, blur, dust, JPEG or threshold only) and shifted
    by `shift_px` as a registration error: what this module's input looks like.

    For tests and benchmarks; it needs the generator (sample_scans.synth).
    """
    from sample_scans.synth import handprint
    from sample_scans.synth.batch import _render_form_page
    from sample_scans.synth.kit import plan_kit
    from sample_scans.synth.scanner import ScanProfile, scan

    plan = plan_kit(np.random.default_rng([seed, 1]), seed, filled_by, False)
    copy = plan.forms[form]
    pens = np.random.default_rng([seed, 2])
    writer = handprint.sample_writer(pens, writers)
    typed = handprint.sample_typed(pens) if filled_by == "typed" else None
    clean = _render_form_page(plan, copy, number, writer, typed,
                              np.random.default_rng([seed, 3, number]), dpi)
    if shift_px != (0.0, 0.0):
        m = np.float32([[1, 0, shift_px[0]], [0, 1, shift_px[1]]])
        clean = cv2.warpAffine(clean, m, (clean.shape[1], clean.shape[0]),
                               flags=cv2.INTER_LINEAR, borderValue=255)
    profile = ScanProfile(dpi=dpi, mode=mode, max_skew_deg=0.0, p_upside_down=0.0,
                          p_sideways=0.0, scale_range=(1.0, 1.0), max_offset_mm=0.0)
    image, _ = scan(clean, np.random.default_rng([seed, 4, number]), profile)
    page = load_form_model().page(copy.form, number)
    truth = plan.truth_fields()
    keys = {f"{copy.prefix}.{f.id}": f for f in page.fields}
    chars = {k: (copy.writes[f.id].chars if f.id in copy.writes else (None,) * len(f.cells))
             for k, f in keys.items() if f.kind in COMB_KINDS}
    return BenchPage(f"kit{seed}-{copy.prefix}p{number}-{dpi}-{mode}", image, page, dpi,
                     copy.prefix, filled_by, {k: truth[k] for k in keys}, chars)


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (Tesseract runs as one)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def bench_fields(
    pages: Iterable[BenchPage], recognisers: Sequence[CellRecogniser],
) -> list[dict[str, object]]:
    """Read every page with each recogniser and score the readings.

    One row per (recogniser, filled_by, measure): ``kind`` is a field kind (exact-match
    rate of its fields and, for comb fields, character accuracy over the written cells),
    ``cells`` (the filled/empty decision per comb cell), ``confidence`` (mean confidence of
    right and of wrong comb readings) or ``speed`` (CPU and wall milliseconds per page,
    Tesseract's CPU included).
    """
    pages = list(pages)
    rows: list[dict[str, object]] = []
    for rec in recognisers:
        tally: dict[tuple[str, str], dict[str, float]] = {}

        def add(by: str, what: str, **counts: float) -> None:
            row = tally.setdefault((by, what), {})
            for name, n in counts.items():
                row[name] = row.get(name, 0.0) + n

        for bp in pages:
            cpu, wall = _cpu_s(), time.perf_counter()
            readings = read_page_fields(bp.image, bp.page, bp.dpi, rec, prefix=bp.prefix)
            add(bp.filled_by, "speed", pages=1, cpu_s=_cpu_s() - cpu,
                wall_s=time.perf_counter() - wall)
            for f in bp.page.fields:
                key = f"{bp.prefix}.{f.id}"
                got = readings[key]
                right = got.value == bp.truth[key]
                add(bp.filled_by, f.kind.value, fields=1, exact=right)
                if f.kind not in COMB_KINDS:
                    continue
                add(bp.filled_by, "confidence", **({"right": 1, "right_conf": got.confidence}
                                                   if right else
                                                   {"wrong": 1, "wrong_conf": got.confidence}))
                for (ch, _), want in zip(got.cells, bp.chars[key]):
                    add(bp.filled_by, "cells", cells=1, decided=(ch is None) == (want is None))
                    if want is not None:
                        add(bp.filled_by, f.kind.value, chars=1, chars_right=ch == want)
        for (by, what), t in sorted(tally.items()):
            row: dict[str, object] = {"recogniser": rec.name, "filled_by": by, "measure": what}
            if what == "speed":
                row.update(pages=int(t["pages"]), cpu_ms_per_page=1000 * t["cpu_s"] / t["pages"],
                           wall_ms_per_page=1000 * t["wall_s"] / t["pages"])
            elif what == "cells":
                row.update(cells=int(t["cells"]), decided=t["decided"] / t["cells"])
            elif what == "confidence":
                row.update(right=int(t.get("right", 0)), wrong=int(t.get("wrong", 0)),
                           mean_right=t.get("right_conf", 0.0) / max(t.get("right", 0), 1),
                           mean_wrong=t.get("wrong_conf", 0.0) / max(t.get("wrong", 0), 1))
            else:
                row.update(fields=int(t["fields"]), exact=t["exact"] / t["fields"])
                if "chars" in t:
                    row.update(chars=int(t["chars"]), char_accuracy=t["chars_right"] / t["chars"])
            rows.append(row)
    return rows
