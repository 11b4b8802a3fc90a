"""The documents of a kit other than the MOD.209 pages, as clean A4 photocopies.

Each page function returns ``(image, meta)``: a uint8 greyscale A4 page (white paper = 255,
H = round(842 * dpi / 72), W = round(595 * dpi / 72)) and a frozen dataclass with what a reader
could find on it (codes, MRZ lines, amounts, where the document lies on the sheet). Pages are
clean: scanner noise, skew of the whole sheet and compression belong to the scanner module.
What a photocopier does to the original is drawn here: the small document (passport, card,
receipt) lies on the glass at a slight angle, its laminate backgrounds come out light grey,
photos come out as soft dark-grey areas.

All randomness comes from the `numpy.random.Generator` argument (layout jitter, template
variant), so the same seed gives the same pixels. The designs are generic on purpose: field
labels follow ICAO Doc 9303 and the Italian decree on the electronic permit, but no state's
security printing is imitated (backgrounds are plain sine-wave patterns).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import ClassVar

import cv2
import numpy as np
import zxingcpp
from PIL import Image, ImageDraw

from pipeline.italian_numbers import italian_words
from sample_scans.synth.people import sample_partita_iva
from sample_scans.synth.sheet import (
    MIN_MODULE_MM,
    MM_PER_INCH,
    MRZ_LINE_MM,
    MRZ_PITCH_MM,
    BBox,
    Sheet,
    blank_page,
    copy_look,
    draw_mrz,
    draw_signature,
    guilloche,
    mm_px,
    page_bbox,
    photo_area,
    place_on_page,
    sheet_box,
)
from validators.icao import td1, td3

# --- barcodes --------------------------------------------------------------------------------


def _digits(code: str, what: str) -> str:
    if not code or not code.isdigit():
        raise ValueError(f"{what} must be digits, got {code!r}")
    return code


def module_px(dpi: int) -> int:
    """Whole pixels per Code128 module at `dpi`, never narrower than 0.33 mm."""
    return math.ceil(MIN_MODULE_MM * dpi / MM_PER_INCH - 1e-9)


def _code128(code: str, dpi: int, height_mm: float) -> np.ndarray:
    """Code128 bars (zxing-cpp's encoder) with 10-module quiet zones.

    Not python-barcode: its 0.16 encoder drops a leading "99" pair of a digit string.
    """
    symbol = zxingcpp.create_barcode(code, zxingcpp.BarcodeFormat.Code128)
    row = np.asarray(zxingcpp.write_barcode_to_image(symbol, scale=1, add_quiet_zones=False))[0]
    row = np.pad(row.astype(np.uint8), 10, constant_values=255).repeat(module_px(dpi))
    return np.tile(row, (mm_px(height_mm, dpi), 1))


def assicurata_printed(code: str) -> str:
    """The Codice Assicurata as printed under its barcode: a dash before the last digit."""
    return f"{code[:-1]}-{code[-1]}"


def istanza_sticker(codice_istanza: str, dpi: int) -> np.ndarray:
    """The Poste sticker (about 55 x 20 mm) with the Codice Istanza in Code128 and in digits,
    as the generator pastes it into the "Codice Istanza" box of Modulo 1 page 1."""
    code = _digits(codice_istanza, "Codice Istanza")
    bars = _code128(code, dpi, 11.0)
    # below ~115 dpi whole-pixel modules of >= 0.33 mm no longer fit 55 mm: widen the sticker
    w = max(55.0, bars.shape[1] * MM_PER_INCH / dpi + 1.0)
    s = Sheet(w, 20, dpi)
    s.paste(bars, (w - bars.shape[1] * MM_PER_INCH / dpi) / 2, 2.2)
    s.text(w / 2, 17.3, code, 8.5, "ocrb", anchor="ms")
    s.rect(0, 0, w - 0.1, 19.9, outline=205, width=0.15, radius=1.0)
    return s.array()


# --- page metadata ----------------------------------------------------------------------------


class DocumentKind(StrEnum):
    LABEL = "label"
    PASSPORT = "passport"
    PERMIT = "permit"
    BOLLETTINO = "bollettino"
    PAYSLIP = "payslip"
    ATTACHMENT = "attachment"


@dataclass(frozen=True, slots=True)
class LabelMeta:
    kind: ClassVar[DocumentKind] = DocumentKind.LABEL
    assicurata: str
    assicurata_printed: str  # with the dash: "06123151448-3"
    ologramma: str
    barcode_bbox: BBox


@dataclass(frozen=True, slots=True)
class PassportMeta:
    kind: ClassVar[DocumentKind] = DocumentKind.PASSPORT
    number: str
    mrz: tuple[str, str]
    variant: str  # "data_page" or "booklet" (with the opposite page)
    data_page_bbox: BBox
    mrz_bbox: BBox
    angle: float  # degrees, counter-clockwise, on the copier glass


@dataclass(frozen=True, slots=True)
class PermitMeta:
    kind: ClassVar[DocumentKind] = DocumentKind.PERMIT
    number: str
    mrz: tuple[str, str, str]
    layout: str  # "side_by_side" or "stacked"
    front_bbox: BBox
    back_bbox: BBox
    mrz_bbox: BBox
    angle: float


@dataclass(frozen=True, slots=True)
class BollettinoMeta:
    kind: ClassVar[DocumentKind] = DocumentKind.BOLLETTINO
    account: str
    amount_cents: int
    amount_figures: str  # "80,46"
    amount_words: str  # "OTTANTA/46"
    payer: str
    date: date
    receipt_bbox: BBox


@dataclass(frozen=True, slots=True)
class PayslipMeta:
    kind: ClassVar[DocumentKind] = DocumentKind.PAYSLIP
    employer: str
    employee: str
    period: date  # first day of the month paid
    gross_cents: int
    deductions_cents: int
    net_cents: int


@dataclass(frozen=True, slots=True)
class AttachmentMeta:
    kind: ClassVar[DocumentKind] = DocumentKind.ATTACHMENT
    title: str
    lines: tuple[str, ...]


# --- the registered-mail label ---------------------------------------------------------------


def label_page(
    assicurata: str,
    ologramma: str,
    dpi: int,
    rng: np.random.Generator,
    *,
    sender: Sequence[str] = (),
    recipient: Sequence[str] = (),
    accepted_on: date | None = None,
) -> tuple[np.ndarray, LabelMeta]:
    """The envelope's registered-mail receipt as the acceptance centre scans it: the
    "Raccomandata / Assicurata" label with the Codice Assicurata in Code128 (printed with a
    dash before its last digit), the Codice Ologramma, and sender / recipient boxes.

    The label is a generic rendition (no Poste logo); empty sender/recipient give the boxes'
    ruled lines only, as on a label filled in later by hand.
    """
    code = _digits(assicurata, "Codice Assicurata")
    holo_code = _digits(ologramma, "Codice Ologramma")
    w, h = 105.0, 148.0
    s = Sheet(w, h, dpi)
    s.rect(0.3, 0.3, w - 0.3, 14, outline=None, fill=225, radius=2.0)
    s.rect(0.3, 5, w - 0.3, 14, outline=None, fill=225)
    s.rect(0.3, 0.3, w - 0.3, h - 0.3, outline=30, width=0.35, radius=2.0)
    s.text(5, 7.5, "POSTA ASSICURATA", 12, "sans_bold")
    s.text(5, 12, "Raccomandata - Ricevuta di accettazione", 7, "sans")
    s.rect(w - 27, 2.5, w - 4, 12, outline=0, width=0.3, fill=255)
    s.text(w - 15.5, 6.0, "TARIFFA", 5.5, "sans", anchor="ms")
    s.text(w - 15.5, 10.6, "€ 30,00", 9, "sans_bold", anchor="ms")  # MOD209.md §6
    s.text(5, 20, "Codice Assicurata", 7, "sans")
    bars = _code128(code, dpi, 14.0)
    bar_w = bars.shape[1] * MM_PER_INCH / dpi
    bx, by = (w - bar_w) / 2 + rng.uniform(-3, 3), 22.0
    s.paste(bars, bx, by)
    s.text(bx + bar_w / 2, by + 19.5, assicurata_printed(code), 11, "ocrb", anchor="ms")
    # the hologram sticker: a small foil square a copier renders as a grey hatched patch
    hx, hy = 5.0, 46.0
    holo = Sheet(22, 13, dpi, fill=200)
    for k in range(0, 36, 2):
        holo.line(k, 0, k - 13, 13, fill=165, width=0.3)
    holo.d.ellipse(sheet_box(holo, 6, 1.5, 16, 11.5), outline=140, width=max(1, holo.p(0.4)))
    holo.rect(0, 0, 21.9, 12.9, outline=120, width=0.2)
    s.paste(holo.array(), hx, hy)
    s.text(hx + 26, hy + 4.5, "Codice Ologramma", 7, "sans")
    s.text(hx + 26, hy + 10.5, holo_code, 11, "ocrb")
    accepted = accepted_on.strftime("%d/%m/%Y") if accepted_on else ""
    s.text(5, 66, f"Ufficio di accettazione ........................   Data {accepted}", 7)
    for title, y0, rows in (("MITTENTE", 70.0, sender), ("DESTINATARIO", 102.0, recipient)):
        s.rect(4, y0, w - 4, y0 + 29, outline=40, width=0.3)
        s.rect(4, y0, 30, y0 + 5, outline=40, width=0.3, fill=235)
        s.text(6, y0 + 3.8, title, 7, "sans_bold")
        for i in range(4):
            yy = y0 + 11 + i * 5.5
            if i < len(rows):
                s.text(7, yy - 0.7, rows[i].upper(), 9, "mono", max_w=w - 16)
            else:
                s.dotted(7, w - 8, yy)
    s.text(5, h - 8, "Conservare la ricevuta per eventuali reclami.", 6.5, "sans", fill=60)

    page = blank_page(dpi)
    x = mm_px(rng.uniform(15, 40), dpi)
    y = mm_px(rng.uniform(12, 30), dpi)
    angle = float(rng.uniform(-0.8, 0.8))
    m = place_on_page(page, copy_look(s.array(), dpi, 0.0), x, y, angle)
    bbox = page_bbox(m, (s.p(bx), s.p(by), s.p(bx) + bars.shape[1], s.p(by) + bars.shape[0]),
                 page.shape)  # fmt: skip
    return page, LabelMeta(code, assicurata_printed(code), holo_code, bbox)


# --- passport ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PassportData:
    """The data page of a TD3 passport. Codes are ICAO three-letter codes."""

    surname: str
    given_names: str
    number: str
    nationality: str
    birth_date: date
    sex: str  # F, M or X
    birth_place: str
    issue_date: date
    expiry_date: date
    issuing_state: str | None = None  # None = the nationality
    state_name: str = ""  # the header, e.g. "REPUBLIC OF UTOPIA"; "" prints the code
    nationality_name: str = ""  # as printed in the visual zone; "" prints the code
    authority: str = "MINISTRY OF INTERIOR"
    personal_number: str = ""
    document_code: str = "P"

    def mrz(self) -> tuple[str, str]:
        return td3(
            document_code=self.document_code,
            issuing_state=self.issuing_state or self.nationality,
            surname=self.surname,
            given_names=self.given_names,
            number=self.number,
            nationality=self.nationality,
            birth_date=self.birth_date,
            sex=self.sex,
            expiry_date=self.expiry_date,
            personal_number=self.personal_number,
        )


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MESI = ("GENNAIO", "FEBBRAIO", "MARZO", "APRILE", "MAGGIO", "GIUGNO", "LUGLIO", "AGOSTO",
         "SETTEMBRE", "OTTOBRE", "NOVEMBRE", "DICEMBRE")  # fmt: skip


def _dmy(d: date) -> str:
    return f"{d.day:02d} {_MONTHS[d.month - 1]} {d.year}"


PASSPORT_W, PASSPORT_H = 125.0, 88.0  # ISO/IEC 7810 ID-3


def _passport_data_page(p: PassportData, mrz: tuple[str, str], dpi: int,
                        rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, ...]]:  # fmt: skip
    """The data page and the MRZ box (mm) on it."""
    w, h = PASSPORT_W, PASSPORT_H
    s = Sheet(w, h, dpi, fill=int(rng.integers(228, 240)))
    guilloche(s, 2, 2, w - 2, h - 24, rng, shade=int(rng.integers(200, 218)))
    value_font = "ocrb" if rng.random() < 0.5 else "sans_bold"
    label_fill = 70
    state = (p.state_name or p.issuing_state or p.nationality).upper()
    s.text(w / 2, 6.5, state, 10, "serif_bold", anchor="ms", max_w=w - 10)
    s.text(w / 2, 11.0, "PASSPORT / PASSEPORT", 8, "sans_bold", anchor="ms")
    px0, py0, pw, ph = 5.0, 15.0, 30.0, 40.0
    s.paste(photo_area(pw, ph, dpi, rng), px0, py0)
    s.rect(px0, py0, px0 + pw, py0 + ph, outline=90, width=0.2)
    x, col2, col3 = 39.0, 64.0, 90.0
    rows = [
        ((x, "Type / Type", p.document_code), (col2, "Code / Code", p.issuing_state
          or p.nationality), (col3, "Passport No. / N° du passeport", p.number)),
        ((x, "Surname / Nom", p.surname.upper()),),
        ((x, "Given names / Prénoms", p.given_names.upper()),),
        ((x, "Nationality / Nationalité", (p.nationality_name or p.nationality).upper()),),
        ((x, "Date of birth / Date de naissance", _dmy(p.birth_date)),
         (col3, "Sex / Sexe", p.sex.upper())),
        ((x, "Place of birth / Lieu de naissance", p.birth_place.upper()),),
        ((x, "Date of issue / Date de délivrance", _dmy(p.issue_date)),
         (col3 - 6, "Authority / Autorité", p.authority.upper())),
        ((x, "Date of expiry / Date d'expiration", _dmy(p.expiry_date)),),
    ]  # fmt: skip
    y = 16.2
    for row in rows:
        for i, (cx, label, value) in enumerate(row):
            right = row[i + 1][0] - 1.5 if i + 1 < len(row) else w - 3
            # OCR-B has no accented capitals: such values fall back to a sans face
            face = value_font if value.isascii() or value_font != "ocrb" else "dejavu"
            s.text(cx, y, label, 4.8, "sans", fill=label_fill, max_w=right - cx)
            s.text(cx, y + 3.3, value, 7.5, face, max_w=right - cx)
        y += 6.2
    draw_signature(s, 7, 61.5, 26, rng)
    s.rect(0, h - 23.2, w, h, outline=None, fill=int(rng.integers(238, 248)))
    mrz_x, mrz_y = (w - 44 * MRZ_PITCH_MM) / 2, h - 13.0
    draw_mrz(s, mrz, mrz_x, mrz_y)
    s.rect(0, 0, w - 0.1, h - 0.1, outline=60, width=0.3, radius=2.5)
    box = (mrz_x, mrz_y - 2.0, mrz_x + 44 * MRZ_PITCH_MM, mrz_y + MRZ_LINE_MM + 2.0)
    return s.array(), box


def _passport_opposite_page(dpi: int, rng: np.random.Generator, issued: date) -> np.ndarray:
    """The page above the data page: stamps and perhaps a visa sticker (no second MRZ)."""
    w, h = PASSPORT_W, PASSPORT_H
    s = Sheet(w, h, dpi, fill=int(rng.integers(236, 246)))
    guilloche(s, 3, 3, w - 3, h - 3, rng, shade=int(rng.integers(212, 226)), n=14)
    s.text(w / 2, h - 3, str(int(rng.integers(2, 9))), 6, "sans", fill=90, anchor="ms")
    if rng.random() < 0.5:  # a visa sticker
        vx, vy = 6.0, 8.0
        s.rect(vx, vy, w - 6, h - 10, outline=70, width=0.3, fill=225, radius=1.5)
        s.text(vx + 4, vy + 6, "VISTO / VISA", 9, "sans_bold")
        s.paste(photo_area(22, 28, dpi, rng), vx + 4, vy + 10)
        visa_from = issued.replace(day=1)
        for i, (label, value) in enumerate((
            ("VALIDO PER / VALID FOR", "STATI SCHENGEN"),
            ("DAL / FROM", visa_from.strftime("%d-%m-%Y")),
            ("TIPO / TYPE", "D"),
            ("N. DI INGRESSI / ENTRIES", "MULT"),
            ("DURATA / DURATION", f"{int(rng.integers(90, 366))} GG"),
        )):  # fmt: skip
            s.text(vx + 30, vy + 12 + i * 7, label, 5, "sans", fill=70)
            s.text(vx + 30, vy + 15.5 + i * 7, value, 7.5, "sans_bold")
    for _ in range(int(rng.integers(1, 4))):  # entry/exit stamps
        cx, cy = rng.uniform(20, w - 20), rng.uniform(15, h - 15)
        stamp = _stamp_image(
            dpi, rng, ("ENTRATA", "ENTRY"),
            f"{int(rng.integers(1, 28)):02d}.{int(rng.integers(1, 13)):02d}.{issued.year + 1}",
            round_=rng.random() < 0.5,
        )  # fmt: skip
        s.paste(stamp, cx - 12, cy - 12)
    s.rect(0, 0, w - 0.1, h - 0.1, outline=60, width=0.3, radius=2.5)
    return s.array()


def passport_copy(p: PassportData, dpi: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, PassportMeta]:  # fmt: skip
    """A photocopy of a TD3 passport data page (ID-3, 125 x 88 mm) on A4, sometimes with the
    opposite page of the open booklet above it. The MRZ is built with `validators.icao.td3`."""
    mrz = p.mrz()
    data, mrz_box = _passport_data_page(p, mrz, dpi, rng)
    booklet = rng.random() < 0.5
    if booklet:
        upper = _passport_opposite_page(dpi, rng, p.issue_date)
        piece = np.vstack([upper, data])
        # the fold between the two pages
        fold = upper.shape[0]
        piece[max(0, fold - 2) : fold + 2, :] = np.minimum(piece[max(0, fold - 2) : fold + 2], 110)
        data_y = fold
    else:
        piece, data_y = data, 0
    piece = copy_look(piece, dpi)
    page = blank_page(dpi)
    ph_mm = piece.shape[0] * MM_PER_INCH / dpi
    x = mm_px(rng.uniform(15, 210 - PASSPORT_W - 15), dpi)
    y = mm_px(rng.uniform(12, max(13, 297 - ph_mm - 60)), dpi)
    angle = float(rng.uniform(-1.5, 1.5))
    m = place_on_page(page, piece, x, y, angle)
    dpx = mm_px(PASSPORT_W, dpi), data.shape[0]
    data_bbox = page_bbox(m, (0, data_y, dpx[0], data_y + dpx[1]), page.shape)
    mb = tuple(mm_px(v, dpi) for v in mrz_box)
    mrz_bbox = page_bbox(m, (mb[0], mb[1] + data_y, mb[2], mb[3] + data_y), page.shape)
    meta = PassportMeta(p.number.upper(), mrz, "booklet" if booklet else "data_page",
                        data_bbox, mrz_bbox, angle)  # fmt: skip
    return page, meta


# --- electronic residence permit ---------------------------------------------------------------

CARD_W, CARD_H = 85.6, 54.0  # ISO/IEC 7810 ID-1
# The TD1 document code of the Italian permit is not in our sources (the 2010 decree only
# says "ICAO 9303"). "IR" (I = ID-1 travel/identity document, R = residence) is what several
# uniform-format EU residence permits and the UK BRP carry; it is a field, not a fact.
PERMIT_DOCUMENT_CODE = "IR"


@dataclass(frozen=True, slots=True)
class PermitData:
    """An Italian electronic residence permit (permesso di soggiorno elettronico, ID-1).

    `number` follows the decree's pattern, one letter and eight digits ("I12345678").
    `card` (carta di soggiorno / EU long-term) prints "ILLIMITATA" as validity; the MRZ
    still carries `expiry_date`, the card's own expiry. Without `issue_date` the card was
    issued two years (a carta: five) before it expires.
    """

    surname: str
    given_names: str
    number: str
    sex: str
    nationality: str  # ICAO code
    birth_date: date
    expiry_date: date
    permit_type: str  # "TIPO DI PERMESSO": up to two lines of 21 characters
    card: bool = False
    birth_place: str = ""
    issued_at: str = ""  # the province of the issuing Questura
    issue_date: date | None = None
    codice_fiscale: str = ""
    observations: str = ""
    document_code: str = PERMIT_DOCUMENT_CODE

    @property
    def issued_on(self) -> date:
        """`issue_date`, or two years (a carta: five) before the expiry."""
        if self.issue_date is not None:
            return self.issue_date
        d, years = self.expiry_date, 5 if self.card else 2
        if (d.month, d.day) == (2, 29):
            d = d.replace(day=28)
        return d.replace(year=d.year - years)

    def mrz(self) -> tuple[str, str, str]:
        return td1(
            document_code=self.document_code,
            issuing_state="ITA",
            surname=self.surname,
            given_names=self.given_names,
            number=self.number,
            nationality=self.nationality,
            birth_date=self.birth_date,
            sex=self.sex,
            expiry_date=self.expiry_date,
        )


def _it_date(d: date) -> str:
    return d.strftime("%d.%m.%Y")


def _card_face(dpi: int, rng: np.random.Generator) -> Sheet:
    s = Sheet(CARD_W, CARD_H, dpi, fill=int(rng.integers(226, 238)))
    guilloche(s, 1.5, 1.5, CARD_W - 1.5, CARD_H - 1.5, rng, shade=int(rng.integers(200, 215)),
               n=16)  # fmt: skip
    return s


def _card_outline(s: Sheet) -> np.ndarray:
    """Round the corners (3.18 mm, ID-1) and draw the card's edge as a copier shows it."""
    arr = s.array()
    mask = Image.new("L", s.img.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, *[v - 1 for v in s.img.size]), s.p(3.18),
                                           fill=255)  # fmt: skip
    arr[np.asarray(mask) == 0] = 255
    edge = Image.fromarray(arr)
    ImageDraw.Draw(edge).rounded_rectangle((0, 0, *[v - 1 for v in s.img.size]), s.p(3.18),
                                           outline=70, width=max(1, s.p(0.25)))  # fmt: skip
    return np.array(edge)


def _permit_front(p: PermitData, dpi: int, rng: np.random.Generator) -> np.ndarray:
    s = _card_face(dpi, rng)
    w = CARD_W
    s.rect(3, 2.5, 12, 8.5, outline=40, width=0.25)
    s.text(7.5, 7.0, "ITA", 7, "sans_bold", anchor="ms")
    s.text(w / 2 + 2, 7.0, "PERMESSO DI SOGGIORNO", 8.5, "sans_bold", anchor="ms")
    s.text(w - 3, 12.0, p.number.upper(), 8, "ocrb", anchor="rs")
    s.paste(photo_area(22, 28, dpi, rng), 3, 13.5)
    x, lab, val = 28.0, 4.2, 6.8
    s.text(x, 14.5, "NOME", lab, fill=70)
    s.text(x, 17.7, p.surname.upper(), val, "sans_bold", max_w=w - x - 3)
    s.text(x, 20.9, p.given_names.upper(), val, "sans_bold", max_w=w - x - 3)
    for cx, label, value in ((x, "SESSO", p.sex.upper()), (x + 11, "CITTADINANZA", p.nationality),
                             (x + 32, "DATA DI NASCITA", _it_date(p.birth_date))):  # fmt: skip
        s.text(cx, 24.8, label, lab, fill=70)
        s.text(cx, 28.0, value, val, "sans_bold")
    s.text(x, 32.0, "VALIDO FINO A", lab, fill=70)
    s.text(x, 35.2, "ILLIMITATA" if p.card else _it_date(p.expiry_date), val, "sans_bold")
    s.text(x, 39.0, "TIPO DI PERMESSO", lab, fill=70)
    tipo = s.wrap(p.permit_type.upper(), val, "sans_bold", w - x - 3)[:2]
    for i, t in enumerate(tipo):
        s.text(x, 42.2 + i * 3.0, t, val, "sans_bold", max_w=w - x - 3)
    s.text(3, 46.2, "LUOGO DI RILASCIO E DATA DI INIZIO VALIDITÀ", lab, fill=70)
    s.text(3, 49.6, f"{p.issued_at.upper()} {_it_date(p.issued_on)}".strip(), val, "sans_bold",
           max_w=40)  # fmt: skip
    draw_signature(s, 48, 51.5, 20, rng, fill=70)
    return _card_outline(s)


def _permit_back(p: PermitData, mrz: tuple[str, str, str], dpi: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, ...]]:  # fmt: skip
    s = _card_face(dpi, rng)
    w = CARD_W
    s.text(3, 5.0, "LUOGO DI NASCITA", 4.2, fill=70)
    s.text(3, 8.2, p.birth_place.upper() or "-", 6.8, "sans_bold", max_w=w - 30)
    s.text(3, 12.0, "CODICE FISCALE", 4.2, fill=70)
    s.text(3, 15.2, p.codice_fiscale.upper() or "-", 6.8, "sans_bold")
    s.text(3, 19.0, "OSSERVAZIONI", 4.2, fill=70)
    for i, t in enumerate(s.wrap(p.observations.upper(), 6.0, "sans", w - 30)[:2]):
        s.text(3, 22.0 + i * 2.8, t, 6.0, "sans")
    s.text(w - 3, 5.0, p.number.upper(), 6.5, "ocrb", anchor="rs")
    s.rect(w - 25, 8, w - 3, 24, outline=150, width=0.2)  # a plain box, no chip artwork
    s.rect(0, CARD_H - 17.5, w, CARD_H, outline=None, fill=int(rng.integers(238, 248)))
    mrz_x, mrz_y = (w - 30 * MRZ_PITCH_MM) / 2, CARD_H - 13.2
    draw_mrz(s, mrz, mrz_x, mrz_y)
    box = (mrz_x, mrz_y - 2.0, mrz_x + 30 * MRZ_PITCH_MM, mrz_y + 2 * MRZ_LINE_MM + 2.0)
    return _card_outline(s), box


def permit_copy(p: PermitData, dpi: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, PermitMeta]:  # fmt: skip
    """A photocopy of an electronic residence permit card, front and back on one A4 sheet
    (side by side or one above the other). The back carries the TD1 MRZ (`validators.icao.td1`,
    issuing state ITA, document code `p.document_code`)."""
    mrz = p.mrz()
    front = _permit_front(p, dpi, rng)
    back, mrz_box = _permit_back(p, mrz, dpi, rng)
    stacked = rng.random() < 0.5
    gap = mm_px(rng.uniform(6, 15), dpi)
    ch, cw = front.shape
    if stacked:
        piece = np.full((2 * ch + gap, cw), 255, np.uint8)
        piece[:ch], piece[ch + gap :] = front, back
        back_off = (0, ch + gap)
    else:
        piece = np.full((ch, 2 * cw + gap), 255, np.uint8)
        piece[:, :cw], piece[:, cw + gap :] = front, back
        back_off = (cw + gap, 0)
    piece = copy_look(piece, dpi)
    page = blank_page(dpi)
    pw_mm = piece.shape[1] * MM_PER_INCH / dpi
    x = mm_px(rng.uniform(12, max(13, 210 - pw_mm - 12)), dpi)
    y = mm_px(rng.uniform(15, 80), dpi)
    angle = float(rng.uniform(-1.5, 1.5))
    m = place_on_page(page, piece, x, y, angle)
    bx, by = back_off
    mb = tuple(mm_px(v, dpi) for v in mrz_box)
    meta = PermitMeta(
        number=p.number.upper(), mrz=mrz, layout="stacked" if stacked else "side_by_side",
        front_bbox=page_bbox(m, (0, 0, cw, ch), page.shape),
        back_bbox=page_bbox(m, (bx, by, bx + cw, by + ch), page.shape),
        mrz_bbox=page_bbox(m, (mb[0] + bx, mb[1] + by, mb[2] + bx, mb[3] + by), page.shape),
        angle=angle,
    )  # fmt: skip
    return page, meta


# --- postal bollettino -------------------------------------------------------------------------

# MOD209.md §6: the electronic permit is paid on this account, to this beneficiary.
BOLLETTINO_ACCOUNT = "67422402"
BOLLETTINO_BENEFICIARY = "MINISTERO DELL'ECONOMIA E DELLE FINANZE - DIPARTIMENTO DEL TESORO"
BOLLETTINO_CAUSALE = "IMPORTO DEL PERMESSO DI SOGGIORNO ELETTRONICO"

def amount_figures(cents: int) -> str:
    """Euro amount with a decimal comma: 8046 -> "80,46"."""
    return f"{cents // 100},{cents % 100:02d}"


def amount_words(cents: int) -> str:
    """Euro amount as a bollettino wants it in letters: 8046 -> "OTTANTA/46"."""
    return f"{italian_words(cents // 100).upper()}/{cents % 100:02d}"


def _stamp_image(dpi: int, rng: np.random.Generator, top: Sequence[str], middle: str,
                 *, round_: bool, size_mm: float = 24.0) -> np.ndarray:  # fmt: skip
    """A rubber date stamp in grey ink, unevenly inked, slightly rotated."""
    s = Sheet(size_mm, size_mm, dpi)
    c = size_mm / 2
    ink = int(rng.integers(60, 120))
    if round_:
        s.d.ellipse(sheet_box(s, 0.6, 0.6, size_mm - 0.6, size_mm - 0.6), outline=ink,
                    width=max(1, s.p(0.45)))  # fmt: skip
        s.d.ellipse(sheet_box(s, 4.2, 4.2, size_mm - 4.2, size_mm - 4.2), outline=ink,
                    width=max(1, s.p(0.25)))  # fmt: skip
        text = " - ".join(top).upper()
        font = s.font("sans_bold", 5.5)
        span = min(300.0, 15.0 * len(text))  # degrees the text runs over, centred on top
        for i, ch in enumerate(text):
            a = math.radians(-90 - span / 2 + span * (i + 0.5) / len(text))
            r = c - 2.4
            tile = Image.new("L", (s.p(3), s.p(3)), 0)
            ImageDraw.Draw(tile).text((tile.width / 2, tile.height / 2), ch, font=font,
                                      fill=255, anchor="mm")  # fmt: skip
            tile = tile.rotate(-math.degrees(a) - 90, resample=Image.BILINEAR)
            dark = Image.new("L", tile.size, ink)
            s.img.paste(dark, (s.p(c + r * math.cos(a)) - tile.width // 2,
                               s.p(c + r * math.sin(a)) - tile.height // 2), tile)  # fmt: skip
        s.text(c, c + 1.2, middle, 6.5, "mono_bold", fill=ink, anchor="ms")
    else:
        s.rect(0.6, 5, size_mm - 0.6, size_mm - 5, outline=ink, width=0.45)
        s.text(c, 9, " ".join(top).upper(), 5.5, "sans_bold", fill=ink, anchor="ms")
        s.text(c, 14, middle, 6.5, "mono_bold", fill=ink, anchor="ms")
        s.text(c, 17.5, f"SPORTELLO {int(rng.integers(1, 9))}", 4.5, "sans", fill=ink,
               anchor="ms")  # fmt: skip
    arr = s.array()
    # uneven inking: a smooth random field lightens parts of the impression
    field = cv2.resize(rng.uniform(0, 1, (6, 6)).astype(np.float32), arr.shape[::-1],
                       interpolation=cv2.INTER_CUBIC)  # fmt: skip
    lighten = np.clip((field - 0.35) * 1.6, 0, 1) * (255 - arr.astype(np.float32))
    arr = np.clip(arr + lighten * 0.8, 0, 255).astype(np.uint8)
    m = cv2.getRotationMatrix2D((arr.shape[1] / 2, arr.shape[0] / 2), rng.uniform(-14, 14), 1)
    return cv2.warpAffine(arr, m, arr.shape[::-1], borderValue=255)


def bollettino_receipt(amount_cents: int, payer: str, date_: date, dpi: int,
                       rng: np.random.Generator) -> tuple[np.ndarray, BollettinoMeta]:  # fmt: skip
    """A photocopy of the receipt part ("Ricevuta di versamento") of the pre-printed postal
    bollettino for the electronic permit (MOD209.md §6): account 67422402, the Treasury as
    beneficiary, the amount in figures, in boxed euro/cent cells and in words, "eseguito da"
    the payer, and the post office's date stamp."""
    if amount_cents <= 0:
        raise ValueError("the amount must be positive")
    figures, words = amount_figures(amount_cents), amount_words(amount_cents)
    w, h = 118.0, 86.0
    s = Sheet(w, h, dpi, fill=int(rng.integers(238, 248)))
    s.rect(0, 0, w - 0.1, 9, outline=None, fill=215)
    s.text(3, 6.2, "CONTI CORRENTI POSTALI - Ricevuta di Versamento", 8, "sans_bold")
    s.text(w - 3, 6.2, "BancoPosta", 8, "serif_bold", anchor="rs")
    s.text(3, 15.5, "€", 12, "sans_bold")
    s.text(9, 14.5, "sul C/C n.", 6.5)
    s.cells(20, 10.8, 8, 3.6, 5.2, BOLLETTINO_ACCOUNT, 8.5, "mono_bold")
    s.text(52, 14.5, "di Euro", 6.5)
    euros, cents = f"{amount_cents // 100}", f"{amount_cents % 100:02d}"
    s.cells(62, 10.8, 8, 4.2, 5.2, euros, 9, "mono_bold")
    s.text(96.2, 15.2, ",", 10, "mono_bold")
    s.cells(98, 10.8, 2, 4.2, 5.2, cents, 9, "mono_bold")
    s.text(3, 21.5, "IMPORTO IN LETTERE", 5.5, fill=60)
    s.text(28, 21.8, words, 9, "mono_bold", max_w=w - 31)
    s.line(27, 22.8, w - 3, 22.8, fill=120, width=0.15)
    s.text(3, 27.5, "INTESTATO A", 5.5, fill=60)
    s.text(3, 31.3, BOLLETTINO_BENEFICIARY, 7, "sans_bold", max_w=w - 6)
    s.text(3, 36.5, "CAUSALE", 5.5, fill=60)
    s.text(3, 40.3, BOLLETTINO_CAUSALE, 7, "sans_bold", max_w=w - 6)
    s.text(3, 46.5, "ESEGUITO DA", 5.5, fill=60)
    s.text(3, 51.0, payer.upper(), 9, "mono_bold", max_w=68)
    for i in range(3):
        s.dotted(3, 72, 51.8 + i * 6.0)
    s.text(3, 62.8, "VIA - PIAZZA", 4.5, fill=90)
    s.text(3, 68.8, "CAP          LOCALITÀ", 4.5, fill=90)
    s.rect(76, 44, w - 3, h - 3, outline=80, width=0.2)
    s.text((76 + w - 3) / 2, 47.5, "BOLLO DELL'UFFICIO POSTALE", 4.5, fill=70, anchor="ms")
    s.text(3, h - 3, "Conservare la ricevuta: attesta il pagamento", 4.5, fill=110)
    if rng.random() < 0.5:  # the counter's printed line over the receipt
        s.text(3, 77.5, f"VCY {int(rng.integers(1000, 9999))} {date_.strftime('%d/%m/%Y')} "
                        f"{int(rng.integers(8, 18)):02d}:{int(rng.integers(0, 60)):02d} "
                        f"IMP. {figures}", 6.5, "mono")  # fmt: skip
    stamp = _stamp_image(dpi, rng, ("POSTE", f"UFF. {int(rng.integers(10000, 99999))}"),
                         date_.strftime("%d.%m.%y"), round_=rng.random() < 0.6)  # fmt: skip
    s.paste(stamp, rng.uniform(80, w - 30), rng.uniform(50, h - 28))
    s.rect(0, 0, w - 0.1, h - 0.1, outline=50, width=0.3)

    page = blank_page(dpi)
    x = mm_px(rng.uniform(15, 210 - w - 15), dpi)
    y = mm_px(rng.uniform(15, 60), dpi)
    angle = float(rng.uniform(-1.5, 1.5))
    piece = copy_look(s.array(), dpi)
    m = place_on_page(page, piece, x, y, angle)
    bbox = page_bbox(m, (0, 0, piece.shape[1], piece.shape[0]), page.shape)
    return page, BollettinoMeta(BOLLETTINO_ACCOUNT, amount_cents, figures, words, payer,
                                date_, bbox)  # fmt: skip


# --- payslip and other A4 documents -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PayslipData:
    """A monthly payslip (busta paga). Amounts in euro cents."""

    employer: str
    employee: str
    codice_fiscale: str  # the employee's
    period: date  # any day of the month paid
    gross_cents: int
    employer_cf: str = ""  # "" = a partita IVA drawn from the rng (check digit holding)
    qualifica: str = "OPERAIO"
    livello: str = "5"
    hire_date: date | None = None
    ccnl: str = "CCNL COMMERCIO TERZIARIO"


def _euro(cents: int) -> str:
    units = f"{cents // 100:,}".replace(",", ".")
    return f"{units},{cents % 100:02d}"


def payslip(p: PayslipData, dpi: int, rng: np.random.Generator
            ) -> tuple[np.ndarray, PayslipMeta]:  # fmt: skip
    """A photocopied monthly payslip: employer and employee blocks, a table of pay items and
    deductions, and the net pay. Deductions are illustrative (9.19 % INPS, a flat IRPEF
    rate), not payroll law."""
    if p.gross_cents <= 0:
        raise ValueError("gross pay must be positive")
    s = Sheet.a4(dpi)
    m0 = rng.uniform(12, 20)
    right = 210 - m0
    font = "condensed" if rng.random() < 0.5 else "sans"
    bold = font + "_bold"
    period = p.period.replace(day=1)
    s.rect(m0, 14, right, 40, outline=0, width=0.3)
    s.text(m0 + 3, 20, p.employer.upper(), 10, bold, max_w=100)
    employer_cf = p.employer_cf or sample_partita_iva(rng)
    s.text(m0 + 3, 25, f"C.F. / P.IVA {employer_cf}", 7, font)
    s.text(m0 + 3, 30, p.ccnl.upper(), 7, font)
    s.text(right - 3, 21, "CEDOLINO PAGA", 12, bold, anchor="rs")
    s.text(right - 3, 28, f"{_MESI[period.month - 1]} {period.year}", 10, bold, anchor="rs")
    s.text(right - 3, 34, f"Matricola INPS {int(rng.integers(1000000, 9999999))}", 6.5, font,
           anchor="rs")  # fmt: skip
    s.rect(m0, 43, right, 62, outline=0, width=0.3)
    cols = (m0 + 3, m0 + 65, m0 + 110, m0 + 145)
    for cx, label, value in zip(cols, ("DIPENDENTE", "CODICE FISCALE", "QUALIFICA", "LIVELLO"),
                                (p.employee.upper(), p.codice_fiscale.upper() or "-",
                                 p.qualifica.upper(),
                                 p.livello), strict=True):  # fmt: skip
        s.text(cx, 48, label, 5.5, font, fill=70)
        s.text(cx, 53, value, 8, bold, max_w=42)
    hired = p.hire_date.strftime("%d/%m/%Y") if p.hire_date else "-"
    s.text(cols[0], 59, f"Data assunzione {hired}", 6.5, font)
    # pay items: basic pay and allowances that add up to the gross exactly
    base = round(p.gross_cents * rng.uniform(0.82, 0.92))
    contingenza = round((p.gross_cents - base) * rng.uniform(0.4, 0.7))
    items = [("0001", "RETRIBUZIONE BASE", "26 GG", base),
             ("0004", "CONTINGENZA", "", contingenza),
             ("0010", "SUPERMINIMO INDIVIDUALE", "", p.gross_cents - base - contingenza)]
    inps = round(p.gross_cents * 0.0919)
    irpef = max(0, round((p.gross_cents - inps) * 0.23) - 15_667)
    deductions = [("F110", "CONTRIBUTO IVS 9,19%", inps), ("F200", "RITENUTE IRPEF", irpef)]
    net = p.gross_cents - inps - irpef
    ty = 68.0
    xs = (m0 + 2, m0 + 18, m0 + 95, right - 42, right - 3)
    s.rect(m0, ty, right, ty + 7, outline=0, width=0.3, fill=225)
    for cx, head, anchor in zip(xs, ("COD.", "DESCRIZIONE", "ORE/GG", "COMPETENZE", "TRATTENUTE"),
                                ("ls", "ls", "ls", "rs", "rs"), strict=True):  # fmt: skip
        s.text(cx, ty + 5, head, 7, bold, anchor=anchor)
    rows = [(c, d, q, _euro(v), "") for c, d, q, v in items]
    rows += [(c, d, "", "", _euro(v)) for c, d, v in deductions]
    y = ty + 13
    for row in rows:
        for cx, val, anchor in zip(xs, row, ("ls", "ls", "ls", "rs", "rs"), strict=True):
            s.text(cx, y, val, 8, font, anchor=anchor)
        y += 6
    s.rect(m0, ty, right, y + 4, outline=0, width=0.3)
    for cx in (m0 + 15, m0 + 92, right - 70, right - 39):
        s.line(cx, ty, cx, y + 4, width=0.2)
    y += 12
    for label, value in (("TOTALE COMPETENZE", p.gross_cents),
                         ("TOTALE TRATTENUTE", inps + irpef)):  # fmt: skip
        s.text(right - 45, y, label, 8, font, anchor="rs")
        s.text(right - 3, y, _euro(value), 8, font, anchor="rs")
        y += 6
    s.rect(right - 80, y, right, y + 10, outline=0, width=0.4, fill=235)
    s.text(right - 77, y + 7, "NETTO IN BUSTA", 10, bold)
    s.text(right - 3, y + 7, f"€ {_euro(net)}", 11, bold, anchor="rs")
    s.text(m0 + 3, y + 30, "Firma del dipendente per ricevuta", 7, font)
    s.line(m0 + 3, y + 42, m0 + 70, y + 42, width=0.2)
    draw_signature(s, m0 + 10, y + 40, 45, rng)
    page = copy_look(s.array(), dpi, 0.03)
    meta = PayslipMeta(p.employer, p.employee, period, p.gross_cents, inps + irpef, net)
    return page, meta


def attachment_page(title: str, lines: Sequence[str], dpi: int, rng: np.random.Generator,
                    *, issuer: str = "") -> tuple[np.ndarray, AttachmentMeta]:  # fmt: skip
    """A generic printed A4 document (contratto di soggiorno, certificato di iscrizione,
    denuncia di smarrimento, polizza, UNILAV, CUD...): letterhead, title, paragraphs, a table.

    `lines` holds the body: a line with " | " is a table row (the first such row is the
    header); every other line is a paragraph, wrapped. Without table rows, a small reference
    table (protocol number, date, office) is drawn from `rng`.
    """
    s = Sheet.a4(dpi)
    serif = rng.random() < 0.5
    font, bold = ("serif", "serif_bold") if serif else ("sans", "sans_bold")
    ml = rng.uniform(18, 28)
    mr = 210 - rng.uniform(18, 26)
    y = rng.uniform(14, 22)
    header = issuer.upper() or "UFFICIO"
    if rng.random() < 0.5:  # a square emblem with initials beside the letterhead
        s.rect(ml, y, ml + 14, y + 14, outline=0, width=0.5)
        initials = "".join(w[0] for w in header.split() if w[0].isalpha())[:3]
        s.text(ml + 7, y + 9.5, initials, 10, bold, anchor="ms")
        s.text(ml + 18, y + 6, header, 10, bold, max_w=mr - ml - 18)
        s.text(ml + 18, y + 11, "Sede legale e amministrativa", 7, font, fill=60)
    else:
        s.text(105, y + 6, header, 11, bold, anchor="ms", max_w=mr - ml)
        s.line(ml, y + 10, mr, y + 10, width=0.3)
    y += 24
    s.text(mr, y, f"Prot. n. {int(rng.integers(100, 99999))}/{int(rng.integers(2015, 2026))}",
           8, font, anchor="rs")  # fmt: skip
    y += 14
    for t in s.wrap(title.upper(), 13, bold, mr - ml):
        s.text(105, y, t, 13, bold, anchor="ms")
        y += 7
    y += 5
    table = [tuple(c.strip() for c in line.split("|")) for line in lines if " | " in line]
    for para in (line for line in lines if " | " not in line):
        for t in s.wrap(para, 10, font, mr - ml):
            s.text(ml, y, t, 10, font)
            y += 5.2
        y += 3
    if not table:
        table = [("Riferimento", "Valore"),
                 ("Protocollo", f"{int(rng.integers(1000, 99999))}"),
                 ("Data", f"{int(rng.integers(1, 29)):02d}/{int(rng.integers(1, 13)):02d}/"
                          f"{int(rng.integers(2018, 2026))}"),
                 ("Ufficio", header.title() if issuer else "Ufficio competente")]  # fmt: skip
    y += 4
    ncol = max(len(r) for r in table)
    colw = (mr - ml) / ncol
    for i, row in enumerate(table):
        if i == 0:
            s.rect(ml, y, mr, y + 7, outline=0, width=0.25, fill=225)
        for j in range(ncol):
            cell = row[j] if j < len(row) else ""
            s.text(ml + j * colw + 2, y + 5, cell, 9, bold if i == 0 else font,
                   max_w=colw - 4)  # fmt: skip
        s.rect(ml, y, mr, y + 7, outline=0, width=0.25)
        y += 7
    top = y - 7 * len(table)
    for j in range(1, ncol):
        s.line(ml + j * colw, top, ml + j * colw, y, width=0.25)
    y += 20
    s.text(ml, y, "Luogo e data ____________________", 9, font)
    s.text(mr - 60, y, "Timbro e firma", 9, font)
    draw_signature(s, mr - 58, y + 12, 45, rng)
    s.text(105, 287, "Pagina 1 di 1", 7, font, fill=80, anchor="ms")
    page = copy_look(s.array(), dpi, 0.03)
    return page, AttachmentMeta(title, tuple(lines))
