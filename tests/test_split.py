"""Splitting a batch into kits, on page sequences built by hand."""

from __future__ import annotations

import numpy as np

from pipeline.pages import PreparedPage, SourceRef
from pipeline.split import split_batch


def _page(i: int, kind: str, codes: tuple[str, ...] = ()) -> PreparedPage:
    img = np.full((10, 10), 255, np.uint8)
    src = SourceRef("b.pdf", "0" * 64, i, 300)
    return PreparedPage(src, img, 0, 0.0, kind == "blank", kind, codes=codes)


def _kinds(kind_list: list[str]) -> list[PreparedPage]:
    pages = []
    for i, k in enumerate(kind_list):
        codes = ("111111111111",) if k in ("label", "m1p1*") else ()
        pages.append(_page(i, k.rstrip("*"), codes))
    return pages


M1 = ["m1p1*", "m1p2", "m1p3", "m1p4", "m1p5", "m1p6", "m1p7", "m1p8"]


def test_label_pages_open_kits():
    pages = _kinds(["label", *M1, "passport", "bollettino", "label", *M1, "passport"])
    split = split_batch(pages)
    assert [len(k.pages) for k in split.kits] == [11, 10]
    assert split.kits[0].assicurata == "111111111111"
    assert not split.orphans


def test_a_kit_without_its_label_opens_at_the_stickered_first_page():
    pages = _kinds(["label", *M1, "passport", *M1, "passport", "bollettino"])
    split = split_batch(pages)
    assert [len(k.pages) for k in split.kits] == [10, 10]
    assert split.kits[1].assicurata is None and split.kits[1].codice_istanza == "111111111111"


def test_second_modulo1_without_sticker_is_a_family_member():
    family = ["m1p1"] + M1[1:]
    pages = _kinds(["label", *M1, *family, "m2p1", "m2p2", "m2p3", "passport", "passport"])
    split = split_batch(pages)
    assert len(split.kits) == 1
    owners = split.kits[0].owners
    assert owners[1:9] == ["m1"] * 8 and owners[9:17] == ["m1#2"] * 8
    assert owners[17:20] == ["m2"] * 3


def test_duplex_blank_backs_stay_in_their_kit_and_leading_pages_are_orphans():
    pages = _kinds(["passport", "blank", "label", "blank", "m1p1*", "blank"])
    split = split_batch(pages)
    assert [p.source.index for p in split.orphans] == [0, 1]
    assert [p.source.index for p in split.kits[0].pages] == [2, 3, 4, 5]
