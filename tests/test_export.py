"""`plico export`: the current version of each istanza in a slice, with its anomalies'
review outcomes and the field decisions, as JSONL or CSV, streamed from the index."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import numpy as np
from ops_testdata import plico, sample_index  # noqa: F401 - the fixture

from pipeline.export import csv_header, iter_istanze
from pipeline.settings import Settings
from sample_scans.synth.kit import plan_kit
from storage.db import database_url, engine_for, session_scope
from storage.index import save_record
from storage.objects_local import LocalObjectStore
from validators.testing import record_from_plan
from web.queue import CSV_COLUMNS
from web.review import build_view, decide_field, resolve_anomaly


def test_export_of_a_processed_scan_with_review_outcomes(sample_index) -> None:  # noqa: F811
    url = database_url(Settings(data_dir=sample_index.data))
    with session_scope(engine_for(url)) as s:  # a reviewer works on the istanza
        from storage.db import Kit

        kit = s.query(Kit).one()
        view = build_view(s, kit)
        anomaly = view.anomalies[0]
        resolve_anomaly(s, view, "rev1", anomaly.id, "accettata", "visto")
        key = next(iter(view.record.fields))
        decide_field(s, view, "rev1", key, "confirm", None)
        kit_id, questura = kit.id, kit.questura
    out = sample_index.data.parent / "export.jsonl"
    today = dt.date.today().isoformat()
    done = plico(sample_index.data, "export", "--since", today, "--until", today,
                 "--format", "jsonl", "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["kit"] for r in rows] == [kit_id]
    row = rows[0]
    assert row["record"]["schema_version"] == "plico-record/1"
    assert row["record"]["kit"]["assicurata"] == row["codice_assicurata"]
    outcome = next(a for a in row["anomalies"] if a["code"] == anomaly.code)
    assert (outcome["status"], outcome["note"], outcome["resolved_by"]) == (
        "accettata", "visto", "rev1")
    assert [(d["field"], d["action"], d["user"]) for d in row["decisions"]] == [
        (key, "confirm", "rev1")]

    done = plico(sample_index.data, "export", "--format", "csv", "--out", "-",
                 "--questura", questura or "RM", "--status", row["stato"])
    assert done.returncode == 0, done.stderr
    table = list(csv.reader(io.StringIO(done.stdout)))
    assert tuple(table[0]) == csv_header() and tuple(table[0][:len(CSV_COLUMNS)]) == CSV_COLUMNS
    assert len(table) == 2 and table[1][0] == kit_id
    assert f"{anomaly.code}:accettata" in table[1][table[0].index("esiti")]
    assert table[1][table[0].index("decisioni")] == "1"
    values = [str(v.value) for v in view.record.fields.values() if len(str(v.value)) > 3]
    assert not any(v in done.stdout for v in values)  # no field values in the CSV

    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    for args in (["--since", tomorrow], ["--questura", "ZZ"], ["--status", "xx"]):
        done = plico(sample_index.data, "export", "--format", "csv", "--out", "-", *args)
        if args[1] == "xx":
            assert done.returncode == 2
        else:
            assert done.returncode == 0 and done.stdout.splitlines() == [",".join(csv_header())]


def test_export_streams_in_chunks_on_both_databases(db_url, tmp_path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    record = record_from_plan(plan_kit(np.random.default_rng([3, 7]), 3, "typed", False))
    with session_scope(engine_for(db_url)) as s:
        for n in range(1, 121):
            save_record(s, record, batch_id="b1", kit_id=f"b1-{n:04d}", store=store)
    with session_scope(engine_for(db_url), write=False) as s:
        ids = [r["kit"] for r in iter_istanze(s, chunk=25)]
        assert ids == [f"b1-{n:04d}" for n in range(1, 121)]
        assert len(s.identity_map) == 0  # columns, not objects: nothing piles up
