"""Split a batch's prepared pages into kits (one per envelope).

The acceptance centre scans envelope after envelope. A kit opens at:

- the envelope's label page (the registered-mail receipt with the Codice Assicurata), or
- a Modulo 1 first page carrying Poste's Codice Istanza sticker when the current kit already
  has one (an envelope whose label page is missing).

A Modulo 1 first page without a sticker is a family member's Modulo 1 in the same envelope
(`m1#2`). Pages before the first kit opens belong to no kit: they go to quarantine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.pages import PreparedPage


@dataclass
class KitPages:
    """The pages of one envelope, in scan order, each with its owner (m1, m1#2...)."""

    pages: list[PreparedPage] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)
    assicurata: str | None = None
    codice_istanza: str | None = None

    def add(self, page: PreparedPage, owner: str) -> None:
        self.pages.append(page)
        self.owners.append(owner)


@dataclass
class Split:
    kits: list[KitPages]
    orphans: list[PreparedPage]  # pages that belong to no kit


def split_batch(pages: list[PreparedPage]) -> Split:
    kits: list[KitPages] = []
    orphans: list[PreparedPage] = []
    current: KitPages | None = None
    modulo1_count = 0
    owner = "m1"
    for page in pages:
        if page.kind == "label":
            current = KitPages(assicurata=page.codes[0] if page.codes else None)
            kits.append(current)
            modulo1_count, owner = 0, "m1"
            current.add(page, "")
            continue
        if page.kind == "m1p1":
            has_sticker = bool(page.codes)
            if current is None or (has_sticker and current.codice_istanza is not None):
                current = KitPages()
                kits.append(current)
                modulo1_count = 0
            modulo1_count += 1
            owner = "m1" if modulo1_count == 1 else f"m1#{modulo1_count}"
            if has_sticker and current.codice_istanza is None:
                current.codice_istanza = page.codes[0]
        if current is None:
            orphans.append(page)
            continue
        if page.kind.startswith("m1p"):
            current.add(page, owner)
        elif page.kind.startswith("m2p"):
            current.add(page, "m2")
        else:
            current.add(page, owner if page.kind == "blank" else "")
    return Split(kits, orphans)
