"""Who reads a batch: the in-process run that owns it (`batches.owner`, `<host>:<pid>`), its
heartbeat, and the batches whose owner died, which the next run resumes."""

from __future__ import annotations

import contextlib
import logging
import os
from datetime import UTC, datetime

from sqlalchemy import select

from pipeline.runtime import Runtime, pid_alive
from storage import db

log = logging.getLogger(__name__)


# An in-process run (`plico process`, `plico status --repair`) owns the batch it reads
# (`batches.owner` = `<host>:<pid>`) and beats every HEARTBEAT_S (`batches.heartbeat_at`). A
# batch queued or running whose owner is gone is resumed by the next run: on the owner's
# host when its pid is gone; elsewhere, or when the pid was taken again, when its heartbeat
# is older than a lease.
HEARTBEAT_S = 15.0
FOREIGN_LEASE_S = 120.0  # another host's owner: no heartbeat for this long is dead
LOCAL_LEASE_S = 600.0  # this host's: its pid alive but silent this long (a pid taken again)


def owner_id() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str | None, heartbeat_at: datetime | None,
                now: datetime | None = None) -> bool:
    """Whether the run that owns a batch is alive. No owner: the workers' batch (the broker
    redelivers their work), counted alive here."""
    import socket

    if owner is None:
        return True
    now = now or datetime.now(UTC)
    if heartbeat_at is not None and heartbeat_at.tzinfo is None:  # SQLite keeps no zone
        heartbeat_at = heartbeat_at.replace(tzinfo=UTC)
    silent = (now - heartbeat_at).total_seconds() if heartbeat_at else float("inf")
    host, _, pid = owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        return pid_alive(int(pid)) and silent < LOCAL_LEASE_S
    return silent < FOREIGN_LEASE_S


def claim_batch(rt: Runtime, batch_id: str, owner: str, *, expect_owner: str | None,
                expect_status: str) -> bool:
    """Take a batch over (running, owned by `owner`) if it is still as it was seen:
    two runs finding the same dead run's batch, one takes it."""
    from sqlalchemy import update

    with rt.session() as s:
        found = s.execute(update(db.Batch).where(
            db.Batch.id == batch_id, db.Batch.status == expect_status,
            db.Batch.owner.is_(None) if expect_owner is None else db.Batch.owner == expect_owner,
        ).values(owner=owner, status="running", heartbeat_at=db.utcnow()))
        return found.rowcount == 1


@contextlib.contextmanager
def heartbeat(rt: Runtime, batch_id: str, owner: str, every_s: float = HEARTBEAT_S):
    """Beat `batches.heartbeat_at` from a thread while the block runs."""
    import threading

    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            try:
                with rt.session() as s:
                    batch = s.get(db.Batch, batch_id)
                    if batch is not None and batch.owner == owner:
                        batch.heartbeat_at = db.utcnow()
            except Exception as exc:  # noqa: BLE001 - a missed beat is not the run's fault
                log.warning("heartbeat of batch %s missed: %s", batch_id, type(exc).__name__)

    thread = threading.Thread(target=beat, name=f"heartbeat-{batch_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def orphaned_batches(rt: Runtime) -> list[db.Batch]:
    """Batches queued or running whose in-process owner is dead, oldest first."""
    with rt.session() as s:
        rows = s.scalars(select(db.Batch).where(
            db.Batch.status.in_(("queued", "running")), db.Batch.owner.is_not(None))
            .order_by(db.Batch.created_at)).all()
    return [b for b in rows if not owner_alive(b.owner, b.heartbeat_at)]
