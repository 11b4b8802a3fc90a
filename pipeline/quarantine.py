"""Quarantine: inputs, pages and kits that could not be read, each with its reason, kept
in the index (`storage.index.add_quarantine`) so that nothing is lost silently."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import select

from pipeline import pagestore
from pipeline.runtime import Runtime
from storage import db

log = logging.getLogger("pipeline.process")


def quarantine(rt: Runtime, batch_id: str, sha256: str, name: str, reason: str, code: str,
               pages: list[int] | None) -> None:
    """Record that an input (pages None) or some of its pages could not be read; once."""
    from storage.index import add_quarantine

    with rt.session() as s:
        add_quarantine(s, sha256=sha256, original_name=name, reason=reason, code=code,
                       pages=pages, batch_id=batch_id)
    log.warning("quarantined %s of raw %s: %s",
                "all" if pages is None else f"pages {page_ranges(pages)}", sha256[:12], code)


def kit_fault_prefix(kit_id: str) -> str:
    """How the quarantine reason of a kit that could not be read begins."""
    return f"kit {kit_id} could not be read: "


def quarantine_kit(rt: Runtime, kit_id: str, reason: str, code: str) -> None:
    """Put a kit's pages in quarantine (its reading failed for good)."""
    manifest = pagestore.load_kit_manifest(rt.store, kit_id)
    with rt.session() as s:
        names = {i.sha256: i.original_name for i in s.scalars(
            select(db.Input).where(db.Input.batch_id == manifest["batch_id"]))}
    by_input: dict[str, list[int]] = {}
    for p in manifest["pages"]:
        by_input.setdefault(p["sha256"], []).append(p["index"])
    for sha, pages in by_input.items():
        quarantine(rt, manifest["batch_id"], sha, names.get(sha, sha),
                   kit_fault_prefix(kit_id) + reason, code, pages)


def release_kit(session, kit_id: str, batch_id: str) -> None:
    """A kit read at last leaves the quarantine it was put in when its reading failed."""
    for q in session.scalars(select(db.QuarantineItem).where(
            db.QuarantineItem.batch_id == batch_id,
            db.QuarantineItem.reason.startswith(kit_fault_prefix(kit_id)))):
        session.delete(q)


def page_ranges(pages: Sequence[int]) -> str:
    """0-based page indices as 1-based ranges: [0, 1, 2, 4] -> '1-3,5'."""
    runs: list[list[int]] = []
    for p in sorted(pages):
        if runs and p == runs[-1][1] + 1:
            runs[-1][1] = p
        else:
            runs.append([p, p])
    return ",".join(f"{a + 1}" if a == b else f"{a + 1}-{b + 1}" for a, b in runs)
