"""``shopsense data``: build the synthetic world, ingest a source into the lake, show the contract."""

from __future__ import annotations

import json
import time
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table as RichTable

from features.lake import DatasetConflict, DatasetMissing, IngestRejected, IngestReport, check_dataset_name, ingest
from features.settings import get_settings
from features.sources.base import SourceBatch, SourceError

app = typer.Typer(help="Raw data: synthetic world, ingestion into the lake, the contract.", no_args_is_help=True)
console = Console()


class Source(StrEnum):
    synthetic = "synthetic"
    online_retail = "online_retail"
    complete_journey = "complete_journey"
    ott = "ott"
    carparts = "carparts"
    files = "files"


class Preset(StrEnum):
    tiny = "tiny"
    default = "default"
    large = "large"


def load_source(source: Source, path: Path | None) -> SourceBatch:
    """Read one source into a SourceBatch (imports are local so `--help` stays fast)."""
    if source is Source.synthetic:
        from features.sources.synthetic import SynthConfig, generate

        return generate(SynthConfig.preset("default"))
    if source is Source.online_retail:
        from features.sources import online_retail

        return online_retail.load(path)
    if source is Source.complete_journey:
        from features.sources import complete_journey

        return complete_journey.load(path)
    if source is Source.ott:
        from features.sources import ott

        return ott.load(path)
    if source is Source.carparts:
        from features.sources import carparts

        return carparts.load(path)
    if path is None:
        raise typer.BadParameter("--source files needs --path DIR (a folder of <table>.csv / <table>.parquet)")
    from features.sources import files

    return files.load(path)


def _print_report(report: IngestReport, as_json: bool, seconds: float) -> None:
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return
    table = RichTable(title=f"ingest {report.dataset} ({seconds:.1f} s)")
    for name in ("table", "rows in", "accepted", "quarantined", "top reason"):
        table.add_column(name, justify="left" if name in ("table", "top reason") else "right")
    for name, r in report.tables.items():
        top = next(iter(r.reasons.items()), ("", 0))
        table.add_row(
            name,
            f"{r.rows_in:,}",
            f"{r.accepted:,}",
            f"{r.quarantined:,}",
            f"{top[0]} ({top[1]:,})" if top[1] else "",
        )
    console.print(table)
    for name, notes in report.notices.items():
        for text, n in notes.items():
            console.print(f"[yellow]note:[/yellow] {name}: {n:,} accepted row(s) where {text}")
    for file, why in report.ignored_files.items():
        console.print(f"[yellow]ignored:[/yellow] {file}: {why}")
    since = f"; history starts {report.history_start}" if report.history_start else ""
    console.print(f"platform opened {report.opened_at} ({report.opened_from}){since}")
    console.print(f"lake: {report.lake_dir}\nquarantine (rejected rows with a reason column): {report.quarantine_dir}")


def _fail(err: Exception, code: int = 1) -> typer.Exit:
    """One sentence on stderr and a non-zero exit, never a traceback."""
    typer.echo(f"error: {err}", err=True)
    return typer.Exit(code)


def _ingest_and_report(
    batch: SourceBatch, as_json: bool, started: float, replace: bool = False, max_rejected: float | None = None
) -> IngestReport:
    paths = get_settings().dataset(batch.name)
    try:
        report = ingest(batch, paths, progress=not as_json, replace=replace, max_rejected=max_rejected)
    except IngestRejected as err:
        if as_json:
            typer.echo(json.dumps({"error": str(err), **err.report.to_dict()}, ensure_ascii=False, indent=2))
        raise _fail(err) from err
    except (DatasetConflict, SourceError) as err:
        raise _fail(err, 2) from err
    _print_report(report, as_json, time.perf_counter() - started)
    return report


@app.command("synth")
def synth(
    preset: Preset = typer.Option(Preset.default, help="World size: tiny (tests), default (≈20k users), large."),
    seed: int = typer.Option(42, help="Random seed; the same seed gives the same world."),
    users: int | None = typer.Option(None, help="Override the preset's number of users."),
    products: int | None = typer.Option(None, help="Override the preset's number of SKUs."),
    days: int | None = typer.Option(None, help="Override the preset's number of days."),
    start_date: str | None = typer.Option(None, help="First simulated day (YYYY-MM-DD)."),
    replace: bool = typer.Option(
        False, "--replace", help="Overwrite a dataset named 'synthetic' that came from another source."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print per-table counts as JSON."),
) -> None:
    """Generate the synthetic Chinese e-commerce world and ingest it (ground truth goes to truth/)."""
    from features.sources.synthetic import SynthConfig, generate

    overrides = {
        k: v for k, v in dict(users=users, products=products, days=days, start_date=start_date).items() if v is not None
    }
    started = time.perf_counter()
    batch = generate(SynthConfig.preset(preset.value, seed=seed, **overrides), progress=not as_json)
    _ingest_and_report(batch, as_json, started, replace=replace)


@app.command("ingest")
def ingest_command(
    source: Source = typer.Option(..., help="Which source to read."),
    path: Path | None = typer.Option(
        None, help="Data folder (files: required; real datasets: default ../shared/data/...)."
    ),
    dataset: str | None = typer.Option(
        None, help="Dataset name to write (default: the folder name for files, else the source's name)."
    ),
    opened: datetime | None = typer.Option(
        None,
        formats=["%Y-%m-%d"],
        help="When the shop opened: earlier timestamps are quarantined. Stored with the dataset for re-ingests; "
        "default for files: the stored date, else 1970-01-01.",
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Overwrite a dataset of the same name that came from another source."
    ),
    max_rejected: float | None = typer.Option(
        None, min=0.0, max=1.0, help="Refuse the ingest when a table rejects more than this fraction (default 0.5)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print per-table counts as JSON."),
) -> None:
    """Validate a source against the contract; accepted rows to the lake, rejected rows to quarantine with a reason.

    A table rejecting more than --max-rejected of its rows stops the ingest (exit 1) and keeps the previous lake.
    """
    started = time.perf_counter()
    try:
        name = check_dataset_name(dataset) if dataset else None
        batch = load_source(source, path)
    except (FileNotFoundError, SourceError, ValueError) as err:
        raise _fail(err, 2) from err
    batch.origin = batch.origin or source.value
    batch.name = name or batch.name
    if opened is not None:
        batch.opened_at, batch.opened_from = pd.Timestamp(opened), "--opened"
    _ingest_and_report(batch, as_json, started, replace=replace, max_rejected=max_rejected)


@app.command("contract")
def contract_command() -> None:
    """Print the raw-data contract as a Markdown table (tables, columns, rules, personal data)."""
    from features.contract import markdown_table

    typer.echo(markdown_table())


@app.command("quarantine")
def quarantine_command(
    dataset: str = typer.Option(None, help="Dataset name (default: SHOPSENSE_DEFAULT_DATASET)."),
    limit: int = typer.Option(5, help="Rows to show per table."),
    export: Path | None = typer.Option(
        None, help="Also write every quarantined row to <DIR>/<table>.csv (formula-like cells neutralised)."
    ),
) -> None:
    """Show quarantined rows and why they were rejected (those of a refused ingest when the last one was refused)."""
    from features.quarantine import export_csv, preview, quarantine_folder, quarantine_tables

    paths = get_settings().dataset(dataset or get_settings().default_dataset)
    try:
        folder, refused = quarantine_folder(paths)
    except DatasetMissing as err:
        raise _fail(err) from err
    if refused:
        console.print(f"[yellow]the last ingest of {paths.name!r} was refused; its rejected rows:[/yellow]")
    files_ = quarantine_tables(folder)
    if not files_:
        console.print(f"nothing quarantined under {folder}")
    for file in files_:
        rows, frame = preview(file, limit)
        console.print(f"[bold]{file.stem}[/bold]: {rows:,} rows")
        console.print(frame.to_string(index=False))
        if export is not None:
            rows = export_csv(file, export / f"{file.stem}.csv")
            console.print(f"exported {rows:,} rows to {export / f'{file.stem}.csv'}")
