"""Index queries: save a kit's record (idempotent per pipeline version), find kits, read
records, keep the audit trail. Used by the in-process run, the workers, `plico reprocess` and
the review app alike.

Idempotency: one `record_versions` row per (kit, pipeline version), enforced by a unique
constraint. A second save of the same version (a redelivered message, a re-run) returns the
existing row and changes nothing; when two workers race, the loser's insert fails inside a
savepoint, it re-reads the winner's row and re-writes the winner's bytes to the object store,
so the object `records/<kit_id>/<version>.json` always matches `record_sha256`.

Reviewers' field decisions survive reprocessing: when a new version is saved, each decision
of the kit (latest per field) is re-applied where the new reading agrees (its value equals the
decision's `value_before` or already its `value_after`): the field gets `value_after`,
confidence 1.0, status accepted. Where the new reading differs, the field is set to status
`review` and is to be checked again: the kit goes back to the queue. The version's `decisions`
column lists both (`{"applied": [...], "flagged": [...]}`). Anomaly resolutions carry over the
same way when the new version raises the same anomaly (code, fields, pages).

Every saved version recomputes the kit's status, anomaly_count and max_severity with the one
rule of storage/status.py (the review app uses it too): a kit read clean is `verificata`, a
verificata kit whose new version raises a live anomaly goes back to the queue.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from typing import Any

from sqlalchemy import Select, and_, exists, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage import status as kit_status
from storage.db import (
    Anomaly,
    AuditEvent,
    Batch,
    FieldDecision,
    Kit,
    QuarantineItem,
    RecordVersion,
    utcnow,
)

log = logging.getLogger(__name__)

QUESTURA_FIELD = "m1.questore_sigla"


class RecordNotFoundError(LookupError):
    """No such kit, or no record of that version."""


def record_key(kit_id: str, pipeline_version: str) -> str:
    """The object store key of a kit's record JSON."""
    return f"records/{kit_id}/{pipeline_version}.json"


def kit_id_for(batch_id: str, number: int) -> str:
    """`<batch_id>-<number:04d>`, the id of a batch's kit."""
    return f"{batch_id}-{number:04d}"


def envelope_key(assicurata: str | None, pages) -> str:
    """An envelope's identity (`kits.envelope`): the SHA-256 of its Codice Assicurata and its
    pages as (input SHA-256, page index) in scan order. The same envelope read again, alone
    or within another batch, has the same key."""
    text = (assicurata or "") + "|" + ",".join(f"{sha}:{int(index)}" for sha, index in pages)
    return hashlib.sha256(text.encode()).hexdigest()


def source_key(shas) -> str | None:
    """What a batch read (`batches.source_sha256`): the one input's SHA-256, or the SHA-256
    of the inputs' hashes in order; None for a batch of no stored input."""
    shas = list(shas)
    if len(shas) <= 1:
        return shas[0] if shas else None
    return hashlib.sha256("\n".join(shas).encode()).hexdigest()


def record_bytes(record: dict) -> bytes:
    """The canonical serialisation (sorted keys, UTF-8): the same dict, the same bytes."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _insert_ignore(session: Session, model, values: dict) -> None:
    """INSERT ... ON CONFLICT DO NOTHING (workers may race to create the same row)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        stmt = insert(model).values(**values)
        try:
            with session.begin_nested():
                session.execute(stmt)
        except IntegrityError:
            pass
        return
    session.execute(dialect_insert(model).values(**values).on_conflict_do_nothing())


def ensure_batch(session: Session, batch_id: str, *, name: str | None = None,
                 status: str = "running") -> Batch:
    """The batch row of `batch_id`, created if missing."""
    _insert_ignore(session, Batch, {"id": batch_id, "name": name or batch_id, "status": status,
                                    "created_at": utcnow()})
    return session.get(Batch, batch_id, populate_existing=True)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).lower() == str(b).lower()
    return a == b


def _apply_decisions(session: Session, kit_id: str, record: dict) -> dict[str, list[str]]:
    """Re-apply the kit's latest decision per field to `record` (in place)."""
    decisions = session.scalars(
        select(FieldDecision).where(FieldDecision.kit_id == kit_id)
        .order_by(FieldDecision.at, FieldDecision.id)
    ).all()
    latest = {d.field_key: d for d in decisions}
    applied, flagged = [], []
    for key, decision in sorted(latest.items()):
        fv = record["fields"].get(key)
        if fv is None:
            flagged.append(key)
            continue
        if _same(fv["value"], decision.value_before) or _same(fv["value"], decision.value_after):
            fv.update(value=decision.value_after, confidence=1.0, status="accepted")
            applied.append(key)
        else:
            fv["status"] = "review"
            flagged.append(key)
    return {"applied": applied, "flagged": flagged}


def save_record(session: Session, record, *, batch_id: str, kit_id: str, store) -> RecordVersion:
    """Save `record` (a `pipeline.record.Record` or its dict) as the kit's version of its
    pipeline version: object `records/<kit_id>/<version>.json`, a `record_versions` row, its
    anomalies, the kit's summary columns. Idempotent per (kit_id, pipeline_version): a second
    save returns the existing row unchanged."""
    data = record.model_dump(mode="json") if hasattr(record, "model_dump") else dict(record)
    data = json.loads(json.dumps(data))  # a private deep copy: decisions are applied to it
    version = data["pipeline_version"]
    existing = session.scalar(select(RecordVersion).where(
        RecordVersion.kit_id == kit_id, RecordVersion.pipeline_version == version))
    if existing is not None:
        log.debug("kit %s version %s already saved", kit_id, version)
        return existing

    ensure_batch(session, batch_id)
    kit_info = data["kit"]
    _insert_ignore(session, Kit, {"id": kit_id, "batch_id": batch_id,
                                  "number": int(kit_info["number"]), "created_at": utcnow(),
                                  "updated_at": utcnow()})
    kit = session.get(Kit, kit_id, populate_existing=True, with_for_update=True)
    previous = session.get(RecordVersion, kit.current_version_id) if kit.current_version_id \
        else None

    outcome = _apply_decisions(session, kit_id, data)
    key = record_key(kit_id, version)
    body = record_bytes(data)
    sha256 = store.put(key, body, "application/json")
    row = RecordVersion(kit_id=kit_id, pipeline_version=version, record=data, record_key=key,
                        record_sha256=sha256, decisions=outcome, created_at=utcnow())
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        # another worker saved this version first: its row wins, and its bytes in the store
        winner = session.scalar(select(RecordVersion).where(
            RecordVersion.kit_id == kit_id, RecordVersion.pipeline_version == version))
        if winner is None:
            raise
        store.put(key, record_bytes(winner.record), "application/json")
        log.info("kit %s version %s was saved concurrently; kept the first", kit_id, version)
        return winner

    resolved = {}
    if previous is not None:
        for a in session.scalars(select(Anomaly).where(
                Anomaly.record_version_id == previous.id, Anomaly.status != "aperta")):
            resolved[(a.code, tuple(a.fields), tuple(a.pages))] = a
    rows = []
    for a in data["anomalies"]:
        before = resolved.get((a["code"], tuple(a["fields"]), tuple(a["pages"])))
        rows.append(Anomaly(
            record_version_id=row.id, kit_id=kit_id, code=a["code"], category=a["category"],
            severity=a["severity"], fields=a["fields"], pages=a["pages"],
            evidence=a["evidence"], message_it=a["message_it"], message_en=a["message_en"],
            status=before.status if before else "aperta", note=before.note if before else None,
            resolved_by=before.resolved_by if before else None,
            resolved_at=before.resolved_at if before else None))
    session.add_all(rows)

    questura = data["fields"].get(QUESTURA_FIELD, {}).get("value")
    kit.number = int(kit_info["number"])
    kit.assicurata = kit_info.get("assicurata")
    kit.codice_istanza = kit_info.get("codice_istanza")
    kit.questura = (questura.strip().upper()[:2] or None) if isinstance(questura, str) else None
    kit_status.apply(kit, kit_status.summarise(rows, in_force=outcome["applied"],
                                                 flagged=outcome["flagged"],
                                                 fields=data["fields"]))
    kit.current_version_id = row.id
    kit.updated_at = utcnow()
    session.flush()
    log.info("kit %s: saved version %s (%d anomalies, %d live, %d decisions re-applied, "
             "%d flagged): %s", kit_id, version, len(rows), kit.anomaly_count,
             len(outcome["applied"]), len(outcome["flagged"]), kit.status)
    return row


def _day_bound(value: dt.date | dt.datetime, *, end: bool) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    day = dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)
    return day + dt.timedelta(days=1) if end else day


def _as_list(value) -> list | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def kits_query(session: Session | None = None, *, questure=None, status=None, code=None,
               batch=None, since: dt.date | dt.datetime | None = None,
               until: dt.date | dt.datetime | None = None, pipeline_version=None,
               assicurata=None) -> Select:
    """A SELECT of `Kit` rows matching every filter given (each may be a value or a list):

    questure: province codes; status: kit status; code: an anomaly code of the kit's current
    version; batch: batch id; since/until: when the kit was first saved (a date counts whole
    days, `until` inclusive; a datetime is exact, `until` exclusive); pipeline_version: the
    version of the kit's current record; assicurata: the envelope's number.
    Ordered by creation time and id. `session` is accepted for symmetry and not needed.
    """
    query = select(Kit)
    conditions = []
    if (values := _as_list(questure)) is not None:
        conditions.append(Kit.questura.in_([v.upper() for v in values]))
    if (values := _as_list(status)) is not None:
        conditions.append(Kit.status.in_(values))
    if (values := _as_list(batch)) is not None:
        conditions.append(Kit.batch_id.in_(values))
    if (values := _as_list(assicurata)) is not None:
        conditions.append(Kit.assicurata.in_(values))
    if since is not None:
        conditions.append(Kit.created_at >= _day_bound(since, end=False))
    if until is not None:
        conditions.append(Kit.created_at < _day_bound(until, end=True))
    if (values := _as_list(code)) is not None:
        conditions.append(exists().where(and_(
            Anomaly.record_version_id == Kit.current_version_id, Anomaly.code.in_(values))))
    if (values := _as_list(pipeline_version)) is not None:
        conditions.append(exists().where(and_(
            RecordVersion.id == Kit.current_version_id,
            RecordVersion.pipeline_version.in_(values))))
    if conditions:
        query = query.where(*conditions)
    return query.order_by(Kit.created_at, Kit.id)


def record_version_of(session: Session, kit_id: str, version: str | None = None) -> RecordVersion:
    """The kit's current record version row, or that of pipeline `version`."""
    if version is None:
        kit = session.get(Kit, kit_id)
        if kit is None or kit.current_version_id is None:
            raise RecordNotFoundError(f"no record of kit {kit_id}")
        return session.get(RecordVersion, kit.current_version_id)
    row = session.scalar(select(RecordVersion).where(
        RecordVersion.kit_id == kit_id, RecordVersion.pipeline_version == version))
    if row is None:
        raise RecordNotFoundError(f"no record of kit {kit_id} at version {version}")
    return row


def record_of(session: Session, kit_id: str, version: str | None = None) -> dict:
    """The record JSON (plico-record/1 dict) of the kit: current, or of pipeline `version`."""
    return record_version_of(session, kit_id, version).record


_CODE_SEPARATORS = str.maketrans("", "", " -./")


def kits_by_code(session: Session, code: str) -> list[Kit]:
    """The kits with a record that `code` names, newest first: a Codice Assicurata (12 digits;
    the receipt prints a dash before the last one, spaces and dashes are ignored), a Codice
    Istanza, or a kit id. An envelope scanned in two batches has two kits (`plico show` shows
    the newest and names the others)."""
    raw = (code or "").strip()
    clean = raw.translate(_CODE_SEPARATORS).upper()
    query = select(Kit).where(Kit.current_version_id.is_not(None))
    if clean.isdigit() and len(clean) == 12:
        query = query.where(or_(Kit.assicurata == clean, Kit.codice_istanza == clean))
    else:
        query = query.where(or_(Kit.id == raw, Kit.codice_istanza == clean))
    return list(session.scalars(query.order_by(Kit.created_at.desc(), Kit.id.desc())))


def versions_of(session: Session, kit_id: str) -> list[str]:
    """The pipeline versions a kit has records of, oldest first."""
    return list(session.scalars(select(RecordVersion.pipeline_version)
                                .where(RecordVersion.kit_id == kit_id)
                                .order_by(RecordVersion.id)))


def add_audit(session: Session, user_name: str | None, action: str, kit_id: str | None = None,
              *, remote: str | None = None, **detail: Any) -> AuditEvent:
    """Record who did or saw what. `detail` is JSON: ids, before/after values, never logged."""
    event = AuditEvent(at=utcnow(), user_name=user_name, action=action, kit_id=kit_id,
                       detail=json.loads(json.dumps(detail, default=str)), remote=remote)
    session.add(event)
    session.flush()
    return event


def add_quarantine(session: Session, *, sha256: str, original_name: str, reason: str, code: str,
                   pages: list[int] | None = None, batch_id: str | None = None) -> QuarantineItem:
    """Record a quarantined input (or pages of it); the same entry again adds nothing."""
    pages = sorted(pages) if pages is not None else None
    for item in session.scalars(select(QuarantineItem).where(
            QuarantineItem.sha256 == sha256, QuarantineItem.code == code,
            QuarantineItem.reason == reason, QuarantineItem.batch_id.is_(None) if batch_id is None
            else QuarantineItem.batch_id == batch_id)):
        if item.pages == pages:
            return item
    item = QuarantineItem(batch_id=batch_id, sha256=sha256, original_name=original_name,
                          reason=reason, code=code, pages=pages, at=utcnow())
    session.add(item)
    session.flush()
    return item
