"""PDF pages rasterised with pdfium: a page that is one full-page scan at the scan's own
resolution, any other page at 300 dpi, with its colour mode and its text layer's words in
pixel coordinates (see `extractors.raster`)."""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Iterator
from ctypes import byref, c_int
from dataclasses import dataclass

import cv2
import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from extractors.input_file import Source, _tail, library_fault
from extractors.page_image import (
    DEFAULT_DPI,
    PLAUSIBLE_DPI,
    SQUARE_PIXEL_TOLERANCE,
    Colour,
    PageFailure,
    PageImage,
    Word,
)
from pipeline.errors import EncryptedInputError, InputError, InputTooLargeError
from pipeline.settings import Settings

log = logging.getLogger(__name__)

# A PDF image covering at least this share of the page is the page's scan.
FULL_PAGE_COVERAGE = 0.9
# A rendered vector page is "colour" when a pixel's channels differ by more than this
# (anti-aliased black text on white stays within a few levels).
COLOUR_CHROMA = 32

# pdfium is not thread-safe (pypdfium2 documents this): every pdfium call in this module
# runs under this lock, taken per page and never held across a `yield`, so a consumer may
# use pdfium itself between pages. pipeline/form/render.py has a lock of its own for the
# same reason; the two should become one (this one, imported there).
PDFIUM_LOCK = threading.Lock()


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
