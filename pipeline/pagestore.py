"""Prepared pages and kit manifests in the object store, so each step can run on any worker.

A worker that prepares pages 8..15 of an input and the worker that later reads the kit those
pages belong to share nothing but the object store and the index. What passes between them:

* `pages/<sha>/<index>.png`  the page upright and deskewed (greyscale PNG): what the field
  reader reads and what the review app shows. Written with one PNG filter for every row
  (Up: each row less the row above) and zlib level 1 with run-length matching only, which
  on form pages compresses as well as the adaptive filters at a fraction of the time.
  Measured on 8 upright 300 dpi grey pages of `plico bench speed` (seed 2000) and 30 pages
  of a 200 dpi bitonal batch, encode / decode / size a page: OpenCV's default (adaptive
  filters, level 1) 73.5 / 42.6 ms / 1,084 KiB grey, 18.3 / 5.9 ms / 56 KiB bitonal;
  Up + RLE 33.1 / 21.8 ms / 889 KiB grey, 7.2 / 5.5 ms / 31 KiB bitonal; lossless WebP
  1,143 / 43 ms / 654 KiB grey; no compression 48 / 30 ms / 8.5 MiB grey.
* `pages/<sha>/<index>.json` what preparing the page found (kind, rotation, skew,
  registration, barcodes, MRZ, receipt, step timings): the `PreparedPage` without its pixels.
  The MRZ part holds personal data, as the record does; it is never logged.
* `kits/<kit_id>/pages.json` which pages, in scan order and with which owner, make a kit,
  and its barcodes: written once by the split.

A page's files depend only on the input's bytes and the page index (the raw input is
content-addressed), so writing them again is harmless and an input submitted twice is
prepared once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import types
import typing
from functools import cache
from typing import Any

import cv2
import numpy as np

from extractors.page_image import Word
from pipeline.pages import PreparedPage, SourceRef

_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP,
        cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]


def page_image_key(sha256: str, index: int) -> str:
    return f"pages/{sha256}/{index}.png"


def page_meta_key(sha256: str, index: int) -> str:
    return f"pages/{sha256}/{index}.json"


def kit_manifest_key(kit_id: str) -> str:
    return f"kits/{kit_id}/pages.json"


def load_kit_manifest(store, kit_id: str) -> dict:
    """A kit's manifest (`kits/<kit_id>/pages.json`), as the split wrote it."""
    return json.loads(store.get(kit_manifest_key(kit_id)))


def encode_png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image, _PNG)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def decode_png(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError("not a PNG image")
    return image


class PageCache:
    """Prepared form pages handed from preparation to the kit reader in memory, in one process
    (`plico process`): each page is decoded once. Up to `budget` bytes: a page that does not
    fit is not held (the reader decodes it from the store), and a page is let go when taken.
    Pages are prepared in scan order and kits read in scan order, so the first kits of a
    batch larger than the budget read from memory and the rest from the store."""

    def __init__(self, budget: int) -> None:
        self.budget, self.used = budget, 0
        self._pages: dict[tuple[str, int], np.ndarray] = {}

    def put(self, sha256: str, index: int, image: np.ndarray) -> None:
        key = (sha256, index)
        if key not in self._pages and self.used + image.nbytes <= self.budget:
            self._pages[key] = image
            self.used += image.nbytes

    def take(self, sha256: str, index: int) -> np.ndarray | None:
        image = self._pages.pop((sha256, index), None)
        if image is not None:
            self.used -= image.nbytes
        return image


# --- dataclasses <-> JSON ----------------------------------------------------------------


def _dump(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _dump(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _load(tp: Any, value: Any) -> Any:
    """`value` (parsed JSON) as type `tp`: dataclasses, tuples, unions with None, dates."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return _load(options[0], value) if len(options) == 1 else value
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_load(args[0], v) for v in value)
        return tuple(_load(a, v) for a, v in zip(args, value, strict=True))
    if origin is dict:
        _, vt = typing.get_args(tp)
        return {k: _load(vt, v) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        return tp(**{f.name: _load(hints[f.name], value[f.name])
                     for f in dataclasses.fields(tp) if f.name in value})
    if tp is dt.date:
        return dt.date.fromisoformat(value)
    if tp is float:
        return float(value)
    return value


def page_meta(page: PreparedPage) -> bytes:
    """The JSON of a prepared page without its pixels."""
    data = {f.name: _dump(getattr(page, f.name))
            for f in dataclasses.fields(page) if f.name != "image"}
    return json.dumps(data, ensure_ascii=False, sort_keys=True).encode()


def load_page(meta: bytes, image: np.ndarray | None) -> PreparedPage:
    """A prepared page from its JSON and its pixels. The split needs only what was found on
    the page, not the pixels: it passes `image=None` and gets a 0 x 0 array in their place."""
    data = json.loads(meta)
    hints = _hints(PreparedPage)
    kwargs = {f.name: _load(hints[f.name], data[f.name])
              for f in dataclasses.fields(PreparedPage) if f.name in data and f.name != "image"}
    src = data["source"]
    kwargs["source"] = SourceRef(src["source"], src["source_sha256"], src["index"], src["dpi"],
                                 tuple(Word(**w) for w in src.get("text_words", ())))
    pixels = image if image is not None else np.zeros((0, 0), np.uint8)
    return PreparedPage(image=pixels, **kwargs)
