"""Real hand-printed digits and capitals: NIST Special Database 19, as LEAF's FEMNIST cut it.

The data set lives outside the repository, in ``shared/handprint/femnist_nist_28x28.npz``
beside the checkout (its README gives the format, provenance and licence caveats), or where
``PLICO_HANDPRINT_NPZ`` points. Only digits and capitals are used: MOD.209 asks for block
capitals.

Writers, never shared between splits (the data set's own writer-disjoint split, its "val"
writers halved by sorted id):

- ``train``: the data set's "train" writers (644): the cell classifier learns from them;
- ``cal``: every other "val" writer (33): temperature and decode calibration, never trained on;
- ``bench``: the remaining "val" writers (33): benchmarks only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from pipeline.errors import MissingDependencyError

SPLITS = ("train", "cal", "bench")
CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
NPZ_NAME = "femnist_nist_28x28.npz"


def npz_path() -> Path:
    """``PLICO_HANDPRINT_NPZ``, else ``shared/handprint/`` beside the checkout."""
    env = os.environ.get("PLICO_HANDPRINT_NPZ")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "handprint" / NPZ_NAME


def available() -> bool:
    return npz_path().is_file()


@dataclass(frozen=True, eq=False)
class Split:
    """The glyphs of one split: images (N x 28 x 28, ink 255 on 0), their characters and the
    index of their writer in `writers`."""

    images: np.ndarray
    chars: np.ndarray
    writer: np.ndarray
    writers: tuple[str, ...]

    @property
    def n_writers(self) -> int:
        return len(self.writers)

    def rows(self, ch: str, writer: int | None = None) -> np.ndarray:
        """Row numbers of character `ch`, of one writer (index into `writers`) or of all."""
        return _rows(self, ch, writer)


@cache
def _rows(split: Split, ch: str, writer: int | None) -> np.ndarray:
    mask = split.chars == ch
    if writer is not None:
        mask &= split.writer == writer
    return np.flatnonzero(mask)


@cache
def load(split: str) -> Split:
    """The glyphs of `split` (digits and capitals only)."""
    if split not in SPLITS:
        raise ValueError(f"NIST split must be one of {SPLITS}, not {split!r}")
    path = npz_path()
    if not path.is_file():
        raise MissingDependencyError(
            f"the NIST hand-print data set is missing: {path} (set PLICO_HANDPRINT_NPZ)")
    with np.load(path) as z:
        labels = z["labels"].astype(str)
        keep = np.isin(labels, list(CHARS))
        writers_all = z["writer"].astype(str)
        source_split = z["writer_split"].astype(str)
        val_ids = sorted(set(writers_all[source_split == "val"].tolist()))
        if split == "train":
            keep &= source_split == "train"
        else:
            half = set(val_ids[0::2] if split == "cal" else val_ids[1::2])
            keep &= np.isin(writers_all, sorted(half))
        images = z["images"][keep]
    chars, writer_ids = labels[keep], writers_all[keep]
    writers = tuple(sorted(set(writer_ids.tolist())))
    index = {w: i for i, w in enumerate(writers)}
    return Split(images, chars, np.array([index[w] for w in writer_ids], np.int32), writers)


def glyph(split: str, ch: str, writer: int, rng: np.random.Generator) -> np.ndarray | None:
    """A 28 x 28 image of `ch` by `writer` of `split`, or by another writer of the split when
    this one never wrote it (SD19 writers print each capital about once); None when `ch` is
    not a digit or capital."""
    if ch not in CHARS:
        return None
    data = load(split)
    rows = data.rows(ch, writer % data.n_writers)
    if len(rows) == 0:
        rows = data.rows(ch)
    if len(rows) == 0:
        return None
    return data.images[int(rows[int(rng.integers(len(rows)))])]
