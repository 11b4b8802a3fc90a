"""The one wrapper around Tesseract.

Two engines read the same language data (the system's tessdata, `tesseract --list-langs`):

- ``api`` (the default where the `tesserocr` wheel imports): Tesseract's library in this
  process, one engine per language and thread, loaded once. A Tesseract run through the
  command line pays a process start, loading the language model and a PNG written and read
  back on every call, about 70 ms before it reads a thing: on the 14 calls of
  `plico process sample_scans/typed-300dpi-bitonal.pdf` 1.68 s through pytesseract against
  0.65 s in process (measured). Images never touch the disk.
- ``cli``: pytesseract and the `tesseract` program, where tesserocr is not installed, or
  with ``PLICO_TESSERACT_ENGINE=cli``.

The wheel's Tesseract (5.5) is newer than Debian's program (5.3): they answer the same
on most lines, not all (the same 14 calls: 8 the same text, the others a word or a
confidence apart); the benchmark rows in README.md are measured with the default engine.

Tesseract runs with OMP_THREAD_LIMIT=1: with OpenMP threads it is about six times slower on
this kind of machine (measured), and Plico parallelises by pages and workers instead. Stage
code never calls Tesseract directly; it calls these functions, which turn its failures into
Plico's exceptions (with the program, its stderr is logged at DEBUG).
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from functools import cache

import numpy as np

from pipeline.errors import MissingDependencyError, PlicoError

log = logging.getLogger(__name__)

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

ENGINES = ("api", "cli")


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


def _program() -> str:
    exe = shutil.which("tesseract")
    if exe is None:
        raise MissingDependencyError(
            "tesseract is not installed (Debian: apt-get install tesseract-ocr tesseract-ocr-ita)")
    return exe


@cache
def engine() -> str:
    """``api`` or ``cli``: PLICO_TESSERACT_ENGINE, else api where tesserocr imports."""
    want = os.environ.get("PLICO_TESSERACT_ENGINE", "").strip().lower()
    if want and want not in ENGINES:
        raise ValueError(f"PLICO_TESSERACT_ENGINE must be one of {', '.join(ENGINES)}, "
                         f"not {want!r}")
    if want == "cli":
        return "cli"
    try:
        importlib.import_module("tesserocr")  # whether it loads, its bundled libraries too
    except ImportError as exc:
        if want == "api":
            raise MissingDependencyError("PLICO_TESSERACT_ENGINE=api needs the tesserocr "
                                         f"package (pip install tesserocr): {exc}") from exc
        return "cli"
    return "api"


@cache
def tessdata() -> str:
    """The language data folder: TESSDATA_PREFIX, else the one the installed tesseract
    program reads (the first line of ``tesseract --list-langs``)."""
    if os.environ.get("TESSDATA_PREFIX"):
        return os.environ["TESSDATA_PREFIX"]
    done = subprocess.run([_program(), "--list-langs"], capture_output=True, text=True,
                          timeout=30)
    found = re.search(r'"([^"]+)"', done.stdout + done.stderr)
    if found is None:
        raise MissingDependencyError("tesseract --list-langs names no language data folder")
    return found.group(1)


@cache
def version() -> str:
    _program()
    if engine() == "api":
        import tesserocr

        return tesserocr.tesseract_version().splitlines()[0]
    import pytesseract

    return str(pytesseract.get_tesseract_version())


_local = threading.local()


def _api(lang: str):
    """This thread's engine for `lang`, loaded on first use."""
    apis = getattr(_local, "apis", None)
    if apis is None:
        apis = _local.apis = {}
    api = apis.get(lang)
    if api is None:
        import tesserocr

        try:
            api = tesserocr.PyTessBaseAPI(path=tessdata(), lang=lang,
                                          oem=tesserocr.OEM.LSTM_ONLY)
        except RuntimeError as exc:
            raise MissingDependencyError(
                f"tesseract cannot load language {lang!r} from {tessdata()} ({exc})") from exc
        apis[lang] = api
    return api


def _pixels(image: np.ndarray) -> np.ndarray:
    """A page or crop as Tesseract's library takes it: grey or RGB, 8 bits, contiguous."""
    img = np.asarray(image)
    if img.size == 0:
        raise TesseractError("tesseract was given an empty image")
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    elif img.dtype != np.uint8:
        raise TesseractError(f"tesseract takes 8-bit images, not {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    elif img.ndim == 3:
        img = img[:, :, 2::-1]  # OpenCV's BGR (or BGRA) to RGB
    return np.ascontiguousarray(img)


def _set_image(api, image: np.ndarray, psm: int, whitelist: str | None) -> None:
    img = _pixels(image)
    api.SetPageSegMode(psm)
    api.SetVariable("tessedit_char_whitelist", whitelist or "")
    channels = 1 if img.ndim == 2 else img.shape[2]
    api.SetImageBytes(img.tobytes(), img.shape[1], img.shape[0], channels,
                      img.shape[1] * channels)


def _cli_config(psm: int, whitelist: str | None) -> str:
    parts = [f"--psm {psm}", "--oem 1"]
    if whitelist is not None:
        # pytesseract splits the config string with shlex: a bare apostrophe would open a quote
        parts.append("-c tessedit_char_whitelist=" + whitelist.replace("'", "\\'"))
    return " ".join(parts)


def _api_words(image: np.ndarray, psm: int, whitelist: str | None, lang: str) -> list[Word]:
    import tesserocr

    api = _api(lang)
    _set_image(api, image, psm, whitelist)
    if not api.Recognize():
        raise TesseractError("tesseract failed to recognise the image")
    out: list[Word] = []
    line_ids: dict[tuple[int, int, int, int], int] = {}
    level = tesserocr.RIL.WORD
    iterator = api.GetIterator()
    if iterator is None:
        return out
    for word in tesserocr.iterate_level(iterator, level):
        try:
            text = word.GetUTF8Text(level)
        except RuntimeError:  # tesserocr's "No text returned": a word with no characters
            continue
        box = word.BoundingBox(level)
        if not text or not text.strip() or box is None:
            continue
        line = line_ids.setdefault(word.BoundingBox(tesserocr.RIL.TEXTLINE), len(line_ids))
        conf = float(word.Confidence(level))
        x0, y0, x1, y1 = box
        out.append(Word(text.strip(), conf / 100.0 if conf >= 0 else -1.0, x0, y0, x1 - x0,
                        y1 - y0, line))
    return out


def _cli_words(image: np.ndarray, psm: int, whitelist: str | None, lang: str) -> list[Word]:
    import pytesseract

    try:
        data = pytesseract.image_to_data(image, lang=lang, config=_cli_config(psm, whitelist),
                                         output_type=pytesseract.Output.DICT)
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


def words(image: np.ndarray, *, psm: int = 6, whitelist: str | None = None,
          lang: str = "eng") -> list[Word]:
    """Words with confidences and boxes, in reading order. `whitelist`: the characters
    Tesseract may answer, as they are (no escaping)."""
    version()
    if engine() == "api":
        return _api_words(image, psm, whitelist, lang)
    return _cli_words(image, psm, whitelist, lang)


def text(image: np.ndarray, *, psm: int = 6, whitelist: str | None = None,
         lang: str = "eng") -> str:
    """Plain text."""
    version()
    if engine() == "api":
        api = _api(lang)
        _set_image(api, image, psm, whitelist)
        try:
            return api.GetUTF8Text()
        except RuntimeError as exc:
            raise TesseractError(f"tesseract failed to recognise the image ({exc})") from exc
    import pytesseract

    try:
        return pytesseract.image_to_string(image, lang=lang, config=_cli_config(psm, whitelist))
    except pytesseract.TesseractError as exc:
        log.debug("tesseract stderr: %s", exc.message)
        raise TesseractError(f"tesseract failed (status {exc.status})") from exc
