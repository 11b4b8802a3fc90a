"""Registering form pages on their template: extractors.register, through prepare_page.

tests/data/seed7300-kit4-m1p1.png is a real page of the generator's batch, cut unchanged
(bitonal, 300 dpi) from the PDF of
    plico synth --seed 7300 --kits 6 --filled-by hand --mode mixed --out DIR
(page index 61: kit 4, Modulo 1 page 1, scanned at scale ~1.019 with 1.3 deg of skew).
Before the vote tried scales, its fit landed one block of comb rows low (Cognome's cells on
Nome's, 60 pt down): every comb field read the one above it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from extractors import register
from extractors.cell_crops import cell_crop, is_filled
from extractors.raster import read_pages
from pipeline.form import load_form_model
from pipeline.form.render import blank_page_image
from pipeline.pages import prepare_page
from pipeline.settings import Settings

FIXTURE = Path(__file__).parent / "data" / "seed7300-kit4-m1p1.png"
# the batch's truth (synth-7300.truth.json, kit 4) for the fields the test looks at
TRUTH_TEXT = {"3": "BRAVO", "4": "NARCISA", "6": "CIVITAVECCHIA"}
TRUTH_CHECKS = {"8": False, "9": True, "14": True, "15": False, "23": True, "24": False}


def _inked(image: np.ndarray, cells, dpi: int) -> list[bool]:
    return [is_filled(cell_crop(image, c, dpi), dpi)[0] for c in cells]


def test_scaled_hand_page_registers_on_its_own_rows(tmp_path):
    page = next(read_pages(FIXTURE, settings=Settings(data_dir=tmp_path)))
    assert page.dpi == 300
    prepared = prepare_page(page)
    reg = prepared.registration
    assert prepared.kind == "m1p1" and reg is not None
    # every printed box on the page is explained by a template cell, and fits it closely
    assert reg.matched == reg.detected and reg.detected > 200
    assert reg.residual_pt < 0.5 and reg.score > 0.95
    scale = np.hypot(*reg.as_array()[:, 0]) / (300 / 72)
    assert 1.01 < scale < 1.03

    warped = register.warp(prepared.image, reg, 300)
    fields = {f.id: f for f in load_form_model().page("m1", 1).fields}
    for fid, value in TRUTH_TEXT.items():
        inked = _inked(warped, fields[fid].cells, 300)
        assert inked == [i < len(value) for i in range(len(inked))], fid
    for fid, ticked in TRUTH_CHECKS.items():
        assert _inked(warped, fields[fid].cells, 300) == [ticked], fid


@pytest.mark.parametrize("number,scale,offset_px", [
    (1, 1.019, (-20.0, -40.0)), (1, 0.975, (25.0, 30.0)), (2, 1.03, (10.0, -35.0)),
    (3, 0.985, (-30.0, 15.0)),
])
def test_scaled_blank_pages_register_within_a_pixel(number, scale, offset_px):
    """A blank page scaled about its centre and shifted: the fit puts every template cell
    where the known transform does, within a pixel at 300 dpi."""
    dpi = 300
    clean = blank_page_image("m1", number, dpi)
    h, w = clean.shape
    truth = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, scale)
    truth[:, 2] += offset_px
    image = cv2.warpAffine(clean, truth, (w, h), flags=cv2.INTER_AREA, borderValue=255)
    reg = register.register(image, dpi)
    assert reg is not None and reg.page == f"m1p{number}"
    pts = np.array([(c.x + c.w / 2, c.y + c.h / 2) for f in
                    load_form_model().page("m1", number).fields for c in f.cells])
    got = pts @ reg.as_array()[:, :2].T + reg.as_array()[:, 2]
    want = (pts * dpi / 72) @ truth[:, :2].T + truth[:, 2]
    assert np.abs(got - want).max() < 1.0


def _page_image(image: np.ndarray, dpi: int):
    from extractors.page_image import PageImage

    return PageImage("page.png", "0" * 64, 0, image, dpi, False, "grey")


def test_a_form_page_whose_grid_does_not_register_is_named_by_its_footer():
    """Modulo 1 page 3 at 200 dpi: registered as itself; with its grid washed out (all but
    a few rows of boxes gone), its printed footer still names it, and what cannot be
    registered is an unreadable page 3, never an attachment that leaves page 3 missing."""
    dpi = 200
    clean = np.asarray(blank_page_image("m1", 3, dpi)).copy()
    assert prepare_page(_page_image(clean, dpi)).kind == "m1p3"
    h = clean.shape[0]
    washed = clean.copy()
    washed[int(0.05 * h): int(0.93 * h), :] = 255
    prepared = prepare_page(_page_image(washed, dpi))
    assert prepared.kind == "unknown" and prepared.printed_page == "m1p3"
    assert prepared.image.shape == washed.shape  # kept whole for the reviewer
    from pipeline.pages import footer_page

    assert footer_page(washed, dpi) == "m1p3"
    assert footer_page(np.full_like(washed, 255), dpi) is None
