"""Istanze for the web app's tests: perfect-reader records (validators/testing.py) of generated
kit plans, validated as the pipeline does, saved through storage.index.save_record; optionally
with real rendered page images and field crops in the object store (the e2e test)."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from pipeline.form import load_form_model
from pipeline.record import Anomaly, Record
from sample_scans.synth.batch import SynthOptions, render_sheet
from sample_scans.synth.kit import KitPlan, plan_kit
from storage.db import session_scope
from storage.index import kit_id_for, save_record
from validators.codice_fiscale import check_char
from validators.rules import validate
from validators.testing import record_from_plan

BATCH = "web-test"
DPI = 200


def find_plan(want, seed: int = 11, limit: int = 400, with_anomaly: bool = True) -> KitPlan:
    for i in range(limit):
        plan = plan_kit(np.random.default_rng([seed, i]), i, "typed", with_anomaly)
        if want(plan):
            return plan
    raise AssertionError("no such kit in the search range")


@dataclass
class SampleKit:
    kit_id: str
    plan: KitPlan
    record: Record

    @property
    def secrets(self) -> list[str]:
        """The applicant's personal data that must never reach a log."""
        a = self.plan.applicant
        values = [a.surname, a.given_names, a.passport_number, self.record.fields["m1.31"].value]
        return [v for v in values if isinstance(v, str) and len(v) >= 4]


def build(plan: KitPlan, number: int, questura: str, review: tuple[str, ...] = ()) -> SampleKit:
    """The record the pipeline would make of `plan` with the header's province set to
    `questura`, fields in `review` read with low confidence, and validation run."""
    rec = record_from_plan(plan, review=review)
    sha = hashlib.sha256(f"{BATCH}-{number}".encode()).hexdigest()
    pages = [p.model_copy(update={"sha256": sha}) for p in rec.kit.pages]
    fields = dict(rec.fields)
    fields["m1.questore_sigla"] = fields["m1.questore_sigla"].model_copy(update={"value": questura})
    kit = rec.kit.model_copy(update={"batch": BATCH, "number": number, "pages": pages})
    rec = rec.model_copy(update={"kit": kit, "fields": fields,
                                 "inputs": [{"name": f"{BATCH}.pdf", "sha256": sha}]})
    lettura = [Anomaly.make("low_confidence_field", fields=[k], pages=[fields[k].page],
                            value=fields[k].value, confidence=0.5, read_as=fields[k].value,
                            repaired=False) for k in review]
    rec = rec.model_copy(update={"anomalies": rec.anomalies + lettura})
    rec = rec.model_copy(update={"anomalies": rec.anomalies + validate(rec)})
    return SampleKit(kit_id_for(BATCH, number), plan, rec)


def _png(image: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


def with_images(tk: SampleKit, store, pages: set[int]) -> SampleKit:
    """Render the kit's sheets listed in `pages` (others stay without an image), store them
    as the pipeline does (pages/<sha>/<index>.png), and give every field on them its real
    bbox and crop."""
    opts = SynthOptions(dpi=DPI, filled_by="typed")
    model = load_form_model()
    scale = DPI / 72.0
    fields = dict(tk.record.fields)
    for i, (sheet, ref) in enumerate(zip(tk.plan.sheets, tk.record.kit.pages)):
        if i not in pages:
            continue
        image = render_sheet(opts, tk.plan, sheet, np.random.default_rng([7, i]))
        store.put(f"pages/{ref.sha256}/{ref.index}.png", _png(image), "image/png")
        for key, fv in fields.items():
            if fv.page != i:
                continue
            f = model.field(f"{key.split('.')[0].split('#')[0]}.{key.split('.', 1)[1]}")
            boxes = [f.box] if f.box is not None else list(f.cells)
            if not boxes:
                continue
            x0, y0 = min(b.x for b in boxes) * scale, min(b.y for b in boxes) * scale
            x1 = max(b.x + b.w for b in boxes) * scale
            y1 = max(b.y + b.h for b in boxes) * scale
            crop = f"crops/{tk.kit_id}/{tk.record.pipeline_version}/{key}.png"
            pad = 4
            store.put(crop, _png(image[max(0, int(y0) - pad):int(y1) + pad,
                                       max(0, int(x0) - pad):int(x1) + pad]), "image/png")
            fields[key] = fv.model_copy(update={"bbox": (x0, y0, x1 - x0, y1 - y0), "crop": crop})
    record = tk.record.model_copy(update={"fields": fields})
    return SampleKit(tk.kit_id, tk.plan, record)


def save(engine, store, kits: list[SampleKit]) -> None:
    with session_scope(engine) as db:
        for tk in kits:
            save_record(db, tk.record, batch_id=BATCH, kit_id=tk.kit_id, store=store)


def corrected_cf(value: str) -> str:
    """The codice fiscale with its check character made right (invalid_codice_fiscale kits
    have a wrong last letter)."""
    return value[:15] + check_char(value[:15])
