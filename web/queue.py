"""The review queue: the istanze a user may see that still ask something of a reviewer (status
da_verificare or in_lavorazione: by the rule of storage/status.py, a live anomaly or a field to
check again), most severe and oldest first; filters, counts per anomaly code, pages of rows and
the CSV export of the same rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session

from storage.db import Anomaly, Kit
from storage.index import kits_query
from storage.status import LIVE, STATUSES
from web.auth import as_rome

PAGE_SIZE = 25


@dataclass
class Filters:
    code: str = ""
    status: str = ""  # "" = still to work (da_verificare, in_lavorazione); "tutte" = all
    batch: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    page: int = 1

    def query(self, **override) -> dict[str, str]:
        """The filters as URL parameters (empty ones left out)."""
        d = {"code": self.code, "status": self.status, "batch": self.batch,
             "since": self.since.isoformat() if self.since else "",
             "until": self.until.isoformat() if self.until else "", "page": str(self.page)}
        d.update({k: str(v) for k, v in override.items()})
        return {k: v for k, v in d.items() if v and not (k == "page" and v == "1")}


@dataclass
class QueueRow:
    kit: Kit
    codes: list[str]


@dataclass
class QueuePage:
    rows: list[QueueRow]
    total: int
    page: int
    pages: int
    counts: list[tuple[str, int]] = field(default_factory=list)


def _base(questure: list[str] | None, f: Filters) -> Select:
    """The kits of the filters (all but the anomaly code), unordered."""
    if f.status in STATUSES:
        status = f.status
    elif f.status == "tutte":
        status = None
    else:
        status = ["da_verificare", "in_lavorazione"]
    return kits_query(questure=questure, status=status, batch=f.batch or None, since=f.since,
                      until=f.until).order_by(None).where(Kit.current_version_id.is_not(None))


def _live_anomaly():
    return and_(Anomaly.record_version_id == Kit.current_version_id, Anomaly.status.in_(LIVE))


def _with_code(q: Select, code: str) -> Select:
    if not code:
        return q
    return q.where(select(Anomaly.id).where(_live_anomaly(), Anomaly.code == code).exists())


_SEVERITY = case({"blocking": 0, "warning": 1, "info": 2}, value=Kit.max_severity, else_=3)


def queue(db: Session, questure: list[str] | None, f: Filters, *,
          page_size: int | None = PAGE_SIZE) -> QueuePage:
    """One page of the queue (page_size None: every row, for the export)."""
    base = _base(questure, f)
    q = _with_code(base, f.code)
    total = db.scalar(select(func.count()).select_from(q.subquery())) or 0
    ordered = q.order_by(_SEVERITY, Kit.created_at, Kit.id)
    pages = max(1, -(-total // page_size)) if page_size else 1
    page = min(max(1, f.page), pages)
    if page_size:
        ordered = ordered.offset((page - 1) * page_size).limit(page_size)
    kits = db.scalars(ordered).all()
    codes: dict[str, list[str]] = {k.id: [] for k in kits}
    if kits:
        for kit_id, code in db.execute(
                select(Anomaly.kit_id, Anomaly.code).join(
                    Kit, Kit.current_version_id == Anomaly.record_version_id)
                .where(Anomaly.kit_id.in_(list(codes)), Anomaly.status.in_(LIVE))
                .order_by(Anomaly.id)):
            if code not in codes[kit_id]:
                codes[kit_id].append(code)
    ids = base.with_only_columns(Kit.id).subquery()
    counts = db.execute(
        select(Anomaly.code, func.count(func.distinct(Anomaly.kit_id)))
        .join(Kit, Kit.current_version_id == Anomaly.record_version_id)
        .where(Anomaly.status.in_(LIVE), Kit.id.in_(select(ids.c.id)))
        .group_by(Anomaly.code).order_by(func.count(func.distinct(Anomaly.kit_id)).desc(),
                                         Anomaly.code)).all()
    return QueuePage(rows=[QueueRow(k, codes[k.id]) for k in kits], total=total, page=page,
                     pages=pages, counts=[(c, n) for c, n in counts])


CSV_COLUMNS = ("kit", "codice_istanza", "codice_assicurata", "questura", "stato", "gravita",
               "anomalie_aperte", "codici", "ricevuta_il")


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run: text starting with = + - @ is quoted with '
    (a batch name, part of the kit id, comes from whoever named the scan file)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(result: QueuePage) -> str:
    """The queue's rows as CSV: the columns the page shows, no more (no names, no values)."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(CSV_COLUMNS)
    for r in result.rows:
        k = r.kit
        w.writerow([_cell(v) for v in (
            k.id, k.codice_istanza, k.assicurata, k.questura, k.status, k.max_severity,
            k.anomaly_count, " ".join(r.codes),
            as_rome(k.created_at).isoformat(timespec="seconds") if k.created_at else "")])
    return out.getvalue()
