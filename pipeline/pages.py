"""Page preparation: orient, deskew, blank-side detection, barcodes, classification.

`prepare_page` is a plain function of one rasterised page; the in-process runner and the
workers call it the same way. A page is classified by what is printed on it: the MOD.209
cell grid (extractors/register.py) for form pages; for the photocopies, an MRZ (TD3 passport,
TD1 permit card), the bollettino's receipt, or the envelope label's 12-digit Codice
Assicurata barcode; a page whose grid did not register but whose printed footer names a
form page is that page (a looser fit to it alone) or else unreadable; anything else is an
attachment.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field

import numpy as np

from extractors import barcodes, orient, register, tesseract
from extractors.mrz import MrzReading, read_mrz
from extractors.page_image import PageImage
from extractors.receipt import ReceiptReading, read_receipt
from extractors.tesseract import TesseractError
from pipeline.form import load_form_model
from pipeline.form.model import PAGE_COUNT

log = logging.getLogger(__name__)

CODE_12 = re.compile(r"^\d{12}$")


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a page came from, without its pixels (a prepared page keeps only the upright
    image it needs, so a batch's memory stays that of one kit)."""

    source: str  # input file name
    source_sha256: str
    index: int
    dpi: int
    text_words: tuple = ()

    @classmethod
    def of(cls, page: PageImage) -> SourceRef:
        return cls(page.source, page.source_sha256, page.index, page.dpi, page.text_words)


@dataclass(frozen=True, slots=True)
class PreparedPage:
    """A page made upright, with what the cheap steps found on it.

    `image` is the page upright and deskewed (a blank page: as scanned): the fields are read
    from it, and it is what the object store keeps of the page for the review app.
    """

    source: SourceRef
    image: np.ndarray
    rotation: int
    skew_deg: float
    blank: bool
    kind: str  # m1p1..m2p3, label, passport, permit, bollettino, attachment, blank
    registration: register.Registration | None = None
    codes: tuple[str, ...] = ()  # 12-digit Code128 codes found on the page
    mrz: MrzReading | None = None
    receipt: ReceiptReading | None = None
    timings: dict[str, float] = field(default_factory=dict)
    # kind "unknown": the form page its printed footer names, when its grid did not register
    printed_page: str | None = None

    @property
    def dpi(self) -> int:
        return self.source.dpi


#: A registration at least this good is the page as it lies; below it, the page may be
#: upside down with its rows of boxes falling on the template's rows (NIST seed 9910: a
#: blank Modulo 1 page 4 turned 180° registered as itself at 0.52, its cell walls read as
#: writing), and the orientation search decides. 2 of 413 form pages of NIST seeds 9880 and
#: 919 scored below it, every other one 1.0.
SURE_SCORE = 0.8


def prepare_page(page: PageImage) -> PreparedPage:
    """Orient, deskew and classify one page.

    The page is first taken as upright (`orient.level`: only its skew is measured) and
    registered to the form model; only a page that does not register, or not surely
    (`SURE_SCORE`), pays for the search of its quarter turn (`orient.orientation`), and
    registers again if that search turned it, the better fit kept."""
    timings: dict[str, float] = {}
    t = time.perf_counter()
    dpi = page.dpi
    surveyed = orient.survey(page.image, dpi)  # says blank for a duplex back
    ref = SourceRef.of(page)
    if surveyed.blank:
        timings["orient"] = time.perf_counter() - t
        return PreparedPage(ref, page.image, 0, 0.0, True, "blank", timings=timings)
    found = orient.level(surveyed)
    upright = orient.normalise_page(page.image, found)
    timings["orient"] = time.perf_counter() - t

    t = time.perf_counter()
    reg = register.register(upright, dpi)
    timings["register"] = time.perf_counter() - t
    if reg is None or reg.score < SURE_SCORE:
        t = time.perf_counter()
        searched = orient.orientation(surveyed, level_skew=found.skew_deg)
        timings["orient"] += time.perf_counter() - t
        if (searched.rotation, searched.skew_deg) != (found.rotation, found.skew_deg):
            turned = orient.normalise_page(page.image, searched)
            t = time.perf_counter()
            other = register.register(turned, dpi)
            timings["register"] += time.perf_counter() - t
            if reg is None or (other is not None and other.score > reg.score):
                found, upright, reg = searched, turned, other
    common = dict(source=ref, rotation=found.rotation, skew_deg=found.skew_deg, blank=False,
                  image=upright)
    if reg is not None:
        codes: tuple[str, ...] = ()
        if reg.page == "m1p1":  # Poste's Codice Istanza sticker sits in its box
            t = time.perf_counter()
            codes = _codes(_box_crop(upright, reg, "codice_istanza", dpi))
            timings["barcodes"] = time.perf_counter() - t
        return PreparedPage(kind=reg.page, registration=reg, codes=codes, timings=timings,
                            **common)

    t = time.perf_counter()
    codes = _codes(upright)
    timings["barcodes"] = time.perf_counter() - t
    if codes:
        return PreparedPage(kind="label", codes=codes, timings=timings, **common)
    t = time.perf_counter()
    mrz = read_mrz(upright, dpi)
    timings["mrz"] = time.perf_counter() - t
    if mrz is not None and mrz.format == "TD3":
        return PreparedPage(kind="passport", mrz=mrz, timings=timings, **common)
    if mrz is not None and mrz.format == "TD1":
        return PreparedPage(kind="permit", mrz=mrz, timings=timings, **common)
    t = time.perf_counter()
    receipt = read_receipt(upright, dpi)
    timings["receipt"] = time.perf_counter() - t
    if receipt.account or receipt.amount_cents is not None or receipt.words_read:
        return PreparedPage(kind="bollettino", receipt=receipt, timings=timings, **common)
    t = time.perf_counter()
    printed = footer_page(upright, dpi)
    timings["footer"] = time.perf_counter() - t
    if printed is not None:
        # a form page whose grid did not register (faint print, a fold, a torn corner): its
        # footer names it; a fit to that page alone is trusted at a lower score, and without
        # one the page is unreadable, never an attachment that leaves a form page missing
        t = time.perf_counter()
        reg = register.register(upright, dpi, candidates=(printed,), min_score=FOOTER_MIN_SCORE)
        timings["register"] += time.perf_counter() - t
        if reg is not None:
            return PreparedPage(kind=reg.page, registration=reg, timings=timings, **common)
        return PreparedPage(kind="unknown", printed_page=printed, timings=timings, **common)
    return PreparedPage(kind="attachment", timings=timings, **common)


#: The printed footer of a MOD.209 page: "MOD. 209 - Modulo 1 - pag. 3 di 8" on the
#: official form, "Modulo 1 - pagina 3 di 8" on our rendition (Tesseract may drop the dash).
FOOTER = re.compile(r"modulo\s*([12])\W{0,6}pag(?:ina|\.)?\s*(\d)\s*di\s*(\d)", re.I)
#: Registration score trusted when the footer already names the page (register.MIN_SCORE
#: otherwise).
FOOTER_MIN_SCORE = 0.2


def footer_page(upright: np.ndarray, dpi: int) -> str | None:
    """The form page (m1p3...) the page's printed footer names, read by Tesseract in the
    bottom 6% of the page, or None."""
    h = upright.shape[0]
    strip = upright[int(0.94 * h):, :]
    try:
        text = tesseract.text(strip, psm=6)
    except TesseractError:
        return None
    m = FOOTER.search(" ".join(text.split()))
    if m is None:
        return None
    form, number, total = m.groups()
    if PAGE_COUNT[f"m{form}"] != int(total) or not 1 <= int(number) <= int(total):
        return None
    return f"m{form}p{number}"


def _codes(image: np.ndarray) -> tuple[str, ...]:
    """The 12-digit Code128 codes (Codice Assicurata, Codice Istanza) on an image."""
    return tuple(b.text for b in barcodes.read_barcodes(image, symbologies=("code128",))
                 if CODE_12.match(b.text))


def _box_crop(image: np.ndarray, reg: register.Registration, name: str, dpi: int) -> np.ndarray:
    """A named box of the page template (e.g. the Codice Istanza space), cut from the page
    with a margin: a sticker is stuck by hand and may overhang its box."""
    page = load_form_model().page(reg.page[:2], int(reg.page[3:]))
    box = dict(page.boxes)[name]
    m = reg.as_array()
    corners = np.array([[box.x, box.y], [box.x2, box.y2]]) @ m[:, :2].T + m[:, 2]
    margin = int(10 * dpi / 25.4)
    x1, y1 = np.maximum(corners.min(axis=0).astype(int) - margin, 0)
    x2, y2 = corners.max(axis=0).astype(int) + margin
    return np.ascontiguousarray(image[y1:y2, x1:x2])
