"""The scanner simulation: geometry ground truth, orientation, determinism, blank backs."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from plico_testdata import form_like_page
from sample_scans.synth.scanner import (
    BLEED_STRENGTH,
    ScanMeta,
    ScanProfile,
    a4_shape,
    blank_back,
    scan,
)

DPI = 200  # the tests' pages: big enough for the geometry to matter, fast to scan


def _blank(dpi: int = DPI) -> np.ndarray:
    return np.full(a4_shape(dpi), 255, dtype=np.uint8)


def _grid_page(dpi: int = DPI, step: int = 150) -> np.ndarray:
    """Two-pixel grid lines every `step` px, clear of the page edges."""
    page = _blank(dpi)
    h, w = page.shape
    for y in range(step, h - step // 2, step):
        page[y : y + 2, 60 : w - 60] = 0
    for x in range(step, w - step // 2, step):
        page[60 : h - 60, x : x + 2] = 0
    return page


def _form_page(dpi: int = DPI) -> np.ndarray:
    return form_like_page(dpi)


def _line_positions(img: np.ndarray, axis: int) -> np.ndarray:
    """Centres of the dark lines across `axis` (0: horizontal lines' y, 1: vertical lines' x),
    measured on the central half of the image so that the ends of skewed lines do not count."""
    h, w = img.shape
    centre = img[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].astype(np.float64)
    profile = (255 - centre).mean(axis=1 - axis)
    on = profile > profile.max() / 2
    edges = np.flatnonzero(np.diff(np.r_[0, on.astype(np.int8), 0]))
    offset = h // 4 if axis == 0 else w // 4
    centres = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        idx = np.arange(a, b)
        centres.append(offset + (idx * profile[a:b]).sum() / profile[a:b].sum())
    return np.array(centres)


def _dark_centre(column: np.ndarray) -> float:
    darkness = 255 - column.astype(np.float64)
    return float((np.arange(len(column)) * darkness).sum() / darkness.sum())


def _seed_with(profile: ScanProfile, page: np.ndarray, accept) -> tuple[np.ndarray, ScanMeta]:
    for seed in range(200):
        out, meta = scan(page, np.random.default_rng(seed), profile)
        if accept(meta):
            return out, meta
    raise AssertionError("no seed gave the wanted draw")


def test_clean_profile_returns_the_page_unchanged():
    page = _form_page()
    before = page.copy()
    out, meta = scan(page, np.random.default_rng(0), ScanProfile.clean(DPI))
    assert np.array_equal(out, page)
    assert np.array_equal(page, before)
    assert meta == ScanMeta(0, 0.0, 1.0, (0.0, 0.0), DPI, "grey", False, None)


def test_clean_bitonal_is_the_threshold_of_the_page():
    page = cv2.GaussianBlur(_form_page(), (0, 0), 1.0)  # grey edges to threshold
    out, meta = scan(page, np.random.default_rng(0), ScanProfile.clean(DPI, "bitonal"))
    assert out.dtype == np.uint8 and set(np.unique(out)) == {0, 255}
    assert np.array_equal(out, np.where(page >= 128, 255, 0))
    assert meta.mode == "bitonal" and meta.jpeg_quality is None


def test_positive_skew_turns_the_content_counter_clockwise():
    page = _blank()
    h, w = page.shape
    page[h // 2 : h // 2 + 3, 100 : w - 100] = 0
    profile = replace(ScanProfile.clean(DPI), max_skew_deg=4.0)
    for accept in (lambda m: m.skew_deg > 1.5, lambda m: m.skew_deg < -1.5):
        out, meta = _seed_with(profile, page, accept)
        left, right = 300, w - 300
        y_left, y_right = _dark_centre(out[:, left]), _dark_centre(out[:, right])
        rise = (y_left - y_right) / (right - left)  # > 0: the right end went up on screen
        assert rise == pytest.approx(np.tan(np.radians(meta.skew_deg)), abs=0.003)


def test_deskewing_by_minus_skew_restores_the_grid():
    page = _grid_page()
    h, w = page.shape
    profile = replace(ScanProfile.clean(DPI), max_skew_deg=4.0)
    out, meta = _seed_with(profile, page, lambda m: abs(m.skew_deg) > 2.0)
    back = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), -meta.skew_deg, 1.0)
    deskewed = cv2.warpAffine(out, back, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
    for axis in (0, 1):
        want, got = _line_positions(page, axis), _line_positions(deskewed, axis)
        assert len(got) == len(want) > 3
        assert np.abs(got - want).max() < 1.5


def test_offset_moves_content_right_and_down_and_scale_about_the_centre():
    page = _blank()
    h, w = page.shape
    centre = np.array(((w - 1) / 2, (h - 1) / 2))
    marks = [centre + (-500, -700), centre + (500, 700)]
    for x, y in marks:
        page[round(y) - 4 : round(y) + 5, round(x) - 4 : round(x) + 5] = 0
    profile = replace(ScanProfile.clean(DPI), scale_range=(0.98, 1.02), max_offset_mm=3.0)
    out, meta = _seed_with(
        profile, page, lambda m: min(map(abs, m.offset_px)) > 5 and abs(m.scale - 1) > 0.01
    )
    for x, y in marks:
        want = centre + meta.scale * ((x, y) - centre) + meta.offset_px
        x0, y0 = round(want[0]) - 20, round(want[1]) - 20
        win = 255 - out[y0 : y0 + 41, x0 : x0 + 41].astype(np.float64)
        ys, xs = np.mgrid[0:41, 0:41]
        got = (x0 + (xs * win).sum() / win.sum(), y0 + (ys * win).sum() / win.sum())
        assert np.hypot(*(np.array(got) - want)) < 0.5


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_page_to_scan_maps_marks_through_the_whole_geometry(rotation):
    page = _blank()
    h, w = page.shape
    marks = [(200, 250), (w - 300, 220), (260, h - 280), (w - 240, h - 310), (w // 2, h // 2)]
    for x, y in marks:
        page[y - 4 : y + 5, x - 4 : x + 5] = 0
    profile = replace(
        ScanProfile.clean(DPI), max_skew_deg=4.0, scale_range=(0.98, 1.02), max_offset_mm=3.0
    )
    out, meta = scan(page, np.random.default_rng(11), profile, force_rotation=rotation)
    assert abs(meta.skew_deg) > 0.3 and meta.scale != 1.0 and meta.offset_px != (0.0, 0.0)
    m = meta.page_to_scan((h, w))
    for x, y in marks:
        px, py = m @ (x, y, 1)
        x0, y0 = round(px) - 15, round(py) - 15
        win = 255 - out[y0 : y0 + 31, x0 : x0 + 31].astype(np.float64)
        assert win.sum() > 0
        ys, xs = np.mgrid[0:31, 0:31]
        cx, cy = x0 + (xs * win).sum() / win.sum(), y0 + (ys * win).sum() / win.sum()
        assert np.hypot(cx - px, cy - py) < 1.0


def test_forced_rotation_turns_the_page_clockwise_exactly():
    page = _blank()
    h, w = page.shape
    page[100:200, 100:300] = 0  # a bar at the top left, wider than tall
    profile = ScanProfile.clean(DPI)
    expected = {
        90: ((w, h), (slice(100, 300), slice(h - 200, h - 100))),  # top right, upright bar
        180: ((h, w), (slice(h - 200, h - 100), slice(w - 300, w - 100))),  # bottom right
        270: ((w, h), (slice(w - 300, w - 100), slice(100, 200))),  # bottom left
    }
    for rotation, (shape, where) in expected.items():
        out, meta = scan(page, np.random.default_rng(0), profile, force_rotation=rotation)
        assert meta.rotation == rotation
        assert out.shape == shape
        assert (out[where] == 0).all()
        assert (out == 0).sum() == (page == 0).sum()
        # clockwise by `rotation`: turning back counter-clockwise gives the page
        assert np.array_equal(np.rot90(out, rotation // 90), page)


def test_forced_rotation_changes_nothing_else():
    page = _form_page()
    profile = ScanProfile.for_batch(DPI)
    plain, m0 = scan(page, np.random.default_rng(5), profile, force_rotation=0)
    turned, m180 = scan(page, np.random.default_rng(5), profile, force_rotation=180)
    assert replace(m180, rotation=0) == m0
    assert turned.shape == plain.shape


def test_orientation_is_drawn_with_the_profile_probabilities():
    page = _blank()
    upside_down = replace(ScanProfile.clean(DPI), p_upside_down=1.0)
    sideways = replace(ScanProfile.clean(DPI), p_sideways=1.0)
    assert scan(page, np.random.default_rng(0), upside_down)[1].rotation == 180
    seen = {scan(page, np.random.default_rng(s), sideways)[1].rotation for s in range(20)}
    assert seen == {90, 270}
    clean = ScanProfile.clean(DPI)
    assert {scan(page, np.random.default_rng(s), clean)[1].rotation for s in range(5)} == {0}


@pytest.mark.parametrize("mode", ["grey", "bitonal"])
def test_same_seed_same_bytes(mode):
    page = _form_page()
    profile = ScanProfile.for_batch(DPI, mode)
    a, meta_a = scan(page, np.random.default_rng(42), profile)
    b, meta_b = scan(page, np.random.default_rng(42), profile)
    c, _ = scan(page, np.random.default_rng(43), profile)
    assert a.tobytes() == b.tobytes() and meta_a == meta_b
    assert a.tobytes() != c.tobytes()
    back_a, _ = blank_back(a, np.random.default_rng(1), profile)
    back_b, _ = blank_back(b, np.random.default_rng(1), profile)
    assert back_a.tobytes() == back_b.tobytes()


def test_default_grey_scan_is_a_plausible_office_scan():
    page = _form_page()
    before = page.copy()
    profile = ScanProfile.for_batch(DPI)
    for seed in range(4):
        out, meta = scan(page, np.random.default_rng(seed), profile)
        assert np.array_equal(page, before)  # dust is drawn on a copy
        assert out.dtype == np.uint8 and out.shape in (page.shape, page.shape[::-1])
        lo, hi = profile.jpeg_quality
        assert lo <= meta.jpeg_quality <= hi
        assert abs(meta.skew_deg) <= profile.max_skew_deg
        assert 0.98 <= meta.scale <= 1.02
        paper = np.median(out)
        assert profile.paper_level[0] - 3 <= paper <= 255
        ink = np.percentile(out, 0.5)  # the darkest strokes read as dark grey, not paper
        assert ink < 120


def test_bitonal_scan_holds_only_black_and_white():
    out, meta = scan(_form_page(), np.random.default_rng(3), ScanProfile.for_batch(DPI, "bitonal"))
    assert out.dtype == np.uint8
    assert set(np.unique(out)) == {0, 255}
    assert 0.005 < (out == 0).mean() < 0.2
    assert meta.mode == "bitonal" and meta.jpeg_quality is None


def _small(img: np.ndarray) -> np.ndarray:
    size = (img.shape[1] // 8, img.shape[0] // 8)
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA).astype(np.float64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blank_back_is_near_white_with_a_faint_mirrored_front(seed):
    profile = ScanProfile.for_batch(DPI)
    front, _ = scan(_form_page(), np.random.default_rng(seed), profile)
    back, meta = blank_back(front, np.random.default_rng(seed + 100), profile)
    assert back.shape == front.shape and back.dtype == np.uint8
    assert meta.blank and meta.rotation == 0 and meta.skew_deg == 0.0
    assert back.mean() > 240
    small_back, small_front = _small(back).ravel(), _small(front)
    mirrored = np.corrcoef(small_back, np.fliplr(small_front).ravel())[0, 1]
    unmirrored = np.corrcoef(small_back, small_front.ravel())[0, 1]
    assert mirrored > 0.5 and mirrored > unmirrored + 0.3
    # faint: even the darkest bleed stays within the documented strength of the paper
    paper = np.median(back)
    assert np.percentile(_small(back), 0.1) > paper * (1 - BLEED_STRENGTH[1]) - 3


def test_bitonal_blank_back_is_white_but_for_dust():
    profile = ScanProfile.for_batch(DPI, "bitonal")
    front, _ = scan(_form_page(), np.random.default_rng(0), profile)
    back, meta = blank_back(front, np.random.default_rng(0), profile)
    assert meta.blank and meta.mode == "bitonal"
    assert (back == 0).mean() < 0.001


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        ScanProfile(dpi=250)
    with pytest.raises(ValueError):
        ScanProfile(mode="colour")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ScanProfile(p_upside_down=0.7, p_sideways=0.5)
    with pytest.raises(ValueError):
        scan(_blank(), np.random.default_rng(0), ScanProfile.clean(DPI), force_rotation=45)
    with pytest.raises(ValueError):
        scan(_blank().astype(np.float32), np.random.default_rng(0), ScanProfile.clean(DPI))
