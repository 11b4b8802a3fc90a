"""Form pages placed by their position in the kit (pipeline/gaps.py), on the pages of the
committed typed sample prepared for real."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from extractors.raster import read_pages
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


def test_a_stray_between_form_pages_that_does_not_register_is_that_page_unread(kit):
    k = _copy(kit)
    i = _index(k, "m1p5")
    k.pages[i], k.owners[i] = _stray(k.pages[i]), ""
    white = np.full_like(kit.pages[i].image, 255)
    assert place_gaps(k, lambda j: white) == [i]
    assert (k.pages[i].kind, k.pages[i].printed_page, k.owners[i]) == ("unknown", "m1p5", "m1")


def test_after_the_last_page_only_registration_places_a_page(kit):
    k = _copy(kit)
    i = _index(k, "m1p8")
    k.pages[i], k.owners[i] = _stray(k.pages[i]), ""
    (gap,) = gaps(k)
    assert gap[:2] == ("m1", ["m1p8"]) and gap[2][0] == i and gap[3] is False
    white = np.full_like(kit.pages[i].image, 255)
    assert place_gaps(k, lambda j: white) == []
    assert k.pages[i].kind == "attachment"
