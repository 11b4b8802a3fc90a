"""Rasterise an input file into greyscale page images, one page at a time.

An acceptance centre's batch arrives as a multi-page PDF (a scanner's image-only PDF, or a
Patronato's printout with a text layer) or a multi-page TIFF; single PNG and JPEG pages turn
up too. `rasterise` reads any of them, decided by the file's first bytes and never by its
extension, and yields one `PageImage` per page: a read-only uint8 greyscale array at the
page's native resolution, the dpi and colour mode the file declares, and a PDF text layer's
words in pixel coordinates. It is a generator, so a 500-page batch never sits in memory.

Resolution:

* a PDF page that is one full-page image (a scan) is rendered at the image's own resolution,
  its pixel size against the size it is drawn at: where the page size was written as
  pixels * 72 / dpi (img2pdf, most scanners) pdfium copies the scan's pixels unchanged; a
  page of 595 x 842 pt holding a 2480 x 3508 image gives 2480 x 3508 pixels (300.1 x 299.97
  dpi, reported as 300), slightly resampled. Any other page is rendered at 300 dpi. Both are
  exact (the page size is in the file), so `dpi_assumed` is False for every PDF page;
* a TIFF, PNG or JPEG page takes its resolution tags (TIFF XResolution/YResolution, PNG pHYs,
  JFIF density or EXIF); without them, or with an implausible value, 300 dpi is assumed and
  `dpi_assumed` says so. A page with different horizontal and vertical resolutions is
  resampled to square pixels at the higher one.

Orientation is left alone: a landscape page stays landscape, and a JPEG's EXIF Orientation
tag is ignored (document scanners do not set it; a camera photo is not an input here).
Orienting pages is a later step.

Bad input raises from `pipeline.errors`, the message naming the file and never quoting its
content: InputNotFoundError, UnsupportedInputError (empty, or not PDF/TIFF/PNG/JPEG),
EncryptedInputError (a PDF that needs a password to open), InputTooLargeError (more pages
than `max_pages_per_input`, or a page whose raster would exceed `max_image_pixels`, checked
from the headers before anything is decoded) and InputError (corrupt, truncated, no pages).

A PDF with only an owner password (permissions such as "no copying", no password to open)
is read like any other: pdfium opens it without a password, the restrictions are advisory
and concern re-use of the content, and reading the scan is the purpose it was sent for.

`read_pages` is the lenient form that `pipeline.process` uses: a fault confined to one page (a
corrupt TIFF frame, one oversized PDF page) comes back as a `PageFailure` in page order and
the other pages go on; `rasterise` raises it instead.

Damaged files make Pillow, pdfium and OpenCV raise almost anything (a truncated TIFF's
directory chain raises TypeError, a flipped byte KeyError, IndexError, ZeroDivisionError or
cv2.error): every exception they raise on an input becomes an InputError whose message names
the file and the library's error class, never the file's content. Nothing else escapes.

An input is a path or its bytes (`pipeline.process` reads the stored raw input into memory:
no copy of an applicant's document is written anywhere else).

This module holds the entry points (`rasterise`, `read_pages`, `count_pages`); the parts have
modules of their own: the input file, `sniff` and `library_fault` in `extractors.input_file`,
`PageImage`, `Word` and `PageFailure` in `extractors.page_image`, PDF pages in
`extractors.raster_pdf`, TIFF, PNG and JPEG pages in `extractors.raster_image`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

from extractors.input_file import Source, _name_of, sniff
from extractors.page_image import PageFailure, PageImage
from extractors.raster_image import _image_pages, _open_image_checked
from extractors.raster_pdf import PDFIUM_LOCK, _open_pdf_checked, _pdf_pages
from pipeline.settings import Settings

log = logging.getLogger(__name__)


def rasterise(
    path: Path, *, settings: Settings, name: str | None = None, sha256: str | None = None
) -> Iterator[PageImage]:
    """Yield the pages of `path` in order; raise on the first page that cannot be read.

    `name` (default: the file name) and `sha256` (default: computed) are for a caller that
    reads a stored copy and already knows them, as `pipeline.process` does with `read_pages`.
    """
    for item in read_pages(path, settings=settings, name=name, sha256=sha256):
        if isinstance(item, PageFailure):
            raise item.error
        yield item


def read_pages(
    path: Source, *, settings: Settings, name: str | None = None, sha256: str | None = None,
    pages: range | None = None,
) -> Iterator[PageImage | PageFailure]:
    """Yield the pages of `path` (a file, or an input's bytes) in order, a `PageFailure` in
    place of an unreadable page.

    `pages` (0-based indices, default all) renders only those: a worker preparing pages
    40..47 of a batch does not render the 40 before them.

    Faults of the whole file (missing, unsupported, encrypted, too many pages, corrupt
    structure) raise InputError before the first page is yielded; nothing but InputError
    (or a subclass) ever leaves.
    """
    name = _name_of(path, name)
    kind = sniff(path, name=name)
    if sha256 is None:
        if isinstance(path, bytes):
            sha256 = hashlib.sha256(path).hexdigest()
        else:
            with path.open("rb") as fp:
                sha256 = hashlib.file_digest(fp, "sha256").hexdigest()
    log.debug("rasterise %s (%s)", sha256[:12], kind)
    if kind == "pdf":
        yield from _pdf_pages(path, name, sha256, settings, pages)
    else:
        yield from _image_pages(path, kind, name, sha256, settings, pages)


def count_pages(path: Source, *, settings: Settings, name: str | None = None) -> int:
    """How many pages an input has, after the checks of the whole file that `read_pages`
    makes before its first page; raises InputError (or a subclass) and nothing else."""
    name = _name_of(path, name)
    kind = sniff(path, name=name)
    if kind == "pdf":
        doc, count = _open_pdf_checked(path, name, settings)
        with PDFIUM_LOCK:
            doc.close()
        return count
    im, count = _open_image_checked(path, kind, name, settings)
    im.close()
    return count
