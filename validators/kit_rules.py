"""The rule context, and the documentale rules: what the envelope holds.

The context gives typed, read-only access to one istanza record for the validators.

A rule never digs through the record's JSON shape itself: it asks the context for a field's
value, the application date, the pages of a kind or the Modulo 1 copies in the envelope, and
builds its anomalies with `RuleContext.anomaly`, which adds the crops of the fields used and
marks the anomaly uncertain when one of them was read with low confidence.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pipeline.normalise import parse_date
from pipeline.record import Anomaly, Attachment, FieldValue, Record
from validators.checklist import attachment_kinds, required_attachments
from validators.coded_tables import edition_on, editions
from validators.fees import fee_due_cents

REQUEST_FIELDS = {"8": "rilascio", "9": "rinnovo", "10": "aggiornamento", "11": "duplicato",
                  "12": "conversione"}
DOCUMENT_FIELDS = {"14": "permesso", "15": "carta"}
UNCERTAIN_IT = " (lettura incerta)"
UNCERTAIN_EN = " (uncertain reading)"


def form_of(key: str) -> str:
    """m1, m1#2 -> m1; m2 -> m2 (the form model's prefix of a record key)."""
    return "m1" if key.startswith("m1") else "m2"


def model_key(key: str) -> str:
    """A record key as the form model names it: m1#2.34 -> m1.34."""
    return f"{form_of(key)}.{key.split('.', 1)[1]}"


@dataclass(frozen=True)
class RuleContext:
    """One record under validation. `today` bounds "in the future" when the date is unknown."""

    record: Record
    today: dt.date | None = None

    # --- fields ---------------------------------------------------------------------------

    @cached_property
    def not_read(self) -> frozenset[str]:
        """Fields an unreadable_page lists as not read (a form page that could not be
        registered, or one every application writes on that reads empty): nothing is known
        of them, so no rule takes them as empty; that anomaly already sends them to a
        person."""
        return frozenset(k for a in self.record.anomalies if a.code == "unreadable_page"
                         for k in a.evidence.get("fields_not_read") or ())

    def field(self, key: str) -> FieldValue | None:
        return None if key in self.not_read else self.record.fields.get(key)

    def has(self, key: str) -> bool:
        """Whether the field was read on a page of the envelope (empty or not)."""
        return self.field(key) is not None

    def text(self, key: str) -> str:
        f = self.field(key)
        return f.value if f is not None and isinstance(f.value, str) else ""

    def ticked(self, key: str) -> bool:
        f = self.field(key)
        return f is not None and f.value is True

    def date(self, key: str) -> dt.date | None:
        return parse_date(self.text(key)) if self.text(key) else None

    def int_value(self, key: str) -> int | None:
        v = self.text(key)
        return int(v) if v.isdigit() else None

    def page_of(self, *keys: str) -> list[int]:
        return sorted({f.page for k in keys if (f := self.field(k)) is not None})

    # --- the kit ----------------------------------------------------------------------------

    @cached_property
    def application_date(self) -> dt.date | None:
        """m1.28, the date the application was signed (None when empty or impossible)."""
        return self.date("m1.28")

    @cached_property
    def copies(self) -> tuple[str, ...]:
        """The Modulo 1 copies in the envelope: m1, then m1#2... for family members."""
        owners = {p.owner for p in self.record.kit.pages if p.kind.startswith("m1p") and p.owner}
        owners |= {k.split(".")[0] for k in self.record.fields if k.startswith("m1")}
        owners.add("m1")
        return tuple(sorted(owners, key=lambda o: (o != "m1", o)))

    def form_pages(self, owner: str) -> set[int]:
        """Page numbers (1..8, 1..3) of one form copy present in the envelope (an unreadable
        page counts where its printed footer names it: it is there, unreadable_page says
        what could not be read)."""
        form = form_of(owner)
        return {int(kind[3:]) for p in self.record.kit.pages
                if (kind := p.printed_page or p.kind).startswith(f"{form}p")
                and (p.owner or form) == owner}

    def pages_of(self, kind: str) -> list[int]:
        return [i for i, p in enumerate(self.record.kit.pages) if p.kind == kind and not p.blank]

    def attachments(self, kind: str) -> list[Attachment]:
        return [a for a in self.record.attachments if a.kind == kind]

    def choices(self, owner: str, options: dict[str, str]) -> list[str]:
        """The boxes ticked among `options` (field number -> meaning) in one copy."""
        return [n for n in options if self.ticked(f"{owner}.{n}")]

    def chosen(self, owner: str, options: dict[str, str]) -> str | None:
        """The meaning of the one box ticked, None when none or several (ambiguous)."""
        ticked = self.choices(owner, options)
        return options[ticked[0]] if len(ticked) == 1 else None

    # --- building anomalies ------------------------------------------------------------------

    def anomaly(self, code: str, *, fields: list[str] | None = None, pages: list[int] | None = None,
                used: list[str] | None = None, message: tuple[str, str] | None = None,
                **evidence: Any) -> Anomaly:
        """An anomaly naming its fields and pages, with the crops of those fields.

        `used`: further fields the rule relied on (their uncertainty counts too). A field read
        with status "review" makes the anomaly uncertain: evidence `uncertain: true` with the
        fields, and the message says so; the severity stays (a person decides).
        """
        fields = fields or []
        keys = list(dict.fromkeys(fields + (used or [])))
        crops = {k: f.crop for k in keys if (f := self.field(k)) is not None and f.crop}
        if crops:
            evidence["crops"] = crops
        uncertain = [k for k in keys if (f := self.field(k)) is not None and f.status == "review"]
        if uncertain:
            evidence["uncertain"] = True
            evidence["uncertain_fields"] = uncertain
        if pages is None:
            pages = self.page_of(*fields)
        a = Anomaly.make(code, fields=fields, pages=pages, **evidence)
        it, en = message or (a.message_it, a.message_en)
        if uncertain:
            it, en = it + UNCERTAIN_IT, en + UNCERTAIN_EN
        return a.model_copy(update={"message_it": it, "message_en": en})


# Motivi whose holder earns an income: Modulo 2 "qualora si percepisca un reddito" (Foglio
# Note f): lavoro autonomo 15, subordinato 16, subordinato-attesa occupazione 17, stagionale 18.
INCOME_MOTIVI = frozenset({"15", "16", "17", "18"})
# Renewal, update, conversion need a copy of the permit held (seed 001, "NOTA BENE").
PERMIT_REQUESTS = frozenset({"rinnovo", "aggiornamento", "conversione"})


def in_any_edition(table: str, code: str) -> bool:
    """Whether a code is in some edition of its table (in force or not on the date)."""
    return any(code in e for e in editions(table))


def _motivo_in_force(ctx: RuleContext) -> str | None:
    """m1.16 when it is a motivo accepted on the application date (else None)."""
    motivo = ctx.text("m1.16")
    if not motivo:
        return None
    if ctx.application_date is None:
        return motivo if in_any_edition("motivo", motivo) else None
    return motivo if motivo in edition_on("motivo", ctx.application_date) else None


# --- documentale rules ----------------------------------------------------------------------


def missing_signature(ctx: RuleContext) -> list[Anomaly]:
    """Foglio Note f: an unsigned application is not accepted (m1.29, per Modulo 1 copy)."""
    return [ctx.anomaly("missing_signature", fields=[f"{o}.29"]) for o in ctx.copies
            if ctx.has(f"{o}.29") and not ctx.ticked(f"{o}.29")]


def sheet_count_mismatch(ctx: RuleContext) -> list[Anomaly]:
    """Foglio Note g: total sheets = forms + photocopies (label page and blank backs are not)."""
    counted = ctx.record.kit.sheets_counted
    out = []
    for o in ctx.copies:
        declared = ctx.int_value(f"{o}.25")
        if declared is not None and declared != counted:
            out.append(ctx.anomaly("sheet_count_mismatch", fields=[f"{o}.25"],
                                   declared=declared, counted=counted))
    return out


def missing_form_pages(ctx: RuleContext) -> list[Anomaly]:
    """MOD.209: Modulo 1 has 8 pages (per copy); a Modulo 2 that is there has 3.

    A Modulo 2 entirely absent is missing_modulo2's, not this rule's."""
    out = []
    groups = [(o, 8) for o in ctx.copies]
    if ctx.form_pages("m2"):
        groups.append(("m2", 3))
    for owner, count in groups:
        missing = sorted(set(range(1, count + 1)) - ctx.form_pages(owner))
        if missing:
            names = [f"{form_of(owner)}p{n}" + ("" if owner in ("m1", "m2") else f" ({owner})")
                     for n in missing]
            listed = ", ".join(names)
            out.append(ctx.anomaly("missing_form_pages", pages=[], missing=names, owner=owner,
                                   message=(f"Pagine del modulo mancanti: {listed}",
                                            f"Form pages missing: {listed}")))
    return out


def missing_modulo2(ctx: RuleContext) -> list[Anomaly]:
    """Foglio Note f: Modulo 2 when declared (m1.24) or when the motivo implies an income."""
    if ctx.form_pages("m2"):
        return []
    declared = [f"{o}.24" for o in ctx.copies if ctx.ticked(f"{o}.24")]
    motivo = ctx.text("m1.16")
    if not declared and motivo not in INCOME_MOTIVI:
        return []
    return [ctx.anomaly("missing_modulo2", fields=declared or ["m1.16"], motivo=motivo)]


def _photocopies(ctx: RuleContext, code: str, kind: str, needed: int) -> list[Anomaly]:
    found = len(ctx.pages_of(kind))
    if found >= needed:
        return []
    return [ctx.anomaly(code, pages=[], needed=needed, found=found, copies=list(ctx.copies))]


def missing_passport_copy(ctx: RuleContext) -> list[Anomaly]:
    """Seed 002, MOD209.md section 7: a passport copy per applicant (Modulo 1 copy)."""
    return _photocopies(ctx, "missing_passport_copy", "passport", len(ctx.copies))


def missing_permit_copy(ctx: RuleContext) -> list[Anomaly]:
    """Seed 001, NOTA BENE: renewal, update or conversion (m1.9, 10, 12) needs a copy of the
    permit held, per applicant; both sides of the card on one sheet are one page."""
    needing = [o for o in ctx.copies if ctx.chosen(o, REQUEST_FIELDS) in PERMIT_REQUESTS]
    if not needing or any(ctx.chosen(o, REQUEST_FIELDS) is None for o in ctx.copies):
        return []  # ambiguous request: conflicting_choices or missing_required_field says so
    return _photocopies(ctx, "missing_permit_copy", "permit", len(needing))


def missing_payment_receipt(ctx: RuleContext) -> list[Anomaly]:
    """Seed 003: one receipt of the pre-printed bollettino per electronic permit requested."""
    return _photocopies(ctx, "missing_payment_receipt", "bollettino", len(ctx.copies))


def payment_amount_mismatch(ctx: RuleContext) -> list[Anomaly]:
    """MOD209.md section 6: the bollettino amount due for request, motivo, document, date."""
    request = ctx.chosen("m1", REQUEST_FIELDS)
    document = ctx.chosen("m1", DOCUMENT_FIELDS)
    motivo = _motivo_in_force(ctx)
    on = ctx.application_date
    if request is None or document is None or motivo is None or on is None:
        return []
    due = fee_due_cents(request, motivo, document, on)
    used = ["m1.16", "m1.28", *(f"m1.{n}" for n in (*REQUEST_FIELDS, *DOCUMENT_FIELDS)
                                if ctx.ticked(f"m1.{n}"))]
    return [ctx.anomaly("payment_amount_mismatch", pages=a.pages, used=used,
                        paid=_euro(a.amount_cents), due=_euro(due),
                        paid_cents=a.amount_cents, due_cents=due, request=request,
                        document=document, motivo=motivo, on=on.isoformat())
            for a in ctx.attachments("bollettino")
            if a.amount_cents is not None and a.amount_cents != due]


def _euro(cents: int) -> str:
    return f"€{cents // 100},{cents % 100:02d}"


def missing_required_attachment(ctx: RuleContext) -> list[Anomaly]:
    """MOD209.md section 7, validators/tables/attachments.yaml: the Questura's checklist for
    motivo and request. Attachment pages are classified only generically, so counts are
    compared; the message lists what is required when the missing one cannot be told apart."""
    request = ctx.chosen("m1", REQUEST_FIELDS)
    motivo = ctx.text("m1.16")
    if request is None or not motivo or not in_any_edition("motivo", motivo):
        return []
    questura = ctx.text("m1.questore_sigla")
    required = required_attachments(motivo, request, questura)
    pages = ctx.record.kit.pages
    specific = [p.kind for p in pages if p.kind in required]
    generic = sum(1 for p in pages if p.kind == "attachment" and not p.blank)
    # A page taken for a second bollettino whose amount could not be read is more likely an
    # attachment the classifier mistook (seen on seed 777: a study certificate) than a receipt.
    receipts = ctx.attachments("bollettino")
    surplus = len(receipts) - len(ctx.copies)
    if surplus > 0:
        generic += min(surplus, sum(1 for a in receipts if a.amount_cents is None))
    names = attachment_kinds()
    if specific:  # a reader that tells kinds apart: name exactly what is missing
        missing = [k for k in required if k not in specific]
        if len(missing) > generic:
            text = "; ".join(names.get(k, k) for k in missing)
            return [ctx.anomaly("missing_required_attachment", pages=[], used=["m1.16"],
                                attachment=text, missing=missing, required=list(required))]
        return []
    if generic >= len(required):
        return []
    listed = "; ".join(names.get(k, k) for k in required)
    short = len(required) - generic
    it = (f"Allegati richiesti assenti: {short} su {len(required)} (le pagine allegate non sono "
          f"distinguibili; richiesti: {listed})")
    en = (f"Required attachments absent: {short} of {len(required)} (attachment pages cannot be "
          f"told apart; required: {listed})")
    return [ctx.anomaly("missing_required_attachment", pages=[],
                        used=["m1.16", "m1.questore_sigla"],
                        message=(it, en), attachment=listed, required=list(required),
                        found=generic, missing_count=short, questura=questura, motivo=motivo,
                        request=request)]
