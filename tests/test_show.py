"""`plico show CODE`: the current record of an istanza looked up in the index (a SQLite index
under a tmp PLICO_DATA_DIR) by Codice Assicurata, Codice Istanza or kit id; a code not there
is a clear error with the not-found exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from pipeline.errors import ExitCode, InputNotFoundError
from pipeline.record import Anomaly as RecordAnomaly
from pipeline.settings import Settings
from sample_scans.synth.kit import plan_kit
from storage.db import database_url, engine_for, session_scope, upgrade
from storage.index import save_record
from storage.objects_local import LocalObjectStore
from validators.testing import record_from_plan


def _plico(data: Path, *args: str):
    """The `plico` command in this process (typer's runner), its settings from `env`."""
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.settings import get_settings

    env = {"PLICO_DATA_DIR": str(data), "PLICO_DATABASE_URL": None, "PLICO_STORAGE_URL": None}
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(args), env=env)
    finally:
        get_settings.cache_clear()


def _record(seed: int, version: str, anomalies=()):
    record = record_from_plan(plan_kit(np.random.default_rng([seed, 7]), seed, "typed", False))
    return record.model_copy(update={
        "pipeline_version": version,
        "anomalies": [RecordAnomaly.make(code, fields=list(fields)) for code, fields in anomalies]})


def test_show_by_code_reads_the_current_record_from_the_index(tmp_path) -> None:
    data = tmp_path / "data"
    missing = _plico(data, "show", "123456789012")  # no index there yet: nothing is created
    assert isinstance(missing.exception, InputNotFoundError), missing.output
    assert "no index" in str(missing.exception) and not (data / "plico.db").exists()

    data.mkdir()
    url = database_url(Settings(data_dir=data))
    upgrade(url)
    store = LocalObjectStore(data / "objects")
    first = _record(21, "0.1.0")
    with session_scope(engine_for(url)) as s:
        save_record(s, first, batch_id="b1", kit_id="b1-0001", store=store)
        save_record(s, _record(21, "0.2.0", [("missing_signature", ["m1.firma"])]),
                    batch_id="b1", kit_id="b1-0001", store=store)
    code = first.kit.assicurata
    assert code and len(code) == 12

    shown = _plico(data, "show", f"{code[:11]}-{code[11]}")  # as the receipt prints it
    assert shown.exit_code == 0, shown.output
    assert f"Codice Assicurata: {code}" in shown.output
    assert "Stato Attuale: Anomalie documentali" in shown.output  # the current version's
    assert "Kit: b1-0001" in shown.output
    assert "Stato revisione (Questura): Da verificare (1 anomalie aperte)" in shown.output

    by_id = _plico(data, "show", "b1-0001", "--lang", "en", "--json")
    assert by_id.exit_code == 0, by_id.output
    summary = json.loads(by_id.output)
    assert summary["codice_assicurata"] == code and summary["kit"] == "b1-0001"
    assert summary["stato_attuale"] == "Documentary anomalies"
    assert [a["code"] for a in summary["anomalie_documentali"]] == ["missing_signature"]
    assert (summary["stato_revisione"], summary["anomalie_aperte"]) == ("To be checked", 1)
    if first.kit.codice_istanza:
        assert _plico(data, "show", first.kit.codice_istanza).exit_code == 0

    # the real command: the error on stderr, the not-found exit code (pipeline/errors.py)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PLICO_DATABASE_URL", "PLICO_STORAGE_URL")}
    unknown = subprocess.run([sys.executable, "-m", "pipeline.cli", "show", "999999999999"],
                             env={**env, "PLICO_DATA_DIR": str(data)}, capture_output=True,
                             text=True, timeout=120, check=False)
    assert unknown.returncode == ExitCode.INPUT_NOT_FOUND, unknown.stderr
    assert "plico: error: no istanza '999999999999' in the index" in unknown.stderr
    gone = _plico(data, "show", str(tmp_path / "none.json"))  # a path still means a file
    assert isinstance(gone.exception, InputNotFoundError) and "does not exist" in str(
        gone.exception)


def test_kits_by_code_on_both_databases(db_url, tmp_path) -> None:
    from storage.index import kits_by_code

    store = LocalObjectStore(tmp_path / "objects")
    record = _record(22, "0.1.0")
    with session_scope(engine_for(db_url)) as s:  # the same envelope scanned in two batches
        save_record(s, record, batch_id="b1", kit_id="b1-0001", store=store)
        save_record(s, record, batch_id="b2", kit_id="b2-0003", store=store)
    code = record.kit.assicurata
    with session_scope(engine_for(db_url)) as s:
        assert {k.id for k in kits_by_code(s, f" {code[:11]}-{code[11]} ")} == {"b1-0001",
                                                                                "b2-0003"}
        assert [k.id for k in kits_by_code(s, "b2-0003")] == ["b2-0003"]
        assert kits_by_code(s, "b2-0004") == [] and kits_by_code(s, "000000000000") == []
