"""What a record says to people: the portal's "Dettaglio Istanza" (seed 000), and the anomaly
score of a batch against its truth (`plico bench anomalies`).

Stato Attuale is our reading of the portal's vocabulary (MOD209.md section 8; the workflow
states are the project's own):

- "Anomalie documentali" / "Documentary anomalies": a blocking documentale anomaly (the
  envelope lacks something: signature, form pages, passport, permit, receipt);
- "Da verificare" / "To be checked": otherwise a blocking dati anomaly (a value breaks a rule);
- "In Istruttoria" / "Under examination": no blocking anomaly (seed 000's example).

Lettura anomalies are the pipeline's, not the applicant's: they are counted apart ("campi da
verificare") and never change the state.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pipeline.record import Record
from pipeline.truth import BatchTruth
from validators.catalogue import Category, Severity, catalogue

LETTURA = frozenset(c for c, e in catalogue().items() if e["category"] == Category.LETTURA)

_LABELS = {
    "it": {"title": "Dettaglio Istanza", "assicurata": "Codice Assicurata",
           "istanza": "Codice Istanza", "stato": "Stato Attuale", "dati": "Dettaglio Anomalie",
           "doc": "Dettaglio Anomalie Documentali", "none_dati": "Nessuna Anomalia",
           "none_doc": "Nessuna Anomalia Documentale", "lettura": "Campi da verificare (lettura)",
           "missing": "non rilevato", "kit": "Kit", "revisione": "Stato revisione (Questura)",
           "aperte": "anomalie aperte"},
    "en": {"title": "Application detail", "assicurata": "Codice Assicurata",
           "istanza": "Codice Istanza", "stato": "Current status", "dati": "Anomalies",
           "doc": "Documentary anomalies", "none_dati": "No anomaly",
           "none_doc": "No documentary anomaly", "lettura": "Fields to check (reading)",
           "missing": "not found", "kit": "Kit", "revisione": "Review status (Questura)",
           "aperte": "open anomalies"},
}
_REVIEW = {  # kits.status (storage/status.py), worded as the review app (web/data/*.yaml)
    "da_verificare": {"it": "Da verificare", "en": "To be checked"},
    "in_lavorazione": {"it": "In lavorazione", "en": "In progress"},
    "verificata": {"it": "Verificata", "en": "Checked"},
}
_STATES = {
    "documentale": {"it": "Anomalie documentali", "en": "Documentary anomalies"},
    "dati": {"it": "Da verificare", "en": "To be checked"},
    None: {"it": "In Istruttoria", "en": "Under examination"},
}


def istanza_summary(record: Record, lang: str = "it") -> dict[str, Any]:
    """The Dettaglio Istanza of a record, in Italian (it) or English (en)."""
    blocking = {a.category for a in record.anomalies if a.severity == Severity.BLOCKING}
    state = ("documentale" if Category.DOCUMENTALE in blocking
             else "dati" if Category.DATI in blocking else None)

    def items(category: str) -> list[dict[str, Any]]:
        return [{"code": a.code, "severity": a.severity, "fields": a.fields,
                 "message": a.message_it if lang == "it" else a.message_en}
                for a in record.anomalies if a.category == category]

    return {
        "codice_assicurata": record.kit.assicurata, "codice_istanza": record.kit.codice_istanza,
        "stato_attuale": _STATES[state][lang],
        "anomalie": items(Category.DATI), "anomalie_documentali": items(Category.DOCUMENTALE),
        "campi_da_verificare": len(items(Category.LETTURA)),
    }


def review_summary(kit_id: str, status: str, open_anomalies: int, lang: str = "it"
                   ) -> dict[str, Any]:
    """What the index adds to a record's summary (`plico show CODE`): the kit and where the
    Questura's review of it stands."""
    return {"kit": kit_id, "stato_revisione": _REVIEW.get(status, {}).get(lang, status),
            "anomalie_aperte": open_anomalies}


def format_summary(summary: dict[str, Any], lang: str = "it") -> str:
    t = _LABELS[lang]

    def block(entries: list[dict[str, Any]], none: str) -> list[str]:
        if not entries:
            return [f"  {none}"]
        return [f"  - {e['message']} [{e['code']}, {e['severity']}"
                + (f"; {', '.join(e['fields'])}" if e["fields"] else "") + "]" for e in entries]

    lines = [t["title"], "",
             f"{t['assicurata']}: {summary['codice_assicurata'] or t['missing']}",
             f"{t['istanza']}: {summary['codice_istanza'] or t['missing']}",
             f"{t['stato']}: {summary['stato_attuale']}", "",
             f"{t['dati']}:", *block(summary["anomalie"], t["none_dati"]), "",
             f"{t['doc']}:", *block(summary["anomalie_documentali"], t["none_doc"])]
    if summary["campi_da_verificare"]:
        lines += ["", f"{t['lettura']}: {summary['campi_da_verificare']}"]
    if "kit" in summary:
        lines += ["", f"{t['kit']}: {summary['kit']}",
                  (f"{t['revisione']}: {summary['stato_revisione']} "
                   f"({summary['anomalie_aperte']} {t['aperte']})")]
    return "\n".join(lines)


# --- anomaly score ------------------------------------------------------------------------


@dataclass
class AnomalyScore:
    kits: int = 0
    clean_kits: int = 0
    tp: Counter = field(default_factory=Counter)
    fn: Counter = field(default_factory=Counter)
    fp: Counter = field(default_factory=Counter)
    fp_uncertain: int = 0  # false positives whose anomalies all say "uncertain reading"
    lettura: Counter = field(default_factory=Counter)  # raised lettura anomalies, per code
    blocking_on_clean: int = 0
    unmatched: int = 0  # truth kits with no record
    # raised codes whose every field the scan erased (truth's erased_fields): what the image
    # shows, not counted as false positives
    erased: Counter = field(default_factory=Counter)
    errors: list[tuple[int, list[str], list[str]]] = field(default_factory=list)
    # (kit index in the batch, codes missed, codes raised wrongly), for kits with either
    # anomalies a plausible other reading cleared (validators.rules.weigh), turned into
    # reading doubts: per code, those that were not planted (rescued) and those that were
    # (a planted anomaly a doubtful reading hid: counted missed above)
    rescued: Counter = field(default_factory=Counter)
    rescued_planted: Counter = field(default_factory=Counter)


def score_anomalies(truth: BatchTruth, records: list[Record]) -> AnomalyScore:
    """Per code, kit by kit: expected (truth) vs raised (record), lettura codes apart.

    A record is matched to its truth kit by Codice Assicurata, else by position."""
    by_code = {r.kit.assicurata: r for r in records if r.kit.assicurata}
    score = AnomalyScore(kits=len(truth.kits))
    for i, kit in enumerate(truth.kits):
        rec = by_code.get(kit.assicurata) if kit.assicurata else None
        if rec is None and i < len(records) and records[i].kit.assicurata in (None, kit.assicurata):
            rec = records[i]
        if rec is None:
            score.unmatched += 1
            continue
        want = set(kit.anomalies)
        erased = set(kit.erased_fields)
        raised = [a for a in rec.anomalies if a.code not in LETTURA]
        seen = {c for c in {a.code for a in raised} - want
                if all(a.fields and set(a.fields) <= erased for a in raised if a.code == c)}
        score.erased.update(seen)
        got = {a.code for a in raised} - seen
        score.lettura.update(a.code for a in rec.anomalies if a.code in LETTURA)
        for a in rec.anomalies:
            code = a.evidence.get("reason") if a.code == "low_confidence_field" else None
            if code and "cleared_by" in a.evidence:
                (score.rescued_planted if code in want else score.rescued)[code] += 1
        score.tp.update(want & got)
        score.fn.update(want - got)
        score.fp.update(got - want)
        if want ^ got:
            score.errors.append((i, sorted(want - got), sorted(got - want)))
        score.fp_uncertain += sum(
            1 for c in got - want
            if all(a.evidence.get("uncertain") for a in rec.anomalies if a.code == c))
        if not want:
            score.clean_kits += 1
            score.blocking_on_clean += sum(1 for a in rec.anomalies
                                           if a.severity == Severity.BLOCKING
                                           and a.code not in seen)
    return score


def _ratio(num: int, den: int) -> str:
    return f"{num / den:.2f} ({num}/{den})" if den else "   - (0/0)"


def format_anomaly_score(s: AnomalyScore, detail: bool = False) -> str:
    codes = sorted(set(s.tp) | set(s.fn) | set(s.fp))
    lines = [f"{'code':32s} {'recall':>14s} {'precision':>14s}"]
    for c in codes:
        lines.append(f"{c:32s} {_ratio(s.tp[c], s.tp[c] + s.fn[c]):>14s} "
                     f"{_ratio(s.tp[c], s.tp[c] + s.fp[c]):>14s}")
    tp, fn, fp = sum(s.tp.values()), sum(s.fn.values()), sum(s.fp.values())
    lines.append(f"{'overall':32s} {_ratio(tp, tp + fn):>14s} {_ratio(tp, tp + fp):>14s}")
    lines.append(f"false positives flagged uncertain (a low-confidence reading): "
                 f"{s.fp_uncertain} of {fp}")
    lines.append(f"kits {s.kits} ({s.clean_kits} clean, {s.unmatched} without a record); "
                 f"blocking anomalies raised on clean kits: {s.blocking_on_clean}")
    lettura = ", ".join(f"{c} {n}" for c, n in sorted(s.lettura.items())) or "none"
    lines.append(f"lettura anomalies raised (not scored): {lettura}")
    rescued = ", ".join(f"{c} {n}" for c, n in sorted(s.rescued.items())) or "none"
    lines.append(f"anomalies a plausible other reading cleared, sent to review as reading "
                 f"doubts: {rescued}")
    if s.rescued_planted:
        lines.append("  of which planted (so missed): " + ", ".join(
            f"{c} {n}" for c, n in sorted(s.rescued_planted.items())))
    if s.erased:
        lines.append("raised on writing the scan erased (the image shows it; not scored): "
                     + ", ".join(f"{c} {n}" for c, n in sorted(s.erased.items())))
    if detail:
        lines += [f"kit {i}: missed {', '.join(fn) or '-'}; raised wrongly {', '.join(fp) or '-'}"
                  for i, fn, fp in s.errors]
    return "\n".join(lines)
