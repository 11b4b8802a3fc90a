"""Benchmark of the barcode readers on the third-party sets in ../shared/realdata/barcodes.

Each set is a folder of images (``N.png``, ``N.jpg``) with the expected text beside each in
``N.txt`` (zxing's blackbox test resources; ``falsepositives`` has no ``.txt``: nothing
should be read there). Every method reads the default symbologies (Code128 and ITF), as
the pipeline does, so a Code128 read as ITF counts against it.

Methods:

- ``pyzbar-raw``: zbar on the image as given, symbol set restricted;
- ``pyzbar``: zbar with the preprocessing of `read_pyzbar` (halving, blur + Otsu);
- ``zxing``: zxing-cpp alone;
- ``auto``: `read_barcodes` as the pipeline calls it.

The last three go through `read_barcodes`, so their reads are deduplicated; ``pyzbar-raw``
calls zbar directly. In all four zbar's single-scan-line ITF reads are dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from extractors.barcodes import DEFAULT_SYMBOLOGIES, Barcode, read_barcodes, read_pyzbar
from pipeline.errors import InputError, InputNotFoundError

BENCH_SETS: tuple[str, ...] = ("code128-1", "itf-1", "falsepositives")

_Reader = Callable[[np.ndarray], tuple[Barcode, ...]]
METHODS: dict[str, _Reader] = {
    "pyzbar-raw": lambda img: read_pyzbar(img, DEFAULT_SYMBOLOGIES, preprocess=False),
    "pyzbar": lambda img: read_barcodes(img, engine="pyzbar"),
    "zxing": lambda img: read_barcodes(img, engine="zxing"),
    "auto": lambda img: read_barcodes(img),
}


@dataclass(frozen=True, slots=True)
class BenchRow:
    """One method on one set. `read`: images with at least one read; `exact`: images where
    a read equals the expected text; `false_positives`: reads whose text is not the
    expected one (on ``falsepositives``, every read)."""

    set: str
    method: str
    images: int
    read: int
    exact: int
    false_positives: int
    ms_per_image: float


@dataclass(frozen=True, slots=True)
class _Sample:
    name: str
    image: np.ndarray
    expected: str | None


def bench_barcodes(
    realdata_root: Path, *, sets: Sequence[str] = BENCH_SETS
) -> dict[str, tuple[BenchRow, ...]]:
    """For each set under ``realdata_root / "barcodes"``, one row per method (see METHODS).

    Print it with ``format_bench(r for rows in result.values() for r in rows)``.
    """
    result = {}
    for name in sets:
        samples = _load_set(realdata_root / "barcodes" / name)
        result[name] = tuple(_run(name, method, read, samples) for method, read in METHODS.items())
    return result


def format_bench(rows: Iterable[BenchRow]) -> str:
    """The rows as a plain-text table, one line per row."""
    lines = [f"{'set':<16}{'method':<12}{'read':>8}{'exact':>8}{'false+':>8}{'ms/image':>10}"]
    for r in rows:
        lines.append(
            f"{r.set:<16}{r.method:<12}{f'{r.read}/{r.images}':>8}"
            f"{f'{r.exact}/{r.images}':>8}{r.false_positives:>8}{r.ms_per_image:>10.1f}"
        )
    return "\n".join(lines)


def _load_set(folder: Path) -> tuple[_Sample, ...]:
    if not folder.is_dir():
        raise InputNotFoundError(f"{folder}: no such barcode set")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg"))
    if not paths:
        raise InputError(f"{folder}: no .png or .jpg images")
    samples = []
    for p in paths:
        image = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise InputError(f"{p}: not an image OpenCV can read")
        truth = p.with_suffix(".txt")
        expected = truth.read_bytes().decode("utf-8") if truth.is_file() else None
        samples.append(_Sample(p.name, image, expected))
    return tuple(samples)


def _run(set_name: str, method: str, read: _Reader, samples: Sequence[_Sample]) -> BenchRow:
    read(samples[0].image)  # warm-up: library loading is not what is measured
    n_read = n_exact = false_positives = 0
    elapsed = 0.0
    for s in samples:
        start = time.perf_counter()
        reads = read(s.image)
        elapsed += time.perf_counter() - start
        n_read += bool(reads)
        n_exact += any(b.text == s.expected for b in reads)
        false_positives += sum(b.text != s.expected for b in reads)
    return BenchRow(
        set=set_name,
        method=method,
        images=len(samples),
        read=n_read,
        exact=n_exact,
        false_positives=false_positives,
        ms_per_image=1000 * elapsed / len(samples),
    )
