"""The pipeline's steps as plain functions: `plico process` runs them in order on this machine
(in one process, pages handed to the reader in memory; or, with `--jobs N`, preparing chunks
and reading kits on N forked processes, pipeline/jobs.py), the dramatiq workers
(pipeline/workers.py) run each as a message on any worker.

1. submit   `submit_batch`   raw inputs kept by content hash (`raw/<sha[:2]>/<sha>`), a
                             batch row and its inputs in the index, the input order in
                             `batches/<id>/inputs.json`; an input that cannot even be
                             stored (missing, unreadable) is named in the batch's error
2. plan     `plan_batch`     count each input's pages (an input that cannot be opened goes
                             to quarantine whole) and cut them into chunks of
                             `settings.chunk_pages`
3. prepare  `prepare_pages`  rasterise a chunk; per page orientation, deskew, blank side,
                             barcodes, form grid, MRZ, receipt (pipeline.pages.prepare_page);
                             the upright page and what was found go to the object store
                             (pipeline/pagestore.py); an unreadable page goes to quarantine
4. split    `split_batch`    the prepared pages of the whole batch, in input order, into kits
                             (one per envelope): a manifest per kit, kit rows in the index;
                             pages before the first kit go to quarantine
5. kit      `process_kit`    read the fields (pipeline.read), validate (validators.rules),
                             store the record and index it (storage.index.save_record)

Preparing pages costs more than reading fields (per 200 dpi typed page, `plico bench speed`:
orient + register + barcodes + MRZ + receipt about 200 ms, reading 130 ms), so preparation
is cut into chunks that workers share, not done by the one worker that holds the batch.

Every step is idempotent. Page files depend only on the input bytes and the page index; kit
ids are `<batch_id>-<number:04d>` in scan order; a kit already read by this pipeline version
is not read again (the index keeps one record version per kit and version); quarantine
entries are added once. A message delivered twice therefore changes nothing the second time.

A batch is one top-level input: a file (PDF, multi-page TIFF, image) or a folder whose files,
in path order, are the pages of one scan.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from extractors.input_file import library_fault
from extractors.page_image import PageFailure
from extractors.raster import read_pages
from extractors.raster import count_pages as raster_count_pages
from pipeline import pagestore
from pipeline.errors import InputError
from pipeline.faults import is_transient
from pipeline.gaps import place_gaps
from pipeline.intake import Submitted, batch_inputs, kits_key, raw_bytes, submit_batch
from pipeline.owners import claim_batch, heartbeat, orphaned_batches, owner_alive, owner_id
from pipeline.pages import prepare_page
from pipeline.quarantine import (
    page_ranges,
    quarantine,
    quarantine_kit,
    release_kit,
)
from pipeline.read import ReadContext, read_kit
from pipeline.record import Record
from pipeline.runtime import Runtime, open_runtime
from pipeline.settings import Settings
from pipeline.split import KitPages, KitSplitter
from storage import db
from validators.rules import validate

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]  # (what, how many more pages)


# --- plan, prepare, split -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chunk:
    sha256: str
    start: int
    stop: int


def count_input_pages(data: Path | bytes, settings: Settings, name: str) -> int:
    """How many pages an input has; raises InputError (and nothing else) where the whole
    file is unreadable, after the same checks `read_pages` makes before its first page."""
    return raster_count_pages(data, settings=settings, name=name)


def input_fault(name: str, exc: Exception, page: int | None = None,
                what: str = "is corrupt or truncated") -> InputError:
    """A non-transient fault of a step on one input (or page) as the InputError it is
    quarantined with; a transient one (a service down) is raised again, to be retried."""
    if is_transient(exc):
        raise exc
    return library_fault(name, exc, page, what)


def plan_batch(rt: Runtime, batch_id: str) -> list[Chunk]:
    """Count each input's pages and cut them into chunks; an unopenable input is quarantined
    whole, whatever the decoding library raised, and the inputs after it go on."""
    chunks: list[Chunk] = []
    total = 0
    size = rt.settings.chunk_pages
    for raw in batch_inputs(rt, batch_id):
        data = raw_bytes(rt.store, raw.sha256)
        try:
            count = count_input_pages(data, rt.settings, raw.name)
        except Exception as exc:  # noqa: BLE001 - one unreadable input never stops the others
            err = input_fault(raw.name, exc)
            quarantine(rt, batch_id, raw.sha256, raw.name, str(err), type(err).__name__, None)
            count = 0
        del data
        with rt.session() as s:
            row = s.get(db.Input, {"sha256": raw.sha256, "batch_id": batch_id})
            row.pages = count
        total += count
        chunks += [Chunk(raw.sha256, a, min(a + size, count)) for a in range(0, count, size)]
    with rt.session() as s:
        s.get(db.Batch, batch_id).pages = total
    return chunks


def prepare_pages(rt: Runtime, batch_id: str, chunk: Chunk,
                  progress: Progress | None = None) -> int:
    """Prepare a chunk's pages into the object store; returns how many were prepared now.

    A page that cannot be rendered, or whose pixels a step cannot handle (whatever Pillow,
    pdfium or OpenCV raised), goes to quarantine with the reason; the chunk's other pages go
    on. A transient fault (the store or index unreachable) raises, to be retried."""
    name = next(r.name for r in batch_inputs(rt, batch_id) if r.sha256 == chunk.sha256)
    done = 0
    data = raw_bytes(rt.store, chunk.sha256)
    pages = read_pages(data, settings=rt.settings, name=name, sha256=chunk.sha256,
                       pages=range(chunk.start, chunk.stop))
    expected = chunk.start
    while True:
        t = time.perf_counter()
        try:
            item = next(pages)
        except StopIteration:
            break
        except Exception as exc:  # noqa: BLE001 - the whole file failed: the rest of the chunk
            err = input_fault(name, exc)
            rest = list(range(expected, chunk.stop))
            if rest:
                quarantine(rt, batch_id, chunk.sha256, name, str(err), type(err).__name__, rest)
            break
        if isinstance(item, PageFailure):
            quarantine(rt, batch_id, chunk.sha256, name, str(item.error),
                       type(item.error).__name__, list(item.pages))
            expected = max(item.pages) + 1
            continue
        expected = item.index + 1
        meta_key = pagestore.page_meta_key(chunk.sha256, item.index)
        if not rt.store.exists(meta_key):
            try:
                rendered = time.perf_counter() - t
                page = prepare_page(item)
                t = time.perf_counter()
                png = pagestore.encode_png(page.image)
                page.timings.update(render=rendered, store=time.perf_counter() - t)
                meta = pagestore.page_meta(page)
            except Exception as exc:  # noqa: BLE001 - a page's pixels no step can handle
                err = input_fault(name, exc, item.index, "could not be prepared")
                log.warning("%s page %d not prepared: %s", chunk.sha256[:12], item.index,
                            type(exc).__name__)
                quarantine(rt, batch_id, chunk.sha256, name, str(err), type(err).__name__,
                           [item.index])
                continue
            rt.store.put(pagestore.page_image_key(chunk.sha256, item.index), png,
                         content_type="image/png")
            if rt.pages is not None and page.registration is not None:
                rt.pages.put(chunk.sha256, item.index, page.image)
            # the metadata last: its presence says the page is done
            rt.store.put(meta_key, meta, content_type="application/json")
            done += 1
        if progress:
            progress(name, 1)
    return done


def orphan_reason(pages: list) -> str:
    """Why these pages of one input belong to no kit (said once for all of them)."""
    if len(pages) == 1:
        return "page belongs to no kit (it comes before any label page or Modulo 1)"
    blank = "blank " if all(p.blank for p in pages) else ""
    return (f"{len(pages)} {blank}pages belong to no kit (they come before any label page "
            "or Modulo 1)")


def split_batch(rt: Runtime, batch_id: str) -> list[str]:
    """Split the batch's prepared pages into kits: manifests, kit rows; orphans quarantined.

    An envelope already recorded by another batch (the same Codice Assicurata and the same
    pages: `kits.envelope`) is that kit, not a new one: its id is among the ids returned
    (and in `batches/<id>/kits.json`), and reading it again finds its record."""
    from storage.index import envelope_key, kit_id_for

    inputs = batch_inputs(rt, batch_id)
    with rt.session() as s:
        counts = {i.sha256: i.pages or 0 for i in s.scalars(
            select(db.Input).where(db.Input.batch_id == batch_id))}
    splitter = KitSplitter()
    kits: list[KitPages] = []
    for raw in inputs:
        for index in range(counts.get(raw.sha256, 0)):
            key = pagestore.page_meta_key(raw.sha256, index)
            if not rt.store.exists(key):
                continue  # an unreadable page: quarantined by prepare_pages
            done = splitter.push(pagestore.load_page(rt.store.get(key), None))
            if done is not None:
                kits.append(done)
    last = splitter.finish()
    if last is not None:
        kits.append(last)
    names = {r.sha256: r.name for r in inputs}
    orphans: dict[str, list] = {}
    for orphan in splitter.orphans:
        orphans.setdefault(orphan.source.source_sha256, []).append(orphan)
    for sha, pages in orphans.items():  # one entry per input (a 2,000-page blank scan: one)
        quarantine(rt, batch_id, sha, names[sha], orphan_reason(pages), "OrphanPageError",
                   [p.source.index for p in pages])
    ids = []
    with rt.session() as s:
        for number, kit in enumerate(kits, 1):
            kit_id = kit_id_for(batch_id, number)
            envelope = envelope_key(kit.assicurata, [(p.source.source_sha256, p.source.index)
                                                     for p in kit.pages])
            if s.get(db.Kit, kit_id) is None:
                earlier = s.scalar(select(db.Kit.id).where(db.Kit.envelope == envelope)
                                   .order_by(db.Kit.created_at, db.Kit.id).limit(1))
                if earlier is not None:
                    log.info("batch %s kit %d: envelope already recorded as kit %s", batch_id,
                             number, earlier)
                    ids.append(earlier)
                    continue
                s.add(db.Kit(id=kit_id, batch_id=batch_id, number=number, envelope=envelope,
                             assicurata=kit.assicurata, codice_istanza=kit.codice_istanza))
            ids.append(kit_id)
            manifest = {"kit_id": kit_id, "batch_id": batch_id, "number": number,
                        "assicurata": kit.assicurata, "codice_istanza": kit.codice_istanza,
                        "pages": [{"sha256": p.source.source_sha256, "index": p.source.index,
                                   "owner": o} for p, o in zip(kit.pages, kit.owners)]}
            rt.store.put(pagestore.kit_manifest_key(kit_id), json.dumps(manifest).encode(),
                         content_type="application/json")
        s.get(db.Batch, batch_id).kits = len(ids)
    rt.store.put(kits_key(batch_id), json.dumps(ids).encode(), content_type="application/json")
    return ids


def batch_kit_ids(rt: Runtime, batch_id: str) -> list[str]:
    """The kits of a split batch in scan order (those of envelopes recorded by an earlier
    batch included); a batch split before kits.json existed: its own kit rows."""
    if rt.store.exists(kits_key(batch_id)):
        return json.loads(rt.store.get(kits_key(batch_id)))
    with rt.session() as s:
        return list(s.scalars(select(db.Kit.id).where(db.Kit.batch_id == batch_id)
                              .order_by(db.Kit.number)))


# --- one kit --------------------------------------------------------------------------------


def stored_version(rt: Runtime, kit_id: str, version: str) -> Record | None:
    """The record of `kit_id` already read by `version`, if any."""
    with rt.session() as s:
        row = s.scalar(select(db.RecordVersion).where(db.RecordVersion.kit_id == kit_id,
                                                      db.RecordVersion.pipeline_version == version))
        return Record.model_validate(row.record) if row is not None else None


def process_kit(rt: Runtime, kit_id: str, version: str | None = None) -> tuple[Record, bool]:
    """Read, validate, store and index one kit; (record, False) when this version of it was
    already stored (a redelivered message)."""
    version = version or rt.version
    existing = stored_version(rt, kit_id, version)
    if existing is not None:
        return existing, False
    manifest = pagestore.load_kit_manifest(rt.store, kit_id)
    with rt.session() as s:
        batch_name = s.get(db.Batch, manifest["batch_id"]).name
    kit = KitPages(assicurata=manifest["assicurata"], codice_istanza=manifest["codice_istanza"])

    def image_of(i: int):
        """Page i's upright image: from memory in one process (`PageCache`), else decoded
        from the store."""
        ref = manifest["pages"][i]
        image = rt.pages.take(ref["sha256"], ref["index"]) if rt.pages is not None else None
        if image is None:
            image = pagestore.decode_png(rt.store.get(pagestore.page_image_key(
                ref["sha256"], ref["index"])))
        return image

    for i, p in enumerate(manifest["pages"]):
        # only form pages are read from their pixels, each when the reader comes to it
        kit.add(pagestore.load_page(rt.store.get(pagestore.page_meta_key(p["sha256"],
                                                                        p["index"])), None),
                p["owner"])
    kit.image_of = image_of
    place_gaps(kit, image_of)
    ctx = ReadContext(batch=batch_name, recogniser=rt.recogniser,
                      threshold=rt.settings.confidence_threshold, store=rt.store, kit_id=kit_id,
                      pipeline_version=version)
    record = read_kit(ctx, kit, manifest["number"])
    t = time.perf_counter()
    found = validate(record)  # the reader's lettura anomalies stay, these follow
    timings = {**record.timings, "validate": round(time.perf_counter() - t, 4)}
    record = record.model_copy(update={"anomalies": record.anomalies + found, "timings": timings,
                                       "pipeline_version": version})
    from storage.index import save_record

    with rt.session() as s:
        save_record(s, record, batch_id=manifest["batch_id"], kit_id=kit_id, store=rt.store)
        release_kit(s, kit_id, manifest["batch_id"])
    return record, True


def account_pages(rt: Runtime, batch_id: str) -> list[str]:
    """Nothing lost: every page of every input of the batch must be in exactly one kit's
    current record or in quarantine with a reason. The problems found (empty: all is well)."""
    shared = batch_kit_ids(rt, batch_id)  # envelopes recorded by an earlier batch too
    with rt.session() as s:
        inputs = s.scalars(select(db.Input).where(db.Input.batch_id == batch_id)).all()
        kits = s.scalars(select(db.Kit).where(
            (db.Kit.batch_id == batch_id) | db.Kit.id.in_(shared))).all()
        seen: dict[tuple[str, int], list[str]] = {}
        problems = []
        for kit in kits:
            if kit.current_version_id is None:
                continue
            record = s.get(db.RecordVersion, kit.current_version_id).record
            for page in record["kit"]["pages"]:
                seen.setdefault((page["sha256"], page["index"]), []).append(f"kit {kit.id}")
        for q in s.scalars(select(db.QuarantineItem).where(
                db.QuarantineItem.batch_id == batch_id)):
            if not q.reason:
                problems.append(f"quarantine entry {q.id} has no reason")
            count = next((i.pages for i in inputs if i.sha256 == q.sha256), None) or 0
            for index in (range(max(count, 1)) if q.pages is None else q.pages):
                seen.setdefault((q.sha256, index), []).append(f"quarantine {q.code}")
        for i in inputs:
            if i.pages is None:
                problems.append(f"{i.original_name}: pages never counted")
                continue
            for index in range(i.pages):
                where = seen.get((i.sha256, index), [])
                if len(where) != 1:
                    problems.append(f"{i.original_name} page {index + 1}: in "
                                    f"{', '.join(where) or 'nothing'}")
    return problems


# --- in process -----------------------------------------------------------------------------


@dataclass
class BatchSummary:
    name: str
    batch_id: str = ""
    pages: int = 0
    kits: int = 0
    records: list[Path] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)  # reasons
    not_stored: list[str] = field(default_factory=list)  # inputs missing, pipes, unreadable
    anomalies: int = 0
    seconds: float = 0.0
    resumed: str | None = None  # the status of a batch taken over from a dead or failed run
    skipped: str | None = None  # why the inputs were not read again (an earlier batch has them)

    def line(self) -> str:
        if self.skipped:
            return f"{self.name}: {self.skipped}"
        rate = self.pages / self.seconds if self.seconds else 0.0
        return (f"{self.name}: {self.pages} pages, {self.kits} kits, {self.anomalies} anomalies, "
                f"{len(self.quarantined)} quarantined, "
                + (f"{len(self.not_stored)} not stored, " if self.not_stored else "")
                + f"{self.seconds:.1f} s ({rate:.2f} pages/s)"
                + (f"; batch {self.batch_id} resumed (was {self.resumed})" if self.resumed
                   else ""))


def write_record(record: Record, out: Path, name: str) -> Path:
    path = out / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(record.model_dump_json(indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def quarantine_reasons(rt: Runtime, batch_id: str) -> list[str]:
    with rt.session() as s:
        rows = s.scalars(select(db.QuarantineItem).where(db.QuarantineItem.batch_id == batch_id)
                         .order_by(db.QuarantineItem.id)).all()
        return [f"{q.original_name}" + (f" pages {page_ranges(q.pages)}" if q.pages else "")
                + f": {q.reason.removeprefix(q.original_name + ': ')} ({q.code})" for q in rows]


def process_batch(
    source: Path, out: Path | None, settings: Settings, recogniser,
    progress: Progress | None = None, runtime: Runtime | None = None,
) -> tuple[BatchSummary, list[Record]]:
    """Run every step on one batch in this process. Records go to the object store and the
    index, and to `out` (unless None) as `<codice assicurata>.json` with their crops under
    `out/crops/`.

    Inputs a batch has already read (`submit_batch`) are not read again: a batch done gives
    its records (to `out` too) and the summary says so (`skipped`); a failed batch, or one
    left queued or running by a run that died, is taken over and finished; one that a live
    run or the workers are reading is left to them."""
    started = time.perf_counter()
    rt = runtime or open_runtime(settings, recogniser)
    me = owner_id()
    submitted = submit_batch(rt, source, owner=me)
    summary = BatchSummary(submitted.name, submitted.batch_id)
    summary.not_stored = submitted.errors
    if submitted.earlier is not None:
        with rt.session() as s:
            batch = s.get(db.Batch, submitted.batch_id)
            owner, beat, state = batch.owner, batch.heartbeat_at, batch.status
        taken = False
        if state == "failed" or (state in ("queued", "running") and not owner_alive(owner, beat)):
            taken = claim_batch(rt, submitted.batch_id, me, expect_owner=owner,
                                expect_status=state)
        if not taken:
            return _earlier_batch(rt, submitted, summary, out, started)
        summary.resumed = state
        log.info("batch %s (%s, owner gone) taken over", submitted.batch_id, state)
    return _own_batch(rt, submitted.batch_id, summary, out, progress, started, me)


def resume_orphans(settings: Settings, recogniser, out: Path | None,
                   progress: Progress | None = None,
                   runtime: Runtime | None = None) -> list[BatchSummary]:
    """Finish every batch left queued or running by an in-process run that died (`plico
    process` before its inputs, `plico status --repair`): plan it again from its stored raw
    inputs if it died before that, prepare the pages not prepared, split, read the kits
    without a record. A batch of the workers is theirs (the broker redelivers)."""
    rt = runtime or open_runtime(settings, recogniser)
    me = owner_id()
    summaries = []
    for batch in orphaned_batches(rt):
        if not claim_batch(rt, batch.id, me, expect_owner=batch.owner,
                           expect_status=batch.status):
            continue  # another run took it first
        log.info("batch %s left %s by %s: resumed", batch.id, batch.status, batch.owner)
        summary = BatchSummary(batch.name, batch.id, resumed=batch.status)
        try:
            summaries.append(_own_batch(rt, batch.id, summary, out, progress,
                                        time.perf_counter(), me)[0])
        except Exception as exc:
            if is_transient(exc):
                raise
            # marked failed, with the error (`plico status`); the next batch goes on
            log.error("resumed batch %s failed: %s", batch.id, type(exc).__name__)
    return summaries


def _own_batch(rt: Runtime, batch_id: str, summary: BatchSummary, out: Path | None,
               progress: Progress | None, started: float,
               me: str) -> tuple[BatchSummary, list[Record]]:
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    with rt.session() as s:
        batch = s.get(db.Batch, batch_id)
        batch.status, batch.owner, batch.heartbeat_at = "running", me, db.utcnow()
    try:
        with heartbeat(rt, batch_id, me):
            records = _run_batch(rt, batch_id, summary, out, progress)
    except BaseException as exc:
        # never left "running" by a fault of this process: failed, with the error, and
        # the fault raised again
        with contextlib.suppress(Exception):  # the index may be what failed
            with rt.session() as s:
                batch = s.get(db.Batch, batch_id)
                fault = f"{type(exc).__name__}: {exc}"[:1000]
                batch.status, batch.error = "failed", "; ".join(filter(None, [batch.error, fault]))
        raise
    with rt.session() as s:
        s.get(db.Batch, batch_id).status = "done"
    summary.quarantined = quarantine_reasons(rt, batch_id)
    summary.kits = len(records)
    summary.seconds = time.perf_counter() - started
    log.info("batch %s: %d pages, %d kits", batch_id, summary.pages, summary.kits)
    return summary, records


def _earlier_batch(rt: Runtime, submitted: Submitted, summary: BatchSummary, out: Path | None,
                   started: float) -> tuple[BatchSummary, list[Record]]:
    """The inputs were read (or are being read) by an earlier batch: its records, not new ones."""
    from storage.index import record_of

    with rt.session() as s:
        batch = s.get(db.Batch, submitted.batch_id)
        state, owner, summary.pages = batch.status, batch.owner, batch.pages
    records: list[Record] = []
    for kit_id in batch_kit_ids(rt, submitted.batch_id):
        with rt.session() as s:
            kit = s.get(db.Kit, kit_id)
            if kit is None or kit.current_version_id is None:
                continue
            records.append(Record.model_validate(record_of(s, kit_id)))
    for record in records:
        _emit(rt, record, out, submitted.name, summary)
    summary.kits = len(records)
    summary.quarantined = quarantine_reasons(rt, submitted.batch_id)
    summary.seconds = time.perf_counter() - started
    if state == "done":
        summary.skipped = f"already read in batch {submitted.batch_id}: {len(records)} kits"
    else:
        reader = f"run {owner}" if owner else "the workers"
        summary.skipped = (f"being read in batch {submitted.batch_id} by {reader} ({state}): "
                           f"{len(records)} kits so far")
    return summary, records


def _emit(rt: Runtime, record: Record, out: Path | None, batch_name: str,
          summary: BatchSummary) -> None:
    """A record (and its crops) to `out`; counted in the summary."""
    summary.anomalies += len(record.anomalies)
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    name = record.kit.assicurata or f"{batch_name}-kit{record.kit.number}"
    summary.records.append(write_record(record, out, name))
    for fv in record.fields.values():
        if fv.crop:
            path = out / fv.crop
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(rt.store.get(fv.crop))


def _run_batch(rt: Runtime, batch_id: str, summary: BatchSummary, out: Path | None,
               progress: Progress | None) -> list[Record]:
    """Every step of a batch, each skipping what is already done (a batch taken over).
    In this process, prepared pages pass to the kit reader in memory (`PageCache`,
    PLICO_PAGE_CACHE_MB); with a job pool (`plico process --jobs N`, pipeline.jobs) the
    pages are prepared and the kits read in its processes."""
    if rt.pool is not None:
        return _steps(rt, batch_id, summary, out, progress)
    rt.pages = pagestore.PageCache(rt.settings.page_cache_mb * 2**20)
    try:
        return _steps(rt, batch_id, summary, out, progress)
    finally:
        rt.pages = None


def _steps(rt: Runtime, batch_id: str, summary: BatchSummary, out: Path | None,
           progress: Progress | None) -> list[Record]:
    chunks = plan_batch(rt, batch_id)
    if rt.pool is None:
        for chunk in chunks:
            prepare_pages(rt, batch_id, chunk, progress)
            summary.pages += chunk.stop - chunk.start
    else:
        names = {r.sha256: r.name for r in batch_inputs(rt, batch_id)}
        for chunk, done in zip(chunks, rt.pool.prepare(batch_id, chunks)):
            done.result()
            summary.pages += chunk.stop - chunk.start
            if progress:
                progress(names[chunk.sha256], chunk.stop - chunk.start)
    kit_ids = split_batch(rt, batch_id)
    outcomes = rt.pool.read_kits(kit_ids) if rt.pool is not None else [None] * len(kit_ids)
    records: list[Record] = []
    for kit_id, outcome in zip(kit_ids, outcomes):
        try:
            if outcome is None:
                record, _ = process_kit(rt, kit_id)
            else:
                record = rt.pool.outcome(outcome.result())
                if isinstance(record, Exception):
                    raise record
        except Exception as exc:
            if is_transient(exc):
                raise
            kind = getattr(exc, "kind", type(exc).__name__)
            log.error("kit %s could not be read: %s", kit_id, kind)
            message = str(exc) if hasattr(exc, "kind") else f"{kind}: {exc}"
            quarantine_kit(rt, kit_id, message, kind)
            continue  # one bad kit never stops the others
        records.append(record)
        _emit(rt, record, out, summary.name, summary)
    return records
