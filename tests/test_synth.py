"""`plico synth`: determinism, speed, the files a scanner would write, truth self-consistency."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

from pipeline.form import load_form_model
from pipeline.normalise import parse_date
from pipeline.truth import BatchTruth
from sample_scans.synth import documents
from sample_scans.synth.batch import _passport_data
from sample_scans.synth.kit import PLANTABLE, plan_kit
from validators.codice_fiscale import check as check_cf
from validators.fees import fee_due_cents
from validators.icao import parse_td3

PLICO = [str(Path(sys.executable).with_name("plico"))]


def _synth(out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": "random"}
    return subprocess.run([*PLICO, "synth", "--out", str(out), *args], capture_output=True,
                          text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def batch_seed7(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("seed7")
    started = time.perf_counter()
    res = _synth(out, "--seed", "7", "--kits", "2")
    elapsed = time.perf_counter() - started
    assert res.returncode == 0, res.stderr
    truth = BatchTruth.load(out / "synth-7.truth.json")
    assert elapsed / len(truth.pages) < 2.0, f"{elapsed:.1f} s for {len(truth.pages)} pages"
    return out


def test_same_seed_same_truth_and_files(batch_seed7, tmp_path):
    res = _synth(tmp_path, "--seed", "7", "--kits", "2")
    assert res.returncode == 0, res.stderr
    for name in ("synth-7.truth.json", "synth-7.pdf"):
        assert (tmp_path / name).read_bytes() == (batch_seed7 / name).read_bytes(), name


def test_batch_pdf_pages_match_the_truth(batch_seed7):
    truth = BatchTruth.load(batch_seed7 / "synth-7.truth.json")
    pdf = pdfium.PdfDocument(batch_seed7 / "synth-7.pdf")
    assert len(pdf) == len(truth.pages)
    for page, pt in zip(pdf, truth.pages):
        w, h = page.get_size()
        assert (round(w), round(h)) in ((595, 842), (842, 595))
        assert pt.dpi == 300
    first, last = truth.kits[0].pages
    kinds = [p.kind for p in truth.pages[first:last + 1]]
    assert kinds[0] == "label" and kinds[1:9] == [f"m1p{n}" for n in range(1, 9)]
    assert truth.kits[1].pages[0] == last + 1
    assert {p.kit for p in truth.pages} == {0, 1}


def test_duplex_tiff_and_pdf_agree(tmp_path):
    res = _synth(tmp_path, "--seed", "3", "--kits", "1", "--dpi", "200", "--duplex",
                 "--format", "both", "--mode", "bitonal")
    assert res.returncode == 0, res.stderr
    truth = BatchTruth.load(tmp_path / "synth-3.truth.json")
    backs = [p for p in truth.pages if p.side == "back"]
    assert len(backs) * 2 == len(truth.pages) and all(p.blank and p.kind == "blank" for p in backs)
    with Image.open(tmp_path / "synth-3.tif") as tif:
        assert tif.n_frames == len(truth.pages)
        assert round(tif.info["dpi"][0]) == 200
    assert len(pdfium.PdfDocument(tmp_path / "synth-3.pdf")) == len(truth.pages)
    assert {p.mode for p in truth.pages} == {"bitonal"}
    kit = truth.kits[0]
    assert kit.sheets == sum(1 for p in truth.pages if p.side == "front" and p.kind != "label")


def test_bad_option_is_a_config_error(tmp_path):
    res = _synth(tmp_path, "--dpi", "250")
    assert res.returncode == 9 and "--dpi" in res.stderr


def _child_blocks(fields: dict, prefix: str) -> int:
    return sum(1 for k in range(5) if fields.get(f"{prefix}.{137 + 7 * k}"))


@pytest.mark.parametrize("with_anomaly", [False, True])
def test_truth_is_self_consistent(with_anomaly):
    model = load_form_model()
    planted_seen = set()
    for i in range(120):
        plan = plan_kit(np.random.default_rng([99, i]), i, "hand", with_anomaly)
        fields = plan.truth_fields()
        planted = set(plan.anomalies)
        planted_seen |= planted
        assert bool(planted) == with_anomaly
        assert planted <= set(PLANTABLE)
        for key in fields:
            model.field(key)  # every key is a field of the model
        for copy in plan.forms:
            if copy.form != "m1" or "m1p1" not in [f"m1p{n}" for n in copy.pages]:
                continue
            p = copy.prefix
            if "sheet_count_mismatch" not in planted:
                assert int(fields[f"{p}.25"]) == plan.sheet_count
            if not planted & {"children_count_mismatch", "missing_form_pages"}:
                assert int(fields[f"{p}.26"]) == _child_blocks(fields, p)
            cf = fields.get(f"{p}.31")
            if cf and "invalid_codice_fiscale" not in planted and 2 in copy.pages:
                res = check_cf(cf, fields[f"{p}.3"] or None, fields[f"{p}.4"] or None,
                               parse_date(fields[f"{p}.34"]), fields[f"{p}.33"])
                assert res.ok, (cf, res)
            if "expired_document" not in planted and 2 in copy.pages:
                assert parse_date(fields[f"{p}.45"]) >= plan.application_date
        for sheet in plan.sheets:
            if sheet.kind == "bollettino" and "payment_amount_mismatch" not in planted:
                due = fee_due_cents(plan.request, plan.motivo, plan.document, plan.application_date)
                assert sheet.arg("amount_cents") == due
        if not with_anomaly:
            kinds = [s.kind for s in plan.sheets]
            assert kinds.count("passport") == sum(1 for c in plan.forms if c.form == "m1")
            assert "bollettino" in kinds and kinds[0] == "label"
            assert fields["m1.29"] is True
            assert fields["m1.24"] == any(c.form == "m2" for c in plan.forms)
    if with_anomaly:
        assert len(planted_seen) >= 15  # the generator plants most of the catalogue


def test_passport_mrz_check_digits_hold_and_agree_with_the_form():
    for i in range(8):
        plan = plan_kit(np.random.default_rng([5, i]), i, "typed", False)
        rng = np.random.default_rng(i)
        _, meta = documents.passport_copy(_passport_data(plan.applicant), 150, rng)
        mrz = parse_td3(meta.mrz, today=dt.date(2026, 11, 1))
        assert mrz.valid
        fields = plan.truth_fields()
        assert mrz.number == fields["m1.44"]
        assert mrz.sex == fields["m1.33"]
        assert mrz.birth_date.isoformat() == fields["m1.34"]
        assert mrz.surname == fields["m1.3"].replace(" ", "<").replace("<", " ")


def test_committed_sample_is_what_its_command_makes(tmp_path):
    root = Path(__file__).resolve().parent.parent / "sample_scans"
    res = _synth(tmp_path, "--seed", "101", "--kits", "1", "--filled-by", "typed", "--dpi", "300",
                 "--mode", "bitonal", "--format", "both", "--name", "typed-300dpi-bitonal")
    assert res.returncode == 0, res.stderr
    for name in ("typed-300dpi-bitonal.truth.json", "typed-300dpi-bitonal.pdf"):
        assert (tmp_path / name).read_bytes() == (root / name).read_bytes(), name


def test_people_can_be_planned_on_29_february():
    from sample_scans.synth.people import sample_person

    p = sample_person(np.random.default_rng(1), dt.date(2024, 2, 29))
    assert p.birth_date < dt.date(2024, 2, 29)


def test_erased_fields_are_the_writing_the_scan_lost():
    """`erased_fields` maps what was written onto the scan: a scan that kept the page keeps
    every field; one whose threshold dropped the pen loses exactly the written fields."""
    from sample_scans.synth import handprint
    from sample_scans.synth.batch import _render_form_page_and_ink, erased_fields
    from sample_scans.synth.scanner import ScanMeta

    plan = plan_kit(np.random.default_rng([21, 1]), 21, "typed", False)
    copy = plan.forms[0]
    pens = np.random.default_rng([21, 2])
    writer, typed = handprint.sample_writer(pens, "bench"), handprint.sample_typed(pens)
    clean, ink = _render_form_page_and_ink(plan, copy, 1, writer, typed,
                                           np.random.default_rng(3), 200)
    meta = ScanMeta(rotation=0, skew_deg=0.0, scale=1.0, offset_px=(0.0, 0.0), dpi=200,
                    mode="bitonal")
    assert erased_fields(copy, 1, ink, clean, meta, 200) == []
    # the pen gone: what the owner wrote on page 1, signature included, is erased
    blank = np.where(ink >= 0.05, 255, clean).astype(np.uint8)
    written = {f"m1.{f.id}" for f in load_form_model().page("m1", 1).fields
               if f.id in copy.writes and copy.writes[f.id] != type(copy.writes[f.id])()}
    got = erased_fields(copy, 1, ink, blank, meta, 200)
    assert "m1.29" in got and set(got) <= written and len(got) >= len(written) - 2
