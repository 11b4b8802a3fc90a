"""Page images and field crops from the object store, for the istanza page.

Page images (`pages/<sha>/<index>.png`, upright and deskewed by the pipeline) are scaled down
here and the evidence of an anomaly is drawn on them server-side: a box around each field it
names (the field's bbox in pixels of the registered page, which the deskewed page matches to
within the registration's small residual), or a frame around the whole page when the anomaly is
about the page itself (a missing signature box has a field; a missing page has none). Drawing
on the server keeps the page free of JavaScript and the evidence visible in any browser.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from functools import cache

from PIL import Image, ImageDraw, ImageFont

from pipeline.record import PageRef

HIGHLIGHT = (200, 0, 40)
MAX_WIDTH = 1600
ZOOM_MARGIN = 0.06  # of the page height above and below the evidence: a few printed lines


CACHE_BYTES = 64 * 1024 * 1024  # rendered images kept per process, newest used first


def page_key(ref: PageRef) -> str:
    return f"pages/{ref.sha256}/{ref.index}.png"


class RenderCache:
    """Rendered page images by (page key, width, boxes, frame, zoom), at most `limit` bytes.
    A page image is never rewritten under its key (the key names the input's hash), so what
    was drawn from it stays right; every reviewer opening an istanza asks for the same ones."""

    def __init__(self, limit: int = CACHE_BYTES) -> None:
        self.limit, self.size = limit, 0
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: tuple, data: bytes) -> None:
        if len(data) > self.limit // 8:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self.size += len(data) - (len(old) if old is not None else 0)
            self._items[key] = data
            while self.size > self.limit:
                _, dropped = self._items.popitem(last=False)
                self.size -= len(dropped)


def render_page(data: bytes, *, width: int | None, boxes: list[tuple[float, float, float, float]],
                frame: bool, zoom: bool = False) -> bytes:
    """The page PNG scaled to `width` (at most MAX_WIDTH) with the boxes drawn in red.

    zoom: only the band of the page around the boxes (full width, so the printed labels
    left of a field stay in view), which is what a reviewer compares the value with."""
    img = Image.open(io.BytesIO(data))
    img.load()
    if zoom and boxes:
        margin = img.height * ZOOM_MARGIN
        top = max(0, int(min(y for _, y, _, _ in boxes) - margin))
        bottom = min(img.height, int(max(y + h for _, y, _, h in boxes) + margin))
        img = img.crop((0, top, img.width, bottom))
        boxes = [(x, y - top, w, h) for x, y, w, h in boxes]
    w0 = img.width
    target = min(width or w0, MAX_WIDTH, w0)
    if target < w0:
        img = img.resize((target, max(1, round(img.height * target / w0))), Image.Resampling.BOX)
    if not boxes and not frame:
        return _png(img)
    img = img.convert("RGB")
    scale = img.width / w0
    line = max(2, round(img.width / 250))
    draw = ImageDraw.Draw(img)
    for x, y, w, h in boxes:
        pad = line * 2
        draw.rectangle([x * scale - pad, y * scale - pad, (x + w) * scale + pad,
                        (y + h) * scale + pad], outline=HIGHLIGHT, width=line)
    if frame:
        draw.rectangle([0, 0, img.width - 1, img.height - 1], outline=HIGHLIGHT, width=line * 2)
    return _png(img)


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=False, compress_level=3)
    return out.getvalue()


@cache
def placeholder(text: str, width: int = 300, height: int = 120) -> bytes:
    """A grey tile saying the image is not available (a missing page image or crop)."""
    img = Image.new("L", (width, height), 235)
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, width - 1, height - 1], outline=150, width=2)
    font = ImageFont.load_default(size=max(10, width // 18))
    box = draw.textbbox((0, 0), text, font=font)
    draw.text(((width - box[2]) / 2, (height - box[3]) / 2), text, fill=60, font=font)
    return _png(img)
