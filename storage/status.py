"""One rule for an istanza's status, used by the index when it saves a record version
(`storage.index.save_record`: the pipeline, the workers, `plico reprocess`) and by the review
app after every decision (`web.review.update_status`), so the two can never disagree.

- live anomalies: those still asking something of a reviewer or of the applicant, `aperta`
  and `integrazione_richiesta`; `accettata`, `respinta` and `superata` are closed.
- `kits.anomaly_count` = the number of live anomalies of the current version;
  `kits.max_severity` = the most severe of them (None when none is live).
- fields to check again: a reviewer's field decision that a newer reading contradicts (the
  index flags it when saving the version, `record_versions.decisions["flagged"]`) and that no
  reviewer has decided again on this version. They hold the istanza in the queue like a live
  anomaly: the reviewer's word and the new reading differ, someone has to look.
- status:
  - `verificata` when nothing is live and no field is to be checked again. That includes a kit
    the pipeline read without anomalies: there is nothing for a reviewer to do, so it does not
    wait in the queue, and the public status lookup shows it green (ready), as the portal does
    once a pratica is complete;
  - `in_lavorazione` when something is still live but a reviewer has already decided something
    on this kit (a field decision in force, a resolved or superseded anomaly, a decision the
    new reading contradicts);
  - `da_verificare` otherwise (live anomalies nobody has touched yet).
- A new record version recomputes all three, so a verificata kit whose reprocessed record
  raises a new anomaly goes back to the queue.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass
from typing import Protocol

OPEN = "aperta"
LIVE = (OPEN, "integrazione_richiesta")
CLOSED = ("accettata", "respinta", "superata")
SEVERITY_ORDER = ("info", "warning", "blocking")  # validators/anomalies.yaml, least first
STATUSES = ("da_verificare", "in_lavorazione", "verificata")


class AnomalyLike(Protocol):
    status: str
    severity: str


@dataclass(frozen=True)
class KitSummary:
    status: str
    anomaly_count: int
    max_severity: str | None
    to_recheck: tuple[str, ...] = ()


def is_live(status: str) -> bool:
    return status in LIVE


def kit_status(live: int, *, started: bool, to_recheck: int = 0) -> str:
    """The rule itself: `live` anomalies, whether a reviewer has decided anything on the kit,
    how many fields are to be checked again."""
    if live == 0 and to_recheck == 0:
        return "verificata"
    return "in_lavorazione" if started else "da_verificare"


def max_severity(severities: Iterable[str]) -> str | None:
    ranks = [SEVERITY_ORDER.index(s) for s in severities if s in SEVERITY_ORDER]
    return SEVERITY_ORDER[max(ranks)] if ranks else None


def summarise(anomalies: Iterable[AnomalyLike], *, in_force: Iterable[str] = (),
              flagged: Iterable[str] = (), fields: Container[str] | None = None) -> KitSummary:
    """The kit's summary from the anomaly rows of its current version, the fields whose
    reviewer decision is in force on it (taken on it, or carried over by the index), and the
    fields the index flagged when it saved the version. A flagged field the new record does
    not have (`fields`: its field keys) is not to be checked: there is nothing to decide on."""
    rows = list(anomalies)
    decided = set(in_force)
    flagged = set(flagged)
    to_check = {k for k in flagged if fields is None or k in fields}
    live = [a for a in rows if is_live(a.status)]
    to_recheck = tuple(sorted(to_check - decided))
    started = bool(decided) or bool(flagged) or any(a.status != OPEN for a in rows)
    return KitSummary(status=kit_status(len(live), started=started, to_recheck=len(to_recheck)),
                      anomaly_count=len(live), max_severity=max_severity(a.severity for a in live),
                      to_recheck=to_recheck)


def apply(kit, summary: KitSummary) -> None:
    """Write the summary into the kit's row (`storage.db.Kit`)."""
    kit.status = summary.status
    kit.anomaly_count = summary.anomaly_count
    kit.max_severity = summary.max_severity
