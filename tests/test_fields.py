"""Reading the fields of registered form pages: extractors.fields, extractors.cell_crops and
extractors.recognise.

The pages are the generator's (`extractors.fields_bench.synth_page`): a kit's form page filled in
by a Patronato printout ("typed") or by hand, scanned without feed geometry (sensor noise,
blur, dust, JPEG or the bitonal threshold) and shifted by up to 1.5 px as a registration
error. Real Tesseract reads them.

Hand pages leave out writers whose light pen the bitonal threshold erases (writer darkness
under 0.75): what is left of their strokes is not on the page to be found (see the report
of the "Read the kit" issue).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pytest

from extractors.cell_crops import cell_crop, ink_mm2, is_filled
from extractors.fields import UNREAD, FieldReading, field_alphabet, read_page_fields
from extractors.fields_bench import BenchPage, bench_fields, synth_page
from extractors.recognise import (
    DIGITS,
    LETTERS,
    TEXT,
    CellBatchItem,
    NaiveTesseractRecogniser,
    TesseractCellRecogniser,
)
from pipeline.form import FieldKind, load_form_model
from pipeline.form.render import blank_page_image
from pipeline.normalise import compact_value, date_value, text_value
from sample_scans.synth.scanner import ScanProfile, scan

# (kit seed, dpi, mode, form copy, pages): five fonts, Modulo 1, a family member's Modulo 1
# (m1#2) and Modulo 2, the carta di soggiorno pages (kit 4), a first application's visa
# (kits 7, 12), small print (kits 6, 12)
TYPED = [
    (0, 200, "grey", 0, (1, 2, 3, 6)), (0, 200, "grey", 1, (1, 3)),
    (1, 300, "grey", 0, (1, 2, 3)), (1, 300, "grey", 1, (1,)),
    (2, 200, "bitonal", 0, (1, 2)), (2, 200, "bitonal", 1, (1, 6)),
    (2, 200, "bitonal", 2, (1,)), (4, 300, "bitonal", 0, (1, 2, 4, 5)),
    (7, 300, "grey", 0, (2,)), (7, 300, "grey", 1, (2,)),
    (12, 200, "grey", 0, (1, 2)), (6, 200, "bitonal", 0, (1, 2, 3)),
]
HAND = [
    (3, 300, "bitonal", 0, (1, 2, 3)), (5, 300, "grey", 0, (1, 2, 3)),
    (8, 200, "grey", 0, (1, 2)), (10, 200, "bitonal", 0, (1, 2, 3)),
    (13, 300, "grey", 0, (1, 2, 6)), (4, 300, "grey", 0, (4, 5)), (4, 300, "grey", 1, (1, 3)),
    (11, 200, "bitonal", 1, (1,)),
]


def _pages(spec, filled_by: str) -> list[BenchPage]:
    out = []
    for seed, dpi, mode, form, numbers in spec:
        rng = np.random.default_rng([seed, form])
        for number in numbers:
            shift = tuple(float(v) for v in rng.uniform(-1.5, 1.5, 2))
            out.append(synth_page(seed, number, filled_by=filled_by, dpi=dpi, mode=mode,
                                  form=form, shift_px=shift))
    return out


def _read(pages: Sequence[BenchPage]) -> list[dict[str, FieldReading]]:
    rec = TesseractCellRecogniser()
    return [read_page_fields(p.image, p.page, p.dpi, rec, prefix=p.prefix) for p in pages]


@pytest.fixture(scope="module")
def typed() -> tuple[list[BenchPage], list[dict[str, FieldReading]]]:
    pages = _pages(TYPED, "typed")
    return pages, _read(pages)


@pytest.fixture(scope="module")
def hand() -> tuple[list[BenchPage], list[dict[str, FieldReading]]]:
    pages = _pages(HAND, "hand")
    return pages, _read(pages)


def _mismatches(pages, readings, kinds=None) -> list[str]:
    bad = []
    for page, got in zip(pages, readings):
        for f in page.page.fields:
            key = f"{page.prefix}.{f.id}"
            if kinds is not None and f.kind not in kinds:
                continue
            if got[key].value != page.truth[key]:
                bad.append(f"{page.name} {key}: {page.truth[key]!r} read {got[key].value!r}")
    return bad


# ------------------------------------------------------------------------------ geometry


@pytest.mark.parametrize("dpi,mode", [(200, "grey"), (200, "bitonal"), (300, "grey"),
                                      (300, "bitonal")])
def test_blank_pages_read_empty_whatever_the_registration_error(dpi, mode):
    """The printed borders never count as ink: every cell of a blank page, scanned and
    shifted by up to 2 px, holds no ink, and every field reads empty, unticked, unsigned."""
    model = load_form_model()
    rng = np.random.default_rng(dpi)
    profile = ScanProfile(dpi=dpi, mode=mode, max_skew_deg=0.0, p_upside_down=0.0,
                          p_sideways=0.0, scale_range=(1.0, 1.0), max_offset_mm=0.0)
    for form, number in (("m1", 1), ("m1", 2), ("m1", 3), ("m2", 1)):
        shift = rng.uniform(-2.0, 2.0, 2)
        page = model.page(form, number)
        clean = _shift(blank_page_image(form, number, dpi), shift)
        image, _ = scan(clean, rng, profile)
        inked = [(f.key, i) for f in page.fields for i, c in enumerate(f.cells)
                 if is_filled(cell_crop(image, c, dpi), dpi)[0]]
        assert inked == []
        got = read_page_fields(image, page, dpi, TesseractCellRecogniser(), prefix=form)
        assert [k for k, r in got.items() if r.value not in ("", False)] == []
        # a speck of dust in a cell leaves a little doubt (0.66 for 0.06 mm²), no more
        confs = [r.confidence for r in got.values()]
        assert min(confs) > 0.6 and np.mean(confs) > 0.97


def _shift(image: np.ndarray, shift) -> np.ndarray:
    m = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    return cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), borderValue=255)


def test_cell_crop_is_the_interior_with_white_paper():
    page = synth_page(3, 1, dpi=300, mode="grey", shift_px=(1.5, -1.0))
    cell = load_form_model().field("m1.3").cells[0]
    crop = cell_crop(page.image, cell, 300)
    # 13.17 x 18.84 pt is 54.9 x 78.5 px at 300 dpi: less the pixels the border (0.6 pt)
    # touches and a pixel of its halo each side
    assert 47 <= crop.shape[1] <= 52 and 71 <= crop.shape[0] <= 76
    assert np.median(crop) == 255 and crop.min() < 60
    assert ink_mm2(crop, 300) > 0.8


def test_a_faint_stroke_broken_into_specks_is_read_and_dust_is_not():
    """A thin 1 that a 200 dpi bitonal threshold left as specks (NIST anomalies seed 913: the
    last digit of a passport's expiry year, and the date read with seven digits; NIST seed
    9840: a whole spouse's block read empty) is a character to read; three specks of dust
    are not."""
    from extractors.cell_crops import FAINT_CONFIDENCE, FAINT_TRACES, _filled_cells, measure_ink

    def cell(specks: int = 0, digit: bool = False) -> np.ndarray:
        crop = np.full((32, 24), 255, np.uint8)
        if digit:
            cv2.line(crop, (12, 4), (12, 27), 0, 3)
        for k in range(specks):
            crop[4 + 5 * k, 10 + k % 2] = 0
        return crop

    inks = [measure_ink(c, 200) for c in
            (cell(digit=True), cell(specks=5), cell(specks=3), cell(), cell(specks=4))]
    assert inks[1].mm2 == 0 and inks[1].traces == 5 >= FAINT_TRACES
    assert _filled_cells(inks) == ((True, 1.0), (True, FAINT_CONFIDENCE), (False, 1.0),
                                   (False, 1.0), (True, FAINT_CONFIDENCE))


def _light_pen(page: BenchPage, keep: float = 0.2) -> np.ndarray:
    """The page as a light pen under a bitonal threshold leaves it: of the writing's dark
    pixels (not the printed form's) a scattered `keep` share, as single specks."""
    blank = blank_page_image(page.page.form, page.page.number, page.dpi)
    printed = cv2.dilate((blank < 200).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    pen = (page.image < 128) & ~printed
    specks = np.random.default_rng(7).random(pen.shape) < keep
    specks &= (np.indices(pen.shape).sum(axis=0) % 2) == 0  # no two specks touch sideways
    out = page.image.copy()
    out[pen] = 255
    out[pen & specks] = 0
    return out


def test_on_a_light_pen_page_nothing_reads_empty_for_sure():
    """A page written with a light pen that the scan broke into specks (NIST seed 10230: the
    Questore's city read as nothing and a ticked box as blank, both accepted): every field
    read empty that holds a speck is unsure, so none of the written ones is taken as empty;
    a cell of two specks is a character; a clean page is unchanged."""
    from extractors.cell_crops import (FAINT_CONFIDENCE, FAINT_TRACES, UNSURE_EMPTY,
                                       _filled_cells, faint_page, measure_ink)
    from extractors.fields import CHECK_MM2, CHECK_TRACES, _mark

    page = synth_page(10, 1, filled_by="hand", dpi=300, mode="bitonal")
    faint = _light_pen(page)
    inks = [measure_ink(cell_crop(faint, c, 300), 300)
            for f in page.page.fields if f.kind in (FieldKind.TEXT, FieldKind.DATE)
            for c in f.cells]
    clean = [measure_ink(cell_crop(page.image, c, 300), 300)
             for f in page.page.fields if f.kind in (FieldKind.TEXT, FieldKind.DATE)
             for c in f.cells]
    assert faint_page(inks) and not faint_page(clean)
    written = [k for k, v in page.truth.items() if v not in (None, "", False)]
    assert len(written) >= 8
    got = read_page_fields(faint, page.page, 300, _Ones(), prefix=page.prefix)
    empty = [k for k in written if got[k].value in ("", False)]
    assert empty and all(got[k].confidence <= UNSURE_EMPTY for k in empty), \
        [(k, got[k].confidence) for k in empty]
    as_before = read_page_fields(page.image, page.page, 300, _Ones(), prefix=page.prefix)
    assert all(r.confidence > UNSURE_EMPTY for k, r in as_before.items() if k in written)

    def cell(specks: int) -> np.ndarray:
        crop = np.full((32, 24), 255, np.uint8)
        for k in range(specks):
            crop[4 + 5 * k, 10 + k % 2] = 0
        return crop

    few = [measure_ink(cell(n), 200) for n in (2, 1, 0, FAINT_TRACES)]
    assert _filled_cells(few, faint=True) == ((True, FAINT_CONFIDENCE), (False, UNSURE_EMPTY),
                                              (False, 1.0), (True, FAINT_CONFIDENCE))
    assert _filled_cells(few) == ((False, 1.0), (False, 1.0), (False, 1.0),
                                  (True, FAINT_CONFIDENCE))
    tick = few[1]  # a tick that left one speck
    assert _mark(tick, CHECK_MM2, CHECK_TRACES, faint=True) == (False, UNSURE_EMPTY)
    assert _mark(tick, CHECK_MM2, CHECK_TRACES, faint=False) == (False, 1.0)


# --------------------------------------------------------------------------- typed pages


def test_typed_pages_read_exactly(typed):
    """Every field of every machine-printed page equals the truth: comb fields, check
    boxes, SI/NO options, the signature and the Questore line (measured: 593 of 593), each
    reading confident, and a family member's Modulo 1 keyed with its prefix."""
    pages, readings = typed
    assert sum(len(p.truth) for p in pages) > 550
    assert _mismatches(pages, readings) == []
    confs = [r.confidence for got in readings for r in got.values()]
    assert min(confs) >= 0.3 and np.mean(confs) >= 0.9
    family = [got for page, got in zip(pages, readings) if page.prefix == "m1#2"]
    assert family and all(all(k.startswith("m1#2.") for k in got) for got in family)


def test_readings_carry_cells_bbox_and_raw():
    rec = TesseractCellRecogniser()
    pages = [synth_page(0, number, dpi=200, mode="grey") for number in (1, 2)]
    first, second = (read_page_fields(p.image, p.page, p.dpi, rec) for p in pages)
    surname = first["m1.3"]
    assert len(surname.cells) == 60
    assert [c for c, _ in surname.cells if c] == [c for c in pages[0].chars["m1.3"] if c]
    assert surname.raw.rstrip() == "".join(c or " " for c in pages[0].chars["m1.3"]).rstrip()
    f = load_form_model().field("m1.3")
    assert surname.bbox == pytest.approx((f.bbox.x * 200 / 72, f.bbox.y * 200 / 72,
                                          f.bbox.w * 200 / 72, f.bbox.h * 200 / 72))
    assert first["m1.29"].cells == () and first["m1.29"].value is True
    option = second["m1.37"]
    assert option.value == pages[1].truth["m1.37"] == "NO"
    assert [c for c, _ in option.cells] == [None, "X"] and option.raw == "NO"


# ---------------------------------------------------------------------------- hand pages


def test_hand_pages(hand):
    """Check boxes and signatures exactly; whether a cell holds a character at least 99.5%
    of the time (the characters themselves are a later issue's recogniser); and where
    Tesseract misreads hand print, it says so with a lower confidence."""
    pages, readings = hand
    kinds = {FieldKind.CHECK, FieldKind.SIGNATURE}
    marked = [p.truth[f"{p.prefix}.{f.id}"] for p in pages for f in p.page.fields
              if f.kind in kinds]
    assert len(marked) > 120 and sum(bool(v) for v in marked) > 30
    assert _mismatches(pages, readings, kinds) == []

    decided = [(ch is None) == (want is None)
               for page, got in zip(pages, readings) for key, chars in page.chars.items()
               for (ch, _), want in zip(got[key].cells, chars)]
    assert len(decided) > 3000 and np.mean(decided) >= 0.995

    right, wrong = [], []
    for page, got in zip(pages, readings):
        for key in page.chars:
            (right if got[key].value == page.truth[key] else wrong).append(got[key].confidence)
    assert len(wrong) >= 10
    assert np.mean(wrong) < np.mean(right) - 0.3


# ------------------------------------------------------------------ the recogniser interface


class _Ones:
    """A recogniser that reads every cell as "1": shows what fields.py does around it."""

    name = "ones"

    def __init__(self) -> None:
        self.calls: list[list[CellBatchItem]] = []

    def recognise(self, items):
        self.calls.append(list(items))
        return [(("1",) * len(it.crops), (0.9,) * len(it.crops)) for it in items]


@pytest.mark.parametrize("filled_by,seed,number", [("typed", 0, 1), ("typed", 2, 2),
                                                    ("hand", 5, 2), ("hand", 13, 6)])
def test_one_batched_call_and_values_normalised_as_the_truth(filled_by, seed, number):
    """All filled cells of a page go to the recogniser in one call, each field's with its
    alphabet; values come out normalised the truth's way, empty cells as spaces."""
    page = synth_page(seed, number, filled_by=filled_by, dpi=300, mode="grey")
    rec = _Ones()
    got = read_page_fields(page.image, page.page, page.dpi, rec, prefix=page.prefix)
    assert len(rec.calls) == 1
    items = {it.key: it for it in rec.calls[0]}
    model = load_form_model()
    for key, chars in page.chars.items():
        f = model.field(key)
        ones = ["1" if c else None for c in chars]
        want = {FieldKind.TEXT: text_value, FieldKind.DATE: date_value}.get(f.kind, compact_value)
        assert got[key].value == want(ones), key
        if any(chars):
            assert len(items[key].crops) == sum(c is not None for c in chars)
            assert items[key].alphabet == field_alphabet(f)
        else:
            assert key not in items and got[key].confidence > 0.9


def test_alphabets():
    model = load_form_model()
    assert field_alphabet(model.field("m1.34")) == DIGITS  # date
    assert field_alphabet(model.field("m1.16")) == DIGITS  # motivo code
    assert field_alphabet(model.field("m1.5")) == LETTERS  # province
    assert field_alphabet(model.field("m1.33")) == LETTERS  # sesso
    assert field_alphabet(model.field("m1.3")) == TEXT


def test_unread_cell_keeps_its_place():
    page = synth_page(0, 1, dpi=200, mode="grey")

    class Blind:
        name = "blind"

        def recognise(self, items):
            return [(("",) * len(it.crops), (0.0,) * len(it.crops)) for it in items]

    got = read_page_fields(page.image, page.page, page.dpi, Blind())
    date = got["m1.28"]
    assert date.value == UNREAD * 8 and date.confidence == 0.0


# ------------------------------------------------------------------------ both readers


def test_stacked_recogniser_reads_what_the_naive_one_reads():
    """Both readers on the same pages (their speed is compared by `plico bench speed`)."""
    sample = [synth_page(seed, number, dpi=dpi, mode="grey")
              for seed, dpi in ((5, 300), (9, 200)) for number in (1, 2)]
    rows = bench_fields(sample, [TesseractCellRecogniser(), NaiveTesseractRecogniser()])
    exact = {(r["recogniser"], r["measure"]): r["exact"] for r in rows if "exact" in r}
    assert exact["tesseract-stacked", "text"] == 1.0
