"""The `plico` command. The only place that turns exceptions into exit codes."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipeline import __version__
from pipeline.errors import PlicoError

app = typer.Typer(
    name="plico",
    help="Plico: intake pipeline for MOD.209 residence-permit postal kits.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
forms_app = typer.Typer(help="The MOD.209 form model and its printable rendition.", no_args_is_help=True)
app.add_typer(forms_app, name="forms")

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
    from pipeline.settings import get_settings

    level = logging.DEBUG if verbose else get_settings().log_level
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


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
) -> None:
    """Generate a scanned batch of MOD.209 kits with exact ground truth (BATCH.truth.json)."""
    from sample_scans.synth.batch import SynthOptions, write_batch

    options = SynthOptions(
        seed=seed, kits=kits, dpi=dpi, duplex=duplex, filled_by=filled_by, anomaly_rate=anomalies,
        formats=fmt, mode=mode, name=name,
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
