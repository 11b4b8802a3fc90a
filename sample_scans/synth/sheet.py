"""Drawing helpers for the generator's photocopied documents: an A4 page in pixels, a
surface measured in millimetres (`Sheet`), the photocopier's look, placing a small document
askew on the glass, backgrounds, photos, MRZ lines and signatures. Used by
`sample_scans.synth.documents`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

A4_PT = (595, 842)
MM_PER_INCH = 25.4
# Narrowest Code128 module we print: 0.33 mm (13 mil) is the usual floor for labels that
# must survive a 200 dpi office scan; we round up to whole pixels so bars stay crisp.
MIN_MODULE_MM = 0.33
# ICAO Doc 9303 Part 3: OCR-B size I, 10 characters per inch.
MRZ_PITCH_MM = 2.54
MRZ_LINE_MM = 4.3  # centre-to-centre distance of MRZ lines (our choice within the MRZ zone)

BBox = tuple[int, int, int, int]  # x0, y0, x1, y1 in page pixels

FONT_FILES = {
    "sans": "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "sans_bold": "/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf",
    "serif": "/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf",
    "serif_bold": "/usr/share/fonts/truetype/liberation2/LiberationSerif-Bold.ttf",
    "mono": "/usr/share/fonts/truetype/liberation2/LiberationMono-Regular.ttf",
    "mono_bold": "/usr/share/fonts/truetype/liberation2/LiberationMono-Bold.ttf",
    "dejavu": "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "dejavu_bold": "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "condensed": "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf",
    "condensed_bold": "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "ocrb": "/usr/share/fonts/opentype/ocr-b/OCRB.otf",
}


def page_shape(dpi: int) -> tuple[int, int]:
    """(height, width) in pixels of an A4 page at `dpi`."""
    return round(A4_PT[1] * dpi / 72), round(A4_PT[0] * dpi / 72)


def mm_px(mm: float, dpi: int) -> int:
    return round(mm * dpi / MM_PER_INCH)


@cache
def sheet_font(name: str, size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT_FILES[name], size_px)


class Sheet:
    """A PIL greyscale surface measured in millimetres (origin top-left); text sizes in pt."""

    def __init__(self, w_mm: float, h_mm: float, dpi: int, fill: int = 255):
        self.dpi = dpi
        self.w, self.h = w_mm, h_mm
        self.img = Image.new("L", (mm_px(w_mm, dpi), mm_px(h_mm, dpi)), fill)
        self.d = ImageDraw.Draw(self.img)

    @classmethod
    def a4(cls, dpi: int) -> Sheet:
        """A whole A4 page, sized in pixels exactly as `page_shape` (from points, not mm)."""
        s = cls(1, 1, dpi)
        s.w, s.h = 210.0, 297.0
        s.img = Image.new("L", page_shape(dpi)[::-1], 255)
        s.d = ImageDraw.Draw(s.img)
        return s

    def p(self, mm: float) -> int:
        return mm_px(mm, self.dpi)

    def pt(self, xy: tuple[float, float]) -> tuple[int, int]:
        return self.p(xy[0]), self.p(xy[1])

    def font(self, name: str, pt: float) -> ImageFont.FreeTypeFont:
        return sheet_font(name, max(4, round(pt * self.dpi / 72)))

    def width(self, s: str, pt: float, name: str = "sans") -> float:
        """Advance width of `s` in mm."""
        return self.font(name, pt).getlength(s) * MM_PER_INCH / self.dpi

    def text(self, x, y, s, pt, name="sans", fill=0, anchor="ls", max_w=None) -> None:
        """Draw `s` with its anchor at (x, y) mm; shrink it (down to 60 %) to fit `max_w`."""
        if max_w is not None:
            w = self.width(s, pt, name)
            if w > max_w:
                pt = max(pt * 0.6, pt * max_w / w)
        self.d.text((self.p(x), self.p(y)), s, font=self.font(name, pt), fill=fill, anchor=anchor)

    def rect(self, x0, y0, x1, y1, outline=0, width=0.25, fill=None, radius=0.0) -> None:
        lw = max(1, self.p(width)) if outline is not None else 0
        box = (self.p(x0), self.p(y0), self.p(x1), self.p(y1))
        if radius:
            self.d.rounded_rectangle(box, self.p(radius), fill=fill, outline=outline, width=lw)
        else:
            self.d.rectangle(box, fill=fill, outline=outline, width=lw)

    def line(self, x0, y0, x1, y1, fill=0, width=0.25) -> None:
        self.d.line((self.p(x0), self.p(y0), self.p(x1), self.p(y1)), fill=fill,
                    width=max(1, self.p(width)))  # fmt: skip

    def dotted(self, x0, x1, y, fill=90, step=0.8) -> None:
        for x in np.arange(x0, x1, step):
            self.line(x, y, x + step * 0.35, y, fill=fill, width=0.15)

    def cells(self, x, y, n, w, h, chars="", pt=9.0, name="mono", fill=0, line=0.2) -> None:
        """A row of n boxes with one character each (right-aligned text)."""
        for i in range(n):
            self.rect(x + i * w, y, x + (i + 1) * w, y + h, outline=60, width=line)
        for i, ch in enumerate(chars.rjust(n)[-n:]):
            if ch != " ":
                self.text(x + (i + 0.5) * w, y + h * 0.78, ch, pt, name, fill, anchor="ms")

    def wrap(self, s: str, pt: float, name: str, max_w: float) -> list[str]:
        lines, cur = [], ""
        for word in s.split():
            trial = f"{cur} {word}".strip()
            if cur and self.width(trial, pt, name) > max_w:
                lines.append(cur)
                cur = word
            else:
                cur = trial
        return lines + ([cur] if cur else [])

    def paste(self, arr: np.ndarray, x: float, y: float) -> None:
        """Darken-composite a greyscale array with its top-left at (x, y) mm."""
        a = np.asarray(self.img)
        x0, y0 = self.p(x), self.p(y)
        h = min(arr.shape[0], a.shape[0] - y0)
        w = min(arr.shape[1], a.shape[1] - x0)
        region = np.minimum(a[y0 : y0 + h, x0 : x0 + w], arr[:h, :w])
        self.img.paste(Image.fromarray(region), (x0, y0))

    def array(self) -> np.ndarray:
        return np.array(self.img)


def blank_page(dpi: int) -> np.ndarray:
    return np.full(page_shape(dpi), 255, np.uint8)


def copy_look(arr: np.ndarray, dpi: int, sigma_mm: float = 0.05) -> np.ndarray:
    """A photocopier's softness: a slight blur, and black toner that is not quite black."""
    sigma = sigma_mm * dpi / MM_PER_INCH
    out = cv2.GaussianBlur(arr, (0, 0), sigma) if sigma > 0.3 else arr
    return (22 + out.astype(np.float32) * (233 / 255)).astype(np.uint8)


def place_on_page(page: np.ndarray, piece: np.ndarray, x: int, y: int, angle: float) -> np.ndarray:
    """Darken-composite `piece` onto `page` (in place), its unrotated top-left at (x, y) px,
    turned by `angle` degrees (counter-clockwise) about its centre. Returns the 2x3 affine map
    from piece pixels to page pixels."""
    h, w = piece.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64) @ m[:, :2].T + m[:, 2]
    lo = np.floor(corners.min(0)).astype(int)
    hi = np.ceil(corners.max(0)).astype(int)
    m[:, 2] -= lo
    rot = cv2.warpAffine(
        piece, m, (int(hi[0] - lo[0]), int(hi[1] - lo[1])), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=255,
    )  # fmt: skip
    ox, oy = x + lo[0], y + lo[1]
    px0, py0 = max(ox, 0), max(oy, 0)
    px1 = min(ox + rot.shape[1], page.shape[1])
    py1 = min(oy + rot.shape[0], page.shape[0])
    if px1 > px0 and py1 > py0:
        src = rot[py0 - oy : py1 - oy, px0 - ox : px1 - ox]
        np.minimum(page[py0:py1, px0:px1], src, out=page[py0:py1, px0:px1])
    m[:, 2] += (ox, oy)
    return m


def page_bbox(m: np.ndarray, box: tuple[float, float, float, float], shape) -> BBox:
    """Axis-aligned page bounds of the piece rectangle `box` (px) after the affine `m`."""
    x0, y0, x1, y1 = box
    pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64) @ m[:, :2].T + m[:, 2]
    lo, hi = pts.min(0), pts.max(0)
    return (
        max(0, int(math.floor(lo[0]))), max(0, int(math.floor(lo[1]))),
        min(shape[1], int(math.ceil(hi[0]))), min(shape[0], int(math.ceil(hi[1]))),
    )  # fmt: skip


def sheet_box(s: Sheet, x0: float, y0: float, x1: float, y1: float):
    return (s.p(x0), s.p(y0), s.p(x1), s.p(y1))


def guilloche(s: Sheet, x0, y0, x1, y1, rng: np.random.Generator, shade=212, n=22) -> None:
    """Two families of crossing sine waves: a generic 'security background' that a copier
    renders as faint grey lines (deliberately no real state's design)."""
    xs = np.linspace(x0, x1, 160)
    for family in (1.0, -1.0):
        period = rng.uniform(20, 45)
        for k in range(n):
            yc = y0 + (k + 0.5) * (y1 - y0) / n
            amp = rng.uniform(1.0, 3.0)
            ys = np.clip(yc + family * amp * np.sin(2 * np.pi * (xs - x0) / period + k * 0.4),
                         y0, y1)  # fmt: skip
            s.d.line([s.pt(p) for p in zip(xs, ys, strict=True)], fill=shade, width=1)


def photo_area(w_mm: float, h_mm: float, dpi: int, rng: np.random.Generator) -> np.ndarray:
    """A face-like grey silhouette as a copier renders an ID photo (no real person)."""
    s = Sheet(w_mm, h_mm, dpi, fill=int(rng.integers(170, 215)))
    w, h = w_mm, h_mm
    cx = w / 2 + rng.uniform(-0.04, 0.04) * w
    skin, hair, cloth = (int(v) for v in rng.integers((110, 30, 40), (160, 80, 110)))
    s.d.ellipse(sheet_box(s, cx - 0.62 * w, 0.74 * h, cx + 0.62 * w, 1.5 * h), fill=cloth)
    s.d.rectangle(sheet_box(s, cx - 0.11 * w, 0.55 * h, cx + 0.11 * w, 0.8 * h), fill=skin - 15)
    s.d.ellipse(sheet_box(s, cx - 0.27 * w, 0.12 * h, cx + 0.27 * w, 0.5 * h), fill=hair)
    s.d.ellipse(sheet_box(s, cx - 0.3 * w, 0.33 * h, cx - 0.18 * w, 0.45 * h), fill=skin - 10)
    s.d.ellipse(sheet_box(s, cx + 0.18 * w, 0.33 * h, cx + 0.3 * w, 0.45 * h), fill=skin - 10)
    s.d.ellipse(sheet_box(s, cx - 0.23 * w, 0.2 * h, cx + 0.23 * w, 0.66 * h), fill=skin)
    s.d.pieslice(sheet_box(s, cx - 0.25 * w, 0.13 * h, cx + 0.25 * w, 0.43 * h), 180, 360,
                 fill=hair)  # fmt: skip
    for dx in (-0.09, 0.09):  # eyes and mouth as soft shadows
        s.d.ellipse(sheet_box(s, cx + (dx - 0.04) * w, 0.37 * h, cx + (dx + 0.04) * w,
                               0.40 * h), fill=skin - 45)  # fmt: skip
    s.d.ellipse(sheet_box(s, cx - 0.07 * w, 0.54 * h, cx + 0.07 * w, 0.565 * h), fill=skin - 40)
    return cv2.GaussianBlur(s.array(), (0, 0), 0.35 * dpi / MM_PER_INCH)


def draw_mrz(s: Sheet, lines: Sequence[str], x: float, y_first: float, fill: int = 0) -> None:
    """MRZ lines in OCR-B at 2.54 mm pitch; each character is placed on the pitch grid so
    pixel rounding of the font size cannot make the line drift (Doc 9303 Part 3)."""
    # OCR-B's advance is 0.723 em: an em of 2.54 / 0.723 mm gives a 10 cpi font.
    font = sheet_font("ocrb", max(4, mm_px(MRZ_PITCH_MM / 0.723, s.dpi)))
    for row, line in enumerate(lines):
        yc = s.p(y_first + row * MRZ_LINE_MM)
        for i, ch in enumerate(line):
            xc = s.p(x + (i + 0.5) * MRZ_PITCH_MM)
            s.d.text((xc, yc), ch, font=font, fill=fill, anchor="mm")


def draw_signature(s: Sheet, x: float, y: float, w: float, rng: np.random.Generator,
               fill: int = 40) -> None:  # fmt: skip
    """A scribble on baseline y: a trochoid whose loops (at the top of each stroke) read as
    joined cursive, with a drifting height and slope, and sometimes an underline flourish."""
    loops = rng.uniform(4, 8)
    theta = np.linspace(0, 2 * np.pi * loops, 300)
    r = rng.uniform(2.2, 3.0) * w / (2 * np.pi * loops)  # > advance per radian: it loops
    height = rng.uniform(3.5, 5.5) * (0.6 + 0.35 * np.sin(theta / loops * rng.uniform(1, 3)))
    xs = x + w * theta / theta[-1] + r * np.sin(theta)
    ys = y - height * (1 - np.cos(theta)) / 2 - rng.uniform(-1.5, 2.5) * theta / theta[-1]
    lw = max(1, s.p(0.3))
    s.d.line([s.pt(p) for p in zip(xs, ys, strict=True)], fill=fill, width=lw, joint="curve")
    if rng.random() < 0.6:
        s.d.line([s.pt((x + w, y - 1.5)), s.pt((x + w * 0.3, y + 1.2)), s.pt((x, y + 0.8))],
                 fill=fill, width=lw, joint="curve")  # fmt: skip
