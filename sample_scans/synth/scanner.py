"""Scanner simulation: a clean rendered page in, the page as an office ADF scanner outputs it.

A page goes through the stages a sheet goes through in a real scanner, in the order the sheet
meets them (so dust is blurred like ink, and the noise is not blurred at all):

1. **feed geometry** — scale, residual skew and offset, as one affine warp (white where the
   warp uncovers the scanner's white backing);
2. **orientation** — a sheet put into the feeder upside down (180°) or sideways (90°/270°):
   an exact quarter turn, the image keeps the shape the sensor saw (landscape for 90°/270°);
3. **glass and optics** — dust dots, then the lens blur;
4. **sensor** — paper and ink levels (contrast, brightness, paper tint), lamp shading across
   the sensor, per-column gain differences, rarely a streak from dirt on the glass, noise;
5. **output** — a JPEG round trip (grey) or the threshold (bitonal).

Everything random comes from the `numpy.random.Generator` passed in: the same seed gives
the same bytes. Both modes return a 2-D ``uint8`` array; a bitonal page holds only 0 (ink)
and 255 (paper), so every consumer reads pages the same way and writers look at
`ScanMeta.mode` to choose the encoding.

Geometry convention (pixel centres, x right, y down, page centre ``c = ((W-1)/2, (H-1)/2)``):
a point ``p`` of the clean page lands, before the quarter turn, at
``c + scale * R(skew) @ (p - c) + offset``, with ``R(a) = [[cos a, sin a], [-sin a, cos a]]``:
a positive `ScanMeta.skew_deg` turns the content counter-clockwise as seen on screen (the
convention of ``cv2.getRotationMatrix2D``). `ScanMeta.page_to_scan` gives the whole map.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

ColourMode = Literal["grey", "bitonal"]

DPIS = (200, 300, 600)
ROTATIONS = (0, 90, 180, 270)
MM_PER_INCH = 25.4

# Bleed-through on the blank back of a single-sided sheet: the front's full-black ink shows
# through at this fraction of the paper level (before the sensor's own contrast), mirrored
# left-right and blurred by the paper. A blank-page detector must call such a page blank.
BLEED_STRENGTH: tuple[float, float] = (0.03, 0.08)
# The paper fibres spread the ink seen through the sheet over about this radius.
_BLEED_BLUR_MM = 0.4
# Dust dots on the glass: radius in mm and grey level (before blur and tone mapping).
_DUST_RADIUS_MM = (0.04, 0.15)
_DUST_LEVEL = (40, 200)
# A streak from dirt on the glass: width in mm and how much darker than the paper it reads.
_STREAK_WIDTH_MM = (0.08, 0.25)
_STREAK_DEPTH = (6.0, 30.0)


def a4_shape(dpi: int) -> tuple[int, int]:
    """(height, width) in pixels of a portrait A4 page (595 x 842 pt) at `dpi`."""
    return round(842 * dpi / 72), round(595 * dpi / 72)


def _check_range(name: str, pair: tuple[float, float], lo: float, hi: float) -> None:
    a, b = pair
    if not lo <= a <= b <= hi:
        raise ValueError(f"{name}={pair!r}: need {lo} <= low <= high <= {hi}")


@dataclass(frozen=True, slots=True)
class ScanProfile:
    """Scanner and batch settings; every effect is drawn per page from these ranges.

    The defaults are an office ADF scanning a batch of postal kits: the effects are the
    ones a reader of real scans meets, kept as subtle as a working scanner makes them.
    """

    dpi: int = 300
    mode: ColourMode = "grey"
    # Skew is drawn from a normal with sd max_skew_deg / 3, clipped to ±max_skew_deg: most
    # ADF pages are within a degree, a badly fed one reaches the limit.
    max_skew_deg: float = 4.0
    p_upside_down: float = 0.03  # 180°
    p_sideways: float = 0.02  # 90° or 270°, even odds
    scale_range: tuple[float, float] = (0.98, 1.02)
    max_offset_mm: float = 3.0  # uniform in ±, on each axis
    blur_sigma_mm: tuple[float, float] = (0.03, 0.06)  # 0.35-0.7 px at 300 dpi
    noise_sigma: tuple[float, float] = (0.6, 1.6)  # grey levels, sensor noise
    dust_count: tuple[int, int] = (0, 20)  # dust dots per page
    paper_level: tuple[int, int] = (244, 253)  # what white paper reads (brightness, tint)
    ink_level: tuple[int, int] = (14, 42)  # what full-black toner reads (contrast)
    shading: float = 3.0  # at most this many grey levels darker at the side edges (lamp)
    column_noise: float = 0.5  # sd of per-column gain differences, grey levels
    p_streak: float = 0.02  # a vertical streak from dirt on the glass
    # Grey only; None: no JPEG round trip. Above ~80 the sensor noise makes a dense 300-dpi
    # A4 page cost 500 KB-1 MB, more than the office scanners the batches come from.
    jpeg_quality: tuple[int, int] | None = (55, 80)
    threshold: tuple[int, int] = (112, 148)  # bitonal only; lower keeps thinner strokes

    def __post_init__(self) -> None:
        if self.dpi not in DPIS:
            raise ValueError(f"dpi={self.dpi}: a scanner profile uses one of {DPIS}")
        if self.mode not in ("grey", "bitonal"):
            raise ValueError(f"mode={self.mode!r}: 'grey' or 'bitonal'")
        if not 0 <= self.max_skew_deg <= 15:
            raise ValueError(f"max_skew_deg={self.max_skew_deg}: 0..15")
        for name in ("p_upside_down", "p_sideways", "p_streak"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name}={getattr(self, name)}: a probability")
        if self.p_upside_down + self.p_sideways > 1:
            raise ValueError("p_upside_down + p_sideways > 1")
        _check_range("scale_range", self.scale_range, 0.5, 2.0)
        if not 0 <= self.max_offset_mm <= 50:
            raise ValueError(f"max_offset_mm={self.max_offset_mm}: 0..50")
        _check_range("blur_sigma_mm", self.blur_sigma_mm, 0, 1)
        _check_range("noise_sigma", self.noise_sigma, 0, 40)
        _check_range("dust_count", self.dust_count, 0, 10_000)
        _check_range("paper_level", self.paper_level, 0, 255)
        _check_range("ink_level", self.ink_level, 0, 255)
        if self.ink_level[1] >= self.paper_level[0]:
            raise ValueError("ink_level must stay below paper_level")
        if self.shading < 0 or self.column_noise < 0:
            raise ValueError("shading and column_noise are >= 0")
        if self.jpeg_quality is not None:
            _check_range("jpeg_quality", self.jpeg_quality, 1, 100)
        _check_range("threshold", self.threshold, 1, 255)

    @classmethod
    def for_batch(cls, dpi: int = 300, mode: ColourMode = "grey") -> ScanProfile:
        """The default office-scanner profile at `dpi` and `mode`."""
        return cls(dpi=dpi, mode=mode)

    @classmethod
    def clean(cls, dpi: int = 300, mode: ColourMode = "grey") -> ScanProfile:
        """Every effect off: a grey scan returns the page itself (for exact-geometry tests)."""
        return cls(
            dpi=dpi,
            mode=mode,
            max_skew_deg=0.0,
            p_upside_down=0.0,
            p_sideways=0.0,
            scale_range=(1.0, 1.0),
            max_offset_mm=0.0,
            blur_sigma_mm=(0.0, 0.0),
            noise_sigma=(0.0, 0.0),
            dust_count=(0, 0),
            paper_level=(255, 255),
            ink_level=(0, 0),
            shading=0.0,
            column_noise=0.0,
            p_streak=0.0,
            jpeg_quality=None,
            threshold=(128, 128),
        )


@dataclass(frozen=True, slots=True)
class ScanMeta:
    """What the scanner did to one page: the ground truth a reader is scored against.

    `rotation` is the clockwise quarter turn applied to the content as fed (a reader turns
    the image back by the same amount counter-clockwise). `skew_deg` is the residual
    rotation, positive = content turned counter-clockwise as seen on screen; to deskew,
    rotate by ``-skew_deg`` (``cv2.getRotationMatrix2D(centre, -skew_deg, 1)``) after undoing
    the quarter turn. `offset_px` is (dx, dy), +x right and +y down, in the page's own frame
    before the quarter turn. A blank back has neutral geometry: it has no content to orient.
    """

    rotation: int
    skew_deg: float
    scale: float
    offset_px: tuple[float, float]
    dpi: int
    mode: ColourMode
    blank: bool = False
    jpeg_quality: int | None = None

    def page_to_scan(self, page_shape: tuple[int, int]) -> np.ndarray:
        """2x3 affine map from clean-page pixel (x, y) to scanned-image pixel (x, y).

        `page_shape` is the clean page's (height, width). Maps field boxes of the rendered
        form onto the scan, quarter turn included.
        """
        h, w = page_shape
        warp = _warp_matrix(h, w, self.skew_deg, self.scale, self.offset_px)
        turn = {
            0: ((1, 0, 0), (0, 1, 0)),
            90: ((0, -1, h - 1), (1, 0, 0)),
            180: ((-1, 0, w - 1), (0, -1, h - 1)),
            270: ((0, 1, 0), (-1, 0, w - 1)),
        }[self.rotation]
        t = np.vstack([np.array(turn, dtype=np.float64), (0, 0, 1)])
        return (t @ np.vstack([warp, (0, 0, 1)]))[:2]


def _warp_matrix(
    h: int, w: int, skew_deg: float, scale: float, offset: tuple[float, float]
) -> np.ndarray:
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), skew_deg, scale)
    m[0, 2] += offset[0]
    m[1, 2] += offset[1]
    return m


def _mm_to_px(mm: float, dpi: int) -> float:
    return mm * dpi / MM_PER_INCH


def _check_page(page: np.ndarray) -> None:
    if page.ndim != 2 or page.dtype != np.uint8:
        raise ValueError(f"a page is a 2-D uint8 greyscale array, got {page.dtype} {page.shape}")


def scan(
    page: np.ndarray,
    rng: np.random.Generator,
    profile: ScanProfile,
    *,
    force_rotation: int | None = None,
) -> tuple[np.ndarray, ScanMeta]:
    """The page as the scanner outputs it, and what was done to it.

    `page` is a clean uint8 greyscale page (white 255) at `profile.dpi`; it is not modified.
    The output has the page's shape for rotations 0/180 and the transposed shape for 90/270.
    `force_rotation` overrides the drawn orientation only: every other effect is the same
    as without it for the same generator state.
    """
    _check_page(page)
    if force_rotation is not None and force_rotation not in ROTATIONS:
        raise ValueError(f"force_rotation={force_rotation}: one of {ROTATIONS}")
    h, w = page.shape
    p = profile

    u = rng.random()
    if u < p.p_upside_down:
        rotation = 180
    elif u < p.p_upside_down + p.p_sideways:
        rotation = (90, 270)[int(rng.integers(2))]
    else:
        rotation = 0
    if force_rotation is not None:
        rotation = force_rotation
    skew = float(np.clip(rng.normal(0.0, p.max_skew_deg / 3), -p.max_skew_deg, p.max_skew_deg))
    scale = float(rng.uniform(*p.scale_range))
    max_off = _mm_to_px(p.max_offset_mm, p.dpi)
    offset = (float(rng.uniform(-max_off, max_off)), float(rng.uniform(-max_off, max_off)))

    img = page
    if skew != 0.0 or scale != 1.0 or offset != (0.0, 0.0):
        img = cv2.warpAffine(
            page,
            _warp_matrix(h, w, skew, scale, offset),
            (w, h),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=255,
        )
    if rotation:
        # cv2.rotate is an exact transpose/flip, like np.rot90, and returns a contiguous array
        code = {
            90: cv2.ROTATE_90_CLOCKWISE,
            180: cv2.ROTATE_180,
            270: cv2.ROTATE_90_COUNTERCLOCKWISE,
        }[rotation]
        img = cv2.rotate(img, code)

    out, quality = _sense(img, rng, p)
    meta = ScanMeta(
        rotation=rotation,
        skew_deg=skew,
        scale=scale,
        offset_px=offset,
        dpi=p.dpi,
        mode=p.mode,
        blank=False,
        jpeg_quality=quality,
    )
    return out, meta


def blank_back(
    front: np.ndarray, rng: np.random.Generator, profile: ScanProfile
) -> tuple[np.ndarray, ScanMeta]:
    """The back of a single-sided sheet in a duplex scan, with the shape of `front`.

    `front` is the front side as scanned (the output of `scan`) or the clean page. The back
    is paper with the front's ink showing through faintly (`BLEED_STRENGTH`), mirrored
    left-right as the back sensor sees it and blurred by the paper, then the same dust,
    blur, sensor and output stages as a front page.
    """
    _check_page(front)
    h, w = front.shape
    # Work at a quarter of the resolution: the bleed-through is blurred far beyond that.
    small = cv2.resize(front, (max(w // 4, 1), max(h // 4, 1)), interpolation=cv2.INTER_AREA)
    paper = max(float(np.median(small)), 1.0)  # most of any page is paper
    ink = (paper - small.astype(np.float32)) * np.float32(1 / paper)
    np.clip(ink, 0, 1, out=ink)
    ink = cv2.flip(ink, 1)
    sigma = _mm_to_px(_BLEED_BLUR_MM, profile.dpi) / 4
    ink = cv2.GaussianBlur(ink, (0, 0), sigma)
    strength = float(rng.uniform(*BLEED_STRENGTH))
    content = np.float32(255) - np.float32(255 * strength) * ink
    content = cv2.resize(content, (w, h), interpolation=cv2.INTER_LINEAR)
    content = (content + np.float32(0.5)).astype(np.uint8)

    out, quality = _sense(content, rng, profile)
    meta = ScanMeta(
        rotation=0,
        skew_deg=0.0,
        scale=1.0,
        offset_px=(0.0, 0.0),
        dpi=profile.dpi,
        mode=profile.mode,
        blank=True,
        jpeg_quality=quality,
    )
    return out, meta


def _sense(
    img: np.ndarray, rng: np.random.Generator, p: ScanProfile
) -> tuple[np.ndarray, int | None]:
    """Glass, optics, sensor and output stages on an oriented page; (image, JPEG quality)."""
    h, w = img.shape

    n_dust = int(rng.integers(p.dust_count[0], p.dust_count[1] + 1))
    if n_dust:
        img = img.copy()  # never draw on the caller's page
        for _ in range(n_dust):
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            r = _mm_to_px(rng.uniform(*_DUST_RADIUS_MM), p.dpi)
            level = int(rng.integers(_DUST_LEVEL[0], _DUST_LEVEL[1] + 1))
            # shift=4: sub-pixel centre and radius, so tiny dots are anti-aliased specks
            centre = (round(x * 16), round(y * 16))
            cv2.circle(img, centre, max(round(r * 16), 4), level, -1, cv2.LINE_AA, 4)

    sigma = _mm_to_px(rng.uniform(*p.blur_sigma_mm), p.dpi)
    if sigma > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), sigma)

    paper = int(rng.integers(p.paper_level[0], p.paper_level[1] + 1))
    ink = int(rng.integers(p.ink_level[0], p.ink_level[1] + 1))
    if (paper, ink) != (255, 0):
        lut = np.rint(ink + (paper - ink) * np.arange(256) / 255).astype(np.uint8)
        img = cv2.LUT(img, lut)

    # Lamp shading and per-column gain vary across the sensor, so they are one row profile
    # added to every line; +0.5 makes the final truncation to uint8 a rounding.
    xs = np.linspace(-1.0, 1.0, w, dtype=np.float32)
    column = np.full(w, 0.5, dtype=np.float32)
    column -= np.float32(rng.uniform(0, p.shading)) * xs * xs
    column += rng.normal(0.0, p.column_noise, w).astype(np.float32)
    if rng.random() < p.p_streak:
        x0 = rng.uniform(0, w)
        half = _mm_to_px(rng.uniform(*_STREAK_WIDTH_MM), p.dpi) / 2
        depth = rng.uniform(*_STREAK_DEPTH)
        near = np.clip(half + 0.5 - np.abs(np.arange(w) - x0), 0, 1)  # anti-aliased edges
        column -= (depth * near).astype(np.float32)

    noise_sigma = float(rng.uniform(*p.noise_sigma))
    if noise_sigma > 0:
        f = rng.standard_normal((h, w), dtype=np.float32)
        f *= np.float32(noise_sigma)
        f += img
    else:
        f = img.astype(np.float32)
    f += column

    if p.mode == "bitonal":
        thr = int(rng.integers(p.threshold[0], p.threshold[1] + 1))
        return np.where(f >= thr, np.uint8(255), np.uint8(0)), None

    np.clip(f, 0, 255, out=f)
    out = f.astype(np.uint8)
    if p.jpeg_quality is None:
        return out, None
    quality = int(rng.integers(p.jpeg_quality[0], p.jpeg_quality[1] + 1))
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE), quality
