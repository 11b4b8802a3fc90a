"""`plico reprocess`: the kits a slice selects (`select_kits`, the review queue's query) read
again under the current pipeline version, on the workers when there is a broker, else in this
process (`reprocess_kits`). Each gets a new record version beside the old ones."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select

from pipeline.faults import describe, is_transient
from pipeline.workers import enqueue_kits, new_job, setup
from storage import db

log = logging.getLogger(__name__)

FINISHED = ("done", "failed", "quarantined")


@dataclass(frozen=True, slots=True)
class KitRow:
    kit_id: str
    assicurata: str | None
    version: str | None  # of the current record
    anomalies: int

    def __str__(self) -> str:
        return (f"{self.kit_id}  assicurata {self.assicurata or '-'}  current version "
                f"{self.version or '-'}  {self.anomalies} anomalies")


def select_kits(rt, **filters) -> tuple[list[KitRow], list[KitRow]]:
    """The kits `storage.index.kits_query` selects: those without a record of this pipeline
    version (to read), and those with one (left alone: reading them again would give the
    record already stored)."""
    from storage.index import kits_query

    todo, current = [], []
    with rt.session() as s:
        for kit in s.scalars(kits_query(s, **filters)):
            version = s.get(db.RecordVersion, kit.current_version_id) \
                if kit.current_version_id else None
            has = s.scalar(select(func.count()).select_from(db.RecordVersion).where(
                db.RecordVersion.kit_id == kit.id,
                db.RecordVersion.pipeline_version == rt.version))
            row = KitRow(kit.id, kit.assicurata, version.pipeline_version if version else None,
                         kit.anomaly_count)
            (current if has else todo).append(row)
    return todo, current


def _has_version(rt, kit_id: str) -> bool:
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(db.RecordVersion).where(
            db.RecordVersion.kit_id == kit_id, db.RecordVersion.pipeline_version == rt.version)) > 0


def reprocess_kits(rt, kit_ids: list[str], *, wait: bool = True,
                   echo: Callable[[str], None] = print, poll_s: float = 1.0) -> dict[str, int]:
    """Read the kits again: on the broker when there is one (following the jobs while `wait`),
    else here, one after the other. Returns the count of jobs per final status."""
    from pipeline.process import process_kit, quarantine_kit

    if not rt.settings.broker_url:
        outcome: dict[str, int] = {}
        for n, kit_id in enumerate(kit_ids, 1):
            with rt.session() as s:
                job = new_job(s, "kit", s.get(db.Kit, kit_id).batch_id, rt.version, kit_id)
                job_id = job.id
            state = "done"
            try:
                process_kit(rt, kit_id)
            except Exception as exc:
                if is_transient(exc):
                    raise
                state = "quarantined"
                log.error("kit %s: %s", kit_id, type(exc).__name__)
                quarantine_kit(rt, kit_id, describe(exc), type(exc).__name__)
            with rt.session() as s:
                job = s.get(db.Job, job_id)
                job.status, job.attempts = state, 1
            outcome[state] = outcome.get(state, 0) + 1
            echo(f"[{n}/{len(kit_ids)}] {kit_id}: {state}")
        return outcome
    setup(rt.settings)
    job_ids = enqueue_kits(rt, kit_ids)
    echo(f"enqueued {len(job_ids)} kits on {rt.settings.queue_name}")
    if not wait:
        return {"queued": len(job_ids)}
    last = None
    while True:
        with rt.session() as s:
            counts = dict(s.execute(select(db.Job.status, func.count()).where(
                db.Job.id.in_(job_ids)).group_by(db.Job.status)).all())
        if counts != last:
            echo("progress: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
            last = counts
        if sum(counts.get(k, 0) for k in FINISHED) == len(job_ids):
            missing = [k for k in kit_ids if not _has_version(rt, k)]
            if missing:
                echo(f"{len(missing)} kits have no record of version {rt.version}: do the "
                     "workers run it (their PLICO_PIPELINE_VERSION)? First: " + missing[0])
            return counts
        time.sleep(poll_s)
