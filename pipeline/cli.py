"""The `plico` command. The only place that turns exceptions into exit codes."""

from __future__ import annotations

import contextlib

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipeline import __version__
from pipeline.errors import PlicoError
from storage.cli import register as register_db
from web.cli import register as register_web

app = typer.Typer(
    name="plico",
    help="Plico: intake pipeline for MOD.209 residence-permit postal kits.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
forms_app = typer.Typer(help="The MOD.209 form model and its printable rendition.", no_args_is_help=True)
app.add_typer(forms_app, name="forms")
register_db(app)  # plico db upgrade, plico db status
register_web(app)  # plico serve, plico users

log = logging.getLogger(__name__)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"plico {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    from pipeline.logjson import configure
    from pipeline.settings import get_settings

    settings = get_settings()
    configure(logging.DEBUG if verbose else settings.log_level, settings.log_format)


@forms_app.command("blank")
def forms_blank(
    out: Annotated[Path, typer.Option("--out", help="PDF file to write.")],
) -> None:
    """Render all 11 pages of MOD.209 (Modulo 1 and 2) as a printable vector PDF."""
    from pipeline.form.render import write_blank_pdf

    write_blank_pdf(out)
    typer.echo(f"wrote {out}")


@forms_app.command("check")
def forms_check() -> None:
    """Load and validate the form model; print a page summary."""
    from pipeline.form import load_form_model

    model = load_form_model()
    for page in model.pages:
        cells = sum(len(f.cells) for f in page.fields)
        source = "official geometry" if page.official else "our layout on the official grid"
        typer.echo(f"{page.name}: {len(page.fields):3d} fields {cells:4d} cells  ({source})")


_WRITERS_HELP = ("Hand-print writers: bench (the generator's own bench writers), nist-bench "
                 "or nist-cal (real NIST SD19 digits and capitals by writers the cell "
                 "classifier never trained on; nist-cal is for calibration), train.")


@app.command()
def synth(
    out: Annotated[Path, typer.Option("--out", help="Output directory for the batch.")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same batch).")] = 0,
    kits: Annotated[int, typer.Option("--kits", min=1, max=500, help="Number of envelopes.")] = 1,
    dpi: Annotated[int, typer.Option("--dpi", help="Scan resolution: 200, 300 or 600.")] = 300,
    duplex: Annotated[bool, typer.Option("--duplex", help="Scan both sides of every sheet.")] = False,
    filled_by: Annotated[
        str, typer.Option("--filled-by", help="hand, typed or mixed.")
    ] = "mixed",
    anomalies: Annotated[
        float, typer.Option("--anomalies", min=0.0, max=1.0, help="Share of kits with a planted anomaly.")
    ] = 0.0,
    fmt: Annotated[str, typer.Option("--format", help="pdf, tiff or both.")] = "pdf",
    mode: Annotated[str, typer.Option("--mode", help="Scanner colour mode: grey, bitonal or mixed.")] = "grey",
    name: Annotated[Optional[str], typer.Option("--name", help="Batch name (default: synth-<seed>).")] = None,
    writers: Annotated[str, typer.Option("--writers", help=_WRITERS_HELP)] = "bench",
) -> None:
    """Generate a scanned batch of MOD.209 kits with exact ground truth (BATCH.truth.json)."""
    from sample_scans.synth.batch import SynthOptions, write_batch

    options = SynthOptions(
        seed=seed, kits=kits, dpi=dpi, duplex=duplex, filled_by=filled_by, anomaly_rate=anomalies,
        formats=fmt, mode=mode, name=name, writer_pool=writers,
    )
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("synth", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("sheets", total=None)

        def on_sheet(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = write_batch(options, out, on_sheet)
    typer.echo(
        f"{result.name}: {result.kits} kits, {result.pages} scan pages -> "
        + ", ".join(str(p) for p in result.files)
    )


bench_app = typer.Typer(help="Benchmarks that print numbers (not tests).", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


def _recogniser(naive: bool = False, kind: str = "auto"):
    from pipeline.runtime import build_recogniser

    try:
        return build_recogniser(kind, naive)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--recogniser") from None


_RECOGNISER_HELP = ("Cell recogniser: auto (per page: Tesseract for machine print, the "
                    "hand-print classifier otherwise), cellnet or tesseract.")


@app.command()
def process(
    inputs: Annotated[list[Path], typer.Argument(help="PDF, TIFF, image files or folders.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the istanza records.")],
    recogniser_kind: Annotated[str, typer.Option("--recogniser", help=_RECOGNISER_HELP)] = "auto",
    jobs: Annotated[Optional[int], typer.Option(
        "--jobs", min=1, help="Processes that prepare pages and read kits (default: one per "
        "core); batches are read side by side. 1: everything in this process.")] = None,
) -> None:
    """Read scanned batches into istanza records (embedded default: local store, in-process)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from pipeline.errors import ExitCode, InputError
    from pipeline.faults import is_transient
    from pipeline.intake import count_pages
    from pipeline.jobs import JobPool
    from pipeline.process import process_batch, resume_orphans
    from pipeline.runtime import open_runtime, private_temp
    from pipeline.settings import get_settings

    settings = get_settings()
    private_temp(settings)
    jobs = jobs or len(os.sched_getaffinity(0))
    rt = open_runtime(settings)
    with contextlib.ExitStack() as stack:
        if jobs > 1:  # forked before this process loads a model or starts a thread (the
            # progress bar's, the batches'): each job process loads its own
            rt.pool = stack.enter_context(
                JobPool(settings, lambda: _recogniser(kind=recogniser_kind), jobs))
        recogniser = rt._recogniser = _recogniser(kind=recogniser_kind)
        summaries, failed = [], []
        bar = stack.enter_context(Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=Console(stderr=True), transient=True))
        task = bar.add_task("pages", total=count_pages(inputs))

        def advance(name: str, n: int) -> None:
            bar.update(task, advance=n, description=name)

        def one(src: Path):
            return process_batch(src, out, settings, recogniser, advance, runtime=rt)[0]

        # more batches in flight than processes, up to 8 (a thread only waits on the pool;
        # each may hold a database connection): one waiting on its split or its records
        # leaves work for the pool, and a run of a few batches starts none late
        threads = stack.enter_context(ThreadPoolExecutor(
            max(2 * jobs, min(len(inputs), 8)) if jobs > 1 else 1))
        for number, (src, future) in enumerate(
                zip(inputs, [threads.submit(one, src) for src in inputs]), 1):
            try:
                summary = future.result()
            except Exception as exc:
                # a fault of Plico on one batch (marked failed in the index) does not stop
                # the batches after it; a service that is down, or bad settings, stop the run
                if isinstance(exc, PlicoError) and not isinstance(exc, InputError) \
                        or is_transient(exc):
                    raise
                log.error("batch of input %d failed: %s", number, type(exc).__name__)
                failed.append(f"{src.name}: {type(exc).__name__} (the batch is marked "
                              "failed: plico status)")
                continue
            summaries.append(summary)
            typer.echo(summary.line())
        # then the batches a run that died left unfinished (those of these inputs: resumed above)
        for summary in resume_orphans(settings, recogniser, out, advance, runtime=rt):
            summaries.append(summary)
            typer.echo(summary.line())
    for s in summaries:
        for reason in s.not_stored:
            typer.echo(f"not stored: {reason}", err=True)
        for reason in s.quarantined:
            typer.echo(f"quarantined: {reason}", err=True)
    for reason in failed:
        typer.echo(f"failed: {reason}", err=True)
    if failed:
        raise typer.Exit(int(ExitCode.FAILURE))
    if any(s.quarantined or s.not_stored for s in summaries):
        raise typer.Exit(int(ExitCode.PARTIAL))


@bench_app.command("accuracy")
def bench_accuracy(
    seed: Annotated[int, typer.Option("--seed")] = 1000,
    kits: Annotated[int, typer.Option("--kits", min=1)] = 4,
    filled_by: Annotated[str, typer.Option("--filled-by", help="hand, typed or mixed.")] = "typed",
    dpi: Annotated[int, typer.Option("--dpi")] = 300,
    mode: Annotated[str, typer.Option("--mode", help="grey, bitonal or mixed.")] = "mixed",
    duplex: Annotated[bool, typer.Option("--duplex")] = False,
    realdata: Annotated[Optional[Path], typer.Option(
        "--realdata", help="shared/realdata folder (barcodes, skew, MRZ with ground truth).")] = None,
    show_errors: Annotated[int, typer.Option("--show-errors", help="List this many wrong fields.")] = 0,
    recogniser_kind: Annotated[str, typer.Option("--recogniser", help=_RECOGNISER_HELP)] = "auto",
    writers: Annotated[str, typer.Option("--writers", help=_WRITERS_HELP)] = "bench",
) -> None:
    """Generate fresh kits, process them, score against the truth; then the real data sets."""
    import tempfile

    from pipeline.bench import format_score, score_batch
    from pipeline.process import process_batch
    from pipeline.settings import Settings
    from pipeline.truth import BatchTruth
    from sample_scans.synth.batch import SynthOptions, write_batch

    with tempfile.TemporaryDirectory(prefix="plico-bench-") as tmp:
        root = Path(tmp)
        result = write_batch(SynthOptions(seed=seed, kits=kits, dpi=dpi, duplex=duplex,
                                          filled_by=filled_by, mode=mode, writer_pool=writers),
                             root / "batch")
        settings = Settings(data_dir=root / "data")
        _, records = process_batch(result.files[0], root / "out", settings,
                                   _recogniser(kind=recogniser_kind))
        score = score_batch(BatchTruth.load(result.truth), records)
    typer.echo(f"synthetic: seed {seed}, {kits} kits, {result.pages} pages, {dpi} dpi, "
               f"filled by {filled_by}, mode {mode}{', duplex' if duplex else ''}, "
               f"recogniser {recogniser_kind}, writers {writers}")
    typer.echo(format_score(score))
    for kit, key, want, got, status in score.wrong[:show_errors]:
        typer.echo(f"  {kit} {key}: want {want!r} got {got!r} ({status})")
    if realdata is not None:
        _bench_realdata(realdata)


def _bench_realdata(root: Path) -> None:
    import datetime as dt

    import cv2

    from extractors import barcode_bench, mrz, orient_bench

    typer.echo("")
    typer.echo(f"real data ({root}):")
    rows = barcode_bench.bench_barcodes(root)
    typer.echo(barcode_bench.format_bench(r for set_rows in rows.values() for r in set_rows))
    typer.echo("")
    typer.echo(orient_bench.format_bench(orient_bench.bench_orientation(root / "skew")))
    typer.echo("")
    folder = root / "mrz" / "passporteye"
    files = sorted([folder / "passport-td3.png", folder / "passport-td3.jpg",
                    *folder.glob("specimens/*_pass-*")])
    valid = 0
    for f in files:
        reading = mrz.read_mrz_unknown_dpi(cv2.imread(str(f), cv2.IMREAD_GRAYSCALE),
                                           today=dt.date(2026, 11, 1))
        valid += bool(reading and reading.valid)
    typer.echo(f"MRZ, PassportEye TD3 specimens (ICAO samples + *_pass-*): {valid}/{len(files)} "
               "read with every check digit holding")


@bench_app.command("speed")
def bench_speed(
    seed: Annotated[int, typer.Option("--seed")] = 2000,
    kits: Annotated[int, typer.Option("--kits", min=1)] = 2,
    filled_by: Annotated[Optional[str], typer.Option(
        "--filled-by", help="typed or hand: one batch of that kind (with --dpi and --mode) "
        "instead of the two standard batches.")] = None,
    dpi: Annotated[int, typer.Option("--dpi")] = 300,
    mode: Annotated[str, typer.Option("--mode", help="grey or bitonal.")] = "grey",
    naive: Annotated[bool, typer.Option("--naive", help="Also the naive reader (one "
                                        "Tesseract call per field), as a baseline.")] = False,
) -> None:
    """Pages per second on one core end to end, per step and outside the steps, peak RSS.

    By default two batches of `--kits` kits: typed at 300 dpi grey (seed `--seed`) and
    hand-filled at 200 dpi bitonal (seed `--seed` + 1)."""
    import resource
    import subprocess
    import tempfile

    import cv2

    cv2.setNumThreads(1)  # one core: the figure a worker process gets

    from pipeline.process import process_batch
    from pipeline.settings import Settings

    batches = ([(filled_by, dpi, mode, seed)] if filled_by else
               [("typed", 300, "grey", seed), ("hand", 200, "bitonal", seed + 1)])
    with tempfile.TemporaryDirectory(prefix="plico-speed-") as tmp:
        root = Path(tmp)
        for kind, kdpi, kmode, kseed in batches:
            name = f"{kind}-{kdpi}-{kmode}"
            # generated in another process, so that peak RSS below is the pipeline's alone
            subprocess.run([sys.executable, "-m", "pipeline.cli", "synth", "--seed", str(kseed),
                            "--kits", str(kits), "--dpi", str(kdpi), "--filled-by", kind,
                            "--mode", kmode, "--name", name, "--out", str(root / "batch")],
                           check=True, capture_output=True)
            batch = root / "batch" / f"{name}.pdf"
            typer.echo(f"batch: {kits} kits filled by {kind}, {kdpi} dpi {kmode}, seed {kseed}")
            for label, is_naive in (("stacked (default)", False),
                                    ("naive: one call per field", True))[:2 if naive else 1]:
                settings = Settings(data_dir=root / f"data-{name}-{is_naive}")
                summary, records = process_batch(batch, root / f"out-{name}-{is_naive}",
                                                 settings, _recogniser(is_naive))
                steps: dict[str, float] = {}
                for rec in records:
                    for step, sec in rec.timings.items():
                        steps[step] = steps.get(step, 0.0) + sec
                outside = summary.seconds - sum(steps.values())
                per_step = ", ".join(f"{k} {1000 * v / summary.pages:.0f} ms"
                                     for k, v in sorted(steps.items()))
                typer.echo(f"  {label}: {summary.pages / summary.seconds:.2f} pages/s on one "
                           f"core ({1000 * summary.seconds / summary.pages:.0f} ms/page; per "
                           f"page: {per_step}; outside the steps "
                           f"{1000 * outside / summary.pages:.0f} ms, "
                           f"{100 * outside / summary.seconds:.0f}%)")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    typer.echo(f"peak RSS {rss_mb:.0f} MB")


def _from_index(code: str, lang: str):
    """The current record of the kit that `code` names in the index (settings from the
    environment: PLICO_DATABASE_URL, else SQLite under PLICO_DATA_DIR), and what the index
    adds to its summary. Nothing is created or migrated: it only reads."""
    from sqlalchemy.engine import make_url

    from pipeline.errors import InputNotFoundError
    from pipeline.record import Record
    from pipeline.settings import get_settings
    from storage.db import current_revision, database_url, engine_for, session_scope
    from storage.index import kits_by_code, record_of
    from validators.report import review_summary

    url = database_url(get_settings())
    where = make_url(url).render_as_string(hide_password=True)
    if current_revision(url) is None:
        raise InputNotFoundError(f"no index at {where} (set PLICO_DATABASE_URL or "
                                 "PLICO_DATA_DIR, or run plico process first)")
    with session_scope(engine_for(url)) as s:
        kits = kits_by_code(s, code)
        if not kits:
            raise InputNotFoundError(f"no istanza {code!r} in the index at {where} "
                                     "(a Codice Assicurata, Codice Istanza or kit id)")
        kit = kits[0]
        if len(kits) > 1:
            typer.echo(f"plico: {len(kits)} kits match; showing the newest, {kit.id} "
                       f"(others: {', '.join(k.id for k in kits[1:])})", err=True)
        record = Record.model_validate(record_of(s, kit.id))
        return record, review_summary(kit.id, kit.status, kit.anomaly_count, lang)


@app.command()
def show(
    record: Annotated[str, typer.Argument(
        metavar="RECORD.json|CODE",
        help="An istanza record (JSON) written by plico process, or a Codice Assicurata "
             "(12 digits), Codice Istanza or kit id: its current record in the index.")],
    lang: Annotated[str, typer.Option("--lang", help="it or en.")] = "it",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """The portal's "Dettaglio Istanza" of a record: codes, state, anomalies (seed 000).
    Looked up by code, it adds the kit and its review status in the index."""
    import json
    import os

    from pydantic import ValidationError

    from pipeline.errors import InputError, InputNotFoundError
    from pipeline.record import Record
    from validators.report import format_summary, istanza_summary

    if lang not in ("it", "en"):
        raise typer.BadParameter(f"must be it or en, not {lang!r}", param_hint="--lang")
    path = Path(record)
    extra: dict = {}
    if path.is_file() or path.suffix.lower() == ".json" or os.sep in record:
        if not path.is_file():
            raise InputNotFoundError(f"{path} does not exist")
        try:
            rec = Record.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            raise InputError(f"{path} is not an istanza record: {exc.error_count()} errors"
                             ) from exc
    else:
        rec, extra = _from_index(record, lang)
    summary = {**istanza_summary(rec, lang), **extra}
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=1))
    else:
        typer.echo(format_summary(summary, lang))


@bench_app.command("anomalies")
def bench_anomalies(
    seed: Annotated[int, typer.Option("--seed")] = 777,
    kits: Annotated[int, typer.Option("--kits", min=1)] = 12,
    detail: Annotated[bool, typer.Option("--detail", help="List each kit scored wrong.")] = False,
    keep: Annotated[Optional[Path], typer.Option(
        "--keep", help="Keep the batch, its truth and the records in this folder.")] = None,
    filled_by: Annotated[str, typer.Option("--filled-by", help="hand, typed or mixed.")] = "typed",
    writers: Annotated[str, typer.Option("--writers", help=_WRITERS_HELP)] = "bench",
) -> None:
    """Generate kits (half with a planted anomaly), process and validate them, and print
    recall and precision per anomaly code against the truth."""
    import contextlib
    import tempfile

    from pipeline.process import process_batch
    from pipeline.settings import Settings
    from pipeline.truth import BatchTruth
    from sample_scans.synth.batch import SynthOptions, write_batch
    from validators.report import format_anomaly_score, score_anomalies

    with (contextlib.nullcontext(str(keep)) if keep
          else tempfile.TemporaryDirectory(prefix="plico-anomalies-")) as tmp:
        root = Path(tmp)
        result = write_batch(SynthOptions(seed=seed, kits=kits, anomaly_rate=0.5,
                                          filled_by=filled_by, dpi=200, mode="bitonal",
                                          writer_pool=writers), root / "batch")
        settings = Settings(data_dir=root / "data")
        _, records = process_batch(result.files[0], root / "out", settings, _recogniser())
        score = score_anomalies(BatchTruth.load(result.truth), records)
    typer.echo(f"synthetic: seed {seed}, {kits} kits, {result.pages} pages, 200 dpi, bitonal, "
               f"filled by {filled_by}, writers {writers}, anomaly rate 0.5")
    typer.echo(format_anomaly_score(score, detail))


@bench_app.command("cells")
def bench_cells(
    seed: Annotated[int, typer.Option("--seed")] = 9100,
    n: Annotated[int, typer.Option("--n", min=1, help="Cells per group.")] = 1500,
    tesseract: Annotated[bool, typer.Option("--tesseract/--no-tesseract")] = True,
    detail: Annotated[bool, typer.Option("--detail", help="Rows per dpi and mode.")] = False,
    model: Annotated[Optional[Path], typer.Option(
        "--model", help="A folder with another cellnet.onnx/.json (e.g. trained with a "
                        "source left out) to measure instead of the shipped model.")] = None,
) -> None:
    """The hand-print cell classifier beside Tesseract, per character, on cells of writers,
    MNIST rows and fonts it was not trained on; its milliseconds per page on one core."""
    from extractors.cellnet_train.bench import run

    typer.echo(run(seed, n, tesseract, detail, model))


@bench_app.command("names")
def bench_names(
    seed: Annotated[int, typer.Option("--seed")] = 9800,
    n: Annotated[int, typer.Option("--n", min=1, help="Names and streets each.")] = 600,
    writers: Annotated[str, typer.Option(
        "--writers", help="nist-bench (never trained or tuned on) or nist-cal.")] = "nist-bench",
) -> None:
    """Names and streets in real hand print decoded with and without the spelling model."""
    from extractors.spelling_bench import run

    typer.echo(run(seed, n, writers))


from pipeline import ops_cli  # worker, submit, status, reprocess, bench scale
from web.cli import register_bench as register_web_bench  # bench web
from pipeline.opsextra import register as register_ops_extra  # noqa: E402
from pipeline.killsoak import register as register_kills  # noqa: E402  # bench kills

ops_cli.register(app, bench_app)
register_web_bench(bench_app)
register_ops_extra(app)  # schema, export, doctor, watch
register_kills(bench_app)


def main() -> None:
    """Console entry point: typer handles usage errors (exit 2), PlicoError maps to its code."""
    try:
        app()
    except PlicoError as exc:
        log.debug("failed", exc_info=True)
        typer.echo(f"plico: error: {exc}", err=True)
        sys.exit(int(exc.exit_code))


if __name__ == "__main__":
    main()
