"""The Tesseract wrapper: both engines (Tesseract's library in process, and the tesseract
program through pytesseract) read the same machine print with the same words and boxes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from extractors import tesseract
from pipeline.errors import MissingDependencyError


def _line(text: str, width: int = 0) -> np.ndarray:
    img = np.full((90, max(width, 40 + 34 * len(text))), 255, np.uint8)
    cv2.putText(img, text, (20, 62), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 0, 3, cv2.LINE_AA)
    return img


def _engine(monkeypatch, name: str) -> None:
    monkeypatch.setenv("PLICO_TESSERACT_ENGINE", name)
    tesseract.engine.cache_clear()
    tesseract.version.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_engine_choice():
    yield
    tesseract.engine.cache_clear()
    tesseract.version.cache_clear()


@pytest.mark.parametrize("engine", tesseract.ENGINES)
def test_each_engine_reads_a_printed_line(monkeypatch, engine):
    _engine(monkeypatch, engine)
    assert tesseract.engine() == engine
    words = tesseract.words(_line("VIA ROMA 12"), psm=7)
    assert [w.text for w in words] == ["VIA", "ROMA", "12"]
    assert all(0.5 < w.confidence <= 1.0 for w in words)
    assert len({w.line for w in words}) == 1
    assert [w.x for w in words] == sorted(w.x for w in words)
    assert "MILANO" in tesseract.text(_line("MILANO"), psm=7)


def test_engines_agree_on_words_and_boxes(monkeypatch):
    image = np.vstack([_line("GUPTA RAJESH"), _line("04082025", 448)])
    got = {}
    for engine in tesseract.ENGINES:
        _engine(monkeypatch, engine)
        got[engine] = tesseract.words(image, psm=6)
    api, cli = got["api"], got["cli"]
    assert [w.text for w in api] == [w.text for w in cli] == ["GUPTA", "RAJESH", "04082025"]
    assert [w.line for w in api] == [w.line for w in cli] == [0, 0, 1]
    for a, c in zip(api, cli):
        assert abs(a.x - c.x) <= 2 and abs(a.y - c.y) <= 2 and abs(a.w - c.w) <= 2


def test_whitelist_takes_an_apostrophe_as_it_is(monkeypatch):
    for engine in tesseract.ENGINES:
        _engine(monkeypatch, engine)
        words = tesseract.words(_line("DELL'ORTO"), psm=7, whitelist="ABCDEFGHILMNORTU'")
        assert "".join(w.text for w in words) == "DELL'ORTO", engine


def test_unknown_engine_is_refused(monkeypatch):
    _engine(monkeypatch, "gpu")
    with pytest.raises(ValueError, match="PLICO_TESSERACT_ENGINE"):
        tesseract.engine()


def test_missing_language_is_a_clear_error(monkeypatch):
    _engine(monkeypatch, "api")
    with pytest.raises(MissingDependencyError, match="klingon"):
        tesseract.words(_line("A"), lang="klingon")


def test_a_word_without_characters_is_left_out(monkeypatch):
    """Two unit lines of a stacked sheet (seed 7100, typed) where Tesseract finds a word
    whose every character the whitelist refuses: the library raises on its text, the
    program prints an empty word; both come back as no words."""
    image = cv2.imread(str(Path(__file__).parent / "data" / "tesseract-word-without-text.png"),
                       cv2.IMREAD_GRAYSCALE)
    for engine in tesseract.ENGINES:
        _engine(monkeypatch, engine)
        assert tesseract.words(image, psm=6,
                               whitelist="'-./0123456789@ABCDEFGHIJKLMNOPQRSTUVWXYZ") == []


def test_images_the_library_cannot_take_are_plicos_errors(monkeypatch):
    _engine(monkeypatch, "api")
    with pytest.raises(tesseract.TesseractError, match="empty"):
        tesseract.text(np.zeros((0, 10), np.uint8))
    with pytest.raises(tesseract.TesseractError, match="8-bit"):
        tesseract.words(np.zeros((10, 10), np.float32))
    # a mask and a BGRA crop are read as the grey page they show
    mask = _line("ROMA") < 128
    assert [w.text for w in tesseract.words(~mask, psm=7)] == ["ROMA"]
    bgra = np.dstack([_line("ROMA")] * 3 + [np.full_like(_line("ROMA"), 255)])
    assert [w.text for w in tesseract.words(bgra, psm=7)] == ["ROMA"]
