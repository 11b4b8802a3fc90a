"""`plico export`: the current version of each istanza in a time slice, with its anomalies'
review outcomes and the reviewers' field decisions, as JSON Lines or CSV (for ops and
integrators).

Streaming: the kits are read through `yield_per` (a server-side cursor on PostgreSQL, the
SQLite cursor stepped lazily), EXPORT_CHUNK rows at a time; each chunk's anomalies and
decisions come in one query each, and every row is written before the next chunk is read,
so memory stays flat whatever the size of the index.

JSONL: one object per istanza: the kit's index columns, `record` (the plico-record/1 JSON of
its current version, reviewers' decisions applied), `anomalies` (each with its review status,
note, who resolved it and when) and `decisions` (field confirmations and corrections).
CSV: the columns of the review app's queue export (web/queue.py, Italian labels) and three
more, `versione`, `esiti` and `decisioni`; like the queue's CSV it holds no names and no field
values.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated, Optional

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db import Anomaly, FieldDecision, Kit, RecordVersion

EXPORT_CHUNK = 200
FORMATS = ("jsonl", "csv")
CSV_EXTRA = ("versione", "esiti", "decisioni")


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


_ANOMALY_COLUMNS = (Anomaly.record_version_id, Anomaly.code, Anomaly.category,
                    Anomaly.severity, Anomaly.fields, Anomaly.pages, Anomaly.evidence,
                    Anomaly.message_it, Anomaly.message_en, Anomaly.status, Anomaly.note,
                    Anomaly.resolved_by, Anomaly.resolved_at)
_DECISION_COLUMNS = (FieldDecision.kit_id, FieldDecision.field_key, FieldDecision.action,
                     FieldDecision.value_before, FieldDecision.value_after,
                     FieldDecision.user_name, FieldDecision.at)
_KIT_COLUMNS = (Kit.id, Kit.batch_id, Kit.number, Kit.codice_istanza, Kit.assicurata,
                Kit.questura, Kit.status, Kit.max_severity, Kit.anomaly_count, Kit.created_at,
                Kit.updated_at, RecordVersion.id.label("version_id"),
                RecordVersion.pipeline_version, RecordVersion.record_sha256,
                RecordVersion.record)


def iter_istanze(session: Session, *, since: dt.date | None = None, until: dt.date | None = None,
                 questure: list[str] | None = None, status: list[str] | None = None,
                 chunk: int = EXPORT_CHUNK) -> Iterator[dict]:
    """The istanze of the slice, oldest first, as the JSONL export writes them. Columns, not
    ORM objects, are read: nothing piles up in the session's identity map."""
    from storage.index import kits_query

    kits = kits_query(questure=questure or None, status=status or None, since=since,
                      until=until).where(Kit.current_version_id.is_not(None))
    query = kits.with_only_columns(*_KIT_COLUMNS).join(
        RecordVersion, RecordVersion.id == Kit.current_version_id)
    result = session.execute(query.execution_options(yield_per=chunk))
    for part in result.partitions():
        anomalies: dict[int, list[dict]] = {r.version_id: [] for r in part}
        for a in session.execute(select(*_ANOMALY_COLUMNS).where(
                Anomaly.record_version_id.in_(list(anomalies))).order_by(Anomaly.id)):
            anomalies[a.record_version_id].append({
                "code": a.code, "category": a.category, "severity": a.severity,
                "fields": a.fields, "pages": a.pages, "evidence": a.evidence,
                "message_it": a.message_it, "message_en": a.message_en, "status": a.status,
                "note": a.note, "resolved_by": a.resolved_by,
                "resolved_at": _iso(a.resolved_at)})
        decisions: dict[str, list[dict]] = {r.id: [] for r in part}
        for d in session.execute(select(*_DECISION_COLUMNS).where(
                FieldDecision.kit_id.in_(list(decisions)))
                .order_by(FieldDecision.at, FieldDecision.id)):
            decisions[d.kit_id].append({
                "field": d.field_key, "action": d.action, "value_before": d.value_before,
                "value_after": d.value_after, "user": d.user_name, "at": _iso(d.at)})
        for r in part:
            yield {"kit": r.id, "batch": r.batch_id, "number": r.number,
                   "codice_istanza": r.codice_istanza, "codice_assicurata": r.assicurata,
                   "questura": r.questura, "stato": r.status, "gravita": r.max_severity,
                   "anomalie_aperte": r.anomaly_count, "ricevuta_il": _iso(r.created_at),
                   "aggiornata_il": _iso(r.updated_at), "pipeline_version": r.pipeline_version,
                   "record_sha256": r.record_sha256, "record": r.record,
                   "anomalies": anomalies[r.version_id], "decisions": decisions[r.id]}


def csv_header() -> tuple[str, ...]:
    from web.queue import CSV_COLUMNS

    return (*CSV_COLUMNS, *CSV_EXTRA)


def csv_row(item: dict) -> list[str]:
    """One istanza as a CSV row: the queue export's columns (its live anomaly codes in
    `codici`), then the pipeline version, each anomaly's `code:status`, and the number of
    field decisions. Cells that a spreadsheet would run are quoted as the queue's are."""
    from storage.status import LIVE
    from web.queue import _cell

    live = []
    for a in item["anomalies"]:
        if a["status"] in LIVE and a["code"] not in live:
            live.append(a["code"])
    outcomes = " ".join(f"{a['code']}:{a['status']}" for a in item["anomalies"])
    return [_cell(v) for v in (
        item["kit"], item["codice_istanza"], item["codice_assicurata"], item["questura"],
        item["stato"], item["gravita"], item["anomalie_aperte"], " ".join(live),
        item["ricevuta_il"] or "", item["pipeline_version"], outcomes, len(item["decisions"]))]


def write_export(rows: Iterator[dict], out: IO[str], fmt: str) -> int:
    """Write the rows to `out` as `fmt` (jsonl or csv); the number written."""
    n = 0
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(csv_header())
        for item in rows:
            writer.writerow(csv_row(item))
            n += 1
        return n
    for item in rows:
        out.write(json.dumps(item, ensure_ascii=False, sort_keys=True, default=str) + "\n")
        n += 1
    return n


@contextmanager
def _open_out(out: Path) -> Iterator[IO[str]]:
    """`-` is stdout; a file is written beside itself and renamed when complete."""
    if str(out) == "-":
        yield sys.stdout
        return
    tmp = out.with_name(f".{out.name}.part")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            yield fh
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def _day(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not a date (YYYY-MM-DD): {value!r}", param_hint=option) from None


def export(
    out: Annotated[Path, typer.Option("--out", help="File to write (- for stdout).")],
    since: Annotated[Optional[str], typer.Option(
        "--since", help="First day (YYYY-MM-DD) the istanza was received, inclusive.")] = None,
    until: Annotated[Optional[str], typer.Option(
        "--until", help="Last day (YYYY-MM-DD) the istanza was received, inclusive.")] = None,
    questura: Annotated[Optional[list[str]], typer.Option(
        "--questura", help="Province code (e.g. RM); repeat for several.")] = None,
    status: Annotated[Optional[list[str]], typer.Option(
        "--status", help="da_verificare, in_lavorazione or verificata; repeat for several.",
    )] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
) -> None:
    """The current version of each istanza received in [--since, --until], with its
    anomalies' review outcomes and the field decisions, as JSON Lines or CSV (streamed)."""
    from sqlalchemy.engine import make_url

    from pipeline.errors import ConfigError, InputNotFoundError
    from pipeline.settings import get_settings
    from storage.db import (current_revision, database_url, engine_for, head_revision,
                            session_scope)
    from storage.status import STATUSES

    if fmt not in FORMATS:
        raise typer.BadParameter(f"must be jsonl or csv, not {fmt!r}", param_hint="--format")
    for s in status or ():
        if s not in STATUSES:
            raise typer.BadParameter(f"must be one of {', '.join(STATUSES)}, not {s!r}",
                                     param_hint="--status")
    first, last = _day(since, "--since"), _day(until, "--until")
    url = database_url(get_settings())
    where = make_url(url).render_as_string(hide_password=True)
    current, head = current_revision(url), head_revision()
    if current is None:
        raise InputNotFoundError(f"no index at {where} (set PLICO_DATABASE_URL or "
                                 "PLICO_DATA_DIR)")
    if current != head:
        raise ConfigError(f"the index at {where} is at revision {current}, this code at "
                          f"{head}: run `plico db upgrade`")
    with session_scope(engine_for(url), write=False) as session, _open_out(out) as fh:
        n = write_export(iter_istanze(session, since=first, until=last, questure=questura,
                                      status=status), fh, fmt)
    if str(out) != "-":
        typer.echo(f"{n} istanze -> {out}", err=True)


def register(app: typer.Typer) -> None:
    """Add `plico export` to the main command."""
    app.command("export")(export)

