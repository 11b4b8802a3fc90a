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
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import struct
import threading
import warnings
from collections.abc import Iterator
from ctypes import byref, c_int
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import cv2
import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, UnidentifiedImageError

from pipeline.errors import (
    EncryptedInputError,
    InputError,
    InputNotFoundError,
    InputTooLargeError,
    UnsupportedInputError,
)
from pipeline.settings import Settings

log = logging.getLogger(__name__)

Kind = Literal["pdf", "tiff", "png", "jpeg"]
Source = Path | bytes  # a file, or an input's bytes already in memory
Colour = Literal["grey", "bitonal", "colour"]

DEFAULT_DPI = 300
# A declared resolution outside this range is a placeholder or an error, not a scanner's
# setting (some writers put 1 x 1 or 72 x 72 "dpi" meaning "unknown" in JFIF/EXIF: 72 is
# kept, as a low-resolution copy is possible; 1 is not).
PLAUSIBLE_DPI = (50.0, 2400.0)
# Horizontal and vertical resolutions closer than this are the same (rounding in the file).
SQUARE_PIXEL_TOLERANCE = 0.01
# A PDF image covering at least this share of the page is the page's scan.
FULL_PAGE_COVERAGE = 0.9
# A rendered vector page is "colour" when a pixel's channels differ by more than this
# (anti-aliased black text on white stays within a few levels).
COLOUR_CHROMA = 32

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
# Classic TIFF and BigTIFF, both byte orders
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_ZIP_MAGIC = b"PK\x03\x04"
# Acrobat accepts the %PDF- header anywhere in the first 1024 bytes and the %%EOF marker
# anywhere in the last 1024 (PDF Reference 1.7, implementation notes 13 and 18); so do we.
_PDF_SLACK = 1024

_PIL_FORMAT = {"tiff": "TIFF", "png": "PNG", "jpeg": "JPEG"}
# What Pillow raises for a corrupt or truncated file, besides its own UnidentifiedImageError
# (an OSError): bad headers raise SyntaxError in several plugins, short reads struct.error.
_PIL_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)

# pdfium is not thread-safe (pypdfium2 documents this): every pdfium call in this module
# runs under this lock, taken per page and never held across a `yield`, so a consumer may
# use pdfium itself between pages. pipeline/form/render.py has a lock of its own for the
# same reason; the two should become one (this one, imported there).
PDFIUM_LOCK = threading.Lock()

# Pillow warns on stderr about what it skips in a damaged file ("Corrupt EXIF data",
# "Truncated File Read"): a damaged input is reported once, as a quarantine reason.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")


@dataclass(frozen=True, slots=True)
class Word:
    """One word of a PDF text layer, its box in pixels of the page image (origin top left)."""

    text: str
    x: int
    y: int
    w: int
    h: int


# eq=False: a page is identified by (source_sha256, index); comparing or hashing the pixels
# of two pages is never what a caller means.
@dataclass(frozen=True, slots=True, eq=False)
class PageImage:
    """One page of an input file, as uint8 greyscale pixels (read-only)."""

    source: str  # the input file's name
    source_sha256: str
    index: int  # 0-based page index within the source file
    image: np.ndarray
    dpi: int
    dpi_assumed: bool  # True when the file declares no (plausible) resolution
    colour: Colour  # the page's colour mode as found in the file
    text_words: tuple[Word, ...] = ()

    def __post_init__(self) -> None:
        if self.image.ndim != 2 or self.image.dtype != np.uint8:
            raise ValueError(
                f"a page image is a 2-D uint8 array, got {self.image.dtype} {self.image.shape}"
            )
        if self.index < 0 or self.dpi <= 0:
            raise ValueError(f"bad page index {self.index} or dpi {self.dpi}")
        if self.colour not in ("grey", "bitonal", "colour"):
            raise ValueError(f"unknown colour mode {self.colour!r}")
        self.image.setflags(write=False)

    @property
    def width(self) -> int:
        return self.image.shape[1]

    @property
    def height(self) -> int:
        return self.image.shape[0]


@dataclass(frozen=True, slots=True)
class PageFailure:
    """Pages of a file that could not be read while its other pages could."""

    source: str
    source_sha256: str
    pages: tuple[int, ...]
    error: InputError


def open_input(path: Path, name: str | None = None) -> BinaryIO:
    """An input file opened for reading, its OS errors turned into Plico's input errors."""
    name = name or path.name
    if path.exists() and not path.is_file() and not path.is_dir():
        # a FIFO would block the open until a writer came; a device is not a scan either
        raise UnsupportedInputError(f"{name}: not a regular file (a pipe, socket or device)")
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise InputNotFoundError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise UnsupportedInputError(f"{name}: is a folder, not a file") from None
    except OSError as err:
        raise InputError(f"{name}: cannot be read ({err.strerror})") from None


def _name_of(source: Source, name: str | None) -> str:
    return name or (source.name if isinstance(source, Path) else "input")


def _head(source: Source, name: str) -> bytes:
    if isinstance(source, bytes):
        return source[:_PDF_SLACK]
    with open_input(source, name) as fp:
        try:
            return fp.read(_PDF_SLACK)
        except OSError as err:
            raise InputError(f"{name}: cannot be read ({err.strerror})") from None


def _tail(source: Source) -> bytes:
    if isinstance(source, bytes):
        return source[-_PDF_SLACK:]
    with source.open("rb") as fp:
        fp.seek(0, os.SEEK_END)
        fp.seek(max(0, fp.tell() - _PDF_SLACK))
        return fp.read()


def library_fault(name: str, err: BaseException, page: int | None = None,
                  what: str = "is corrupt or truncated") -> InputError:
    """An exception a decoding library raised on an input, as the InputError it stands for:
    the file (and page) named, the library's error class and message (Pillow's and pdfium's
    describe the structure, never the content)."""
    if isinstance(err, InputError):
        return err
    where = f"{name}: page {page + 1}" if page is not None else name
    return InputError(f"{where} {what} ({_error_text(err)})")


def _error_text(err: BaseException) -> str:
    """`Class: first line of the message`, at most 200 characters of it."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:200]}" if lines else type(err).__name__


def sniff(path: Source, *, name: str | None = None) -> Kind:
    """The kind of input file `path` is, from its first bytes (the extension is ignored).

    `name` is what messages call the file (default: its file name).
    """
    name = _name_of(path, name)
    head = _head(path, name)
    if not head:
        raise UnsupportedInputError(f"{name}: the file is empty (0 bytes)")
    if head.startswith(_PNG_MAGIC):
        return "png"
    if head.startswith(_JPEG_MAGIC):
        return "jpeg"
    if head[:4] in _TIFF_MAGICS:
        return "tiff"
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith(_ZIP_MAGIC):
        raise UnsupportedInputError(
            f"{name}: a ZIP container (an office document?), not a PDF, TIFF, PNG or JPEG file"
        )
    raise UnsupportedInputError(f"{name}: not a PDF, TIFF, PNG or JPEG file")


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


# --- PDF -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _PdfPlan:
    """How to render one PDF page: output size and scale, both as displayed (after /Rotate)."""

    width: int
    height: int
    scale_x: float  # output pixels per point along the displayed page's x axis
    scale_y: float
    dpi: int
    colour: Colour | None  # None: not known from the file, found from the rendering


def _open_pdf_checked(
    path: Source, name: str, settings: Settings
) -> tuple[pdfium.PdfDocument, int]:
    """The open document and its page count, after the checks of the whole file."""
    try:
        tail = _tail(path)
    except OSError as err:
        raise InputError(f"{name}: cannot be read ({err.strerror})") from None
    if b"%%EOF" not in tail:
        # pdfium rebuilds a damaged cross-reference table and renders what it can; a file
        # cut off in transfer must not pass as a batch with blank or missing pages
        raise InputError(f"{name}: truncated PDF (no %%EOF marker at its end)")
    with PDFIUM_LOCK:
        try:
            doc = _open_pdf(path, name)
            count = len(doc)
        except Exception as err:  # noqa: BLE001 - pdfium on a damaged file: an input fault
            raise library_fault(name, err) from None
    if count <= 0 or count > settings.max_pages_per_input:
        with PDFIUM_LOCK:
            doc.close()
        if count <= 0:
            raise InputError(f"{name}: the PDF has no pages")
        raise InputTooLargeError(
            f"{name}: {count} pages, more than the {settings.max_pages_per_input} allowed"
        )
    return doc, count


def _pdf_pages(
    path: Source, name: str, sha256: str, settings: Settings, pages: range | None = None
) -> Iterator[PageImage | PageFailure]:
    doc, count = _open_pdf_checked(path, name, settings)
    try:
        for index in range(count) if pages is None else range(count)[pages.start:pages.stop]:
            try:
                with PDFIUM_LOCK:
                    item: PageImage | PageFailure = _pdf_page(doc, index, name, sha256, settings)
            except Exception as err:  # noqa: BLE001 - pdfium/OpenCV on a damaged page
                log.warning("%s page %d: %s", sha256[:12], index, type(err).__name__)
                item = PageFailure(name, sha256, (index,), library_fault(name, err, index))
            yield item
    finally:
        with PDFIUM_LOCK:
            doc.close()


def _open_pdf(path: Source, name: str) -> pdfium.PdfDocument:
    # The raw call, not PdfDocument(path): pypdfium2 reports a document that opens with no
    # pages as a load failure with whatever error code a previous call left behind.
    if isinstance(path, bytes):
        raw = pdfium_c.FPDF_LoadMemDocument64(path, len(path), None)
    else:
        raw = pdfium_c.FPDF_LoadDocument(os.fsencode(path) + b"\x00", None)
    if not raw:
        code = pdfium_c.FPDF_GetLastError()
        if code == pdfium_c.FPDF_ERR_PASSWORD:
            raise EncryptedInputError(f"{name}: the PDF is password-protected")
        if code == pdfium_c.FPDF_ERR_SECURITY:
            raise EncryptedInputError(f"{name}: the PDF uses an unsupported encryption scheme")
        if code == pdfium_c.FPDF_ERR_FILE:
            raise InputError(f"{name}: the PDF cannot be opened")
        if code == pdfium_c.FPDF_ERR_FORMAT:
            raise InputError(f"{name}: corrupt PDF (its structure cannot be parsed)")
        raise InputError(f"{name}: corrupt PDF (pdfium error {code})")
    doc = pdfium.PdfDocument(raw)
    if isinstance(path, bytes):
        # pdfium reads the buffer for as long as the document is open: the document keeps it
        doc._data_holder.append(path)
    try:
        # Form fields of a filled-in printout are drawn by the form handler, not the page.
        doc.init_forms()
    except pdfium.PdfiumError:
        # a broken AcroForm: the pages still render, the fields' values may be missing
        log.warning("PDF form handler failed to start; fields may not be drawn")
    return doc


def _pdf_page(
    doc: pdfium.PdfDocument, index: int, name: str, sha256: str, settings: Settings
) -> PageImage:
    try:
        page = doc[index]
    except pdfium.PdfiumError:
        raise InputError(f"{name}: page {index + 1} cannot be loaded") from None
    try:
        plan = _pdf_plan(page, index, name, settings)
        image, colour = _render(page, plan)
        words = _pdf_words(page, plan)
    finally:
        page.close()
    return PageImage(
        source=name,
        source_sha256=sha256,
        index=index,
        image=image,
        dpi=plan.dpi,
        dpi_assumed=False,
        colour=colour,
        text_words=words,
    )


def _pdf_plan(page: pdfium.PdfPage, index: int, name: str, settings: Settings) -> _PdfPlan:
    """Decide the output size and dpi of a page, and refuse a bomb before anything decodes."""
    images = list(page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,)))
    for image in images:
        # the image's own pixels are decoded whole whatever the rendering resolution
        px_w, px_h = image.get_px_size()
        if px_w * px_h > settings.max_image_pixels:
            raise InputTooLargeError(
                f"{name}: page {index + 1} holds a {px_w} x {px_h} image, more than "
                f"{settings.max_image_pixels} pixels"
            )
    # page size as displayed (pdfium swaps it for /Rotate 90 and 270)
    disp_w, disp_h = page.get_size()
    turned = page.get_rotation() in (90, 270)
    scan = _native_scan(page, images)
    if scan is None:
        dpi, scale_x, scale_y, colour = DEFAULT_DPI, DEFAULT_DPI / 72, DEFAULT_DPI / 72, None
    else:
        dpi_x, dpi_y, colour = scan  # along the page's own axes
        if turned:
            dpi_x, dpi_y = dpi_y, dpi_x
        dpi_x, dpi_y = _snap_dpi(dpi_x), _snap_dpi(dpi_y)
        if abs(dpi_x - dpi_y) <= SQUARE_PIXEL_TOLERANCE * max(dpi_x, dpi_y):
            # the image's own scale: its pixels land on the output's, 1:1 where the page
            # size was written as pixels * 72 / dpi (img2pdf and most scanners)
            dpi = round(math.sqrt(dpi_x * dpi_y))
            scale_x, scale_y = dpi_x / 72, dpi_y / 72
        else:
            dpi = round(max(dpi_x, dpi_y))  # square output pixels at the finer resolution
            scale_x = scale_y = dpi / 72
    width, height = max(1, round(disp_w * scale_x)), max(1, round(disp_h * scale_y))
    if width * height > settings.max_image_pixels:
        raise InputTooLargeError(
            f"{name}: page {index + 1} would be {width} x {height} pixels at {dpi} dpi, more "
            f"than {settings.max_image_pixels}"
        )
    return _PdfPlan(width, height, scale_x, scale_y, dpi, colour)


def _snap_dpi(dpi: float) -> float:
    # pdfium hands out page sizes as 32-bit floats: 594.96 pt comes back as 594.9600219...
    # and 2479 px over it as 300.00001 dpi. Rendering at exactly 300/72 pixels per point
    # is what makes pdfium copy the scan's pixels unchanged instead of resampling them.
    whole = round(dpi)
    return float(whole) if abs(dpi - whole) < 0.05 else dpi


def _native_scan(
    page: pdfium.PdfPage, images: list[pdfium.PdfImage]
) -> tuple[float, float, Colour] | None:
    """(dpi along the page's x, along its y, colour) of a page that is one full-page image.

    Text objects (an OCR layer) and small vector marks beside the image do not matter; a
    second image does (a composed page, not a scan).
    """
    if len(images) != 1:
        return None
    image = images[0]
    left, bottom, right, top = image.get_bounds()
    c_left, c_bottom, c_right, c_top = page.get_cropbox()
    if right <= left or top <= bottom or c_right <= c_left or c_top <= c_bottom:
        return None
    overlap_w = max(0.0, min(right, c_right) - max(left, c_left))
    overlap_h = max(0.0, min(top, c_top) - max(bottom, c_bottom))
    if overlap_w * overlap_h < FULL_PAGE_COVERAGE * (c_right - c_left) * (c_top - c_bottom):
        return None
    px_w, px_h = image.get_px_size()
    matrix = image.get_matrix()
    if abs(matrix.b) > abs(matrix.a):  # drawn turned by 90 degrees: its rows run up the page
        px_w, px_h = px_h, px_w
    dpi_x, dpi_y = px_w * 72 / (right - left), px_h * 72 / (top - bottom)
    low, high = PLAUSIBLE_DPI
    if not (low <= dpi_x <= high and low <= dpi_y <= high):
        return None  # an icon stretched over the page, or a thumbnail: not a scan
    meta = image.get_metadata()
    return dpi_x, dpi_y, _pdf_image_colour(meta.bits_per_pixel, meta.colorspace)


def _pdf_image_colour(bits_per_pixel: int, colorspace: int) -> Colour:
    if bits_per_pixel == 1:
        return "bitonal"  # CCITT G4, JBIG2, 1-bit Flate
    if colorspace in (pdfium_c.FPDF_COLORSPACE_DEVICEGRAY, pdfium_c.FPDF_COLORSPACE_CALGRAY):
        return "grey"
    if colorspace == pdfium_c.FPDF_COLORSPACE_INDEXED:
        return "colour"
    # ICC-based or unknown (a bare DCT stream): one 8- or 16-bit component is grey
    return "grey" if bits_per_pixel in (8, 16) else "colour"


def _render(page: pdfium.PdfPage, plan: _PdfPlan) -> tuple[np.ndarray, Colour]:
    """Render the page at the plan's scale; a vector page in colour, to find its mode."""
    fmt = pdfium_c.FPDFBitmap_Gray if plan.colour else pdfium_c.FPDFBitmap_BGR
    bitmap = pdfium.PdfBitmap.new_native(plan.width, plan.height, fmt)
    try:
        bitmap.fill_rect((255, 255, 255, 255), 0, 0, plan.width, plan.height)
        # A plain scale matrix (pdfium adds /Rotate), not PdfPage.render: that sizes the
        # bitmap with ceil() and stretches the page to fill it, which resamples a scan.
        matrix = pdfium_c.FS_MATRIX(plan.scale_x, 0, 0, plan.scale_y, 0, 0)
        clip = pdfium_c.FS_RECTF(0, 0, plan.width, plan.height)
        pdfium_c.FPDF_RenderPageBitmapWithMatrix(bitmap, page, matrix, clip, pdfium_c.FPDF_ANNOT)
        if page.formenv:
            # form fields of a filled-in printout (no matrix variant: stretched to the size)
            pdfium_c.FPDF_FFLDraw(
                page.formenv, bitmap, page, 0, 0, plan.width, plan.height, 0, pdfium_c.FPDF_ANNOT
            )
        pixels = bitmap.to_numpy()
        if plan.colour:
            return np.array(pixels.reshape(plan.height, plan.width), copy=True), plan.colour
        grey = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
        return grey, _rendered_colour(pixels)
    finally:
        bitmap.close()


def _rendered_colour(bgr: np.ndarray) -> Colour:
    sample = bgr[::4, ::4].astype(np.int16)  # every 16th pixel: a coloured mark is bigger
    chroma = sample.max(axis=2) - sample.min(axis=2)
    return "colour" if int(chroma.max(initial=0)) > COLOUR_CHROMA else "grey"


def _pdf_words(page: pdfium.PdfPage, plan: _PdfPlan) -> tuple[Word, ...]:
    """The page's text-layer words, boxes mapped onto the rendered image by pdfium itself."""
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        if count <= 0:
            return ()
        words: list[Word] = []
        chars: list[str] = []
        box = [math.inf, math.inf, -math.inf, -math.inf]  # left, bottom, right, top (points)
        for k in range(count + 1):
            code = pdfium_c.FPDFText_GetUnicode(textpage, k) if k < count else 0
            char = chr(code) if 0 < code < 0x110000 else ""
            if char and not char.isspace() and char.isprintable():
                left, bottom, right, top = textpage.get_charbox(k, loose=True)
                box = [min(box[0], left), min(box[1], bottom), max(box[2], right), max(box[3], top)]
                chars.append(char)
                continue
            # whitespace (the file's or pdfium's generated word and line breaks), a control
            # character, or the end: the word so far is complete
            if chars:
                word = _device_word(page, plan, "".join(chars), box)
                if word is not None:
                    words.append(word)
            chars = []
            box = [math.inf, math.inf, -math.inf, -math.inf]
        return tuple(words)
    finally:
        textpage.close()


def _device_word(
    page: pdfium.PdfPage, plan: _PdfPlan, text: str, box: list[float]
) -> Word | None:
    xs, ys = [], []
    for px, py in ((box[0], box[3]), (box[2], box[1])):
        dx, dy = c_int(), c_int()
        pdfium_c.FPDF_PageToDevice(
            page, 0, 0, plan.width, plan.height, 0, px, py, byref(dx), byref(dy)
        )
        xs.append(dx.value)
        ys.append(dy.value)
    x0, x1 = max(0, min(xs)), min(plan.width, max(xs))
    y0, y1 = max(0, min(ys)), min(plan.height, max(ys))
    if x1 <= x0 or y1 <= y0:
        return None  # outside the visible page
    return Word(text, x0, y0, x1 - x0, y1 - y0)


# --- TIFF, PNG, JPEG -------------------------------------------------------------------


def _open_image_checked(
    path: Source, kind: Kind, name: str, settings: Settings
) -> tuple[Image.Image, int]:
    """The open image and its page count, after the checks of the whole file."""
    try:
        im = _open_image(path, kind, settings)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputTooLargeError(
            f"{name}: the image is larger than {settings.max_image_pixels} pixels"
        ) from None
    except UnidentifiedImageError:
        raise InputError(f"{name}: corrupt {kind.upper()} file (unreadable header)") from None
    except _PIL_ERRORS as err:
        raise InputError(f"{name}: corrupt {kind.upper()} file ({err})") from None
    except Exception as err:  # noqa: BLE001 - Pillow on a damaged header: an input fault
        raise library_fault(name, err) from None
    # A PNG or JPEG is one page (an APNG's or MPO's further frames are not scans).
    try:
        count = im.n_frames if kind == "tiff" else 1
    except Exception as err:  # noqa: BLE001 - a truncated chain raises TypeError, KeyError...
        im.close()
        raise InputError(f"{name}: corrupt TIFF directory chain ({_error_text(err)})") from None
    if count > settings.max_pages_per_input:
        im.close()
        raise InputTooLargeError(
            f"{name}: {count} pages, more than the {settings.max_pages_per_input} allowed"
        )
    return im, count


def _image_pages(
    path: Source, kind: Kind, name: str, sha256: str, settings: Settings,
    pages: range | None = None,
) -> Iterator[PageImage | PageFailure]:
    im, count = _open_image_checked(path, kind, name, settings)
    with im:
        for index in range(count) if pages is None else range(count)[pages.start:pages.stop]:
            try:
                if index:
                    im.seek(index)
                item: PageImage | PageFailure = _image_page(
                    im, kind, index, name, sha256, settings
                )
            except Exception as err:  # noqa: BLE001 - Pillow/OpenCV on a damaged frame
                item = PageFailure(name, sha256, (index,), library_fault(name, err, index))
            if isinstance(item, PageFailure):
                log.warning("%s page %d: %s", sha256[:12], index, type(item.error).__name__)
            yield item


# Pillow's bomb guard is a module global (and a warning filter): set for our open and put
# back at once, under a lock, so that Pillow elsewhere in the process keeps its own.
_PIL_GUARD = threading.Lock()


def _open_image(path: Source, kind: Kind, settings: Settings) -> Image.Image:
    """Open (headers only) with Pillow's own guard at our limit: it warns above
    MAX_IMAGE_PIXELS, which we make an error, and refuses twice that by itself."""
    with _PIL_GUARD, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = settings.max_image_pixels
        try:
            source = io.BytesIO(path) if isinstance(path, bytes) else path
            return Image.open(source, formats=[_PIL_FORMAT[kind]])
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def _image_page(
    im: Image.Image, kind: Kind, index: int, name: str, sha256: str, settings: Settings
) -> PageImage:
    width, height = im.size
    (dpi_x, dpi_y), assumed = _declared_dpi(im.info)
    dpi = max(dpi_x, dpi_y)
    out_w, out_h = round(width * dpi / dpi_x), round(height * dpi / dpi_y)
    # before decoding: the header's size (and the size after squaring the pixels)
    if max(width * height, out_w * out_h) > settings.max_image_pixels:
        raise InputTooLargeError(
            f"{name}: page {index + 1} is {width} x {height} pixels, more than "
            f"{settings.max_image_pixels}"
        )
    colour = _pil_colour(im)
    im.load()
    grey = _to_grey(im, name, index)
    if (out_w, out_h) != (width, height):
        grey = cv2.resize(grey, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
    return PageImage(
        source=name,
        source_sha256=sha256,
        index=index,
        image=grey,
        dpi=round(dpi),
        dpi_assumed=assumed,
        colour=colour,
    )


def _declared_dpi(info: dict) -> tuple[tuple[float, float], bool]:
    """(x, y) dpi from Pillow's `info` (it converts per-cm units), and whether assumed."""
    declared = info.get("dpi")
    if declared:
        try:
            dpi_x, dpi_y = float(declared[0]), float(declared[1])
        except (TypeError, ValueError, IndexError, ZeroDivisionError):
            dpi_x = dpi_y = 0.0
        low, high = PLAUSIBLE_DPI
        if low <= dpi_x <= high and low <= dpi_y <= high:
            if abs(dpi_x - dpi_y) <= SQUARE_PIXEL_TOLERANCE * max(dpi_x, dpi_y):
                dpi_x = dpi_y = float(round(max(dpi_x, dpi_y)))
            return (dpi_x, dpi_y), False
    return (float(DEFAULT_DPI), float(DEFAULT_DPI)), True


def _pil_colour(im: Image.Image) -> Colour:
    if im.mode == "1":
        return "bitonal"
    if im.mode in ("L", "LA", "La", "F") or im.mode.startswith("I"):
        return "grey"
    if im.mode in ("P", "PA"):
        palette = np.asarray(im.getpalette("RGB") or [], dtype=np.uint8).reshape(-1, 3)
        all_grey = bool((palette == palette[:, :1]).all())
        return "grey" if all_grey else "colour"
    return "colour"


def _to_grey(im: Image.Image, name: str, index: int) -> np.ndarray:
    """The decoded frame as uint8 grey; transparency is flattened onto white paper."""
    mode = im.mode
    if mode == "L":
        return np.array(im)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit samples (Pillow opens 16-bit PNG and TIFF as I;16 or I): scale, don't clip
        wide = np.asarray(im).astype(np.int64)
        wide = np.clip(wide, 0, 65535)
        return ((wide * 255 + 32767) // 65535).astype(np.uint8)
    if mode == "F":
        raise UnsupportedInputError(
            f"{name}: page {index + 1} has floating-point samples, not a scan"
        )
    if mode in ("LA", "La", "RGBA", "RGBa", "PA") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        paper = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return np.array(Image.alpha_composite(paper, rgba).convert("L"))
    if mode in ("1", "P", "RGB"):
        return np.array(im.convert("L"))
    return np.array(im.convert("RGB").convert("L"))  # CMYK, YCbCr, LAB, HSV
