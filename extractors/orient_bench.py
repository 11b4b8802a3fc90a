"""The orientation benchmark: `detect_orientation` run on pages whose turn, skew and blankness
are known (generated pages, or the real skewed scans of ``realdata/skew``), its errors and
its time per page, as rows, a table and a summary."""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pypdfium2 as pdfium

from extractors.orient import detect_orientation
from extractors.orient_ink import MM_PER_INCH
from extractors.orient_votes import _references


@dataclass(frozen=True, slots=True)
class BenchSample:
    """A page with what is known about it; None where the truth does not say."""

    name: str
    image: np.ndarray
    dpi: float
    rotation: int | None
    skew_deg: float | None
    blank: bool = False


@dataclass(frozen=True, slots=True)
class BenchRow:
    name: str
    dpi: float
    rotation: int | None
    found_rotation: int
    skew_deg: float | None
    found_skew_deg: float
    blank: bool
    found_blank: bool
    confidence: float
    ms: float  # wall-clock time of detect_orientation
    cpu_ms: float  # processor time of this process meanwhile (all its threads)

    @property
    def rotation_ok(self) -> bool | None:
        return None if self.rotation is None or self.blank else self.rotation == self.found_rotation

    @property
    def skew_error_deg(self) -> float | None:
        if self.skew_deg is None or self.blank:
            return None
        return abs(self.found_skew_deg - self.skew_deg)

    @property
    def blank_ok(self) -> bool:
        return self.blank == self.found_blank


def bench_orientation(source: Path | Iterable[BenchSample]) -> list[BenchRow]:
    """Run `detect_orientation` on each sample: what it found, its errors, its time.

    `source` is either samples or the real-data folder of skewed scans (``realdata/skew``,
    read by `realdata_samples`). The reference glyphs are built before the first timing, so
    the times are the per-page cost; `cpu_ms` is what to compare on a busy machine, where
    wall time includes waiting.
    """
    samples = realdata_samples(source) if isinstance(source, Path) else source
    _references()
    rows = []
    for s in samples:
        t0, c0 = time.perf_counter(), time.process_time()
        o = detect_orientation(s.image, s.dpi)
        ms, cpu_ms = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
        rows.append(BenchRow(s.name, s.dpi, s.rotation, o.rotation, s.skew_deg, o.skew_deg,
                             s.blank, o.blank, o.confidence, ms, cpu_ms))  # fmt: skip
    return rows


def format_bench(rows: Iterable[BenchRow]) -> str:
    """The rows as a plain-text table, one line per page, and a summary line."""
    rows = list(rows)

    def opt(v: float | int | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    lines = [f"{'page':<28}{'dpi':>5}{'turn':>6}{'found':>6}{'skew':>8}{'found':>8}"
             f"{'error':>7}{'blank':>7}{'conf':>6}{'ms':>7}"]  # fmt: skip
    for r in rows:
        blank = ("yes" if r.found_blank else "no") + ("" if r.blank_ok else "!")
        lines.append(
            f"{r.name[:27]:<28}{r.dpi:>5.0f}{opt(r.rotation, 'd'):>6}{r.found_rotation:>6}"
            f"{opt(r.skew_deg, '.3f'):>8}{r.found_skew_deg:>8.3f}{opt(r.skew_error_deg, '.3f'):>7}"
            f"{blank:>7}{r.confidence:>6.2f}{r.ms:>7.1f}"
        )
    t = summarise_bench(rows)
    lines.append(
        f"orientation: {t.rotation_checked - t.rotation_wrong}/{t.rotation_checked} right; "
        f"skew error median {opt(t.skew_median_error_deg, '.3f')}, "
        f"max {opt(t.skew_max_error_deg, '.3f')} deg over {t.skew_checked}; "
        f"blank wrong {t.blank_wrong}; {t.ms_median:.0f} ms/page median "
        f"({t.cpu_ms_median:.0f} ms processor)"
    )
    return "\n".join(lines)


# The real skewed scans of shared/realdata/skew (see its README). The deskew images carry no
# resolution, or a wrong one: it is their width over the paper's (A4 8.27 in; deskew-6 is US
# letter, deskew-5 a 210 mm payment slip, deskew-7 an 80 mm till receipt).
_DESKEW_PAPER_WIDTH_IN = {
    "deskew-1.png": 8.27, "deskew-2.png": 8.27, "deskew-3.png": 8.27, "deskew-4.png": 8.27,
    "deskew-5.png": 210 / MM_PER_INCH, "deskew-6.png": 8.5, "deskew-7.png": 80 / MM_PER_INCH,
    "deskew-8.png": 8.27,
}  # fmt: skip
_PDF_DPI = 200


def realdata_samples(folder: Path) -> list[BenchSample]:
    """The real skewed scans in `folder` (``realdata/skew``) with their truth, our conventions.

    ``deskew/expected_angles.csv`` holds the deskew project's correction angles (rotate the
    image counter-clockwise by it), the opposite of `Orientation.skew_deg`, in whole degrees;
    the pages are upright. ``ocrmypdf/orientation_skew_groundtruth.csv`` gives each PDF page's
    content turn and the angle of the image in its content stream (counter-clockwise); pages
    are rendered at 200 dpi by pdfium, which applies /Rotate (a clockwise display turn).
    """
    from pipeline.errors import InputError, InputNotFoundError  # the bench's only use

    deskew, ocrmypdf = folder / "deskew", folder / "ocrmypdf"
    if not deskew.is_dir() or not ocrmypdf.is_dir():
        raise InputNotFoundError(f"{folder}: no deskew/ and ocrmypdf/ folders of skewed scans")
    samples = []
    with (deskew / "expected_angles.csv").open(newline="") as f:
        for rec in csv.DictReader(f):
            name = rec["file"]
            if name not in _DESKEW_PAPER_WIDTH_IN:
                raise InputError(f"{deskew / name}: unknown paper size")
            image = cv2.imread(str(deskew / name), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise InputError(f"{deskew / name}: not an image OpenCV can read")
            dpi = image.shape[1] / _DESKEW_PAPER_WIDTH_IN[name]
            samples.append(BenchSample(name, image, dpi, 0, -float(rec["expected_angle_deg"])))
    with (ocrmypdf / "orientation_skew_groundtruth.csv").open(newline="") as f:
        for rec in csv.DictReader(f):
            path = ocrmypdf / Path(rec["file"]).name
            rotation, skew = _ocrmypdf_truth(rec)
            image = _render_pdf_page(path, int(rec["page"]) - 1, _PDF_DPI)
            samples.append(BenchSample(f"{path.name} p{rec['page']}", image, _PDF_DPI, rotation,
                                       skew))  # fmt: skip
    return samples


def _ocrmypdf_truth(rec: dict[str, str]) -> tuple[int, float]:
    """(rotation, skew_deg) of a rendered page from the ground-truth CSV's wording: either
    "<turn> ..." and "<skew> ...", or a /Rotate page attribute with the content stream's
    "cm angle <a>" (the renderer's clockwise display turn cancels 90 of it)."""
    from pipeline.errors import InputError

    turn, skew = rec["content_rotation"], rec["skew_deg"]
    if turn.startswith("/Rotate"):
        display = int(re.search(r"/Rotate (\d+)", turn).group(1))  # type: ignore[union-attr]
        cm = re.search(r"cm angle (-?[\d.]+)", skew)
        if cm is None:
            raise InputError(f"{rec['file']}: no cm angle in {skew!r}")
        total = float(cm.group(1)) - display  # counter-clockwise, as displayed
        rotation = round(-total / 90) % 4 * 90  # clockwise quarter turns
        return rotation, total + rotation
    m_turn, m_skew = re.match(r"(\d+)", turn), re.match(r"(-?[\d.]+)", skew)
    if m_turn is None or m_skew is None:
        raise InputError(f"{rec['file']}: cannot read {turn!r} / {skew!r}")
    return int(m_turn.group(1)), float(m_skew.group(1))


def _render_pdf_page(path: Path, index: int, dpi: int) -> np.ndarray:
    pdf = pdfium.PdfDocument(path)
    try:
        bitmap = pdf[index].render(scale=dpi / 72, grayscale=True)
        return np.array(bitmap.to_numpy(), dtype=np.uint8)
    finally:
        pdf.close()


@dataclass(frozen=True, slots=True)
class BenchSummary:
    pages: int
    rotation_checked: int
    rotation_wrong: int
    skew_checked: int
    skew_median_error_deg: float | None
    skew_max_error_deg: float | None
    blank_wrong: int
    ms_median: float
    ms_max: float
    cpu_ms_median: float


def summarise_bench(rows: Sequence[BenchRow]) -> BenchSummary:
    """Totals of `bench_orientation` rows, for a report line."""
    rot = [r.rotation_ok for r in rows if r.rotation_ok is not None]
    skew = [e for r in rows if (e := r.skew_error_deg) is not None]
    ms = [r.ms for r in rows]
    cpu = [r.cpu_ms for r in rows]
    return BenchSummary(
        pages=len(rows),
        rotation_checked=len(rot),
        rotation_wrong=rot.count(False),
        skew_checked=len(skew),
        skew_median_error_deg=float(np.median(skew)) if skew else None,
        skew_max_error_deg=max(skew) if skew else None,
        blank_wrong=sum(not r.blank_ok for r in rows),
        ms_median=float(np.median(ms)) if ms else 0.0,
        ms_max=max(ms, default=0.0),
        cpu_ms_median=float(np.median(cpu)) if cpu else 0.0,
    )
