"""The kit's document photocopies: real rendering, real barcode decoders (zxing-cpp, zbar)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import pytest
import zxingcpp
from pyzbar import pyzbar

from plico_testdata import PASSPORT, PAYSLIP, PERMIT
from sample_scans.synth import documents as D
from validators.icao import parse_td1, parse_td3, td1, td3

ASSICURATA = "061231514483"  # MOD209.md §1, seed 000
ISTANZA = "071075289915"
OLOGRAMMA = "240000176165"

PAGES: dict[str, Callable[[int, np.random.Generator], tuple[np.ndarray, object]]] = {
    "label": lambda dpi, rng: D.label_page(ASSICURATA, OLOGRAMMA, dpi, rng),
    "passport": lambda dpi, rng: D.passport_copy(PASSPORT, dpi, rng),
    "permit": lambda dpi, rng: D.permit_copy(PERMIT, dpi, rng),
    "bollettino": lambda dpi, rng: D.bollettino_receipt(
        8046, "El Amrani Youssef", date(2024, 3, 12), dpi, rng),
    "payslip": lambda dpi, rng: D.payslip(PAYSLIP, dpi, rng),
    "attachment": lambda dpi, rng: D.attachment_page(
        "Certificato di iscrizione", ["Si certifica che lo studente è iscritto.",
                                      "Anno | Corso | Matricola", "2024/25 | Ingegneria | 1234"],
        dpi, rng),
}  # fmt: skip


@pytest.mark.parametrize("dpi", [200, 300])
@pytest.mark.parametrize("kind", PAGES)
def test_page_is_a4_grey_on_white(kind: str, dpi: int) -> None:
    image, meta = PAGES[kind](dpi, np.random.default_rng(1))
    assert image.dtype == np.uint8
    assert image.shape == (round(842 * dpi / 72), round(595 * dpi / 72))
    assert image[0, 0] == 255 and image[-1, -1] == 255  # white paper round the copy
    assert (image < 128).mean() > 0.002  # something is printed
    assert meta.kind.value == kind


@pytest.mark.parametrize("kind", PAGES)
def test_same_seed_same_pixels(kind: str) -> None:
    a, meta_a = PAGES[kind](200, np.random.default_rng(7))
    b, meta_b = PAGES[kind](200, np.random.default_rng(7))
    c, _ = PAGES[kind](200, np.random.default_rng(8))
    assert np.array_equal(a, b) and meta_a == meta_b
    assert not np.array_equal(a, c)


def _decode(image: np.ndarray) -> tuple[list[str], list[str]]:
    z = [r.text for r in zxingcpp.read_barcodes(image)
         if r.format == zxingcpp.BarcodeFormat.Code128]  # fmt: skip
    p = [r.data.decode() for r in pyzbar.decode(image) if r.type == "CODE128"]
    return z, p


@pytest.mark.parametrize("dpi", [200, 300])
@pytest.mark.parametrize("seed", range(3))
def test_label_barcode_decodes_to_the_assicurata(dpi: int, seed: int) -> None:
    image, meta = D.label_page(ASSICURATA, OLOGRAMMA, dpi, np.random.default_rng(seed))
    assert _decode(image) == ([ASSICURATA], [ASSICURATA])
    assert meta.assicurata == ASSICURATA
    assert meta.assicurata_printed == "06123151448-3"
    assert meta.ologramma == OLOGRAMMA
    (found,) = pyzbar.decode(image)
    x0, y0, x1, y1 = meta.barcode_bbox
    r = found.rect
    assert x0 - 2 <= r.left and r.left + r.width <= x1 + 2
    assert y0 - 2 <= r.top and r.top + r.height <= y1 + 2


@pytest.mark.parametrize("dpi", [200, 300])
def test_sticker_barcode_decodes_to_the_istanza(dpi: int) -> None:
    sticker = D.istanza_sticker(ISTANZA, dpi)
    assert sticker.dtype == np.uint8
    assert sticker.shape == (round(20 * dpi / 25.4), round(55 * dpi / 25.4))
    assert _decode(sticker) == ([ISTANZA], [ISTANZA])


@pytest.mark.parametrize("dpi", [150, 200, 300, 600])
def test_code128_module_is_at_least_a_third_of_a_millimetre(dpi: int) -> None:
    assert D.module_px(dpi) * 25.4 / dpi >= 0.33


def test_codes_must_be_digits() -> None:
    with pytest.raises(ValueError):
        D.istanza_sticker("07107528991X", 200)
    with pytest.raises(ValueError):
        D.label_page("", OLOGRAMMA, 200, np.random.default_rng(0))


def _ink(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = box
    return float((image[y0:y1, x0:x1] < 110).mean())


@pytest.mark.parametrize("seed", range(4))
def test_passport_copy_draws_the_td3_of_its_data(seed: int) -> None:
    image, meta = D.passport_copy(PASSPORT, 200, np.random.default_rng(seed))
    assert meta.mrz == td3(
        issuing_state="UTO", surname="Eriksson", given_names="Anna María", number="L898902C3",
        nationality="UTO", birth_date=date(1974, 8, 12), sex="F", expiry_date=date(2032, 4, 15),
        personal_number="ZE184226B",
    )  # fmt: skip
    assert meta.mrz == PASSPORT.mrz()
    parsed = parse_td3(meta.mrz)
    assert parsed.valid and parsed.number == "L898902C3"
    assert meta.variant in ("data_page", "booklet")
    assert -1.5 <= meta.angle <= 1.5
    assert _ink(image, meta.mrz_bbox) > 0.05  # the MRZ is where the meta says
    x0, y0, x1, y1 = meta.data_page_bbox
    assert x0 <= meta.mrz_bbox[0] and meta.mrz_bbox[3] <= y1
    # ICAO size: 44 characters at 2.54 mm, about 112 mm on a 125 mm page
    assert meta.mrz_bbox[2] - meta.mrz_bbox[0] == pytest.approx(112 * 200 / 25.4, rel=0.04)


def test_passport_variants_both_occur() -> None:
    variants = {D.passport_copy(PASSPORT, 100, np.random.default_rng(s))[1].variant
                for s in range(8)}  # fmt: skip
    assert variants == {"data_page", "booklet"}


@pytest.mark.parametrize("seed", range(4))
def test_permit_copy_draws_the_td1_of_its_data(seed: int) -> None:
    image, meta = D.permit_copy(PERMIT, 200, np.random.default_rng(seed))
    assert meta.mrz == td1(
        document_code="IR", issuing_state="ITA", surname="El Amrani", given_names="Youssef",
        number="I01234567", nationality="MAR", birth_date=date(1990, 3, 2), sex="M",
        expiry_date=date(2026, 5, 9),
    )  # fmt: skip
    parsed = parse_td1(meta.mrz)
    assert parsed.valid
    assert (parsed.document_code, parsed.issuing_state, parsed.number) == ("IR", "ITA",
                                                                          "I01234567")
    assert meta.layout in ("side_by_side", "stacked")
    assert _ink(image, meta.mrz_bbox) > 0.05
    fx0, fy0, fx1, fy1 = meta.front_bbox
    bx0, by0, bx1, by1 = meta.back_bbox
    assert fx1 <= bx0 + 5 or fy1 <= by0 + 5  # front and back do not overlap
    assert bx0 <= meta.mrz_bbox[0] and meta.mrz_bbox[3] <= by1


def test_permit_issue_date_defaults_from_expiry() -> None:
    assert PERMIT.issued_on == date(2024, 5, 9)
    carta = D.PermitData(**{**{f: getattr(PERMIT, f) for f in D.PermitData.__dataclass_fields__},
                            "card": True, "expiry_date": date(2028, 2, 29)})  # fmt: skip
    assert carta.issued_on == date(2023, 2, 28)


@pytest.mark.parametrize(
    ("n", "words"),
    [(21, "ventuno"), (28, "ventotto"), (30, "trenta"), (33, "trentatré"), (70, "settanta"),
     (80, "ottanta"), (101, "centouno"), (130, "centotrenta"), (180, "centottanta"),
     (1000, "mille"), (2024, "duemilaventiquattro")],
)  # fmt: skip
def test_italian_words(n: int, words: str) -> None:
    assert D.italian_words(n) == words


@pytest.mark.parametrize(
    ("cents", "figures", "words"),
    [(8046, "80,46", "OTTANTA/46"), (7046, "70,46", "SETTANTA/46"),
     (13046, "130,46", "CENTOTRENTA/46"), (3046, "30,46", "TRENTA/46")],
)  # fmt: skip
def test_bollettino_amounts(cents: int, figures: str, words: str) -> None:
    image, meta = D.bollettino_receipt(cents, "Rossi Mario", date(2024, 3, 12), 200,
                                       np.random.default_rng(0))  # fmt: skip
    assert (meta.account, meta.amount_cents) == ("67422402", cents)
    assert (meta.amount_figures, meta.amount_words) == (figures, words)
    assert _ink(image, meta.receipt_bbox) > 0.01


def test_payslip_adds_up() -> None:
    _, meta = D.payslip(PAYSLIP, 200, np.random.default_rng(0))
    assert meta.period == date(2024, 3, 1)
    assert meta.gross_cents == meta.deductions_cents + meta.net_cents
    assert 0 < meta.net_cents < meta.gross_cents


def test_label_code_starting_with_99_prints_every_digit() -> None:
    """python-barcode 0.16 drops a leading "99" of a digit string: our encoder must not."""
    image, _ = D.label_page("994622599668", "240000176165", 200, np.random.default_rng(3))
    reads = {r.text for r in zxingcpp.read_barcodes(image)}
    assert "994622599668" in reads
