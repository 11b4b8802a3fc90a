"""The reviewer's view of an istanza: the pipeline's record with the reviewers' decisions laid
on top, re-validated, and the anomaly rows and the kit's status kept in step with it.

The stored record version is never changed. A decision is a `field_decisions` row; the view is
rebuilt from the record and those rows whenever it is needed, and `validators.rules.validate`
runs on it again, so a corrected value raises or clears anomalies exactly as the pipeline
would have. Anomaly rows of the current version follow the view:

- raised by the view and already a row (same code, fields and pages): kept as it is;
- raised and new: a new row, `aperta`;
- an `aperta` row the view no longer raises: `superata` (closed by a correction, with who and
  when), reopened as `aperta` if a later correction raises it again;
- rows a reviewer resolved stay resolved.

The istanza's status, anomaly count and severity follow the one rule of storage/status.py (the
index applies the same one when it saves a record version): `verificata` when nothing is live
(no `aperta`, no `integrazione_richiesta`, no field to check again), `in_lavorazione` once a
reviewer has decided something while something is still live, `da_verificare` before that.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.form import FieldKind, load_form_model
from pipeline.record import Anomaly as RecordAnomaly
from pipeline.record import Record
from storage import status as kit_status
from storage.db import Anomaly, FieldDecision, Kit, RecordVersion, utcnow
from storage.index import QUESTURA_FIELD
from storage.status import LIVE, OPEN
from validators.coded_tables import is_valid
from validators.rules import validate

RESOLUTIONS = ("accettata", "integrazione_richiesta", "respinta")
SUPERSEDED = "superata"  # no longer raised once a field was corrected
# the reader's anomalies: validate() does not raise them, the view keeps them from the record
READER_CODES = frozenset({"missing_assicurata", "unreadable_page", "low_confidence_field"})


class DecisionError(ValueError):
    """A decision that cannot be taken (unknown field, bad value, bad resolution).

    `key` and `params` name the reason for the interface's strings (err_<key>); the
    exception's text is the English one the API answers."""

    def __init__(self, key: str, text: str, **params: str) -> None:
        super().__init__(text)
        self.key, self.params = key, params


@dataclass
class IstanzaView:
    kit: Kit
    version: RecordVersion
    original: Record
    record: Record  # decisions applied
    decisions: dict[str, FieldDecision] = field(default_factory=dict)  # latest per field
    anomalies: list[Anomaly] = field(default_factory=list)  # rows of the current version

    @property
    def open_anomalies(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.status == OPEN]


def _model_key(key: str) -> str:
    """m1#2.31 -> m1.31 (a family member's Modulo 1 has the applicant's fields)."""
    form, _, fid = key.partition(".")
    return f"{form.split('#')[0]}.{fid}"


def form_field(key: str):
    try:
        return load_form_model().field(_model_key(key))
    except KeyError:
        return None


def normalise_value(key: str, raw: str) -> str | bool:
    """A reviewer's typed value in the record's normal form (pipeline/normalise.py)."""
    f = form_field(key)
    kind = f.kind if f is not None else FieldKind.TEXT
    raw = raw.strip()
    if kind in (FieldKind.CHECK, FieldKind.SIGNATURE):
        if f is not None and f.options:
            names = {name for name, _ in f.options}
            if raw.upper() not in names | {""}:
                raise DecisionError("options", f"one of {sorted(names)} or empty",
                                    options=", ".join(sorted(names)))
            return raw.upper()
        if raw.lower() in ("true", "1", "si", "sì", "yes", "x"):
            return True
        if raw.lower() in ("false", "0", "no", ""):
            return False
        raise DecisionError("bool", "true or false")
    if kind == FieldKind.DATE:
        if not raw:
            return ""
        m = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", raw) or re.fullmatch(
            r"(\d{2})(\d{2})(\d{4})", raw)
        try:
            if m:
                return dt.date(int(m[3]), int(m[2]), int(m[1])).isoformat()
            return dt.date.fromisoformat(raw).isoformat()
        except ValueError as exc:
            raise DecisionError("date", "a real date, DD/MM/YYYY") from exc
    if kind in (FieldKind.DIGITS, FieldKind.CODE):
        return re.sub(r"\s+", "", raw).upper()
    return re.sub(r" +", " ", raw.upper())


def _applied(version: RecordVersion, decisions: list[FieldDecision]) -> list[FieldDecision]:
    """The decisions in force on this version: taken on it, or carried over when the index
    saved it (storage.index re-applies, per field, those whose reading still agrees and lists
    those fields in `decisions["applied"]`; their values are already in the record)."""
    carried = set((version.decisions or {}).get("applied", []))
    return [d for d in decisions if d.record_version_id == version.id or d.field_key in carried]


_RECORDS_KEPT = 64
# (engine, record version id) -> its parsed record: one process may serve several indexes
# one after the other (the tests do), whose version ids overlap
_records: OrderedDict[tuple[str, int], Record] = OrderedDict()
_records_lock = threading.Lock()


def _cache_key(db: Session, version_id: int | None) -> tuple[str, int]:
    engine = db.get_bind()
    token = getattr(engine, "_plico_records", None)
    if token is None:
        token = engine._plico_records = uuid.uuid4().hex
    return token, version_id or 0


def _parsed(db: Session, version: RecordVersion) -> Record:
    """The version's record, parsed once per process (a record version is never changed: a
    new reading is a new version; decisions are rows of their own)."""
    key = _cache_key(db, version.id)
    with _records_lock:
        record = _records.get(key)
        if record is not None:
            _records.move_to_end(key)
            return record
    record = Record.model_validate(version.record)
    with _records_lock:
        _records[key] = record
        while len(_records) > _RECORDS_KEPT:
            _records.popitem(last=False)
    return record


def stored_record(db: Session, kit: Kit) -> tuple[RecordVersion, Record]:
    """The kit's current version and its record as the pipeline stored it (pages, bboxes and
    crops, which decisions do not change): enough to serve images without validating."""
    version = db.get(RecordVersion, kit.current_version_id)
    if version is None:
        raise LookupError(kit.id)
    return version, _parsed(db, version)


def current_record(db: Session, kit: Kit) -> Record:
    """The record of the kit's current version, from the parsed ones kept when there (an image
    request then reads no record JSON from the database)."""
    with _records_lock:
        record = _records.get(_cache_key(db, kit.current_version_id))
    return record if record is not None else stored_record(db, kit)[1]


def build_view(db: Session, kit: Kit) -> IstanzaView:
    version, original = stored_record(db, kit)
    rows = db.scalars(select(FieldDecision).where(FieldDecision.kit_id == kit.id)
                      .order_by(FieldDecision.at, FieldDecision.id)).all()
    latest: dict[str, FieldDecision] = {}
    for d in _applied(version, list(rows)):
        latest[d.field_key] = d
    fields = dict(original.fields)
    for key, d in latest.items():
        if key in fields:
            fields[key] = fields[key].model_copy(update={
                "value": d.value_after, "confidence": 1.0, "status": "accepted"})
    decided = set(latest)
    reader = [a for a in original.anomalies if a.code in READER_CODES
              and not (a.code == "low_confidence_field" and set(a.fields) <= decided)]
    record = original.model_copy(update={"fields": fields, "anomalies": reader})
    record = record.model_copy(update={"anomalies": reader + validate(record)})
    anomalies = db.scalars(select(Anomaly).where(Anomaly.record_version_id == version.id)
                           .order_by(Anomaly.id)).all()
    return IstanzaView(kit=kit, version=version, original=original, record=record,
                       decisions=latest, anomalies=list(anomalies))


def _key(a: Anomaly | RecordAnomaly) -> tuple:
    return a.code, tuple(a.fields or ()), tuple(a.pages or ())


def sync(db: Session, view: IstanzaView, user: str) -> dict[str, list[str]]:
    """Bring the anomaly rows and the kit's summary in step with the view; returns the codes
    opened and closed (for the audit event)."""
    now = utcnow()
    rows: dict[tuple, Anomaly] = {}
    for row in view.anomalies:
        rows.setdefault(_key(row), row)
    raised = {_key(a): a for a in view.record.anomalies}
    opened, closed = [], []
    for key, a in raised.items():
        row = rows.get(key)
        if row is None:
            row = Anomaly(record_version_id=view.version.id, kit_id=view.kit.id, code=a.code,
                          category=a.category, severity=a.severity, fields=list(a.fields),
                          pages=list(a.pages), evidence=a.evidence, message_it=a.message_it,
                          message_en=a.message_en, status=OPEN)
            db.add(row)
            view.anomalies.append(row)
            opened.append(a.code)
        elif row.status == SUPERSEDED:
            row.status, row.resolved_by, row.resolved_at, row.note = OPEN, None, None, None
            row.evidence, row.message_it, row.message_en = a.evidence, a.message_it, a.message_en
            opened.append(a.code)
    for key, row in rows.items():
        if key not in raised and row.status == OPEN:
            row.status, row.resolved_by, row.resolved_at = SUPERSEDED, user, now
            row.note = "field decision"
            closed.append(row.code)
    update_status(view)
    db.flush()
    return {"opened": opened, "closed": closed}


def summary(view: IstanzaView) -> kit_status.KitSummary:
    """The kit's summary by the one rule (storage/status.py), from the view's anomaly rows,
    the decisions in force and the fields the index flagged when it saved this version."""
    flagged = (view.version.decisions or {}).get("flagged", [])
    return kit_status.summarise(view.anomalies, in_force=view.decisions, flagged=flagged,
                                fields=view.record.fields)


def update_status(view: IstanzaView) -> None:
    kit_status.apply(view.kit, summary(view))
    view.kit.updated_at = utcnow()


def verify(db: Session, view: IstanzaView) -> dict[str, Any]:
    """Bring the status of an istanza with nothing live up to date (verificata). A kit read
    without anomalies is verificata as soon as it is saved; this is for rows saved before
    that rule, and it refuses while an anomaly is live or a field is to be checked again."""
    if not is_province(view.kit.questura):
        raise DecisionError("no_questura", "the istanza has no Questura: correct the header's "
                            "province (m1.questore_sigla) first")
    live = [a.code for a in view.anomalies if a.status in LIVE]
    if live:
        codes = ", ".join(sorted(set(live)))
        raise DecisionError("still_open", f"anomalies still open: {codes}", codes=codes)
    pending = summary(view).to_recheck
    if pending:
        keys = ", ".join(pending)
        raise DecisionError("to_recheck", f"fields to check again: {keys}", fields=keys)
    before = view.kit.status
    update_status(view)
    db.flush()
    return {"kit_status": {"before": before, "after": view.kit.status}}


def is_province(code: object) -> bool:
    """A province code of the newest edition of the province table (a Questura that exists)."""
    return isinstance(code, str) and len(code) == 2 and is_valid("province", code)


def decide_field(db: Session, view: IstanzaView, user: str, key: str, action: str,
                 raw: str | None, *, transfer: bool = False) -> dict[str, Any]:
    """Confirm or correct one field; returns the audit detail (before, after, anomalies).

    The header's province (`m1.questore_sigla`) decides whose queue the istanza is in: it can
    only be a province, never empty, and a value other than the istanza's Questura is a
    transfer to that Questura, taken only when asked for (`transfer`); the detail then holds
    `questura` (before, after) and the handler audits a `transfer_questura` event."""
    if key not in view.record.fields:
        raise DecisionError("field", f"no field {key}", field=key)
    if action not in ("confirm", "correct"):
        raise DecisionError("action", "confirm or correct")
    before = view.record.fields[key].value
    after = before if action == "confirm" else normalise_value(key, raw or "")
    moved = None
    if key == QUESTURA_FIELD:
        if not is_province(after):
            raise DecisionError("province", "the header's province: a province code (e.g. MI)",
                                value=str(after)[:8])
        if after != view.kit.questura:
            if not transfer:
                raise DecisionError("transfer", f"{after} is another Questura: changing the "
                                    "header's province transfers the istanza (transfer=true)",
                                    questura=after)
            moved = {"before": view.kit.questura, "after": after}
            view.kit.questura = after
            # the new Questura's reviewers take it from here: no claim from the old one
            view.kit.claimed_by, view.kit.claimed_at = None, None
    db.add(FieldDecision(kit_id=view.kit.id, field_key=key, action=action, value_before=before,
                         value_after=after, user_name=user, record_version_id=view.version.id))
    db.flush()
    new = build_view(db, view.kit)
    changes = sync(db, new, user)
    view.__dict__.update(new.__dict__)
    detail = {"field": key, "decision": action, "before": before, "after": after, **changes}
    return {**detail, "questura": moved} if moved else detail


def resolve_anomaly(db: Session, view: IstanzaView, user: str, anomaly_id: int, resolution: str,
                    note: str) -> dict[str, Any]:
    if resolution not in RESOLUTIONS:
        raise DecisionError("resolution", f"one of {', '.join(RESOLUTIONS)}")
    row = next((a for a in view.anomalies if a.id == anomaly_id), None)
    if row is None:
        raise LookupError(anomaly_id)
    if len(note) > 2000:
        raise DecisionError("note", "note too long (2000 characters at most)")
    before = {"status": row.status, "note": row.note}
    row.status, row.note = resolution, note.strip() or None
    row.resolved_by, row.resolved_at = user, utcnow()
    kit_status = view.kit.status
    update_status(view)
    db.flush()
    return {"anomaly": row.id, "code": row.code, "before": before,
            "after": {"status": row.status, "note": row.note},
            "kit_status": {"before": kit_status, "after": view.kit.status}}


def ordered_fields(view: IstanzaView) -> tuple[list[str], list[str], int]:
    """Field keys to show: (to check first, the rest with a value, count of empty ones).

    First: read with low confidence, named by an anomaly, or decided by a reviewer."""
    flagged = {f for a in view.record.anomalies for f in a.fields}
    flagged |= {f for a in view.anomalies if a.status == OPEN for f in a.fields}
    first, rest, empty = [], [], 0
    for key, fv in view.original.fields.items():
        if fv.status == "review" or key in flagged or key in view.decisions:
            first.append(key)
        elif view.record.fields[key].value not in ("", False):
            rest.append(key)
        else:
            empty += 1
    first.sort(key=lambda k: (view.original.fields[k].status != "review",
                              view.original.fields[k].confidence))
    return first, rest, empty
