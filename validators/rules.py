"""The documentale and dati rules of shared/mod209/ANOMALIES.md, run over an istanza record.

Each rule is a small function `(ctx) -> list[Anomaly]` whose docstring names its source;
`RULES` is their order; `validate(record)` runs them. The documentale rules (what the
envelope holds) and the rule context live in validators/kit_rules.py, the dati rules (values)
here. The lettura anomalies and missing_assicurata are the reader's (pipeline/read.py).

Consequences are not counted twice: a Modulo 2 entirely absent is missing_modulo2 only; a
missing page of section 12 skips the children count; rules that depend on the request type,
the document, the motivo or the date step aside when those are ambiguous, invalid or
unknown (the anomaly about them is raised by its own rule).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from pipeline.form import FieldKind, load_form_model
from pipeline.normalise import UNREAD, edit_distance, parse_date
from pipeline.record import Anomaly, Attachment, Record
from validators.codice_fiscale import check as check_cf
from validators.codice_fiscale import name_code, surname_code
from validators.coded_tables import edition_on
from validators.icao import FILLER, FILLER_LOOKALIKES, check_digit, mrz_name
from validators.kit_rules import (
    DOCUMENT_FIELDS,
    REQUEST_FIELDS,
    RuleContext,
    in_any_edition,
    missing_form_pages,
    missing_modulo2,
    missing_passport_copy,
    missing_payment_receipt,
    missing_permit_copy,
    missing_required_attachment,
    missing_signature,
    model_key,
    payment_amount_mismatch,
    sheet_count_mismatch,
)

Rule = Callable[[RuleContext], list[Anomaly]]

REQUIRED_FIELDS = {"3": 1, "4": 1, "16": 1, "34": 2, "36": 2}  # field -> its Modulo 1 page
# Birth dates: applicant, spouse (section 11), the five children (section 12), employer.
BIRTH_DATES = ("m1.34", "m1.131", *(f"m1.{140 + 7 * k}" for k in range(5)), "m2.30")
# Periods written as from / until: the visa's "valido dal" 56 and "sino al" 57 (section 5).
PERIODS = (("56", "57"),)
CHILD_BLOCKS = tuple(range(137, 172, 7))  # first field of each of the 5 blocks of section 12


# --- dati --------------------------------------------------------------------------------


def not_postal_request_type(ctx: RuleContext) -> list[Anomaly]:
    """Seed 001 list of postal types, by edition (editions.yaml): a motivo dropped from the
    edition in force on m1.28 is to be filed at the Questura."""
    on = ctx.application_date
    if on is None:
        return []
    in_force = edition_on("motivo", on)
    out = []
    for o in ctx.copies:
        motivo = ctx.text(f"{o}.16")
        if motivo and motivo not in in_force and in_any_edition("motivo", motivo):
            out.append(ctx.anomaly("not_postal_request_type", fields=[f"{o}.16"], used=["m1.28"],
                                   value=motivo, edition=in_force.name))
    return out


def invalid_code(ctx: RuleContext) -> list[Anomaly]:
    """Seed 001, Tabelle allegate 1-5, Foglio Note i, j: every coded field against the edition
    of its table in force on m1.28 (any edition when the date is unknown). A motivo is checked
    against every edition: one that was dropped is not_postal_request_type's. A value with a
    cell the recogniser read nothing in (`UNREAD`: typed seed 797, the Questura's sigla FI read
    F?) is left to its reading doubt."""
    model = load_form_model()
    on = ctx.application_date
    out = []
    for key, fv in ctx.record.fields.items():
        value = fv.value
        # a cell whose character was not read is a reading for review, not a code to check;
        # nor is a field an unreadable_page lists as not read
        if not isinstance(value, str) or not value or UNREAD in value or key in ctx.not_read:
            continue
        spec = model.field(model_key(key))
        if spec.table is None:
            continue
        if spec.table == "motivo" or on is None:
            ok = in_any_edition(spec.table, value)
        else:
            ok = value in edition_on(spec.table, on)
        if not ok:
            out.append(ctx.anomaly("invalid_code", fields=[key], value=value, table=spec.table))
    return out


def invalid_date(ctx: RuleContext) -> list[Anomaly]:
    """A date must exist (the normaliser keeps an impossible one as raw DDMMYYYY) and be
    possible: nobody is born after the application date, no period ends before it starts, and
    the application is not dated after `today` (when validate is given one)."""
    model = load_form_model()
    limit = ctx.application_date or ctx.today
    out = []
    for key, fv in ctx.record.fields.items():
        if not isinstance(fv.value, str) or not fv.value or key in ctx.not_read:
            continue
        spec = model.field(model_key(key))
        if spec.kind is not FieldKind.DATE:
            continue
        d = ctx.date(key)
        if d is None:
            out.append(ctx.anomaly("invalid_date", fields=[key], value=fv.value,
                                   reason="not a date"))
        elif limit and model_key(key) in BIRTH_DATES and d > limit:
            out.append(ctx.anomaly("invalid_date", fields=[key], used=["m1.28"], value=fv.value,
                                   reason="birth after the application date"))
        elif key == "m1.28" and ctx.today and d > ctx.today:
            out.append(ctx.anomaly("invalid_date", fields=[key], value=fv.value,
                                   reason="application dated in the future"))
    for o in ctx.copies:
        for start, end in PERIODS:
            since, until = ctx.date(f"{o}.{start}"), ctx.date(f"{o}.{end}")
            if since and until and until < since:
                out.append(ctx.anomaly("invalid_date", fields=[f"{o}.{end}"],
                                       used=[f"{o}.{start}"], value=ctx.text(f"{o}.{end}"),
                                       reason=f"ends before {o}.{start}"))
    return out


def expired_document(ctx: RuleContext) -> list[Anomaly]:
    """Passport or equivalent expired on the application date (m1.45 < m1.28); a document
    valid "sino al" a day is still valid on that day. Where the form's date is not expired,
    the applicant's passport copy itself may show it: its MRZ's expiry date (check digits
    holding) before the application date (`source: passport_mrz`). An application date
    read as no day is taken at its likeliest reading that is one (the anomaly is then
    uncertain, and weighed against that field's other readings)."""
    on = ctx.application_date or _likeliest_date(ctx, "m1.28")
    if on is None:
        return []
    out = []
    for o in ctx.copies:
        expiry, source = ctx.date(f"{o}.45"), {}
        if expiry is None or expiry >= on:
            mrz = _applicant_passport(ctx, o)
            expiry = parse_date(str(mrz.get("expiry_date") or "")) if mrz else None
            source = {"source": "passport_mrz"}
        if expiry is not None and expiry < on:
            out.append(ctx.anomaly("expired_document", fields=[f"{o}.45"], used=["m1.28"],
                                   value=expiry.isoformat(), application_date=on.isoformat(),
                                   **source))
    return out


def _likeliest_date(ctx: RuleContext, key: str) -> dt.date | None:
    """The best alternative reading of a date field sent to review that is a day."""
    f = ctx.field(key)
    if f is None or f.status != "review":
        return None
    return next((d for v, _ in f.alternatives or () if (d := parse_date(str(v))) is not None), None)


def _applicant_passport(ctx: RuleContext, o: str) -> dict | None:
    """The MRZ fields of copy `o`'s applicant's passport: the kit's only check-valid one, or
    the one whose birth date is the form's."""
    passports = [a.mrz["fields"] for a in _valid_mrz(ctx, "passport")]
    if len(passports) > 1:
        born = ctx.date(f"{o}.34")
        passports = [m for m in passports if born is not None and m.get("birth_date") == born.isoformat()]
    return passports[0] if len(passports) == 1 else None


#: Modulo 1 field -> the MRZ field (validators/icao) it is compared with.
_MRZ_FIELD = {"3": "surname", "4": "given_names", "34": "birth_date", "33": "sex", "44": "number"}
#: name field -> its codice fiscale code and where that code sits in the CF.
_NAME_PARTS = {"3": (surname_code, slice(0, 3)), "4": (name_code, slice(3, 6))}


def _outvoted_names(ctx: RuleContext, o: str) -> dict[str, str]:
    """The name fields (3, 4) of copy `o` whose reading two other documents contradict
    together: a check-valid passport MRZ of the same person (birth date and sex as on the
    form) spells the name otherwise, and the form's own codice fiscale (well formed, check
    character right) encodes the MRZ's spelling, not the form's. Field -> the MRZ's name."""
    cf = ctx.text(f"{o}.31")
    if not cf or not check_cf(cf).ok:
        return {}
    birth, sex = ctx.date(f"{o}.34"), ctx.text(f"{o}.33")
    out: dict[str, str] = {}
    for a in _valid_mrz(ctx, "passport"):
        m = a.mrz["fields"]
        if birth is None or m.get("birth_date") != birth.isoformat() or m.get("sex") != sex:
            continue
        for n, (code, where) in _NAME_PARTS.items():
            form, mrz = ctx.text(f"{o}.{n}"), m[_MRZ_FIELD[n]].replace(FILLER, " ").strip()
            cells = len(load_form_model().field(f"m1.{n}").cells)
            if (form and mrz and not _names_agree(form, mrz, cells)
                    and code(mrz) == cf[where] != code(form)):
                out[n] = mrz
    return out


def read_against_documents(ctx: RuleContext) -> list[Anomaly]:
    """Foglio Note a (surname and name as in the passport) and D.M. 23/12/1976: a surname or
    name whose reading the passport's MRZ and the form's codice fiscale both contradict, in
    the same way, is most likely misread on the form: a reading doubt for a person to check
    (`low_confidence_field`, with the MRZ's spelling), not two documentary anomalies. Seen on
    unseen seed 787: BEN AMOR typed, its M read W by both readers, raised
    invalid_codice_fiscale and mrz_mismatch. `invalid_codice_fiscale` and `mrz_mismatch` leave
    such fields to this rule."""
    out = []
    for o in ctx.copies:
        for n, mrz in _outvoted_names(ctx, o).items():
            key = f"{o}.{n}"
            if (f := ctx.field(key)) is not None and f.status != "review":
                out.append(ctx.anomaly("low_confidence_field", fields=[key], value=ctx.text(key),
                                       mrz=mrz, reason="mrz_and_codice_fiscale_disagree"))
    return out


def invalid_codice_fiscale(ctx: RuleContext) -> list[Anomaly]:
    """D.M. 23/12/1976: m1.31's check character, and agreement with surname (3), name (4),
    birth date (34), sex (33) and State of birth (35: born abroad, a Z place code), each
    only when present; a name the passport's MRZ and the code both contradict is a reading
    doubt (`read_against_documents`), not a disagreement. (NIST anomalies seed 926: a planted
    wrong check character was cleared by a reading whose place code H336, a comune's, the
    Egyptian-born applicant's Z336 cannot be.)"""
    out = []
    for o in ctx.copies:
        cf = ctx.text(f"{o}.31")
        if not cf:
            continue
        sex = ctx.text(f"{o}.33")
        state = ctx.text(f"{o}.35")
        outvoted = _outvoted_names(ctx, o)
        result = check_cf(cf, None if "3" in outvoted else ctx.text(f"{o}.3") or None,
                          None if "4" in outvoted else ctx.text(f"{o}.4") or None,
                          ctx.date(f"{o}.34"), sex if sex in ("F", "M") else None,
                          state != "ITA" if state else None)
        if not result.ok:
            used = [f"{o}.{n}" for n in ("3", "4", "34", "33", "35") if ctx.text(f"{o}.{n}")]
            out.append(ctx.anomaly("invalid_codice_fiscale", fields=[f"{o}.31"], used=used,
                                   value=cf, well_formed=result.well_formed,
                                   check_ok=result.check_ok,
                                   disagreements=list(result.disagreements)))
    return out


def missing_required_field(ctx: RuleContext) -> list[Anomaly]:
    """Fields every application needs: surname 3, name 4, motivo 16, a request type 8-12,
    birth date 34, citizenship 36 (fields on a missing page are missing_form_pages')."""
    out = []
    for o in ctx.copies:
        pages = ctx.form_pages(o)
        for n, page in REQUIRED_FIELDS.items():
            key = f"{o}.{n}"
            if page in pages and ctx.has(key) and not ctx.text(key):
                out.append(ctx.anomaly("missing_required_field", fields=[key], field=key))
        read = any(ctx.has(f"{o}.{n}") for n in REQUEST_FIELDS)  # not: unreadable_page's
        if 1 in pages and read and not ctx.choices(o, REQUEST_FIELDS):
            keys = [f"{o}.{n}" for n in REQUEST_FIELDS]
            out.append(ctx.anomaly("missing_required_field", fields=keys, field=f"{o}.8-12"))
    return out


def conflicting_choices(ctx: RuleContext) -> list[Anomaly]:
    """Foglio Note c: one request type (8-12) and one of permit / card (14-15) is ticked."""
    out = []
    for o in ctx.copies:
        for options in (REQUEST_FIELDS, DOCUMENT_FIELDS):
            ticked = [f"{o}.{n}" for n in ctx.choices(o, options)]
            if len(ticked) > 1:
                listed = ", ".join(ticked)
                out.append(ctx.anomaly(
                    "conflicting_choices", fields=ticked, ticked=ticked,
                    message=(f"Più caselle barrate dove se ne attende una: {listed}",
                             f"More than one box ticked where one is expected: {listed}")))
    return out


# Characters that OCR-B and block capitals are read as one another. The MRZ check digits do
# not cover the names, and a form reading may confuse them too: two values that differ only
# within these classes are taken as the same (measured: "IDRISSI" read "IORISSI" from an MRZ
# whose check digits held, "BM5979759" read "8M5979759" from the form).
_CONFUSABLE = str.maketrans("ODQILBSZG", "000118526")


def _same(a: str, b: str) -> bool:
    return a.translate(_CONFUSABLE) == b.translate(_CONFUSABLE)


def _names_agree(form: str, mrz: str, cells: int) -> bool:
    """A form name vs an MRZ name, after MRZ transliteration (ICAO 9303 Part 3 §6); either may
    be cut where its cells end (the form's boxes, the MRZ's 39 characters)."""
    try:
        a = mrz_name(form, "", 39).rstrip(FILLER).replace(FILLER, " ").translate(_CONFUSABLE)
    except ValueError:  # nothing left after transliteration: it cannot agree
        return False
    b = mrz.strip().translate(_CONFUSABLE)
    if a == b:
        return True
    return (len(form) >= cells - 1 and b.startswith(a)) or (len(b) >= 30 and a.startswith(b))


def _name_agrees(form: str, name: str, seconds: list[str], cells: int) -> bool:
    """The form's name agrees with the passport MRZ's `name`, or with a second MRZ's of the
    same person (`seconds`: the permit card's) from which the passport's is one character
    apart. MRZ names carry no check digit (ICAO 9303 Part 3 §4.9), so a letter misread there
    passes the check digits: on unseen seed 781 a passport's CIOBANU read CTOBANU, and on
    792 HALYNA read HALYNAS (a filler read as S), while the permit card's MRZ and the form
    both had it right."""
    if _names_agree(form, name, cells):
        return True
    return any(_names_agree(form, other, cells) and edit_distance(name.strip(), other.strip()) == 1
               for other in seconds)


#: Capitals an OCR of a photocopied MRZ mistakes for one another (pairs, either way): U/V on
#: unseen seed 783 (XIU read XIV), I/T on seed 781 (CIOBANU read CTOBANU); the others are
#: the letter pairs of the form reader's look-alike table (extractors/cell_dist.py LOOKALIKE).
_LOOKALIKE_LETTERS = frozenset(
    frozenset(p) for p in ("UV", "IT", "IL", "IJ", "OD", "OQ", "OC", "CG", "VY", "MN", "HN",
                           "EF", "FP", "PR", "RK", "KX"))


def _lookalike_slip(form: str, name: str) -> bool:
    """The form's name and the MRZ's are one look-alike letter apart (MRZ filler as space),
    or the MRZ's has one letter more where a name ends and its fillers begin, a letter an
    OCR reads a filler as (NIST anomalies seed 912: SHARMIN on the form, SHARMINS on the
    passport's MRZ; seed 792: HALYNAS), or a lone letter after the name, a speck among its
    fillers read as a letter (seed 920: IQRA<<<<<<<<<<<<<<<<<<<<<<<L<<<<)."""
    a, b = form.strip(), name.replace(FILLER, " ").strip()
    if a and b.startswith(a + " ") and len(b) == len(a) + 2:
        return True
    if len(b) == len(a) + 1:
        return any(b[:i] + b[i + 1:] == a and b[i] in FILLER_LOOKALIKES
                   for i in range(1, len(b)) if i == len(b) - 1 or b[i + 1] == " ")
    return len(a) == len(b) and edit_distance(a, b) == 1 and any(
        frozenset((x, y)) in _LOOKALIKE_LETTERS for x, y in zip(a, b) if x != y)


def _check_blind_slip(form: str, number: str) -> bool:
    """The form's document number and the MRZ's differ in one or two characters, not two
    neighbours swapped, and the number's check digit, which holds for the MRZ's, holds for
    the form's too: it cannot tell which one the document carries, so the difference is the
    reading's to settle. Seen on seed 793, one character (S and 8 weigh the same modulo 10):
    the MRZ of a bitonal 200 dpi copy read 8O4247709 for SO4247709; on NIST anomalies seed
    919, two whose weights cancel: BR1O72972 for BR9072972. A swap of neighbours is how a
    hand miscopies a number, not how OCR misreads one."""
    a = form.replace(" ", "").upper()
    b = number.replace(FILLER, "")
    if len(a) != len(b) or not (a + b).isascii() or not (a + b).isalnum():
        return False
    # O and 0, I and 1...: a hand's character the MRZ's could be is taken as the MRZ's
    alike = "".join(y if x.translate(_CONFUSABLE) == y.translate(_CONFUSABLE) else x
                    for x, y in zip(a, b))
    pos = [i for i, (x, y) in enumerate(zip(alike, b)) if x != y]
    swap = len(pos) == 2 and pos[1] == pos[0] + 1 \
        and (a[pos[0]], a[pos[1]]) == (b[pos[1]], b[pos[0]])
    return 0 < len(pos) <= 2 and not swap and check_digit(b) in (check_digit(a), check_digit(alike))


def _valid_mrz(ctx: RuleContext, kind: str) -> list[Attachment]:
    return [a for a in ctx.attachments(kind) if a.mrz_fields]


def mrz_mismatch(ctx: RuleContext) -> list[Anomaly]:
    """Foglio Note a and ICAO 9303: the passport copy's MRZ (check digits holding) vs the form:
    surname 3, given names 4, birth date 34, sex 33, number 44. Each Modulo 1 copy is
    compared with the passport that agrees with it most (a kit may hold a family member's).
    A name one letter apart from the form's agrees when the permit card's MRZ (same birth
    date and sex) spells it as the form does (`_name_agrees`). Otherwise a name one
    look-alike letter apart (`_lookalike_slip`), with the fields the check digits cover
    agreeing, is a reading doubt, not a documentary anomaly: MRZ names carry no check digit,
    so the field goes to review (`low_confidence_field`, with the MRZ's spelling) instead.
    So does a number one character off where the check digit is blind (`_check_blind_slip`)."""
    model = load_form_model()
    out = []
    passports = _valid_mrz(ctx, "passport")
    permits = [a.mrz["fields"] for a in _valid_mrz(ctx, "permit")]
    for o in ctx.copies:
        best: tuple[int, list[str], dict, list[int]] | None = None
        for a in passports:
            m = a.mrz["fields"]
            same_person = [p for p in permits
                           if p.get("birth_date") == m.get("birth_date") and p.get("sex") == m.get("sex")]
            agree, differ = 0, []
            checks = {
                "3": lambda v: _name_agrees(v, m["surname"], [p["surname"] for p in same_person],
                                            len(model.field("m1.3").cells)),
                "4": lambda v: _name_agrees(v, m["given_names"],
                                            [p["given_names"] for p in same_person],
                                            len(model.field("m1.4").cells)),
                "34": lambda v: bool(m.get("birth_date")) and v[2:4] + v[5:7] + v[8:10]
                == m["birth_date"][2:4] + m["birth_date"][5:7] + m["birth_date"][8:10],
                "33": lambda v: v == m["sex"],
                "44": lambda v: _same(v.replace(" ", ""), m["number"].replace("<", "")),
            }
            for n, same in checks.items():
                v = ctx.text(f"{o}.{n}")
                if not v:
                    continue
                if same(v):
                    agree += 1
                else:
                    differ.append(n)
            # the birth date and sex as on the form make it this person's passport whatever
            # the names (NIST anomalies seed 916: a planted number swap beside a surname
            # misread and an MRZ's MARIIA read MARITA, two agreements only: missed)
            if not {"34", "33"} & set(differ) and ctx.text(f"{o}.34") and ctx.text(f"{o}.33"):
                agree = max(agree, 3)
            if best is None or agree > best[0]:
                best = (agree, differ, m, a.pages)
        # fewer than 3 agreements: that passport is someone else's, not a mismatch
        if best is None or best[0] < 3 or not best[1]:
            continue
        _, differ, m, pages = best
        outvoted = _outvoted_names(ctx, o)
        differ = [n for n in differ if n not in outvoted]
        covered_agree = not set(differ) & {"34", "33", "44"}  # the check digits' fields
        slips = {n: "mrz_lookalike_letter" for n in differ if covered_agree and n in ("3", "4")
                 and _lookalike_slip(ctx.text(f"{o}.{n}"), m[_MRZ_FIELD[n]])}
        if "44" in differ and _check_blind_slip(ctx.text(f"{o}.44"), m["number"]):
            slips["44"] = "mrz_check_blind_character"
        for n, reason in slips.items():
            key = f"{o}.{n}"
            if (f := ctx.field(key)) is not None and f.status != "review":
                out.append(ctx.anomaly("low_confidence_field", fields=[key],
                                       pages=sorted(set(ctx.page_of(key)) | set(pages)),
                                       value=ctx.text(key), mrz=m[_MRZ_FIELD[n]], reason=reason))
        differ = [n for n in differ if n not in slips]
        if not differ:
            continue
        keys = [f"{o}.{n}" for n in differ]
        what = {"3": "cognome/surname", "4": "nome/given names", "34": "data di nascita/birth date",
                "33": "sesso/sex", "44": "numero/number"}
        out.append(ctx.anomaly(
            "mrz_mismatch", fields=keys, pages=sorted(set(ctx.page_of(*keys)) | set(pages)),
            what=", ".join(what[n] for n in differ),
            form={k: ctx.text(k) for k in keys},
            mrz={n: m.get(_MRZ_FIELD[n]) for n in differ}))
    return out


def children_count_mismatch(ctx: RuleContext) -> list[Anomaly]:
    """Foglio Note h: m1.26 = the children listed in section 12 (blocks 137-171, pages 6-8);
    not judged when one of those pages is missing (missing_form_pages says so)."""
    out = []
    for o in ctx.copies:
        if not {1, 6, 7, 8} <= ctx.form_pages(o) or not ctx.has(f"{o}.26"):
            continue  # a page missing, or the count not read (unreadable_page)
        listed = sum(1 for first in CHILD_BLOCKS
                     if any(ctx.text(f"{o}.{n}") for n in range(first, first + 7)))
        declared = ctx.int_value(f"{o}.26") or 0
        if declared != listed:
            out.append(ctx.anomaly("children_count_mismatch", fields=[f"{o}.26"],
                                   declared=declared, listed=listed))
    return out


RULES: tuple[Rule, ...] = (
    # documentale: the envelope's contents
    missing_signature,
    sheet_count_mismatch,
    missing_form_pages,
    missing_modulo2,
    missing_passport_copy,
    missing_permit_copy,
    missing_payment_receipt,
    payment_amount_mismatch,
    missing_required_attachment,
    # dati: the values
    missing_required_field,
    conflicting_choices,
    not_postal_request_type,
    invalid_code,
    invalid_date,
    expired_document,
    invalid_codice_fiscale,
    mrz_mismatch,
    children_count_mismatch,
    # lettura: readings two documents contradict
    read_against_documents,
)


def validate(record: Record, *, today: dt.date | None = None) -> list[Anomaly]:
    """The documentale and dati anomalies of a record, rule by rule in RULES order, each
    weighed against the alternatives of the doubtful readings it rests on (`weigh`)."""
    ctx = RuleContext(record, today)
    return [weigh(rule, a, record, today) for rule in RULES for a in rule(ctx)]


def _overlaps(a: Anomaly, b: Anomaly) -> bool:
    return a.code == b.code and (a.fields == b.fields or bool(set(a.fields) & set(b.fields)))


#: Alternatives of each doubtful field tried together, and joint readings tried at most.
JOINT_ALTERNATIVES = 3
JOINT_READINGS = 64


def _joint_readings(record: Record, keys: list[str]) -> list[tuple[dict[str, str], float]]:
    """Readings of two or more of `keys` changed together, likeliest first: each field as
    read (its confidence) or one of its best alternatives (its share). An anomaly may rest on
    several fields misread at once (a codice fiscale and the surname it encodes, the same
    writer's A read as 4 in both)."""
    options = []
    for key in keys:
        fv = record.fields[key]
        own = [(None, max(float(fv.confidence or 0.0), 1e-3))]
        options.append(own + [(v, float(p)) for v, p in (fv.alternatives or ())[:JOINT_ALTERNATIVES]])
    combos: list[tuple[float, dict[str, str]]] = [(1.0, {})]
    for key, opts in zip(keys, options):
        combos = sorted(((p * q, {**c, key: v} if v is not None else c)
                         for p, c in combos for v, q in opts), key=lambda x: -x[0])[:4 * JOINT_READINGS]
    return [(c, round(p, 4)) for p, c in combos if len(c) >= 2][:JOINT_READINGS]


def weigh(rule: Rule, a: Anomaly, record: Record, today: dt.date | None) -> Anomaly:
    """An anomaly that rests on a reading sent to review holds only if no plausible other
    reading of it clears the rule: each alternative the reader kept for such a field
    (`FieldValue.alternatives`, best first) is put in its place and the rule run again, then
    the likeliest joint readings of several such fields (`_joint_readings`). The first that
    clears it turns the anomaly into a reading doubt (low_confidence_field, its evidence
    naming the rule, the clearing value or values and their share) for a person to settle;
    when none does, the anomaly stands, with the alternatives it rejected in its evidence."""
    keys = [k for k in a.evidence.get("uncertain_fields", ())
            if (f := record.fields.get(k)) is not None and f.alternatives]
    if a.category not in ("dati", "documentale") or not keys:
        return a

    def clears(values: dict[str, str]) -> bool:
        # cleared when the rule no longer raises it on any of its fields: a passport number
        # still at odds once a misread sex is put right is not cleared (NIST anomalies seed
        # 915: a planted number swap beside a sex read J, missed)
        fields = {**record.fields, **{k: record.fields[k].model_copy(update={"value": v})
                                      for k, v in values.items()}}
        alt = record.model_copy(update={"fields": fields})
        return not any(_overlaps(a, b) for b in rule(RuleContext(alt, today)))

    def doubt(changed: list[str], cleared_by: dict) -> Anomaly:
        first = record.fields[changed[0]]
        evidence = {k: v for k, v in a.evidence.items() if k in ("crops", "uncertain_fields")}
        return Anomaly.make(
            "low_confidence_field", fields=list(dict.fromkeys(a.fields + changed)),
            pages=a.pages, reason=a.code, value=first.value, confidence=first.confidence,
            cleared_by=cleared_by, alternatives=first.alternatives, **evidence)

    rejected = []
    for key in keys:
        for value, share in record.fields[key].alternatives or ():
            if clears({key: value}):
                return doubt([key], {"field": key, "value": value, "share": share})
            rejected.append({"field": key, "value": value, "share": share})
    for values, share in _joint_readings(record, keys):
        if clears(values):
            return doubt(list(values), {"fields": values, "share": share})
    return a.model_copy(update={"evidence": {**a.evidence, "alternatives_rejected": rejected}})
