"""Real hand-printed glyphs (NIST SD19 via FEMNIST, shared/handprint): splits and drawing."""

from __future__ import annotations

import numpy as np
import pytest

from sample_scans.synth import handprint as hp
from sample_scans.synth import nist

DPI = 300


@pytest.fixture(scope="module", autouse=True)
def _data(shared) -> None:
    if not nist.available():
        pytest.fail(f"{nist.npz_path()} is missing from shared/handprint")


def test_splits_share_no_writer_and_cover_every_character():
    splits = {s: nist.load(s) for s in nist.SPLITS}
    ids = {s: set(d.writers) for s, d in splits.items()}
    assert not ids["train"] & ids["cal"] and not ids["train"] & ids["bench"]
    assert not ids["cal"] & ids["bench"]
    assert len(ids["train"]) > 600 and len(ids["cal"]) >= 30 and len(ids["bench"]) >= 30
    for s, d in splits.items():
        assert set(d.chars.tolist()) == set(nist.CHARS), s  # digits and capitals only
        assert min(len(d.rows(c)) for c in nist.CHARS) >= 5, s


def test_glyph_is_by_the_writer_when_they_wrote_it():
    data = nist.load("bench")
    rng = np.random.default_rng(0)
    w = int(data.writer[0])
    ch = str(data.chars[0])
    own = {data.images[r].tobytes() for r in data.rows(ch, w)}
    for _ in range(5):
        assert nist.glyph("bench", ch, w, rng).tobytes() in own
    assert nist.glyph("bench", "-", w, rng) is None


def test_nist_writers_draw_real_glyphs_inside_the_cell():
    rng = np.random.default_rng(3)
    writer = hp.sample_writer(rng, "nist-bench")
    assert writer.nist_use == 1.0 and writer.nist_split == "bench" and writer.mnist_use == 0
    cell = (100.0, 100.0, 55.0, 78.0)
    for ch in "A7MQ0":
        ink = np.zeros((300, 300), np.float32)
        hp.draw_char(ink, cell, ch, writer, rng, DPI)
        x, y, w, h = (int(v) for v in cell)
        inside = ink[y - 8 : y + h + 8, x - 8 : x + w + 8].sum()
        assert ink.max() > 0.3 and inside >= 0.85 * ink.sum(), ch
    # symbols keep the stroke hand
    ink = np.zeros((300, 300), np.float32)
    hp.draw_char(ink, cell, "/", writer, rng, DPI)
    assert ink.max() > 0.3


def test_nist_pools_are_reproducible_and_apart():
    a = hp.sample_writer(np.random.default_rng(7), "nist-cal")
    b = hp.sample_writer(np.random.default_rng(7), "nist-cal")
    assert a == b and a.nist_split == "cal"
    assert hp.sample_writer(np.random.default_rng(7), "nist-bench").nist_split == "bench"
