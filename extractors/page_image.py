"""What rasterising an input gives: `PageImage`, one page as read-only uint8 grey pixels with
its dpi and colour mode, the `Word`s of a PDF text layer, and `PageFailure` for pages that
could not be read; the resolutions a page may declare (see `extractors.raster`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from pipeline.errors import InputError

Colour = Literal["grey", "bitonal", "colour"]

DEFAULT_DPI = 300
# A declared resolution outside this range is a placeholder or an error, not a scanner's
# setting (some writers put 1 x 1 or 72 x 72 "dpi" meaning "unknown" in JFIF/EXIF: 72 is
# kept, as a low-resolution copy is possible; 1 is not).
PLAUSIBLE_DPI = (50.0, 2400.0)
# Horizontal and vertical resolutions closer than this are the same (rounding in the file).
SQUARE_PIXEL_TOLERANCE = 0.01


@dataclass(frozen=True, slots=True)
class Word:
    """One word of a PDF text layer, its box in pixels of the page image (origin top left)."""

    text: str
    x: int
    y: int
    w: int
    h: int


# eq=False: a page is identified by (source_sha256, index); comparing or hashing the pixels
# of two pages is never what a caller means.
@dataclass(frozen=True, slots=True, eq=False)
class PageImage:
    """One page of an input file, as uint8 greyscale pixels (read-only)."""

    source: str  # the input file's name
    source_sha256: str
    index: int  # 0-based page index within the source file
    image: np.ndarray
    dpi: int
    dpi_assumed: bool  # True when the file declares no (plausible) resolution
    colour: Colour  # the page's colour mode as found in the file
    text_words: tuple[Word, ...] = ()

    def __post_init__(self) -> None:
        if self.image.ndim != 2 or self.image.dtype != np.uint8:
            raise ValueError(
                f"a page image is a 2-D uint8 array, got {self.image.dtype} {self.image.shape}"
            )
        if self.index < 0 or self.dpi <= 0:
            raise ValueError(f"bad page index {self.index} or dpi {self.dpi}")
        if self.colour not in ("grey", "bitonal", "colour"):
            raise ValueError(f"unknown colour mode {self.colour!r}")
        self.image.setflags(write=False)

    @property
    def width(self) -> int:
        return self.image.shape[1]

    @property
    def height(self) -> int:
        return self.image.shape[0]


@dataclass(frozen=True, slots=True)
class PageFailure:
    """Pages of a file that could not be read while its other pages could."""

    source: str
    source_sha256: str
    pages: tuple[int, ...]
    error: InputError
