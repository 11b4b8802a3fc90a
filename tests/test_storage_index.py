"""Index queries on SQLite and PostgreSQL: idempotent saves, versions, filters, decisions."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from sqlalchemy import func, select

from pipeline.record import Anomaly as RecordAnomaly
from sample_scans.synth.kit import plan_kit
from storage.db import (
    Anomaly,
    AuditEvent,
    FieldDecision,
    Kit,
    RecordVersion,
    engine_for,
    session_scope,
)
from storage.index import (
    RecordNotFoundError,
    add_audit,
    add_quarantine,
    kit_id_for,
    kits_query,
    record_of,
    save_record,
    versions_of,
)
from storage.objects_local import LocalObjectStore
from storage.status import KitSummary, kit_status, summarise
from validators.testing import record_from_plan


def _record(seed: int, *, version: str = "0.1.0", anomalies=(), questura: str | None = None):
    record = record_from_plan(plan_kit(np.random.default_rng([seed, 7]), seed, "typed", False))
    update = {"pipeline_version": version,
              "anomalies": [RecordAnomaly.make(code, fields=list(fields)) for code, fields in anomalies]}
    if questura is not None:
        fields = dict(record.fields)
        fields["m1.questore_sigla"] = fields["m1.questore_sigla"].model_copy(
            update={"value": questura})
        update["fields"] = fields
    return record.model_copy(update=update)


@pytest.fixture
def store(tmp_path):
    return LocalObjectStore(tmp_path / "objects")


def test_same_version_twice_is_one_row_and_a_new_version_keeps_the_old(db_url, store):
    engine = engine_for(db_url)
    first = _record(1, anomalies=[("missing_signature", ["m1.firma"])])
    with session_scope(engine) as s:
        row = save_record(s, first, batch_id="b1", kit_id="b1-0001", store=store)
        first_id = row.id
    with session_scope(engine) as s:  # a redelivered message: same kit, same version
        again = save_record(s, first.model_copy(update={"timings": {"read": 9.0}}),
                            batch_id="b1", kit_id="b1-0001", store=store)
        assert again.id == first_id
        assert s.scalar(select(func.count()).select_from(RecordVersion)) == 1
        assert s.scalar(select(func.count()).select_from(Anomaly)) == 1
        kit = s.get(Kit, "b1-0001")
        assert kit.current_version_id == first_id and kit.anomaly_count == 1
        assert kit.max_severity == "blocking" and kit.assicurata == first.kit.assicurata
        assert kit.questura == first.fields["m1.questore_sigla"].value
        stored = json.loads(store.get("records/b1-0001/0.1.0.json"))
        assert stored["timings"] == {} and stored == record_of(s, "b1-0001")
        assert again.record_sha256 == store.info(again.record_key).sha256

    with session_scope(engine) as s:
        new = save_record(s, _record(1, version="0.2.0"), batch_id="b1", kit_id="b1-0001",
                          store=store)
        assert new.id != first_id
    with session_scope(engine) as s:
        assert versions_of(s, "b1-0001") == ["0.1.0", "0.2.0"]
        assert record_of(s, "b1-0001")["pipeline_version"] == "0.2.0"
        old = record_of(s, "b1-0001", "0.1.0")
        assert old["pipeline_version"] == "0.1.0" and len(old["anomalies"]) == 1
        kit = s.get(Kit, "b1-0001")
        assert (kit.anomaly_count, kit.max_severity, kit.status) == (0, None, "verificata")
        with pytest.raises(RecordNotFoundError):
            record_of(s, "b1-0001", "0.0.9")
        with pytest.raises(RecordNotFoundError):
            record_of(s, "nope-0001")
    assert sorted(store.list("records/")) == ["records/b1-0001/0.1.0.json",
                                              "records/b1-0001/0.2.0.json"]


def test_kits_query_filters(db_url, store):
    engine = engine_for(db_url)
    plan = [  # batch, number, questura, version, anomalies
        ("b1", 1, "VI", "0.1.0", [("missing_signature", ["m1.firma"])]),
        ("b1", 2, "RM", "0.1.0", [("invalid_date", ["m1.data"]), ("low_confidence_field", [])]),
        ("b2", 1, "rm", "0.2.0", []),
        ("b2", 2, "MI", "0.2.0", [("invalid_date", ["m1.data"])]),
    ]
    days = [dt.datetime(2026, 11, d, 10, tzinfo=dt.UTC) for d in (1, 2, 3, 4)]
    assicurate = {}
    with session_scope(engine) as s:
        for i, (batch, number, questura, version, anomalies) in enumerate(plan):
            record = _record(10 + i, version=version, anomalies=anomalies, questura=questura)
            kid = kit_id_for(batch, number)
            save_record(s, record, batch_id=batch, kit_id=kid, store=store)
            s.get(Kit, kid).created_at = days[i]
            assicurate[kid] = record.kit.assicurata
        s.get(Kit, "b2-0002").status = "verificata"

    def ids(**filters):
        with session_scope(engine) as s:
            return [k.id for k in s.scalars(kits_query(s, **filters))]

    assert ids() == ["b1-0001", "b1-0002", "b2-0001", "b2-0002"]
    assert ids(questure=["RM"]) == ["b1-0002", "b2-0001"]
    assert ids(questure=["VI", "MI"], status="da_verificare") == ["b1-0001"]
    assert ids(status=["verificata"]) == ["b2-0001", "b2-0002"]  # b2-0001 was read clean
    assert ids(code="invalid_date") == ["b1-0002", "b2-0002"]
    assert ids(code=["missing_signature", "low_confidence_field"]) == ["b1-0001", "b1-0002"]
    assert ids(batch="b2") == ["b2-0001", "b2-0002"]
    assert ids(since=dt.date(2026, 11, 2), until=dt.date(2026, 11, 3)) == ["b1-0002", "b2-0001"]
    assert ids(since=days[1] + dt.timedelta(seconds=1)) == ["b2-0001", "b2-0002"]
    assert ids(pipeline_version="0.2.0") == ["b2-0001", "b2-0002"]
    assert ids(assicurata=assicurate["b2-0001"]) == ["b2-0001"]
    assert ids(batch="b1", code="invalid_date", pipeline_version="0.1.0") == ["b1-0002"]
    # a new version of b1-0001 without the anomaly: the code filter follows the current one
    with session_scope(engine) as s:
        save_record(s, _record(10, version="0.2.0", questura="VI"), batch_id="b1",
                    kit_id="b1-0001", store=store)
    assert ids(code="missing_signature") == []
    assert ids(pipeline_version="0.2.0") == ["b1-0001", "b2-0001", "b2-0002"]


def test_decisions_are_reapplied_where_the_new_reading_agrees(db_url, store):
    engine = engine_for(db_url)
    record = _record(3, anomalies=[("missing_signature", ["m1.firma"])])
    keys = [k for k, f in record.fields.items() if isinstance(f.value, str) and f.value][:3]
    corrected, confirmed, disputed = keys
    with session_scope(engine) as s:
        row = save_record(s, record, batch_id="b3", kit_id="b3-0001", store=store)
        value = {k: record.fields[k].value for k in keys}
        s.add_all([
            FieldDecision(kit_id="b3-0001", field_key=corrected, action="correct",
                          value_before=value[corrected], value_after="CORRETTO",
                          user_name="anna", record_version_id=row.id),
            FieldDecision(kit_id="b3-0001", field_key=confirmed, action="confirm",
                          value_before=value[confirmed], value_after=value[confirmed],
                          user_name="anna", record_version_id=row.id),
            FieldDecision(kit_id="b3-0001", field_key=disputed, action="correct",
                          value_before=value[disputed], value_after="ALTRO",
                          user_name="anna", record_version_id=row.id),
        ])
        (anomaly,) = s.scalars(select(Anomaly).where(Anomaly.record_version_id == row.id))
        anomaly.status, anomaly.resolved_by = "accettata", "anna"
        s.get(Kit, "b3-0001").status = "verificata"

    fields = dict(record.fields)
    fields[confirmed] = fields[confirmed].model_copy(update={"confidence": 0.4,
                                                             "status": "review"})
    fields[disputed] = fields[disputed].model_copy(update={"value": "LETTO DIVERSAMENTE"})
    reread = record.model_copy(update={"pipeline_version": "0.2.0", "fields": fields})
    with session_scope(engine) as s:
        new = save_record(s, reread, batch_id="b3", kit_id="b3-0001", store=store)
        assert new.decisions == {"applied": sorted([corrected, confirmed]), "flagged": [disputed]}
        got = record_of(s, "b3-0001")["fields"]
        assert (got[corrected]["value"], got[corrected]["status"]) == ("CORRETTO", "accepted")
        assert (got[confirmed]["value"], got[confirmed]["status"]) == (value[confirmed], "accepted")
        assert (got[disputed]["value"], got[disputed]["status"]) == ("LETTO DIVERSAMENTE", "review")
        kit = s.get(Kit, "b3-0001")
        # the anomaly stays accepted (not live), but a reviewer's decision is contradicted by
        # the new reading: back in the queue, in_lavorazione (the reviewer had started on it)
        assert (kit.status, kit.anomaly_count, kit.max_severity) == ("in_lavorazione", 0, None)
        (carried,) = s.scalars(select(Anomaly).where(Anomaly.record_version_id == new.id))
        assert (carried.status, carried.resolved_by) == ("accettata", "anna")
        assert json.loads(store.get(new.record_key))["fields"][corrected]["value"] == "CORRETTO"
        # the old version is untouched
        assert record_of(s, "b3-0001", "0.1.0")["fields"][corrected]["value"] == value[corrected]


def test_audit_and_quarantine_rows(db_url):
    engine = engine_for(db_url)
    with session_scope(engine) as s:
        event = add_audit(s, "anna", "view", "b1-0001", remote="10.0.0.1", fields=["m1.cognome"])
        assert event.id is not None
        first = add_quarantine(s, sha256="a" * 64, original_name="x.pdf", reason="corrupt",
                               code="InputError", pages=[2, 1], batch_id="b1")
        assert add_quarantine(s, sha256="a" * 64, original_name="x.pdf", reason="corrupt",
                              code="InputError", pages=[1, 2], batch_id="b1").id == first.id
    with session_scope(engine) as s:
        (got,) = s.scalars(select(AuditEvent))
        assert (got.user_name, got.action, got.kit_id, got.remote) == (
            "anna", "view", "b1-0001", "10.0.0.1")
        assert got.detail == {"fields": ["m1.cognome"]}


def test_two_workers_saving_the_same_kit_at_once_give_one_row(db_url, store):
    """At-least-once delivery: two deliveries of one kit racing still give one record, and
    the stored object is the winner's."""
    import threading

    engine = engine_for(db_url)
    barrier = threading.Barrier(2)
    ids, errors = [], []

    def deliver(seconds: float) -> None:
        record = _record(5).model_copy(update={"timings": {"read": seconds}})
        try:
            barrier.wait()
            with session_scope(engine) as s:
                ids.append(save_record(s, record, batch_id="b5", kit_id="b5-0001",
                                       store=store).id)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(t,)) for t in (1.0, 2.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(ids)) == 1
    with session_scope(engine) as s:
        (row,) = s.scalars(select(RecordVersion))
        assert store.info(row.record_key).sha256 == row.record_sha256
        assert json.loads(store.get(row.record_key)) == row.record


class _Row:
    def __init__(self, status: str, severity: str = "warning") -> None:
        self.status, self.severity = status, severity


def test_the_status_rule() -> None:
    assert kit_status(0, started=False) == "verificata"  # read clean: nothing to do
    assert kit_status(0, started=True) == "verificata"
    assert kit_status(2, started=False) == "da_verificare"
    assert kit_status(2, started=True) == "in_lavorazione"
    assert kit_status(0, started=True, to_recheck=1) == "in_lavorazione"
    assert summarise([]) == KitSummary("verificata", 0, None)
    rows = [_Row("aperta", "info"), _Row("integrazione_richiesta", "warning"),
            _Row("accettata", "blocking"), _Row("respinta", "blocking"),
            _Row("superata", "blocking")]
    # live = aperta + integrazione_richiesta; closed ones neither count nor set the severity
    assert summarise(rows) == KitSummary("in_lavorazione", 2, "warning")
    assert summarise(rows[:1]) == KitSummary("da_verificare", 1, "info")
    assert summarise(rows[:1], in_force=["m1.3"]).status == "in_lavorazione"
    assert summarise(rows[2:]) == KitSummary("verificata", 0, None)
    # a flagged field holds the kit until it is decided again on this version
    held = summarise(rows[2:], flagged=["m1.3", "m9.9"], fields={"m1.3": 1})
    assert (held.status, held.to_recheck) == ("in_lavorazione", ("m1.3",))
    assert summarise(rows[2:], in_force=["m1.3"], flagged=["m1.3"]).status == "verificata"


def test_a_clean_kit_is_verificata_and_a_reprocessed_anomaly_brings_it_back(db_url, store):
    engine = engine_for(db_url)
    with session_scope(engine) as s:
        save_record(s, _record(6), batch_id="b6", kit_id="b6-0001", store=store)
        save_record(s, _record(7, anomalies=[("missing_signature", ["m1.firma"])]),
                    batch_id="b6", kit_id="b6-0002", store=store)
    with session_scope(engine) as s:
        clean, signed = s.get(Kit, "b6-0001"), s.get(Kit, "b6-0002")
        assert (clean.status, clean.anomaly_count, clean.max_severity) == ("verificata", 0, None)
        assert (signed.status, signed.anomaly_count) == ("da_verificare", 1)
        # a reviewer accepts the missing signature: nothing live, verificata
        (row,) = s.scalars(select(Anomaly).where(Anomaly.kit_id == "b6-0002"))
        row.status, row.resolved_by = "accettata", "anna"
        signed.status, signed.anomaly_count = "verificata", 0
    with session_scope(engine) as s:  # reprocessing: each new version raises a new anomaly
        save_record(s, _record(6, version="0.2.0",
                               anomalies=[("invalid_date", ["m1.data"])]),
                    batch_id="b6", kit_id="b6-0001", store=store)
        save_record(s, _record(7, version="0.2.0",
                               anomalies=[("missing_signature", ["m1.firma"]),
                                          ("expired_document", ["m1.40"])]),
                    batch_id="b6", kit_id="b6-0002", store=store)
    with session_scope(engine) as s:
        clean, signed = s.get(Kit, "b6-0001"), s.get(Kit, "b6-0002")
        assert (clean.status, clean.anomaly_count) == ("da_verificare", 1)
        # the accepted (blocking) signature carries over and neither counts nor sets the
        # severity; the new warning does, and
        # the kit is back in the queue as in_lavorazione (a reviewer had decided on it)
        assert (signed.status, signed.anomaly_count, signed.max_severity) == (
            "in_lavorazione", 1, "warning")
        queue = [k.id for k in s.scalars(kits_query(s, status=["da_verificare",
                                                               "in_lavorazione"]))]
        assert queue == ["b6-0001", "b6-0002"]


def test_migration_0002_brings_rows_of_the_old_rules_in_step(db_url, store):
    """Rows written before the status rule (a clean kit left da_verificare, every anomaly
    counted) are recomputed once by `plico db upgrade`."""
    from alembic import command

    from storage.db import _alembic_config, upgrade

    engine = engine_for(db_url)
    with session_scope(engine) as s:
        save_record(s, _record(8), batch_id="b8", kit_id="b8-0001", store=store)
        save_record(s, _record(9, anomalies=[("missing_signature", ["m1.firma"]),
                                             ("expired_document", ["m1.40"])]),
                    batch_id="b8", kit_id="b8-0002", store=store)
        (signature,) = s.scalars(select(Anomaly).where(Anomaly.code == "missing_signature"))
        signature.status = "accettata"
        for kit in s.scalars(select(Kit)):  # as the old code left them
            kit.status, kit.max_severity = "da_verificare", "blocking"
        s.get(Kit, "b8-0002").anomaly_count = 2
    with engine.begin() as conn:
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.stamp(cfg, "0001")
    assert upgrade(db_url, "0002") == "0002"
    with session_scope(engine) as s:
        clean, started = s.get(Kit, "b8-0001"), s.get(Kit, "b8-0002")
        assert (clean.status, clean.anomaly_count, clean.max_severity) == ("verificata", 0, None)
        assert (started.status, started.anomaly_count, started.max_severity) == (
            "in_lavorazione", 1, "warning")
