"""TIFF, PNG and JPEG pages rasterised with Pillow: headers checked before anything is
decoded, the declared resolution (or 300 dpi, assumed), pixels squared and turned to uint8
grey (see `extractors.raster`)."""

from __future__ import annotations

import io
import logging
import struct
import threading
import warnings
from collections.abc import Iterator

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from extractors.input_file import Kind, Source, _error_text, library_fault
from extractors.page_image import (
    DEFAULT_DPI,
    PLAUSIBLE_DPI,
    SQUARE_PIXEL_TOLERANCE,
    Colour,
    PageFailure,
    PageImage,
)
from pipeline.errors import InputError, InputTooLargeError, UnsupportedInputError
from pipeline.settings import Settings

log = logging.getLogger(__name__)

_PIL_FORMAT = {"tiff": "TIFF", "png": "PNG", "jpeg": "JPEG"}
# What Pillow raises for a corrupt or truncated file, besides its own UnidentifiedImageError
# (an OSError): bad headers raise SyntaxError in several plugins, short reads struct.error.
_PIL_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)

# Pillow warns on stderr about what it skips in a damaged file ("Corrupt EXIF data",
# "Truncated File Read"): a damaged input is reported once, as a quarantine reason.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")


def _open_image_checked(
    path: Source, kind: Kind, name: str, settings: Settings
) -> tuple[Image.Image, int]:
    """The open image and its page count, after the checks of the whole file."""
    try:
        im = _open_image(path, kind, settings)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputTooLargeError(
            f"{name}: the image is larger than {settings.max_image_pixels} pixels"
        ) from None
    except UnidentifiedImageError:
        raise InputError(f"{name}: corrupt {kind.upper()} file (unreadable header)") from None
    except _PIL_ERRORS as err:
        raise InputError(f"{name}: corrupt {kind.upper()} file ({err})") from None
    except Exception as err:  # noqa: BLE001 - Pillow on a damaged header: an input fault
        raise library_fault(name, err) from None
    # A PNG or JPEG is one page (an APNG's or MPO's further frames are not scans).
    try:
        count = im.n_frames if kind == "tiff" else 1
    except Exception as err:  # noqa: BLE001 - a truncated chain raises TypeError, KeyError...
        im.close()
        raise InputError(f"{name}: corrupt TIFF directory chain ({_error_text(err)})") from None
    if count > settings.max_pages_per_input:
        im.close()
        raise InputTooLargeError(
            f"{name}: {count} pages, more than the {settings.max_pages_per_input} allowed"
        )
    return im, count


def _image_pages(
    path: Source, kind: Kind, name: str, sha256: str, settings: Settings,
    pages: range | None = None,
) -> Iterator[PageImage | PageFailure]:
    im, count = _open_image_checked(path, kind, name, settings)
    with im:
        for index in range(count) if pages is None else range(count)[pages.start:pages.stop]:
            try:
                if index:
                    im.seek(index)
                item: PageImage | PageFailure = _image_page(
                    im, kind, index, name, sha256, settings
                )
            except Exception as err:  # noqa: BLE001 - Pillow/OpenCV on a damaged frame
                item = PageFailure(name, sha256, (index,), library_fault(name, err, index))
            if isinstance(item, PageFailure):
                log.warning("%s page %d: %s", sha256[:12], index, type(item.error).__name__)
            yield item


# Pillow's bomb guard is a module global (and a warning filter): set for our open and put
# back at once, under a lock, so that Pillow elsewhere in the process keeps its own.
_PIL_GUARD = threading.Lock()


def _open_image(path: Source, kind: Kind, settings: Settings) -> Image.Image:
    """Open (headers only) with Pillow's own guard at our limit: it warns above
    MAX_IMAGE_PIXELS, which we make an error, and refuses twice that by itself."""
    with _PIL_GUARD, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = settings.max_image_pixels
        try:
            source = io.BytesIO(path) if isinstance(path, bytes) else path
            return Image.open(source, formats=[_PIL_FORMAT[kind]])
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def _image_page(
    im: Image.Image, kind: Kind, index: int, name: str, sha256: str, settings: Settings
) -> PageImage:
    width, height = im.size
    (dpi_x, dpi_y), assumed = _declared_dpi(im.info)
    dpi = max(dpi_x, dpi_y)
    out_w, out_h = round(width * dpi / dpi_x), round(height * dpi / dpi_y)
    # before decoding: the header's size (and the size after squaring the pixels)
    if max(width * height, out_w * out_h) > settings.max_image_pixels:
        raise InputTooLargeError(
            f"{name}: page {index + 1} is {width} x {height} pixels, more than "
            f"{settings.max_image_pixels}"
        )
    colour = _pil_colour(im)
    im.load()
    grey = _to_grey(im, name, index)
    if (out_w, out_h) != (width, height):
        grey = cv2.resize(grey, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
    return PageImage(
        source=name,
        source_sha256=sha256,
        index=index,
        image=grey,
        dpi=round(dpi),
        dpi_assumed=assumed,
        colour=colour,
    )


def _declared_dpi(info: dict) -> tuple[tuple[float, float], bool]:
    """(x, y) dpi from Pillow's `info` (it converts per-cm units), and whether assumed."""
    declared = info.get("dpi")
    if declared:
        try:
            dpi_x, dpi_y = float(declared[0]), float(declared[1])
        except (TypeError, ValueError, IndexError, ZeroDivisionError):
            dpi_x = dpi_y = 0.0
        low, high = PLAUSIBLE_DPI
        if low <= dpi_x <= high and low <= dpi_y <= high:
            if abs(dpi_x - dpi_y) <= SQUARE_PIXEL_TOLERANCE * max(dpi_x, dpi_y):
                dpi_x = dpi_y = float(round(max(dpi_x, dpi_y)))
            return (dpi_x, dpi_y), False
    return (float(DEFAULT_DPI), float(DEFAULT_DPI)), True


def _pil_colour(im: Image.Image) -> Colour:
    if im.mode == "1":
        return "bitonal"
    if im.mode in ("L", "LA", "La", "F") or im.mode.startswith("I"):
        return "grey"
    if im.mode in ("P", "PA"):
        palette = np.asarray(im.getpalette("RGB") or [], dtype=np.uint8).reshape(-1, 3)
        all_grey = bool((palette == palette[:, :1]).all())
        return "grey" if all_grey else "colour"
    return "colour"


def _to_grey(im: Image.Image, name: str, index: int) -> np.ndarray:
    """The decoded frame as uint8 grey; transparency is flattened onto white paper."""
    mode = im.mode
    if mode == "L":
        return np.array(im)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit samples (Pillow opens 16-bit PNG and TIFF as I;16 or I): scale, don't clip
        wide = np.asarray(im).astype(np.int64)
        wide = np.clip(wide, 0, 65535)
        return ((wide * 255 + 32767) // 65535).astype(np.uint8)
    if mode == "F":
        raise UnsupportedInputError(
            f"{name}: page {index + 1} has floating-point samples, not a scan"
        )
    if mode in ("LA", "La", "RGBA", "RGBa", "PA") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        paper = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return np.array(Image.alpha_composite(paper, rgba).convert("L"))
    if mode in ("1", "P", "RGB"):
        return np.array(im.convert("L"))
    return np.array(im.convert("RGB").convert("L"))  # CMYK, YCbCr, LAB, HSV
