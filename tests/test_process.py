"""`plico process` end to end on real files: records against truth, nothing lost."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from PIL import Image
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from pipeline.bench import score_batch
from pipeline.record import Record
from pipeline.truth import BatchTruth
from sample_scans.synth import documents
from sample_scans.synth.batch import SynthOptions, write_batch
from storage.db import QuarantineItem

ROOT = Path(__file__).resolve().parent.parent
PLICO = str(Path(sys.executable).with_name("plico"))


def _process(out: Path, data: Path, *inputs: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PLICO_DATA_DIR": str(data)}
    return subprocess.run([PLICO, "process", *map(str, inputs), "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=600)


def _records(out: Path) -> list[Record]:
    return [Record.model_validate_json(p.read_text()) for p in sorted(out.glob("*.json"))]


def test_typed_sample_records_match_their_truth(tmp_path):
    batch = ROOT / "sample_scans" / "typed-300dpi-bitonal.pdf"
    res = _process(tmp_path / "out", tmp_path / "data", batch)
    assert res.returncode == 0, res.stderr
    assert "typed-300dpi-bitonal: 13 pages, 1 kits" in res.stdout
    truth = BatchTruth.load(batch.with_suffix(".truth.json"))
    records = _records(tmp_path / "out")
    assert [r.kit.assicurata for r in records] == [truth.kits[0].assicurata]
    assert (tmp_path / "out" / f"{truth.kits[0].assicurata}.json").is_file()
    score = score_batch(truth, records)
    assert score.kits.rate == score.classification.rate == score.orientation.rate == 1.0
    assert score.assicurata.rate == score.codice_istanza.rate == 1.0
    assert score.mrz_valid.rate == 1.0 and score.receipt.rate == 1.0
    exact = sum(f.exact.ok for f in score.fields.values()) / sum(f.exact.n for f in score.fields.values())
    assert exact >= 0.98, score.wrong  # measured 152/153 on this sample
    rec = records[0]
    assert rec.kit.sheets_counted == truth.kits[0].sheets
    for fv in rec.fields.values():
        if fv.crop:
            assert (tmp_path / "out" / fv.crop).is_file()
    raw = list((tmp_path / "data" / "objects" / "raw").rglob("*"))
    assert any(p.is_file() and p.read_bytes() == batch.read_bytes() for p in raw)


def _encrypted(src: Path, dst: Path) -> Path:
    with pikepdf.open(src) as pdf:
        pdf.save(dst, encryption=pikepdf.Encryption(owner="o", user="secret"))
    return dst


def test_every_page_ends_in_one_record_or_in_quarantine(tmp_path):
    good = write_batch(SynthOptions(seed=4242, kits=2, dpi=200, filled_by="typed", mode="bitonal",
                                    duplex=True), tmp_path / "good").files[0]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "corrupt.pdf").write_bytes(good.read_bytes()[:5000])
    (bad / "empty.tif").write_bytes(b"")
    (bad / "notes.pdf").write_text("not a pdf at all")
    encrypted = _encrypted(good, bad / "locked.pdf")
    passport, _ = documents.passport_copy(
        documents.PassportData(surname="ROSSI", given_names="ANNA", number="YA1234567",
                               nationality="ALB", birth_date=dt.date(1990, 1, 2),
                               sex="F", birth_place="TIRANE",
                               issue_date=dt.date(2020, 1, 1),
                               expiry_date=dt.date(2030, 1, 1)),
        200, np.random.default_rng(1))
    orphan = bad / "orphan.png"
    Image.fromarray(passport).save(orphan, dpi=(200, 200))
    inputs = [good, bad / "corrupt.pdf", bad / "empty.tif", bad / "notes.pdf", encrypted, orphan]
    res = _process(tmp_path / "out", tmp_path / "data", *inputs)
    assert res.returncode == 10, res.stderr  # finished, some inputs quarantined
    truth = BatchTruth.load(good.with_name(good.stem + ".truth.json"))
    records = _records(tmp_path / "out")
    seen = [(r.kit.pages[i].source, r.kit.pages[i].index) for r in records
            for i in range(len(r.kit.pages))]
    assert len(seen) == len(set(seen))
    assert sorted(i for s, i in seen if s == good.name) == list(range(len(truth.pages)))
    entries: dict[str, list[dict]] = {}
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'plico.db'}")
    with Session(engine) as session:  # the quarantine is in the index
        for q in session.scalars(select(QuarantineItem).order_by(QuarantineItem.id)):
            entries.setdefault(q.original_name, []).append({"code": q.code, "pages": q.pages,
                                                            "reason": q.reason})
    engine.dispose()
    assert all(e["reason"] for found in entries.values() for e in found)
    assert entries["corrupt.pdf"][0]["code"] == "InputError"
    assert entries["notes.pdf"][0]["code"] == "UnsupportedInputError"
    assert entries["locked.pdf"][0]["code"] == "EncryptedInputError"
    assert entries["orphan.png"][0]["code"] == "OrphanPageError"
    assert entries["orphan.png"][0]["pages"] == [0]
    assert entries["empty.tif"][0]["code"] in ("UnsupportedInputError", "InputError")
    # the raw files are kept, byte for byte
    kept = {p.read_bytes() for p in (tmp_path / "data" / "objects" / "raw").rglob("*")
            if p.is_file() and not p.name.endswith(".json")}
    for path in (bad / "corrupt.pdf", bad / "notes.pdf", encrypted, orphan):
        assert path.read_bytes() in kept, path.name


def test_missing_input_is_reported_and_others_go_on(tmp_path):
    res = _process(tmp_path / "out", tmp_path / "data", tmp_path / "nope.pdf")
    assert res.returncode == 10
    assert "nope.pdf" in res.stderr


def test_a_written_page_with_one_stray_speck_still_reads_empty():
    """NIST seed 10040: the scan erased the second applicant's page 3 but for a speck read
    "1" in the address; its six other fields were accepted empty."""
    from extractors.fields import FieldReading
    from pipeline.read_empty import must_be_written

    def reading(key: str, value: str) -> FieldReading:
        return FieldReading(key, value, 0.9, (), (0, 0, 1, 1), value)

    page = {k: reading(k, "") for k in ("m1#2.66", "m1#2.67", "m1#2.72")}
    page["m1#2.68"] = reading("m1#2.68", "1")
    assert must_be_written("m1", 3, page)
    assert not must_be_written("m1", 4, page)  # page 4 is written only by some
    page["m1#2.72"] = reading("m1#2.72", "31100")
    assert not must_be_written("m1", 3, page)


@pytest.mark.parametrize("form, number, where", [("m1", 1, "m1.3"), ("m1", 3, "m1.68"),
                                                 ("m2", 1, "m2.questore")])
def test_a_written_page_that_reads_empty_is_never_accepted(tmp_path, form, number, where):
    """NIST seed 9750: a 200 dpi bitonal scan erased a Modulo 1 page 1; its 30 fields read
    empty and were accepted (seed 9890: a Modulo 2 page 1). A page every application writes
    on that reads empty is an unreadable_page (form_page_reads_empty) and each of its fields
    waits for a person."""
    from pipeline.form.render import blank_page_image
    from pipeline.process import process_batch
    from pipeline.runtime import build_recogniser
    from pipeline.settings import Settings

    made = write_batch(SynthOptions(seed=4243, kits=1, dpi=200, filled_by="typed",
                                    formats="tiff"), tmp_path / "batch")
    truth = BatchTruth.load(made.truth)
    page1 = next(i for i, p in enumerate(truth.pages) if p.kind == f"{form}p{number}")
    with Image.open(made.files[0]) as tif:
        pages = []
        for i in range(tif.n_frames):
            tif.seek(i)
            pages.append(tif.convert("L").copy())
    pages[page1] = Image.fromarray(np.asarray(blank_page_image(form, number, 200)))
    erased = tmp_path / "erased.tif"
    pages[0].save(erased, save_all=True, append_images=pages[1:], dpi=(200, 200))
    _, records = process_batch(erased, tmp_path / "out", Settings(data_dir=tmp_path / "data"),
                               build_recogniser())
    rec, = records
    on_page = {k: fv for k, fv in rec.fields.items() if fv.page == page1}
    assert on_page and all(fv.status == "review" for fv in on_page.values())
    assert rec.fields[where].crop  # the reviewer sees where the writing should be
    empty, = [a for a in rec.anomalies if a.code == "unreadable_page"]
    assert empty.evidence["reason"] == "form_page_reads_empty"
    assert set(empty.evidence["fields_not_read"]) == set(on_page)
    # the rules take none of them as empty: no missing surname, no missing signature
    assert not [a for a in rec.anomalies if set(a.fields) & set(on_page)
                and a.code in ("missing_required_field", "missing_signature")]
    # nothing else of the kit is held back
    assert any(fv.status == "accepted" for k, fv in rec.fields.items() if fv.page != page1)
    assert not any(a.code == "low_confidence_field" and a.fields[0] in on_page
                   for a in rec.anomalies)
