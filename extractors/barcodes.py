"""Barcodes on a scanned page: zxing-cpp first, zbar (pyzbar) where zxing-cpp reads nothing.

`read_barcodes` is the stage function: a uint8 greyscale page in, a tuple of `Barcode` out.
In the default ``engine="auto"``:

1. zxing-cpp reads the whole page: it finds linear codes in all four orientations and
   through the few degrees of skew an ADF leaves, Code128's FNC4 (Latin-1 text) included,
   in about 12 ms on a 300-dpi A4 page. On ../shared/realdata it reads every Code128 and ITF
   exactly with no false positive (`plico bench accuracy --realdata`), where zbar misreads
   one Code128 (FNC4, below). What it reads is the answer.
2. Only where zxing-cpp reads nothing does zbar look, and only where a barcode can be: a
   page larger than `_ZBAR_WHOLE_PIXELS` is not read whole (70-90 ms at 300 dpi) but in the
   regions of bar-like texture `_regions` finds (strong gradient across one direction only,
   a few ms on a 1,200-px copy); a smaller image (a crop, a photo of one code) is read
   whole. zbar's symbol set is restricted to what was asked for (an unrestricted zbar also
   runs its DataBar decoder, which prints assertion failures to stderr on ordinary scans),
   images longer than a 300-dpi A4 are halved first, and when an image yields nothing zbar
   tries once more on a mildly blurred, Otsu-thresholded copy.

zbar's known silent failures are handled: it ignores Code128's FNC4, so Latin-1 text comes
back with the high bit cleared ("ó" as "s") (a reason it is the fallback); on a skewed ITF, a
single scan line that clips the code yields a shorter or plainly wrong digit string; such
reads are dropped (see `_ZBAR_ITF_MIN_QUALITY`) and a clipped ITF contained in a longer ITF
read is dropped when deduplicating.

``engine="pyzbar"`` or ``"zxing"`` runs one engine alone on the whole image (for the
benchmark); `read_pyzbar` and `read_zxing` are those engines with their options spelled out.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import zxingcpp
from pyzbar.pyzbar import ZBarSymbol
from pyzbar.pyzbar import decode as _zbar_decode

log = logging.getLogger(__name__)

Engine = Literal["auto", "pyzbar", "zxing"]
BBox = tuple[int, int, int, int]  # x, y, w, h in page pixels

DEFAULT_SYMBOLOGIES: tuple[str, ...] = ("code128", "itf")

# Our names -> each engine's. zbar has no DataMatrix decoder; its PDF417 decoder finds the
# symbol but does not decode it, so PDF417 is not offered. DataBar is left out on purpose:
# zbar's DataBar decoder is the one that floods stderr.
_ZBAR_SYMBOLS: dict[str, ZBarSymbol] = {
    "code128": ZBarSymbol.CODE128,
    "itf": ZBarSymbol.I25,
    "qrcode": ZBarSymbol.QRCODE,
}
_ZXING_FORMATS: dict[str, zxingcpp.BarcodeFormat] = {
    "code128": zxingcpp.BarcodeFormat.Code128,
    "itf": zxingcpp.BarcodeFormat.ITF,
    "qrcode": zxingcpp.BarcodeFormat.QRCode,
    "datamatrix": zxingcpp.BarcodeFormat.DataMatrix,
}
SYMBOLOGIES: frozenset[str] = frozenset(_ZXING_FORMATS)
_FROM_ZBAR = {sym.name: name for name, sym in _ZBAR_SYMBOLS.items()}
_FROM_ZXING = {fmt: name for name, fmt in _ZXING_FORMATS.items()}

# zbar reads a 300-dpi A4 page (3508 px long side) in 70-130 ms and a 600-dpi one in
# 300-500 ms; halved, the 600-dpi page reads in 90-250 ms, with the same reads on our
# generated pages (modules of 0.25 mm and up keep >= 3 px). So halve until it fits.
_ZBAR_MAX_SIDE = 4000
# zbar's `quality` of a linear code grows with the number of scan lines that decoded it. ITF
# has no check character, and on a skewed ITF a single scan line yields clipped or plainly
# wrong digits: on generated skewed pages these came at quality 1 with a zero-size box,
# beside the true read at quality 70+. True reads go as low as 3 (a sideways ITF 1.5 degrees
# off, beside small print); every ITF in ../shared/realdata reads at 25 or more. So an ITF
# read seen on a single scan line is dropped. Code128's check character guards it.
_ZBAR_ITF_MIN_QUALITY = 2


@dataclass(frozen=True, slots=True)
class Barcode:
    """One decoded symbol. `bbox` is (x, y, w, h) in pixels of the page passed in."""

    symbology: str  # "code128", "itf", "qrcode", "datamatrix"
    text: str
    bbox: BBox
    engine: str  # "pyzbar" or "zxing": the engine whose text this is


def read_barcodes(
    image: np.ndarray,
    *,
    symbologies: Sequence[str] = DEFAULT_SYMBOLOGIES,
    engine: Engine = "auto",
) -> tuple[Barcode, ...]:
    """Every barcode of the given symbologies on a uint8 greyscale page, top to bottom.

    ``engine="auto"``: zxing-cpp, and zbar where it reads nothing (see the module
    docstring); ``"pyzbar"`` or ``"zxing"``: that engine alone. The page is not modified.
    """
    wanted = _check(image, symbologies)
    if engine == "pyzbar":
        return _tidy(read_pyzbar(image, wanted))
    if engine == "zxing":
        return _tidy(read_zxing(image, wanted))
    if engine != "auto":
        raise ValueError(f"engine={engine!r}: 'auto', 'pyzbar' or 'zxing'")

    zxing = read_zxing(image, wanted)
    if zxing:
        return _tidy(zxing)
    for_zbar = tuple(s for s in wanted if s in _ZBAR_SYMBOLS)
    if not for_zbar:
        return ()
    if image.size <= _ZBAR_WHOLE_PIXELS:
        return _tidy(read_pyzbar(image, for_zbar))
    found: list[Barcode] = []
    for x, y, w, h in _regions(image):
        for b in read_pyzbar(np.ascontiguousarray(image[y : y + h, x : x + w]), for_zbar):
            bx, by, bw, bh = b.bbox
            found.append(dataclasses.replace(b, bbox=(bx + x, by + y, bw, bh)))
    if found:
        log.debug("zbar read %d code(s) zxing-cpp missed", len(found))
    return _tidy(found)


#: Images up to this many pixels (a crop, a photographed code; an A4 page at 150 dpi is
#: 2.2 million) are read whole by the zbar fallback; larger ones in `_regions`.
_ZBAR_WHOLE_PIXELS = 2_000_000
#: `_regions` works on a copy whose long side is at most this many pixels.
_REGION_SIDE = 1200
#: At most this many regions (the largest) are handed to zbar.
_MAX_REGIONS = 6


def _regions(image: np.ndarray) -> list[BBox]:
    """Where a linear barcode can be on a page: (x, y, w, h) boxes, largest first.

    On a copy at most `_REGION_SIDE` px long (about 100 dpi for an A4 page), for bars
    running up and down (and again for bars running across): the gradient across the bars
    less the gradient along them is high over a code and low over text and rules. Smoothed
    and Otsu-thresholded, the bars are joined across (closing) and whatever is thinner
    along the bars than `_BAR_MIN_PX` (text lines, rules) is opened away; each component
    left is widened by a third on every side (the quiet zone, bars the smoothing cut)."""
    h, w = image.shape
    f = max(1, math.ceil(max(h, w) / _REGION_SIDE))
    small = cv2.resize(image, (w // f, h // f), interpolation=cv2.INTER_AREA) if f > 1 else image
    gx = cv2.convertScaleAbs(cv2.Sobel(small, cv2.CV_16S, 1, 0, ksize=3))
    gy = cv2.convertScaleAbs(cv2.Sobel(small, cv2.CV_16S, 0, 1, ksize=3))
    found = []
    for across, along in ((gx, gy), (gy, gx)):
        texture = cv2.blur(cv2.subtract(across, along), (5, 5))
        _, mask = cv2.threshold(texture, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        join, keep = (15, 1), (1, _BAR_MIN_PX)  # kernels as (width, height): bars upright
        if across is gy:
            join, keep = join[::-1], keep[::-1]
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones(join[::-1], np.uint8))
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones(keep[::-1], np.uint8))
        _, _, stats, _ = cv2.connectedComponentsWithStats(mask, 8)
        found += [s for s in stats[1:] if s[4] >= 150]
    found.sort(key=lambda s: -int(s[4]))
    boxes = []
    for x, y, bw, bh, _ in found[:_MAX_REGIONS]:
        mx, my = bw // 3 + 6, bh // 3 + 6
        x1, y1 = max(0, (x - mx) * f), max(0, (y - my) * f)
        x2, y2 = min(w, (x + bw + mx) * f), min(h, (y + bh + my) * f)
        boxes.append((int(x1), int(y1), int(x2 - x1), int(y2 - y1)))
    return boxes


#: Bars shorter than this (px of the `_regions` copy: about 4 mm on an A4 page) are not
#: looked for: a line of text is about 2.5 mm high, a Codice Assicurata's bars 8 mm or more.
_BAR_MIN_PX = 15


def find_code(
    image: np.ndarray,
    pattern: re.Pattern[str],
    *,
    symbologies: Sequence[str] = DEFAULT_SYMBOLOGIES,
) -> Barcode | None:
    """The first barcode (top to bottom) whose text matches `pattern` (``pattern.search``),
    e.g. ``re.compile(r"^\\d{12}$")`` for the Codice Assicurata; None when there is none."""
    matches = [b for b in read_barcodes(image, symbologies=symbologies) if pattern.search(b.text)]
    if len(matches) > 1:
        log.debug("%d barcodes match %r; taking the topmost", len(matches), pattern.pattern)
    return matches[0] if matches else None


# --- zbar ------------------------------------------------------------------------------------


def read_pyzbar(
    image: np.ndarray, symbologies: Sequence[str], *, preprocess: bool = True
) -> tuple[Barcode, ...]:
    """zbar alone, symbol set restricted to `symbologies` (all of which zbar must know).

    With `preprocess`, a page longer than 4000 px is halved (until it fits), and when the
    page yields nothing it is read once more blurred (3x3 Gaussian) and Otsu-thresholded
    (an earlier measurement on 300-dpi scans read 40/40 Code128 and 36/40 ITF so, where
    the raw, unrestricted zbar missed most; on our generated pages the restricted raw pass
    already reads nearly all, and this second pass rarely adds one). The first variant
    that yields a read wins. Without `preprocess`, zbar reads the image exactly as given.
    """
    unknown = [s for s in symbologies if s not in _ZBAR_SYMBOLS]
    if unknown:
        raise ValueError(f"zbar cannot read {unknown}; it reads {sorted(_ZBAR_SYMBOLS)}")
    symbols = [_ZBAR_SYMBOLS[s] for s in symbologies]
    if not preprocess:
        return _zbar(image, symbols, 1)

    base, factor = image, 1
    while max(base.shape) > _ZBAR_MAX_SIDE:
        base = cv2.resize(base, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        factor *= 2
    found = _zbar(base, symbols, factor)
    if found:
        return found
    blurred = cv2.GaussianBlur(base, (3, 3), 0)
    _, binary = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    found = _zbar(binary, symbols, factor)
    if found:
        log.debug("zbar read %d code(s) only after blur and Otsu", len(found))
    return found


def _zbar(image: np.ndarray, symbols: list[ZBarSymbol], factor: int) -> tuple[Barcode, ...]:
    """One zbar pass; `factor` scales the boxes back to the caller's page."""
    out = []
    for d in _zbar_decode(image, symbols=symbols):
        if d.type == "I25" and d.quality < _ZBAR_ITF_MIN_QUALITY:
            log.debug("dropped an ITF read zbar saw on %d scan line(s)", d.quality)
            continue
        x, y, w, h = d.rect
        out.append(
            Barcode(
                symbology=_FROM_ZBAR[d.type],
                text=_zbar_text(d.data),
                bbox=(x * factor, y * factor, w * factor, h * factor),
                engine="pyzbar",
            )
        )
    return tuple(out)


def _zbar_text(data: bytes) -> str:
    # zbar hands QR text over as UTF-8; linear codes are ASCII (zbar drops FNC4, see above)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


# --- zxing-cpp -------------------------------------------------------------------------------


def read_zxing(image: np.ndarray, symbologies: Sequence[str]) -> tuple[Barcode, ...]:
    """zxing-cpp alone: it looks in all four orientations and on downscaled copies itself.

    Text comes in zxing's ``Plain`` mode: the symbol's content as encoded (GS1 element
    strings without the parenthesised AIs that the human-readable mode would add).
    """
    if not symbologies:
        return ()
    formats = tuple(_ZXING_FORMATS[s] for s in symbologies)
    results = zxingcpp.read_barcodes(
        np.ascontiguousarray(image), formats=formats, text_mode=zxingcpp.TextMode.Plain
    )
    return tuple(
        Barcode(
            symbology=_FROM_ZXING[r.format],
            text=r.text,
            bbox=_zxing_bbox(r.position),
            engine="zxing",
        )
        for r in results
    )


def _zxing_bbox(position: zxingcpp.Position) -> BBox:
    corners = (position.top_left, position.top_right, position.bottom_right, position.bottom_left)
    xs = [p.x for p in corners]
    ys = [p.y for p in corners]
    return min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1


# --- shared ----------------------------------------------------------------------------------


def _check(image: np.ndarray, symbologies: Sequence[str]) -> tuple[str, ...]:
    if not isinstance(image, np.ndarray) or image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError("a page is a 2-D uint8 greyscale array")
    wanted = tuple(dict.fromkeys(symbologies))
    if not wanted:
        raise ValueError("no symbologies asked for")
    unknown = [s for s in wanted if s not in SYMBOLOGIES]
    if unknown:
        raise ValueError(f"unknown symbologies {unknown}; known: {sorted(SYMBOLOGIES)}")
    return wanted


def _tidy(reads: Iterable[Barcode]) -> tuple[Barcode, ...]:
    """Reads in page order (top to bottom, then left to right) without duplicates: the same
    symbology and text is one code, and an ITF read contained in a longer ITF read is a scan
    line that clipped the code (ITF has no check character to reject it), so it goes. The
    two need not overlap: zbar places such a read at a single point, sometimes far from the
    code (seen at the page edge), so position cannot tell it apart from a second code."""
    unique: dict[tuple[str, str], Barcode] = {}
    for b in reads:
        unique.setdefault((b.symbology, b.text), b)
    kept = [
        b
        for b in unique.values()
        if not (
            b.symbology == "itf"
            and any(
                o.symbology == "itf"
                and len(o.text) > len(b.text)
                and b.text in o.text
                for o in unique.values()
            )
        )
    ]
    return tuple(sorted(kept, key=lambda b: (b.bbox[1], b.bbox[0], b.symbology, b.text)))
