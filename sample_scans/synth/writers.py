"""Batch file writers: scanned pages into the files an acceptance-centre scanner leaves.

Two containers, both deterministic (same pages, same bytes) and as small as a scanner makes
them:

* an image-only PDF, one image per page, the page size in points being the image's pixel
  size at its dpi (A4, landscape for pages fed sideways): grey pages as JPEG (DCTDecode),
  bitonal pages as CCITT Group 4;
* a multi-page TIFF with the same encodings per frame (JPEG, Group 4) and each frame's
  resolution tags set to its dpi.

The encoding follows `ScanMeta.mode`: a grey page is an 8-bit image, a bitonal page a 0/255
image that is stored as 1 bit.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import img2pdf
import numpy as np
from PIL import Image, TiffImagePlugin

from sample_scans.synth.scanner import ScanMeta

# JPEG quality for a grey page that never went through the scanner's JPEG round trip (a
# clean profile): what an office scanner's "high quality" setting writes.
FALLBACK_JPEG_QUALITY = 85


@dataclass(frozen=True, slots=True)
class ScannedPage:
    """One page image as the scanner output it, with what was done to it."""

    image: np.ndarray
    meta: ScanMeta

    def __post_init__(self) -> None:
        if self.image.ndim != 2 or self.image.dtype != np.uint8:
            raise ValueError(
                f"a scanned page is a 2-D uint8 array, got {self.image.dtype} {self.image.shape}"
            )


def _jpeg_quality(page: ScannedPage) -> int:
    # Re-encoding a decoded JPEG with the quality (hence the quantisation tables) it was
    # made with changes it very little: the page pays for JPEG once, as in a real scanner.
    return page.meta.jpeg_quality or FALLBACK_JPEG_QUALITY


def _dpi(page: ScannedPage) -> tuple[int, int]:
    return page.meta.dpi, page.meta.dpi


def _pil(page: ScannedPage) -> Image.Image:
    if page.meta.mode == "bitonal":
        return Image.fromarray(page.image > 127)  # mode "1": 1 bit per pixel, white = 1
    return Image.fromarray(page.image)


def _pdf_image(page: ScannedPage) -> bytes:
    """The page encoded as img2pdf embeds it unchanged: JFIF JPEG or Group 4 TIFF."""
    buf = io.BytesIO()
    if page.meta.mode == "bitonal":
        _pil(page).save(buf, format="TIFF", compression="group4", dpi=_dpi(page))
    else:
        _pil(page).save(buf, format="JPEG", quality=_jpeg_quality(page), dpi=_dpi(page))
    return buf.getvalue()


def _check_pages(pages: Sequence[ScannedPage]) -> None:
    if not pages:
        raise ValueError("a batch file needs at least one page")


def write_pdf(pages: Sequence[ScannedPage], path: Path) -> None:
    """Write `pages` as one image-only PDF, one A4 page (at each image's dpi) per image."""
    _check_pages(pages)
    data = img2pdf.convert(
        [_pdf_image(page) for page in pages],
        # img2pdf's default layout sizes each page from the dpi stored in the image (JFIF
        # density, TIFF resolution): pixels * 72 / dpi points, so A4 for a whole scan.
        nodate=True,  # no CreationDate/ModDate: the same pages give the same bytes
        # The built-in writer, not whichever of pikepdf/pdfrw happens to be installed: its
        # output does not change with the environment.
        engine=img2pdf.Engine.internal,
    )
    path.write_bytes(data)


def write_tiff(pages: Sequence[ScannedPage], path: Path) -> None:
    """Write `pages` as one multi-page TIFF: grey frames JPEG, bitonal frames Group 4."""
    _check_pages(pages)
    # Pillow's save_all merges the first frame's options into every appended frame (a JPEG
    # quality then breaks a Group 4 frame). AppendingTiffWriter, the class save_all itself
    # uses, takes one complete single-frame save per page, so each keeps its own encoding.
    with path.open("w+b") as fp, TiffImagePlugin.AppendingTiffWriter(fp) as tf:
        for page in pages:
            if page.meta.mode == "bitonal":
                _pil(page).save(tf, format="TIFF", compression="group4", dpi=_dpi(page))
            else:
                _pil(page).save(
                    tf,
                    format="TIFF",
                    compression="jpeg",
                    quality=_jpeg_quality(page),
                    dpi=_dpi(page),
                )
            tf.newFrame()
