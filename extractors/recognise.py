"""Cell recognisers: one character per comb-box cell, for all the filled cells of a page at once.

`extractors.fields` cuts the filled cells out of a registered page and hands them over as
`CellBatchItem`s, one per field, in a single `CellRecogniser.recognise` call per page; the
recogniser answers one character and one confidence (0..1) per cell. Anything that does
that is a recogniser (the `CellRecogniser` protocol), so the hand-print model of a later
issue plugs in beside the machine-print ones here.

`TesseractCellRecogniser` reads a Patronato's printout. Tesseract on its own gets about 95%
of such fields right (measured on generated pages), and its mistakes are of two kinds that
call for two readings and a vote:

- read a field as a word (its cells side by side), Tesseract's line model uses the
  neighbours as context: an O among letters stays an O, but an I among digits becomes a 1;
- read each cell on its own, there is no context: an I stays an I, but the O of a
  monospaced font comes out as 0 and a slashed zero as nothing.

Both readings of the whole page go into one Tesseract call: one line per field, then one
line per cell (a line per unit, because Tesseract's own word splitting is not to be
trusted, see `_sheet`). A field whose alphabet excludes what Tesseract answered takes the
look-alike it admits (an O in a date is a 0, see `_folds`). What the call leaves unread is
read once more, larger, in a second call.

Then the page's *glyphs* vote: a printout is one font at one size, so cells whose ink is the
same shape (the XOR of the two glyphs leaves nothing after an erosion that eats one-pixel
slivers, as JBIG2's symbol matching does) hold the same character, and every cell takes the
character its cluster voted for, within its field's alphabet. Last, two clusters of clearly
different shape cannot both be the same character: when a cluster backed by a field that
admits only digits (or only letters) holds a character, a differently shaped cluster with
the same answer gets the character it is mistaken for (0/O, 1/I, 2/Z, 5/S, 6/G, 8/B).

Measured on generated pages (200 and 300 dpi, grey and bitonal, the generator's five fonts,
registration off by up to 1.5 px): of the 2,197 filled comb fields of the 56 kits the design
was tuned on, one wrong (a 4 read as A, confidence 0.34); of the 1,980 comb fields, filled or
empty, of pages 1-3 and 6 of 30 other kits, none.

`NaiveTesseractRecogniser` reads each field with a call of its own (psm 7): the speed
baseline the stacked reading is measured against.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from extractors import tesseract
from pipeline.form.model import FieldKind

log = logging.getLogger(__name__)

DIGITS = "0123456789"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: what a text cell of MOD.209 may hold (sample_scans.synth.handprint.CHARSET)
TEXT = LETTERS + DIGITS + "'-./@_"

CellReading = tuple[tuple[str, ...], tuple[float, ...]]

#: A pixel is ink when darker than this (crops are normalised: print black 0, paper 255).
INK_LEVEL = 150
#: Letters and digits drawn alike, in machine print and hand print: each maps to its twin.
#: The Tesseract reader's vote settles them by the field's alphabet; the decoder folds a
#: classifier's probability of one into the other where a field admits only one
#: (`extractors.cell_dist.fold_twins`).
TWINS = {"0": "O", "O": "0", "1": "I", "I": "1", "2": "Z", "Z": "2", "5": "S", "S": "5",
              "6": "G", "G": "6", "8": "B", "B": "8"}
# Tesseract gives 0.0 to lines it could not make sense of, right length or not, and also to
# some plain single capitals (a lone C: it hesitates between C and c). Such a reading votes
# with this token weight: it decides only where nothing else was read, and then with a
# confidence near 0.
_WEAK = 0.01


@dataclass(frozen=True, slots=True)
class CellBatchItem:
    """The filled cells of one field, in reading order.

    `crops` are cell interiors (borders removed, paper white, uint8 grey) as
    `extractors.cell_crops.cell_crop` makes them; `alphabet` is every character the field may
    hold, so a recogniser may restrict itself to it.
    """

    key: str
    kind: FieldKind
    alphabet: str
    crops: tuple[np.ndarray, ...]


class CellRecogniser(Protocol):
    """Reads the filled cells of a page: per item, one character per crop (``""`` where it
    read nothing) and a confidence per character in 0..1, items in the order given."""

    name: str

    def recognise(self, items: Sequence[CellBatchItem]) -> list[CellReading]: ...


# --------------------------------------------------------------------------- the glyphs


def _glyph_box(crop: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """The crop's ink mask (0/1) and the box (top, bottom, left, right; inclusive) of its
    glyph: the blobs at least a sixth of the largest. Scanner dust is far smaller than any
    stroke; a part of a glyph as small as dust (the dot of a dotted zero) lies inside the
    box of its strokes."""
    mask = (crop < INK_LEVEL).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return mask, None
    areas = stats[1:, cv2.CC_STAT_AREA]
    big = np.flatnonzero(areas >= areas.max() / 6) + 1
    x0 = int(stats[big, cv2.CC_STAT_LEFT].min())
    y0 = int(stats[big, cv2.CC_STAT_TOP].min())
    x1 = int((stats[big, cv2.CC_STAT_LEFT] + stats[big, cv2.CC_STAT_WIDTH]).max()) - 1
    y1 = int((stats[big, cv2.CC_STAT_TOP] + stats[big, cv2.CC_STAT_HEIGHT]).max()) - 1
    return mask, (y0, y1, x0, x1)


def _clean(crop: np.ndarray) -> np.ndarray:
    """The crop with the ink outside its glyph's box (dust) turned to paper: machine print
    puts one glyph in a cell, and a speck beside it would be read as a character."""
    mask, box = _glyph_box(crop)
    if box is None:
        return crop
    y0, y1, x0, x1 = box
    outside = np.ones(crop.shape, bool)
    outside[max(y0 - 2, 0) : y1 + 3, max(x0 - 2, 0) : x1 + 3] = False
    if not (mask.astype(bool) & outside).any():
        return crop
    out = crop.copy()
    out[outside] = 255
    return out


@dataclass(frozen=True, slots=True)
class _Glyph:
    mask: np.ndarray  # 0/1, cut to the ink's bounding box
    top: int  # first ink row in the cell
    cell_h: int  # the cell interior's height: glyphs of differently sized cells differ


def _glyph(crop: np.ndarray) -> _Glyph | None:
    mask, box = _glyph_box(crop)
    if box is None:
        return None
    y0, y1, x0, x1 = box
    return _Glyph(mask[y0 : y1 + 1, x0 : x1 + 1], y0, crop.shape[0])


_FAR = (1 << 20, 1.0)  # glyphs too different in size or place to compare
#: Two prints of one character differ in slivers, at most this share of their joint ink
#: (measured: 99% of same-character pairs under 0.1, all under 0.3 at 200 dpi bitonal; an S
#: and a 5 of one font at 200 dpi differ by 0.33 and no more).
_SAME_XOR = 0.2


def _compare(a: _Glyph, b: _Glyph) -> tuple[int, float]:
    """How different two glyphs are, at the best of nine one-pixel shifts (centres aligned):
    the ink pixels of their XOR left after a 2x2 erosion, and the XOR's share of their
    union. Two prints of one character leave no pixel (their differences are one-pixel
    slivers along the edges); different characters leave a blob, at least the dot of a
    dotted zero (measured: 5 pixels or more at 200 dpi between the closest pairs, O and
    dotted 0, I and 1), or differ in a larger share of their ink (S and 5)."""
    (ha, wa), (hb, wb) = a.mask.shape, b.mask.shape
    if abs(ha - hb) > 3 or abs(wa - wb) > 3 or abs(a.top - b.top) > 3:
        return _FAR
    h, w = max(ha, hb) + 4, max(wa, wb) + 4
    big_a = np.zeros((h, w), np.uint8)
    ya, xa = (h - ha) // 2, (w - wa) // 2
    big_a[ya : ya + ha, xa : xa + wa] = a.mask
    yb, xb = (h - hb) // 2, (w - wb) // 2
    kernel = np.ones((2, 2), np.uint8)
    best = _FAR
    big_b = np.zeros((h, w), np.uint8)
    for dy in (0, -1, 1):
        for dx in (0, -1, 1):
            big_b[:] = 0
            big_b[yb + dy : yb + dy + hb, xb + dx : xb + dx + wb] = b.mask
            xor = big_a ^ big_b
            share = float(xor.sum()) / max(int((big_a | big_b).sum()), 1)
            best = min(best, (int(cv2.erode(xor, kernel).sum()), share))
    return best


def _same(a: _Glyph, b: _Glyph) -> bool:
    """Two prints of one character (see `_compare`)."""
    if abs(a.cell_h - b.cell_h) > 2:
        return False
    residual, share = _compare(a, b)
    return residual == 0 and share <= _SAME_XOR


def _clusters(glyphs: Sequence[_Glyph | None]) -> list[int]:
    """A cluster number per glyph: each joins the first cluster whose first member it
    matches (`_same`), or opens a new one. Matching only the first member keeps
    clusters from drifting from one shape to another through a chain of near matches."""
    leaders: list[_Glyph | None] = []
    out: list[int] = []
    for g in glyphs:
        if g is None:  # no ink to compare: a cluster of its own
            leaders.append(None)
            out.append(len(leaders) - 1)
            continue
        for k, leader in enumerate(leaders):
            if leader is not None and _same(g, leader):
                out.append(k)
                break
        else:
            leaders.append(g)
            out.append(len(leaders) - 1)
    return out


# ------------------------------------------------------------------------ the Tesseract sheet


def _fit(crop: np.ndarray, height: int) -> np.ndarray:
    """A crop scaled to `height` rows, aspect kept, cut to its ink's columns (a pixel of
    paper either side): printed characters then stand as close as in a word."""
    h, w = crop.shape
    width = max(int(round(w * height / h)), 1)
    interpolation = cv2.INTER_AREA if h > height else cv2.INTER_CUBIC
    out = cv2.resize(crop, (width, height), interpolation=interpolation)
    cols = np.flatnonzero((out < INK_LEVEL).any(axis=0))
    if len(cols):
        out = out[:, max(cols[0] - 1, 0) : cols[-1] + 2]
    return out


def _sheet(
    units: Sequence[Sequence[int]], images: Mapping[int, np.ndarray], height: int, inner: int,
    gap: int,
) -> np.ndarray:
    """One unit of cells per text line, its cells `inner` pixels apart, `gap` pixels of
    paper between lines and around them.

    A line per unit, not units side by side: Tesseract splits a line into words by its own
    reckoning, and with a whitelist it sometimes joins everything in a line into one word,
    or reads a wide gap as "_" or "-" (seen on 200 dpi bitonal pages), while it never
    merges lines this far apart.
    """
    widths = [sum(images[c].shape[1] for c in cells) + inner * (len(cells) - 1)
              for cells in units]
    sheet = np.full((gap + len(units) * (height + gap), max(widths) + 2 * gap), 255, np.uint8)
    for row, cells in enumerate(units):
        top, x = gap + row * (height + gap), gap
        for c in cells:
            img = images[c]
            sheet[top : top + height, x : x + img.shape[1]] = img
            x += img.shape[1] + inner
    return sheet


def _folds(alphabet: str) -> dict[str, str]:
    """Characters Tesseract may answer for a field of `alphabet`, mapped to the one the field
    can hold. A digit-only field lets Tesseract say O for 0 (and @ for a slashed zero, which
    it does not otherwise read at all: measured), a letter-only field 0 for O, and so on:
    the answer it would rather give is no longer forced into some other digit or dropped."""
    if set(alphabet) <= set(DIGITS):
        extra = {"O": "0", "@": "0", "I": "1", "Z": "2", "S": "5", "G": "6", "B": "8"}
    elif set(alphabet) <= set(LETTERS):
        extra = {"0": "O", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B"}
    else:
        extra = {}
    folds = {c: c for c in alphabet}
    folds.update({k: v for k, v in extra.items() if v in alphabet and k not in alphabet})
    return folds


def _read_units(
    units: Sequence[Sequence[int]], alphabets: Sequence[str], images: Mapping[int, np.ndarray],
    psm: int, height: int, inner: int, gap: int,
) -> dict[int, tuple[str, float]]:
    """unit -> its characters (one per cell) and their confidence, for the units whose
    line reads exactly one character per cell (a line read with a character too many or
    too few says nothing). `alphabets[k]` is what unit k may hold; Tesseract gets every
    character any unit may be read as as its whitelist."""
    folds = [_folds(a) for a in alphabets]
    whitelist = "".join(sorted(set().union(*folds)))
    sheet = _sheet(units, images, height, inner, gap)
    words = tesseract.words(sheet, psm=psm, whitelist=whitelist)
    lines: dict[int, list[tesseract.Word]] = defaultdict(list)
    for word in words:
        lines[int(round((word.y + word.h / 2 - gap - height / 2) / (height + gap)))].append(word)
    out: dict[int, tuple[str, float]] = {}
    for row, (cells, fold) in enumerate(zip(units, folds)):
        hits = sorted(lines.get(row, ()), key=lambda w: w.x)
        chars = "".join(fold[c] for w in hits for c in w.text.upper() if c in fold)
        if len(chars) == len(cells):
            out[row] = (chars, min(max(w.confidence, 0.0) for w in hits))
    return out


# ---------------------------------------------------------------------------- the vote


@dataclass(frozen=True, slots=True)
class _Cell:
    item: int
    index: int
    alphabet: str
    image: np.ndarray  # the crop, specks removed


def _vote(
    cells: Sequence[_Cell], glyphs: Sequence[_Glyph | None], clusters: Sequence[int],
    votes: Sequence[Sequence[tuple[str, float]]], full: float,
) -> list[tuple[str, float]]:
    """Every cell's character and confidence from its cluster's votes (see the module
    docstring); ("", 0.0) for a cell nobody read.

    The confidence is the winner's share of the cluster's votes times their weight against
    `full` (one sure reading of each kind): a lone cell that only one reading made out
    stays doubtful however sure Tesseract said it was.
    """
    tally: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for k, vs in zip(clusters, votes):
        for ch, weight in vs:
            tally[k][ch] += weight
    members: dict[int, list[int]] = defaultdict(list)
    for i, k in enumerate(clusters):
        members[k].append(i)
    allowed = {k: set.intersection(*(set(cells[i].alphabet) for i in idx))
               for k, idx in members.items()}
    label: dict[int, str] = {}
    for k, counts in tally.items():
        options = {ch: w for ch, w in counts.items() if ch in allowed[k]}
        if options:
            label[k] = max(options, key=options.__getitem__)
    relabelled = _one_shape_per_character(label, members, allowed, cells, glyphs)
    # characters whose shape a field that excludes their look-alike has shown (a date's 0)
    shown = {ch for k, ch in label.items() if ch in TWINS
             and any(TWINS[ch] not in cells[i].alphabet for i in members[k])}
    out: list[tuple[str, float]] = []
    for i, (cell, k) in enumerate(zip(cells, clusters)):
        counts = dict(tally[k])
        if k in label:
            ch = label[k]
            rival = TWINS.get(ch)
            if k in relabelled:  # its votes went to the look-alike: they count for it
                counts[ch] = counts.get(ch, 0.0) + counts.pop(rival)
            elif rival in shown:
                # votes for a look-alike shown elsewhere in another shape: no doubt left
                counts.pop(rival, None)
            mass = counts[ch]
        else:  # the cluster agrees on nothing this cell's field admits: its own votes
            own = [(w, c) for c, w in votes[i] if c in cell.alphabet]
            if not own:
                out.append(("", 0.0))
                continue
            mass, ch = max(own)
            counts = {c: w for c, w in votes[i]}
        share = mass / max(sum(counts.values()), 1e-9)
        out.append((ch, share * min(mass / full, 1.0)))
    return out


def _one_shape_per_character(
    label: dict[int, str], members: dict[int, list[int]], allowed: dict[int, set[str]],
    cells: Sequence[_Cell], glyphs: Sequence[_Glyph | None],
) -> set[int]:
    """Give the look-alike character to a cluster that shares its answer with a clearly
    different cluster backed by a field that excludes the look-alike. Returns the clusters
    changed (updates `label`)."""
    by_char: dict[str, list[int]] = defaultdict(list)
    for k, ch in label.items():
        by_char[ch].append(k)
    changed: set[int] = set()
    for ch, ks in by_char.items():
        other = TWINS.get(ch)
        if other is None or len(ks) < 2:
            continue
        # backed: some member's field admits `ch` but not its look-alike (a date's 0)
        anchors = [k for k in ks if any(other not in cells[i].alphabet for i in members[k])]
        for k in ks:
            if k in anchors or other not in allowed[k] or not anchors:
                continue
            mine = glyphs[members[k][0]]
            if mine is None:
                continue
            different = all(
                abs(mine.cell_h - g.cell_h) <= 2 and _compare(mine, g)[0] >= 4
                for g in (glyphs[members[a][0]] for a in anchors) if g is not None)
            if different:
                log.debug("cluster %d reads %r like a differently shaped one: %r", k, ch, other)
                label[k] = other
                changed.add(k)
    return changed


def _pack(items: Sequence[CellBatchItem], cells: Sequence[_Cell],
          results: Sequence[tuple[str, float]]) -> list[CellReading]:
    per: list[list[tuple[str, float]]] = [[("", 0.0)] * len(it.crops) for it in items]
    for cell, result in zip(cells, results):
        per[cell.item][cell.index] = result
    return [(tuple(c for c, _ in r), tuple(p for _, p in r)) for r in per]


@dataclass(frozen=True, slots=True)
class TesseractCellRecogniser:
    """Machine print: a word reading and a cell-by-cell reading of the page in one
    Tesseract call (a second, larger, for what the first left unread), then a vote of
    look-alike glyphs (see the module docstring).

    `heights`: rows a cell interior is scaled to, per call (capitals print at half a cell's
    height or more, and Tesseract reads capitals 20-30 px tall best); `inner`: pixels
    between the cells of a field in the word reading; `gap`: paper between lines;
    `word_weight`: a word reading's vote against a cell reading's (context is worth more:
    with equal weights 97.6% of fields came out right, with 1.5 99.2%, before the other
    refinements).
    """

    name: str = "tesseract-stacked"
    heights: tuple[int, ...] = (40, 52)
    inner: int = 6
    gap: int = 24
    word_weight: float = 1.5

    def recognise(self, items: Sequence[CellBatchItem]) -> list[CellReading]:
        cells = [_Cell(i, j, item.alphabet, _clean(crop))
                 for i, item in enumerate(items) for j, crop in enumerate(item.crops)]
        votes: list[list[tuple[str, float]]] = [[] for _ in cells]
        # the word reading's units (a field each), then the cell reading's (a cell each)
        words: list[list[int]] = []
        for n, cell in enumerate(cells):
            if not words or cells[words[-1][0]].item != cell.item:
                words.append([])
            words[-1].append(n)
        singles = [[n] for n in range(len(cells))]
        for height in self.heights:
            if not words and not singles:
                break
            words, singles = self._read(cells, votes, words, singles, height)
        glyphs = [_glyph(c.image) for c in cells]
        results = _vote(cells, glyphs, _clusters(glyphs), votes, self.word_weight + 1.0)
        return _pack(items, cells, results)

    def _read(
        self, cells: Sequence[_Cell], votes: list[list[tuple[str, float]]],
        words: list[list[int]], singles: list[list[int]], height: int,
    ) -> tuple[list[list[int]], list[list[int]]]:
        """One Tesseract call for both readings (word lines first); adds the votes and
        returns the units left unread."""
        units = words + singles
        images = {n: _fit(cells[n].image, height) for unit in units for n in unit}
        alphabets = [cells[unit[0]].alphabet for unit in units]
        read = _read_units(units, alphabets, images, 6, height, self.inner, self.gap)
        for k, (chars, conf) in read.items():
            weight = (self.word_weight if k < len(words) else 1.0) * max(conf, _WEAK)
            for n, ch in zip(units[k], chars):
                votes[n].append((ch, weight))
        return ([u for k, u in enumerate(words) if k not in read],
                [u for k, u in enumerate(singles, len(words)) if k not in read])


@dataclass(frozen=True, slots=True)
class NaiveTesseractRecogniser:
    """One Tesseract call per field (psm 7 on the field's cells in a row): the baseline the
    stacked recogniser is measured against. No vote: each field stands alone."""

    name: str = "tesseract-per-field"
    height: int = 40
    inner: int = 6
    gap: int = 24

    def recognise(self, items: Sequence[CellBatchItem]) -> list[CellReading]:
        cells = [_Cell(i, j, item.alphabet, _clean(crop))
                 for i, item in enumerate(items) for j, crop in enumerate(item.crops)]
        images = [_fit(c.image, self.height) for c in cells]
        results: list[tuple[str, float]] = [("", 0.0)] * len(cells)
        start = 0
        for item in items:
            group = list(range(start, start + len(item.crops)))
            start += len(item.crops)
            if not group:
                continue
            chars, conf = _read_units([group], [item.alphabet], dict(enumerate(images)), 7,
                                      self.height, self.inner, self.gap).get(0, ("", 0.0))
            for n, ch in zip(group, chars):
                results[n] = (ch, conf)
        return _pack(items, cells, results)
