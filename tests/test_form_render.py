"""The blank form rendition: the PDF, the page images, and where their cells fall.

The cell test is the contract with the rest of the pipeline: a page rendered without noise
must have its printed cells where the form model says, within 1 px at 300 dpi, and nothing
printed inside them. Cells are found as the pipeline would find them, with OpenCV contours.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import cv2
import numpy as np
import pypdfium2 as pdfium
import pytest

from pipeline.errors import FormModelError
from pipeline.form import Cell, FieldKind, FormModel, load_form_model
from pipeline.form.model import validate
from pipeline.form.render import (
    Text,
    blank_page_image,
    blank_pdf_bytes,
    layout_page,
    write_blank_pdf,
)

DPI = 300
SCALE = DPI / 72
# the three official pages, one of our Modulo 1 pages (the SI/NO options) and Modulo 2's
# first page (the header boxes on our layout)
CHECKED_PAGES = [("m1", 1), ("m1", 2), ("m1", 3), ("m1", 5), ("m2", 1)]


def detect_cells(image: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Cell-sized rectangles in ``image`` as (left, top, right, bottom) of their strokes' centre
    lines, in pixel coordinates (pixel i spans [i, i + 1))."""
    dark = (image < 128).astype(np.uint8)
    contours, hierarchy = cv2.findContours(dark, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    found = []
    for i, contour in enumerate(contours):
        parent = hierarchy[0][i][3]
        if parent < 0:
            continue  # an outer border; cells are found by their white hole
        hx, hy, hw, hh = cv2.boundingRect(contour)
        # a cell is 13.2 x 18.8 pt (55 x 79 px); the Sigla Provincia cells 14.2 x 19.9 pt
        if not (45 <= hw <= 70 and 65 <= hh <= 95):
            continue
        if cv2.contourArea(contour) < 0.9 * (hw - 1) * (hh - 1):
            continue  # not a rectangle
        ox, oy, ow, oh = cv2.boundingRect(contours[parent])
        # both borders run on the stroke's outermost and innermost dark pixels: the stroke's
        # centre line lies half-way between them
        found.append((
            (ox + hx) / 2 + 0.5,
            (oy + hy) / 2 + 0.5,
            (ox + ow - 1 + hx + hw - 1) / 2 + 0.5,
            (oy + oh - 1 + hy + hh - 1) / 2 + 0.5,
        ))
    return found


def model_cells(form: str, number: int) -> list[tuple[str, Cell]]:
    page = load_form_model().page(form, number)
    return [(f.key, c) for f in page.fields for c in f.cells]


def test_blank_pdf_has_eleven_a4_pages(tmp_path: Path) -> None:
    out = tmp_path / "blank.pdf"
    write_blank_pdf(out)
    pdf = pdfium.PdfDocument(out)
    try:
        assert len(pdf) == 11
        for i in range(len(pdf)):
            width, height = pdf[i].get_size()
            assert (round(width, 2), round(height, 2)) == (595, 842)
        first = pdf[0].get_textpage().get_text_range()
        assert "MOD. 209 - MODULO 1" in first
        assert "Al Signor Questore di" in first
        assert "Spazio per la" in first and "€ 16,00" in first
        assert "Codice Istanza" in first
        assert "Modulo 1 - pagina 1 di 8" in first
        assert "non è il modulo ufficiale" in first
        ninth = pdf[8].get_textpage().get_text_range()
        assert "MOD. 209 - MODULO 2" in ninth and "Modulo 2 - pagina 1 di 3" in ninth
    finally:
        pdf.close()


def test_blank_pdf_is_deterministic(tmp_path: Path) -> None:
    write_blank_pdf(tmp_path / "a.pdf")
    write_blank_pdf(tmp_path / "b.pdf")
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()
    assert blank_pdf_bytes() == (tmp_path / "a.pdf").read_bytes()


def test_page_image_shape_and_cache() -> None:
    image = blank_page_image("m1", 4, DPI)
    assert image.dtype == np.uint8
    assert image.shape == (round(842 * SCALE), round(595 * SCALE)) == (3508, 2479)
    assert not image.flags.writeable
    assert image[0, 0] == 255 and np.median(image) == 255  # white paper, sparse ink
    assert blank_page_image("m1", 4, DPI) is image
    small = blank_page_image("m1", 4, 100)
    assert small.shape == (round(842 * 100 / 72), round(595 * 100 / 72))


@pytest.mark.parametrize(("form", "number"), CHECKED_PAGES)
def test_cells_are_where_the_model_says(form: str, number: int) -> None:
    image = blank_page_image(form, number, DPI)
    found = detect_cells(image)
    cells = model_cells(form, number)
    misplaced = []
    for key, c in cells:
        want = (c.x * SCALE, c.y * SCALE, c.x2 * SCALE, c.y2 * SCALE)
        near = [r for r in found if all(abs(r[i] - want[i]) <= 1.0 for i in range(4))]
        if len(near) != 1:
            misplaced.append((key, [round(v, 1) for v in want], len(near)))
    assert not misplaced, f"cells not found within 1 px: {misplaced[:5]}"
    # and nothing cell-sized that the model does not know
    assert len(found) == len(cells)


@pytest.mark.parametrize(("form", "number"), CHECKED_PAGES)
def test_nothing_printed_inside_cells(form: str, number: int) -> None:
    image = blank_page_image(form, number, DPI)
    page = load_form_model().page(form, number)
    boxes = [(f.key, c) for f in page.fields for c in f.cells]
    boxes += [(f.key, f.box) for f in page.fields if f.box is not None and f.kind is FieldKind.SIGNATURE]
    boxes += [(name, c) for name, c in page.boxes if name == "codice_istanza"]
    inked = []
    for key, c in boxes:
        x1, y1 = math.ceil(c.x * SCALE + 2), math.ceil(c.y * SCALE + 2)
        x2, y2 = math.floor(c.x2 * SCALE - 2), math.floor(c.y2 * SCALE - 2)
        if image[y1:y2, x1:x2].min() < 255:
            inked.append(key)
    assert not inked, f"ink inside the boxes of {inked}"


def test_no_text_touches_a_cell_on_any_page() -> None:
    for page in load_form_model().pages:
        cells = [c for f in page.fields for c in f.cells]
        for mark in layout_page(page):
            if isinstance(mark, Text):
                assert not any(mark.rect.overlaps(c) for c in cells), (page.name, mark)


def test_every_field_number_is_printed() -> None:
    for page in load_form_model().pages:
        printed = {
            mark.spans[0][1].strip() for mark in layout_page(page) if isinstance(mark, Text)
        }
        missing = [f.id for f in page.fields if f.id.isdigit() and f.id not in printed]
        assert not missing, (page.name, missing)


def test_continua_on_pages_six_and_seven_only() -> None:
    pdf = pdfium.PdfDocument(blank_pdf_bytes())
    try:
        # the bottom band only: the section titles of pages 7 and 8 say "(CONTINUA)" too
        bottoms = [
            pdf[i].get_textpage().get_text_bounded(bottom=20, top=60) for i in range(8)
        ]
    finally:
        pdf.close()
    assert [i + 1 for i, text in enumerate(bottoms) if "CONTINUA" in text] == [6, 7]


def test_header_boxes_are_data_and_validated() -> None:
    model = load_form_model()
    for form in ("m1", "m2"):
        boxes = dict(model.page(form, 1).boxes)
        assert set(boxes) == {"marca_da_bollo", "codice_istanza"}
        assert 180 <= boxes["codice_istanza"].w <= 220 and 50 <= boxes["codice_istanza"].h <= 70
        assert all(b.y2 < 185 for b in boxes.values())
    page = model.page("m1", 1)

    def with_boxes(boxes: tuple[tuple[str, Cell], ...]) -> FormModel:
        changed = dataclasses.replace(page, boxes=boxes)
        pages = tuple(changed if p is page else p for p in model.pages)
        return FormModel(pages, model.default_cell)

    # over the first cell of field 3 (Cognome)
    with pytest.raises(FormModelError, match="m1p1.stray overlaps|overlaps m1p1.stray"):
        validate(with_boxes(page.boxes + (("stray", Cell(40, 215, 30, 30)),)))
    with pytest.raises(FormModelError, match="outside page"):
        validate(with_boxes((("stray", Cell(560, 10, 60, 60)),)))
    validate(with_boxes(page.boxes))
