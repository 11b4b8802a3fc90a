"""Choosing the cell recogniser per page: Tesseract for machine print, the cell classifier
for hand print, without being told which a kit holds.

A printout is one font at one size, so its cells repeat identical glyphs: the same shape
test the Tesseract reader's vote uses (`recognise._same`: the XOR of two glyphs leaves
nothing after a 2x2 erosion) finds a twin for most of a typed page's glyphs, and for few of
a hand-filled page's, where every stroke differs. And its capitals and digits all stand one
height. A page is machine print when at least `TWIN_SHARE` of a sample of its glyphs have a
twin in the sample and at least `SAME_HEIGHT` of them stand the page's common height.

The height cue came with the real handwriting of NIST writers: thin, upright strokes in
small cells pass the twin test more often than the generator's writers, and two hand-filled
pages of `plico bench accuracy --seed 8300 --writers nist-bench` (twin shares 0.31 and 0.33)
went to Tesseract and came out garbage. Measured on seeds 8300 (NIST, 300 dpi), 6001 (typed,
200 dpi) and 7800 (generator hand, 200 dpi), share of glyphs at the common height: typed
pages 0.93-1.0 (twin shares 0.40-0.89); NIST pages 0.31-0.65; the generator's 0.36-0.94 but
with twin shares of 0.04 at most.
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
    _Glyph,
)

#: Glyphs sampled per page (evenly over its filled cells) for the twin test.
SAMPLE = 48
#: Share of sampled glyphs with an identical twin above which a page is machine print.
TWIN_SHARE = 0.3


def _sample(items: Sequence[CellBatchItem], sample: int = SAMPLE) -> list[_Glyph]:
    """The glyphs of up to `sample` of a page's filled cells, evenly spread over them."""
    crops = [c for it in items for c in it.crops]
    if not crops:
        return []
    pick = np.unique(np.linspace(0, len(crops) - 1, min(sample, len(crops))).round().astype(int))
    return [g for g in (_glyph(crops[i]) for i in pick) if g is not None]


def _twins(glyphs: Sequence[_Glyph]) -> float:
    if len(glyphs) < 2:
        return 0.0
    clusters = _clusters(glyphs)
    sizes = Counter(clusters)
    return sum(sizes[k] > 1 for k in clusters) / len(glyphs)


def _heights(glyphs: Sequence[_Glyph]) -> float:
    heights = np.array([g.mask.shape[0] for g in glyphs], float)
    if len(heights) < 2:
        return 0.0
    tall = heights[heights >= 0.6 * heights.max()]
    common = float(np.median(tall))
    return float(np.mean(np.abs(tall - common) <= max(1.0, 0.04 * common)))


def twin_share(items: Sequence[CellBatchItem], sample: int = SAMPLE) -> float:
    """Share of a page's sampled glyphs that have an identical twin among the others: the
    glyphs in a cluster of two or more of the Tesseract reader's vote (`recognise._clusters`)."""
    return _twins(_sample(items, sample))


#: Share of sampled glyphs standing the page's common height above which a page with twins
#: is machine print.
SAME_HEIGHT = 0.85


def height_share(items: Sequence[CellBatchItem], sample: int = SAMPLE) -> float:
    """Share of a page's sampled glyphs (those at least 0.6 of the tallest: not . - ') whose
    height is the page's median one, within a pixel or 4%."""
    return _heights(_sample(items, sample))


#: Tesseract cells below this confidence take the classifier's answer ...
DOUBTFUL = 0.6
#: ... when the classifier is at least this sure of it.
SURE = 0.95
#: Letters and digits many print faces draw alike: Tesseract and the classifier
#: disagreeing on these says nothing (the decoder settles them by the field's structure).
PRINT_TWINS = frozenset({("O", "0"), ("0", "O"), ("I", "1"), ("1", "I")})


class SecondOpinion:
    """Tesseract, with the cell classifier's opinion on every cell of the page (one batched
    inference, ~20 ms a page).

    - A cell Tesseract doubts (`DOUBTFUL`) takes the classifier's answer when the classifier
      is sure of it (`SURE`), with its probability as the cell's confidence: a 1 read as 4 at
      0.13 on a 200 dpi bitonal scan became a sheet-count anomaly.
    - A cell Tesseract is confident of, where the classifier is sure of another character
      (print twins apart), takes the classifier's answer with Tesseract's doubt
      (1 - its confidence) as the confidence, so the field goes to review: on unseen seed
      780 Tesseract read YURII's fourth I as T at 0.73 while the classifier gave I at 1.00,
      and the name then disagreed with the codice fiscale and the passport's MRZ. Counted once
      with a throwaway script (not a plico command) on typed cells of tuning seeds
      (6001-6003 and 6010 at 200 dpi bitonal, 6,430 cells; 6001-6002 at 300 dpi grey and
      bitonal, 3,390 cells), such cells were 7: the classifier right on 4
      (8/B, S/5, two 6/G at Tesseract's confidence 1.0) and Tesseract on 3, all three an O
      the classifier took for 0, which is why the print twins are left out."""

    def __init__(self, typed: CellRecogniser, hand: CellRecogniser) -> None:
        self.typed, self.hand = typed, hand
        self.name = typed.name

    def recognise(self, items: Sequence[CellBatchItem]) -> list[CellReading]:
        readings = [(list(c), list(p)) for c, p in self.typed.recognise(items)]
        probabilities = getattr(self.hand, "probabilities", None)
        if probabilities is None or not any(it.crops for it in items):
            return [(tuple(c), tuple(p)) for c, p in readings]
        classes = self.hand.classes
        for item, (chars, confs), probs in zip(items, readings, probabilities(items)):
            cols = [classes.find(c) for c in item.alphabet if c in classes]
            if not cols:
                continue
            sub = probs[:, cols].astype(np.float64)
            sub /= np.maximum(sub.sum(axis=1, keepdims=True), 1e-12)
            for j, row in enumerate(sub):
                k = int(row.argmax())
                answer = classes[cols[k]]
                if row[k] < SURE:
                    continue
                if confs[j] < DOUBTFUL:
                    chars[j], confs[j] = answer, float(row[k])
                elif answer != chars[j] and (chars[j], answer) not in PRINT_TWINS:
                    chars[j], confs[j] = answer, 1.0 - float(confs[j])
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
        glyphs = _sample(items)  # once for both tests
        # the height test first: it is cheap, and most hand pages fail it
        typed = _heights(glyphs) >= SAME_HEIGHT and _twins(glyphs) >= TWIN_SHARE
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
