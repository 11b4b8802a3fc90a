"""Read the fields of a registered form page: comb cells, check boxes, signature, line.

Input: a page image *registered* on the form model (model point (x, y) lies at pixel
(x * dpi / 72, y * dpi / 72) give or take `cell_crops.SLACK_PX`), its `Page` and its dpi.
Output: one `FieldReading` per field, keyed like the truth (``m1.3``, ``m1#2.3``, ``m2.53``),
its value normalised with `pipeline.normalise` so that a reading and the truth compare with
``==``.

Comb fields (text, digits, date, code) go: `cell_crop` (extractors/cell_crops.py: the cell's
interior, its printed border found and left out) -> `is_filled` (ink beyond specks) -> one
batched `CellRecogniser.recognise` call for every filled cell of the page -> the cells'
distribution (extractors/cell_dist.py), decoded into the field's value and confidence.
Check boxes and the signature are ink measurements in their box; the line field (the "Al
Signor Questore di" line) is one Tesseract line read.

Generated pages to read, and the reader scored on them: extractors/fields_bench.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from extractors import cell_dist, decode, decode_calibration, tesseract
from extractors.cell_crops import (
    FAINT_CONFIDENCE,
    FAINT_TRACES,
    FILL_MM2,
    UNSURE_EMPTY,
    Ink,
    _clear_edges,
    _decision,
    _filled_cells,
    _interior,
    _line_image,
    _normalise,
    _px,
    cell_crop,
    faint_page,
    measure_ink,
    unsure_empty,
)
from extractors.recognise import (
    DIGITS,
    LETTERS,
    TEXT,
    CellBatchItem,
    CellRecogniser,
)
from pipeline.form.model import Field, FieldKind, Page
from pipeline.normalise import UNREAD, compact_value, date_value, parse_date, text_value

#: A check box with at least this much ink is ticked (a printed X is 2-4 mm², a hand one 0.4-8).
CHECK_MM2 = 0.25
#: A signature box with at least this much ink is signed (a scribble is tens of mm²).
SIGN_MM2 = 3.0
#: So many blobs of ink, however small, mark a check box or sign a signature box (`_mark`).
CHECK_TRACES = 4
SIGN_TRACES = 8

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
    if any(not on and conf <= UNSURE_EMPTY for on, conf in filled):
        confidence = min(confidence, UNSURE_EMPTY)  # a cell of a faint page may hold more
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


#: Alternatives kept per field: the rules try each before they take a doubtful reading as
#: fact (NIST anomalies seed 913: the codice fiscale that agreed with the names read beside
#: it was the sixth, at a share of 0.05, behind five check-valid codes that did not).
ALTERNATIVES_KEPT = 8


def alternatives(reading: FieldReading, kind: FieldKind, k: int = ALTERNATIVES_KEPT,
                 ) -> list[tuple[str | bool, float]]:
    """Other values the field's cells plausibly say, normalised as `reading.value` is, with
    their share of the decoder's hypotheses (the cells' own reading among them), best first:
    what a rule weighs before it takes a doubtful reading as fact. A classifier's reading (its
    probabilities calibrated) in conflict with its field's constraints also keeps the
    constrained values within `cell_dist.PLAUSIBLE` of the best hypothesis, however small
    their share: a code not in its table, a date that is no day, is raised as an anomaly only
    when no plausible reading clears it. (Tesseract's confidences are no probabilities: a
    typed wrong check character had a check-valid code within that margin.)"""
    if isinstance(reading.value, bool):
        # a box marked or not: the other state, at what the reading's confidence leaves
        # (NIST seed 925: a light pen's ticked request box read blank at 0.5 raised a
        # blocking missing_required_field)
        return [(not reading.value, round(1.0 - reading.confidence, 4))] \
            if reading.confidence < 1.0 else []
    return _ranked(_shares(reading, kind)[1], k)


def proposal(reading: FieldReading, kind: FieldKind, k: int = ALTERNATIVES_KEPT,
             ) -> tuple[str | bool, list[tuple[str | bool, float]]]:
    """What a field sent to review puts before the reviewer: its value and the other values
    (`alternatives`). The value is the reading's own, unless another document gives the
    field a value (`Decoded.document`: a check-valid MRZ's surname, the sheets counted)
    that the cells spell within `cell_dist.PLAUSIBLE` of their reading, and which so leads
    the hypotheses: the applicant wrote what the documents say far more often than the
    classifier's doubt (NIST seed 10220: HYSA, so spelt by a passport's and a permit's MRZ,
    read N45A and proposed as NUSA with HYSA at 0.79; seed 10230: a total of sheets 15 read
    10, 15 at 0.99). The reading then joins the alternatives at its share: a rule weighs
    the same values either way. (Other hypotheses' shares are no posterior to choose by: a
    comune's free reading COLTUQANO outweighs the listed COLTURANO the decoder chose.)"""
    document = document_value(reading, kind)
    if document is None:
        return reading.value, alternatives(reading, kind, k)
    own, out = _shares(reading, kind)
    if out.get(document, 0.0) <= own:
        return reading.value, _ranked(out, k)
    out[reading.value] = own
    del out[document]
    return document, _ranked(out, k)


def _ranked(shares: dict[str, float], k: int) -> list[tuple[str, float]]:
    """Values with their shares, likeliest first, the first `k`."""
    return sorted(((v, round(p, 4)) for v, p in shares.items()), key=lambda x: -x[1])[:k]


def document_value(reading: FieldReading, kind: FieldKind) -> str | None:
    """The value another document gives the field that its cells spell too unclearly to
    take (`Decoded.document`), normalised as the field's values are; None without one."""
    d = reading.decoded
    if isinstance(reading.value, bool) or d is None or not d.document:
        return None
    it = iter(d.document)
    return _comb_value(kind, [next(it, None) if on else None for on, _ in reading.filled])


def _shares(reading: FieldReading, kind: FieldKind) -> tuple[float, dict[str, float]]:
    """The share of the decoder's hypotheses that is the reading's own value, and the
    shares of the other values `alternatives` lists."""
    d = reading.decoded
    if d is None or not reading.filled:
        return 1.0, {}
    hyps = list(d.hyps)
    if reading.dist is not None and d.free not in {t for t, _ in hyps}:
        hyps.append((d.free, reading.dist.ll(d.free) - cell_dist.DISAGREE))
    scores = np.array([s for _, s in hyps], float)
    if not len(scores) or not np.isfinite(scores).any():
        return 1.0, {}
    top = scores[np.isfinite(scores)].max()
    calibrated = reading.dist is not None and reading.dist.calibrated
    w = np.exp(scores - top)
    w /= w.sum()
    own, out = 0.0, {}
    for (text, score), share in zip(hyps, w):
        it = iter(text)
        try:
            cells = [next(it) if on else None for on, _ in reading.filled]
        except StopIteration:
            continue
        value = _comb_value(kind, cells)
        plausible = (calibrated and d.conflict and text != d.free
                     and score >= top - cell_dist.PLAUSIBLE)
        if value == reading.value:
            own += float(share)
        elif share >= ALTERNATIVE_SHARE or plausible:
            out[value] = out.get(value, 0.0) + float(share)
    return own, out


def _mark(ink: Ink, threshold: float, traces: int, faint: bool) -> tuple[bool, float]:
    """A check box or the signature box marked: enough ink, or else the broken trail a
    light pen leaves in a bitonal scan (many specks where dust makes one or two: measured,
    a blank box never held more than 3 on pages with 60 dust dots). On a page written
    with such a pen (`cell_crops.faint_page`), a box with fewer specks is not known to be
    blank (NIST seed 10230: a tick left one speck)."""
    on, conf = _decision(ink.mm2, threshold)
    if not on and ink.traces >= traces:
        return True, 0.6
    if not on and unsure_empty(ink, faint):
        return False, UNSURE_EMPTY
    return on, conf


def _check_reading(key: str, image: np.ndarray, f: Field, dpi: float,
                   faint: bool) -> FieldReading:
    inks = [measure_ink(cell_crop(image, c, dpi), dpi) for c in f.cells]
    marks = [_mark(ink, CHECK_MM2, CHECK_TRACES, faint) for ink in inks]
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


def _signature_reading(key: str, image: np.ndarray, f: Field, dpi: float,
                       faint: bool) -> FieldReading:
    assert f.box is not None
    pixels, paper, ink = _interior(image, _px(f.box, dpi), dpi)
    signed, conf = _mark(measure_ink(_clear_edges(_normalise(pixels, paper, ink)), dpi),
                         SIGN_MM2, SIGN_TRACES, faint)
    return FieldReading(key, signed, conf, (), _bbox(f, dpi), "")


def _line_reading(key: str, image: np.ndarray, f: Field, dpi: float,
                  faint: bool) -> FieldReading:
    """The Questore's city as Tesseract reads the line. On a faint page a line holding
    specks is read, and whatever comes of it is not accepted (NIST seed 10230: VICENZA in
    specks read as nothing, accepted)."""
    assert f.box is not None
    crop = _line_image(image, f.box, dpi)
    ink = measure_ink(crop, dpi)
    written, conf = _decision(ink.mm2, FILL_MM2)
    cap = 1.0
    if not written and unsure_empty(ink, faint):
        written, conf, cap = ink.traces >= FAINT_TRACES, UNSURE_EMPTY, UNSURE_EMPTY
    if not written:
        return FieldReading(key, "", conf, (), _bbox(f, dpi), "")
    scale = _LINE_HEIGHT_PX / (f.box.h * dpi / 72.0)
    big = cv2.resize(crop, None, fx=scale, fy=scale,
                     interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    pad = _LINE_HEIGHT_PX // 2
    big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    words = tesseract.words(big, psm=7, whitelist=_LINE_WHITELIST)
    raw = " ".join(w.text for w in words)
    confidence = min(min((max(w.confidence, 0.0) for w in words), default=0.0), cap)
    return FieldReading(key, line_value(raw), confidence, (), _bbox(f, dpi), raw,
                        filled=((True, conf),))


def line_value(raw: str) -> str:
    """A handwritten line's value from what Tesseract read on it: block capitals, single
    spaces, no stop, comma or dash at its ends (the Questore's city: NIST seed 10180's
    FIRENZE read FIRENZE. and accepted so)."""
    return " ".join(raw.upper().split()).strip(".,;:-_ ")


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
    cells = {f.id: [(crop := cell_crop(image, c, dpi), measure_ink(crop, dpi)) for c in f.cells]
             for f in page.fields if f.kind in COMB_KINDS and read_combs}
    faint = faint_page([ink for measured in cells.values() for _, ink in measured])
    for f in page.fields:
        key = f"{prefix}.{f.id}"
        if f.kind in COMB_KINDS:
            if not read_combs:
                continue
            filled = _filled_cells([ink for _, ink in cells[f.id]], faint)
            if faint and f.kind is FieldKind.DATE and any(on for on, _ in filled):
                # a date is all eight cells: on a faint page, one that holds little or
                # nothing lost its digit to the scan (NIST seed 925: a date read "18 16021",
                # a blocking invalid_date), and the decoder weighs what the cell may be
                filled = tuple((True, FAINT_CONFIDENCE) if not on else (on, conf)
                               for on, conf in filled)
            ink = tuple(crop for (crop, _), (on, _) in zip(cells[f.id], filled) if on)
            item = None
            if ink:
                item = len(items)
                items.append(CellBatchItem(key, f.kind, field_alphabet(f), ink))
            combs[key] = _Comb(f, filled, item)
        elif f.kind is FieldKind.CHECK:
            readings[key] = _check_reading(key, image, f, dpi, faint)
        elif f.kind is FieldKind.SIGNATURE:
            readings[key] = _signature_reading(key, image, f, dpi, faint)
        else:
            readings[key] = _line_reading(key, image, f, dpi, faint)
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
