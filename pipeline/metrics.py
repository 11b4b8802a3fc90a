"""Prometheus metrics (prometheus-client), for workers and the web app. No personal data in
any label: labels are step names, anomaly codes, error classes, field statuses, job states,
HTTP methods and route templates (`/istanza/{kit_id}`, never the path itself).

Where they come from:

* what the pipeline does, counted in the process that does it (a worker, `plico process`), by
  SQLAlchemy events on the index's rows as they are inserted (`install()`): a new record
  version (kits, their pages, fields by status, anomalies by code, the record's `timings` as
  per-step latency histograms), an input stored, a quarantine entry (by error class);
* the queue and the jobs, read from the index at each scrape (`IndexCollector`): jobs by
  kind and status (queued = the queue depth), retries (attempts beyond the first), failures;
* the web app's request latency by method, route template and status class (web/metrics.py).

Exposition: `plico worker --metrics-port PORT` serves /metrics on that port (one worker
process: with --processes N, run N containers instead); the web app serves /metrics when
PLICO_METRICS_TOKEN is set, to requests carrying `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import logging
import threading

from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

STEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

PAGES = Counter("plico_pages", "Scanned pages read into a kit record.")
KITS = Counter("plico_kits", "Kit record versions saved (one per kit and pipeline version).")
INPUTS = Counter("plico_inputs", "Raw input files stored for a batch.")
QUARANTINES = Counter("plico_quarantines", "Quarantine entries (inputs or pages not read), "
                      "by error class.", ["reason"])
ANOMALIES = Counter("plico_anomalies", "Anomalies raised in saved records, by code.", ["code"])
FIELDS = Counter("plico_fields", "Fields read in saved records, by status (the review share is "
                 "status=review over all).", ["status"])
STEP_SECONDS = Histogram("plico_step_seconds", "Seconds per pipeline step per kit (the "
                         "record's timings).", ["step"], buckets=STEP_BUCKETS)

_installed = threading.Lock()
_done = False


def observe_record(record: dict) -> None:
    """Count one saved record version (the plico-record/1 dict)."""
    KITS.inc()
    PAGES.inc(len(record.get("kit", {}).get("pages", ())))
    for fv in record.get("fields", {}).values():
        FIELDS.labels(status=fv.get("status", "accepted")).inc()
    for a in record.get("anomalies", ()):
        ANOMALIES.labels(code=a["code"]).inc()
    for step, seconds in record.get("timings", {}).items():
        STEP_SECONDS.labels(step=step).observe(float(seconds))


def install() -> None:
    """Count the index's inserts in this process (idempotent)."""
    global _done
    from sqlalchemy import event

    from storage.db import Input, QuarantineItem, RecordVersion

    with _installed:
        if _done:
            return
        event.listen(RecordVersion, "after_insert", lambda _m, _c, row: observe_record(row.record))
        event.listen(Input, "after_insert", lambda _m, _c, _row: INPUTS.inc())
        event.listen(QuarantineItem, "after_insert",
                     lambda _m, _c, row: QUARANTINES.labels(reason=row.code).inc())
        _done = True


class IndexCollector(Collector):
    """Jobs by kind and status, retries and failures, read from the index at each scrape."""

    def __init__(self, url: str) -> None:
        self.url = url

    def collect(self):
        from sqlalchemy import case, func, select

        from storage.db import Job, engine_for, session_scope

        jobs = GaugeMetricFamily("plico_jobs", "Jobs in the index by kind and status "
                                 "(status=queued is the queue depth).", labels=["kind", "status"])
        depth = GaugeMetricFamily("plico_queue_depth", "Jobs queued and not yet taken.")
        retries = GaugeMetricFamily("plico_job_retries", "Attempts beyond the first, all jobs.")
        failures = GaugeMetricFamily("plico_job_failures", "Jobs failed for good (transient "
                                     "faults outlasted every retry).")
        up = GaugeMetricFamily("plico_index_up", "1 when the index answered this scrape.")
        try:
            with session_scope(engine_for(self.url), write=False) as s:
                again = case((Job.attempts > 1, Job.attempts - 1), else_=0)
                rows = s.execute(select(Job.kind, Job.status, func.count(),
                                        func.coalesce(func.sum(again), 0))
                                 .group_by(Job.kind, Job.status)).all()
        except Exception as exc:  # noqa: BLE001 - a scrape never fails for the index
            log.warning("metrics: index unavailable (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        queued = failed = extra = 0
        for kind, status, n, again in rows:
            jobs.add_metric([kind, status], n)
            queued += n if status == "queued" else 0
            failed += n if status == "failed" else 0
            extra += int(again)
        depth.add_metric([], queued)
        retries.add_metric([], extra)
        failures.add_metric([], failed)
        up.add_metric([], 1)
        yield from (jobs, depth, retries, failures, up)


_collectors: dict[str, IndexCollector] = {}


def register_index(url: str) -> None:
    """Collect the index at `url` into the default registry (once per url)."""
    if url not in _collectors:
        _collectors[url] = IndexCollector(url)
        REGISTRY.register(_collectors[url])


def serve(port: int, settings) -> None:
    """A worker's /metrics on `port` (all interfaces): this process's counters and the index."""
    from storage.db import database_url

    install()
    register_index(database_url(settings))
    start_http_server(port)
    log.info("metrics on port %d", port)
