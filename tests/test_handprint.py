"""The pen-and-ink renderer: real rendering on small synthetic pages at 300 dpi."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sample_scans.synth import handprint as hp

DPI = 300
CELL_W, CELL_H, PITCH = 55.0, 78.0, 71.0  # 13.174 x 18.844 pt at 300 dpi


def _page(cells: int = 1, rows: int = 1) -> np.ndarray:
    return np.zeros((int(40 + rows * 120), int(40 + cells * PITCH)), np.float32)


def _cell(i: int = 0, row: int = 0) -> tuple[float, float, float, float]:
    return (20.3 + i * PITCH, 20.7 + row * 120, CELL_W, CELL_H)


def _writers(pool: str, n: int, seed: int) -> list[hp.WriterStyle]:
    rng = np.random.default_rng(seed)
    return [hp.sample_writer(rng, pool) for _ in range(n)]


def _share_inside(ink: np.ndarray, box: tuple[float, float, float, float], grow: float) -> float:
    x, y, w, h = box
    x0, x1 = int(x - grow * w / 2), int(np.ceil(x + w + grow * w / 2))
    y0, y1 = int(y - grow * h / 2), int(np.ceil(y + h + grow * h / 2))
    total = float(ink.sum())
    return float(ink[max(y0, 0) : y1, max(x0, 0) : x1].sum()) / total


def test_same_seed_same_ink():
    def render(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        writer = hp.sample_writer(rng, "train")
        ink = _page(12, 2)
        hp.draw_text_in_cells(ink, [_cell(i) for i in range(12)], "ROSSI 0417AZ", writer, rng, DPI)
        hp.draw_signature(ink, (20, 150, 600, 100), writer, rng, DPI)
        return ink

    first = render(7)
    assert first.sum() > 0
    np.testing.assert_array_equal(first, render(7))
    assert not np.array_equal(first, render(8))


@pytest.mark.parametrize("pool,seed", [("train", 1), ("train", 2), ("bench", 3), ("bench", 4)])
def test_every_character_stays_in_its_cell(pool, seed):
    rng = np.random.default_rng(seed)
    for writer in _writers(pool, 3, seed):
        # MNIST digits are checked on their own below; here the strokes
        writer = dataclasses.replace(writer, mnist_use=0.0)
        for ch in sorted(hp.CHARSET):
            ink = _page()
            hp.draw_char(ink, _cell(), ch, writer, rng, DPI)
            assert ink.max() > 0.3, (writer.id, ch)
            assert _share_inside(ink, _cell(), 0.2) >= 0.85, (writer.id, ch)


def test_some_glyphs_run_over_the_border_but_not_far():
    rng = np.random.default_rng(6)
    outside = []
    for writer in _writers("train", 2, 6) + _writers("bench", 2, 6):
        writer = dataclasses.replace(writer, mnist_use=0.0, cross_border=1.0)
        for ch in "AEMQW27":
            ink = _page()
            hp.draw_char(ink, _cell(), ch, writer, rng, DPI)
            assert _share_inside(ink, _cell(), 0.4) >= 0.9, (writer.id, ch)
            outside.append(_share_inside(ink, _cell(), 0.0) < 0.99)
    assert np.mean(outside) > 0.7


def test_mnist_digits_are_pasted_inside_the_cell():
    rng = np.random.default_rng(5)
    writers = [w for w in _writers("bench", 60, 5) if w.mnist_rows][:3]
    assert writers, "some writers own MNIST digits"
    for writer in writers:
        writer = dataclasses.replace(writer, mnist_use=1.0)
        for digit in "0123456789":
            ink = _page()
            hp.draw_char(ink, _cell(), digit, writer, rng, DPI)
            assert ink.max() > 0.3
            assert _share_inside(ink, _cell(), 0.2) >= 0.85, (writer.id, digit)


def test_warped_mnist_digits_are_new_shapes_of_the_same_ink_and_only_when_asked():
    images, _ = hp._mnist()
    digit = images[123]
    a = hp._warp_digit(digit, 1.0, np.random.default_rng(1))
    b = hp._warp_digit(digit, 1.0, np.random.default_rng(2))
    assert a.shape == b.shape == (40, 40) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, hp._warp_digit(digit, 1.0, np.random.default_rng(1)))
    assert np.abs(a.astype(int) - b.astype(int)).sum() > 0.2 * digit.sum()
    for warped in (a, b):  # ink neither lost nor smeared: the same mass within a quarter
        assert 0.75 < warped.sum() / digit.sum() < 1.25
    # the generator's own writers (mnist_warp 0) draw exactly what they drew before
    writer = dataclasses.replace([w for w in _writers("bench", 60, 5) if w.mnist_rows][0],
                                 mnist_use=1.0)
    assert writer.mnist_warp == 0.0
    inks = []
    for w in (writer, dataclasses.replace(writer, mnist_warp=0.0),
              dataclasses.replace(writer, mnist_warp=1.0)):
        ink = _page()
        hp.draw_char(ink, _cell(), "2", w, np.random.default_rng(9), DPI)
        inks.append(ink)
    np.testing.assert_array_equal(inks[0], inks[1])
    assert not np.array_equal(inks[0], inks[2])


@pytest.mark.parametrize("ch", ["a", "È", " ", "#", "AB", ""])
def test_unsupported_characters_raise(ch):
    rng = np.random.default_rng(0)
    writer = hp.sample_writer(rng, "train")
    with pytest.raises(ValueError):
        hp.draw_char(_page(), _cell(), ch, writer, rng, DPI)
    with pytest.raises(ValueError):
        hp.draw_typed_char(_page(), _cell(), ch, hp.sample_typed(rng), DPI)


def test_text_longer_than_its_cells_raises():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        hp.draw_text_in_cells(_page(2), [_cell(0), _cell(1)], "ABC",
                              hp.sample_writer(rng, "train"), rng, DPI)


def test_pools_share_no_writer():
    train = _writers("train", 200, 11)
    bench = _writers("bench", 200, 12)
    assert all(w.pool == "train" and w.font == "futural" for w in train)
    assert all(w.pool == "bench" and w.font == "rowmans" for w in bench)
    assert not {w.id for w in train} & {w.id for w in bench}

    def params(w: hp.WriterStyle) -> tuple:
        return dataclasses.astuple(dataclasses.replace(w, id="", pool="", font=""))

    assert not {params(w) for w in train} & {params(w) for w in bench}
    # the discrete hand (allograph combination) is never shared either
    assert not {w.allographs for w in train} & {w.allographs for w in bench}
    # nor an MNIST sample
    train_rows = {r for w in train for rows in w.mnist_rows for r in rows}
    bench_rows = {r for w in bench for rows in w.mnist_rows for r in rows}
    assert train_rows and bench_rows and not train_rows & bench_rows


def test_mnist_split_is_disjoint_and_covers_every_digit():
    for digit in range(10):
        train, bench = hp.mnist_rows("train", digit), hp.mnist_rows("bench", digit)
        assert len(train) >= 300 and len(bench) >= 50
        assert not set(train) & set(bench)


def test_writer_rows_belong_to_their_digit():
    _, labels = hp._mnist()
    for writer in _writers("train", 100, 13):
        for digit, rows in enumerate(writer.mnist_rows):
            assert all(labels[r] == digit for r in rows)


def test_unknown_pool_raises():
    with pytest.raises(ValueError):
        hp.sample_writer(np.random.default_rng(0), "test")


def test_typed_characters_are_centred():
    rng = np.random.default_rng(21)
    for _ in range(4):
        style = dataclasses.replace(hp.sample_typed(rng), x_offset=0.0, baseline_offset=0.0)
        for ch in "HNOX08":
            ink = _page()
            hp.draw_typed_char(ink, _cell(), ch, style, DPI)
            ys, xs = np.nonzero(ink > 0.5)
            x, y, w, h = _cell()
            assert abs((xs.min() + xs.max()) / 2 - (x + w / 2)) < 0.06 * w, (style, ch)
            assert abs((ys.min() + ys.max()) / 2 - (y + h / 2)) < 0.06 * h, (style, ch)


def test_typed_characters_share_the_baseline():
    rng = np.random.default_rng(22)
    style = hp.sample_typed(rng)
    ink = _page(4)
    hp.draw_text_in_cells(ink, [_cell(i) for i in range(4)], "HELL", style, rng, DPI)
    bottoms = [np.nonzero(ink[:, int(c[0]) : int(c[0] + c[2])] > 0.5)[0].max()
               for c in (_cell(i) for i in range(4))]
    assert max(bottoms) - min(bottoms) <= 1


def test_signature_puts_its_ink_in_its_box():
    box = (100.0, 80.0, 700.0, 160.0)
    for seed in range(6):
        rng = np.random.default_rng(seed)
        writer = hp.sample_writer(rng, "bench")
        ink = np.zeros((400, 1000), np.float32)
        hp.draw_signature(ink, box, writer, rng, DPI)
        assert ink.sum() > 500
        assert _share_inside(ink, box, 0.3) >= 0.85


@pytest.mark.parametrize("mark", ["X", "tick"])
def test_check_marks_hit_their_box(mark):
    box = (50.0, 50.0, 55.0, 55.0)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        ink = np.zeros((200, 200), np.float32)
        hp.draw_check(ink, box, hp.sample_writer(rng, "train"), rng, DPI, mark)
        assert ink.sum() > 100
        # big ticks fly out of the box, but the mark is centred on it
        assert _share_inside(ink, box, 1.0) >= 0.9
        ys, xs = np.nonzero(ink)
        weights = ink[ys, xs]
        assert box[0] < np.average(xs, weights=weights) < box[0] + box[2]
        assert box[1] < np.average(ys, weights=weights) < box[1] + box[3]


def test_typed_check_is_a_clean_x_inside_the_box():
    rng = np.random.default_rng(0)
    ink = np.zeros((200, 200), np.float32)
    box = (50.0, 50.0, 55.0, 55.0)
    hp.draw_check(ink, box, hp.sample_typed(rng), rng, DPI)
    assert _share_inside(ink, box, 0.0) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        hp.draw_check(ink, box, hp.sample_writer(rng, "train"), rng, DPI, "O")


def test_free_text_sits_on_its_line():
    box = (100.0, 50.0, 900.0, 90.0)
    rng = np.random.default_rng(3)
    for style in (hp.sample_writer(rng, "train"), hp.sample_typed(rng)):
        ink = np.zeros((200, 1200), np.float32)
        hp.draw_free_text(ink, box, "MILANO", style, rng, DPI)
        ys, xs = np.nonzero(ink > 0.3)
        assert xs.min() >= box[0] and xs.max() <= box[0] + box[2]
        assert ys.max() <= box[1] + box[3] + 5  # the baseline, give or take a stroke
        assert ys.mean() > box[1] + box[3] / 2  # near the bottom of the box


def test_free_text_too_long_is_squeezed_into_the_box():
    box = (100.0, 50.0, 300.0, 90.0)
    rng = np.random.default_rng(4)
    ink = np.zeros((200, 1200), np.float32)
    hp.draw_free_text(ink, box, "SAN GIOVANNI IN PERSICETO", hp.sample_writer(rng, "train"),
                      rng, DPI)
    xs = np.nonzero(ink > 0.3)[1]
    assert xs.max() <= box[0] + box[2] + 10


def test_apply_ink_darkens_without_reaching_black():
    page = np.full((10, 10), 240, np.uint8)
    page[:, :2] = 0  # printed black line
    ink = np.zeros((10, 10), np.float32)
    ink[5:, :] = 1.0
    out = hp.apply_ink(page, ink)
    assert out.dtype == np.uint8 and out is not page
    assert out[0, 5] == 240 and 15 <= out[9, 5] <= 60
    assert out[9, 0] == 0
    assert page[9, 5] == 240  # the input is left alone
    with pytest.raises(ValueError):
        hp.apply_ink(page, np.zeros((5, 5), np.float32))
