"""Generated form pages to read, and the field reader scored on them: `synth_page` renders
and scans a kit's form page as the generator plans it (it needs sample_scans.synth),
`bench_fields` reads pages with each recogniser and scores them (exact fields, characters,
filled cells, confidence, speed).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from extractors.fields import COMB_KINDS, read_page_fields
from extractors.recognise import CellRecogniser
from pipeline.form.model import Page, load_form_model


@dataclass(frozen=True, slots=True)
class BenchPage:
    """A registered page with what was written on it: `truth` as the truth format has it
    (normalised values by key), `chars` the characters cell by cell of its comb fields."""

    name: str
    image: np.ndarray
    page: Page
    dpi: int
    prefix: str
    filled_by: str  # "typed" | "hand"
    truth: dict[str, str | bool]
    chars: dict[str, tuple[str | None, ...]]


def synth_page(
    seed: int, number: int, *, filled_by: str = "typed", dpi: int = 300, mode: str = "grey",
    form: int = 0, shift_px: tuple[float, float] = (0.0, 0.0), writers: str = "bench",
) -> BenchPage:
    """Page `number` of form copy `form` of kit `seed` as the generator plans it, filled in,
    scanned without feed geometry (noise, blur, dust, JPEG or threshold only) and shifted
    by `shift_px` as a registration error: what extractors.fields reads.

    For tests and benchmarks; it needs the generator (sample_scans.synth).
    """
    from sample_scans.synth import handprint
    from sample_scans.synth.batch import _render_form_page
    from sample_scans.synth.kit import plan_kit
    from sample_scans.synth.scanner import ScanProfile, scan

    plan = plan_kit(np.random.default_rng([seed, 1]), seed, filled_by, False)
    copy = plan.forms[form]
    pens = np.random.default_rng([seed, 2])
    writer = handprint.sample_writer(pens, writers)
    typed = handprint.sample_typed(pens) if filled_by == "typed" else None
    clean = _render_form_page(plan, copy, number, writer, typed,
                              np.random.default_rng([seed, 3, number]), dpi)
    if shift_px != (0.0, 0.0):
        m = np.float32([[1, 0, shift_px[0]], [0, 1, shift_px[1]]])
        clean = cv2.warpAffine(clean, m, (clean.shape[1], clean.shape[0]),
                               flags=cv2.INTER_LINEAR, borderValue=255)
    profile = ScanProfile(dpi=dpi, mode=mode, max_skew_deg=0.0, p_upside_down=0.0,
                          p_sideways=0.0, scale_range=(1.0, 1.0), max_offset_mm=0.0)
    image, _ = scan(clean, np.random.default_rng([seed, 4, number]), profile)
    page = load_form_model().page(copy.form, number)
    truth = plan.truth_fields()
    keys = {f"{copy.prefix}.{f.id}": f for f in page.fields}
    chars = {k: (copy.writes[f.id].chars if f.id in copy.writes else (None,) * len(f.cells))
             for k, f in keys.items() if f.kind in COMB_KINDS}
    return BenchPage(f"kit{seed}-{copy.prefix}p{number}-{dpi}-{mode}", image, page, dpi,
                     copy.prefix, filled_by, {k: truth[k] for k in keys}, chars)


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (Tesseract runs as one)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def bench_fields(
    pages: Iterable[BenchPage], recognisers: Sequence[CellRecogniser],
) -> list[dict[str, object]]:
    """Read every page with each recogniser and score the readings.

    One row per (recogniser, filled_by, measure): ``kind`` is a field kind (exact-match
    rate of its fields and, for comb fields, character accuracy over the written cells),
    ``cells`` (the filled/empty decision per comb cell), ``confidence`` (mean confidence of
    right and of wrong comb readings) or ``speed`` (CPU and wall milliseconds per page,
    Tesseract's CPU included).
    """
    pages = list(pages)
    rows: list[dict[str, object]] = []
    for rec in recognisers:
        tally: dict[tuple[str, str], dict[str, float]] = {}

        def add(by: str, what: str, **counts: float) -> None:
            row = tally.setdefault((by, what), {})
            for name, n in counts.items():
                row[name] = row.get(name, 0.0) + n

        for bp in pages:
            cpu, wall = _cpu_s(), time.perf_counter()
            readings = read_page_fields(bp.image, bp.page, bp.dpi, rec, prefix=bp.prefix)
            add(bp.filled_by, "speed", pages=1, cpu_s=_cpu_s() - cpu,
                wall_s=time.perf_counter() - wall)
            for f in bp.page.fields:
                key = f"{bp.prefix}.{f.id}"
                got = readings[key]
                right = got.value == bp.truth[key]
                add(bp.filled_by, f.kind.value, fields=1, exact=right)
                if f.kind not in COMB_KINDS:
                    continue
                add(bp.filled_by, "confidence", **({"right": 1, "right_conf": got.confidence}
                                                   if right else
                                                   {"wrong": 1, "wrong_conf": got.confidence}))
                for (ch, _), want in zip(got.cells, bp.chars[key]):
                    add(bp.filled_by, "cells", cells=1, decided=(ch is None) == (want is None))
                    if want is not None:
                        add(bp.filled_by, f.kind.value, chars=1, chars_right=ch == want)
        for (by, what), t in sorted(tally.items()):
            row: dict[str, object] = {"recogniser": rec.name, "filled_by": by, "measure": what}
            if what == "speed":
                row.update(pages=int(t["pages"]), cpu_ms_per_page=1000 * t["cpu_s"] / t["pages"],
                           wall_ms_per_page=1000 * t["wall_s"] / t["pages"])
            elif what == "cells":
                row.update(cells=int(t["cells"]), decided=t["decided"] / t["cells"])
            elif what == "confidence":
                row.update(right=int(t.get("right", 0)), wrong=int(t.get("wrong", 0)),
                           mean_right=t.get("right_conf", 0.0) / max(t.get("right", 0), 1),
                           mean_wrong=t.get("wrong_conf", 0.0) / max(t.get("wrong", 0), 1))
            else:
                row.update(fields=int(t["fields"]), exact=t["exact"] / t["fields"])
                if "chars" in t:
                    row.update(chars=int(t["chars"]), char_accuracy=t["chars_right"] / t["chars"])
            rows.append(row)
    return rows
