"""Fields from a PDF's text layer: a Patronato's printout carries its characters as text.

Where a form page comes with text-layer words (extractors/raster.py), the characters of the
comb fields are taken from the text instead of OCR: each word is spread over its box (one
character per cell pitch, as a printout fills the cells), mapped through the page's
registration onto the template, and dropped into the cell it falls in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from extractors.fields import FieldReading
from extractors.page_image import Word
from pipeline.form import FieldKind, Page
from pipeline.normalise import compact_value, date_value, text_value

COMB_KINDS = (FieldKind.TEXT, FieldKind.DIGITS, FieldKind.DATE, FieldKind.CODE)


def characters(words: Sequence[Word], matrix: np.ndarray, dpi: int) -> np.ndarray:
    """(x, y) template points and the character, for every character of the words.

    `matrix` maps template points to page pixels (a Registration's); words are in pixels.
    """
    a, b = matrix[:, :2], matrix[:, 2]
    inv = np.linalg.inv(a)
    out = []
    for w in words:
        text = w.text.replace(" ", "")
        for k, ch in enumerate(text):
            px = np.array([w.x + (k + 0.5) * w.w / len(text), w.y + w.h / 2])
            x, y = inv @ (px - b)
            out.append((x, y, ch))
    return np.array(out, dtype=object).reshape(-1, 3)


def read_text_fields(words: Sequence[Word], page: Page, matrix: np.ndarray, dpi: int,
                     prefix: str) -> dict[str, FieldReading]:
    """Comb fields of a registered page from its text layer (checks and signatures are
    still read from the pixels)."""
    chars = characters(words, matrix, dpi)
    xs = chars[:, 0].astype(float) if len(chars) else np.zeros(0)
    ys = chars[:, 1].astype(float) if len(chars) else np.zeros(0)
    scale = dpi / 72.0
    out: dict[str, FieldReading] = {}
    for f in page.fields:
        if f.kind not in COMB_KINDS:
            continue
        cells: list[str | None] = []
        for c in f.cells:
            inside = (xs >= c.x) & (xs < c.x2) & (ys >= c.y) & (ys < c.y2)
            hit = [str(ch).upper() for ch in chars[inside, 2]] if len(chars) else []
            cells.append(hit[0] if hit else None)
        if f.kind is FieldKind.TEXT:
            value = text_value(cells)
        elif f.kind is FieldKind.DATE:
            value = date_value(cells)
        else:
            value = compact_value(cells)
        bb = f.bbox
        out[f"{prefix}.{f.id}"] = FieldReading(
            key=f"{prefix}.{f.id}", value=value, confidence=1.0,
            cells=tuple((ch, 1.0) for ch in cells),
            bbox=(bb.x * scale, bb.y * scale, bb.w * scale, bb.h * scale), raw="".join(ch or " " for ch in cells),
        )
    return out
