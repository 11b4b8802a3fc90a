"""Scoring istanza records against a generated batch's ground truth (`plico bench accuracy`).

Everything here compares plain values: records and truth share one normalisation
(pipeline/normalise.py). The numbers are printed by the CLI and written into README.md and
docs/benchmarks.md with the command that produced them.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from pipeline.form import FieldKind, load_form_model
from pipeline.normalise import edit_distance
from pipeline.record import FieldValue, Record
from pipeline.truth import BatchTruth
from validators.fees import fee_due_cents

# Truth page kinds the classifier reports as "attachment" (it does not tell payslips apart).
DOCUMENT_KINDS = frozenset({"label", "passport", "permit", "bollettino", "blank"})


def page_class(kind: str) -> str:
    if kind.startswith(("m1p", "m2p")) or kind in DOCUMENT_KINDS:
        return kind
    return "attachment"


@dataclass
class Tally:
    n: int = 0
    ok: int = 0

    def add(self, good: bool) -> None:
        self.n += 1
        self.ok += bool(good)

    @property
    def rate(self) -> float:
        return self.ok / self.n if self.n else float("nan")

    def __str__(self) -> str:
        return f"{self.ok}/{self.n} ({100 * self.rate:.2f}%)" if self.n else "-"


@dataclass
class FieldScore:
    exact: Tally = field(default_factory=Tally)  # every field, empty ones included
    filled: Tally = field(default_factory=Tally)  # fields the truth says are filled in
    chars: int = 0
    char_errors: int = 0
    accepted: Tally = field(default_factory=Tally)  # accepted fields that are right
    review: Tally = field(default_factory=Tally)  # filled fields sent to review
    filled_accepted: Tally = field(default_factory=Tally)  # accepted filled fields that are right

    @property
    def char_accuracy(self) -> float:
        return 1 - self.char_errors / self.chars if self.chars else float("nan")


@dataclass
class Score:
    kits: Tally = field(default_factory=Tally)
    orientation: Tally = field(default_factory=Tally)
    blank: Tally = field(default_factory=Tally)
    classification: Tally = field(default_factory=Tally)
    skew_errors: list[float] = field(default_factory=list)
    form_skew_errors: list[float] = field(default_factory=list)
    assicurata: Tally = field(default_factory=Tally)
    codice_istanza: Tally = field(default_factory=Tally)
    mrz_valid: Tally = field(default_factory=Tally)
    receipt: Tally = field(default_factory=Tally)
    fields: dict[str, FieldScore] = field(default_factory=lambda: defaultdict(FieldScore))
    # per filler, the fields whose writing the scan kept (truth's erased_fields left out)
    kept: dict[str, FieldScore] = field(default_factory=lambda: defaultdict(FieldScore))
    erased: Counter = field(default_factory=Counter)  # per filler, fields the scan erased
    # (kit, field, want, got, status) of fields read wrong
    wrong: list[tuple[str, str, object, object, str]] = field(default_factory=list)

    def skew_summary(self, forms: bool = False) -> str:
        e = sorted(self.form_skew_errors if forms else self.skew_errors)
        if not e:
            return "-"
        p95 = e[min(len(e) - 1, int(0.95 * len(e)))]
        return f"median {statistics.median(e):.3f}°, p95 {p95:.3f}°, max {e[-1]:.3f}°"


def kind_group(key: str) -> str:
    """Field families for the per-kind table: names, addresses, codes, dates, digits, ..."""
    f = load_form_model().field(key)
    fid = key.split(".", 1)[1]
    if f.kind in (FieldKind.CHECK, FieldKind.SIGNATURE, FieldKind.DATE, FieldKind.LINE):
        return f.kind.value
    if f.kind is FieldKind.CODE:
        return "code"
    if f.kind is FieldKind.DIGITS:
        return "digits"
    if key.startswith("m1") and fid == "31":
        return "codice fiscale"
    label = f.label.lower()
    if any(w in label for w in ("cognome", "nome", "presso", "denominazione")):
        return "name"
    if any(w in label for w in ("comune", "indirizzo", "citta", "città", "frontiera", "civico",
                                "scala", "interno")):
        return "address"
    return "text"


def score_batch(truth: BatchTruth, records: list[Record], score: Score | None = None) -> Score:
    """Compare the records of one processed batch with its truth."""
    score = score or Score()
    by_index = {}
    for rec in records:
        for ref in rec.kit.pages:
            by_index[ref.index] = (rec, ref)
    for pt in truth.pages:
        got = by_index.get(pt.index)
        if got is None:
            score.classification.add(False)
            continue
        _, ref = got
        score.blank.add(ref.blank == pt.blank)
        score.classification.add(page_class(ref.kind) == page_class(pt.kind))
        if not pt.blank:
            score.orientation.add(ref.rotation == pt.rotation)
            if ref.rotation == pt.rotation:
                err = abs(ref.skew_deg - pt.skew_deg)
                score.skew_errors.append(err)
                if pt.kind.startswith(("m1p", "m2p")):
                    score.form_skew_errors.append(err)
    for kt in truth.kits:
        first, last = kt.pages
        match = [r for r in records if [p.index for p in r.kit.pages] == list(range(first, last + 1))]
        score.kits.add(len(match) == 1)
        if len(match) != 1:
            continue
        rec = match[0]
        score.assicurata.add(rec.kit.assicurata == kt.assicurata)
        score.codice_istanza.add(rec.kit.codice_istanza == kt.codice_istanza)
        planted = set(kt.anomalies)
        due = fee_due_cents(kt.request, kt.motivo, kt.document,
                            dt.date.fromisoformat(kt.application_date))
        for att in rec.attachments:
            if att.mrz is not None:
                score.mrz_valid.add(bool(att.mrz.get("valid")))
            if att.kind == "bollettino" and "payment_amount_mismatch" not in planted:
                score.receipt.add(att.amount_cents == due)
        erased = set(kt.erased_fields)
        for key, want in kt.fields.items():
            fv = rec.fields.get(key)
            got_value = fv.value if fv else None
            good = got_value == want
            _add(score.fields[f"{kt.filled_by}:{kind_group(key)}"], want, fv, good)
            if key in erased:
                score.erased[kt.filled_by] += 1
            else:
                _add(score.kept[kt.filled_by], want, fv, good)
            if not good and len(score.wrong) < 200:
                score.wrong.append((f"kit{kt.index}", key, want, got_value,
                                    fv.status if fv else "missing"))
    return score


def _add(fs: FieldScore, want: object, fv: FieldValue | None, good: bool) -> None:
    fs.exact.add(good)
    if want not in ("", False):
        fs.filled.add(good)
    if isinstance(want, str):
        got = fv.value if fv is not None and isinstance(fv.value, str) else ""
        fs.chars += max(len(want), len(got))
        fs.char_errors += edit_distance(want, got)
    if fv is not None:
        if fv.status == "accepted":
            fs.accepted.add(good)
        if want not in ("", False):
            fs.review.add(fv.status == "review")
            if fv.status == "accepted":
                fs.filled_accepted.add(good)


def format_score(score: Score) -> str:
    lines = [
        f"kit split            {score.kits}",
        f"page classification  {score.classification}",
        f"blank-side detection {score.blank}",
        f"orientation          {score.orientation}",
        f"deskew error, forms  {score.skew_summary(forms=True)}",
        f"deskew error, all    {score.skew_summary()}  (a photocopy's document may sit askew "
        "on the copier glass: the page's skew is not the content's)",
        f"Codice Assicurata    {score.assicurata}",
        f"Codice Istanza       {score.codice_istanza}",
        f"MRZ check-valid      {score.mrz_valid}",
        f"receipt amount       {score.receipt}",
        "",
        f"{'fields (filled by: kind)':24s} {'exact, all':>20s} {'exact, filled':>20s} "
        f"{'chars':>8s} {'accepted ok':>20s} {'filled to review':>20s} "
        f"{'filled accepted ok':>20s}",
    ]
    totals: dict[str, FieldScore] = defaultdict(FieldScore)
    for name in sorted(score.fields):
        fs = score.fields[name]
        who = name.split(":")[0]
        t = totals[who]
        for a, b in ((t.exact, fs.exact), (t.filled, fs.filled)):
            a.n += b.n
            a.ok += b.ok
        t.chars += fs.chars
        t.char_errors += fs.char_errors
        t.accepted.n += fs.accepted.n
        t.accepted.ok += fs.accepted.ok
        t.review.n += fs.review.n
        t.review.ok += fs.review.ok
        t.filled_accepted.n += fs.filled_accepted.n
        t.filled_accepted.ok += fs.filled_accepted.ok
        lines.append(_row(name, fs))
    for who, t in sorted(totals.items()):
        lines.append(_row(who + ": all", t))
    for who, n in sorted(score.erased.items()):
        lines.append(_row(who + ": ink kept", score.kept[who]))
        lines.append(f"  ({n} {who} field(s) left out of 'ink kept': written on the paper, "
                     "erased by the scan: truth's erased_fields)")
    return "\n".join(lines)


def _row(name: str, fs: FieldScore) -> str:
    return (f"{name:24s} {str(fs.exact):>20s} {str(fs.filled):>20s} "
            f"{100 * fs.char_accuracy:7.2f}% {str(fs.accepted):>20s} {str(fs.review):>20s} "
            f"{str(fs.filled_accepted):>20s}")
