"""A Patronato's digital printout: comb fields come from the PDF's text layer, not OCR."""

from __future__ import annotations

import io

import numpy as np
from reportlab.pdfgen.canvas import Canvas

from extractors.recognise import TesseractCellRecogniser
from pipeline.form import FieldKind, load_form_model
from pipeline.form.render import _continues, _paint, layout_page
from pipeline.process import process_batch
from pipeline.settings import Settings
from sample_scans.synth.kit import plan_kit


def _printout(plan, pages=(1, 2, 3)) -> bytes:
    """Modulo 1 pages filled in by software: the form's vector drawing plus Courier text
    centred in the cells (what a Patronato's program prints to PDF)."""
    model = load_form_model()
    copy = plan.forms[0]
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(595, 842), invariant=1)
    for number in pages:
        page = model.page("m1", number)
        _paint(canvas, page, layout_page(page, _continues(page)))
        canvas.setFont("Courier", 12)
        for f in page.fields:
            w = copy.writes.get(f.id)
            if w is None or f.kind not in (FieldKind.TEXT, FieldKind.DIGITS, FieldKind.DATE,
                                           FieldKind.CODE):
                continue
            for c, ch in zip(f.cells, w.chars):
                if ch:
                    canvas.drawCentredString(c.x + c.w / 2, 842 - (c.y + c.h / 2) - 4, ch)
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def test_text_layer_fills_the_comb_fields(tmp_path):
    plan = plan_kit(np.random.default_rng([31, 0]), 0, "typed", False)
    pdf = tmp_path / "printout.pdf"
    pdf.write_bytes(_printout(plan))
    summary, records = process_batch(pdf, tmp_path / "out", Settings(data_dir=tmp_path / "d"),
                                     TesseractCellRecogniser())
    assert summary.pages == 3 and len(records) == 1
    record = records[0]
    assert [p.kind for p in record.kit.pages] == ["m1p1", "m1p2", "m1p3"]
    truth = plan.truth_fields()
    model = load_form_model()
    compared = 0
    for key, fv in record.fields.items():
        f = model.field(key)
        if f.kind in (FieldKind.TEXT, FieldKind.DIGITS, FieldKind.DATE, FieldKind.CODE):
            assert fv.value == truth[key], key
            assert fv.confidence == 1.0
            compared += 1
    assert compared > 40
