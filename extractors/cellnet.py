"""CellNet: a small CNN that reads one hand-printed (or typed) character per comb cell.

Stock Tesseract reads hand-printed capitals in comb cells badly (2-26% of fields right); a
classifier of single cells is the shape commercial ICR uses for constrained hand print. The
model (extractors/models/cellnet.onnx, trained by tools/train_cells.py on cells rendered
through the generator's own pen, fonts and scanner and cut with the same
`extractors.cell_crops.cell_crop`) sees the whole cell interior fitted into `INPUT_H` x
`INPUT_W` pixels: the glyph's size and place in the cell are kept, because they are all that
tells a hyphen from an underscore, a period from a speck and an apostrophe from a comma.

All the cells of a page go through one onnxruntime inference (one intra-op thread: a worker
process gets one core). `CellNetRecogniser.recognise` answers the best character within each
field's alphabet (the softmax renormalised over it); `probabilities` gives the decoder the
softmax over all `classes`, temperature-scaled so that its probabilities are honest (the
temperature is fitted on validation cells, recorded in cellnet.json).

Measured (`plico bench cells --seed 9100 --n 1500`: writers, MNIST rows and fonts never
trained on, 200/300 dpi, grey and bitonal), per character, beside the stacked Tesseract
recogniser on the same cells: hand letters in text fields 97.7% (Tesseract 91.6%; 28 of
the 43 wrong hand cells of text fields are 0/O or 1/I, which only the field can settle),
hand digits in digit fields 99.9% (91.5%), real MNIST digits in digit fields 98.3% (56.2%),
typed characters 99.3% (97.3%); 20 ms per page-sized batch of 150 cells on one core,
against 700 ms for Tesseract.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from extractors.recognise import CellBatchItem, CellReading

MODEL_DIR = Path(__file__).resolve().parent / "models"
MODEL_PATH = MODEL_DIR / "cellnet.onnx"
META_PATH = MODEL_DIR / "cellnet.json"
#: Network input: a cell interior (about 2:3, 32x48 px at 200 dpi, 50x73 at 300) fitted in.
INPUT_H, INPUT_W = 32, 24


def preprocess(crop: np.ndarray, height: int = INPUT_H, width: int = INPUT_W) -> np.ndarray:
    """A `cell_crop` (uint8, paper 255, print 0) as the network sees it: float32 ink
    coverage 0..1 (paper 0), the whole crop scaled to fit height x width with its aspect
    kept and centred, the rest paper."""
    h, w = crop.shape
    if h == 0 or w == 0:
        return np.zeros((height, width), np.float32)
    s = min(height / h, width / w)
    nh, nw = max(round(h * s), 1), max(round(w * s), 1)
    small = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    out = np.zeros((height, width), np.float32)
    y, x = (height - nh) // 2, (width - nw) // 2
    out[y : y + nh, x : x + nw] = (255.0 - small.astype(np.float32)) * np.float32(1 / 255)
    return out


def batch(crops: Sequence[np.ndarray], height: int = INPUT_H, width: int = INPUT_W) -> np.ndarray:
    """N x 1 x H x W float32 network input."""
    out = np.zeros((len(crops), 1, height, width), np.float32)
    for i, crop in enumerate(crops):
        out[i, 0] = preprocess(crop, height, width)
    return out


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits.astype(np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class _Model:
    session: Any  # onnxruntime.InferenceSession
    meta: dict[str, Any]
    lock: threading.Lock

    def logits(self, x: np.ndarray) -> np.ndarray:
        name = self.session.get_inputs()[0].name
        with self.lock:
            return self.session.run(None, {name: x})[0]


@cache
def load_model(path: Path = MODEL_PATH, meta_path: Path = META_PATH) -> _Model:
    """The model and its metadata, loaded once per process (one intra-op thread)."""
    import onnxruntime as ort

    if not path.is_file() or not meta_path.is_file():
        raise FileNotFoundError(f"cell model missing: {path} / {meta_path} "
                                "(train it with tools/train_cells.py)")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    return _Model(session, meta, threading.Lock())


class CellNetRecogniser:
    """The `CellRecogniser` of hand print: one batched inference per page.

    `classes` is the order of the model's outputs (each character once); `probabilities` is
    what the field-aware decoder reads; `recognise` picks, per cell, the likeliest character
    of its item's alphabet, with its probability renormalised over that alphabet as the
    confidence.
    """

    name = "cellnet"

    def __init__(self, path: Path = MODEL_PATH, meta_path: Path = META_PATH) -> None:
        self._model = load_model(path, meta_path)
        meta = self._model.meta
        self.classes: str = meta["classes"]
        self.temperature: float = float(meta.get("temperature", 1.0))
        self._h, self._w = meta["input"]["height"], meta["input"]["width"]

    def probabilities(self, items: Sequence[CellBatchItem]) -> list[np.ndarray]:
        """Per item, a float32 (cells x classes) array: each row the calibrated softmax over
        all classes. One inference for every cell of `items`."""
        crops = [c for item in items for c in item.crops]
        if not crops:
            return [np.zeros((0, len(self.classes)), np.float32) for _ in items]
        probs = softmax(self._model.logits(batch(crops, self._h, self._w)), self.temperature)
        out, start = [], 0
        for item in items:
            out.append(probs[start : start + len(item.crops)])
            start += len(item.crops)
        return out

    def recognise(self, items: Sequence[CellBatchItem]) -> list[CellReading]:
        readings: list[CellReading] = []
        index = {c: i for i, c in enumerate(self.classes)}
        for item, probs in zip(items, self.probabilities(items)):
            cols = [index[c] for c in item.alphabet if c in index]
            if not cols or len(probs) == 0:
                readings.append((("",) * len(item.crops), (0.0,) * len(item.crops)))
                continue
            sub = probs[:, cols].astype(np.float64)
            sub /= np.maximum(sub.sum(axis=1, keepdims=True), 1e-12)
            best = sub.argmax(axis=1)
            chars = tuple(self.classes[cols[k]] for k in best)
            confs = tuple(float(sub[i, k]) for i, k in enumerate(best))
            readings.append((chars, confs))
        return readings
