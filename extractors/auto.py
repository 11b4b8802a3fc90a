"""Choosing the cell recogniser per page: Tesseract for machine print, the cell classifier
for hand print, without being told which a kit holds.

A printout is one font at one size, so its cells repeat identical glyphs: the same shape
test the Tesseract reader's vote uses (`recognise._same`: the XOR of two glyphs leaves
nothing after a 2x2 erosion) finds a twin for most of a typed page's glyphs, and for almost
none of a hand-filled page's, where every stroke differs. A page is machine print when at
least `TWIN_SHARE` of a sample of its glyphs have a twin in the sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from extractors.recognise import (
    CellBatchItem,
    CellReading,
    CellRecogniser,
    TesseractCellRecogniser,
    _glyph,
    _same,
)

#: Glyphs sampled per page (evenly over its filled cells) for the twin test.
SAMPLE = 48
#: Share of sampled glyphs with an identical twin above which a page is machine print.
TWIN_SHARE = 0.3


def twin_share(items: Sequence[CellBatchItem], sample: int = SAMPLE) -> float:
    """Share of a page's sampled glyphs that have an identical twin among the others."""
    crops = [c for it in items for c in it.crops]
    if len(crops) < 2:
        return 0.0
    pick = np.unique(np.linspace(0, len(crops) - 1, min(sample, len(crops))).round().astype(int))
    glyphs = [g for g in (_glyph(crops[i]) for i in pick) if g is not None]
    if len(glyphs) < 2:
        return 0.0
    twin = [False] * len(glyphs)
    for i, a in enumerate(glyphs):
        if twin[i]:
            continue
        for j in range(i + 1, len(glyphs)):
            if _same(a, glyphs[j]):
                twin[i] = twin[j] = True
                break
    return sum(twin) / len(glyphs)


class AutoRecogniser:
    """Per page: Tesseract where the glyphs say machine print, else the cell classifier
    (whose probabilities the decoder then reads). `last` says which read the last page."""

    name = "auto"

    def __init__(self, hand: CellRecogniser, typed: CellRecogniser | None = None) -> None:
        self.hand = hand
        self.typed = typed or TesseractCellRecogniser()
        self.classes: str = getattr(hand, "classes", "")
        self.last = ""

    def _typed(self, items: Sequence[CellBatchItem]) -> bool:
        typed = twin_share(items) >= TWIN_SHARE
        self.last = self.typed.name if typed else self.hand.name
        return typed

    def choose(self, items: Sequence[CellBatchItem]) -> CellRecogniser:
        return self.typed if self._typed(items) else self.hand

    def recognise(self, items: Sequence[CellBatchItem]) -> list[CellReading]:
        return self.choose(items).recognise(items)


RECOGNISERS = ("auto", "cellnet", "tesseract")


def make_recogniser(kind: str = "auto") -> CellRecogniser:
    """The cell recogniser by name: ``auto`` (per page, see `AutoRecogniser`; the default),
    ``cellnet`` (the hand-print classifier for every page) or ``tesseract``."""
    if kind == "tesseract":
        return TesseractCellRecogniser()
    if kind not in RECOGNISERS:
        raise ValueError(f"recogniser must be one of {', '.join(RECOGNISERS)}, not {kind!r}")
    from extractors.cellnet import CellNetRecogniser

    return CellNetRecogniser() if kind == "cellnet" else AutoRecogniser(CellNetRecogniser())
