"""Choosing the cell recogniser per page: Tesseract for machine print, the cell classifier
for hand print, without being told which a kit holds.

A printout is one font at one size, so its cells repeat identical glyphs: the same shape
test the Tesseract reader's vote uses (`recognise._same`: the XOR of two glyphs leaves
nothing after a 2x2 erosion) finds a twin for most of a typed page's glyphs, and for almost
none of a hand-filled page's, where every stroke differs. A page is machine print when at
least `TWIN_SHARE` of a sample of its glyphs have a twin in the sample.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from extractors.recognise import (
    CellBatchItem,
    CellReading,
    CellRecogniser,
    TesseractCellRecogniser,
    _clusters,
    _glyph,
)

#: Glyphs sampled per page (evenly over its filled cells) for the twin test.
SAMPLE = 48
#: Share of sampled glyphs with an identical twin above which a page is machine print.
TWIN_SHARE = 0.3


def twin_share(items: Sequence[CellBatchItem], sample: int = SAMPLE) -> float:
    """Share of a page's sampled glyphs that have an identical twin among the others: the
    glyphs in a cluster of two or more of the Tesseract reader's vote (`recognise._clusters`)."""
    crops = [c for it in items for c in it.crops]
    if len(crops) < 2:
        return 0.0
    pick = np.unique(np.linspace(0, len(crops) - 1, min(sample, len(crops))).round().astype(int))
    glyphs = [g for g in (_glyph(crops[i]) for i in pick) if g is not None]
    if len(glyphs) < 2:
        return 0.0
    clusters = _clusters(glyphs)
    sizes = Counter(clusters)
    return sum(sizes[k] > 1 for k in clusters) / len(glyphs)


#: Tesseract cells below this confidence get the classifier's second opinion ...
DOUBTFUL = 0.6
#: ... which replaces Tesseract's answer when the classifier is at least this sure of it.
SURE = 0.95


class SecondOpinion:
    """Tesseract, with the cell classifier's reading for the cells Tesseract doubts.

    A typed page's rare misreads come with a low confidence (a 1 read as 4 at 0.13 on a
    200 dpi bitonal scan, which became a sheet-count anomaly): for those cells only, the
    classifier's answer is taken when it is sure of it (`SURE`), with its probability as the
    cell's confidence; the classifier runs on those cells alone, so a clean page costs
    nothing more."""

    def __init__(self, typed: CellRecogniser, hand: CellRecogniser) -> None:
        self.typed, self.hand = typed, hand
        self.name = typed.name

    def recognise(self, items: Sequence[CellBatchItem]) -> list[CellReading]:
        readings = [(list(c), list(p)) for c, p in self.typed.recognise(items)]
        probabilities = getattr(self.hand, "probabilities", None)
        doubtful = [(i, j) for i, (chars, confs) in enumerate(readings)
                    for j, conf in enumerate(confs) if conf < DOUBTFUL]
        if not doubtful or probabilities is None:
            return [(tuple(c), tuple(p)) for c, p in readings]
        asked = [CellBatchItem(items[i].key, items[i].kind, items[i].alphabet,
                               (items[i].crops[j],)) for i, j in doubtful]
        classes = self.hand.classes
        for (i, j), item, probs in zip(doubtful, asked, probabilities(asked)):
            cols = [classes.find(c) for c in item.alphabet if c in classes]
            sub = probs[0, cols].astype(np.float64)
            sub /= max(float(sub.sum()), 1e-12)
            k = int(sub.argmax())
            if sub[k] >= SURE:
                readings[i][0][j], readings[i][1][j] = classes[cols[k]], float(sub[k])
        return [(tuple(c), tuple(p)) for c, p in readings]


class AutoRecogniser:
    """Per page: Tesseract where the glyphs say machine print (with the classifier's
    second opinion on its doubtful cells, `SecondOpinion`), else the cell classifier (whose
    probabilities the decoder then reads). `last` says which read the last page."""

    name = "auto"

    def __init__(self, hand: CellRecogniser, typed: CellRecogniser | None = None) -> None:
        self.hand = hand
        self.typed = SecondOpinion(typed or TesseractCellRecogniser(), hand)
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
