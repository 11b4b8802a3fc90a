"""dramatiq workers: thin actors over the plain steps of pipeline/process.py.

Messages (all on the queue `settings.queue_name`):

* `process_batch_msg(batch_id)`     plan the batch: count pages, cut chunks, send one
                                    `prepare_pages_msg` per chunk
* `prepare_pages_msg(batch_id, sha256, start, stop, job_id)`
                                    prepare a chunk's pages; the last chunk of the batch to
                                    finish splits the batch and sends one `process_kit_msg`
                                    per kit
* `process_kit_msg(kit_id, pipeline_version, job_id)`
                                    read, validate, store and index one kit

The `jobs` table says what became of each message: queued, running, done, failed (transient
faults outlasted every retry) or quarantined (a permanent fault: the pages involved are in
the quarantine table with the reason). For a chunk of pages, `jobs.kit_id` holds
`<sha256[:16]>@<first page>`: the chunk's name, there being no kit yet.

Delivery is at least once: dramatiq acknowledges a message after the actor returns, so a
worker killed mid-message leaves it unacknowledged and it is delivered again (RabbitMQ at
once, when the dead worker's connection closes; Redis once another worker's queue
maintenance finds the dead worker's heartbeat older than `worker_heartbeat_s`, 5 s). A live
worker beats on every broker command, and it sends one at least every `worker_poll_ms`
even while busy: the consumer of its delay queue (`<queue>.DQ`) keeps polling. Maintenance
runs on `redis_maintenance_chance` commands per million, by default every one (a sorted-set
range when nobody is dead), so an idle worker's next poll of the queue gives the message back:
about 6 s after the kill.
Messages that fail for good are dead-lettered (`<queue>.XQ`), kept 7 days. Every step is
idempotent (pipeline/process.py), and a kit is keyed by (kit_id, pipeline_version) in the
index, so a second delivery stores nothing twice.

Faults: a connection error of the database, the object store or the broker is transient:
the message is retried with exponential backoff (`retry_backoff_ms`, `max_retries`).
Anything else is permanent (bad input, a fault of the code on this kit): retrying would fail
the same way, so the pages go to quarantine with the reason and the other kits go on.

`PLICO_BROKER_URL`: redis://host:port/db -> RedisBroker, amqp://user:pass@host:port/vhost ->
RabbitmqBroker; unset -> dramatiq's StubBroker (in-process, for tests).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import dramatiq
from sqlalchemy import func, select

from pipeline.errors import ConfigError
from pipeline.faults import describe, is_transient, sanitised
from pipeline.settings import Settings, get_settings
from storage import db

log = logging.getLogger(__name__)

# --- broker ---------------------------------------------------------------------------------


def make_broker(settings: Settings) -> dramatiq.Broker:
    url = settings.broker_url
    if not url:
        from dramatiq.brokers.stub import StubBroker

        return StubBroker()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=url, namespace=f"dramatiq-{settings.queue_name}",
                           heartbeat_timeout=int(settings.worker_heartbeat_s * 1000),
                           maintenance_chance=settings.redis_maintenance_chance)
    if url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        # confirm_delivery: a send returns once RabbitMQ has the message
        return RabbitmqBroker(url=url, confirm_delivery=True)
    raise ConfigError("PLICO_BROKER_URL must start with redis://, rediss:// or amqp://")


@dataclass
class Actors:
    broker: dramatiq.Broker
    settings: Settings
    batch: dramatiq.Actor
    pages: dramatiq.Actor
    kit: dramatiq.Actor
    failed: dramatiq.Actor


_state: dict[str, object] = {}
_state_lock = threading.Lock()


def _runtime():
    from pipeline.runtime import open_runtime

    with _state_lock:
        rt = _state.get("runtime")
        if rt is None:
            rt = _state["runtime"] = open_runtime(_state["actors"].settings)
        return rt


def setup(settings: Settings | None = None) -> Actors:
    """Build the broker of `settings` (default: the environment's) and declare the actors on
    it; the process's actors are those of the last call."""
    settings = settings or get_settings()
    broker = make_broker(settings)
    dramatiq.set_broker(broker)
    low, high = settings.retry_backoff_ms

    def retry_when(retries: int, exc: BaseException) -> bool:
        return retries < settings.max_retries and is_transient(exc)

    opts = {"broker": broker, "queue_name": settings.queue_name, "retry_when": retry_when,
            "min_backoff": low, "max_backoff": high, "on_retry_exhausted": "job_failed_msg",
            "time_limit": 30 * 60 * 1000}
    actors = Actors(
        broker, settings,
        batch=dramatiq.actor(sanitised(process_batch_msg), actor_name="process_batch_msg", **opts),
        pages=dramatiq.actor(sanitised(prepare_pages_msg), actor_name="prepare_pages_msg", **opts),
        kit=dramatiq.actor(sanitised(process_kit_msg), actor_name="process_kit_msg", **opts),
        failed=dramatiq.actor(job_failed_msg, actor_name="job_failed_msg", broker=broker,
                              queue_name=settings.queue_name, max_retries=settings.max_retries,
                              min_backoff=low, max_backoff=high),
    )
    with _state_lock:
        _state.clear()
        _state["actors"] = actors
    return actors


def actors() -> Actors:
    found = _state.get("actors")
    if found is None:
        return setup()
    return found  # type: ignore[return-value]


def send(actor: dramatiq.Actor, *args) -> None:
    """Send a message, waiting out a broker that restarts (about two minutes at most): a
    message an actor sends while the broker is down must not be lost."""
    delay = 0.2
    deadline = time.monotonic() + 120
    while True:
        try:
            actor.send(*args)
            return
        except Exception as exc:
            if not is_transient(exc) or time.monotonic() > deadline:
                raise
            log.warning("broker unreachable (%s): send again in %.1f s", type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


# --- jobs -----------------------------------------------------------------------------------


def new_job(session, kind: str, batch_id: str, version: str, kit_id: str | None = None) -> db.Job:
    job = db.Job(kind=kind, batch_id=batch_id, kit_id=kit_id, pipeline_version=version,
                 status="queued")
    session.add(job)
    session.flush()
    return job


def _set_job(job_id: int | None, status: str, error: str | None = None,
             attempt: bool = False) -> None:
    if job_id is None:
        return
    rt = _runtime()
    with rt.session() as s:
        job = s.get(db.Job, job_id)
        if job is None:
            return
        job.status = status
        job.error = error
        if attempt:
            job.attempts += 1


def _guard(job_id: int | None, on_permanent: Callable[[BaseException], None]):
    """Run an actor's body: transient faults raise (dramatiq retries), permanent ones are
    handed to `on_permanent` and the message is done."""

    class _Guard:
        def __enter__(self):
            _set_job(job_id, "running", attempt=True)
            return self

        def __exit__(self, kind, exc, tb):
            if exc is None:
                return False
            if is_transient(exc) or not isinstance(exc, Exception):
                log.warning("job %s: transient %s, retried", job_id, type(exc).__name__)
                with contextlib.suppress(Exception):  # the database may be what is down
                    _set_job(job_id, "running", f"retrying after {type(exc).__name__}")
                return False
            log.error("job %s: permanent %s", job_id, type(exc).__name__)
            on_permanent(exc)
            _set_job(job_id, "quarantined", describe(exc))
            return True

    return _Guard()


# --- actors ---------------------------------------------------------------------------------


def process_batch_msg(batch_id: str, job_id: int | None = None) -> None:
    """Plan a submitted batch and send its chunks."""
    from pipeline.process import plan_batch

    rt = _runtime()

    def permanent(exc: BaseException) -> None:
        with rt.session() as s:
            batch = s.get(db.Batch, batch_id)
            if batch is not None:
                batch.status, batch.error = "failed", describe(exc)

    with _guard(job_id, permanent):
        with rt.session() as s:
            s.get(db.Batch, batch_id).status = "running"
            planned = s.scalars(select(db.Job).where(db.Job.batch_id == batch_id,
                                                     db.Job.kind == "pages")).all()
            # a redelivery after planning: send again what is not finished
            sends = [(j.id, _chunk_of(j)) for j in planned if j.status in ("queued", "running")]
        if not planned:
            chunks = plan_batch(rt, batch_id)
            with rt.session() as s:
                sends = [(new_job(s, "pages", batch_id, rt.version,
                                  f"{c.sha256[:16]}@{c.start}-{c.stop}").id, c) for c in chunks]
        for jid, c in sends:
            send(actors().pages, batch_id, c.sha256, c.start, c.stop, jid)
        if not sends:  # nothing readable, or every chunk done: no chunk will split the batch
            _after_pages(rt, batch_id)
    if _job_status(job_id) != "quarantined":
        _set_job(job_id, "done")
    _maybe_batch_done(rt, batch_id)


def _chunk_of(job: db.Job):
    """The chunk a pages job names (`<sha256[:16]>@<start>-<stop>`)."""
    from pipeline.intake import batch_inputs
    from pipeline.process import Chunk

    prefix, pages = job.kit_id.split("@")
    start, stop = (int(v) for v in pages.split("-"))
    sha = next(r.sha256 for r in batch_inputs(_runtime(), job.batch_id)
               if r.sha256.startswith(prefix))
    return Chunk(sha, start, stop)


def prepare_pages_msg(batch_id: str, sha256: str, start: int, stop: int,
                      job_id: int | None = None) -> None:
    """Prepare one chunk; the last chunk of a batch splits it."""
    from pipeline.intake import batch_inputs
    from pipeline.process import Chunk, prepare_pages, quarantine

    rt = _runtime()
    chunk = Chunk(sha256, start, stop)

    def permanent(exc: BaseException) -> None:
        name = next((r.name for r in batch_inputs(rt, batch_id) if r.sha256 == sha256), sha256)
        from pipeline.pagestore import page_meta_key

        missing = [i for i in range(start, stop) if not rt.store.exists(page_meta_key(sha256, i))]
        if missing:
            quarantine(rt, batch_id, sha256, name, f"preparing the pages failed: {describe(exc)}",
                       type(exc).__name__, missing)

    with _guard(job_id, permanent):
        prepare_pages(rt, batch_id, chunk)
    if _job_status(job_id) != "quarantined":
        _set_job(job_id, "done")
    _after_pages(rt, batch_id)


def _job_status(job_id: int | None) -> str | None:
    if job_id is None:
        return None
    with _runtime().session() as s:
        job = s.get(db.Job, job_id)
        return job.status if job is not None else None


def _after_pages(rt, batch_id: str) -> None:
    """When no chunk of the batch is left, split it and send its kits. Two chunks finishing
    together may both split: the split is idempotent, and so are the kit messages."""
    from pipeline.process import split_batch

    with rt.session() as s:
        open_chunks = s.scalar(select(func.count()).select_from(db.Job).where(
            db.Job.batch_id == batch_id, db.Job.kind == "pages",
            db.Job.status.in_(("queued", "running"))))
    if open_chunks:
        return
    kit_ids = split_batch(rt, batch_id)
    sends = []
    with rt.session() as s:
        for kit_id in kit_ids:
            job = s.scalar(select(db.Job).where(db.Job.kind == "kit", db.Job.kit_id == kit_id,
                                                db.Job.pipeline_version == rt.version))
            if job is None:
                job = new_job(s, "kit", batch_id, rt.version, kit_id)
            if job.status in ("queued", "running"):
                sends.append((kit_id, job.id))
    for kit_id, jid in sends:
        send(actors().kit, kit_id, rt.version, jid)
    _maybe_batch_done(rt, batch_id)


def process_kit_msg(kit_id: str, pipeline_version: str | None = None,
                    job_id: int | None = None) -> None:
    """Read one kit under this worker's pipeline version: a record says truthfully which code
    read it. A message for another version is read only if the kit has no record yet."""
    from pipeline.process import process_kit, quarantine_kit

    rt = _runtime()
    if pipeline_version and pipeline_version != rt.version and _has_record(rt, kit_id):
        # a stale message (a duplicate from before an upgrade): reading the kit again under
        # another version is an ops decision (`plico reprocess`), not a side effect
        log.warning("kit %s: message for version %s, this worker reads %s and the kit has a "
                    "record: skipped", kit_id, pipeline_version, rt.version)
        _set_job(job_id, "done", f"skipped: the worker reads version {rt.version}")
        return

    def permanent(exc: BaseException) -> None:
        quarantine_kit(rt, kit_id, describe(exc), type(exc).__name__)

    log.info("kit %s: reading (job %s)", kit_id, job_id)
    with _guard(job_id, permanent):
        _, created = process_kit(rt, kit_id)
        log.info("kit %s: %s", kit_id, "stored" if created else "already stored")
    if _job_status(job_id) != "quarantined":
        _set_job(job_id, "done")
    with rt.session() as s:
        kit = s.get(db.Kit, kit_id)
        batch_id = kit.batch_id if kit is not None else None
    if batch_id:
        _maybe_batch_done(rt, batch_id)


def _has_record(rt, kit_id: str) -> bool:
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(db.RecordVersion)
                        .where(db.RecordVersion.kit_id == kit_id)) > 0


def job_failed_msg(message: dict, retry_info: dict) -> None:
    """A message outlasted its retries: its job is failed (visible in `plico status`)."""
    args = message.get("args", [])
    job_id = args[-1] if args and isinstance(args[-1], int) else None
    log.error("%s failed after %s retries", message.get("actor_name"), retry_info.get("retries"))
    _set_job(job_id, "failed", f"transient faults outlasted {retry_info.get('retries')} retries")
    if job_id is not None:
        with _runtime().session() as s:
            batch_id = s.get(db.Job, job_id).batch_id
        _maybe_batch_done(_runtime(), batch_id)


def _maybe_batch_done(rt, batch_id: str) -> None:
    """A batch with no job left open is done, or failed if a job of it failed (a transient
    fault that outlasted its retries; a failed kit is read again by `plico reprocess`)."""
    with rt.session() as s:
        states = dict(s.execute(select(db.Job.status, func.count()).where(
            db.Job.batch_id == batch_id).group_by(db.Job.status)).all())
        batch = s.get(db.Batch, batch_id)
        if batch is None or states.get("queued") or states.get("running"):
            return
        if states.get("failed"):
            batch.status = "failed"
        elif batch.status != "failed":
            batch.status = "done"


# --- enqueueing -----------------------------------------------------------------------------


def enqueue_batch(rt, batch_id: str) -> int:
    """Create the batch's job and send its message; returns the job id."""
    with rt.session() as s:
        job = new_job(s, "batch", batch_id, rt.version)
        job_id = job.id
    send(actors().batch, batch_id, job_id)
    return job_id


def resubmit(rt, batch_id: str) -> str:
    """`plico submit` of inputs a batch already has: nothing when it is done or in hand (the
    workers', or a live `plico process` run's); a failed batch, or one a dead `plico process`
    run left, goes to the workers (its failed jobs queued again, the steps done skipped).
    What was done, in words."""
    from pipeline.owners import owner_alive

    with rt.session() as s:
        batch = s.get(db.Batch, batch_id)
        if batch.status == "done":
            return f"already read: {batch.kits} kits"
        if batch.status != "failed" and owner_alive(batch.owner, batch.heartbeat_at):
            return (f"already {batch.status} (" + (f"run {batch.owner}" if batch.owner
                                                   else "the workers") + ")")
        was = batch.status
        batch.status, batch.owner = "queued", None
        job = None
        for old in s.scalars(select(db.Job).where(db.Job.batch_id == batch_id,
                                                  db.Job.status == "failed")):
            old.status, old.error = "queued", f"submitted again after: {old.error}"
            if old.kind == "batch":
                job = old
        job_id = job.id if job is not None else None
    if job_id is None:
        enqueue_batch(rt, batch_id)
    else:
        send(actors().batch, batch_id, job_id)
    return f"resubmitted (was {was})"


def enqueue_kits(rt, kit_ids: list[str]) -> list[int]:
    """A job and a message per kit (reprocessing)."""
    ids = []
    with rt.session() as s:
        jobs = []
        for kit_id in kit_ids:
            kit = s.get(db.Kit, kit_id)
            jobs.append((kit_id, new_job(s, "kit", kit.batch_id, rt.version, kit_id)))
        ids = [j.id for _, j in jobs]
    for (kit_id, _), jid in zip(jobs, ids):
        send(actors().kit, kit_id, rt.version, jid)
    return ids


# --- queues -------------------------------------------------------------------------------


def purge_queues(settings: Settings) -> None:
    """Remove a queue and everything of it from the broker (benches and tests use a queue
    of their own and remove it after)."""
    url = settings.broker_url
    if not url:
        return
    if url.startswith(("redis://", "rediss://", "unix://")):
        import redis

        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(f"dramatiq-{settings.queue_name}:*"))
        if keys:
            client.delete(*keys)
        client.close()
    else:
        import pika

        conn = pika.BlockingConnection(pika.URLParameters(url))
        channel = conn.channel()
        for name in (settings.queue_name, f"{settings.queue_name}.DQ", f"{settings.queue_name}.XQ"):
            channel.queue_delete(name)
        conn.close()


# --- running workers ------------------------------------------------------------------------


def run_worker(threads: int = 1, settings: Settings | None = None,
               stop: threading.Event | None = None) -> None:
    """One worker process: `threads` threads, one message each at a time (prefetch = threads,
    so a busy worker does not hold messages an idle one could take)."""
    acts = setup(settings)
    from pipeline.form import load_form_model
    from pipeline.runtime import limit_threads, private_temp

    private_temp(acts.settings)

    # One worker process per core is the deployment (docker/compose.yaml, plico worker
    # --processes N): OpenCV's and OpenBLAS's own pools would otherwise spread each worker
    # over every core. Measured with `plico bench scale` on the idle 2-core machine: one
    # worker with both default pools took 44.4 s of CPU for 89 pages in 33.7 s (499 ms/page);
    # with OpenCV's pool at one thread 42.3 s (475 ms/page); with OpenBLAS's too 33.1 s
    # (372 ms/page) in the same 34 s: OpenBLAS's idle threads were spinning.
    limit_threads(threads)

    load_form_model()
    _ = _runtime().recogniser  # models loaded before the first message, not during it
    worker = dramatiq.Worker(acts.broker, worker_threads=threads,
                             worker_timeout=acts.settings.worker_poll_ms)
    worker.queue_prefetch = threads
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    worker.start()
    log.info("worker %d up: %d threads on queue %s", os.getpid(), threads, acts.settings.queue_name)
    try:
        stop.wait()
    finally:
        worker.stop(timeout=30_000)  # a kit in hand finishes; past that it is redelivered
        acts.broker.close()


def run_workers(processes: int, threads: int) -> int:
    """`plico worker`: `processes` worker processes (children running `python -m
    pipeline.workers`), stopped together on SIGTERM or SIGINT."""
    if processes == 1:
        run_worker(threads)
        return 0
    cmd = [sys.executable, "-m", "pipeline.workers", "--threads", str(threads)]
    children = [subprocess.Popen(cmd) for _ in range(processes)]

    def forward(sig, _frame) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return max(child.wait() for child in children)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.workers")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=get_settings().log_level,
                        format="%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s")
    for chatty in ("pika", "alembic"):  # connection and migration steps at INFO
        logging.getLogger(chatty).setLevel(logging.WARNING)
    run_worker(args.threads)


if __name__ == "__main__":
    main()
