"""Form pages placed by their position in the kit (pipeline/gaps.py), on the pages of the
committed typed sample prepared for real."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from extractors.raster import read_pages
from extractors.register import CELL_H_PT, CELL_W_PT
from pipeline.gaps import gaps, place_gaps
from pipeline.pages import prepare_page
from pipeline.settings import Settings
from pipeline.split import split_batch

SAMPLE = Path(__file__).resolve().parent.parent / "sample_scans" / "typed-300dpi-bitonal.pdf"


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"))
    pages = [prepare_page(p) for p in read_pages(SAMPLE.read_bytes(), settings=settings,
                                                 name=SAMPLE.name, sha256="0" * 64)]
    (only,) = split_batch(pages).kits
    return only


def _stray(page):
    """The page as preparation leaves a form page it could not place: an attachment."""
    return dataclasses.replace(page, kind="attachment", registration=None, printed_page=None)


def _copy(kit):
    return dataclasses.replace(kit, pages=list(kit.pages), owners=list(kit.owners))


def _index(kit, kind: str) -> int:
    return next(i for i, p in enumerate(kit.pages) if p.kind == kind)


def test_a_complete_kit_has_no_gaps(kit):
    assert [p.kind for p in kit.pages if p.kind.startswith("m1p")] == [f"m1p{n}" for n in range(1, 9)]
    assert gaps(kit) == []
    assert place_gaps(_copy(kit), lambda i: pytest.fail("no page to examine")) == []


def test_a_form_page_taken_for_an_attachment_is_registered_again(kit):
    k = _copy(kit)
    i = _index(k, "m1p4")
    original = k.pages[i]
    k.pages[i], k.owners[i] = _stray(original), ""
    assert gaps(k) == [("m1", ["m1p4"], [i], True)]
    assert place_gaps(k, lambda j: kit.pages[j].image) == [i]
    assert k.pages[i].kind == "m1p4" and k.owners[i] == "m1"
    assert k.pages[i].registration is not None


def _grid(shape: tuple[int, int], dpi: int) -> np.ndarray:
    """A page of 48 cell-sized boxes in no form's layout: a grid, but no page of ours."""
    img = np.full(shape, 255, np.uint8)
    w, h = (round(v * dpi / 72) for v in (CELL_W_PT, CELL_H_PT))
    rng = np.random.default_rng(1)
    for x, y in zip(rng.integers(100, shape[1] - 200, 48), rng.integers(100, shape[0] - 200, 48)):
        cv2.rectangle(img, (int(x), int(y)), (int(x) + w, int(y) + h), 0, 3)
    return img


def test_a_stray_between_form_pages_that_does_not_register_is_that_page_unread(kit):
    k = _copy(kit)
    i = _index(k, "m1p5")
    k.pages[i], k.owners[i] = _stray(k.pages[i]), ""
    grid = _grid(kit.pages[i].image.shape, kit.pages[i].dpi)
    assert place_gaps(k, lambda j: grid) == [i]
    assert (k.pages[i].kind, k.pages[i].printed_page, k.owners[i]) == ("unknown", "m1p5", "m1")


def test_a_stray_without_a_grid_of_cells_stays_an_attachment(kit):
    """A photocopy between two form pages is not taken for the page missing there."""
    k = _copy(kit)
    i = _index(k, "m1p5")
    k.pages[i], k.owners[i] = _stray(k.pages[i]), ""
    white = np.full_like(kit.pages[i].image, 255)
    assert place_gaps(k, lambda j: white) == []
    assert k.pages[i].kind == "attachment"


def test_more_strays_than_missing_pages(kit):
    """The missing page found, the other stray stays what it was (no registration against
    no candidate at all)."""
    k = _copy(kit)
    i = _index(k, "m1p4")
    k.pages[i], k.owners[i] = _stray(k.pages[i]), ""
    k.pages.insert(i + 1, _stray(kit.pages[i]))
    k.owners.insert(i + 1, "")
    images = {i: kit.pages[i].image, i + 1: _grid(kit.pages[i].image.shape, kit.pages[i].dpi)}
    assert gaps(k) == [("m1", ["m1p4"], [i, i + 1], True)]
    assert place_gaps(k, images.__getitem__) == [i]
    assert k.pages[i].kind == "m1p4" and k.pages[i + 1].kind == "attachment"


def test_a_gap_with_another_page_in_it_is_not_closed(kit):
    k = _copy(kit)
    i = _index(k, "m1p4")
    k.pages[i], k.owners[i] = _stray(k.pages[i]), ""
    passport = next(p for p in kit.pages if p.kind == "passport")
    k.pages.insert(i + 1, passport)
    k.owners.insert(i + 1, "")
    assert gaps(k) == [("m1", ["m1p4"], [i], False)]


def test_after_the_last_page_only_registration_places_a_page(kit):
    k = _copy(kit)
    i = _index(k, "m1p8")
    k.pages[i], k.owners[i] = _stray(k.pages[i]), ""
    (gap,) = gaps(k)
    assert gap[:2] == ("m1", ["m1p8"]) and gap[2][0] == i and gap[3] is False
    white = np.full_like(kit.pages[i].image, 255)
    assert place_gaps(k, lambda j: white) == []
    assert k.pages[i].kind == "attachment"
