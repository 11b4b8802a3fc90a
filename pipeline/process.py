"""The in-process runner of the embedded default (`plico process`).

The pipeline, in order (each step a plain function; the dramatiq workers of the storage issue
call the same ones):

1. ingest       pipeline.ingest.ingest         raw input kept by hash; rasterised page by page
2. prepare      pipeline.pages.prepare_page    orientation, deskew, blank side, barcodes,
                                               form grid -> template, MRZ, receipt
3. split        pipeline.split.KitSplitter     pages -> kits (one per envelope), streamed: a kit
                                               is read as soon as the next one opens
4. read         pipeline.read.read_kit         fields with confidence, attachments, lettura
                                               anomalies -> istanza record
5. validate     validators.rules.validate      documentale and dati anomalies, appended
6. store        write_record                   DIR/<codice assicurata>.json

A batch is one top-level input: a file (PDF, multi-page TIFF, image) or a folder whose files,
in path order, are the pages of one scan.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from extractors.recognise import CellRecogniser
from pipeline.ingest import (
    DuplicateInputEvent,
    InputErrorEvent,
    LocalRawStore,
    PageEvent,
    Quarantine,
    QuarantineEvent,
    ingest,
)
from pipeline.pages import prepare_page
from pipeline.read import ReadContext, kit_name, read_kit
from pipeline.record import Record
from pipeline.settings import Settings
from pipeline.split import KitPages, KitSplitter
from validators.rules import validate

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]  # (what, how many more pages)


@dataclass
class BatchSummary:
    name: str
    pages: int = 0
    kits: int = 0
    records: list[Path] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)  # reasons
    anomalies: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        rate = self.pages / self.seconds if self.seconds else 0.0
        return (f"{self.name}: {self.pages} pages, {self.kits} kits, {self.anomalies} anomalies, "
                f"{len(self.quarantined)} quarantined, {self.seconds:.1f} s ({rate:.2f} pages/s)")


def write_record(record: Record, out: Path, name: str) -> Path:
    path = out / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(record.model_dump_json(indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def process_batch(
    source: Path, out: Path, settings: Settings, recogniser: CellRecogniser,
    progress: Progress | None = None,
) -> tuple[BatchSummary, list[Record]]:
    """Run the whole pipeline on one batch; records go to `out` as JSON."""
    started = time.perf_counter()
    name = source.stem if source.is_file() else source.name
    summary = BatchSummary(name)
    quarantine = Quarantine(settings.data_dir)
    store = LocalRawStore(settings.data_dir / "objects")
    splitter = KitSplitter()
    ctx = ReadContext(batch=name, recogniser=recogniser, threshold=settings.confidence_threshold,
                      crops_dir=out)
    records: list[Record] = []
    out.mkdir(parents=True, exist_ok=True)

    def finish_kit(kit: KitPages | None) -> None:
        if kit is None:
            return
        record = read_kit(ctx, kit, len(records) + 1)
        t = time.perf_counter()
        found = validate(record)  # the reader's lettura anomalies stay, these follow
        timings = {**record.timings, "validate": round(time.perf_counter() - t, 4)}
        record = record.model_copy(update={"anomalies": record.anomalies + found,
                                           "timings": timings})
        records.append(record)
        summary.records.append(write_record(record, out, kit_name(ctx, kit, len(records))))
        summary.anomalies += len(record.anomalies)

    for event in ingest([source], settings, store=store, quarantine=quarantine):
        if isinstance(event, PageEvent):
            finish_kit(splitter.push(prepare_page(event.page)))
            summary.pages += 1
            if progress:
                progress(name, 1)
        elif isinstance(event, QuarantineEvent):
            summary.quarantined.append(f"{event.raw.original_name}: {event.reason}")
        elif isinstance(event, InputErrorEvent):
            summary.quarantined.append(f"{event.path.name}: {event.reason}")
        elif isinstance(event, DuplicateInputEvent):
            log.info("input already read in this run: %s", event.raw.sha256[:12])
    finish_kit(splitter.finish())
    for orphan in splitter.orphans:
        src = orphan.source
        quarantine.add(store.info(src.source_sha256),
                       "page belongs to no kit (it comes before any label page or Modulo 1)",
                       "OrphanPageError", [src.index])
        summary.quarantined.append(f"{src.source} page {src.index + 1}: belongs to no kit")
    summary.kits = len(records)
    summary.seconds = time.perf_counter() - started
    log.info("%s", summary.line())
    return summary, records


def count_pages(inputs: Sequence[Path]) -> int | None:
    """A cheap page count for the progress bar (None when unknown)."""
    import pypdfium2 as pdfium
    from PIL import Image

    total = 0
    for src in inputs:
        files = sorted(p for p in src.rglob("*") if p.is_file()) if src.is_dir() else [src]
        for f in files:
            try:
                if f.suffix.lower() == ".pdf":
                    total += len(pdfium.PdfDocument(f))
                else:
                    with Image.open(f) as im:
                        total += getattr(im, "n_frames", 1)
            except Exception:  # the pipeline reports bad inputs; the bar just guesses
                total += 1
    return total
