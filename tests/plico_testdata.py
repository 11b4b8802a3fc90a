"""Test inputs shared by several test files (imported as a plain module: tests/ is on the
pytest pythonpath)."""

from __future__ import annotations

from datetime import date

import cv2
import numpy as np

from sample_scans.synth import documents as D
from sample_scans.synth.scanner import a4_shape

# ICAO Doc 9303's specimen traveller, on our passport copy
PASSPORT = D.PassportData(
    surname="Eriksson", given_names="Anna María", number="L898902C3", nationality="UTO",
    birth_date=date(1974, 8, 12), sex="F", birth_place="Zenith", issue_date=date(2022, 4, 16),
    expiry_date=date(2032, 4, 15), state_name="Utopia", authority="Passport Office",
    personal_number="ZE184226B",
)  # fmt: skip
PERMIT = D.PermitData(
    surname="El Amrani", given_names="Youssef", number="I01234567", sex="M", nationality="MAR",
    birth_date=date(1990, 3, 2), expiry_date=date(2026, 5, 9), permit_type="Lavoro subordinato",
    birth_place="Casablanca (MAR)", issued_at="Milano", codice_fiscale="LMRYSF90C02Z330X",
)  # fmt: skip
PAYSLIP = D.PayslipData(
    employer="Logistica Padana SpA", employee="El Amrani Youssef",
    codice_fiscale="LMRYSF90C02Z330X", period=date(2024, 3, 15), gross_cents=185_432,
)  # fmt: skip


def form_like_page(dpi: int) -> np.ndarray:
    """A form-like page: a frame, rows of character boxes, a table and some text."""
    page = np.full(a4_shape(dpi), 255, dtype=np.uint8)
    s = dpi / 72

    def pt(x: float, y: float) -> tuple[int, int]:
        return round(x * s), round(y * s)

    thin = max(1, round(0.5 * s))
    cv2.rectangle(page, pt(40, 40), pt(555, 810), 0, max(1, round(s)))
    cv2.putText(page, "MOD. 209", pt(60, 80), cv2.FONT_HERSHEY_DUPLEX, 0.6 * s, 0, thin * 2)
    for row in range(12):
        y = 120 + row * 32
        label = f"CAMPO {row}"
        cv2.putText(page, label, pt(60, y + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.2 * s, 0, thin)
        for k in range(20):
            cv2.rectangle(page, pt(180 + k * 18, y), pt(196 + k * 18, y + 18), 0, thin)
    for r in range(6):
        cv2.line(page, pt(60, 540 + r * 30), pt(540, 540 + r * 30), 0, thin)
    return page
