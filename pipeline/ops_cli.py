"""`plico worker`, `plico submit`, `plico status`, `plico reprocess` and `plico bench scale`:
the commands of an ops person running Plico on a broker (pipeline/workers.py)."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Annotated

import typer


def _settings():
    from pipeline.settings import get_settings

    return get_settings()


def _need_broker(settings) -> None:
    from pipeline.errors import ConfigError

    if not settings.broker_url:
        raise ConfigError("set PLICO_BROKER_URL (redis://... or amqp://...) to run workers; "
                          "`plico process` reads batches in this process without one")


def worker(
    processes: Annotated[int, typer.Option("--processes", min=1, max=64,
                                           help="Worker processes (one per core).")] = 1,
    threads: Annotated[int, typer.Option("--threads", min=1, max=64,
                                         help="Threads per process (1: OCR is CPU-bound).")] = 1,
    metrics_port: Annotated[int | None, typer.Option(
        "--metrics-port", help="Serve Prometheus /metrics on this port (with --processes 1: "
                               "scale with containers).")] = None,
) -> None:
    """Run workers on the broker of PLICO_BROKER_URL until stopped (SIGTERM, Ctrl-C)."""
    from pipeline.workers import run_workers

    _need_broker(_settings())
    if metrics_port is not None:
        if processes != 1:
            raise typer.BadParameter("one worker process per metrics port: use --processes 1",
                                     param_hint="--metrics-port")
        from pipeline.metrics import serve

        serve(metrics_port, _settings())
    raise typer.Exit(run_workers(processes, threads))


def submit(
    inputs: Annotated[list[Path], typer.Argument(help="PDF, TIFF, image files or folders: "
                                                      "each one batch.")],
) -> None:
    """Keep the inputs raw, register one batch per input and enqueue it; prints batch ids."""
    from pipeline.errors import ExitCode
    from pipeline.intake import submit_batch
    from pipeline.runtime import open_runtime
    from pipeline.workers import enqueue_batch, resubmit, setup

    settings = _settings()
    _need_broker(settings)
    rt = open_runtime(settings)
    setup(settings)
    failed = False
    for src in inputs:
        submitted = submit_batch(rt, src)
        for error in submitted.errors:
            typer.echo(f"not stored: {error}", err=True)
            failed = True
        if submitted.earlier is not None:  # these inputs were submitted before
            said = resubmit(rt, submitted.batch_id)
            typer.echo(f"{submitted.batch_id}\t{submitted.name}\t{said}")
            continue
        enqueue_batch(rt, submitted.batch_id)
        typer.echo(f"{submitted.batch_id}\t{submitted.name}\t{len(submitted.inputs)} inputs")
    if failed:
        raise typer.Exit(int(ExitCode.PARTIAL))


def status(
    batch: Annotated[str | None, typer.Option("--batch", help="One batch only.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Batches and quarantine entries shown.")] = 20,
    repair: Annotated[bool, typer.Option("--repair", help="First finish, in this process, the "
                                         "batches a `plico process` run that died left queued "
                                         "or running.")] = False,
) -> None:
    """Batches, jobs (queued, running, done, failed, quarantined) and quarantine reasons."""
    from pipeline.owners import orphaned_batches
    from pipeline.process import resume_orphans
    from pipeline.runtime import open_runtime, private_temp
    from pipeline.jobstatus import status_report

    settings = _settings()
    if repair:
        private_temp(settings)
    rt = open_runtime(settings)
    if repair:
        found = orphaned_batches(rt)
        typer.echo(f"{len(found)} batches left unfinished by a run that died")
        for summary in resume_orphans(settings, None, None, runtime=rt):
            typer.echo(summary.line())
    typer.echo(status_report(rt, batch, limit))


def _date(value: str | None, option: str) -> dt.date | dt.datetime | None:
    if value is None:
        return None
    try:
        return (dt.datetime.fromisoformat(value) if "T" in value or " " in value
                else dt.date.fromisoformat(value))
    except ValueError:
        raise typer.BadParameter(f"not an ISO date (2026-11-23) or time: {value!r}",
                                 param_hint=option) from None


def reprocess(
    batch: Annotated[str | None, typer.Option("--batch", help="Kits of this batch.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Kits first read on or after "
                                                 "this date (ISO).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="... and on or before.")] = None,
    anomaly: Annotated[str | None, typer.Option("--anomaly", help="Kits whose current record "
                                                   "has this anomaly code.")] = None,
    version: Annotated[str | None, typer.Option("--pipeline-version", help="Kits whose current "
                                                   "record was read by this version.")] = None,
    kit: Annotated[str | None, typer.Option("--kit", help="The kit of this codice "
                                               "assicurata.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be read again.")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the progress until "
                                       "every kit is finished (with a broker).")] = True,
) -> None:
    """Read a slice of past kits again under the current pipeline version (PLICO_PIPELINE_VERSION):
    a new record version beside the old ones; reviewers' decisions are re-applied where the new
    reading agrees and flagged for review where it does not."""
    from pipeline.runtime import open_runtime, private_temp
    from pipeline.reprocess import reprocess_kits, select_kits

    if not any((batch, since, until, anomaly, version, kit)):
        raise typer.BadParameter("say which kits: --batch, --since/--until, --anomaly, "
                                 "--pipeline-version or --kit")
    settings = _settings()
    private_temp(settings)
    rt = open_runtime(settings)
    todo, current = select_kits(rt, batch=batch, since=_date(since, "--since"),
                                until=_date(until, "--until"), code=anomaly,
                                pipeline_version=version, assicurata=kit)
    for row in todo:
        typer.echo(f"{'would read' if dry_run else 'read'} {row}")
    typer.echo(f"{len(todo)} kits to read under version {rt.version}; "
               f"{len(current)} already have a record of it (left alone)")
    if dry_run or not todo:
        return
    reprocess_kits(rt, [r.kit_id for r in todo], wait=wait, echo=typer.echo)


def bench_scale(
    seed: Annotated[int, typer.Option("--seed")] = 3000,
    kits: Annotated[int, typer.Option("--kits", min=1)] = 6,
    dpi: Annotated[int, typer.Option("--dpi")] = 200,
    workers: Annotated[str, typer.Option("--workers", help="Worker counts to compare.")] = "1,2",
    broker: Annotated[str, typer.Option("--broker", help="Broker URL.")] = "redis://127.0.0.1:6379/0",
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="Rounds; the best of each "
                                        "count is compared (other jobs on the machine).")] = 1,
) -> None:
    """Process the same generated batch with 1 and 2 worker processes on a real broker;
    pages/s of each and the ratio (goal: 2 workers >= 1.8 x 1 worker on 2 cores)."""
    from pipeline.scale_bench import run_scale_bench

    counts = [int(w) for w in workers.split(",")]
    load = os.getloadavg()
    typer.echo(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
               f"{os.cpu_count()} CPUs")
    started = time.perf_counter()
    rates = run_scale_bench(seed=seed, kits=kits, dpi=dpi, counts=counts, broker=broker,
                            echo=typer.echo, repeat=repeat)
    if len(rates) >= 2:
        base = rates[counts[0]]
        for n in counts[1:]:
            typer.echo(f"ratio {n} workers / {counts[0]}: {rates[n] / base:.2f}x"
                       + (f" (best of {repeat} rounds)" if repeat > 1 else ""))
    load = os.getloadavg()
    typer.echo(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
               f"bench took {time.perf_counter() - started:.0f} s")


def bench_fuzz(
    count: Annotated[int, typer.Option("--count", min=1, help="Damaged inputs.")] = 500,
    seed: Annotated[int, typer.Option("--seed")] = 1,
    per_run: Annotated[int, typer.Option("--per-run", min=1, help="Damaged inputs per "
                                         "`plico process` run.")] = 50,
    workdir: Annotated[Path | None, typer.Option("--workdir", help="Keep the inputs, data "
                                                 "and records here (default: a temp folder, "
                                                 "removed after).")] = None,
) -> None:
    """Damaged PDF, TIFF, PNG and JPEG inputs (cut short, bytes flipped, runs zeroed) through
    `plico process` between good kits; counts crashes, unfinished batches, pages not
    accounted for and inputs neither read nor quarantined. Exit 1 when any count is not 0."""
    import tempfile

    from pipeline.fuzz import run_fuzz

    with tempfile.TemporaryDirectory(prefix="plico-fuzz-") as tmp:
        result = run_fuzz(count, seed, workdir or Path(tmp), per_run, echo=typer.echo)
    for line in result.lines():
        typer.echo(line)
    for what in (result.crashes, result.audit.stuck, result.audit.unaccounted,
                 result.audit.silent, result.kits_missing):
        for item in what[:10]:
            typer.echo(f"  {item}")
    if result.crashes or not result.audit.ok or result.kits_missing:
        raise typer.Exit(1)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.command()(worker)
    app.command()(submit)
    app.command()(status)
    app.command()(reprocess)
    bench_app.command("scale")(bench_scale)
    bench_app.command("fuzz")(bench_fuzz)
