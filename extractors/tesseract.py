"""The one wrapper around Tesseract (through pytesseract).

Tesseract runs with OMP_THREAD_LIMIT=1: with OpenMP threads it is about six times slower on
this kind of machine (measured), and Plico parallelises by pages and workers instead. Stage
code never calls pytesseract directly; it calls these functions, which log the tool's
stderr at DEBUG and turn its failures into Plico's exceptions.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from functools import cache

import numpy as np

from pipeline.errors import MissingDependencyError, PlicoError

log = logging.getLogger(__name__)

os.environ.setdefault("OMP_THREAD_LIMIT", "1")


class TesseractError(PlicoError):
    """Tesseract failed on an image (not: found no text, which is a neutral result)."""


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    confidence: float  # 0..1 (tesseract's 0..100 scaled); -1 when tesseract gives none
    x: int
    y: int
    w: int
    h: int
    line: int  # (block, paragraph, line) flattened to one running line number


@cache
def version() -> str:
    if shutil.which("tesseract") is None:
        raise MissingDependencyError(
            "tesseract is not installed (Debian: apt-get install tesseract-ocr tesseract-ocr-ita)")
    import pytesseract

    return str(pytesseract.get_tesseract_version())


def _config(psm: int, whitelist: str | None, extra: str) -> str:
    parts = [f"--psm {psm}", "--oem 1"]
    if whitelist is not None:
        parts.append(f"-c tessedit_char_whitelist={whitelist}")
    if extra:
        parts.append(extra)
    return " ".join(parts)


def words(
    image: np.ndarray, *, psm: int = 6, whitelist: str | None = None, lang: str = "eng",
    extra: str = "",
) -> list[Word]:
    """Words with confidences and boxes (pytesseract.image_to_data)."""
    version()
    import pytesseract

    try:
        data = pytesseract.image_to_data(
            image, lang=lang, config=_config(psm, whitelist, extra),
            output_type=pytesseract.Output.DICT,
        )
    except pytesseract.TesseractError as exc:
        log.debug("tesseract stderr: %s", exc.message)
        raise TesseractError(f"tesseract failed (status {exc.status})") from exc
    out: list[Word] = []
    line_ids: dict[tuple[int, int, int], int] = {}
    for i, text in enumerate(data["text"]):
        if not text or not text.strip():
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        line = line_ids.setdefault(key, len(line_ids))
        conf = float(data["conf"][i])
        out.append(Word(text.strip(), conf / 100.0 if conf >= 0 else -1.0, int(data["left"][i]),
                        int(data["top"][i]), int(data["width"][i]), int(data["height"][i]), line))
    return out


def text(image: np.ndarray, *, psm: int = 6, whitelist: str | None = None, lang: str = "eng",
         extra: str = "") -> str:
    """Plain text (pytesseract.image_to_string)."""
    version()
    import pytesseract

    try:
        return pytesseract.image_to_string(image, lang=lang, config=_config(psm, whitelist, extra))
    except pytesseract.TesseractError as exc:
        log.debug("tesseract stderr: %s", exc.message)
        raise TesseractError(f"tesseract failed (status {exc.status})") from exc
