"""A perfect reader for tests and tools: a generator's KitPlan turned into the istanza record the
pipeline would produce if it read every page and every field exactly.

Fields come from the plan's truth with confidence 1.0 (accepted), pages from the plan's sheets
with the kinds the reader gives them (photocopies other than passport, permit and bollettino
are only "attachment"), the passport MRZ built with validators.icao from the person (its check
digits hold) and the bollettino amount from the plan. This lets the validators be tested
against the truth's anomalies without the image pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline import __version__
from pipeline.form import load_form_model
from pipeline.record import Anomaly, Attachment, FieldValue, Kit, PageRef, Record
from sample_scans.synth.kit import KitPlan
from validators.icao import parse_td3, td3

NAMED_KINDS = ("label", "passport", "permit", "bollettino")


def _reader_kind(kind: str) -> str:
    if kind in NAMED_KINDS or kind[:3] in ("m1p", "m2p"):
        return kind
    return "attachment"


def _passport_mrz(plan: KitPlan, owner: str) -> dict:
    person = next((c.owner for c in plan.forms if c.prefix == owner), plan.applicant)
    lines = td3(issuing_state=person.citizenship, surname=person.surname,
                given_names=person.given_names, number=person.passport_number,
                nationality=person.citizenship, birth_date=person.birth_date, sex=person.sex,
                expiry_date=person.passport_expiry)
    d = parse_td3(lines, today=plan.application_date)
    return {"format": "TD3", "lines": list(lines), "valid": d.valid, "fields": {
        "surname": d.surname, "given_names": d.given_names, "number": d.number,
        "nationality": d.nationality, "sex": d.sex,
        "birth_date": d.birth_date.isoformat() if d.birth_date else None,
        "expiry_date": d.expiry_date.isoformat() if d.expiry_date else None,
        "document_code": d.document_code, "issuing_state": d.issuing_state,
        "checks": dict(d.checks)}}


def record_from_plan(plan: KitPlan, *, duplex: bool = False,
                     review: Iterable[str] = ()) -> Record:
    """The record a perfect reader makes of a planned kit.

    duplex: a blank back follows every sheet; review: field keys read "with low confidence"
    (status review, confidence 0.5), as the reader would leave them for a person.
    """
    model = load_form_model()
    review = set(review)
    pages: list[PageRef] = []
    attachments: list[Attachment] = []
    page_of: dict[tuple[str, int], int] = {}  # (form prefix, page number) -> page index
    for sheet in plan.sheets:
        kind = _reader_kind(sheet.kind)
        form_page = kind[:3] in ("m1p", "m2p")
        i = len(pages)
        pages.append(PageRef(source="perfect.pdf", sha256="0" * 64, index=i, kind=kind,
                             owner=sheet.owner if form_page else "", dpi=200))
        if form_page:
            page_of[(sheet.owner, int(kind[3:]))] = i
        elif kind == "passport":
            attachments.append(Attachment(kind=kind, pages=[i],
                                          mrz=_passport_mrz(plan, sheet.owner)))
        elif kind == "bollettino":
            attachments.append(Attachment(kind=kind, pages=[i],
                                          amount_cents=int(sheet.arg("amount_cents"))))
        elif kind != "label":
            attachments.append(Attachment(kind=kind, pages=[i]))
        if duplex:
            pages.append(PageRef(source="perfect.pdf", sha256="0" * 64, index=i + 1, kind="blank",
                                 blank=True, dpi=200))
    truth = plan.truth_fields()
    fields: dict[str, FieldValue] = {}
    for copy in plan.forms:
        for number in copy.pages:
            for f in model.page(copy.form, number).fields:
                key = f"{copy.prefix}.{f.id}"
                uncertain = key in review
                fields[key] = FieldValue(
                    value=truth[key], confidence=0.5 if uncertain else 1.0,
                    status="review" if uncertain else "accepted",
                    page=page_of[(copy.prefix, number)], bbox=(0.0, 0.0, 1.0, 1.0),
                    crop=f"crops/kit{plan.index}/{key.replace('#', '_')}.png")
    anomalies = [] if plan.has_label else [Anomaly.make("missing_assicurata")]
    return Record(
        pipeline_version=__version__,
        kit=Kit(batch="perfect", number=plan.index + 1,
                assicurata=plan.assicurata if plan.has_label else None,
                codice_istanza=plan.codice_istanza, pages=pages,
                sheets_counted=sum(1 for p in pages if p.kind not in ("label", "blank"))),
        fields=fields, attachments=attachments, anomalies=anomalies,
        inputs=[{"name": "perfect.pdf", "sha256": "0" * 64}], timings={},
    )
