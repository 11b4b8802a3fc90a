"""docs/record.schema.json is what `plico schema record` generates from the record's pydantic
model, and the records Plico makes validate against it (JSON Schema 2020-12, `jsonschema`)."""

from __future__ import annotations

import json

import numpy as np
from jsonschema import Draft202012Validator
from ops_testdata import plico, sample_index  # noqa: F401 - the fixture

from pipeline.record import Anomaly, Record
from pipeline.schema import SCHEMA_FILE, schema_text
from sample_scans.synth.kit import plan_kit
from validators.testing import record_from_plan


def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_committed_schema_is_current(tmp_path) -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), \
        "docs/record.schema.json is stale: run `plico schema record`"
    out = tmp_path / "record.schema.json"
    done = plico(tmp_path / "data", "schema", "record", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8") == schema_text()
    schema = json.loads(schema_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["version"] == "plico-record/1" and schema["$id"].endswith("/plico-record/1.json")


def test_records_validate_against_the_schema(sample_index) -> None:  # noqa: F811
    validator = _validator()
    records = sorted(sample_index.out.glob("*.json"))
    assert records
    for path in records:
        data = json.loads(path.read_text(encoding="utf-8"))
        errors = [e.message for e in validator.iter_errors(data)]
        assert not errors, f"{path.name}: {errors[:3]}"
    for seed in range(3):  # generated records with review fields and anomalies
        rec = record_from_plan(plan_kit(np.random.default_rng([seed, 7]), seed, "typed", False),
                               review=["m1.cognome"])
        rec = rec.model_copy(update={"anomalies": [Anomaly.make(
            "missing_signature", fields=["m1.firma"], pages=[1])]})
        assert not list(validator.iter_errors(rec.model_dump(mode="json")))


def test_schema_rejects_what_the_model_rejects() -> None:
    validator = _validator()
    rec = record_from_plan(plan_kit(np.random.default_rng([1, 7]), 1, "typed", False))
    data = rec.model_dump(mode="json")
    bad = [dict(data, surprise=1), {k: v for k, v in data.items() if k != "kit"},
           dict(data, schema_version="plico-record/0")]
    for item in bad:
        assert list(validator.iter_errors(item))
    Record.model_validate(data)
