"""What one envelope holds: people, the forms' contents cell by cell, the photocopies, and the
anomalies planted in it. Nothing here draws; sample_scans/synth/batch.py renders a KitPlan.

The plan is drawn from its own random stream (seed, kit index), so the ground truth of a
seed does not depend on rendering choices such as the resolution.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

import numpy as np

from pipeline.form import Field, FieldKind, load_form_model
from pipeline.normalise import compact_value, date_cells, date_value, text_value
from sample_scans.synth.people import (
    Address,
    Person,
    data,
    province_name,
    random_date,
    sample_address,
    sample_partita_iva,
    sample_person,
    sample_questura,
)
from validators.checklist import required_attachments
from validators.codice_fiscale import encode as encode_cf
from validators.coded_tables import edition_on, editions
from validators.fees import fee_due_cents

REQUESTS = ("rilascio", "rinnovo", "aggiornamento", "duplicato", "conversione")
REQUEST_FIELD = {"rilascio": "8", "rinnovo": "9", "aggiornamento": "10", "duplicato": "11",
                 "conversione": "12"}
# Renewal, update and conversion need a copy of the permit held (seed 001, "NOTA BENE").
NEEDS_PERMIT_COPY = frozenset({"rinnovo", "aggiornamento", "conversione"})
# Motivi whose holder earns an income, so Modulo 2 comes with the kit (Foglio Note f).
INCOME_MOTIVI = frozenset({"15", "16", "17", "18", "09", "10"})
FIRST_DATE = dt.date(2023, 3, 1)
LAST_DATE = dt.date(2026, 10, 30)

# Anomaly codes the generator can plant (shared/mod209/ANOMALIES.md). The `lettura` ones are
# the pipeline's own and are never planted.
PLANTABLE = (
    "missing_signature", "sheet_count_mismatch", "children_count_mismatch",
    "missing_form_pages", "missing_modulo2", "missing_passport_copy", "missing_permit_copy",
    "missing_payment_receipt", "payment_amount_mismatch", "missing_required_attachment",
    "not_postal_request_type", "invalid_code", "invalid_date", "expired_document",
    "invalid_codice_fiscale", "missing_required_field", "conflicting_choices", "mrz_mismatch",
    "missing_assicurata",
)


@dataclass(frozen=True, slots=True)
class Write:
    """What a person put in one field: characters per cell, a tick, a signature, a line."""

    chars: tuple[str | None, ...] = ()
    option: str | None = None
    ticked: bool = False
    signed: bool = False
    text: str = ""


@dataclass
class FormCopy:
    """One filled-in Modulo 1 or Modulo 2. `prefix` is the key prefix: m1, m1#2, m2."""

    form: str
    prefix: str
    owner: Person
    writes: dict[str, Write] = field(default_factory=dict)
    pages: tuple[int, ...] = ()  # pages present in the envelope
    permit: tuple[str, dt.date, str] | None = None  # number, expiry, motivo of the permit held


@dataclass(frozen=True, slots=True)
class SheetPlan:
    """One sheet of the envelope (the label page is not a sheet, but is planned here too)."""

    kind: str  # label | m1p1..m1p8 | m2p1..m2p3 | passport | permit | bollettino | <attachment>
    owner: str = "m1"  # whose: m1, m1#2 ("" for the label)
    form_index: int | None = None  # index into KitPlan.forms for form pages
    page: int | None = None
    doc: tuple[tuple[str, object], ...] = ()  # document arguments

    @property
    def is_sheet(self) -> bool:
        return self.kind != "label"

    def arg(self, name: str, default: object = None) -> object:
        return dict(self.doc).get(name, default)


@dataclass
class KitPlan:
    index: int
    assicurata: str
    codice_istanza: str
    ologramma: str
    questura: str
    application_date: dt.date
    request: str
    document: str  # permesso | carta
    motivo: str
    filled_by: str  # hand | typed
    applicant: Person
    address: Address
    forms: list[FormCopy] = field(default_factory=list)
    sheets: list[SheetPlan] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)
    details: list[dict] = field(default_factory=list)
    has_label: bool = True

    @property
    def sheet_count(self) -> int:
        return sum(1 for s in self.sheets if s.is_sheet)

    def truth_fields(self) -> dict[str, str | bool]:
        """Every field of every form page in the envelope, normalised (pipeline/normalise.py)."""
        model = load_form_model()
        out: dict[str, str | bool] = {}
        for copy in self.forms:
            for number in copy.pages:
                for f in model.page(copy.form, number).fields:
                    out[f"{copy.prefix}.{f.id}"] = field_value(f, copy.writes.get(f.id))
        return out


def field_value(f: Field, w: Write | None) -> str | bool:
    """The normalised value of what was written in a field (the truth format)."""
    if f.kind is FieldKind.SIGNATURE:
        return bool(w and w.signed)
    if f.kind is FieldKind.CHECK:
        if f.options:
            return (w.option or "") if w else ""
        return bool(w and w.ticked)
    if f.kind is FieldKind.LINE:
        return " ".join((w.text if w else "").upper().split())
    chars = w.chars if w else ()
    if f.kind is FieldKind.TEXT:
        return text_value(chars)
    if f.kind is FieldKind.DATE:
        return date_value(chars)
    return compact_value(chars)


# --- writing values into a field's cells ------------------------------------------------


def _cells(chars: list[str | None], n: int) -> tuple[str | None, ...]:
    out = [None if (c is None or c == " ") else c for c in chars[:n]]
    return tuple(out + [None] * (n - len(out)))


def put_text(f: Field, text: str) -> Write:
    """Left-aligned, flowing from one run into the next, cut where the cells end."""
    return Write(chars=_cells(list(text.upper()), len(f.cells)))


def put_right(f: Field, text: str) -> Write:
    n = len(f.cells)
    return Write(chars=_cells([None] * (n - len(text)) + list(text), n))


def put_runs(f: Field, parts: list[str]) -> Write:
    """One part per run (numero civico / lettera, prefisso / numero)."""
    chars: list[str | None] = []
    for run, part in zip(f.runs, parts + [""] * len(f.runs)):
        chars.extend(_cells(list(part.upper()), run.count))
    return Write(chars=tuple(chars))


def put_date(f: Field, value: dt.date | str) -> Write:
    return Write(chars=_cells(date_cells(value), 8))


TICK = Write(ticked=True)


# --- the plan ------------------------------------------------------------------------------


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(int(d)) for d in rng.integers(0, 10, n))


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array(list(weights.values()), dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _choose_motivo(rng, request: str, document: str, on: dt.date) -> tuple[str, str]:
    """(m1.16 requested, m1.19 held) for a request accepted at the post office on a date."""
    accepted = set(edition_on("motivo", on).codes)
    held = _pick(rng, {"16": 5, "13": 3, "15": 1, "24": 1})
    if request == "aggiornamento":
        return ("03" if document == "carta" else "04"), ("09" if document == "carta" else held)
    if request == "duplicato":
        return ("11" if document == "carta" else "12"), ("09" if document == "carta" else held)
    if request == "conversione":
        return "10", _pick(rng, {"24": 3, "18": 2, "13": 1})
    if document == "carta":
        return "09", held
    weights = {"16": 35, "13": 20, "15": 8, "24": 10, "18": 4, "05": 6, "14": 4, "07": 3,
               "25": 3, "20": 2, "21": 2, "19": 1, "17": 2}
    weights = {k: v for k, v in weights.items() if k in accepted}
    motivo = _pick(rng, weights)
    return motivo, motivo


def plan_kit(rng: np.random.Generator, index: int, filled_by: str, with_anomaly: bool) -> KitPlan:
    """Draw one envelope; with_anomaly plants one code of PLANTABLE that fits the kit."""
    today = random_date(rng, FIRST_DATE, LAST_DATE)
    questura = sample_questura(rng)
    request = _pick(rng, {"rilascio": 20, "rinnovo": 50, "aggiornamento": 12, "duplicato": 6,
                          "conversione": 12})
    document = "carta" if request != "conversione" and rng.random() < 0.12 else "permesso"
    motivo, held = _choose_motivo(rng, request, document, today)
    applicant = sample_person(rng, today, with_cf=request != "rilascio" or rng.random() < 0.3)
    married = rng.random() < 0.45 or motivo == "13"
    if married:
        applicant = replace(applicant, stato_civile="B")
    address = sample_address(rng, questura)
    plan = KitPlan(
        index=index, assicurata=_digits(rng, 12), codice_istanza=_digits(rng, 12),
        ologramma=_digits(rng, 12), questura=questura, application_date=today, request=request,
        document=document, motivo=motivo, filled_by=filled_by, applicant=applicant,
        address=address,
    )
    spouse = None
    if married:
        spouse = sample_person(
            rng, today, nationality=applicant.citizenship,
            sex="M" if applicant.sex == "F" else "F", with_cf=rng.random() < 0.7,
        )
        spouse = replace(spouse, stato_civile="B")
    children: list[Person] = []
    if rng.random() < 0.35 or motivo == "13":
        for _ in range(int(rng.integers(1, 4))):
            children.append(sample_person(rng, today, nationality=applicant.citizenship,
                                          age=(1, 13), surname=applicant.surname, with_cf=False))
    income = motivo in INCOME_MOTIVI or held in {"15", "16"} and request != "rilascio"
    income = income or (motivo == "13" and rng.random() < 0.5)
    second = spouse is not None and (document == "carta" or motivo == "13") and rng.random() < 0.5

    m1 = FormCopy("m1", "m1", applicant, pages=tuple(range(1, 9)))
    plan.forms.append(m1)
    family_m1 = None
    if second and spouse is not None:
        family_m1 = FormCopy("m1", "m1#2", spouse, pages=tuple(range(1, 9)))
        plan.forms.append(family_m1)
    m2 = FormCopy("m2", "m2", applicant, pages=(1, 2, 3)) if income else None
    if m2:
        plan.forms.append(m2)

    permit_expiry = today + dt.timedelta(days=int(rng.integers(-50, 60)))
    if request != "rilascio":
        m1.permit = ("I" + _digits(rng, 8), permit_expiry, held)
    fill_modulo1(rng, plan, m1, spouse, children, with_m2=m2 is not None,
                 modules=len(plan.forms))
    if family_m1 and spouse:
        if request != "rilascio":
            family_m1.permit = ("I" + _digits(rng, 8), permit_expiry, held)
        fill_modulo1(rng, plan, family_m1, applicant, children, with_m2=False,
                     modules=len(plan.forms))
    if m2:
        fill_modulo2(rng, plan, m2)

    plan.sheets = assemble_sheets(plan)
    anomaly = None
    if with_anomaly:
        codes = [c for c in PLANTABLE if applicable(plan, c)]
        anomaly = codes[int(rng.integers(len(codes)))]
        plant(rng, plan, anomaly)
    declared = plan.details[0].get("declared_sheets") if plan.details else None
    count = str(declared if declared is not None else plan.sheet_count)
    for copy in plan.forms:
        if copy.form == "m1":
            f25 = load_form_model().field("m1.25")
            copy.writes["25"] = put_right(f25, count) if rng.random() < 0.6 else put_right(
                f25, count.zfill(2))
    if anomaly == "missing_form_pages":  # the lost page leaves the declared count one short
        plan.anomalies.append("sheet_count_mismatch")
    plan.anomalies = sorted(set(plan.anomalies))
    return plan


def fill_modulo1(
    rng: np.random.Generator, plan: KitPlan, copy: FormCopy, spouse: Person | None,
    children: list[Person], *, with_m2: bool, modules: int,
) -> None:
    m = load_form_model()
    p = copy.owner
    w = copy.writes
    a = plan.address

    def f(n: str) -> Field:
        return m.field(f"m1.{n}")

    w["questore"] = Write(text=province_name(plan.questura))
    w["questore_sigla"] = put_text(f("questore_sigla"), plan.questura)
    w["3"] = put_text(f("3"), p.surname)
    w["4"] = put_text(f("4"), p.given_names)
    w["5"] = put_text(f("5"), a.province)
    w["6"] = put_text(f("6"), a.comune)
    w[REQUEST_FIELD[plan.request]] = TICK
    w["15" if plan.document == "carta" else "14"] = TICK
    w["16"] = put_text(f("16"), plan.motivo)
    if copy.permit:
        number, expiry, held = copy.permit
        w["18"] = put_text(f("18"), number)
        w["19"] = put_text(f("19"), held)
        w["20"] = put_date(f("20"), expiry)
    w["22"] = put_right(f("22"), str(modules).zfill(2) if rng.random() < 0.5 else str(modules))
    w["23"] = TICK
    if with_m2:
        w["24"] = TICK
    listed = children[:5]
    w["26"] = put_right(f("26"), str(len(listed)).zfill(2) if rng.random() < 0.5 else str(len(listed)))
    w["28"] = put_date(f("28"), plan.application_date)
    w["29"] = Write(signed=True)
    # page 2
    if p.codice_fiscale:
        w["31"] = put_text(f("31"), p.codice_fiscale)
    w["32"] = put_text(f("32"), p.stato_civile)
    w["33"] = put_text(f("33"), p.sex)
    w["34"] = put_date(f("34"), p.birth_date)
    w["35"] = put_text(f("35"), p.birth_state)
    w["36"] = put_text(f("36"), p.citizenship)
    w["37"] = Write(option="NO")
    w["38"] = put_text(f("38"), p.birth_city)
    w["40"] = TICK
    w["44"] = put_text(f("44"), p.passport_number)
    w["45"] = put_date(f("45"), p.passport_expiry)
    if plan.request == "rilascio":  # Foglio Note n: visa data on a first application only
        entry = plan.application_date - dt.timedelta(days=int(rng.integers(2, 8)))
        w["48"] = put_date(f("48"), entry)
        w["49"] = put_text(f("49"), str(rng.choice(data()["frontiere"])))
        w["50"] = put_text(f("50"), _digits(rng, 8))
        w["51"] = put_text(f("51"), "D")
        w["53" if rng.random() < 0.3 else "52"] = TICK
        motive = {"16": "LAVORO SUBORDINATO", "13": "FAMIGLIA", "24": "STUDIO",
                  "15": "LAVORO AUTONOMO"}.get(plan.motivo, "ALTRO")
        w["54"] = put_text(f("54"), motive)
        w["55"] = put_right(f("55"), "365")
        w["56"] = put_date(f("56"), entry - dt.timedelta(days=int(rng.integers(5, 40))))
        w["57"] = put_date(f("57"), entry + dt.timedelta(days=int(rng.integers(200, 365))))
    # page 3
    w["66"] = put_text(f("66"), a.province)
    w["67"] = put_text(f("67"), a.comune)
    w["68"] = put_text(f("68"), a.street)
    number, letter = (a.civico[:-1], a.civico[-1]) if a.civico[-1].isalpha() else (a.civico, "")
    w["69"] = put_runs(f("69"), [number, letter])
    if a.scala:
        w["70"] = put_text(f("70"), a.scala)
    if a.interno:
        w["71"] = put_text(f("71"), a.interno)
    w["72"] = put_text(f("72"), a.cap)
    if a.mobile:
        prefix, number = a.mobile.split()
        w["75"] = put_runs(f("75"), [prefix, number])
    # pages 4-5: carta di soggiorno (Foglio Note s, t)
    if plan.document == "carta" and plan.request in ("rilascio", "rinnovo"):
        w["87"] = put_date(f("87"), plan.application_date - dt.timedelta(days=int(rng.integers(20, 200))))
        w["88" if rng.random() < 0.7 else "89"] = TICK
        w["90"] = put_text(f("90"), a.province)
        w["92"] = put_text(f("92"), a.comune)
        w["94"] = TICK
        w["109"] = put_text(f("109"), a.province)
        w["110"] = put_text(f("110"), a.comune)
        w["111"] = put_text(f("111"), f"{a.street} {a.civico}")
    if (plan.document == "carta" or plan.motivo == "13") and (spouse or children):
        w["120"] = put_right(f("120"), str(len(children) + (1 if spouse else 0)))
        if spouse:
            w["122"] = TICK
        if children:
            w["123"] = TICK
            w["124"] = put_right(f("124"), str(len(children)))
    # page 6: spouse (section 11), pages 6-8: children under 14 (section 12)
    if spouse:
        for offset, value in _person_values(spouse):
            w[str(128 + offset)] = _put(f(str(128 + offset)), value)
    for k, child in enumerate(listed):
        for offset, value in _person_values(child):
            n = str(137 + 7 * k + offset)
            w[n] = _put(f(n), value)


def _person_values(p: Person) -> list[tuple[int, object]]:
    return [(0, p.surname), (1, p.given_names), (2, p.sex), (3, p.birth_date),
            (4, p.birth_state), (5, p.citizenship), (6, p.birth_city)]


def _put(f: Field, value: object) -> Write:
    if isinstance(value, dt.date):
        return put_date(f, value)
    return put_text(f, str(value))


def fill_modulo2(rng: np.random.Generator, plan: KitPlan, copy: FormCopy) -> None:
    m = load_form_model()
    w = copy.writes

    def f(n: str) -> Field:
        return m.field(f"m2.{n}")

    w["questore"] = Write(text=province_name(plan.questura))
    w["questore_sigla"] = put_text(f("questore_sigla"), plan.questura)
    people = data()
    self_employed = plan.motivo == "15"
    year = plan.application_date.year
    if self_employed:
        w["5"] = TICK
        w["17" if rng.random() < 0.5 else "15"] = TICK
        w["19"] = put_text(f("19"), str(rng.choice(["COMMERCIANTE", "ARTIGIANO", "AMBULANTE"])))
        w["42"] = put_text(f("42"), f"{copy.owner.surname} {copy.owner.given_names}")
        if copy.owner.codice_fiscale:
            w["43"] = put_text(f("43"), copy.owner.codice_fiscale)
        w["44"] = put_text(f("44"), sample_partita_iva(rng))
        w["46"] = put_text(f("46"), plan.questura)
        w["47"] = put_text(f("47"), _digits(rng, 6))
        w["48"] = put_date(f("48"), plan.application_date - dt.timedelta(days=int(rng.integers(200, 2000))))
        w["55"] = TICK
    else:
        w["4"] = TICK
        contract = _pick(rng, {"8": 6, "9": 3, "10": 1 if plan.motivo == "18" else 0})
        w[contract] = TICK
        if contract == "9":
            w["11"] = put_right(f("11"), str(int(rng.integers(6, 25))))
        if contract == "10":
            w["13"] = put_right(f("13"), str(int(rng.integers(60, 270))))
        w["19"] = put_text(f("19"), str(rng.choice(people["jobs"])))
        w["22"] = put_text(f("22"), str(rng.choice(people["employers"])))
        w["23"] = put_text(f("23"), sample_partita_iva(rng))
        w["24"] = put_text(f("24"), sample_partita_iva(rng))
        w["25"] = put_text(f("25"), _digits(rng, 8))
        if plan.request == "rilascio":
            w["34"] = TICK
            w["35"] = put_text(f("35"), plan.questura)
            w["36"] = put_date(f("36"), plan.application_date - dt.timedelta(days=int(rng.integers(3, 30))))
        w["59"] = TICK
        w["60"] = TICK
    w["53"] = put_right(f("53"), str(int(rng.integers(90, 320)) * 100))
    w["54"] = put_text(f("54"), str(year - 1))


def assemble_sheets(plan: KitPlan) -> list[SheetPlan]:
    """The envelope in scan order: label, forms, then the photocopies."""
    sheets = [SheetPlan("label", owner="", doc=(("assicurata", plan.assicurata),
                                                  ("ologramma", plan.ologramma)))]
    for i, copy in enumerate(plan.forms):
        for number in copy.pages:
            sheets.append(SheetPlan(f"{copy.form}p{number}", copy.prefix, i, number))
    fee = fee_due_cents(plan.request, plan.motivo, plan.document, plan.application_date)
    for copy in plan.forms:
        if copy.form != "m1":
            continue
        sheets.append(SheetPlan("passport", copy.prefix))
        if plan.request in NEEDS_PERMIT_COPY and copy.permit:
            number, expiry, held = copy.permit
            sheets.append(SheetPlan("permit", copy.prefix, doc=(
                ("number", number), ("expiry", expiry), ("motivo", held))))
        sheets.append(SheetPlan("bollettino", copy.prefix, doc=(("amount_cents", fee),)))
    for kind in required_attachments(plan.motivo, plan.request, plan.questura):
        sheets.append(SheetPlan(kind, "m1"))
    return sheets


def plant(rng: np.random.Generator, plan: KitPlan, code: str) -> None:
    """Plant one anomaly (a code of PLANTABLE) in a kit, recording it and its evidence."""
    plan.anomalies.append(code)
    m1 = plan.forms[0]
    detail: dict = {"code": code}
    model = load_form_model()

    def drop(kind: str) -> None:
        for i, s in enumerate(plan.sheets):
            if s.kind == kind:
                del plan.sheets[i]
                detail["removed"] = kind
                return
        raise ValueError(f"no {kind} sheet to remove")

    if code == "missing_signature":
        m1.writes.pop("29")
        detail["field"] = "m1.29"
    elif code == "sheet_count_mismatch":
        actual = plan.sheet_count
        delta = int(rng.choice([-2, -1, 1, 2, 3]))
        detail["declared_sheets"] = max(1, actual + delta)
        detail["field"] = "m1.25"
    elif code == "children_count_mismatch":
        listed = sum(1 for k in range(5) if str(137 + 7 * k) in m1.writes)
        declared = listed + 1 if listed == 0 or rng.random() < 0.5 else listed - 1
        m1.writes["26"] = put_right(model.field("m1.26"), str(declared))
        detail.update(field="m1.26", declared=declared, listed=listed)
    elif code == "missing_form_pages":
        number = int(rng.integers(4, 9))
        m1.pages = tuple(p for p in m1.pages if p != number)
        drop(f"m1p{number}")
        detail["page"] = f"m1p{number}"
        detail["declared_sheets"] = plan.sheet_count + 1
    elif code == "missing_modulo2":
        m1.writes["24"] = TICK
        plan.forms = [c for c in plan.forms if c.form != "m2"]
        plan.sheets = [s for s in plan.sheets if not s.kind.startswith("m2p")]
        detail["field"] = "m1.24"
    elif code == "missing_passport_copy":
        drop("passport")
    elif code == "missing_permit_copy":
        drop("permit")
    elif code == "missing_payment_receipt":
        drop("bollettino")
    elif code == "payment_amount_mismatch":
        for i, s in enumerate(plan.sheets):
            if s.kind == "bollettino":
                due = s.arg("amount_cents")
                wrong = int(rng.choice([a for a in (2750, 3046, 7046, 8046, 13046) if a != due]))
                plan.sheets[i] = replace(s, doc=(("amount_cents", wrong),))
                detail.update(due=due, paid=wrong)
                break
    elif code == "missing_required_attachment":
        kinds = required_attachments(plan.motivo, plan.request, plan.questura)
        kind = str(rng.choice(list(kinds)))
        drop(kind)
        detail["attachment"] = kind
    elif code == "not_postal_request_type":
        in_force = set(edition_on("motivo", plan.application_date).codes)
        dropped = sorted(c for e in editions("motivo") for c in e.codes if c not in in_force)
        motivo = str(rng.choice(dropped))
        m1.writes["16"] = put_text(model.field("m1.16"), motivo)
        detail.update(field="m1.16", value=motivo)
    elif code == "invalid_code":
        key, bad = [("5", "XY"), ("35", "ZZQ"), ("32", "C"), ("66", "QQ")][int(rng.integers(4))]
        m1.writes[key] = put_text(model.field(f"m1.{key}"), bad)
        detail.update(field=f"m1.{key}", value=bad)
    elif code == "invalid_date":
        key = "20" if "20" in m1.writes else "28"
        bad = str(rng.choice(["31022025", "30022024", "31042025", "00132025"]))
        m1.writes[key] = put_date(model.field(f"m1.{key}"), bad)
        detail.update(field=f"m1.{key}", value=bad)
    elif code == "expired_document":
        expired = plan.application_date - dt.timedelta(days=int(rng.integers(1, 400)))
        plan.applicant = replace(plan.applicant, passport_expiry=expired)
        m1.owner = plan.applicant
        m1.writes["45"] = put_date(model.field("m1.45"), expired)
        detail.update(field="m1.45", value=expired.isoformat())
    elif code == "invalid_codice_fiscale":
        a = plan.applicant
        cf = a.codice_fiscale or encode_cf(a.surname, a.given_names, a.birth_date, a.sex,
                                           data()["nationalities"][a.birth_state]["belfiore"])
        last = cf[-1]
        wrong = chr((ord(last) - 65 + 1 + int(rng.integers(24))) % 26 + 65)
        m1.writes["31"] = put_text(model.field("m1.31"), cf[:-1] + wrong)
        detail.update(field="m1.31", value=cf[:-1] + wrong)
    elif code == "missing_required_field":
        key = str(rng.choice(["3", "4", "34", "36"]))
        m1.writes.pop(key)
        detail["field"] = f"m1.{key}"
    elif code == "conflicting_choices":
        if rng.random() < 0.5:
            other = str(rng.choice([v for k, v in REQUEST_FIELD.items() if k != plan.request]))
        else:
            other = "14" if plan.document == "carta" else "15"
        m1.writes[other] = TICK
        detail["field"] = f"m1.{other}"
    elif code == "mrz_mismatch":
        number = plan.applicant.passport_number
        i = int(rng.integers(len(number) - 1))
        typo = number[:i] + number[i + 1] + number[i] + number[i + 2:]
        if typo == number:
            typo = number[:-1] + ("1" if number[-1] != "1" else "7")
        m1.writes["44"] = put_text(model.field("m1.44"), typo)
        detail.update(field="m1.44", value=typo, passport=number)
    elif code == "missing_assicurata":
        plan.sheets = [s for s in plan.sheets if s.kind != "label"]
        plan.has_label = False
    else:
        raise ValueError(f"cannot plant {code!r}")
    plan.details.append(detail)


def applicable(plan_probe: KitPlan, code: str) -> bool:
    """Whether a code can be planted in a kit like this one."""
    if code == "missing_permit_copy":
        return plan_probe.request in NEEDS_PERMIT_COPY
    if code == "missing_modulo2":
        return any(c.form == "m2" for c in plan_probe.forms)
    if code == "missing_required_attachment":
        return bool(required_attachments(plan_probe.motivo, plan_probe.request, plan_probe.questura))
    if code == "not_postal_request_type":
        # types dropped from the postal list exist only from the 2024 edition on
        in_force = set(edition_on("motivo", plan_probe.application_date).codes)
        dropped = {c for e in editions("motivo") for c in e.codes} - in_force
        return (plan_probe.request in ("rilascio", "rinnovo")
                and plan_probe.document == "permesso" and bool(dropped))
    return True
