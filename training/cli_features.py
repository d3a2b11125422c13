"""``shopsense features``: build point-in-time feature sets and materialize them into the online store."""

from __future__ import annotations

import time

import pandas as pd
import typer
from rich.console import Console

from features import registry
from features.settings import get_settings

app = typer.Typer(help="Feature layer: point-in-time builds (Ibis) and the Feast store.", no_args_is_help=True)
console = Console()


def _dataset_option() -> typer.Option:
    return typer.Option(None, "--dataset", help="Dataset under SHOPSENSE_DATA_DIR (default: synthetic).")


@app.command("build")
def build_command(
    as_of: str | None = typer.Option(None, "--as-of", help="Cutoff date; features use rows strictly before it."),
    monthly_from: str | None = typer.Option(
        None, "--monthly-from", help="Also build every month start from this date up to --as-of (training cutoffs)."
    ),
    entity: list[str] = typer.Option(
        list(registry.FEATURE_SET_NAMES), "--entity", "-e", help="Feature set(s) to build (repeatable)."
    ),
    dataset: str | None = _dataset_option(),
    engine: str | None = typer.Option(None, help="duckdb or pyspark (default SHOPSENSE_ENGINE)."),
) -> None:
    """Compute feature sets as of one or many cutoffs and write them under <dataset>/features/."""
    from features import build
    from features import engine as engines

    settings = get_settings()
    paths = _existing(settings.dataset(dataset or settings.default_dataset))
    con = engines.connect(settings, engine)
    cutoff = pd.Timestamp(as_of) if as_of else build.default_cutoff(con, paths)
    cutoffs = build.monthly_cutoffs(pd.Timestamp(monthly_from), cutoff) if monthly_from else []
    cutoffs = sorted(set(cutoffs) | {cutoff})
    sets = build.supported_sets(paths, entity)
    skipped = sorted(set(entity) - {fs.name for fs in sets})
    for fs in sets:
        started = time.perf_counter()
        frame = build.build(fs, con, paths, cutoffs if fs.snapshot else [cutoff])
        console.print(
            f"{fs.name}: {len(frame):,} rows × {frame.shape[1]} columns, {len(cutoffs)} cutoff(s) "
            f"in {time.perf_counter() - started:.1f} s -> {build.combined_path(paths, fs)}"
        )
    if skipped:
        console.print(f"skipped (the {paths.name} lake lacks their tables): {', '.join(skipped)}")


@app.command("materialize")
def materialize_command(dataset: str | None = _dataset_option()) -> None:
    """Load the latest built features into the online store (SQLite by default, Redis by configuration)."""
    from features import store

    settings = get_settings()
    paths = _existing(settings.dataset(dataset or settings.default_dataset))
    summary = store.materialize(paths)
    console.print(summary)


def _existing(paths):
    """The dataset's paths, or one sentence naming the command that creates it (no traceback, nothing created)."""
    from features.lake import DatasetMissing, require_dataset

    try:
        require_dataset(paths)
    except DatasetMissing as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    return paths


@app.command("list")
def list_command() -> None:
    """Print every declared feature with its dtype and description (Markdown)."""
    for name in registry.FEATURE_SET_NAMES:
        typer.echo(registry.get(name).markdown() + "\n")
