"""Read one kit: its form pages' fields, its photocopies, into an istanza record.

The lettura anomalies are raised here (low_confidence_field, unreadable_page) together with
missing_assicurata; the validators add the documentale and dati ones.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from extractors import allograph, decode, decode_calibration, kit_decode, register
from extractors.fields import (
    FieldReading,
    document_value,
    line_value,
    proposal,
    read_page_fields,
    redecode,
)
from extractors.recognise import CellRecogniser
from extractors.text_layer import read_text_fields
from pipeline import __version__, pagestore
from pipeline.form import FieldKind, load_form_model
from pipeline.normalise import date_cells, parse_date
from pipeline.pages import PreparedPage
from pipeline.read_empty import (
    EMPTY_WHY,
    FAINT_WHY,
    declared_children_empty,
    faint_pages,
    m1_copies,
    must_be_written,
    reads_empty,
    required,
)
from pipeline.record import Anomaly, Attachment, FieldValue, Kit, PageRef, Record
from pipeline.split import KitPages
from validators import codice_fiscale as cfm
from validators import coded_tables
from validators.rules import CHILD_BLOCKS

# Machine print's classic confusions (S/5, I/1, O/0, B/8, Z/2, G/6) show as a letter among
# digits or a digit among letters. Such a reading is not corrected here (the value stays as
# read) but cannot be accepted without a person: measured on seed 6000, both typed errors
# out of 361 filled fields were of this shape, with confidences of 0.71 and 0.96.
CONFUSABLE = re.compile(r"\d[SIOBZGQD]\d|[A-Z][015826][A-Z]")


@dataclass(frozen=True, slots=True)
class ReadContext:
    batch: str
    recogniser: CellRecogniser
    threshold: float
    crops_dir: Path | None = None  # field crops as files under this folder (no object store)
    # with an object store, crops go to crops/<kit_id>/<pipeline_version>/<field>.png there:
    # one reading of a kit per version, so a reprocess never overwrites the crops a reviewer
    # saw beside an older version
    store: Any = None  # storage.objects.ObjectStore
    kit_id: str | None = None
    pipeline_version: str = __version__


def _decode_kit(readings: dict[str, FieldReading],
                documented: frozenset[str] = frozenset()) -> dict[str, FieldReading]:
    """Kit-level field-aware decoding (extractors/kit_decode.py): code tables by the edition in
    force on the application date (m1.28), each comune with its province and CAP, each
    codice fiscale jointly with the surname, name, birth date and sex of its form copy;
    `documented`: the fields a document's value fixed (`kit_decode.decode_kit`)."""
    model = load_form_model()
    app = readings.get("m1.28")
    on = parse_date(app.value) if app is not None and isinstance(app.value, str) else None
    kit: dict[str, kit_decode.KitField] = {}
    for key, r in readings.items():
        d = r.dist
        if d is None or r.decoded is None or not d.n or (
                d.answers and any(a not in d.alphabet or not a for a in d.answers)):
            continue
        f = model.field(key)
        decoded = r.decoded
        if on is not None and f.kind is FieldKind.CODE and f.table:
            decoded = decode.decode_field(f, d, on)
        kit[key] = kit_decode.KitField(f, tuple(filled for filled, _ in r.filled), d, decoded)
    out = dict(readings)
    for key, kf in kit_decode.decode_kit(kit, documented).items():
        if kf.decoded != readings[key].decoded:
            out[key] = redecode(readings[key], (kf.field, readings[key].filled), kf.decoded)
    return out


#: The applicant's fields a photocopied document's MRZ also spells, and the MRZ's name for
#: each: the passport's names, number, birth and expiry dates (check digits cover the
#: dates), the permit card's number (section 2); the citizenship code (m1.36, an ISO 3166
#: alpha-3 code as the MRZ's nationality is: NIST anomalies seed 910, BGD read BSD beside
#: two MRZs' BGD, raised invalid_code).
DOCUMENT_FIELDS = {"passport": {"m1.3": "surname", "m1.4": "given_names", "m1.44": "number",
                                "m1.34": "birth_date", "m1.45": "expiry_date",
                                "m1.36": "nationality", "m1.33": "sex"},
                   "permit": {"m1.18": "number", "m1.3": "surname", "m1.4": "given_names",
                              "m1.34": "birth_date", "m1.36": "nationality", "m1.33": "sex"}}


def _spelled(part: str, value: object) -> str:
    """An MRZ field's value as the form's cells hold it: a date as DDMMYYYY, a name's filler
    as spaces."""
    if part.endswith("_date"):
        day = parse_date(str(value or ""))
        return "".join(date_cells(day)) if day is not None else ""
    return " ".join(str(value or "").replace("<", " ").split())


def _decode_with_documents(readings: dict[str, FieldReading],
                           attachments: list[Attachment]) -> dict[str, FieldReading]:
    """The applicant's surname, given names, birth date, citizenship, passport and permit
    numbers decoded with the kit's check-valid MRZs of the documents that carry them
    (machine print, check digits) as a hypothesis beside the cells' own reading
    (`kit_decode.with_document`): a misread character the MRZ spells otherwise is mended,
    the cells' reading kept (read_as); one the cells could still spell sends the field to
    review with the MRZ's value; a value the cells clearly spell otherwise stays as
    written, in review, for mrz_mismatch to weigh. So is each Modulo 1 copy's (m1#2: NIST
    seed 9351, a permit number I43980229 read 143980279). Where a kit holds several
    passports or permits (a family's), each copy is decoded with the one whose values its
    fields spell likeliest together, never a field with one person's and the next with
    another's."""
    out = dict(readings)
    spelled: dict[str, list[str]] = {}
    for kind, parts in DOCUMENT_FIELDS.items():
        mrzs = [a.mrz_fields for a in attachments if a.kind == kind and a.mrz_fields]
        for copy in m1_copies(out) if mrzs else ():
            fields = {f"{copy}.{key.split('.', 1)[1]}": part for key, part in parts.items()}
            mrz = min(mrzs, key=lambda m: sum(_gap(out, k, _spelled(part, m.get(part)))
                                               for k, part in fields.items()))
            for key, part in fields.items():
                spelled.setdefault(key, []).append(_spelled(part, mrz.get(part)))
    # a field both documents spell is decoded with both at once, the one the cells spell
    # likeliest leading: MRZ names carry no check digit (NIST anomalies seed 919: the
    # passport's RICAROO for the permit's and the cells' RICARDO)
    for key, values in spelled.items():
        _with_values(out, key, values)
    # a value the documents spell otherwise is never accepted, nor its hand's same value
    doubted = [k for k, v in spelled.items()
               if (kf := _kit_field(out, k)) is not None and kit_decode.contradicted(kf, *v)]
    for key in doubted + allograph.echoes(out, doubted):
        _doubt(out, key)
    return out


def _gap(out: dict[str, FieldReading], key: str, spelled: str) -> float:
    """`kit_decode.document_gap` of field `key` as read; 0 for a field not read by cells."""
    kf = _kit_field(out, key)
    return 0.0 if kf is None else kit_decode.document_gap(kf, spelled)


def _kit_field(out: dict[str, FieldReading], key: str) -> kit_decode.KitField | None:
    """Field `key` of `out` as the kit-level decoding weighs it; None if not read by cells."""
    r = out.get(key)
    if r is None or r.dist is None or r.decoded is None or not r.filled:
        return None
    return kit_decode.KitField(load_form_model().field(key), tuple(on for on, _ in r.filled),
                               r.dist, r.decoded)


#: A spouse's block (section 11) and the applicant's fields of the same person on another
#: Modulo 1 copy: a couple applying together each write the other as spouse.
SPOUSE_FIELDS = {"128": "3", "129": "4"}


def _decode_family(readings: dict[str, FieldReading]) -> dict[str, FieldReading]:
    """A family's names decoded with what the envelope's other fields say of the same people,
    as a document's values are (`kit_decode.with_document`): a misread letter the cells could
    also be is mended, one they could still be goes to review with the other spelling first
    among its alternatives, a name clearly other stays as written.

    - The spouse's surname and name (m1.128, m1.129) with the applicant's (m1.3, m1.4) of
      each other Modulo 1 copy, which a passport MRZ has often fixed already (NIST seed 9840:
      GJONI on the husband's copy, read SJONI as the wife's spouse, accepted).
    - Each child's surname with every parent's in the envelope: the applicant's and the
      spouse's of each copy. Most children carry a parent's surname, written by the same
      hand (NIST seed 9200: EL FASSI read EL SASSI in two children's fields, accepted)."""
    out = dict(readings)
    copies = m1_copies(out)
    model = load_form_model()

    def values(keys) -> list[str]:
        # a name in conflict with another spelling is no spelling to offer (NIST seed 9880's
        # spouse DUKA, read OUKA beside the wife's DUKA, made her child's 0UKA an OUKA),
        # but for a check-valid MRZ's, which the cells spell too unclearly to take (seed
        # 10220: the applicant's HYSA read N45A, her children's H45A and N4SA)
        return sorted({v for k in keys if (r := out.get(k)) is not None
                       and (v := _offered(r, model.field(k).kind))})

    for prefix in copies:
        for own, theirs in SPOUSE_FIELDS.items():
            if found := values(f"{o}.{theirs}" for o in copies if o != prefix):
                _with_values(out, f"{prefix}.{own}", found, near=True)
    parents = values(f"{p}.{k}" for p in copies for k in ("3", "128"))
    for prefix in copies if parents else ():
        for child in CHILD_BLOCKS:  # a block's first field: the surname
            _with_values(out, f"{prefix}.{child}", parents, near=True)
    return out


def _offered(r: FieldReading, kind: FieldKind) -> str | None:
    """A name field's value as a spelling to offer a family member's (`_decode_family`): its
    value, or where that is in conflict the value a document gives it (`document_value`)."""
    if not isinstance(r.value, str) or not r.value:
        return None
    if r.decoded is not None and r.decoded.conflict:
        return document_value(r, kind)
    return r.value


def _decode_with_questura(readings: dict[str, FieldReading]) -> dict[str, FieldReading]:
    """Each form's Questura province code (m1.questore_sigla, m2.questore_sigla...) decoded
    with the city written on the kit's "Al Signor Questore di PADOVA" lines
    (`decode.questura_siglas`), as a document's value is (`kit_decode.with_document`): seed
    8900's PD read as PO, Prato, was accepted. One envelope goes to one Questura, so every
    form's line counts for every form's code (NIST seed 9630: Modulo 2's PD read PO beside
    Modulo 1's PADOVA, accepted). A code the cities' cells could not spell stays as read, in
    conflict (to review)."""
    out = dict(readings)
    siglas = sorted({s for k, r in out.items() if k.endswith(".questore")
                     and isinstance(r.value, str) and r.value
                     for s in decode.questura_siglas(r.value)})
    for key in [k for k in out if k.endswith(".questore_sigla")] if siglas else ():
        _with_values(out, key, siglas)
        r = out[key]
        if r.decoded is not None and r.decoded.text not in siglas:
            _doubt(out, key)
    lines = {k: readings.get(k + "_sigla") for k in out if k.endswith(".questore")}
    for key, sigla in lines.items():
        out[key] = _questura_named(out[key], sigla, decode.near_province(out[key].value))
    named = {out[k].value for k, sigla in lines.items()
             if (codes := decode.province_siglas(out[k].value)) and _sure_code(sigla) in codes}
    for key, sigla in lines.items() if len(named) == 1 else ():
        r = out[key]
        if r.filled and not decode.province_siglas(r.value):
            out[key] = _questura_named(r, sigla, next(iter(named)))
    return out


def _fixed(r: FieldReading, before: FieldReading) -> bool:
    """A field another document's value decided (`_decode_with_documents`)."""
    return r is not before and r.decoded is not None and not r.decoded.conflict


def _sure_code(r: FieldReading | None) -> str | None:
    """A code field's value as its own cells decode it, sure and uncontested; else None."""
    d = r.decoded if r is not None else None
    if d is None or d.conflict or d.changed or r.confidence < decode_calibration.threshold():
        return None
    return d.text


def _questura_named(line: FieldReading, sigla: FieldReading | None,
                    city: str | None) -> FieldReading:
    """The Questore's line taken as `city`, a province's name, when the province code beside
    it reads that province's on its own cells (before the lines decided it), sure and
    uncontested: two independent readings name the same Questura. `city` is the name one
    letter off the line (MTLANO, BRESCTA: NIST seeds 10000, 10010, sent to review), or,
    for a written line that names no province (seed 10010: Modulo 2's VICENZA read as
    nothing), the one city the kit's other lines name with their own codes: one envelope
    goes to one Questura. The line's confidence is then the code's; Tesseract's reading
    stays as `raw`."""
    code = _sure_code(sigla)
    if city is None or code is None or code not in decode.province_siglas(city):
        return line
    return replace(line, value=city, confidence=sigla.confidence)


#: "Moduli compilati (numero)": how many forms the applicant filled in, beside the boxes
#: that tick which (23 Modulo 1, 24 Modulo 2).
FORM_COUNT, FORM_TICKS = "22", ("23", "24")


def _decode_form_count(readings: dict[str, FieldReading]) -> dict[str, FieldReading]:
    """Each copy's number of forms filled in (m1.22) decoded with what the envelope shows,
    as a document's value is (`kit_decode.with_document`): the forms found in it (each
    Modulo 1 copy, a Modulo 2) and the boxes the copy ticks. A two-cell count the cells
    spell otherwise stays as written (NIST seeds 9880, 9890, 9920: 01 read 81 and accepted,
    02 read 08 and 03)."""
    out = dict(readings)
    copies = m1_copies(out)
    forms = len(copies) + any(k.startswith("m2.") for k in out)
    for o in copies:
        ticked = sum(1 for n in FORM_TICKS if (r := out.get(f"{o}.{n}")) and r.value is True)
        counts = {forms, ticked} - {0}
        _with_values(out, f"{o}.{FORM_COUNT}", [s for n in sorted(counts) for s in _count(n)])
    return out


def _count(n: int) -> list[str]:
    """A count as two cells may hold it: 03, " 3", "3 "."""
    return [f"{n:02d}", f"{n:>2}", f"{n:<2}"]


def _decode_children_count(readings: dict[str, FieldReading]) -> dict[str, FieldReading]:
    """Each copy's number of children (m1.26) weighed against the child blocks written in
    its section 12 (`kit_decode.with_document`, never mended: children_count_mismatch
    compares the two): a count the cells could also be goes to review with the listed count
    first among its alternatives, for the rule to weigh; one they clearly write stays (NIST
    seed 9970: a 0 with a hook, read 6 and accepted, beside no child listed)."""
    out = dict(readings)
    for o in m1_copies(out):
        blocks = [[f"{o}.{n}" for n in range(first, first + 7)] for first in CHILD_BLOCKS]
        if not all(k in out for b in blocks for k in b):
            continue  # a page of section 12 not read: the count stays as written
        listed = sum(1 for b in blocks if not all(reads_empty(out[k]) for k in b))
        _with_values(out, f"{o}.26", _count(listed), mend=False)
    return out


#: Each Modulo 1 copy's codici fiscali and the State of birth written beside each: the
#: applicant's (section 2) and the spouse's (section 11).
CF_STATES = (("31", "35"), ("135", "132"))


def _decode_cf_place(readings: dict[str, FieldReading]) -> dict[str, FieldReading]:
    """Each codice fiscale of a person born abroad decoded with the place code of the State
    of birth written beside it (`coded_tables.place_codes`) as a document's value
    (`kit_decode.with_document`): the code with that place and its check character made
    anew. A place the cells could also spell is mended, or sent to review with that code
    proposed; a code whose place the cells clearly spell otherwise is never accepted (NIST
    seed 10250: LAADLA74D03Z330F, born in Morocco, Z330, read ...Z370J, a check character
    that fits the misread place, and accepted)."""
    out = dict(readings)
    places = coded_tables.place_codes()
    for o in m1_copies(out):
        for cf_id, state_id in CF_STATES:
            key, state = f"{o}.{cf_id}", out.get(f"{o}.{state_id}")
            kf = _kit_field(out, key)
            place = places.get(state.value) if state is not None else None
            if kf is None or place is None or len(kf.decoded.text) != 16 \
                    or kf.decoded.text[11:15] == place:
                continue
            code = kf.decoded.text[:11] + place
            code += cfm.check_char(code)
            _with_values(out, key, [code])
            if (kf := _kit_field(out, key)) is not None and kit_decode.contradicted(kf, code):
                _doubt(out, key)
    return out


def _decode_sheet_count(readings: dict[str, FieldReading], counted: int
                        ) -> dict[str, FieldReading]:  # fmt: skip
    """Each copy's total of sheets (m1.25) weighed against the sheets counted in the
    envelope (`kit_decode.with_document`, never mended: sheet_count_mismatch compares the
    two): a total the cells could also be goes to review with the counted total first among
    its alternatives, for the rule to weigh; one they clearly write stays (NIST anomalies
    seeds 920, 923: 11 written in strokes a bitonal scan broke in two, read 88 and 55,
    blocking sheet_count_mismatch on clean kits)."""
    out = dict(readings)
    for o in m1_copies(out):
        _with_values(out, f"{o}.25", _count(counted), mend=False)
    return out


def _with_values(out: dict[str, FieldReading], key: str, values: list[str],
                 mend: bool = True, near: bool = False) -> None:
    """Field `key` of `out` decoded with `values` (each spelled as the cells would hold it)
    as another document's (`kit_decode.with_document`, `mend` and `near` passed on)."""
    kf = _kit_field(out, key)
    got = kit_decode.with_document(kf, *values, mend=mend, near=near) if kf else None
    if got is not None and got != kf.decoded:
        r = out[key]
        out[key] = redecode(r, (kf.field, r.filled), got)


def _doubt(out: dict[str, FieldReading], key: str) -> None:
    """Field `key` of `out` in conflict with the kit's other fields or documents: its value
    as decoded, never accepted."""
    r = out[key]
    out[key] = redecode(r, (load_form_model().field(key), r.filled),
                        replace(r.decoded, conflict=True))


def _threshold(ctx: ReadContext, r: FieldReading) -> float:
    """Tesseract's confidences against the settings' threshold; a classifier's calibrated
    ones against the threshold chosen with their calibration (decode_calibration.json)."""
    if r.dist is not None and r.dist.calibrated:
        return decode_calibration.threshold()
    return ctx.threshold


def _confusable(f, r: FieldReading, value: object) -> bool:
    """A Tesseract text reading with a letter/digit confusion shape (see CONFUSABLE). A
    codice fiscale mixes letters and digits by design and has its own check character."""
    if r.dist is not None and r.dist.calibrated:
        return False
    if not isinstance(value, str) or f.kind is not FieldKind.TEXT or decode.is_cf_field(f):
        return False
    return CONFUSABLE.search(value) is not None


def _status(ctx: ReadContext, f, r: FieldReading, why: str | None) -> str:
    """`why`: what the value contradicts in the form (`decode.contradiction`), or None."""
    confident = r.confidence >= _threshold(ctx, r)
    return "accepted" if confident and not r.doubtful and not _confusable(f, r, r.value) \
        and why is None else "review"


def _page_ref(p: PreparedPage, owner: str) -> PageRef:
    return PageRef(
        source=p.source.source, sha256=p.source.source_sha256, index=p.source.index,
        kind=p.kind, owner=owner, rotation=p.rotation, skew_deg=round(p.skew_deg, 3),
        blank=p.blank, dpi=p.dpi,
        registration_score=round(p.registration.score, 3) if p.registration else None,
        printed_page=p.printed_page,
    )


def _save_crop(ctx: ReadContext, kit_name: str, key: str, image: np.ndarray,
               bbox: tuple[float, float, float, float]) -> str | None:
    if ctx.crops_dir is None and (ctx.store is None or ctx.kit_id is None):
        return None
    x, y, w, h = (int(round(v)) for v in bbox)
    pad = 4
    crop = image[max(0, y - pad): y + h + pad, max(0, x - pad): x + w + pad]
    if crop.size == 0:
        return None
    if ctx.store is not None and ctx.kit_id is not None:
        object_key = f"crops/{ctx.kit_id}/{ctx.pipeline_version}/{key.replace('#', '_')}.png"
        ctx.store.put(object_key, pagestore.encode_png(crop), content_type="image/png")
        return object_key
    rel = Path("crops") / kit_name / f"{key.replace('#', '_')}.png"
    path = ctx.crops_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), crop)
    return rel.as_posix()


def kit_name(ctx: ReadContext, kit: KitPages, number: int) -> str:
    return kit.assicurata or f"{ctx.batch}-kit{number}"


def read_kit(ctx: ReadContext, kit: KitPages, number: int) -> Record:
    """The istanza record of one kit (fields, attachments, lettura anomalies)."""
    timings: dict[str, float] = {}
    model = load_form_model()
    name = kit_name(ctx, kit, number)
    refs = [_page_ref(p, o) for p, o in zip(kit.pages, kit.owners)]
    fields: dict[str, FieldValue] = {}
    anomalies: list[Anomaly] = []
    attachments: list[Attachment] = []
    pending: list[tuple[str, FieldReading, int, str | None]] = []
    blank_pages: set[int] = set()  # written pages that read empty (`must_be_written`)
    t = time.perf_counter()
    for i, (page, owner) in enumerate(zip(kit.pages, kit.owners)):
        if page.registration is not None:
            form, number_ = page.kind[:2], int(page.kind[3:])
            registered = register.warp(kit.image(i), page.registration, page.dpi)
            prefix = owner if form == "m1" else "m2"
            form_page = model.page(form, number_)
            # a printout with a text layer: its characters, not OCR, fill the comb fields
            text_layer = bool(page.source.text_words) and page.rotation == 0
            readings: dict[str, FieldReading] = read_page_fields(
                registered, form_page, page.dpi, ctx.recogniser, prefix=prefix,
                read_combs=not text_layer)
            if text_layer:
                readings.update(read_text_fields(page.source.text_words, form_page,
                                                 page.registration.as_array(), page.dpi, prefix))
            if must_be_written(form, number_, readings):
                blank_pages.add(i)
                anomalies.append(Anomaly.make(
                    "unreadable_page", pages=[i], reason="form_page_reads_empty",
                    form_page=page.kind, fields_not_read=sorted(readings)))
            for key, r in readings.items():
                # an empty field gets a crop only when it goes to review (an empty value
                # contradicts nothing, unless the form needs one there)
                keep = not reads_empty(r) or i in blank_pages or required(key) \
                    or _status(ctx, model.field(key), r, None) == "review"
                crop = _save_crop(ctx, name, key, registered, r.bbox) if keep else None
                pending.append((key, r, i, crop))
        elif page.kind in ("passport", "permit") and page.mrz is not None:
            mrz = page.mrz
            data = None
            if mrz.data is not None:
                d = mrz.data
                data = {"surname": d.surname, "given_names": d.given_names, "number": d.number,
                        "nationality": d.nationality, "sex": d.sex,
                        "birth_date": d.birth_date.isoformat() if d.birth_date else None,
                        "expiry_date": d.expiry_date.isoformat() if d.expiry_date else None,
                        "document_code": d.document_code, "issuing_state": d.issuing_state,
                        "checks": dict(d.checks)}
            attachments.append(Attachment(kind=page.kind, pages=[i], mrz={
                "format": mrz.format, "lines": list(mrz.lines), "valid": mrz.valid,
                "fields": data}))
        elif page.kind == "bollettino":
            attachments.append(Attachment(kind="bollettino", pages=[i],
                                          amount_cents=page.receipt.amount_cents if page.receipt else None))
        elif page.kind == "attachment":
            attachments.append(Attachment(kind="attachment", pages=[i]))
        elif page.kind == "unknown" and page.printed_page:
            # a form page that could not be read: every field of it is listed, not read
            owner = kit.owners[i] or page.printed_page[:2]
            form_page = model.page(page.printed_page[:2], int(page.printed_page[3:]))
            anomalies.append(Anomaly.make(
                "unreadable_page", pages=[i], reason="form_page_not_registered",
                form_page=page.printed_page,
                fields_not_read=[f"{owner}.{f.id}" for f in form_page.fields]))
        elif page.kind == "unknown":
            anomalies.append(Anomaly.make("unreadable_page", pages=[i], reason="unclassified"))
    # a hand's own letters first (`allograph`), then the documents' values, so that each
    # codice fiscale is decoded with the names and numbers they fix (NIST anomalies seed
    # 911: ROSA's R read B in the code and the name; the code decoded with BOSA stood
    # against the passport's ROSA), then again on what the kit-level decoding changed; the
    # letters the documents' fixes prove are the hand's too (NIST seed 10140: the passport's
    # PER read PEB, and PEB in three more State codes by the same hand)
    raw = {key: r for key, r, _, _ in pending}
    read = allograph.adapt(raw)
    documented = _decode_with_documents(read, attachments)
    if known := allograph.proved({k: r for k, r in documented.items() if _fixed(r, read[k])}):
        read = allograph.adapt(raw, known)
        documented = _decode_with_documents(read, attachments)
    fixed = frozenset(k for k, r in documented.items() if _fixed(r, read[k]))
    sheets = sum(1 for p in kit.pages if p.kind not in ("label", "blank"))
    decoded = _decode_with_documents(_decode_kit(documented, fixed), attachments)
    for step in (_decode_with_questura, _decode_family, _decode_form_count,
                 _decode_children_count, _decode_cf_place):
        decoded = step(decoded)
    decoded = _decode_sheet_count(decoded, sheets)
    unlisted = declared_children_empty(decoded)
    faint = faint_pages(pending)
    for i, keys in sorted(faint.items()):
        anomalies.append(Anomaly.make("unreadable_page", pages=[i], reason=FAINT_WHY,
                                      fields_not_read=keys))
    faint_keys = {k for keys in faint.values() for k in keys}
    for key, _, i, crop in pending:
        r = decoded[key]
        f = model.field(key)
        why = decode.contradiction(f, r.value)
        if key in faint_keys:
            why = FAINT_WHY
        elif reads_empty(r) and (i in blank_pages or required(key) or key in unlisted):
            # never accepted: the page's unreadable_page, missing_required_field or
            # children_count_mismatch says why
            why = EMPTY_WHY[0] if i in blank_pages else EMPTY_WHY[1] if required(key) \
                else EMPTY_WHY[2]
        status = _status(ctx, f, r, why)
        value, alts = proposal(r, f.kind) if status == "review" else (r.value, [])
        changed = r.decoded.changed if r.decoded is not None \
            else f.kind is FieldKind.LINE and r.value != line_value(r.raw)
        changed = changed or value != r.value
        read_as = " ".join(r.raw.split()) if changed else None
        fields[key] = FieldValue(value=value, confidence=round(r.confidence, 4),
                                 status=status, page=i, bbox=r.bbox, crop=crop, read_as=read_as,
                                 alternatives=alts or None)
        if status == "review" and why not in (*EMPTY_WHY, FAINT_WHY):
            anomalies.append(Anomaly.make("low_confidence_field", fields=[key], pages=[i],
                                          value=value, confidence=round(r.confidence, 3),
                                          read_as=read_as or r.value, repaired=changed,
                                          **({"reason": why} if why else {})))
    timings["read"] = round(time.perf_counter() - t, 4)
    for p in kit.pages:
        for step, seconds in p.timings.items():
            timings[step] = round(timings.get(step, 0.0) + seconds, 4)
    if kit.assicurata is None:
        anomalies.append(Anomaly.make("missing_assicurata"))
    inputs = sorted({(p.source.source, p.source.source_sha256) for p in kit.pages})
    return Record(
        pipeline_version=__version__,
        kit=Kit(batch=ctx.batch, number=number, assicurata=kit.assicurata,
                codice_istanza=kit.codice_istanza, pages=refs, sheets_counted=sheets),
        fields=fields, attachments=attachments, anomalies=anomalies,
        inputs=[{"name": n, "sha256": s} for n, s in inputs], timings=timings,
    )
