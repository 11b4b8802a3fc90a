"""Split a batch's prepared pages into kits (one per envelope).

The acceptance centre scans envelope after envelope. A kit opens at:

- the envelope's label page (the registered-mail receipt with the Codice Assicurata), or
- a Modulo 1 first page carrying Poste's Codice Istanza sticker when the current kit already
  has one (an envelope whose label page is missing).

A Modulo 1 first page without a sticker is a family member's Modulo 1 in the same envelope
(`m1#2`). Pages before the first kit opens belong to no kit: they go to quarantine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pipeline.pages import PreparedPage


@dataclass
class KitPages:
    """The pages of one envelope, in scan order, each with its owner (m1, m1#2...).

    A page read back from the store has no pixels (a 0 x 0 image): `image_of` gives them
    when the page is read (`image`), so that a kit's form pages are not all held at once
    (twelve grey pages at 300 dpi are 100 MB)."""

    pages: list[PreparedPage] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)
    assicurata: str | None = None
    codice_istanza: str | None = None
    image_of: Callable[[int], np.ndarray] | None = field(default=None, repr=False)

    def add(self, page: PreparedPage, owner: str) -> None:
        self.pages.append(page)
        self.owners.append(owner)

    def image(self, i: int) -> np.ndarray:
        """Page i's upright image: its own, else loaded by `image_of`."""
        image = self.pages[i].image
        if image.size == 0 and self.image_of is not None:
            image = self.image_of(i)
        return image


@dataclass
class Split:
    kits: list[KitPages]
    orphans: list[PreparedPage]  # pages that belong to no kit


class KitSplitter:
    """The split as a stream: push pages in scan order; a kit is handed back as soon as the
    next one opens (so it can be read and its images released), and the last by `finish`."""

    def __init__(self) -> None:
        self.current: KitPages | None = None
        self.orphans: list[PreparedPage] = []
        self._modulo1 = 0
        self._owner = "m1"

    def _open(self, kit: KitPages) -> KitPages | None:
        done, self.current = self.current, kit
        self._modulo1, self._owner = 0, "m1"
        return done

    def push(self, page: PreparedPage) -> KitPages | None:
        done = None
        if page.kind == "label":
            done = self._open(KitPages(assicurata=page.codes[0] if page.codes else None))
            self.current.add(page, "")
            return done
        if page.kind == "m1p1":
            has_sticker = bool(page.codes)
            if self.current is None or (has_sticker and self.current.codice_istanza is not None):
                done = self._open(KitPages())
            self._modulo1 += 1
            self._owner = "m1" if self._modulo1 == 1 else f"m1#{self._modulo1}"
            if has_sticker and self.current.codice_istanza is None:
                self.current.codice_istanza = page.codes[0]
        if self.current is None:
            self.orphans.append(page)
        elif page.kind.startswith("m1p"):
            self.current.add(page, self._owner)
        elif page.kind.startswith("m2p") or (page.printed_page or "").startswith("m2p"):
            self.current.add(page, "m2")
        elif (page.printed_page or "").startswith("m1p"):
            self.current.add(page, self._owner)
        else:
            self.current.add(page, "")
        return done

    def finish(self) -> KitPages | None:
        return self._open(KitPages()) if self.current is not None else None


def split_batch(pages: list[PreparedPage]) -> Split:
    """The whole batch at once (tests, tools); the runner streams with KitSplitter."""
    splitter = KitSplitter()
    kits = [k for k in map(splitter.push, pages) if k is not None]
    last = splitter.finish()
    if last is not None:
        kits.append(last)
    return Split(kits, splitter.orphans)
