"""`plico synth`: plan kits, render their sheets, scan them, write the batch and its truth.

Random streams: a kit's contents come from the stream (seed, kit); each page's pen, paper
and scanner effects from (seed, kit, sheet, purpose). The truth of a seed therefore does not
depend on the resolution or the output format, and the same seed gives byte-identical truth.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from pipeline import __version__
from pipeline.errors import ConfigError
from pipeline.form import FieldKind, load_form_model
from pipeline.form.render import blank_page_image
from pipeline.truth import BatchTruth, KitTruth, PageTruth
from sample_scans.synth import documents, handprint
from sample_scans.synth.kit import FormCopy, KitPlan, SheetPlan, plan_kit
from sample_scans.synth.people import Person
from sample_scans.synth.scanner import ScanMeta, ScanProfile, blank_back, scan
from sample_scans.synth.writers import ScannedPage, write_pdf, write_tiff
from validators.checklist import attachment_kinds

log = logging.getLogger(__name__)

DPIS = (200, 300, 600)
FILLED_BY = ("hand", "typed", "mixed")
FORMATS = ("pdf", "tiff", "both")
MODES = ("grey", "bitonal", "mixed")
# purposes of the per-page random streams
_PEN, _SCAN, _BACK, _WRITER = 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class SynthOptions:
    seed: int = 0
    kits: int = 1
    dpi: int = 300
    duplex: bool = False
    filled_by: str = "mixed"
    anomaly_rate: float = 0.0
    formats: str = "pdf"
    mode: str = "grey"
    name: str | None = None
    writer_pool: str = "bench"  # the hand-print recogniser trains on "train" writers only

    def __post_init__(self) -> None:
        if self.dpi not in DPIS:
            raise ConfigError(f"--dpi must be one of {DPIS}, not {self.dpi}")
        if self.filled_by not in FILLED_BY:
            raise ConfigError(f"--filled-by must be one of {FILLED_BY}, not {self.filled_by!r}")
        if self.formats not in FORMATS:
            raise ConfigError(f"--format must be one of {FORMATS}, not {self.formats!r}")
        if self.mode not in MODES:
            raise ConfigError(f"--mode must be one of {MODES}, not {self.mode!r}")
        if not 0.0 <= self.anomaly_rate <= 1.0:
            raise ConfigError("--anomalies is a rate between 0 and 1")
        if self.kits < 1:
            raise ConfigError("--kits must be at least 1")
        pools = (*handprint.POOLS, *handprint.NIST_POOLS)
        if self.writer_pool not in pools:
            raise ConfigError(f"writer pool is one of {', '.join(pools)}, not {self.writer_pool!r}")

    @property
    def batch_name(self) -> str:
        return self.name or f"synth-{self.seed}"


@dataclass
class BatchResult:
    name: str
    kits: int
    pages: int
    files: list[Path] = field(default_factory=list)
    truth: Path | None = None


def _rng(opts: SynthOptions, *key: int) -> np.random.Generator:
    return np.random.default_rng([opts.seed, *key])


def write_batch(
    opts: SynthOptions, out: Path, on_sheet: Callable[[int, int], None] | None = None
) -> BatchResult:
    """Generate the batch into `out` (created if needed); return what was written.

    on_sheet(done, total) is called after each rendered sheet (for a progress bar).
    """
    out.mkdir(parents=True, exist_ok=True)
    plans = []
    for k in range(opts.kits):
        rng = _rng(opts, k)
        filled_by = opts.filled_by if opts.filled_by != "mixed" else (
            "hand" if rng.random() < 0.5 else "typed")
        plans.append(plan_kit(rng, k, filled_by, with_anomaly=rng.random() < opts.anomaly_rate))

    scanned: list[ScannedPage] = []
    page_truth: list[PageTruth] = []
    kit_truth: list[KitTruth] = []
    total = sum(len(p.sheets) for p in plans)
    for plan in plans:
        first = len(scanned)
        erased: list[str] = []
        for s_index, sheet in enumerate(plan.sheets):
            pages, lost = _render_and_scan(opts, plan, s_index, sheet)
            erased += lost
            if on_sheet:
                on_sheet(len(page_truth) // (2 if opts.duplex else 1) + 1, total)
            sheet_no = None
            if sheet.is_sheet:
                sheet_no = sum(1 for s in plan.sheets[: s_index + 1] if s.is_sheet)
            for side, sp in zip(("front", "back"), pages):
                meta = sp.meta
                page_truth.append(PageTruth(
                    index=len(scanned), kit=plan.index,
                    kind="blank" if side == "back" else sheet.kind, owner=sheet.owner,
                    sheet=sheet_no, side=side, rotation=meta.rotation,
                    skew_deg=round(float(meta.skew_deg), 3), dpi=meta.dpi, mode=meta.mode,
                    blank=side == "back",
                ))
                scanned.append(sp)
        kit_truth.append(_kit_truth(plan, first, len(scanned) - 1, erased))

    name = opts.batch_name
    files: list[Path] = []
    if opts.formats in ("pdf", "both"):
        files.append(out / f"{name}.pdf")
        write_pdf(scanned, files[-1])
    if opts.formats in ("tiff", "both"):
        files.append(out / f"{name}.tif")
        write_tiff(scanned, files[-1])
    truth = BatchTruth(
        batch=name, generator=f"plico {__version__}", seed=opts.seed,
        options={"kits": opts.kits, "dpi": opts.dpi, "duplex": opts.duplex,
                 "filled_by": opts.filled_by, "anomalies": opts.anomaly_rate,
                 "format": opts.formats, "mode": opts.mode, "writer_pool": opts.writer_pool},
        files=[f.name for f in files], pages=page_truth, kits=kit_truth,
    )
    truth_path = out / f"{name}.truth.json"
    truth.dump(truth_path)
    log.info("batch %s: %d kits, %d pages", name, len(plans), len(scanned))
    return BatchResult(name, len(plans), len(scanned), files, truth_path)


def _kit_truth(plan: KitPlan, first: int, last: int, erased: list[str]) -> KitTruth:
    attachments = [s.kind for s in plan.sheets if s.is_sheet and not s.kind[:2] in ("m1", "m2")]
    return KitTruth(
        index=plan.index, assicurata=plan.assicurata if plan.has_label else None,
        codice_istanza=plan.codice_istanza, ologramma=plan.ologramma, questura=plan.questura,
        application_date=plan.application_date.isoformat(), request=plan.request,
        document=plan.document, motivo=plan.motivo, filled_by=plan.filled_by,
        pages=(first, last), sheets=plan.sheet_count, attachments=attachments,
        fields=plan.truth_fields(), anomalies=list(plan.anomalies), planted=plan.details,
        erased_fields=sorted(erased),
    )


def _profile(opts: SynthOptions, rng: np.random.Generator) -> ScanProfile:
    mode = opts.mode if opts.mode != "mixed" else ("bitonal" if rng.random() < 0.5 else "grey")
    return ScanProfile.for_batch(opts.dpi, mode)


def _render_and_scan(opts: SynthOptions, plan: KitPlan, s_index: int,
                     sheet: SheetPlan) -> tuple[list[ScannedPage], list[str]]:
    """The scanned page(s) of a sheet, and the record keys of the fields on it whose
    writing the scan erased (`erased_fields`)."""
    pen = _rng(opts, plan.index, s_index, _PEN)
    clean, ink = _render_sheet_and_ink(opts, plan, sheet, pen)
    scan_rng = _rng(opts, plan.index, s_index, _SCAN)
    profile = _profile(opts, scan_rng)
    image, meta = scan(clean, scan_rng, profile)
    pages = [ScannedPage(image, meta)]
    if opts.duplex:
        # the back of the sheet as fed: same orientation and shape as the scanned front
        back, back_meta = blank_back(image, _rng(opts, plan.index, s_index, _BACK), profile)
        pages.append(ScannedPage(back, back_meta))
    erased: list[str] = []
    if ink is not None and sheet.form_index is not None:
        copy = plan.forms[sheet.form_index]
        erased = erased_fields(copy, sheet.page or 1, ink, image, meta, opts.dpi)
    return pages, erased


#: A written field is erased by the scan when fewer than this share of its ink pixels
#: (drawn coverage at least half) come out dark (below `_DARK`) in the scanned page: a
#: light pen under a bitonal threshold. What is not on the page no reader can read.
ERASED_SHARE = 0.02
_DARK = 160


def erased_fields(copy: FormCopy, number: int, ink: np.ndarray, scanned: np.ndarray,
                  meta: ScanMeta, dpi: int) -> list[str]:
    """Record keys of the fields of form page `number` whose writing the scan erased: their
    ink pixels mapped onto the scan (`ScanMeta.page_to_scan`) are nearly all paper there,
    even one pixel around (blur and resampling move a stroke by a pixel). Ink over or
    within two pixels of the printed form (cell walls, labels) is not counted: the print
    stays dark whatever happened to the pen."""
    page = load_form_model().page(copy.form, number)
    m = meta.page_to_scan(ink.shape)
    dark = cv2.dilate((scanned < _DARK).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    printed = cv2.dilate((blank_page_image(copy.form, number, dpi) < _DARK).astype(np.uint8),
                         np.ones((5, 5), np.uint8)) > 0
    pen = (ink >= 0.5) & ~printed
    scale = dpi / 72.0
    out = []
    for f in page.fields:
        if f.id not in copy.writes:
            continue
        boxes = [f.box] if f.box is not None else list(f.cells)
        ys, xs = [], []
        for c in boxes:
            x0, y0 = int(c.x * scale), int(c.y * scale)
            x1, y1 = int((c.x + c.w) * scale) + 1, int((c.y + c.h) * scale) + 1
            yy, xx = np.nonzero(pen[y0:y1, x0:x1])
            ys.append(yy + y0)
            xs.append(xx + x0)
        y, x = np.concatenate(ys), np.concatenate(xs)
        if len(x) == 0:
            continue
        sx = np.round(m[0, 0] * x + m[0, 1] * y + m[0, 2]).astype(int)
        sy = np.round(m[1, 0] * x + m[1, 1] * y + m[1, 2]).astype(int)
        inside = (sx >= 0) & (sy >= 0) & (sx < dark.shape[1]) & (sy < dark.shape[0])
        kept = dark[sy[inside], sx[inside]].sum() / max(len(x), 1)
        if kept < ERASED_SHARE:
            out.append(f"{copy.prefix if copy.form == 'm1' else 'm2'}.{f.id}")
    return out


def _writers(opts: SynthOptions, plan: KitPlan, owner: str):
    """The pen of a form's owner: a hand-print writer, or a typed style for Patronato forms."""
    rng = _rng(opts, plan.index, 0 if owner == "m1" else 1, _WRITER)
    writer = handprint.sample_writer(rng, opts.writer_pool)
    typed = handprint.sample_typed(rng) if plan.filled_by == "typed" else None
    return writer, typed


def render_sheet(opts: SynthOptions, plan: KitPlan, sheet: SheetPlan,
                 rng: np.random.Generator) -> np.ndarray:
    """The clean page of a sheet (uint8 grey, A4 at the batch dpi) before scanning."""
    return _render_sheet_and_ink(opts, plan, sheet, rng)[0]


def _render_sheet_and_ink(opts: SynthOptions, plan: KitPlan, sheet: SheetPlan,
                          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """The clean page and, for a form page, the ink layer of what was written on it."""
    dpi = opts.dpi
    if sheet.form_index is not None:
        copy = plan.forms[sheet.form_index]
        owner = copy.prefix if copy.form == "m1" else "m1"
        writer, typed = _writers(opts, plan, owner)
        return _render_form_page_and_ink(plan, copy, sheet.page or 1, writer, typed, rng, dpi)
    person = _owner(plan, sheet.owner)
    if sheet.kind == "label":
        image, _ = documents.label_page(plan.assicurata, plan.ologramma, dpi, rng)
    elif sheet.kind == "passport":
        image, _ = documents.passport_copy(_passport_data(person), dpi, rng)
    elif sheet.kind == "permit":
        image, _ = documents.permit_copy(_permit_data(plan, sheet, person), dpi, rng)
    elif sheet.kind == "bollettino":
        payer = f"{person.surname} {person.given_names}"
        paid_on = plan.application_date - dt.timedelta(days=int(rng.integers(0, 6)))
        image, _ = documents.bollettino_receipt(int(sheet.arg("amount_cents")), payer, paid_on,
                                                dpi, rng)
    elif sheet.kind == "payslip":
        image, _ = documents.payslip(_payslip_data(plan, person, rng), dpi, rng)
    else:
        title = attachment_kinds().get(sheet.kind, sheet.kind)
        image, _ = documents.attachment_page(title, _attachment_lines(plan, person, title), dpi, rng)
    return image, None


def _owner(plan: KitPlan, prefix: str) -> Person:
    for copy in plan.forms:
        if copy.prefix == prefix:
            return copy.owner
    return plan.applicant


def _render_form_page(plan: KitPlan, copy: FormCopy, number: int, writer, typed,
                      rng: np.random.Generator, dpi: int) -> np.ndarray:
    return _render_form_page_and_ink(plan, copy, number, writer, typed, rng, dpi)[0]


def _render_form_page_and_ink(plan: KitPlan, copy: FormCopy, number: int, writer, typed,
                              rng: np.random.Generator, dpi: int) -> tuple[np.ndarray, np.ndarray]:
    """The clean form page and the ink layer of what its owner wrote (coverage 0..1)."""
    page = load_form_model().page(copy.form, number)
    base = blank_page_image(copy.form, number, dpi)
    ink = np.zeros(base.shape, dtype=np.float32)
    scale = dpi / 72.0
    pen = typed or writer

    def px(c) -> tuple[float, float, float, float]:
        return (c.x * scale, c.y * scale, c.w * scale, c.h * scale)

    for f in page.fields:
        w = copy.writes.get(f.id)
        if w is None:
            continue
        if f.kind is FieldKind.SIGNATURE:
            if w.signed and f.box is not None:
                handprint.draw_signature(ink, px(f.box), writer, rng, dpi)
        elif f.kind is FieldKind.LINE:
            if w.text and f.box is not None:
                handprint.draw_free_text(ink, px(f.box), w.text, pen, rng, dpi)
        elif f.kind is FieldKind.CHECK:
            boxes = [c for name, c in f.options if name == w.option] if f.options else (
                list(f.cells) if w.ticked else [])
            for c in boxes:
                mark = "X" if typed or rng.random() < 0.75 else "tick"
                handprint.draw_check(ink, px(c), pen, rng, dpi, mark=mark)
        else:
            for c, ch in zip(f.cells, w.chars):
                if ch is None:
                    continue
                if typed:
                    handprint.draw_typed_char(ink, px(c), ch, typed, dpi)
                else:
                    handprint.draw_char(ink, px(c), ch, writer, rng, dpi)
    image = handprint.apply_ink(np.array(base), ink)
    if copy.prefix == "m1" and page.form == "m1" and number == 1:
        _paste_sticker(image, page, plan.codice_istanza, dpi, rng)
    return image, ink


def _paste_sticker(image: np.ndarray, page, code: str, dpi: int, rng: np.random.Generator) -> None:
    """Poste's Codice Istanza sticker, stuck by hand inside its box on Modulo 1 page 1."""
    sticker = documents.istanza_sticker(code, dpi)
    sticker = sticker[0] if isinstance(sticker, tuple) else sticker
    box = dict(page.boxes)["codice_istanza"]
    scale = dpi / 72.0
    h, w = sticker.shape
    x0 = int(box.x * scale + max(0.0, (box.w * scale - w)) * rng.uniform(0.1, 0.9))
    y0 = int(box.y * scale + max(0.0, (box.h * scale - h)) * rng.uniform(0.1, 0.9))
    region = image[y0:y0 + h, x0:x0 + w]
    np.minimum(region, sticker[: region.shape[0], : region.shape[1]], out=region)


def _passport_data(p: Person) -> documents.PassportData:
    return documents.PassportData(
        issuing_state=p.citizenship, number=p.passport_number, surname=p.surname,
        given_names=p.given_names, nationality=p.citizenship, birth_date=p.birth_date,
        sex=p.sex, birth_place=p.birth_city, issue_date=p.passport_issued,
        expiry_date=p.passport_expiry,
    )


def _permit_data(plan: KitPlan, sheet: SheetPlan, p: Person) -> documents.PermitData:
    motivo = str(sheet.arg("motivo") or plan.motivo)
    return documents.PermitData(
        number=str(sheet.arg("number")), surname=p.surname, given_names=p.given_names,
        nationality=p.citizenship, birth_date=p.birth_date, sex=p.sex,
        expiry_date=sheet.arg("expiry"), permit_type=_permit_type(motivo),
        card=plan.document == "carta",
    )


def _permit_type(motivo: str) -> str:
    from validators.coded_tables import editions

    for ed in reversed(editions("motivo")):
        name = ed.name_of(motivo)
        if name:
            return name.upper()
    return "ALTRO"


def _payslip_data(plan: KitPlan, p: Person, rng: np.random.Generator) -> documents.PayslipData:
    from sample_scans.synth.people import data

    month = plan.application_date.replace(day=1) - dt.timedelta(days=1)
    return documents.PayslipData(
        employer=str(rng.choice(data()["employers"])), employee=f"{p.surname} {p.given_names}",
        codice_fiscale=p.codice_fiscale or "", period=month, gross_cents=int(rng.integers(120, 260)) * 1000,
    )


def _attachment_lines(plan: KitPlan, p: Person, title: str) -> list[str]:
    return [
        f"Si attesta che {p.given_names} {p.surname}, nato/a il {p.birth_date:%d/%m/%Y} "
        f"a {p.birth_city}, cittadinanza {p.citizenship},",
        f"residente in {plan.address.street} {plan.address.civico}, {plan.address.cap} "
        f"{plan.address.comune} ({plan.address.province}),",
        f"e' titolare della documentazione indicata: {title.lower()}.",
        f"Rilasciato in data {plan.application_date - dt.timedelta(days=30):%d/%m/%Y}.",
    ]
