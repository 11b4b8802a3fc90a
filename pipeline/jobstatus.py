"""`plico status`: recent batches, their jobs counted by kind and state, and the quarantine
with its reasons; for one batch, whether every page is in a kit record or in quarantine."""

from __future__ import annotations

from sqlalchemy import func, select

from storage import db


def status_report(rt, batch_id: str | None = None, limit: int = 20) -> str:
    """`plico status`: batches, job counts by kind and status, quarantine reasons."""
    from pipeline.process import account_pages
    from pipeline.quarantine import page_ranges
    from storage.objects import StorageUnavailableError

    lines = []
    # before the session below: SQLite lets one transaction at a time write, and every
    # session here begins as a writer
    try:
        problems = account_pages(rt, batch_id) if batch_id else []
    except StorageUnavailableError as exc:
        # the status of a batch that failed because the store is down must still be shown
        problems = [f"pages not accounted: {exc}"]
    with rt.session() as s:
        batches = select(db.Batch).order_by(db.Batch.created_at.desc()).limit(limit)
        if batch_id:
            batches = select(db.Batch).where(db.Batch.id == batch_id)
        rows = s.scalars(batches).all()
        if batch_id and not rows:
            from pipeline.errors import InputNotFoundError

            raise InputNotFoundError(f"no batch {batch_id}")
        lines.append(f"{'batch':28} {'status':8} {'pages':>5} {'kits':>4}  name")
        for b in rows:
            lines.append(f"{b.id:28} {b.status:8} {b.pages:5d} {b.kits:4d}  {b.name}")
            if b.error:  # inputs never stored (missing, a pipe...), or why the batch failed
                lines.append(f"{'':28} {b.error}")
        counts = select(db.Job.kind, db.Job.status, func.count()).group_by(db.Job.kind,
                                                                          db.Job.status)
        if batch_id:
            counts = counts.where(db.Job.batch_id == batch_id)
        table: dict[str, dict[str, int]] = {}
        for kind, state, n in s.execute(counts):
            table.setdefault(kind, {})[state] = n
        states = ("queued", "running", "done", "failed", "quarantined")
        lines.append("")
        lines.append(f"{'jobs':8}" + "".join(f"{st:>12}" for st in states))
        for kind in ("batch", "pages", "kit"):
            if kind in table:
                lines.append(f"{kind:8}" + "".join(f"{table[kind].get(st, 0):12d}" for st in states))
        failed = select(db.Job).where(db.Job.status.in_(("failed", "quarantined")))
        if batch_id:
            failed = failed.where(db.Job.batch_id == batch_id)
        for job in s.scalars(failed.order_by(db.Job.id.desc()).limit(limit)):
            lines.append(f"  {job.status} {job.kind} {job.kit_id or job.batch_id}: {job.error}")
        if batch_id:
            lines.append("")
            lines.append("every page in one kit record or in quarantine" if not problems else
                         f"{len(problems)} pages not accounted for (yet): " + "; ".join(problems[:5]))
        q = select(db.QuarantineItem).order_by(db.QuarantineItem.id.desc()).limit(limit)
        if batch_id:
            q = q.where(db.QuarantineItem.batch_id == batch_id)
        items = s.scalars(q).all()
        lines.append("")
        lines.append(f"quarantine ({len(items)} shown):")
        for item in items:
            pages = "all pages" if item.pages is None else "pages " + page_ranges(item.pages)
            reason = item.reason.removeprefix(f"{item.original_name}: ")  # named once
            lines.append(f"  {item.batch_id or '-'} {item.original_name} ({pages}) "
                         f"{item.code}: {reason}")
    return "\n".join(lines)
