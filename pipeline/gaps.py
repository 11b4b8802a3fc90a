"""Form pages placed by their position in the kit.

A Modulo 1 copy is scanned in page order, and so is a Modulo 2. A page that neither
registered to the form model nor showed a printed footer (`pipeline.pages.prepare_page`)
is taken for an attachment; when it sits where a form page of the kit is missing (after
page 3 and before page 5 of the same copy, with page 4 nowhere), it is most likely that
page, too faint, folded or torn to register at the usual score. Such a page is examined
again: registered against the missing pages alone, at the score a footer's word earns
(`pages.FOOTER_MIN_SCORE`); if none registers, the gap holds as many such pages as it lacks
form pages and each shows a grid of cells, each is taken for its missing page by
position, unread: the record lists it as `unreadable_page` with every field of the page
not read, never an attachment beside a blocking `missing_form_pages`. After a copy's last
page present only registration at the usual score places a page: the photocopies follow
the form, and a copy that lacks its last page is followed by one of them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

import numpy as np

from extractors import register
from pipeline.form.model import PAGE_COUNT
from pipeline.pages import FOOTER_MIN_SCORE, PreparedPage
from pipeline.split import KitPages

log = logging.getLogger(__name__)

#: Kinds a misclassified form page can have come out as.
_STRAYS = ("attachment", "unknown")


def _form_page(page: PreparedPage) -> str | None:
    kind = page.kind if page.registration is not None else (page.printed_page or "")
    return kind if kind[:2] in PAGE_COUNT and kind[2:3] == "p" else None


#: Cell-sized boxes a page must show to be taken for a form page by its position.
MIN_GRID_BOXES = 20


def _has_grid(image: np.ndarray, dpi: int) -> bool:
    """The page shows a form's grid of cells (a photocopy of a document does not)."""
    return len(register.detect_boxes(image, dpi)) >= MIN_GRID_BOXES


def gaps(kit: KitPages) -> list[tuple[str, list[str], list[int], bool]]:
    """Per form copy (owner) and gap between two of its pages present: the owner, the form
    pages missing there, the scan indexes of the stray pages (attachments and pages not
    placed, blank sides left out) lying between them, and whether the gap is closed by a
    page after it. The last pages of a copy count too (not closed): what follows its last
    page present up to the next page that is not a stray."""
    present: dict[str, dict[int, int]] = {}
    for i, (page, owner) in enumerate(zip(kit.pages, kit.owners)):
        name = _form_page(page)
        if name is not None:
            present.setdefault(owner or name[:2], {})[int(name[3:])] = i
    out = []
    for owner, pages in present.items():
        form = owner[:2]
        numbers = sorted(pages)
        bounds = list(zip(numbers, numbers[1:])) + [(numbers[-1], PAGE_COUNT[form] + 1)]
        for lo, hi in bounds:
            missing = [f"{form}p{n}" for n in range(lo + 1, hi)]
            if not missing:
                continue
            start = pages[lo] + 1
            stop = pages[hi] if hi in pages else len(kit.pages)
            strays = []
            closed = hi in pages
            for i in range(start, stop):
                page = kit.pages[i]
                if page.blank or page.kind == "blank":
                    continue
                if page.kind not in _STRAYS or page.printed_page:
                    closed = False  # another kind of page between: not a run of strays
                    break
                strays.append(i)
            if strays:
                out.append((owner, missing, strays, closed))
    return out


def place_gaps(kit: KitPages, image_of: Callable[[int], np.ndarray]) -> list[int]:
    """Re-examine the stray pages in the kit's form-page gaps (`gaps`), in place; `image_of`
    gives a page's upright image by scan index. Returns the indexes of the pages placed."""
    placed = []
    for owner, missing, strays, closed in gaps(kit):
        left = list(missing)
        unplaced = []
        images = {}
        for i in strays:
            if not left:
                break
            page = kit.pages[i]
            images[i] = image = image_of(i)
            # after the copy's last page no page of it follows to vouch for the stray: the
            # usual score
            reg = register.register(image, page.dpi, candidates=tuple(left),
                                    min_score=FOOTER_MIN_SCORE if closed else register.MIN_SCORE)
            if reg is None:
                unplaced.append(i)
                continue
            kit.pages[i] = dataclasses.replace(page, kind=reg.page, registration=reg,
                                               image=image, printed_page=None)
            kit.owners[i] = owner
            left.remove(reg.page)
            placed.append(i)
            log.info("page %d placed as %s by its position (score %.2f)", i, reg.page, reg.score)
        # by position only between two pages of the copy, where none registered (their
        # order would then be in doubt) and each shows a form's grid of cells: after its
        # last page come the photocopies, and a copy whose last page is missing is
        # followed by one of them
        if (closed and unplaced and len(unplaced) == len(strays) == len(left)
                and all(_has_grid(images[i], kit.pages[i].dpi) for i in unplaced)):
            for i, name in zip(unplaced, left):
                kit.pages[i] = dataclasses.replace(kit.pages[i], kind="unknown",
                                                   printed_page=name)
                kit.owners[i] = owner
                placed.append(i)
                log.info("page %d taken for %s by its position, unread", i, name)
    return sorted(placed)
