"""Confidence calibration of decoded fields: a decoder's posterior share mapped to the
accuracy measured at that share on validation kits (`calibrate`, fitted by `isotonic` in
tools/calibrate_decode.py into extractors/decode_calibration.json), and the review
threshold chosen with it (`threshold`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from importlib import resources

import numpy as np


@cache
def _calibration() -> dict:
    text = resources.files("extractors").joinpath("decode_calibration.json")
    return json.loads(text.read_text(encoding="utf-8")) if text.is_file() else {}


_RAW: list[bool] = []  # non-empty inside `raw_confidences`


class raw_confidences:
    """Within this block `calibrate` returns the raw share and `threshold` is 0: what the
    calibration fit (tools/calibrate_decode.py) measures."""

    def __enter__(self) -> None:
        _RAW.append(True)

    def __exit__(self, *exc: object) -> None:
        _RAW.pop()


def calibrate(raw: float, name: str = "cellnet") -> float:
    """A decoded field's posterior share mapped to the accuracy measured at that share on
    validation kits (extractors/decode_calibration.json: isotonic fit, with the command
    that made it). Without a fit for `name`, the share itself."""
    fit = _calibration().get(name)
    if not fit or _RAW:
        return raw
    return float(np.interp(raw, fit["x"], fit["y"]))


def isotonic(xs: Sequence[float], ys: Sequence[float], bins: int = 40) -> tuple[list[float], list[float]]:
    """Pool-adjacent-violators fit of accuracy (ys, 0/1) on raw share (xs), summarised at
    most `bins` knots: a monotone map for `calibrate`."""
    order = np.argsort(xs)
    x = np.asarray(xs, float)[order]
    y = np.asarray(ys, float)[order]
    blocks: list[list[float]] = []  # [sum_y, count, x_mean_sum]
    for xi, yi in zip(x, y):
        blocks.append([yi, 1.0, xi])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            s, c, xx = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
            blocks[-1][2] += xx
    kx = [b[2] / b[1] for b in blocks]
    ky = [b[0] / b[1] for b in blocks]
    if len(kx) > bins:
        pick = np.linspace(0, len(kx) - 1, bins).round().astype(int)
        kx, ky = [kx[i] for i in pick], [ky[i] for i in pick]
    return [round(v, 6) for v in kx], [round(v, 6) for v in ky]


def threshold(name: str = "cellnet") -> float:
    """The review threshold on calibrated confidence chosen on validation kits with the
    calibration (decode_calibration.json); 0.9 until one is fitted."""
    if _RAW:
        return 0.0
    return float(_calibration().get(name, {}).get("threshold", 0.9))
